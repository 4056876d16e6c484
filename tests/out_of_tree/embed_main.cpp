#include <exception>
#include <iostream>

int embed_labloop_dry_run(const char* campaign_file, const char* output);

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: embed CAMPAIGN.json OUTPUT_DIR\n";
    return 2;
  }
  try {
    return embed_labloop_dry_run(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "embed: " << e.what() << "\n";
    return 1;
  }
}
