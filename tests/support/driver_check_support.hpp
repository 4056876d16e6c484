#pragma once
// For tests of drivers: `labloop driver-check` (wire/driver_check.hpp) run against one, and what
// serve() (wire/driver.hpp) says when it refuses to start.
#include <chrono>
#include <stop_token>
#include <string>

#include "labloop/core/error.hpp"
#include "labloop/wire/driver.hpp"
#include "labloop/wire/driver_check.hpp"

namespace labloop::test {

// Every check, experiments and settings outside the limits included.
inline DriverCheckOptions every_check(const std::string& endpoint) {
  DriverCheckOptions options;
  options.endpoint = endpoint;
  options.run_experiments = true;
  options.out_of_limits = true;
  options.reply_timeout = std::chrono::seconds(10);  // a Python interpreter's start, on a loaded machine
  options.experiment_timeout = std::chrono::seconds(20);
  return options;
}

// The checks that did not pass, a line each with what came back: for INFO().
inline std::string checks_not_passed(const DriverCheckReport& report) {
  std::string out;
  for (const CheckOutcome& o : report.outcomes)
    if (o.verdict != CheckVerdict::passed) out += o.check + ": " + o.detail + "\n";
  return out;
}

// Why serve() refuses to start `driver` with `options` (its keys, lease, …), or "(started)" when it
// would start: a stop is requested beforehand, so a driver that starts returns at once.
inline std::string refusal_to_serve(Driver& driver, const std::string& endpoint, ServeOptions options) {
  options.handle_signals = false;
  options.log = [](const std::string&) {};
  std::stop_source stop;
  stop.request_stop();
  options.stop = stop.get_token();
  try {
    serve(driver, endpoint, options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(started)";
}

}  // namespace labloop::test
