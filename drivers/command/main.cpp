// labloop-driver-command CONFIG [--endpoint ADDRESS] [--cache FILE] [--key KEYS/NAME --allowed FILE_OR_DIR]
//                        [--require-encryption] [--exclusive | --no-exclusive] [--lease SECONDS]
// Serves the program CONFIG names as an instrument (README.md beside this file).
#include <CLI/CLI.hpp>

#include "command_driver.hpp"

int main(int argc, char** argv) {
  CLI::App app{"labloop-driver-command: any program as a labloop instrument; it reads one experiment's params as JSON on stdin and prints "
               "its measurements as a JSON object on its last line of output (drivers/command/README.md)"};
  labloop::ready::ServeCommandLine line;
  labloop::ready::add_serve_options(app, line);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return labloop::ready::serve_from_command_line("labloop-driver-command", line, [&] {
    labloop::command::CommandConfig config = labloop::command::read_command_config(line.config);
    labloop::ready::ReadyDriver ready;
    ready.endpoint = config.declared.endpoint;
    ready.source = config.declared.source;
    ready.note = "each run's params, output and errors are kept in " + config.runs_dir.string();
    ready.driver = std::make_unique<labloop::command::CommandDriver>(std::move(config));
    return ready;
  });
}
