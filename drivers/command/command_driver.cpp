#include "command_driver.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "labloop/core/append_file.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop::command {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;
// What is read of a program's stdout: the measurements are on its last line, and a program that
// prints gigabytes must not take the driver's memory with it.
constexpr std::streamoff kMaxOutputTail = 1 << 20;
constexpr std::size_t kMaxErrorChars = 4096;  // protocol: failure texts are for people
constexpr double kMaxTimeoutS = 365.0 * 24 * 3600;

std::string read_file_text(const fs::path& file, std::uintmax_t most, const std::string& what) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) throw ConfigError(file.string(), "", fmt::format("cannot read {}: {}", what, ec.message()));
  if (size > most) throw ConfigError(file.string(), "", fmt::format("is {} bytes; {} is at most {}", size, what, most));
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The program named by argv[0]: a path with a '/' is taken relative to the config's folder; a
// bare name is looked up in PATH now, so a typo is a message at start, not a failed experiment.
std::string resolve_program(const JsonNode& node, const fs::path& folder) {
  const std::string name = node.as_string();
  const auto executable = [](const fs::path& p) { return fs::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0; };
  if (name.find('/') != std::string::npos) {
    const fs::path path = fs::path(name).is_absolute() ? fs::path(name) : folder / name;
    if (!fs::exists(path)) node.fail(fmt::format("no program at {}", path.string()));
    if (!executable(path))
      node.fail(fmt::format("{} is not an executable file: make it one (chmod +x), or name its interpreter first, "
                            "e.g. [\"python3\", \"{}\"]",
                            path.string(), name));
    return fs::absolute(path).lexically_normal().string();
  }
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && executable(fs::path(dir) / name)) return name;
  node.fail(fmt::format("no program \"{}\" on PATH; give its path (\"./{}\" for one beside this file)", name, name));
}

// The last line of the program's stdout that holds more than blanks.
std::string last_line(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - kMaxOutputTail);
  in.seekg(from);
  std::string tail(static_cast<std::size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  std::size_t end = tail.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return "";
  const std::size_t begin = tail.find_last_of('\n', end);
  return tail.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin == std::string::npos ? 0 : begin + 1));
}

std::string shortened(std::string text, std::size_t most = 300) {
  if (text.size() > most) text = text.substr(0, most) + "…";
  return text;
}

// A file or folder name from an experiment id: letters, digits, '.', '_' and '-' kept.
std::string file_safe(const std::string& id) {
  std::string out;
  for (const char c : id.substr(0, 100)) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '_');
  return out;
}

}  // namespace

CommandConfig read_command_config(const fs::path& file) {
  const std::string source = file.string();
  const std::string text = read_file_text(file, kMaxConfigBytes, "a command driver's config");
  std::optional<std::string> repeated;
  json j;
  try {
    j = parse_json_noting_repeats(text, /*ignore_comments=*/true, repeated);
  } catch (const json::exception& e) {
    throw ConfigError(source, "", fmt::format("is not valid JSON: {}", e.what()));
  }
  if (repeated) throw ConfigError(source, *repeated, "is given twice; keep one");
  const JsonNode root(j, "", source);
  root.expect_object({"driver", "version", "inputs", "outputs", "capacity", "noise", "command", "timeout_s", "runs_dir", "endpoint"});
  CommandConfig config;
  config.source = j;
  const fs::path folder = fs::absolute(file).parent_path();
  config.working_dir = folder;

  // inputs, outputs, capacity and noise say what a welcome says, and are checked as one.
  json welcome{{"v", protocol::kVersion}, {"type", "welcome"},
               {"driver", root.has("driver") ? root.child("driver").as_string() : std::string("command")},
               {"version", root.has("version") ? root.child("version").as_string() : std::string("1")},
               {"inputs", root.child("inputs").as_array()},
               {"outputs", root.child("outputs").as_array()},
               {"capacity", root.has("capacity") ? root.child("capacity").as_integer() : 1}};
  if (root.has("noise")) welcome["noise"] = root.child("noise").value();
  try {
    config.info = protocol::parse_welcome(std::get<protocol::Welcome>(protocol::decode_object(welcome)));
  } catch (const ProtocolError& e) {
    throw ConfigError(source, "", fmt::format("inputs, outputs, capacity or noise: {} (docs/protocol.md §4.1)", e.what()));
  }

  const JsonNode command = root.child("command");
  const json& argv = command.as_array();
  for (std::size_t i = 0; i < argv.size(); ++i) config.command.push_back(command.at(i).as_string(/*allow_empty=*/i > 0));
  config.command.front() = resolve_program(command.at(0), folder);

  if (root.has("timeout_s")) {
    config.timeout_s = root.child("timeout_s").as_number();
    if (!(config.timeout_s > 0 && config.timeout_s <= kMaxTimeoutS))
      root.child("timeout_s").fail(fmt::format("must be seconds > 0 and at most {:g} (a year)", kMaxTimeoutS));
  }
  config.runs_dir = root.has("runs_dir") ? folder / root.child("runs_dir").as_string() : folder / (file.stem().string() + "-runs");
  if (root.has("endpoint")) config.endpoint = root.child("endpoint").as_string();
  return config;
}

