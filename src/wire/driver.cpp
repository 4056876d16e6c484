// serve(): the driver side of protocol v1. One thread owns the ROUTER socket and all state;
// experiments run on worker threads that report back over an inproc PUSH/PULL pair, so the
// socket loop never blocks on hardware and always answers `ping` promptly.
#include "labloop/wire/driver.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/wire/lease.hpp"
#include "labloop/wire/protocol.hpp"
#include "curve.hpp"
#include "sha256.hpp"

namespace labloop {

namespace {

using json = nlohmann::json;
using Envelope = std::vector<std::string>;  // routing frames (identity, maybe an empty delimiter)

// JSON that is not a protocol message (a cache line, a log excerpt) in the wire's spelling.
std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::atomic<int> g_signal{0};
extern "C" void on_signal(int signal) { g_signal.store(signal); }

// Installs SIGINT/SIGTERM handlers for the lifetime of serve() and restores the old ones.
class SignalGuard {
 public:
  explicit SignalGuard(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    g_signal.store(0);
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalGuard() {
    if (!enabled_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  bool signalled() const { return enabled_ && g_signal.load() != 0; }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  bool enabled_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Who ran an experiment: the ROUTER identity its `run` came from and the controller key that
// connection authenticated with ("" on plaintext). The identity alone is the client's choice, so
// another controller could pick it (protocol §12).
struct Owner {
  std::string identity;
  std::string key;
  bool operator==(const Owner&) const = default;
};

// A finished experiment as the cache keeps it. `params` are those of the run that produced the
// result, so a repeated `run` is answered only when it asks for the same experiment (protocol
// §5); a line written before params were kept has none and is answered by id alone, to a run
// whose params pass this instrument's limits.
struct FinishedExperiment {
  std::string payload;                 // the encoded `result`, re-sent verbatim
  std::optional<json> params;          // nullopt: an old cache line without params
  std::optional<Owner> owner;          // the sender of the latest matching `run`, if any yet
};

// The first line of a result cache this version writes: what wrote it (protocol §5). Cached
// results are answered by id and params alone, so a cache kept from another function, other
// limits or other options would answer as if this instrument had measured them. The digest covers
// what decides a result besides its params: the driver's name, its inputs and outputs as its
// welcome declares them, and ServeOptions::results_depend_on; not its version or capacity, so an
// update that measures the same keeps its cache.
json cache_stamp(const InstrumentInfo& info, const json& results_depend_on) {
  const json welcome = protocol::to_json(protocol::Welcome::of(info));
  const json decisive{{"driver", info.driver}, {"inputs", welcome["inputs"]}, {"outputs", welcome["outputs"]},
                      {"results_depend_on", results_depend_on}};
  return json{{"cache_of", {{"driver", info.driver}, {"welcome_sha256", detail::sha256_hex(dump(decisive))}}}};
}

// The result cache on disk: a stamp line (cache_stamp), then JSON lines, each a final `result`
// message plus a "params" member holding the params of its run, the last line for an id winning
// (the Python SDK's format). Files of earlier versions, without a stamp or without "params", still
// load. Each append is fsynced before the caller sends the result, so a sent result is never lost
// to a crash.
class CacheFile {
 public:
  // Opens (creating if needed) `path`; throws Error naming the path and the OS reason.
  // Two drivers on one cache would each answer from a file the other appends to unseen, and run
  // again what the other finished: the second is refused.
  explicit CacheFile(std::string path) : file_(std::move(path), "the result cache") {
    // Waited for a while: a driver killed a moment ago (its controller restarting it) still holds it.
    if (!file_.lock_exclusively(5000))
      throw Error(fmt::format("result cache {} is in use by another driver (a second one started with the same --cache?): give each "
                              "driver its own cache file",
                              file_.path()));
  }

  // Every result in the file by id. A driver must keep serving whatever the file holds, so bad
  // lines are skipped and reported through `log`, never thrown. A torn last line (a crash
  // mid-write) is terminated with a newline, so the next append starts a line of its own instead
  // of being glued to the fragment and lost with it on the next load. A new file gets `stamp` as
  // its first line; a file stamped otherwise is refused (Error), as its results are another
  // configuration's.
  std::map<std::string, FinishedExperiment> load(const json& stamp, const std::function<void(const std::string&)>& log) {
    const std::string text = file_.read_all();
    std::map<std::string, FinishedExperiment> results;
    bool stamped = false;
    std::size_t start = 0;
    for (int line_number = 1; start < text.size(); ++line_number) {
      std::size_t end = text.find('\n', start);
      const bool torn = end == std::string::npos;
      if (torn) end = text.size();
      const std::string_view line(text.data() + start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      // A stamp is short; a long first line is a result, parsed (with its depth check) below.
      if (line_number == 1 && !torn && line.size() < 4096 && line.find("\"cache_of\"") != std::string_view::npos) {
        const json first = json::parse(line, nullptr, false);
        if (first.is_object() && first.contains("cache_of")) {
          check_stamp(first, stamp);
          stamped = true;
          continue;
        }
      }
      try {
        const protocol::Message m = protocol::decode(line);
        const auto* result = std::get_if<protocol::Result>(&m);
        if (!result) throw ProtocolError("bad_message", fmt::format("a \"{}\" message, not a result", protocol::type_name(m)));
        FinishedExperiment finished;
        // "params" is the cache's own member, not the message's: the typed result drops it.
        const json object = json::parse(line);
        if (auto params = object.find("params"); params != object.end()) {
          if (!params->is_object()) throw ProtocolError("bad_message", "\"params\" must be an object");
          finished.params = *params;
        }
        finished.payload = protocol::encode(*result);
        results[result->experiment] = std::move(finished);
      } catch (const ProtocolError& e) {
        log(torn ? fmt::format("result cache {}: skipped a torn last line {} (a crash while writing it?)", file_.path(), line_number)
                 : fmt::format("result cache {}: skipped corrupt line {}: {}", file_.path(), line_number, e.what()));
      }
    }
    if (!text.empty() && text.back() != '\n') file_.append("\n");
    if (text.empty()) file_.append(dump(stamp) + "\n");
    else if (!stamped)
      log(fmt::format("result cache {} has no stamp of what wrote it (an earlier version's): its results are answered only to runs "
                      "within this instrument's limits",
                      file_.path()));
    return results;
  }

  // Appends `result` with its run's `params` as one line and fsyncs it; throws Error when the
  // disk refuses.
  void append(const protocol::Result& result, const json& params) {
    json line = protocol::to_json(result);
    line["params"] = params;
    file_.append(dump(line) + "\n");
  }

 private:
  void check_stamp(const json& found, const json& expected) const {
    const json& of = found["cache_of"];
    const json& want = expected["cache_of"];
    auto member = [](const json& object, const char* name) {
      return object.is_object() && object.contains(name) && object[name].is_string() ? object[name].get<std::string>() : std::string();
    };
    if (member(of, "driver") == member(want, "driver") && member(of, "welcome_sha256") == member(want, "welcome_sha256")) return;
    const std::string writer = member(of, "driver") == member(want, "driver")
                                   ? fmt::format("{} with other inputs, outputs or options", member(want, "driver"))
                                   : fmt::format("driver \"{}\"", member(of, "driver"));
    throw Error(fmt::format("result cache {} was written by another configuration ({}): its results are not this instrument's. "
                            "Use another cache file (--cache), or delete this one if its results are no longer needed",
                            file_.path(), writer));
  }

  AppendFile file_;
};

// The holder under exclusive control, on disk beside the result cache: one JSON line per change
// (LeaseHolder::to_json, or {"released": true}), the last good line winning, each fsynced before
// the answer that depends on it is sent. A restarted driver must not hand a crashed campaign's
// instrument to the next comer. Loading compacts the file to its one current line, and so does
// a save once a run of the driver has appended kCompactAfterBytes (a line per take, release, and
// lease/10 of renewals); a file past kMaxHolderFileBytes is refused at start rather than read.
class HolderFile {
 public:
  static constexpr std::uintmax_t kMaxHolderFileBytes = 64 << 20;

  explicit HolderFile(std::string path) : path_(std::move(path)), file_(open(path_)) {}

  std::optional<LeaseHolder> load(const std::function<void(const std::string&)>& log) {
    std::error_code ec;
    if (const auto size = std::filesystem::file_size(path_, ec); !ec && size > kMaxHolderFileBytes)
      throw Error(fmt::format("the instrument's holder file {} is {} bytes, more than the {} a driver reads: is it the right file? "
                              "If no campaign holds this instrument, remove it",
                              path_, size, kMaxHolderFileBytes));
    const std::string text = file_->read_all();
    std::optional<LeaseHolder> holder;
    std::size_t start = 0, lines = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      ++lines;
      const json object = json::parse(line, nullptr, false);
      if (object.is_object() && object.value("released", false)) {
        holder.reset();
      } else if (auto read = LeaseHolder::from_json(object)) {
        holder = std::move(read);
      } else {
        log(fmt::format("holder file {}: skipped a line that is not a holder (a crash while writing it?)", path_));
      }
    }
    if (lines > 1 || (!text.empty() && text.back() != '\n')) compact(holder);
    return holder;
  }

  // Compacted once it passes kCompactAfterBytes: a controller taking and releasing the instrument
  // in a loop grew it past kMaxHolderFileBytes in two minutes, and the driver then refused to start.
  void save(const std::optional<LeaseHolder>& holder) {
    const std::string line = line_of(holder);
    if (written_ + line.size() > kCompactAfterBytes) {
      compact(holder);
      written_ = line.size();
      return;
    }
    file_->append(line);
    written_ += line.size();
  }
  static constexpr std::uintmax_t kCompactAfterBytes = 1 << 20;

 private:
  static std::unique_ptr<AppendFile> open(const std::string& path) { return std::make_unique<AppendFile>(path, "the instrument's holder file"); }
  static std::string line_of(const std::optional<LeaseHolder>& holder) { return dump(holder ? holder->to_json() : json{{"released", true}}) + "\n"; }

  // The current line alone, written beside and renamed over the file. Should the rename not
  // survive a power cut, the old file is still there and gives the same holder.
  void compact(const std::optional<LeaseHolder>& holder) {
    const std::string temporary = path_ + ".compacting";
    std::error_code ec;
    std::filesystem::remove(temporary, ec);
    open(temporary)->append(line_of(holder));
    std::filesystem::rename(temporary, path_, ec);
    if (ec) throw Error(fmt::format("cannot compact the instrument's holder file {}: {}", path_, ec.message()));
    file_ = open(path_);
  }

  std::string path_;
  std::unique_ptr<AppendFile> file_;
  std::uintmax_t written_ = 0;  // appended since the file was last compacted (or opened)
};

// For log lines: a JSON value cut to a readable length.
std::string brief(const json& value) {
  std::string text = dump(value);
  if (text.size() > 200) text = text.substr(0, 197) + "...";
  return text;
}

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct RunningExperiment {
  // The owner: the latest sender of a matching run, and its key; the result goes here. Empty once
  // its identity speaks with another key: the result is then kept for a matching run.
  Envelope route;
  std::string key;
  json params;             // as received, compared with those of a repeated run
  protocol::Accepted accepted;  // re-sent as it was for a repeated run
  bool aborted = false;
  // Set by the worker before it reports: the driver threw ExperimentGoesOn. (The worker, joined
  // before the rest is destroyed, writes only this member.)
  std::atomic<bool> goes_on{false};
  std::jthread worker;     // last member: joined first on destruction, while the rest is alive
};

class Server {
 public:
  Server(Driver& driver, const std::string& endpoint, const ServeOptions& options)
      : driver_(driver), info_(driver.describe()), options_(options), router_(context_, zmq::socket_type::router),
        completions_(context_, zmq::socket_type::pull) {
    if (!options_.log) options_.log = [](const std::string& line) { std::cerr << "driver: " << line << std::endl; };
    // Log lines quote what peers sent (experiment ids, params, a controller's error text) and what
    // the driver said (an instrument's failure text, run_experiment's exception): every line goes
    // through printable(), as the Python SDK's log filter sends its records, so none can retitle or
    // clear the operator's terminal, forge a log line or reorder one (bidirectional controls). In
    // one place, a caller's `log` included, so no line can be missed; the wire is untouched.
    options_.log = [log = std::move(options_.log)](const std::string& line) { log(printable(line)); };
    if (info_.capacity < 1) throw Error("driver describes capacity < 1; it must run at least one experiment at once");
    welcome_ = protocol::encode(protocol::Welcome::of(info_));
    // Before binding: a driver that cannot keep its results should fail before anyone connects.
    if (!options_.cache_path.empty()) {
      cache_file_ = std::make_unique<CacheFile>(options_.cache_path);
      cache_ = cache_file_->load(cache_stamp(info_, options_.results_depend_on), options_.log);
      options_.log(fmt::format("loaded {} cached result(s) from {}", cache_.size(), options_.cache_path));
    }
    if (options_.exclusive) set_up_lease();
    set_up_encryption();
    // Large enough to answer `too_large` politely; beyond it ZeroMQ drops the peer instead.
    router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(16 * protocol::kMaxMessageBytes));
    router_.set(zmq::sockopt::linger, 1000);
    router_.set(zmq::sockopt::router_mandatory, true);  // an undeliverable reply is reported, not silently dropped (send_frames)
    try {
      router_.bind(endpoint);
    } catch (const zmq::error_t& e) {
      throw Error(fmt::format("cannot bind {}: {} (is another driver already serving there?)", endpoint, e.what()));
    }
    completions_address_ = fmt::format("inproc://labloop-serve-{}", static_cast<const void*>(this));
    completions_.bind(completions_address_);
    bound_endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }

  int loop() {
    SignalGuard signals(options_.handle_signals);
    options_.log(fmt::format("{} {} serving on {} (capacity {})", info_.driver, info_.version, bound_endpoint_, info_.capacity));
    if (options_.on_ready) options_.on_ready(bound_endpoint_);
    zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                               {completions_.handle(), 0, ZMQ_POLLIN, 0},
                               {monitor_ ? monitor_->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    while (!options_.stop.stop_requested() && !signals.signalled()) {
      poll(items, std::chrono::milliseconds(100));
      if (items[0].revents & ZMQ_POLLIN) handle_request();
      if (items[1].revents & ZMQ_POLLIN) handle_completion();
      if (items[2].revents & ZMQ_POLLIN) log_handshake_failures();
    }
    shut_down(items);
    return 0;
  }

 private:
  // items: the ROUTER, completions and, when encrypted, the handshake monitor.
  void poll(zmq::pollitem_t* items, std::chrono::milliseconds timeout) const {
    items[2].revents = 0;
    try {
      zmq::poll(items, monitor_ ? 3 : 2, timeout);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;  // a signal: the loop condition looks at it
      items[0].revents = items[1].revents = items[2].revents = 0;
    }
  }

  // ServeOptions::key_path/allowed_keys/require_encryption: CURVE server with a ZAP handler, set
  // up before bind so the first connection is already checked.
  void set_up_encryption() {
    const bool keyed = !options_.key_path.empty(), listed = !options_.allowed_keys.empty();
    if (options_.require_encryption && !keyed)
      throw Error("encryption is required but no key pair was given: make one with `labloop keys new NAME`, then serve with its "
                  "key (--key keys/NAME) and the controllers allowed to connect (--allowed DIR)");
    if (keyed != listed)
      throw Error(keyed ? "a key pair was given without an allow-list: name the controllers' public keys allowed to connect (--allowed FILE_OR_DIR)"
                        : "an allow-list was given without this driver's key pair (--key keys/NAME)");
    if (!keyed) return;
    if (!detail::curve_available()) throw Error("this libzmq has no CURVE support: install a libzmq built with libsodium");
    const KeyPair pair = read_checked_key_pair(options_.key_path);
    // Checked now so a typo fails at start; re-read at every handshake afterwards.
    const std::vector<PublicKey> allowed = read_public_keys(options_.allowed_keys);
    zap_ = std::make_unique<detail::ZapHandler>(context_, options_.allowed_keys, options_.log);
    router_.set(zmq::sockopt::curve_server, true);
    detail::set_curve_key(router_, ZMQ_CURVE_SECRETKEY, pair.curve_secret, "secret key");
    router_.set(zmq::sockopt::zap_domain, "labloop");
    monitor_ = std::make_unique<detail::HandshakeMonitor>(context_, router_);
    options_.log(fmt::format("encrypted (CURVE): this driver's key is {} ({}); {} controller key(s) allowed by {}{}",
                             pair.public_key.fingerprint(), secret_key_path(options_.key_path).string(), allowed.size(),
                             options_.allowed_keys, allowed.empty() ? " — none can connect until one is added" : ""));
  }

  // Clients refused before the access check (ZAP logs its own refusals, with the key).
  void log_handshake_failures() {
    while (auto event = monitor_->next()) {
      // A plaintext client may see the mismatch first and hang up before this side reads its
      // greeting: then all the driver sees is a handshake cut short.
      if (event->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        limited_.write("handshake cut short", "a client closed its connection during the handshake (a plaintext client, or one encrypting to another server key; "
                     "the controller's error says which)");
      if (event->event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) continue;
      if (event->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        limited_.write("handshake plaintext", "refused a client without encryption: this driver requires CURVE (the controller needs a security section)");
      else if (event->value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        limited_.write("handshake other key", "refused a client that encrypts to another server key: its security section names the wrong server_public_key");
      else
        limited_.write("handshake refused", fmt::format("refused a client: {}", detail::protocol_error_text(event->value)));
    }
  }

  // The key fingerprint the ZAP handler gave this connection as its User-Id (curve.cpp); "" on a
  // plaintext link, where ZeroMQ sets no User-Id.
  static std::string authenticated_key(zmq::message_t& frame) {
    const char* user = zmq_msg_gets(frame.handle(), "User-Id");
    return user ? std::string(user) : std::string();
  }

  // `result_of`: the experiment whose result `payload` is, when it is one.
  void send(const Envelope& route, const std::string& payload, const std::string& result_of = {}) {
    inject_reply_faults(route);
    send_frames(route, payload, result_of);
  }
  // Never blocks the one thread that serves everyone. A reply ZeroMQ cannot take now (the
  // controller does not read and its queue is full) or cannot route (the controller is gone) is
  // dropped, as ROUTER always did, but said: a result each time, other replies at most once a
  // second for each reason, counting the rest. Nothing is lost for good: a result stays cached,
  // and a controller that asks again (its pong reconcile, a repeated run) gets it; one a driver
  // shutting down did not cache is run again when asked.
  // Why ROUTER could not deliver a reply.
  enum class Undeliverable { queue_full, gone };
  void send_frames(const Envelope& route, const std::string& payload, const std::string& result_of = {}) {
    std::optional<Undeliverable> why;
    try {
      bool first = true;
      for (const auto& frame : route) {
        // Only the first frame can fail: once it has picked the peer, ZeroMQ takes the rest.
        if (!router_.send(zmq::buffer(frame), zmq::send_flags::sndmore | zmq::send_flags::dontwait) && first) {
          why = Undeliverable::queue_full;
          break;
        }
        first = false;
      }
      if (!why) router_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EHOSTUNREACH) throw;
      why = Undeliverable::gone;
    }
    if (why) note_undelivered(*why, result_of);
  }
  void note_undelivered(Undeliverable why, const std::string& result_of) {
    const char* const reason = why == Undeliverable::queue_full ? "its controller's queue is full (it is not reading)" : "its controller is gone";
    if (!result_of.empty()) {
      // A driver shutting down caches nothing (handle_completion): said so, not that it is kept.
      if (cache_.count(result_of) == 0)
        options_.log(fmt::format("the result of {} was not delivered: {}. It is not cached (this driver is shutting down; no verdict on "
                                 "the experiment): a controller that resumes sends it again, to this driver restarted or another",
                                 result_of, reason));
      else
        options_.log(fmt::format("the result of {} was not delivered: {}. It stays cached, and is sent again when that controller asks "
                                 "(its next ping, or the same run)",
                                 result_of, reason));
      return;
    }
    Undelivered& u = undelivered_[static_cast<std::size_t>(why)];
    ++u.count;
    const auto now = std::chrono::steady_clock::now();
    if (now - u.last_logged < std::chrono::seconds(1)) return;
    options_.log(fmt::format("a reply was not delivered: {}{}", reason, u.count > 1 ? fmt::format(" ({} such since the last line saying so)", u.count) : ""));
    u = {now, 0};
  }
  // ServeOptions::reply_faults: extra frames *before* the real message, so the real one always
  // arrives and a controller test can rely on it.
  void inject_reply_faults(const Envelope& route) {
    const auto& faults = options_.reply_faults;
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    if (faults.garbage_rate > 0 && uniform(faults_rng_) < faults.garbage_rate) {
      // 0xFF never occurs in UTF-8, so no JSON parser can take this for a message.
      std::string garbage = "\xff\xfe{garbage";
      const auto extra = std::uniform_int_distribution<int>(0, 64)(faults_rng_);
      for (int i = 0; i < extra; ++i) garbage.push_back(static_cast<char>(std::uniform_int_distribution<int>(0, 255)(faults_rng_)));
      send_frames(route, garbage);
    }
    if (faults.oversize_rate > 0 && uniform(faults_rng_) < faults.oversize_rate) {
      json oversize = protocol::to_json(protocol::Pong{});
      oversize["padding"] = std::string(protocol::kMaxMessageBytes, 'x');
      send_frames(route, dump(oversize));
    }
  }
  void send(const Envelope& route, const protocol::Message& message) { send(route, protocol::encode(message)); }

  void handle_request() {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
    if (frames.size() < 2) return;  // ROUTER always prefixes an identity; nothing to answer to otherwise
    Envelope route;
    for (size_t i = 0; i + 1 < frames.size(); ++i) route.push_back(frames[i].to_string());
    const std::string_view payload(static_cast<const char*>(frames.back().data()), frames.back().size());
    const std::string key = authenticated_key(frames.back());
    notice_key(route, key);
    try {
      dispatch(route, protocol::decode(payload, protocol::Reader::driver), key);
    } catch (const ProtocolError& e) {
      limited_.write("malformed", fmt::format("rejected a malformed message ({}): {}", e.code(), e.what()));
      send(route, protocol::Error{e.code(), e.what()});
    } catch (const std::exception& e) {
      options_.log(fmt::format("internal error while handling a message: {}", e.what()));
      send(route, protocol::Error{"internal", e.what()});
    }
  }

  // A routing identity is the client's choice, the key is what its connection authenticated with:
  // once an identity speaks with another key it is another controller, and the experiments the
  // previous one runs must not send it their results (protocol §12).
  void notice_key(const Envelope& route, const std::string& key) {
    for (auto& [id, experiment] : running_) {
      if (experiment->route.empty() || identity(experiment->route) != identity(route) || experiment->key == key) continue;
      options_.log(fmt::format("experiment {}: its routing identity now speaks with another controller key ({}, not {}); its result is "
                               "kept for a matching run",
                               id, key.empty() ? "none" : key, experiment->key.empty() ? "none" : experiment->key));
      experiment->route.clear();
    }
  }

  // `key`: the controller key the peer's connection authenticated with ("" on plaintext).
  void dispatch(const Envelope& route, const protocol::Message& m, const std::string& key) {
    if (const auto* hello = std::get_if<protocol::Hello>(&m)) return handle_hello(route, *hello, key);
    if (const auto* release = std::get_if<protocol::Release>(&m)) return handle_release(route, *release, key);
    if (std::holds_alternative<protocol::Ping>(m)) {
      if (lease_) lease_admits(route, key);  // the holder's heartbeat renews its lease; anyone may ping
      return send(route, protocol::Pong{order_, {}});
    }
    if (const auto* run = std::get_if<protocol::Run>(&m)) {
      if (!lease_admits(route, key)) return refuse_busy(route, "run", run->experiment);
      return handle_run(route, *run, key);
    }
    if (const auto* abort = std::get_if<protocol::Abort>(&m)) {
      if (!lease_admits(route, key)) return refuse_busy(route, "abort", abort->experiment);
      return handle_abort(route, abort->experiment, key);
    }
    if (const auto* error = std::get_if<protocol::Error>(&m))
      return limited_.write("error", fmt::format("controller reported error {}: {}", error->code, error->message));
    send(route, protocol::Error{"unknown_type", fmt::format("a driver does not handle \"{}\" messages", protocol::type_name(m))});
  }

  // ---- exclusive control (ServeOptions::exclusive; wire/lease.hpp holds the policy) ----

  void set_up_lease() {
    if (options_.lease < std::chrono::seconds(1) || options_.lease > kMaxLease)
      throw Error(fmt::format("the lease must be 1 to {} seconds (a year), not {}", kMaxLease.count(), options_.lease.count()));
    lease_.emplace(static_cast<double>(options_.lease.count()));
    if (options_.cache_path.empty()) return;
    holder_file_ = std::make_unique<HolderFile>(options_.cache_path + ".holder");
    if (const auto holder = holder_file_->load(options_.log)) {
      lease_->restore(*holder);
      if (lease_->holder(now_unix()))
        options_.log(fmt::format("restored the holder from {}: {}", options_.cache_path + ".holder", lease_->busy_message(now_unix())));
    }
  }

  // On disk before the answer that depends on it leaves (taken, released), so a crash between
  // the two cannot hand the instrument to someone else after a restart.
  void save_lease() {
    if (!lease_ || !lease_->needs_saving()) return;
    if (holder_file_) {
      try {
        holder_file_->save(lease_->holder(now_unix()));
      } catch (const Error& e) {
        options_.log(fmt::format("{} (the holder is kept in memory only)", e.what()));
      }
    }
    lease_->saved();
  }

  // What a peer claimed in its last accepted hello, if made with the key of the message at hand
  // (`key`); nullopt for no hello, one without a campaign id, or a refused one. Another controller
  // reusing the routing identity has said no hello of its own: the stale claim is dropped.
  std::optional<LeaseClaim> claim_of(const Envelope& route, const std::string& key) {
    const auto it = peers_.find(identity(route));
    if (it == peers_.end()) return std::nullopt;
    if (it->second.claim.key != key) {
      limited_.write("identity", fmt::format("a controller with key {} uses the routing identity of campaign {}'s controller (key {}): treated as one "
                               "that said no hello",
                               key.empty() ? "none" : key, it->second.claim.campaign_id,
                               it->second.claim.key.empty() ? "none" : it->second.claim.key));
      forget_peer(identity(route));
      return std::nullopt;
    }
    peer_recency_.splice(peer_recency_.begin(), peer_recency_, it->second.recency);
    return it->second.claim;
  }

  bool lease_admits(const Envelope& route, const std::string& key) {
    if (!lease_) return true;
    const bool admitted = lease_->admit(claim_of(route, key), now_unix());
    save_lease();
    return admitted;
  }

  void refuse_busy(const Envelope& route, const char* what, const std::optional<std::string>& experiment) {
    const std::string message = lease_->busy_message(now_unix());
    limited_.write("busy", fmt::format("refused a {} from a controller that does not hold this instrument: {}", what, message));
    send(route, protocol::Error{std::string(protocol::kBusy), message, experiment});
  }

  void handle_hello(const Envelope& route, const protocol::Hello& m, const std::string& key) {
    if (!lease_) return send(route, welcome_);
    // This hello replaces whatever the peer claimed before, and only an accepted claim is kept.
    forget_peer(identity(route));
    const double now = now_unix();
    if (!m.campaign_id) {  // an old controller: served while the instrument is free, never holds it
      if (!lease_->admit(std::nullopt, now)) return refuse_busy(route, "hello", std::nullopt);
      return send(route, welcome_);
    }
    const LeaseClaim claim{*m.campaign_id, key};
    const HolderLease::Take take = lease_->take(claim, now);
    save_lease();
    if (take == HolderLease::Take::refused) return refuse_busy(route, "hello", std::nullopt);
    remember_peer(route, claim, now);
    const LeaseHolder holder = *lease_->holder(now);
    if (take == HolderLease::Take::taken)
      options_.log(fmt::format("campaign {}{} holds this instrument until {} (renewed by its messages)", claim.campaign_id,
                               key.empty() ? "" : fmt::format(" (controller {})", key), utc_iso8601(holder.until)));
    else
      options_.log(fmt::format("campaign {} took its instrument back", claim.campaign_id));
    protocol::Welcome welcome = protocol::Welcome::of(info_);
    welcome.holder = protocol::Holder{holder.claim.campaign_id, utc_iso8601(holder.since), utc_iso8601(holder.until),
                                      key.empty() ? std::nullopt : std::optional<std::string>(key)};
    send(route, welcome);
  }

  void handle_release(const Envelope& route, const protocol::Release& m, const std::string& key) {
    if (!lease_) return send(route, protocol::Released{m.campaign_id});
    const HolderLease::Release release = lease_->release(LeaseClaim{m.campaign_id, key}, now_unix());
    save_lease();
    if (release == HolderLease::Release::refused) return refuse_busy(route, "release", std::nullopt);
    if (release == HolderLease::Release::released) options_.log(fmt::format("campaign {} released this instrument", m.campaign_id));
    send(route, protocol::Released{m.campaign_id});
  }

  // Peers are ROUTER identities, one per connection; a controller that reconnects says hello
  // again. Only accepted claims are kept, so a flood of refused or claimless hellos adds nothing.
  // Bounded: when full, the least recently heard peer not holding the instrument is forgotten
  // (it is asked for a hello again through `busy`); the holder's only when no other is left.
  void remember_peer(const Envelope& route, const LeaseClaim& claim, double now) {
    if (peers_.size() >= kMaxPeers) {
      const auto holder = lease_->holder(now);
      std::string victim = peer_recency_.back();
      for (auto it = peer_recency_.rbegin(); it != peer_recency_.rend(); ++it)
        if (!holder || peers_.at(*it).claim != holder->claim) {
          victim = *it;
          break;
        }
      forget_peer(victim);
    }
    peer_recency_.push_front(identity(route));
    peers_[identity(route)] = RememberedPeer{claim, peer_recency_.begin()};
  }
  void forget_peer(const std::string& peer) {
    const auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    peer_recency_.erase(it->second.recency);
    peers_.erase(it);
  }

  // The peer behind an envelope: its ROUTER identity (the first frame), whatever delimiter follows.
  static const std::string& identity(const Envelope& route) { return route.front(); }

  // A repeated `run` (its params already within the limits) is answered from state only when it
  // asks for the same experiment: the same id *and* the same params, compared as JSON values.
  // Another campaign reusing the id, or a stray client, gets `rejected` "conflict…" and nothing else.
  static bool same_params(const protocol::Run& m, const json& stored) { return !m.params.is_null() && m.params == stored; }
  void reject_conflict(const Envelope& route, const protocol::Run& m, const char* state, const json& stored) {
    const std::string& id = m.experiment;
    limited_.write("conflict", fmt::format("conflict: rejected a run of {} with params {}: it {} with params {}", id,
                             m.params.is_null() ? std::string("(none)") : brief(m.params), state, brief(stored)));
    send(route, protocol::Rejected{id, fmt::format("conflict: experiment {} {} with other parameters", id, state)});
  }

  void handle_run(const Envelope& route, const protocol::Run& m, const std::string& key) {
    const std::string& id = m.experiment;
    // Before the cache and the running experiments are asked: an answer from them is this
    // instrument's only for params it would run now (a cache of an earlier version, written under
    // other limits, must not answer outside them).
    if (!m.params.is_object()) return send(route, protocol::Error{"bad_message", "run: \"params\" must be an object", id});
    const Params& params = m.params;
    if (std::string problem = check_params(info_.inputs, params); !problem.empty()) {
      limited_.write("rejected", fmt::format("rejected {}: {}", id, problem));
      return send(route, protocol::Rejected{id, problem});
    }
    if (auto cached = cache_.find(id); cached != cache_.end()) {
      FinishedExperiment& finished = cached->second;
      if (finished.params && !same_params(m, *finished.params)) return reject_conflict(route, m, "already ran", *finished.params);
      finished.owner = Owner{identity(route), key};
      return send(route, finished.payload, id);
    }
    if (auto it = running_.find(id); it != running_.end()) {
      if (!same_params(m, it->second->params)) return reject_conflict(route, m, "is running", it->second->params);
      it->second->route = route;
      it->second->key = key;
      return send(route, it->second->accepted);
    }
    if (static_cast<int>(running_.size()) >= info_.capacity)
      return send(route, protocol::Rejected{id, fmt::format("busy: {}/{} experiments running", running_.size(), info_.capacity)});

    // The instrument gets its own levels (protocol §4.2); the run is known by the params as sent.
    const Params declared = at_declared_levels(info_.inputs, params);
    const RunEstimate estimate = usable_estimate(id, declared);
    auto experiment = std::make_unique<RunningExperiment>();
    experiment->route = route;
    experiment->key = key;
    experiment->params = params;
    experiment->accepted = protocol::Accepted::of(id, estimate.expected_s, estimate.max_s);
    // Accepted goes out before the worker starts, so it always precedes the result.
    send(route, experiment->accepted);
    experiment->worker =
        std::jthread([this, id, declared, &goes_on = experiment->goes_on](std::stop_token stop) { work(id, declared, stop, goes_on); });
    order_.push_back(id);
    running_.emplace(id, std::move(experiment));
  }

  // Only the owner of an experiment (the latest sender of a matching `run`, with its key) may
  // abort it or be re-sent its result through `abort`; to anyone else the experiment does not exist.
  void handle_abort(const Envelope& route, const std::string& id, const std::string& key) {
    auto not_theirs = [&] {
      limited_.write("abort", fmt::format("ignored an abort of {} from a peer that did not run it", id));
      send(route, protocol::Error{"unknown_experiment", fmt::format("no experiment {} was run by this peer", id), id});
    };
    if (auto cached = cache_.find(id); cached != cache_.end()) {
      if (cached->second.owner != Owner{identity(route), key}) return not_theirs();
      return send(route, cached->second.payload, id);
    }
    auto it = running_.find(id);
    if (it == running_.end())
      return send(route, protocol::Error{"unknown_experiment", fmt::format("no experiment {} is running or finished", id), id});
    const RunningExperiment& experiment = *it->second;
    if (experiment.route.empty() || Owner{identity(experiment.route), experiment.key} != Owner{identity(route), key}) return not_theirs();
    it->second->route = route;
    if (!it->second->aborted) {
      it->second->aborted = true;
      it->second->worker.request_stop();
      options_.log(fmt::format("aborting {}", id));
    }
  }

  // The driver's estimate(), each figure kept when it is a finite number of seconds >= 0. An
  // optional hint that throws, or gives what is no duration, accepts the run without it (said in
  // the log): it must not cost the run, nor send the controller a NaN or a negative time.
  // estimate() runs on the one thread that answers every peer, so a slow one is said too.
  RunEstimate usable_estimate(const std::string& id, const Params& params) {
    const auto started = std::chrono::steady_clock::now();
    RunEstimate estimate;
    try {
      estimate = driver_.estimate(params);
    } catch (const std::exception& e) {
      limited_.write("estimate failed", fmt::format("estimate() failed for {}: {}; accepted without an estimate", id, e.what()));
      estimate = {};
    } catch (...) {
      limited_.write("estimate failed", fmt::format("estimate() failed for {}; accepted without an estimate", id));
      estimate = {};
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (took > kSlowEstimateS)
      limited_.write("slow estimate", fmt::format("estimate() for {} took {:.2f} s; it runs on the thread that answers ping and hello, which waited "
                                                  "meanwhile (a controller takes a driver silent for about 5 s as lost): make estimate() "
                                                  "return at once from the params alone, without talking to the instrument",
                                                  id, took));
    for (auto* figure : {&estimate.expected_s, &estimate.max_s}) {
      if (*figure && !(std::isfinite(**figure) && **figure >= 0)) {
        limited_.write("estimate unusable", fmt::format("estimate() for {} gave {}, not a finite number of seconds >= 0: accepted without it", id,
                                                        **figure));
        figure->reset();
      }
    }
    return estimate;
  }
  static constexpr double kSlowEstimateS = 0.5;

  // Runs on a worker thread: everything it touches is its own, except the driver (whose run()
  // is documented as called concurrently) and a fresh PUSH socket to report back.
  void work(const std::string& id, const Params& params, std::stop_token stop, std::atomic<bool>& goes_on) {
    const double started = now_unix();
    protocol::Result result;
    try {
      Values values = driver_.run_experiment(id, params, stop);
      std::string problem;
      for (const auto& output : info_.outputs) {
        auto v = values.find(output);
        if (v == values.end()) problem = fmt::format("driver returned no value for output \"{}\"", output);
        else if (!std::isfinite(v->second)) problem = fmt::format("driver returned a non-finite value for output \"{}\"", output);
        if (!problem.empty()) break;
      }
      const json meta{{"started_at", started}, {"duration_s", now_unix() - started}};
      result = problem.empty() ? protocol::Result::ok(id, values, meta) : protocol::Result::failed(id, problem, meta);
    } catch (const ExperimentGoesOn& e) {
      goes_on = true;
      result = protocol::Result::failed(id, e.what(), json{{"started_at", started}, {"duration_s", now_unix() - started}});
    } catch (const std::exception& e) {
      result = protocol::Result::failed(id, e.what(), json{{"started_at", started}, {"duration_s", now_unix() - started}});
    } catch (...) {
      result = protocol::Result::failed(id, "driver failed with an unknown exception");
    }
    zmq::socket_t push(context_, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, -1);
    push.connect(completions_address_);
    push.send(zmq::buffer(protocol::encode(result)), zmq::send_flags::none);
  }

  void handle_completion() {
    zmq::message_t message;
    if (!completions_.recv(message, zmq::recv_flags::dontwait)) return;
    // Our own worker's Result, as it encoded it. Not decode(): its size limit is the receiver's to
    // apply, and a driver that returns a huge map of values must not stop serving here.
    protocol::Result result = std::get<protocol::Result>(protocol::decode_object(json::parse(message.to_string())));
    const std::string id = result.experiment;
    auto it = running_.find(id);
    if (it == running_.end()) return;
    // What the driver itself said, for the log when the protocol's word replaces it below (a
    // driver that could not leave its instrument safe after an abort says so here).
    const std::string said = result.status == protocol::ResultStatus::failed ? result.error : std::string();
    if (shutting_down_ && it->second->goes_on && !it->second->aborted) {
      // The instrument still has it: no answer, so the controller asks this driver again once it
      // is back, instead of running it a second time under another id. (One its controller
      // aborted is answered as before: that controller wants no result.)
      options_.log(fmt::format("{} is left to the instrument, which goes on with it ({}): not answered, so a controller that sends the same "
                               "run to this driver restarted gets its result",
                               id, said));
    } else {
      if (shutting_down_) {
        // Not a verdict on the experiment: not cached, so a restarted driver runs it when asked.
        result = protocol::Result::failed(id, "driver shutting down", result.meta);
      } else if (it->second->aborted) {
        result = protocol::Result::failed(id, "aborted", result.meta);
      }
      const std::string payload = fitted_to_a_message(result);
      if (!shutting_down_) remember(id, result, payload, *it->second);
      if (!it->second->route.empty()) send(it->second->route, payload, id);
      options_.log(fmt::format("{} finished: {}{}", id, result.status == protocol::ResultStatus::ok ? result.values.dump() : result.error,
                               !said.empty() && said != result.error ? fmt::format(" (the driver said: {})", said) : ""));
    }
    running_.erase(it);  // joins the worker, which has finished after its send
    order_.erase(std::find(order_.begin(), order_.end(), id));
  }

  // `result` encoded, within the size of a message (protocol §7): past it, the controller would
  // refuse it as too large and send the run again, and the instrument measure the same setting
  // once more each time (a red-team driver returning a spectrum as 60,000 values). The values of
  // outputs the driver did not declare go first; a result still too large fails, saying why.
  std::string fitted_to_a_message(protocol::Result& result) {
    std::string payload = protocol::encode(result);
    if (payload.size() <= protocol::kMaxMessageBytes) return payload;
    const std::size_t size = payload.size();
    std::size_t dropped = 0;
    if (result.values.is_object()) {
      for (auto v = result.values.begin(); v != result.values.end();) {
        if (std::find(info_.outputs.begin(), info_.outputs.end(), v.key()) == info_.outputs.end()) {
          v = result.values.erase(v);
          ++dropped;
        } else {
          ++v;
        }
      }
    }
    payload = protocol::encode(result);
    if (payload.size() > protocol::kMaxMessageBytes) {
      result = protocol::Result::failed(result.experiment,
                                        fmt::format("the driver's result was {} bytes; a message is at most {} bytes (protocol §7)", size,
                                                    protocol::kMaxMessageBytes),
                                        result.meta);
      payload = protocol::encode(result);
    }
    options_.log(fmt::format("{}: its result was {} bytes, over the {} bytes of a message: {}", result.experiment, size,
                             protocol::kMaxMessageBytes,
                             result.status == protocol::ResultStatus::ok
                                 ? fmt::format("the values of {} output{} not declared in describe() were left out", dropped, dropped == 1 ? "" : "s")
                                 : "failed"));
    return payload;
  }

  // Caches a final result, on disk first when there is a cache file: once the controller has
  // seen a result, a restarted driver must still have it.
  void remember(const std::string& id, const protocol::Result& result, const std::string& payload, const RunningExperiment& experiment) {
    const std::optional<Owner> owner =
        experiment.route.empty() ? std::nullopt : std::optional<Owner>(Owner{identity(experiment.route), experiment.key});
    cache_[id] = FinishedExperiment{payload, experiment.params, owner};
    if (cache_file_) {
      try {
        cache_file_->append(result, experiment.params);
      } catch (const Error& e) {
        options_.log(fmt::format("{} (the result of {} is kept in memory only)", e.what(), id));
      }
    }
    if (options_.on_finished) {
      try {
        options_.on_finished(id, protocol::to_json(result));
      } catch (const std::exception& e) {
        options_.log(fmt::format("on_finished failed for {}: {}", id, e.what()));
      }
    }
  }

  void shut_down(zmq::pollitem_t* items) {
    shutting_down_ = true;
    if (running_.empty()) return options_.log("stopped");
    options_.log(fmt::format("stopping {} running experiment(s)", running_.size()));
    for (auto& [id, experiment] : running_) experiment->worker.request_stop();
    const auto deadline = std::chrono::steady_clock::now() + options_.shutdown_grace;
    while (!running_.empty() && std::chrono::steady_clock::now() < deadline) {
      poll(items, std::chrono::milliseconds(50));
      if (items[1].revents & ZMQ_POLLIN) handle_completion();
    }
    if (!running_.empty()) options_.log(fmt::format("{} experiment(s) did not stop within the grace period; waiting for them", running_.size()));
    while (!running_.empty()) {
      zmq::pollitem_t completion[] = {{completions_.handle(), 0, ZMQ_POLLIN, 0}};
      try {
        zmq::poll(completion, 1, std::chrono::milliseconds(100));
      } catch (const zmq::error_t&) {
      }
      if (completion[0].revents & ZMQ_POLLIN) handle_completion();
    }
    options_.log("stopped");
  }

  Driver& driver_;
  InstrumentInfo info_;
  ServeOptions options_;
  zmq::context_t context_;
  // The lines a peer can make this driver write once per message or connection (log_limiter.hpp).
  detail::LogLimiter limited_{[this](const std::string& line) { options_.log(line); }};
  std::unique_ptr<detail::ZapHandler> zap_;  // after context_: stopped before it terminates
  zmq::socket_t router_;
  std::unique_ptr<detail::HandshakeMonitor> monitor_;  // after router_: closed before it
  zmq::socket_t completions_;
  std::string completions_address_;
  std::string bound_endpoint_;
  std::string welcome_;
  std::map<std::string, std::unique_ptr<RunningExperiment>> running_;
  std::vector<std::string> order_;              // running ids in start order, for pong
  std::map<std::string, FinishedExperiment> cache_;  // finished id → its result, params and owner
  std::unique_ptr<CacheFile> cache_file_;       // null without ServeOptions::cache_path
  std::mt19937_64 faults_rng_{options_.reply_faults.seed};
  // Replies other than results not delivered, per reason: when that was last logged, and how many since.
  struct Undelivered {
    std::chrono::steady_clock::time_point last_logged{};
    std::size_t count = 0;
  };
  Undelivered undelivered_[2];  // by Undeliverable
  bool shutting_down_ = false;
  std::optional<HolderLease> lease_;            // nullopt unless ServeOptions::exclusive
  std::unique_ptr<HolderFile> holder_file_;     // null without cache_path
  static constexpr std::size_t kMaxPeers = 4096;
  struct RememberedPeer {
    LeaseClaim claim;
    std::list<std::string>::iterator recency;  // its place in peer_recency_
  };
  std::map<std::string, RememberedPeer> peers_;  // ROUTER identity → its accepted hello's claim
  std::list<std::string> peer_recency_;          // identities in peers_, the most recently heard first
};

}  // namespace

int serve(Driver& driver, const std::string& endpoint, const ServeOptions& options) {
  Server server(driver, endpoint, options);
  return server.loop();
}

}  // namespace labloop
