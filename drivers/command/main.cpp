// labloop-driver-command CONFIG [--endpoint ADDRESS] [--cache FILE] [--key KEYS/NAME --allowed FILE_OR_DIR]
//                        [--require-encryption] [--exclusive | --no-exclusive] [--lease SECONDS]
// Serves the program CONFIG names as an instrument (README.md beside this file).
#include "command_driver.hpp"

int main(int argc, char** argv) {
  return labloop::ready::run_ready_driver(
      argc, argv, "labloop-driver-command",
      "labloop-driver-command: any program as a labloop instrument; it reads one experiment's params as JSON on stdin and prints its "
      "measurements as a JSON object on its last line of output (drivers/command/README.md)",
      [](const std::string& file) {
        labloop::command::CommandConfig config = labloop::command::read_command_config(file);
        // Another program, or other arguments, measure otherwise: a cache of theirs is refused.
        labloop::ready::ReadyDriver ready{nullptr, config.declared.endpoint, nlohmann::json{{"command", config.declared.source["command"]}},
                                          "each run's params, output and errors are kept in " + config.runs_dir.string()};
        auto driver = std::make_unique<labloop::command::CommandDriver>(std::move(config));
        if (!driver->stopped_at_start().empty()) ready.note += "; " + driver->stopped_at_start();
        ready.driver = std::move(driver);
        return ready;
      });
}
