#pragma once
// `labloop driver-check ENDPOINT`: a running driver checked against the protocol
// (wire/driver_check.hpp; docs/writing-a-driver.md), one line per check.
#include <CLI/CLI.hpp>

#include <string>

namespace labloop::cli {

struct DriverCheckCommand {
  std::string endpoint;
  std::string server_key;   // --server-key: the driver's public key file
  std::string client_keys;  // --client-keys: this controller's key pair
  bool run_experiments = false;
  bool out_of_limits = false;
  bool capacity = false;
  bool json = false;  // --json: one JSON object on stdout at the end, for a driver author's CI
  double timeout_s = 5;
  double experiment_timeout_s = 60;
};

// Registers `driver-check` on `app`; returns its subcommand.
CLI::App* add_driver_check_command(CLI::App& app, DriverCheckCommand& command);

// Exit codes: 0 every check passed (skipped ones aside); 1 a check failed, or nothing answered
// (with --json, then {"endpoint", "error"}). A mistake in the options is a ConfigError (2).
int run_driver_check(const DriverCheckCommand& command);

}  // namespace labloop::cli
