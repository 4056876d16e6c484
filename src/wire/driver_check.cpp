#include "labloop/wire/driver_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "curve.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/parameter_check.hpp"  // name_char
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Results kept for a later check while waiting for another answer: a well-behaved driver sends a
// few, each far under the protocol's 1 MiB; a flood past this many bytes is let go, oldest first.
constexpr std::size_t kMaxBacklogBytes = 64 << 20;

// How long a driver that cannot be settled by a marker must stay silent after a failed check.
constexpr milliseconds kQuietSpell{200};

// One message from the driver: its frames, and the last one read as JSON when it is an object.
struct Reply {
  std::vector<std::string> frames;
  std::optional<json> message;

  std::string type() const {
    if (!message || !message->contains("type") || !(*message)["type"].is_string()) return "";
    return (*message)["type"].get<std::string>();
  }
  std::string text(const char* field) const {
    if (!message || !message->contains(field) || !(*message)[field].is_string()) return "";
    return (*message)[field].get<std::string>();
  }
  // For a check's detail: the message as it came, cut to a readable length.
  std::string shown() const {
    const std::string& raw = frames.back();
    return raw.size() > 300 ? raw.substr(0, 300) + "…" : raw;
  }
};

// Every result the driver sent, against what was asked of it: a result answers a `run` (a repeat
// of a finished one too, from the cache) or an `abort`, so no experiment has more results than
// run and abort messages sent with its id, and every result for one id is the same message (§4.5:
// one that finishes after an abort is still reported as aborted; §5: the cache answers with the
// first). A campaign keeps the first result it gets; a driver that sends another, or one for an
// id it was never sent, would pass every check that waits for one answer.
class ResultLedger {
 public:
  void sent(const std::string& payload) {
    const json m = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object() || !m.contains("experiment") || !m["experiment"].is_string() || !m.contains("type") || !m["type"].is_string()) return;
    if (m["type"] != "run" && m["type"] != "abort") return;
    ++entries_[m["experiment"].get<std::string>()].asked;
  }
  void received(const Reply& result) {
    const std::string id = result.text("experiment");
    const auto it = entries_.find(id);
    if (it == entries_.end()) {
      // Ids it was never sent are counted, and only the first few kept: a flood of them stays small.
      if (++unasked_ <= kShown) unasked_ids_.push_back(id.empty() ? result.shown() : id);
      return;
    }
    Entry& e = it->second;
    if (++e.results == 1) {
      e.first = result.message;
      e.first_shown = result.shown();
    } else if (result.message != e.first && e.other.empty()) {
      e.other = result.shown();
    }
  }

  // What is wrong, one clause per kind, or "" when every result answered a message sent.
  std::string problems() const {
    std::vector<std::string> out;
    if (unasked_ > 0)
      out.push_back(fmt::format("{} result(s) for experiments it was never sent: {}{}", unasked_, fmt::join(unasked_ids_, ", "),
                                unasked_ > kShown ? ", …" : ""));
    std::vector<std::string> extra, different;
    for (const auto& [id, e] : entries_) {
      if (e.results > e.asked) extra.push_back(fmt::format("{} ({} results, {} run or abort sent)", id, e.results, e.asked));
      if (!e.other.empty()) different.push_back(fmt::format("{} (first {}, then {})", id, e.first_shown, e.other));
    }
    if (!extra.empty()) out.push_back(fmt::format("more results than were asked for: {}", fmt::join(extra, "; ")));
    if (!different.empty()) out.push_back(fmt::format("different results for one experiment: {}", fmt::join(different, "; ")));
    return fmt::format("{}", fmt::join(out, ". "));
  }
  // The experiments it was sent whose result has come.
  std::set<std::string> finished() const {
    std::set<std::string> out;
    for (const auto& [id, e] : entries_)
      if (e.results > 0) out.insert(id);
    return out;
  }
  std::size_t results() const {
    std::size_t n = unasked_;
    for (const auto& [id, e] : entries_) n += e.results;
    return n;
  }

 private:
  static constexpr std::size_t kShown = 3;
  struct Entry {
    std::size_t asked = 0, results = 0;
    std::optional<json> first;  // the first result's message
    std::string first_shown;    // and as it came
    std::string other;          // the first result unlike it, as shown
  };
  std::map<std::string, Entry> entries_;  // ids sent in a run or abort
  std::size_t unasked_ = 0;
  std::vector<std::string> unasked_ids_;
};

// The checker's DEALER. Messages read while waiting for another (a result arriving before the
// pong asked after it) wait in a backlog for the next receive().
class CheckLink {
 public:
  CheckLink(zmq::context_t& context, const DriverCheckOptions& options) : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    // An answer is at most 1 MiB (protocol §2); past a campaign's own limit ZeroMQ drops the frame.
    socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(Instrument::kMaxFrameBytes));
    if (options.keys) detail::set_client_keys(socket_, *options.keys);
    // Before connecting: every connection's handshake and end is seen.
    monitor_ = std::make_unique<detail::HandshakeMonitor>(context, socket_, ZMQ_EVENT_DISCONNECTED);
    try {
      socket_.connect(options.endpoint);
    } catch (const zmq::error_t& e) {
      throw Error(fmt::format("cannot connect to {}: {} (an endpoint is tcp://host:port or ipc://path)", options.endpoint, e.what()));
    }
  }

  // Whether the driver's connection was made and has closed since, with none made again: a
  // driver that stopped or crashed (ZeroMQ keeps trying to connect, and a restarted one is up again).
  bool gone() {
    const auto drain = [this] {
      while (const auto event = monitor_->next()) {
        if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) connected_ = up_ = true;
        else if (event->event == ZMQ_EVENT_DISCONNECTED) up_ = false;
      }
    };
    drain();
    // A connection ZeroMQ closed itself (a frame over the limit) is made again within a moment.
    for (int i = 0; i < 10 && connected_ && !up_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      drain();
    }
    return connected_ && !up_;
  }

  void send_frames(const std::vector<std::string>& frames) {
    if (!frames.empty()) ledger_.sent(frames.back());
    for (std::size_t i = 0; i < frames.size(); ++i)
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  void send(const std::string& payload) { send_frames({payload}); }
  void send(const json& message) { send(message.dump()); }

  // Without `wanted`: the next answer that is not a result, within `timeout` (results read on the
  // way wait in the backlog for the check that awaits them, so a late or unasked result is never
  // taken for another check's answer). With it: the first message, backlog first, that it
  // accepts; results read on the way are kept, anything else dropped.
  std::optional<Reply> receive(milliseconds timeout, const std::function<bool(const Reply&)>& wanted = {}) {
    const auto is_result = [](const Reply& r) { return r.type() == "result"; };
    if (wanted) {
      for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
        if (!wanted(*it)) continue;
        Reply found = std::move(*it);
        backlog_bytes_ -= found.frames.back().size();
        backlog_.erase(it);
        return found;
      }
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait)) continue;
      Reply reply;
      for (auto& part : parts) reply.frames.push_back(part.to_string());
      // Too deep is not parsed: nlohmann recurses, and a hostile driver could nest past the stack.
      if (!find_excess_nesting(reply.frames.back(), protocol::kMaxMessageDepth)) {
        json parsed = json::parse(reply.frames.back(), nullptr, /*allow_exceptions=*/false);
        if (parsed.is_object()) reply.message = std::move(parsed);
      }
      if (is_result(reply)) ledger_.received(reply);
      if (wanted ? wanted(reply) : !is_result(reply)) return reply;
      if (is_result(reply)) keep(std::move(reply));
    }
  }

  // Drops every answer before the first that `until` accepts (that one too), for at most
  // `timeout`; results are kept, since a later check may wait for one. Whether it came.
  bool drop_until(milliseconds timeout, const std::function<bool(const Reply&)>& until) {
    return static_cast<bool>(receive(timeout, until));
  }

  const ResultLedger& ledger() const { return ledger_; }
  // Whether an answer kept back (a result received while another was awaited) is one `wanted` takes.
  bool holds(const std::function<bool(const Reply&)>& wanted) const { return std::any_of(backlog_.begin(), backlog_.end(), wanted); }

 private:
  void keep(Reply reply) {
    backlog_bytes_ += reply.frames.back().size();
    backlog_.push_back(std::move(reply));
    while (backlog_bytes_ > kMaxBacklogBytes) {
      backlog_bytes_ -= backlog_.front().frames.back().size();
      backlog_.pop_front();
    }
  }

  zmq::socket_t socket_;
  std::unique_ptr<detail::HandshakeMonitor> monitor_;  // after socket_: closed before it
  bool connected_ = false, up_ = false;
  ResultLedger ledger_;
  std::deque<Reply> backlog_;  // results only
  std::size_t backlog_bytes_ = 0;
};

