#include "driver_config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop::ready {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;
constexpr double kMaxTimeoutS = 365.0 * 24 * 3600;
// A config nests a few levels (inputs → one input → its choices); a campaign file is held to the
// same 64. Checked on the text before parsing: a text of 200,000 '[' (400 KB, within the size
// limit) parses, and then overflows the stack when copied or destroyed (json_limits.hpp).
constexpr std::size_t kMaxConfigDepth = 64;

}  // namespace

DeclaredInstrument read_driver_config(const fs::path& file, const std::string& default_driver_name, const std::vector<std::string>& own_fields,
                                      const std::function<void(const JsonNode&, const DeclaredInstrument&)>& read_own) {
  const std::string source = file.string();
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) throw ConfigError(source, "", fmt::format("cannot read the driver's config: {}", ec.message()));
  if (size > kMaxConfigBytes) throw ConfigError(source, "", fmt::format("is {} bytes; a driver's config is at most {}", size, kMaxConfigBytes));
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (const auto at = find_excess_nesting(text.str(), kMaxConfigDepth))
    throw ConfigError(source, "", fmt::format("arrays/objects nested deeper than {} levels at {}; a driver's config needs only a few "
                                              "(is it damaged, or not a driver's config?)",
                                              kMaxConfigDepth, line_and_column(text.str(), *at)));
  std::optional<std::string> repeated;
  json j;
  try {
    j = parse_json_noting_repeats(text.str(), /*ignore_comments=*/true, repeated);
  } catch (const json::parse_error& e) {
    throw ConfigError(source, "", "is not valid JSON " + json_syntax_error(text.str(), e));
  } catch (const json::exception&) {
    // The one other way parse() fails: a number beyond a double (1e999), out_of_range.406.
    throw ConfigError(source, "", "is not valid JSON: it holds a number beyond ±1.8e308");
  }
  if (repeated) throw ConfigError(source, *repeated, "is given twice; keep one");
  const JsonNode root(j, "", source);
  std::vector<std::string> fields{"driver", "version", "inputs", "outputs", "capacity", "noise", "timeout_s", "endpoint"};
  fields.insert(fields.end(), own_fields.begin(), own_fields.end());
  root.expect_object(fields);

  DeclaredInstrument declared;
  declared.source = j;
  declared.folder = fs::absolute(file).parent_path();
  // inputs, outputs, capacity and noise say what a welcome says, and are checked as one.
  json welcome{{"v", protocol::kVersion}, {"type", "welcome"},
               {"driver", root.has("driver") ? root.child("driver").as_string() : default_driver_name},
               {"version", root.has("version") ? root.child("version").as_string() : std::string("1")},
               {"inputs", root.child("inputs").as_array()},
               {"outputs", root.child("outputs").as_array()},
               {"capacity", root.has("capacity") ? root.child("capacity").as_integer() : 1}};
  if (root.has("noise")) welcome["noise"] = root.child("noise").value();
  try {
    declared.info = protocol::parse_welcome(std::get<protocol::Welcome>(protocol::decode_object(welcome)));
  } catch (const ProtocolError& e) {
    throw ConfigError(source, "", fmt::format("inputs, outputs, capacity or noise: {} (docs/protocol.md §4.1)", e.what()));
  }
  if (root.has("timeout_s")) {
    declared.timeout_s = root.child("timeout_s").as_number();
    if (!(declared.timeout_s > 0 && declared.timeout_s <= kMaxTimeoutS))
      root.child("timeout_s").fail(fmt::format("must be seconds > 0 and at most {:g} (a year)", kMaxTimeoutS));
  }
  if (root.has("endpoint")) declared.endpoint = root.child("endpoint").as_string();
  read_own(root, declared);
  return declared;
}

std::string shortened(std::string text, std::size_t most) {
  if (text.size() > most) text = text.substr(0, most) + "…";
  return text;
}

std::string why_not_json(const std::string& text, const json::exception& e) {
  // Checked first: the parser names a stray byte as a syntax error at some column, while the cause
  // is the encoding the writer used (Latin-1, a Windows code page), which JSON does not allow.
  if (!valid_utf8(text))
    return "its bytes are not UTF-8 (JSON text must be UTF-8: is it written in Latin-1 or a Windows code page?)";
  if (const auto* syntax = dynamic_cast<const json::parse_error*>(&e)) return json_syntax_error(text, *syntax);
  // The one other way parse() fails: a number beyond a double (1e400), out_of_range.406.
  if (e.id == 406) return "it holds a number beyond ±1.8e308";
  return printable(e.what());
}

