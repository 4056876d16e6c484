// labloop: the command line. Exceptions become exit codes here and nowhere else:
// ConfigError → 2, any other error → 1, each printed once.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "labloop/campaign_config.hpp"
#include "labloop/error.hpp"

namespace {

int validate(const std::string& file) {
  const auto config = labloop::load_campaign_config(file);
  fmt::print("{}: ok — campaign \"{}\", {} parameters, {} instruments, budget {} experiments, planner {}\n", file, config.name,
             config.parameters.size(), config.instruments.size(), config.budget.experiments, config.planner.kind);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"labloop: closed-loop autonomous lab controller"};
  app.require_subcommand(1);
  std::string file;
  auto* validate_cmd = app.add_subcommand("validate", "Check a campaign file without running anything");
  validate_cmd->add_option("file", file, "Campaign file (JSON)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*validate_cmd) return validate(file);
  } catch (const labloop::ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
