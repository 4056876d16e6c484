#pragma once
// The driver SDK: what an instrument author writes. Implement Driver (describe + run) and call
// serve(); serve() speaks protocol v1 (docs/protocol.md): it binds the ROUTER, answers hello,
// ping and abort, checks every `run` against the declared limits before the driver sees it, runs
// experiments on worker threads up to the declared capacity, caches results by experiment id
// and params (so a repeated `run` never runs twice) and stops cleanly on SIGINT/SIGTERM.
//
// A repeated `run` (an id running or finished) is answered from state only when its params equal
// those of the first run, compared as JSON values; otherwise it is `rejected` with a reason
// starting with "conflict" and logged, and nothing runs. The peer that last sent a matching `run`
// owns the experiment: its result goes there, and an `abort` from any other peer is answered
// `error unknown_experiment` and stops nothing (docs/protocol.md §4.2, §4.5, §5).
//
// Every `run` is checked against the declared limits first, before the cache or the running
// experiments are asked, so nothing is answered for params this instrument would not run now.
//
// With ServeOptions::cache_path the cache also lives on disk, in the same format as the Python
// SDK's `cache_path` (JSON lines: a stamp naming the driver and a SHA-256 of what decides its
// results, then one final `result` message each plus a "params" member holding the params of its
// run; the last line for an id wins). A file stamped by another driver or configuration is
// refused at start; files of earlier versions (no stamp, or lines without "params") still load,
// and a line without "params" is answered by id alone. Each result is appended and fsynced
// *before* it is sent: a result the controller has seen survives a driver crash or power cut, and
// a restarted driver answers a repeated `run` for it from the file instead of running it again.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>

#include "labloop/wire/instrument_info.hpp"
#include "labloop/core/parameter.hpp"

namespace labloop {

using Values = std::map<std::string, double>;

struct RunEstimate {
  std::optional<double> expected_s;  // how long the driver expects the experiment to take
  std::optional<double> max_s;       // the longest it may take before something is wrong
};

// Thrown by a driver's run when it is stopped but its instrument goes on with the experiment and
// cannot be called back (a request the instrument's software has taken, a sample already in the
// machine). When the driver shuts down, serve() then sends no result for it: "driver shutting
// down" would have the controller run the experiment again under another id while the instrument
// still measures it. A controller that sends the same run to the driver restarted gets the result
// the instrument produces, if the driver can find it then (drivers/files does). On an abort it
// fails the experiment like any other exception ("aborted").
struct ExperimentGoesOn : std::runtime_error {
  using std::runtime_error::runtime_error;
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
  // What serve() calls: run() by default. Override it instead when the experiment's id matters
  // to the instrument (sample labels, a person asked to enter results under that id).
  virtual Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) {
    (void)experiment;
    return run(params, stop);
  }
  // Optional time estimate sent with `accepted`. Called on the thread that answers every peer
  // (ping, hello): return at once, from the params alone, without talking to the instrument (a
  // call over 0.5 s is said in the log). One that throws, or gives a figure that is no finite
  // number of seconds >= 0, accepts the run without that figure, said in the log.
  virtual RunEstimate estimate(const Params& /*params*/) const { return {}; }
};

// The longest lease serve() takes (a year, 31,536,000 s): a holder's times stay far inside what
// a clock and the journal can print.
inline constexpr std::chrono::seconds kMaxLease{31536000};

struct ServeOptions {
  std::stop_token stop;               // serve() returns soon after a stop is requested
  bool handle_signals = true;         // SIGINT/SIGTERM end serve() cleanly (restored on return)
  std::chrono::milliseconds shutdown_grace{5000};  // how long running experiments get to stop
  std::function<void(const std::string&)> log;     // one line per event worth telling; default stderr. Each line
                                                   // comes as core printable() shows it: control characters,
                                                   // escape sequences and bidi controls as \x1b, \u202e
  std::function<void(const std::string&)> on_ready;  // called once bound, with the bound endpoint

