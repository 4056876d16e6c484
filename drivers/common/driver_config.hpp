#pragma once
// What the ready-made drivers (drivers/command, drivers/files) share: a config file that declares
// the instrument as a `welcome` does, and the command-line options every labloop driver takes.
#include <labloop/driver.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "labloop/core/json_check.hpp"

namespace labloop::ready {

struct DeclaredInstrument {
  InstrumentInfo info;           // "driver", "version", "inputs", "outputs", "capacity", "noise", as a welcome (protocol §4.1)
  double timeout_s = 3600;       // "timeout_s": one experiment at most this long
  std::string endpoint;          // "endpoint", when given
  std::filesystem::path folder;  // the config's folder: relative paths in it start here
  nlohmann::json source;         // the file as read
};

// Reads `file` (JSON, `//` comments allowed, at most 1 MiB, no key given twice), checks the fields
// every ready-made driver has and that the others are among `own_fields`, then calls `read_own`
// with the root and what is read so far (the instrument, the config's folder) so the driver reads those. Throws ConfigError naming the field.
DeclaredInstrument read_driver_config(const std::filesystem::path& file, const std::string& default_driver_name,
                                      const std::vector<std::string>& own_fields,
                                      const std::function<void(const JsonNode& root, const DeclaredInstrument& declared)>& read_own);

// `text` cut to `most` bytes with "…" when longer (for messages quoting what a program wrote).
std::string shortened(std::string text, std::size_t most = 300);

// Why nlohmann refused `text` (what a program or an instrument wrote), in words that let its author
// fix it: "its bytes are not UTF-8 …", "it holds a number beyond ±1.8e308", "at line 1, column 9: …".
std::string why_not_json(const std::string& text, const nlohmann::json::exception& e);

// A file or folder name for an experiment id, one per id: an id of letters, digits, '.' and '-'
// (not starting with '.') is its own name; any other has what is not among them replaced by '_',
// at most 100 characters, and a hash of the whole id appended.
std::string file_safe(const std::string& experiment);


// A driver made from its config, with what serving it needs from there.
struct ReadyDriver {
  std::unique_ptr<Driver> driver;
  std::string endpoint;    // the config's, used unless --endpoint
  // What decides its results besides the declared inputs and outputs (ServeOptions::
  // results_depend_on): a cache written under another is refused. Not the endpoint or timeouts.
  nlohmann::json results_depend_on;
  std::string note;        // one line for the log at start ("each run's files are kept in …")
};

// main() of a ready-made driver: parses the command line (CONFIG and add_serve_options'), then
// `make` reads the config and builds the driver, which is served as the command line says. The
// exit code: 0 after a clean stop, 2 for a mistake in the config or the options (ConfigError),
// 1 for any other error; each printed as one line.
int run_ready_driver(int argc, char** argv, const char* program, const std::string& description,
                     const std::function<ReadyDriver(const std::string& config)>& make);

}  // namespace labloop::ready
