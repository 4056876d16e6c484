#pragma once
// `labloop driver-check`: a running driver checked against protocol v1 (docs/protocol.md) over
// its own socket, as its author or the technician installing it would check it — the handshake,
// the heartbeat, the answer to every kind of malformed message, and, only when asked, since they
// run at the instrument, experiments within its declared limits (and, asked separately, settings
// outside them, which it must refuse, and as many experiments at once as its capacity and one
// more, which it must refuse as busy). docs/writing-a-driver.md lists the checks.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "labloop/wire/instrument_info.hpp"
#include "labloop/wire/instrument_keys.hpp"

namespace labloop {

struct DriverCheckOptions {
  std::string endpoint;                           // where the driver listens: tcp://host:port or ipc://path
  std::optional<InstrumentKeys> keys;             // an encrypted driver (docs/security.md)
  bool run_experiments = false;                   // send experiments within the declared limits
  bool out_of_limits = false;                     // also send settings outside them (each must be rejected)
  bool capacity = false;                          // also run as many at once as the declared capacity (at most
                                                  // kMaxExperimentsAtOnce), and one more, which must be refused
  std::chrono::milliseconds reply_timeout{5000};  // for every answer the protocol says comes at once
  std::chrono::milliseconds experiment_timeout{60000};  // for an experiment's result after `accepted`
};

// The most experiments the capacity checks run at once: a driver declaring more is checked with
// this many, and its refusal past its capacity is not judged (the check says so).
inline constexpr int kMaxExperimentsAtOnce = 16;

// warned: the driver answered within the protocol, but with something a campaign cannot use as
// meant (an `accepted` whose max_s is 0); it does not fail the check run.
enum class CheckVerdict { passed, failed, skipped, warned };

struct CheckOutcome {
  std::string check;   // what was sent and what must come back: "ping → pong"
  CheckVerdict verdict = CheckVerdict::passed;
  std::string detail;  // what came back; for a failure or a warning, what is wrong
};

struct DriverCheckReport {
  InstrumentInfo info;                 // what the driver's welcome declares
  std::vector<CheckOutcome> outcomes;  // in the order they ran
  bool all_passed() const;             // no check failed (skipped and warned ones do not count)
};

// Runs the checks in order, calling `on_outcome` as each ends (for progress). Throws Error when there is nothing to check: no answer to `hello` (the message says what to
// look at: the endpoint, the keys), an answer that is not a `welcome` — `busy` from a driver held
// by a campaign, for one — or a welcome that breaks the protocol (what is wrong with it).
// Experiment ids are "driver-check-" plus a random tag, never a campaign's.
DriverCheckReport check_driver(const DriverCheckOptions& options, const std::function<void(const CheckOutcome&)>& on_outcome = {});

}  // namespace labloop