  // Result cache file (see the top of this header); empty = memory only. Loaded at start: a
  // torn last line (a crash mid-write) or a corrupt line is skipped with a log line, never fatal.
  // serve() throws labloop::Error when the file cannot be opened or read, or was stamped by
  // another driver or configuration. A failed append later (disk full) is logged and the result
  // still sent: the instrument keeps answering.
  std::string cache_path;
  // What decides this driver's results besides their params and what describe() declares: the
  // options it was started with that change what it measures (a simulator's function and noise,
  // an instrument's calibration file). Part of the cache file's stamp, so a cache written under
  // other ones is refused instead of answering for this configuration. Leave it null when
  // describe() says it all.
  nlohmann::json results_depend_on;

  // Called on the serving thread once per experiment whose final result enters the cache (ok,
  // failed or aborted), after it is appended to the cache file (if any) and before it is sent, so
  // whoever sees the result can already see what this hook recorded. Not called for re-sends from
  // the cache, nor for experiments cut short by serve()'s own shutdown (those are not cached).
  // An exception from it is logged, not propagated; it delays every result, so keep it short.
  std::function<void(const std::string& experiment, const nlohmann::json& result)> on_finished;

  // CurveZMQ encryption and authentication (docs/security.md). `key_path`: this driver's key pair
  // ("keys/reactor-1" or "keys/reactor-1.key", as `labloop keys new` writes it; its secret file
  // must be readable by its owner only). `allowed_keys`: the controllers that may connect, a .pub
  // file or a directory of .pub files, re-read at every handshake (no cache), so a key removed
  // from it — `labloop keys revoke` — is refused from its next connection; a connection already
  // open stays until it closes. Give both or neither. With them, a plaintext client or a key not
  // in the list is refused during the handshake (before any message reaches this code) and each
  // refusal is logged with the key's fingerprint. `require_encryption` without them makes serve()
  // throw at start instead of serving in plain text. serve() throws labloop::Error for an
  // unreadable or loose-permission key, a missing allow-list, or a libzmq without CURVE.
  std::string key_path;
  std::string allowed_keys;
  bool require_encryption = false;

  // Exclusive control (docs/protocol.md §12, docs/decisions/0011-exclusive-control.md): one
  // campaign at a time. A hello with a "campaign_id" takes the instrument when it is free, its
  // lease has expired, or that campaign (with the same controller key, on an encrypted link)
  // already holds it — a resume after a crash; anyone else's hello, run and abort is answered
  // `error busy` naming the holder, and nothing of theirs runs. Every message of the holder's
  // renews the lease for `lease`; `release` ends it. The key is the one the connection
  // authenticated with (CURVE), never one a message names. With `cache_path`, the holder is kept
  // in `cache_path` + ".holder" (JSON lines, fsynced) so a restarted driver keeps it. Off, the
  // driver serves every controller as protocol v1 always did.
  bool exclusive = false;
  std::chrono::seconds lease{3600};  // 1 s to kMaxLease; serve() refuses another (the ready-made drivers' --lease range)

  // For testing controllers only: misbehaviour injected into what serve() sends. Before each
  // outgoing message, with probability garbage_rate an extra frame of bytes that are not JSON
  // is sent, and with probability oversize_rate an extra valid `pong` larger than
  // protocol::kMaxMessageBytes; the real message always follows. Deterministic given `seed`
  // and the order of messages. Both 0 (the default) = nothing injected.
  struct ReplyFaults {
    double garbage_rate = 0.0;
    double oversize_rate = 0.0;
    std::uint64_t seed = 1;
  } reply_faults;
};

// Serves `driver` at `endpoint` (tcp://HOST:PORT, tcp://HOST:* or ipc:///PATH) until stopped.
// Returns 0 after a clean stop. Throws labloop::Error when the endpoint cannot be bound or the
// cache file cannot be opened.
int serve(Driver& driver, const std::string& endpoint, const ServeOptions& options = {});

}  // namespace labloop
