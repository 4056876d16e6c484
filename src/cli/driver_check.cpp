#include "driver_check.hpp"

#include <fmt/format.h>

#include <chrono>

#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/wire/driver_check.hpp"
#include "labloop/wire/endpoint.hpp"
#include "labloop/wire/protocol.hpp"
#include "progress.hpp"

namespace labloop::cli {

namespace {

CLI::Validator seconds_from(double low, double high) {
  return CLI::Validator([=](std::string& given) { return number_range_problem(given, low, high); }, number_range_text(low, high));
}

std::chrono::milliseconds as_ms(double seconds) { return std::chrono::milliseconds(static_cast<long long>(seconds * 1000)); }

const char* mark(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::passed: return "ok  ";
    case CheckVerdict::failed: return "FAIL";
    case CheckVerdict::skipped: return "skip";
    case CheckVerdict::warned: return "WARN";
  }
  return "";
}

const char* verdict_name(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::passed: return "passed";
    case CheckVerdict::failed: return "failed";
    case CheckVerdict::skipped: return "skipped";
    case CheckVerdict::warned: return "warned";
  }
  return "";
}

}  // namespace

CLI::App* add_driver_check_command(CLI::App& app, DriverCheckCommand& command) {
  auto* cmd = app.add_subcommand("driver-check",
                                 "Check a running driver against the protocol (docs/writing-a-driver.md): labloop driver-check tcp://127.0.0.1:5555");
  cmd->add_option("endpoint", command.endpoint, "Where the driver listens: tcp://HOST:PORT or ipc:///PATH")->required();
  cmd->add_option("--server-key", command.server_key, "An encrypted driver: its public key file (docs/security.md)");
  cmd->add_option("--client-keys", command.client_keys, "An encrypted driver: this controller's key pair (labloop keys new NAME), in its allow-list");
  cmd->add_flag("--run-experiments", command.run_experiments,
                "Also send experiments, at the middle of every declared limit: they run at the instrument");
  cmd->add_flag("--out-of-limits", command.out_of_limits,
                "With --run-experiments: also send settings outside the declared limits, each of which the driver must reject; a driver "
                "that accepts one sends it to its instrument, so use a simulated or disconnected instrument");
  cmd->add_flag("--capacity", command.capacity,
                fmt::format("With --run-experiments: also run as many experiments at once as the driver's declared capacity (at most {}), "
                            "each with its own setting, and one more, which it must refuse as busy",
                            kMaxExperimentsAtOnce));
  cmd->add_flag("--json", command.json,
                "Print one JSON object at the end instead of a line per check: the driver's welcome, each check with its verdict "
                "(passed, failed, skipped, warned) and detail, and the counts; or {\"endpoint\", \"error\"} when nothing could be checked");
  cmd->add_option("--timeout", command.timeout_s, "Seconds to wait for each answer the protocol says comes at once (default 5)")
      ->check(seconds_from(0.01, 3600));
  cmd->add_option("--experiment-timeout", command.experiment_timeout_s, "Seconds to wait for an experiment's result (default 60)")
      ->check(seconds_from(0.01, 7 * 24 * 3600));
  return cmd;
}

int run_driver_check(const DriverCheckCommand& command) {
  const char* const source = "labloop driver-check";
  DriverCheckOptions options;
  options.endpoint = command.endpoint;
  // A mistake on this command line (exit 2), not a driver that cannot be reached (exit 1).
  if (const std::string problem = endpoint_problem(command.endpoint, EndpointUse::connect); !problem.empty())
    throw ConfigError(source, "endpoint", problem);
  if (command.server_key.empty() != command.client_keys.empty())
    throw ConfigError(source, command.server_key.empty() ? "--server-key" : "--client-keys",
                      "an encrypted driver needs both --server-key (its public key) and --client-keys (this controller's key pair)");
  if (!command.server_key.empty()) options.keys = InstrumentKeys{read_public_key(command.server_key), read_checked_key_pair(command.client_keys)};
  if (command.out_of_limits && !command.run_experiments)
    throw ConfigError(source, "--out-of-limits", "goes with --run-experiments: settings outside the limits are experiments too");
  if (command.capacity && !command.run_experiments)
    throw ConfigError(source, "--capacity", "goes with --run-experiments: the capacity is checked with experiments run at once");
  options.run_experiments = command.run_experiments;
  options.capacity = command.capacity;
  options.out_of_limits = command.out_of_limits;
  options.reply_timeout = as_ms(command.timeout_s);
  options.experiment_timeout = as_ms(command.experiment_timeout_s);

  if (!command.json) fmt::print("checking the driver at {} (protocol v1, docs/protocol.md)\n", command.endpoint);
  DriverCheckReport report;
  try {
    report = check_driver(options, [&command](const CheckOutcome& outcome) {
      if (command.json) return;
      fmt::print("  {}  {}{}\n", mark(outcome.verdict), outcome.check, outcome.detail.empty() ? "" : ": " + printable(outcome.detail));
      std::fflush(stdout);
    });
  } catch (const Error& e) {
    if (!command.json) throw;
    fmt::print("{}\n", nlohmann::json{{"endpoint", command.endpoint}, {"error", e.what()}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 1;
  }
  int passed = 0, failed = 0, skipped = 0, warned = 0;
  for (const CheckOutcome& o : report.outcomes) {
    switch (o.verdict) {
      case CheckVerdict::passed: ++passed; break;
      case CheckVerdict::failed: ++failed; break;
      case CheckVerdict::skipped: ++skipped; break;
      case CheckVerdict::warned: ++warned; break;
    }
  }
  if (command.json) {
    nlohmann::json checks = nlohmann::json::array();
    for (const CheckOutcome& o : report.outcomes)
      checks.push_back({{"check", o.check}, {"verdict", verdict_name(o.verdict)}, {"detail", o.detail}});
    const nlohmann::json out{{"endpoint", command.endpoint},
                             {"welcome", protocol::to_json(protocol::Welcome::of(report.info))},
                             {"checks", checks},
                             {"passed", passed},
                             {"failed", failed},
                             {"skipped", skipped},
                             {"warned", warned}};
    // A driver's answers are quoted in the details: bytes that are not UTF-8 become U+FFFD.
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    fmt::print("{} checks passed, {} failed{}{}\n", passed, failed, warned ? fmt::format(", {} warned", warned) : "",
               skipped ? fmt::format(", {} skipped", skipped) : "");
  }
  return report.all_passed() ? 0 : 1;
}

}  // namespace labloop::cli
