// labloop-driver-files CONFIG [--endpoint ADDRESS] [--cache FILE] [--key KEYS/NAME --allowed FILE_OR_DIR]
//                      [--require-encryption] [--exclusive | --no-exclusive] [--lease SECONDS]
// Serves an instrument that takes request files from a folder and leaves result files in another
// (README.md beside this file).
#include <CLI/CLI.hpp>

#include "files_driver.hpp"

int main(int argc, char** argv) {
  CLI::App app{"labloop-driver-files: an instrument whose software takes request files from a folder and leaves result files in another, "
               "as a labloop instrument (drivers/files/README.md)"};
  labloop::ready::ServeCommandLine line;
  labloop::ready::add_serve_options(app, line);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return labloop::ready::serve_from_command_line("labloop-driver-files", line, [&] {
    labloop::files::FilesConfig config = labloop::files::read_files_config(line.config);
    labloop::ready::ReadyDriver ready;
    ready.endpoint = config.declared.endpoint;
    ready.source = config.declared.source;
    ready.note = "requests go to " + config.requests_dir.string() + ", results are read from " + config.results_dir.string();
    ready.driver = std::make_unique<labloop::files::FilesDriver>(std::move(config));
    return ready;
  });
}