json message(const char* type) { return json{{"v", 1}, {"type", type}}; }

std::string random_tag() {
  std::random_device device;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string tag;
  for (int i = 0; i < 12; ++i) tag.push_back("0123456789abcdef"[hex(device)]);
  return tag;
}

// An integral double as a JSON integer when it fits one (integer limits are whole numbers).
json whole(double v) { return std::abs(v) < 9e18 ? json(static_cast<long long>(v)) : json(v); }

// A value for every declared input at the middle of its limits: what any instrument must accept.
json centre_of(const InstrumentInfo& info) {
  json params = json::object();
  for (const Parameter& p : info.inputs) {
    switch (p.type) {
      // Halves first: the sum of two limits near 1.8e308 is infinite, which JSON cannot carry.
      case ParameterType::continuous: params[p.name] = p.low / 2 + p.high / 2; break;
      case ParameterType::integer: params[p.name] = whole(std::clamp(std::floor(p.low / 2 + p.high / 2), p.low, p.high)); break;
      case ParameterType::discrete: params[p.name] = p.values[p.values.size() / 2]; break;
      case ParameterType::categorical: params[p.name] = p.choices.front(); break;
    }
  }
  return params;
}

// `params` with one input moved to another value within its limits; nullopt when every input
// takes a single value.
std::optional<json> another_setting(const InstrumentInfo& info, const json& params) {
  for (const Parameter& p : info.inputs) {
    json other = params;
    if (p.type == ParameterType::categorical && p.choices.size() > 1) other[p.name] = p.choices[1];
    else if (p.type == ParameterType::discrete && p.values.size() > 1) other[p.name] = p.values.front() == params[p.name] ? p.values.back() : p.values.front();
    else if (p.type == ParameterType::continuous && p.high > p.low) other[p.name] = p.low;
    else if (p.type == ParameterType::integer && p.high > p.low) other[p.name] = whole(p.low) == params[p.name] ? whole(p.high) : whole(p.low);
    else continue;
    if (other != params) return other;
  }
  return std::nullopt;
}

