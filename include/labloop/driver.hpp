#pragma once
// The driver SDK: what an instrument author writes. Implement Driver (describe + run) and call
// serve(); serve() speaks protocol v1 (docs/protocol.md): it binds the ROUTER, answers hello,
// ping and abort, checks every `run` against the declared limits before the driver sees it, runs
// experiments on worker threads up to the declared capacity, caches results by experiment id
// (so a repeated `run` never runs twice) and stops cleanly on SIGINT/SIGTERM.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>

#include "labloop/instrument_info.hpp"
#include "labloop/space.hpp"

namespace labloop {

using Values = std::map<std::string, double>;

struct RunEstimate {
  std::optional<double> expected_s;  // how long the driver expects the experiment to take
  std::optional<double> max_s;       // the longest it may take before something is wrong
};

class Driver {
 public:
  virtual ~Driver() = default;
  // The instrument's own safety limits, outputs and capacity. Must not change while serving.
  virtual InstrumentInfo describe() const = 0;
  // Runs one experiment. `params` already lie within describe().inputs. Return every declared
  // output as a finite number, or throw to fail the experiment (the exception's message becomes
  // the result's error). `stop` is requested on abort or shutdown: bring the hardware to a safe
  // state and return or throw promptly. Called from worker threads, up to `capacity` at once.
  virtual Values run(const Params& params, std::stop_token stop) = 0;
  // Optional time estimate sent with `accepted`.
  virtual RunEstimate estimate(const Params& /*params*/) const { return {}; }
};

struct ServeOptions {
  std::stop_token stop;               // serve() returns soon after a stop is requested
  bool handle_signals = true;         // SIGINT/SIGTERM end serve() cleanly (restored on return)
  std::chrono::milliseconds shutdown_grace{5000};  // how long running experiments get to stop
  std::function<void(const std::string&)> log;     // one line per event worth telling; default stderr
  std::function<void(const std::string&)> on_ready;  // called once bound, with the bound endpoint
};

// Serves `driver` at `endpoint` (tcp://HOST:PORT, tcp://HOST:* or ipc:///PATH) until stopped.
// Returns 0 after a clean stop. Throws labloop::Error when the endpoint cannot be bound.
int serve(Driver& driver, const std::string& endpoint, const ServeOptions& options = {});

}  // namespace labloop
