#pragma once
// labloop-driver-command: any program as an instrument (drivers/command/README.md). The program
// gets one experiment's params as JSON on stdin, prints its measurements as one JSON object on
// the last line of stdout, and exits 0; serve() does the rest of protocol v1 (limits checked
// before the program ever runs, result cache, abort, exclusive control, encryption). Parameters
// never reach a shell: the program is started with the argv the config names, nothing else.
#include <labloop/driver.hpp>

#include "driver_config.hpp"
#include "labloop/core/unique_fd.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labloop::command {

struct CommandConfig {
  ready::DeclaredInstrument declared;  // the instrument as its welcome says, timeout_s, endpoint
  std::vector<std::string> command;    // argv; argv[0] with a '/' is relative to the config's folder
  std::filesystem::path runs_dir;      // one folder per experiment, kept ("runs_dir", default CONFIG-runs)
};

// Reads and checks `file`; throws ConfigError naming the field and what to write instead.
CommandConfig read_command_config(const std::filesystem::path& file);

class CommandDriver final : public Driver {
 public:
  // Holds runs_dir for itself (another driver on it is refused), and stops what runs a driver
  // that died there left under way (stopped_at_start says so).
  explicit CommandDriver(CommandConfig config);
  InstrumentInfo describe() const override { return config_.declared.info; }
  Values run(const Params& params, std::stop_token stop) override { return run_experiment("experiment", params, stop); }
  // Runs the program once in a new folder of runs_dir holding params.json (its stdin),
  // stdout.txt and stderr.txt. Throws (a failed experiment) when it exits other than 0, runs past
  // timeout_s, or prints no JSON object with a number for every output, or {"error": "why"}.
  Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) override;
  // "" or one line for the log: what was stopped at start of runs a dead driver left under way.
  const std::string& stopped_at_start() const { return stopped_at_start_; }

  // In runs_dir: the lock a driver holds on it; in a run's folder while the run is under way,
  // the LABLOOP_RUN_DIR entry its processes carry.
  static constexpr const char* kRunsLockName = ".labloop-driver.lock";
  static constexpr const char* kRunningMarkName = ".labloop-running";

 private:
  std::filesystem::path new_run_dir(const std::string& experiment);
  void stop_unfinished_runs();

  CommandConfig config_;
  UniqueFd runs_lock_;
  std::string stopped_at_start_;
};

}  // namespace labloop::command
