#pragma once
// For tests that run `labloop driver-check` (wire/driver_check.hpp) against a driver.
#include <chrono>
#include <string>

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

}  // namespace labloop::test
