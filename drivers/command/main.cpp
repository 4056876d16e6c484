// labloop-driver-command CONFIG [--endpoint ADDRESS] [--cache FILE] [--key KEYS/NAME --allowed FILE_OR_DIR]
//                        [--require-encryption] [--exclusive | --no-exclusive] [--lease SECONDS]
// Serves the program CONFIG names as an instrument (README.md beside this file).
#include <CLI/CLI.hpp>

#include <iostream>

#include "command_driver.hpp"
#include "labloop/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"labloop-driver-command: any program as a labloop instrument; it reads one experiment's params as JSON on stdin and prints "
               "its measurements as a JSON object on its last line of output (drivers/command/README.md)"};
  std::string config_path, endpoint, cache;
  labloop::ServeOptions options;
  bool exclusive = false, no_exclusive = false;
  double lease_s = 3600;
  app.add_option("config", config_path, "The driver's config: inputs, outputs and the program to run (JSON)")->required();
  app.add_option("--endpoint,-e", endpoint, "Where to listen, e.g. tcp://127.0.0.1:5555 (default: the config's \"endpoint\")");
  app.add_option("--cache", cache, "Keep finished results in this file, so a repeated run after a restart is answered from it, never run again");
  app.add_option("--key", options.key_path, "Encrypt with this key pair (keys/NAME; `labloop keys new NAME`)");
  app.add_option("--allowed", options.allowed_keys, "Controller public keys allowed to connect: a .pub file or a directory of them");
  app.add_flag("--require-encryption", options.require_encryption, "Refuse to start without --key and --allowed");
  app.add_flag("--exclusive", exclusive, "Serve one campaign at a time (default with --key)");
  app.add_flag("--no-exclusive", no_exclusive, "Serve every controller, even with --key");
  app.add_option("--lease", lease_s, "Seconds a silent holder keeps the instrument (default 3600)")->check(CLI::Range(1.0, 31536000.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    labloop::command::CommandConfig config = labloop::command::read_command_config(config_path);
    if (endpoint.empty()) endpoint = config.endpoint;
    if (endpoint.empty()) throw labloop::ConfigError(config_path, "/endpoint", "is missing: give it in the config or with --endpoint");
    if (exclusive && no_exclusive) throw labloop::ConfigError("labloop-driver-command", "--exclusive", "and --no-exclusive: choose one");
    options.cache_path = cache;
    options.results_depend_on = config.source;  // another program or config: another cache
    options.exclusive = exclusive || (!no_exclusive && !options.key_path.empty());
    options.lease = std::chrono::seconds(static_cast<long long>(lease_s));
    const std::string runs_dir = config.runs_dir.string();
    options.on_ready = [&runs_dir](const std::string&) {
      std::cerr << "labloop-driver-command: each run's params, output and errors are kept in " << runs_dir << "\n";
    };
    labloop::command::CommandDriver driver(std::move(config));
    return labloop::serve(driver, endpoint, options);
  } catch (const labloop::ConfigError& e) {
    std::cerr << "labloop-driver-command: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "labloop-driver-command: " << e.what() << "\n";
    return 1;
  }
}