CommandDriver::CommandDriver(CommandConfig config) : config_(std::move(config)) {
  std::error_code ec;
  fs::create_directories(config_.runs_dir, ec);
  if (ec || !fs::is_directory(config_.runs_dir))
    throw Error(fmt::format("cannot make the runs folder {}: {}", config_.runs_dir.string(), ec ? ec.message() : "it is not a folder"));
}

fs::path CommandDriver::new_run_dir(const std::string& experiment) {
  const std::string stem = utc_text(std::time(nullptr), "%Y%m%dT%H%M%SZ") + "-" + file_safe(experiment);
  for (int n = 1;; ++n) {
    const fs::path dir = config_.runs_dir / (n == 1 ? stem : fmt::format("{}-{}", stem, n));
    std::error_code ec;
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) throw Error(fmt::format("cannot make a folder for the run in {}: {}", config_.runs_dir.string(), ec.message()));
  }
}

Values CommandDriver::run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) {
  const fs::path dir = new_run_dir(experiment);
  write_whole_file((dir / "params.json").string(), json{{"experiment", experiment}, {"params", params}}.dump() + "\n", "the run's params");
  ChildIo io;
  io.input = dir / "params.json";
  io.output = dir / "stdout.txt";
  io.working_dir = config_.working_dir;
  io.environment = {{"LABLOOP_EXPERIMENT", experiment}, {"LABLOOP_RUN_DIR", dir.string()}};
  ChildProcess program(config_.command, dir / "stderr.txt", io);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(config_.timeout_s);
  std::optional<int> status;
  while (!(status = program.wait_for(std::chrono::milliseconds(50)))) {
    if (stop.stop_requested()) {
      program.terminate();
      throw Error("aborted");  // serve() reports an aborted experiment as such whatever this says
    }
    if (std::chrono::steady_clock::now() > deadline) {
      program.terminate();
      throw Error(fmt::format("the program ran past timeout_s ({:g} s) and was stopped; its output is in {}", config_.timeout_s, dir.string()));
    }
  }
  if (*status != 0) {
    const std::string said = last_line(dir / "stderr.txt");
    throw Error(shortened(fmt::format("the program {}{}", *status > 128 ? fmt::format("was killed by signal {}", *status - 128)
                                                                     : fmt::format("exited with status {}", *status),
                                      said.empty() ? std::string() : ": " + said),
                          kMaxErrorChars));
  }
  const std::string line = last_line(dir / "stdout.txt");
  json printed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!printed.is_object())
    throw Error(fmt::format("the program's last line of output is not a JSON object of measurements ({}); see {}",
                            line.empty() ? "it printed nothing" : "\"" + shortened(line, 200) + "\"", (dir / "stdout.txt").string()));
  if (const auto error = printed.find("error"); error != printed.end()) {
    const std::string why = error->is_string() ? error->get<std::string>() : error->dump();
    throw Error(why.empty() ? "the program reported an error and gave no reason" : shortened(why, kMaxErrorChars));
  }
  Values values;
  for (const std::string& output : config_.info.outputs) {
    const auto value = printed.find(output);
    if (value == printed.end() || !value->is_number() || !std::isfinite(value->get<double>()))
      throw Error(fmt::format("the program printed no number for \"{}\" (its last line: {})", output, shortened(line, 200)));
    values[output] = value->get<double>();
  }
  return values;
}

}  // namespace labloop::command
