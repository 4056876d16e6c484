// labloop-driver-files CONFIG [--endpoint ADDRESS] [--cache FILE] [--key KEYS/NAME --allowed FILE_OR_DIR]
//                      [--require-encryption] [--exclusive | --no-exclusive] [--lease SECONDS]
// Serves an instrument that takes request files from a folder and leaves result files in another
// (README.md beside this file).
#include "files_driver.hpp"

int main(int argc, char** argv) {
  return labloop::ready::run_ready_driver(
      argc, argv, "labloop-driver-files",
      "labloop-driver-files: an instrument whose software takes request files from a folder and leaves result files in another, as a "
      "labloop instrument (drivers/files/README.md)",
      [](const std::string& file) {
        labloop::files::FilesConfig config = labloop::files::read_files_config(file);
        // The folders and formats decide nothing measured: only the declaration stamps the cache.
        labloop::ready::ReadyDriver ready{nullptr, config.declared.endpoint, nullptr,
                                          "requests go to " + config.requests_dir.string() + ", results are read from " +
                                              config.results_dir.string()};
        ready.driver = std::make_unique<labloop::files::FilesDriver>(std::move(config));
        return ready;
      });
}