std::string file_safe(const std::string& experiment) {
  // Kept as it is: letters, digits, '.', '-' (no '_', which stands for what was replaced), not
  // starting with '.' (a hidden file, which request folders treat as unfinished), and not ending
  // like a hashed name. Anything else: replaced, and a hash of the whole id appended, so a kept
  // name and a hashed one never meet, and two hashed ones only if FNV-1a's 64 bits collide.
  const auto kept = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'; };
  const auto ends_like_hash = [](const std::string& s) {
    if (s.size() < 17 || s[s.size() - 17] != '-') return false;
    return std::all_of(s.end() - 16, s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
  };
  if (!experiment.empty() && experiment.size() <= 100 && experiment.front() != '.' && std::all_of(experiment.begin(), experiment.end(), kept) &&
      !ends_like_hash(experiment))
    return experiment;
  std::string out;
  for (const char c : experiment.substr(0, 100)) out.push_back(kept(c) ? c : '_');
  if (!out.empty() && out.front() == '.') out.front() = '_';
  // FNV-1a: the same on every machine and every run, unlike std::hash.
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : experiment) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return out + fmt::format("-{:016x}", h);
}

namespace {

// The options of every labloop driver: where to listen, the result cache, encryption, exclusive
// control (docs/security.md, docs/protocol.md §12).
struct ServeCommandLine {
  std::string config, endpoint, cache;
  std::string key, allowed;
  bool require_encryption = false, exclusive = false, no_exclusive = false;
  double lease_s = 3600;
};

void add_serve_options(CLI::App& app, ServeCommandLine& line) {
  app.add_option("config", line.config, "The driver's config (JSON): the instrument's inputs and outputs, and how to reach it")->required();
  app.add_option("--endpoint,-e", line.endpoint, "Where to listen, e.g. tcp://127.0.0.1:5555 (default: the config's \"endpoint\")");
  app.add_option("--cache", line.cache, "Keep finished results in this file, so a repeated run after a restart is answered from it, never run again");
  app.add_option("--key", line.key, "Encrypt with this key pair (keys/NAME; `labloop keys new NAME`)");
  app.add_option("--allowed", line.allowed, "Controller public keys allowed to connect: a .pub file or a directory of them");
  app.add_flag("--require-encryption", line.require_encryption, "Refuse to start without --key and --allowed");
  app.add_flag("--exclusive", line.exclusive, "Serve one campaign at a time (default with --key)");
  app.add_flag("--no-exclusive", line.no_exclusive, "Serve every controller, even with --key");
  app.add_option("--lease", line.lease_s, "Seconds a silent holder keeps the instrument (default 3600)")->check(CLI::Range(1.0, 31536000.0));
}

}  // namespace

int run_ready_driver(int argc, char** argv, const char* program, const std::string& description,
                     const std::function<ReadyDriver(const std::string& config)>& make) {
  CLI::App app{description};
  ServeCommandLine line;
  add_serve_options(app, line);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (line.exclusive && line.no_exclusive) throw ConfigError(program, "--exclusive", "and --no-exclusive: choose one");
    ReadyDriver ready = make(line.config);
    const std::string endpoint = line.endpoint.empty() ? ready.endpoint : line.endpoint;
    if (endpoint.empty()) throw ConfigError(line.config, "/endpoint", "is missing: give it in the config or with --endpoint");
    ServeOptions options;
    options.cache_path = line.cache;
    options.results_depend_on = ready.results_depend_on;
    options.key_path = line.key;
    options.allowed_keys = line.allowed;
    options.require_encryption = line.require_encryption;
    options.exclusive = line.exclusive || (!line.no_exclusive && !line.key.empty());
    options.lease = std::chrono::seconds(static_cast<long long>(line.lease_s));
    options.on_ready = [&](const std::string&) {
      if (!ready.note.empty()) std::cerr << program << ": " << ready.note << "\n";
    };
    return serve(*ready.driver, endpoint, options);
  } catch (const ConfigError& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace labloop::ready