// Up to `limit` different values of one input within its limits, `first` (its value in
// centre_of()) first: for a range, points spread inside it (an integer's ends too, so a range of
// two numbers gives both); for levels and choices, each in turn.
std::vector<json> values_within(const Parameter& p, const json& first, std::size_t limit) {
  std::vector<json> out{first};
  const auto add = [&](json v) {
    if (out.size() < limit && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  };
  constexpr int kSteps = 2 * kMaxExperimentsAtOnce + 2;  // more points than ever needed
  // Weighted, not low + t * (high - low): limits near the largest double would overflow.
  const auto at = [&](int j) {
    const double t = static_cast<double>(j) / kSteps;
    return std::clamp(p.low * (1 - t) + p.high * t, p.low, p.high);
  };
  switch (p.type) {
    case ParameterType::continuous:
      for (int j = 1; j < kSteps; ++j) add(at(j));
      break;
    case ParameterType::integer:
      for (int j = 1; j < kSteps; ++j) add(whole(std::clamp(std::round(at(j)), p.low, p.high)));
      add(whole(p.low));
      add(whole(p.high));
      break;
    case ParameterType::discrete:
      for (double v : p.values) add(v);
      break;
    case ParameterType::categorical:
      for (const std::string& c : p.choices) add(c);
      break;
  }
  return out;
}

// Up to `count` settings within the limits, each different from the others, `centre` first: the
// inputs' values (values_within) combined in turn, the first input changing fastest. Fewer when
// the inputs have fewer combinations.
std::vector<json> distinct_settings(const InstrumentInfo& info, const json& centre, std::size_t count) {
  std::vector<std::vector<json>> values;
  for (const Parameter& p : info.inputs) values.push_back(values_within(p, centre[p.name], count));
  std::vector<std::size_t> digit(values.size(), 0);
  std::vector<json> out;
  while (out.size() < count) {
    json params = centre;
    for (std::size_t i = 0; i < values.size(); ++i) params[info.inputs[i].name] = values[i][digit[i]];
    out.push_back(std::move(params));
    std::size_t i = 0;
    for (; i < digit.size(); ++i) {
      if (++digit[i] < values[i].size()) break;
      digit[i] = 0;
    }
    if (i == digit.size()) break;  // every combination taken
  }
  return out;
}

// A setting the driver must reject: the centre with one input changed (`value`) or left out (no
// `value`). Kept as the change alone and made whole only when sent: a copy of the centre per probe
// took memory quadratic in the inputs (19 GB for 9000 of them; now at most kMaxInputs anyway).
struct OutsideProbe {
  using Change = std::pair<std::string, std::optional<json>>;
  OutsideProbe(std::string what_, Change change_) : what(std::move(what_)), change(std::move(change_)) {}
  std::string what;
  Change change;

  json params(const json& centre) const {
    json params = centre;
    if (change.second) params[change.first] = *change.second;
    else params.erase(change.first);
    return params;
  }
};

// Settings the driver must reject (protocol §4.2 step 3), each with what is wrong with it. A way
// out that no finite number takes (a limit at the largest double) is left out.
std::vector<OutsideProbe> settings_outside(const InstrumentInfo& info, const json& centre) {
  std::vector<OutsideProbe> out;
  for (const Parameter& p : info.inputs) {
    const auto with = [&](json value) { return OutsideProbe::Change(p.name, std::move(value)); };
    if (p.type == ParameterType::continuous || p.type == ParameterType::integer) {
      const double step = std::max({1.0, p.high / 2 - p.low / 2, std::abs(p.high) * 1e-6, std::abs(p.low) * 1e-6});
      const double above = p.high + step, below = p.low - step;
      if (std::isfinite(above) && above > p.high) out.emplace_back(fmt::format("{} = {}, above its limit {}", p.name, above, p.high), with(above));
      if (std::isfinite(below) && below < p.low) out.emplace_back(fmt::format("{} = {}, below its limit {}", p.name, below, p.low), with(below));
      // Just past each limit too: far probes pass a driver that checks a wider range than it
      // declares ([-0.5, 1.5] for [0, 1]), or, for an integer, only that the value is whole (a
      // half-way probe is refused as "not an integer" whatever the limits). The next whole number
      // for an integer; 1 % of the range (at least a millionth of the limit) for a continuous one.
      const double near = p.type == ParameterType::integer ? 1.0 : std::max({(p.high / 2 - p.low / 2) / 50, std::abs(p.high) * 1e-6, std::abs(p.low) * 1e-6, 1e-300});
      const double just_above = p.high + near, just_below = p.low - near;
      const auto value = [&](double v) { return p.type == ParameterType::integer ? whole(v) : json(v); };
      const bool exact = p.type != ParameterType::integer || std::max(std::abs(p.high), std::abs(p.low)) < 9007199254740992.0;  // 2^53
      if (exact && std::isfinite(just_above) && just_above > p.high && just_above != above)
        out.emplace_back(fmt::format("{} = {}, just above its limit {}", p.name, just_above, p.high), with(value(just_above)));
      if (exact && std::isfinite(just_below) && just_below < p.low && just_below != below)
        out.emplace_back(fmt::format("{} = {}, just below its limit {}", p.name, just_below, p.low), with(value(just_below)));
      out.emplace_back(fmt::format("{} as a string", p.name), with(centre[p.name].dump()));
      // A boolean is no number (§4.2 step 3), though Python's True == 1 lets it through.
      out.emplace_back(fmt::format("{} = true, a boolean", p.name), with(true));
    }
    if (p.type == ParameterType::integer && p.high - p.low >= 1 && std::abs(p.low) < 1e15)
      out.emplace_back(fmt::format("{} = {}, not a whole number", p.name, p.low + 0.5), with(p.low + 0.5));
    if (p.type == ParameterType::categorical) out.emplace_back(fmt::format("{} = a choice it does not declare", p.name), with("driver-check: no such choice"));
    if (p.type == ParameterType::discrete) {
      // The middle of the widest gap between levels, if it is farther from both than the
      // protocol's tolerance (levels closer than that count as one value).
      const std::vector<double>& v = p.values;
      if (v.size() > 1) {
        std::size_t widest = 0;
        for (std::size_t k = 1; k + 1 < v.size(); ++k)
          if (v[k + 1] / 2 - v[k] / 2 > v[widest + 1] / 2 - v[widest] / 2) widest = k;
        const double between = v[widest] / 2 + v[widest + 1] / 2;
        if (p.level_index(between) < 0)
          out.emplace_back(fmt::format("{} = {}, between its levels {} and {}", p.name, between, v[widest], v[widest + 1]), with(between));
      }
    }
    out.emplace_back(fmt::format("{} missing", p.name), OutsideProbe::Change(p.name, std::nullopt));
  }
  out.emplace_back("an input it does not declare", OutsideProbe::Change("driver_check_undeclared", 1));
  return out;
}

class Checker {
 public:
  Checker(const DriverCheckOptions& options, const std::function<void(const CheckOutcome&)>& on_outcome)
      : options_(options), on_outcome_(on_outcome), link_(context_, options), tag_(random_tag()) {}

  DriverCheckReport run() {
    try {
      handshake();
      heartbeat();
      envelope();
      before_hello();
      malformed();
      errors_are_not_answered();
      if (options_.run_experiments) {
        experiments();
      } else {
        record("experiments", CheckVerdict::skipped,
               "not sent: --run-experiments sends a few within the declared limits (they run at the instrument)");
      }
      link_.drop_until(kQuietSpell, [](const Reply&) { return false; });  // results still on their way
      finished_not_running();
      results_answer_requests();
    } catch (const DriverGone& gone) {
      // Each check after it would wait its timeout for nothing (26 of them, 140 s, each saying only
      // "no answer": a red-team report).
      record("the checks after it", CheckVerdict::skipped,
             fmt::format("not run: the driver closed its connection during \"{}\" and has not connected again (it stopped or "
                         "crashed: its own output says why)",
                         gone.check));
    }
    return std::move(report_);
  }

 private:
  void record(std::string check, CheckVerdict verdict, std::string detail) {
    report_.outcomes.push_back({std::move(check), verdict, std::move(detail)});
    if (on_outcome_) on_outcome_(report_.outcomes.back());
  }
  void pass(std::string check, std::string detail = {}) { record(std::move(check), CheckVerdict::passed, std::move(detail)); }
  // A driver that broke a check may still owe or have sent more than one answer, which the next
  // check would read as its own: every failure is followed by settle().
  void fail(std::string check, std::string detail) {
    if (link_.gone()) {
      record(check, CheckVerdict::failed, detail + "; the driver closed its connection");
      throw DriverGone{std::move(check)};
    }
    record(std::move(check), CheckVerdict::failed, std::move(detail));
    settle();
  }
  struct DriverGone {
    std::string check;
  };

  // Reads up to the answer to an `abort` of an id never used: `error unknown_experiment` naming it
  // (§4.5), which only comes after everything answered before it. Results are kept for later.
  // A driver whose errors leave out the id (it SHOULD include it) is settled by a quiet spell
  // instead, from its first miss on.
  void settle() {
    if (!settle_by_marker_) {
      link_.drop_until(kQuietSpell, [](const Reply&) { return false; });
      return;
    }
    const std::string marker = id(9500 + settles_++);
    link_.send(json{{"v", 1}, {"type", "abort"}, {"experiment", marker}});
    settle_by_marker_ = link_.drop_until(options_.reply_timeout, [&](const Reply& r) { return r.type() == "error" && r.text("experiment") == marker; });
  }

  std::optional<Reply> ask(const std::string& payload) {
    link_.send(payload);
    return link_.receive(options_.reply_timeout);
  }
  std::string no_answer() const { return fmt::format("no answer within {:g} s", options_.reply_timeout.count() / 1000.0); }

  std::string id(int n) const { return fmt::format("driver-check-{}-{:04d}", tag_, n); }

  // What is wrong with a pong (§3, §4.4), or "": `running` an array of experiment ids, and
  // `progress`, when given, an object of fractions done, each a number from 0 to 1 (0.4 for 40 %).
  static std::string pong_problem(const Reply& pong) {
    const json& m = *pong.message;
    for (const json& e : m["running"])
      if (!e.is_string()) return fmt::format("\"running\" must list experiment ids (strings), and holds {}: got {}", e.dump(), pong.shown());
    const auto progress = m.find("progress");
    if (progress == m.end() || progress->is_null()) return "";
    if (!progress->is_object())
      return fmt::format("\"progress\" must be an object of experiment ids and fractions done from 0 to 1: got {}", pong.shown());
    for (const auto& [experiment, fraction] : progress->items())
      if (!fraction.is_number() || !(fraction.get<double>() >= 0 && fraction.get<double>() <= 1))
        return fmt::format("the progress of {} is {}, not a fraction from 0 to 1 (§4.4: 0.4 for 40 % done, 1 at most): got {}", experiment,
                           fraction.dump(), pong.shown());
    return "";
  }

  // "" for a reply that decodes as a protocol message, else what is wrong with it.
  static std::string protocol_problem(const Reply& reply) {
    try {
      (void)protocol::decode(reply.frames.back());
    } catch (const ProtocolError& e) {
      return fmt::format("breaks the protocol ({}): {}", e.code(), e.what());
    }
    return "";
  }

  // Judges the `accepted` answering a run of `experiment` (§3, §4.2) as a check of its own: it
  // must be a protocol message (its times numbers ≥ 0 or absent) naming that experiment. A max_s
  // of 0 keeps to the protocol's letter but gives the experiment no time at all: a controller may
  // abort it at once, and labloop does, so it is warned about (§4.2).
  void judge_accepted(const Reply& accepted, const std::string& experiment) {
    const std::string check = "accepted → names its experiment; expected_s and max_s, if given, numbers ≥ 0 (§3, §4.2)";
    try {
      const auto decoded = std::get<protocol::Accepted>(protocol::decode(accepted.frames.back()));
      if (decoded.experiment != experiment)
        return fail(check, fmt::format("it names experiment \"{}\", but the run was {}: the controller takes it for news of another experiment "
                                       "and ignores it; got {}",
                                       decoded.experiment, experiment, accepted.shown()));
      if (decoded.max_s.is_number() && decoded.max_s.get<double>() == 0)
        return record(check, CheckVerdict::warned,
                      fmt::format("max_s is 0: the experiment may take no time at all, so a controller may abort it as soon as it is "
                                  "accepted (labloop does); send the longest it may take, or leave max_s out; got {}",
                                  accepted.shown()));
    } catch (const ProtocolError& e) {
      return fail(check, fmt::format("the accepted breaks the protocol ({}): {}; a controller ignores it; got {}", e.code(), e.what(), accepted.shown()));
    } catch (const std::bad_variant_access&) {
      return fail(check, "expected an accepted, got " + accepted.shown());
    }
    pass(check);
  }

  // ---- hello / welcome (§4.1) ----------------------------------------------------------------

  void handshake() {
    json hello = message("hello");
    hello["controller"] = "labloop driver-check";
    hello["campaign"] = "driver-check";
    const auto reply = ask(hello.dump());
    if (!reply) {
      const double waited = options_.reply_timeout.count() / 1000.0;
      const Probe probe = probe_connection();
      switch (probe.kind) {
        case Probe::refused:
          throw Error(fmt::format("{}: the driver {}{}", options_.endpoint, probe.why,
                                  options_.keys ? "" : " (for driver-check: --server-key and --client-keys)"));
        case Probe::answered_late:
          throw Error(fmt::format("{}: no welcome came within {:g} s, but the driver answered a second hello later: it is slower to answer "
                                  "than --timeout allows; give it more (--timeout {:g}), or make its hello answer at once (protocol §4.1)",
                                  options_.endpoint, waited, std::max(10.0, 4 * waited)));
        case Probe::closed:
          throw Error(fmt::format("{}: the driver closed its connection without answering hello: it stopped or crashed (its own output "
                                  "says why), or sent a message over {} MiB, which is not read (protocol §7)",
                                  options_.endpoint, Instrument::kMaxFrameBytes >> 20));
        case Probe::silent:
          throw Error(fmt::format("{}: a ZeroMQ program is there, but no welcome came within {:g} s: is it a labloop driver (protocol v1), "
                                  "past its start-up? One slow to answer hello gets more time with --timeout",
                                  options_.endpoint, waited));
        case Probe::none: break;
      }
      throw Error(fmt::format("{}: nothing answered hello within {:g} s. Is the driver running and listening there?{}", options_.endpoint, waited,
                              options_.keys ? " With encryption, is this controller's key in its allow-list, and is --server-key its public key?"
                                            : " If it requires encryption, give --server-key and --client-keys (docs/security.md)."));
    }
    if (reply->type() == "error" && reply->text("code") == protocol::kBusy)
      throw Error(fmt::format("{}: the driver is held by a campaign ({}); check it when that campaign has ended", options_.endpoint,
                              reply->text("message")));
    if (reply->type() != "welcome") {
      // A reply that is no JSON object at all (NaN written by a JSON library that allows it, the
      // mistake seen most) was called "not a welcome", which sent its author looking at the type.
      std::string why = "not a welcome (protocol §4.1)";
      if (!reply->message) try {
          (void)protocol::decode(reply->frames.back());
        } catch (const ProtocolError& e) {
          why = fmt::format("which is no protocol message ({}): {}", e.code(), e.what());
        }
      throw Error(fmt::format("{}: hello was answered with {}, {}", options_.endpoint, reply->shown(), why));
    }
    try {
      const protocol::Message decoded = protocol::decode(reply->frames.back());
      report_.info = protocol::parse_welcome(std::get<protocol::Welcome>(decoded));
    } catch (const ProtocolError& e) {
      throw Error(fmt::format("{}: its welcome breaks the protocol ({}): {}", options_.endpoint, e.code(), e.what()));
    }
    const InstrumentInfo& info = report_.info;
    pass("hello → welcome", fmt::format("{} {}, capacity {}, outputs {}", info.driver, info.version, info.capacity, fmt::join(info.outputs, ", ")));
    // Any unique name keeps to the protocol, but a campaign names parameters and outputs after
    // them, and its names hold only name_char's characters: "temp (°C)" passed every check and
    // no campaign could use it.
    std::vector<std::string> unusable;
    const auto usable = [](const std::string& name) { return name.size() <= kMaxNameChars && std::all_of(name.begin(), name.end(), name_char); };
    for (const Parameter& p : info.inputs)
      if (!usable(p.name)) unusable.push_back("input \"" + p.name + "\"");
    for (const std::string& o : info.outputs)
      if (!usable(o)) unusable.push_back("output \"" + o + "\"");
    const std::string names_check = "input and output names a campaign can use (letters, digits, '_', '-', '.'; at most 64)";
    if (unusable.empty()) pass(names_check);
    else
      record(names_check, CheckVerdict::warned,
             fmt::format("{}: a campaign's parameters and outputs take these names, and refuses them; rename (e.g. temp_C for \"temp (°C)\"; "
                         "a unit goes in \"unit\")",
                         fmt::join(unusable, ", ")));
    const auto again = ask(hello.dump());
    if (!again) return fail("hello again → the same welcome", no_answer());
    if (again->message != reply->message) return fail("hello again → the same welcome", "got " + again->shown());
    pass("hello again → the same welcome");
  }

  // What a second connection, made as a campaign makes it, finds when hello went unanswered: the
  // handshake refused (a key not in the allow-list, encryption required or not offered:
  // wire/instrument.hpp, said in its words), the connection closed, a ZeroMQ peer that stays
  // silent, or a driver that does answer, only later than --timeout.
  struct Probe {
    enum Kind { none, refused, answered_late, closed, silent } kind = none;
    std::string why;
  };
  Probe probe_connection() {
    std::optional<Instrument> probe;
    try {
      probe.emplace(context_, "driver", options_.endpoint,
                    InstrumentTiming{.connect_timeout = std::max(options_.reply_timeout, std::chrono::milliseconds(3000))},
                    [](const std::string&) {}, options_.keys);
      probe->hello("driver-check");
      return {Probe::answered_late, ""};
    } catch (const InstrumentError& e) {
      if (probe && !probe->handshake_refusal().empty()) return {Probe::refused, probe->handshake_refusal()};
      const std::string why = e.what();
      if (why.find("but the connection was closed") != std::string::npos) return {Probe::closed, ""};
      if (probe && probe->connection_up()) return {Probe::silent, ""};
      // An answer other than a welcome (refused hello, held by a campaign): the first hello's
      // answer is what the check reports, so this one is not said again.
    } catch (const Error&) {
    }
    return {};
  }

  // ---- ping / pong (§4.4) -----------------------------------------------------------------------

  void heartbeat() {
    const auto pong = ask(message("ping").dump());
    if (!pong) return fail("ping → pong", no_answer());
    if (pong->type() != "pong" || !(*pong->message).contains("running") || !(*pong->message)["running"].is_array())
      return fail("ping → pong", "expected a pong with a \"running\" array, got " + pong->shown());
    if (const std::string problem = pong_problem(*pong); !problem.empty()) return fail("ping → pong", problem);
    pass("ping → pong");
    const auto extra = ask(R"({"v":1.0,"type":"ping","sent_by":"driver-check","future":{"a":[1,2]}})");
    if (!extra || extra->type() != "pong")
      return fail("ping with v 1.0 and fields it does not know → pong", extra ? "got " + extra->shown() : no_answer());
    pass("ping with v 1.0 and fields it does not know → pong");
  }

  // ---- the envelope (§1) ------------------------------------------------------------------------

  void envelope() {
    const std::string check = "ping behind an empty delimiter frame (a REQ client) → pong behind the same";
    link_.send_frames({"", message("ping").dump()});
    const auto reply = link_.receive(options_.reply_timeout);
    if (!reply) return fail(check, no_answer());
    if (reply->frames.size() != 2 || !reply->frames[0].empty() || reply->type() != "pong")
      return fail(check, fmt::format("got {} frame(s), the last {}", reply->frames.size(), reply->shown()));
    pass(check);
  }

  // ---- before hello (§4.1) ---------------------------------------------------------------------------

  // A driver MUST NOT require a hello before other messages: a controller that restarted may
  // send its ping or run first on its new connection. Asked on a connection of its own, which
  // says nothing else; a refusal there is recorded without settle(), which reads this one.
  void before_hello() {
    const std::string check = "ping on a new connection, before any hello → pong (§4.1: no hello is required first)";
    CheckLink fresh(context_, options_);
    fresh.send(message("ping"));
    const auto reply = fresh.receive(options_.reply_timeout, [](const Reply&) { return true; });
    const std::string why = "a driver must answer what comes before any hello: a controller that restarted sends its ping or run first";
    if (!reply) return record(check, CheckVerdict::failed, fmt::format("{}: {}", no_answer(), why));
    if (reply->type() != "pong" || !(*reply->message).contains("running") || !(*reply->message)["running"].is_array())
      return record(check, CheckVerdict::failed, fmt::format("got {}: {}", reply->shown(), why));
    if (const std::string problem = pong_problem(*reply); !problem.empty()) return record(check, CheckVerdict::failed, problem);
    pass(check);
  }

  // ---- malformed messages (§2's order of checks, §4) -----------------------------------------------

  void expect_error(const std::string& what, const std::string& payload, const std::string& code, const std::string& experiment = {}) {
    const std::string check = fmt::format("{} → error {}", what, code);
    const auto reply = ask(payload);
    if (!reply) return fail(check, no_answer());
    if (reply->type() != "error" || reply->text("code") != code) return fail(check, "got " + reply->shown());
    if (reply->text("message").empty()) return fail(check, "the error has no \"message\" text for a person");
    if (!experiment.empty() && reply->text("experiment") != experiment)
      return fail(check, fmt::format("the error should name \"experiment\": \"{}\"; got {}", experiment, reply->shown()));
    pass(check);
  }

  void malformed() {
    expect_error("text that is not JSON", "this is not JSON {{{", "bad_json");
    expect_error("a JSON array", "[1,2,3]", "bad_json");
    expect_error("invalid UTF-8", "\xff\xfe{\"v\":1}", "bad_json");
    expect_error("a NaN literal", R"({"v":1,"type":"ping","x":NaN})", "bad_json");
    expect_error("a byte-order mark", "\xEF\xBB\xBF{\"v\":1,\"type\":\"ping\"}", "bad_json");
    expect_error("no \"v\"", R"({"type":"ping"})", "bad_version");
    expect_error("\"v\": 2", R"({"v":2,"type":"ping"})", "bad_version");
    // Python's True == 1 and a number sent as text: both are no version (§2).
    expect_error("\"v\": true", R"({"v":true,"type":"ping"})", "bad_version");
    expect_error("\"v\": \"1\"", R"({"v":"1","type":"ping"})", "bad_version");
    expect_error("no \"type\"", R"({"v":1})", "bad_message");
    expect_error("a \"type\" that is a number", R"({"v":1,"type":5})", "bad_message");
    expect_error("a type nobody knows", R"({"v":1,"type":"no_such_type"})", "unknown_type");
    expect_error("a type only drivers send (result)", R"({"v":1,"type":"result"})", "unknown_type");
    std::string deep(protocol::kMaxMessageDepth, '[');
    deep += std::string(protocol::kMaxMessageDepth, ']');
    expect_error(fmt::format("arrays nested {} deep", protocol::kMaxMessageDepth + 1), R"({"v":1,"type":"ping","x":)" + deep + "}", "too_deep");
    // Runs no implementation can start: no params, or params that are not an object.
    expect_error("run without an experiment id", R"({"v":1,"type":"run","params":{}})", "bad_message");
    expect_error("run with an id of 129 characters and no params",
                 json{{"v", 1}, {"type", "run"}, {"experiment", std::string(129, 'a')}}.dump(), "bad_message");
    expect_error("run without params", json{{"v", 1}, {"type", "run"}, {"experiment", id(9000)}}.dump(), "bad_message", id(9000));
    expect_error("run with params that are not an object",
                 json{{"v", 1}, {"type", "run"}, {"experiment", id(9001)}, {"params", json::array({1, 2})}}.dump(), "bad_message", id(9001));
    expect_error("abort without an experiment id", R"({"v":1,"type":"abort"})", "bad_message");
    expect_error("abort of an id it never ran", json{{"v", 1}, {"type", "abort"}, {"experiment", id(9002)}}.dump(), "unknown_experiment", id(9002));
    // Last: a driver that caps frames at 1 MiB in ZeroMQ itself drops the connection here instead of
    // answering (the link reconnects by itself; the checks before it are unaffected).
    json big = message("ping");
    big["padding"] = std::string(protocol::kMaxMessageBytes, 'x');
    expect_error("a message over 1 MiB", big.dump(), "too_large");
  }

  void errors_are_not_answered() {
    const std::string check = "error from the controller → no answer (§4.6)";
    json error = message("error");
    error["code"] = "internal";
    error["message"] = "labloop driver-check: this error must not be answered";
    link_.send(error);
    const auto next = ask(message("ping").dump());
    if (!next) return fail(check, no_answer() + " to the ping sent after it");
    if (next->type() != "pong") return fail(check, "the error was answered: " + next->shown());
    pass(check);
  }

  // After a quiet spell: an experiment whose result came is over, and a pong must no longer list
  // it (§4.4: started and not yet finished); a controller would take it for still running. Only
  // results read before the pong count: the driver sent them first.
  void finished_not_running() {
    if (link_.ledger().finished().empty()) return;  // nothing ran: nothing to judge
    const std::string check = "ping after the results came → a pong listing none of those experiments (§4.4)";
    link_.send(message("ping"));
    const auto pong = link_.receive(options_.reply_timeout, [](const Reply& r) { return r.type() == "pong"; });
    if (!pong) return fail(check, no_answer());
    if (!(*pong->message).contains("running") || !(*pong->message)["running"].is_array())
      return fail(check, "expected a pong with a \"running\" array, got " + pong->shown());
    if (const std::string problem = pong_problem(*pong); !problem.empty()) return fail(check, problem);
    const std::set<std::string> finished = link_.ledger().finished();
    std::vector<std::string> listed;
    for (const json& e : (*pong->message)["running"])
      if (e.is_string() && finished.contains(e.get<std::string>())) listed.push_back(e.get<std::string>());
    if (!listed.empty())
      return fail(check, fmt::format("it still lists {}, whose result it sent: a pong lists only experiments not yet finished, or a controller "
                                     "waits on them; got {}",
                                     fmt::join(listed, ", "), pong->shown()));
    pass(check, fmt::format("{} finished, none listed", finished.size()));
  }

  // Last, after a quiet spell for anything still on its way: the results against the requests.
  void results_answer_requests() {
    const std::string check = "every result answers a run or abort sent, one per request, the same each time (§4.5, §5)";
    link_.drop_until(kQuietSpell, [](const Reply&) { return false; });
    if (const std::string problems = link_.ledger().problems(); !problems.empty()) return fail(check, problems);
    pass(check, fmt::format("{} result(s)", link_.ledger().results()));
  }

  // ---- experiments (§4.2, §4.3, §4.5, §5) --------------------------------------------------------

  std::optional<Reply> await_result(const std::string& experiment, milliseconds timeout) {
    return link_.receive(timeout, [&](const Reply& r) { return r.type() == "result" && r.text("experiment") == experiment; });
  }

  // What is wrong with a result, or "".
  std::string result_problem(const Reply& result) const {
    try {
      const auto decoded = std::get<protocol::Result>(protocol::decode(result.frames.back()));
      if (decoded.status == protocol::ResultStatus::ok) {
        std::vector<std::string> missing;
        for (const std::string& output : report_.info.outputs)
          if (!decoded.values.contains(output) || !decoded.values[output].is_number()) missing.push_back(output);
        if (!missing.empty())
          return fmt::format("an ok result should give every declared output as a number; missing: {}", fmt::join(missing, ", "));
      }
    } catch (const std::exception& e) {
      return fmt::format("the result breaks the protocol: {}", e.what());
    }
    return "";
  }

  void experiments() {
    const json centre = centre_of(report_.info);
    run_within_limits(centre);
    if (options_.capacity) at_once(centre);
    else record("experiments at once", CheckVerdict::skipped,
                fmt::format("not sent: --capacity runs as many as the declared capacity (at most {}) at once, and one more", kMaxExperimentsAtOnce));
    // Whatever became of the runs within them: refusing what is outside them is the safety net.
    if (options_.out_of_limits) outside_limits(centre);
    else record("settings outside the limits", CheckVerdict::skipped, "not sent: --out-of-limits sends them, and each must be rejected");
  }

  void run_within_limits(const json& centre) {
    const std::string first = id(1);
    const std::string check = fmt::format("run {} at the middle of every limit → accepted, then a result", first);
    const auto answer = ask(json{{"v", 1}, {"type", "run"}, {"experiment", first}, {"params", centre}}.dump());
    if (!answer) return fail(check, no_answer());
    if (answer->type() == "rejected")
      return record(check, CheckVerdict::skipped,
                    fmt::format("rejected ({}): the other experiment checks need a setting the instrument accepts", answer->text("reason")));
    if (answer->type() != "accepted")  // text after the object, for one, is no JSON: say so, not only what came
      return fail(check, "expected accepted or rejected, got " + answer->shown() + (answer->message ? "" : ", which " + protocol_problem(*answer)));
    judge_accepted(*answer, first);
    // Held back while waiting for the accepted, a result that came before it was taken in order.
    // Failed below, once the answers after it are read: a failure settles the link, dropping them.
    const bool result_first = link_.holds([&](const Reply& r) { return r.type() == "result" && r.text("experiment") == first; });
    // While it runs, a pong lists it — unless its result comes first.
    link_.send(message("ping").dump());
    const auto is_result = [&](const Reply& r) { return r.type() == "result" && r.text("experiment") == first; };
    const auto is_pong = [](const Reply& r) { return r.type() == "pong"; };
    // A rejected after the accepted contradicts it (§4.2: accepted or rejected, once): labloop
    // ignores it and waits for the result, which another controller may never do.
    const auto is_rejection = [&](const Reply& r) { return r.type() == "rejected" && r.text("experiment") == first; };
    bool rejected_after = false;
    const auto next = [&](milliseconds timeout, const std::function<bool(const Reply&)>& wanted) {
      for (;;) {
        std::optional<Reply> r = link_.receive(timeout, [&](const Reply& m) { return wanted(m) || is_rejection(m); });
        if (!r || !is_rejection(*r)) return r;
        rejected_after = true;
      }
    };
    std::optional<Reply> pong = next(options_.reply_timeout, [&](const Reply& r) { return is_pong(r) || is_result(r); });
    std::optional<Reply> found;
    const bool finished_first = pong && is_result(*pong);
    if (finished_first) {
      found = std::move(pong);
      pong = next(options_.reply_timeout, is_pong);
    }
    if (!found) found = next(options_.experiment_timeout, is_result);
    if (result_first)
      fail("run → accepted before its result (§4.2 step 7)",
           "the result came before the accepted: a controller may take the result for a late answer and the accepted for an experiment "
           "that has started again; send accepted as soon as the run starts, the result after it");
    if (rejected_after)
      fail("run → accepted, then no rejected for it (§4.2)",
           "it sent rejected after accepting the run: a run is accepted or rejected, once; a controller taking the rejection frees the "
           "instrument's place while the experiment still runs there");
    if (!found) {
      // Not left running at the instrument: stopped, and its "aborted" read before going on.
      link_.send(json{{"v", 1}, {"type", "abort"}, {"experiment", first}});
      const bool stopped = static_cast<bool>(link_.receive(options_.reply_timeout, is_result));
      return fail(check, fmt::format("accepted, but no result within {:g} s (--experiment-timeout); {}", options_.experiment_timeout.count() / 1000.0,
                                     stopped ? "it was aborted" : "abort was sent, and no result came for it either"));
    }
    if (const std::string problem = result_problem(*found); !problem.empty()) fail(check, problem);
    else pass(check, found->shown());
    if (!pong) {
      fail("ping while an experiment runs → pong", no_answer());
    } else if (!finished_first) {
      const json& running = (*pong->message)["running"];
      const bool listed = running.is_array() && std::find(running.begin(), running.end(), json(first)) != running.end();
      const std::string problem = listed ? pong_problem(*pong) : "";
      if (!listed) fail("ping while an experiment runs → pong listing it", "got " + pong->shown());
      else if (!problem.empty()) fail("ping while an experiment runs → pong listing it", problem);
      else pass("ping while an experiment runs → pong listing it");
    }

    // §5: the same run again is answered from the cache, with the same result.
    const std::string repeat_check = "the same run again → the same result, from the cache (§5)";
    link_.send(json{{"v", 1}, {"type", "run"}, {"experiment", first}, {"params", centre}});
    const auto repeat = link_.receive(options_.reply_timeout, [&](const Reply& r) { return r.text("experiment") == first; });
    if (!repeat) fail(repeat_check, no_answer());
    else if (repeat->message != found->message) fail(repeat_check, "got " + repeat->shown() + ", first " + found->shown());
    else pass(repeat_check);

    const std::string abort_check = "abort of a finished experiment → its result again (§4.5)";
    link_.send(json{{"v", 1}, {"type", "abort"}, {"experiment", first}});
    const auto aborted = link_.receive(options_.reply_timeout, [&](const Reply& r) { return r.text("experiment") == first; });
    if (!aborted) fail(abort_check, no_answer());
    else if (aborted->message != found->message) fail(abort_check, "got " + aborted->shown());
    else pass(abort_check);

    // §5: only the owner (the latest sender of a matching run) may abort. Another controller's
    // abort of an id that happens to be this campaign's must stop nothing and get no result: one
    // answered with the result, or by stopping the run, lets a stray abort end another's work.
    const std::string stranger_check = "abort from a connection that never ran the experiment → error unknown_experiment, no result (§5)";
    {
      CheckLink stranger(context_, options_);
      stranger.send(json{{"v", 1}, {"type", "abort"}, {"experiment", first}});
      const auto reply = stranger.receive(options_.reply_timeout, [&](const Reply& r) { return r.text("experiment") == first; });
      const std::string why = "only the experiment's owner, the latest sender of a matching run, may abort it or receive its result";
      // A result after the error is that connection's too: the check's name promises none.
      const auto stray = reply && reply->type() == "error"
                             ? stranger.receive(kQuietSpell, [&](const Reply& r) { return r.type() == "result" && r.text("experiment") == first; })
                             : std::nullopt;
      if (!reply) fail(stranger_check, no_answer());
      else if (reply->type() != "error" || reply->text("code") != "unknown_experiment") fail(stranger_check, fmt::format("got {}: {}", reply->shown(), why));
      else if (stray) fail(stranger_check, fmt::format("got {}, then {}: {}", reply->shown(), stray->shown(), why));
      else pass(stranger_check);
    }

    const std::string conflict_check = "the same id with other params → rejected \"conflict…\" (§4.2 step 4)";
    if (const auto other = another_setting(report_.info, centre)) {
      link_.send(json{{"v", 1}, {"type", "run"}, {"experiment", first}, {"params", *other}});
      const auto conflict = link_.receive(options_.reply_timeout, [&](const Reply& r) { return r.text("experiment") == first; });
      if (!conflict) fail(conflict_check, no_answer());
      else if (conflict->type() != "rejected" || !conflict->text("reason").starts_with("conflict")) fail(conflict_check, "got " + conflict->shown());
      else pass(conflict_check);
    } else {
      record(conflict_check, CheckVerdict::skipped, "every input takes a single value");
    }

    // §4.1: no hello is required first. A controller that restarted sends the run again on its new
    // connection, before or without a hello, and must get its result (from the cache: nothing runs
    // again). Last here: that connection becomes the experiment's owner (§5).
    const std::string restart_check = "the same run on a new connection, before any hello → the same result (§4.1, §5: a restarted controller)";
    CheckLink fresh(context_, options_);
    fresh.send(run_message(first, centre));
    const auto again = fresh.receive(options_.reply_timeout, [](const Reply&) { return true; });
    const std::string why = "a driver must answer a run that comes before any hello: a controller that restarted sends its runs again first";
    if (!again) record(restart_check, CheckVerdict::failed, fmt::format("{}: {}", no_answer(), why));
    else if (again->message != found->message)
      record(restart_check, CheckVerdict::failed,
             fmt::format("got {}, first {}{}", again->shown(), found->shown(), again->type() == "result" ? "" : ": " + why));
    else pass(restart_check);
  }

  // ---- capacity (§4.2 step 6, §4.4) -------------------------------------------------------------

  json run_message(const std::string& experiment, const json& params) const {
    return json{{"v", 1}, {"type", "run"}, {"experiment", experiment}, {"params", params}};
  }

  // Aborts each of `experiments` and reads the results that brings, all within one --timeout.
  // For a check's detail: what is still unaccounted for, or "".
  std::string abort_all(const std::vector<std::string>& experiments) {
    for (const std::string& e : experiments) link_.send(json{{"v", 1}, {"type", "abort"}, {"experiment", e}});
    const auto deadline = Clock::now() + options_.reply_timeout;
    std::vector<std::string> unstopped;
    for (const std::string& e : experiments) {
      const auto left = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
      if (!await_result(e, left)) unstopped.push_back(e);
    }
    if (experiments.empty()) return "";
    if (unstopped.empty()) return fmt::format("; {} still running, aborted", experiments.size());
    return fmt::format("; {} still running, aborted, and no result came for {}", experiments.size(), fmt::join(unstopped, ", "));
  }

  // As many experiments at once as the welcome's capacity (at most kMaxExperimentsAtOnce), each
  // with its own setting so that none is a repeat of another, then one more while they run, and a
  // ping; all sent before any answer is read, so the driver has them at once. The extra run must
  // be refused as busy, unless one of them finished before it was answered (a fast instrument):
  // then there was room, and the refusal is not judged. Nothing the checks start is left running.
  void at_once(const json& centre) {
    const int declared = report_.info.capacity;
    const int n = std::min(declared, kMaxExperimentsAtOnce);
    const bool judge_refusal = declared <= kMaxExperimentsAtOnce;
    const std::size_t needed = static_cast<std::size_t>(n) + 1;  // the extra run, or the one after
    const std::vector<json> settings = distinct_settings(report_.info, centre, needed);
    if (settings.size() < needed)
      return record("experiments at once", CheckVerdict::skipped,
                    fmt::format("not judged: the inputs take {} different settings, and capacity {} needs {} (each run its own setting)",
                                settings.size(), declared, needed));

    const std::string accepted_check = fmt::format("{} runs at once, each with its own setting (capacity {}) → each accepted", n, declared);
    const std::string busy_check = fmt::format("one more run while {} run → rejected \"busy…\" (§4.2 step 6)", n);
    const std::string pong_check = fmt::format("ping while {} run → pong listing each running one (§4.4)", n);
    const std::string results_check = fmt::format("the {} runs → a result each, for its own id", n);
    const std::string free_check = "a run after their results → accepted, then a result: the capacity is free again";

    std::vector<std::string> ids;
    for (int k = 0; k < n; ++k) ids.push_back(id(8001 + k));
    const std::string extra = id(8001 + n), after = id(8002 + n);
    for (int k = 0; k < n; ++k) link_.send(run_message(ids[k], settings[k]));
    if (judge_refusal) link_.send(run_message(extra, settings[n]));
    link_.send(message("ping"));

    // The answers in the order they come: one per run, the pong, and results among them.
    std::set<std::string> ours(ids.begin(), ids.end());
    if (judge_refusal) ours.insert(extra);
    std::map<std::string, Reply> answers, results;
    std::optional<Reply> pong;
    std::set<std::string> finished_before_pong;
    std::string finished_before_extra;  // one of the n whose result came before the extra run's answer
    std::vector<std::string> strays;    // answers naming none of them
    const auto wanted = [&](const Reply& r) { return r.type() != "result" || ours.contains(r.text("experiment")); };
    while ((answers.size() < ours.size() || !pong) && strays.size() <= ours.size()) {
      std::optional<Reply> reply = link_.receive(options_.reply_timeout, wanted);
      if (!reply) break;
      const std::string about = reply->text("experiment");
      if (reply->type() == "result") {
        results.emplace(about, *reply);
      } else if (reply->type() == "pong" && !pong) {
        pong = std::move(reply);
        for (const auto& [e, r] : results) finished_before_pong.insert(e);
      } else if (ours.contains(about) && !answers.contains(about)) {
        if (about == extra)
          for (const std::string& e : ids)
            if (results.contains(e) && finished_before_extra.empty()) finished_before_extra = e;
        answers.emplace(about, std::move(*reply));
      } else {
        strays.push_back(reply->shown());
      }
    }
    // Accepted, or not answered, and no result yet: what must not be left running.
    const auto may_run = [&](const std::string& e) {
      return !results.contains(e) && (!answers.contains(e) || answers.at(e).type() == "accepted");
    };
    const auto still_running = [&](bool with_extra) {
      std::vector<std::string> out;
      for (const std::string& e : ids)
        if (may_run(e)) out.push_back(e);
      if (with_extra && judge_refusal && may_run(extra)) out.push_back(extra);
      return out;
    };
    const std::string strays_shown = strays.empty() ? "" : fmt::format("; {} answer(s) naming none of them, the first {}", strays.size(), strays.front());

    // 1. Each of the n accepted.
    std::vector<std::string> problems;
    std::string other_refusal;  // a refusal that is not about capacity: nothing to judge with
    int accepted = 0;
    for (const std::string& e : ids) {
      const auto it = answers.find(e);
      if (it == answers.end()) problems.push_back(fmt::format("{}: {}", e, no_answer()));
      else if (const std::string broken = it->second.type() == "accepted" ? protocol_problem(it->second) : ""; !broken.empty())
        problems.push_back(fmt::format("{}: its accepted {}", e, broken));  // its times, if given, numbers ≥ 0
      else if (it->second.type() == "accepted") ++accepted;
      else if (it->second.type() == "rejected" && it->second.text("reason").starts_with("busy"))
        problems.push_back(fmt::format("{}: rejected as busy ({})", e, it->second.text("reason")));
      else if (it->second.type() == "rejected" && other_refusal.empty())
        other_refusal = fmt::format("{} was rejected ({})", e, it->second.text("reason"));
      else if (it->second.type() != "rejected") problems.push_back(fmt::format("{}: expected accepted, got {}", e, it->second.shown()));
    }
    if (!problems.empty()) {
      const std::string stopped = abort_all(still_running(true));
      return fail(accepted_check, fmt::format("{} of {} accepted, though the welcome declares capacity {}: {}{}{}", accepted, n, declared,
                                              fmt::join(problems, "; "), strays_shown, stopped));
    }
    if (!other_refusal.empty()) {
      const std::string stopped = abort_all(still_running(true));
      return record(accepted_check, CheckVerdict::skipped,
                    fmt::format("not judged: {}, a setting within the limits it does not take: the capacity checks need settings it accepts{}",
                                other_refusal, stopped));
    }
    pass(accepted_check);

    // 2. The extra run refused as busy.
    if (!judge_refusal) {
      record(busy_check, CheckVerdict::skipped,
             fmt::format("not judged: capacity {} is more than the {} this check runs at once", declared, kMaxExperimentsAtOnce));
    } else if (!answers.contains(extra)) {
      fail(busy_check, no_answer());
    } else {
      const Reply& answer = answers.at(extra);
      if (answer.type() == "rejected" && answer.text("reason").starts_with("busy")) {
        pass(busy_check, answer.text("reason"));
      } else if (answer.type() == "accepted") {
        const std::string stopped = abort_all({extra});
        if (!finished_before_extra.empty())
          record(busy_check, CheckVerdict::skipped,
                 fmt::format("not judged: {} finished before the extra run was answered, so there was room (accepted, then aborted); "
                             "an instrument whose experiments take longer lets this be judged{}",
                             finished_before_extra, stopped));
        else
          fail(busy_check, fmt::format("NOT REJECTED: accepted while {} ran, none of them finished, past its capacity {}{}", n, declared, stopped));
      } else if (answer.type() == "rejected") {
        fail(busy_check, fmt::format("rejected, but not as busy: \"{}\" (a reason that starts with \"busy\" tells the controller to try again later)",
                                     answer.text("reason")));
      } else {
        fail(busy_check, "expected rejected \"busy…\", got " + answer.shown());
      }
    }

    // 3. The pong lists those not yet finished.
    if (!pong) {
      fail(pong_check, no_answer());
    } else if (!(*pong->message).contains("running") || !(*pong->message)["running"].is_array()) {
      fail(pong_check, "expected a pong with a \"running\" array, got " + pong->shown());
    } else {
      // Those whose result came before it are over, and must not be listed (§4.4: started and not
      // yet finished); the rest must be.
      const json& running = (*pong->message)["running"];
      const auto listed = [&](const std::string& e) { return std::find(running.begin(), running.end(), json(e)) != running.end(); };
      std::vector<std::string> unlisted, over_but_listed;
      std::size_t unfinished = 0;
      for (const std::string& e : ids) {
        if (finished_before_pong.contains(e)) {
          if (listed(e)) over_but_listed.push_back(e);
          continue;
        }
        ++unfinished;
        if (!listed(e)) unlisted.push_back(e);
      }
      const std::size_t over = ids.size() - unfinished;
      if (!unlisted.empty()) fail(pong_check, fmt::format("it leaves out {}: got {}", fmt::join(unlisted, ", "), pong->shown()));
      else if (!over_but_listed.empty())
        fail(pong_check, fmt::format("it lists {}, whose result came before it: got {}", fmt::join(over_but_listed, ", "), pong->shown()));
      else if (unfinished == 0) record(pong_check, CheckVerdict::skipped, fmt::format("not judged: all {} finished before the pong", n));
      else pass(pong_check, fmt::format("{} listed{}", unfinished, over ? fmt::format(", {} finished before it and not listed", over) : ""));
    }

    // 4. A result for each, within one --experiment-timeout: they run at once.
    const auto deadline = Clock::now() + options_.experiment_timeout;
    for (const std::string& e : ids) {
      if (results.contains(e)) continue;
      const auto left = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
      if (auto result = await_result(e, left)) results.emplace(e, std::move(*result));
    }
    if (const std::vector<std::string> missing = still_running(false); !missing.empty()) {
      const std::string stopped = abort_all(missing);
      return fail(results_check, fmt::format("no result within {:g} s (--experiment-timeout) for {}{}", options_.experiment_timeout.count() / 1000.0,
                                             fmt::join(missing, ", "), stopped));
    }
    problems.clear();
    for (const std::string& e : ids)
      if (const std::string problem = result_problem(results.at(e)); !problem.empty()) problems.push_back(fmt::format("{}: {}", e, problem));
    if (!problems.empty()) fail(results_check, fmt::format("{}", fmt::join(problems, "; ")));
    else pass(results_check, fmt::format("{} results{}", n, strays_shown));

    // 5. Room again.
    link_.send(run_message(after, settings[n]));
    const auto answer = link_.receive(options_.reply_timeout, [&](const Reply& r) { return r.text("experiment") == after; });
    if (!answer) return fail(free_check, no_answer());
    if (answer->type() == "rejected" && answer->text("reason").starts_with("busy"))
      return fail(free_check, fmt::format("still busy after all {} results: \"{}\"", n, answer->text("reason")));
    if (answer->type() != "accepted") return fail(free_check, "expected accepted, got " + answer->shown());
    const auto result = await_result(after, options_.experiment_timeout);
    if (!result)
      return fail(free_check, fmt::format("accepted, but no result within {:g} s (--experiment-timeout){}", options_.experiment_timeout.count() / 1000.0,
                                          abort_all({after})));
    pass(free_check);
  }

  void outside_limits(const json& centre) {
    int n = 100;
    for (const OutsideProbe& probe : settings_outside(report_.info, centre)) {
      const std::string experiment = id(++n);
      const std::string check = fmt::format("run with {} → rejected (§4.2 step 3)", probe.what);
      link_.send(json{{"v", 1}, {"type", "run"}, {"experiment", experiment}, {"params", probe.params(centre)}});
      const auto reply = link_.receive(options_.reply_timeout, [&](const Reply& r) { return r.text("experiment") == experiment; });
      if (!reply) {
        fail(check, no_answer());
      } else if (reply->type() == "rejected" && reply->text("reason").starts_with("busy")) {
        // The limits come first (§4.2 step 3, busy is step 6): busy says they were not checked.
        fail(check, fmt::format("rejected as busy ({}), not for its limits: a driver checks the limits before its capacity",
                                reply->text("reason")));
      } else if (reply->type() == "rejected") {
        pass(check, reply->text("reason"));
      } else {
        fail(check, "NOT REJECTED: got " + reply->shown() + ". A driver must refuse a setting outside its limits before its instrument sees it");
        // Stop what it started, and read what that brings.
        link_.send(json{{"v", 1}, {"type", "abort"}, {"experiment", experiment}});
        (void)await_result(experiment, options_.reply_timeout);
      }
    }
  }

  const DriverCheckOptions& options_;
  const std::function<void(const CheckOutcome&)>& on_outcome_;
  zmq::context_t context_;
  CheckLink link_;
  std::string tag_;
  int settles_ = 0;
  bool settle_by_marker_ = true;
  DriverCheckReport report_;
};

}  // namespace

bool DriverCheckReport::all_passed() const {
  return std::none_of(outcomes.begin(), outcomes.end(), [](const CheckOutcome& o) { return o.verdict == CheckVerdict::failed; });
}

DriverCheckReport check_driver(const DriverCheckOptions& options, const std::function<void(const CheckOutcome&)>& on_outcome) {
  Checker checker(options, on_outcome);
  return checker.run();
}

}  // namespace labloop
