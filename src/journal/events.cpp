// The one codec between journal lines and typed events.
//
// Why this shape: decoding is strict about types (a number where a string belongs means the line is
// not what labloop wrote, and a consumer acting on a guess could resume the wrong experiment) but
// lenient about absence, because journals written by older versions lack fields added since, and
// every such field has a meaning when absent (documented in events.hpp). Encoding writes exactly the
// fields the campaign loop has always written, so typed writers produce the same bytes.
#include "labloop/journal/events.hpp"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <type_traits>

#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"

namespace labloop {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, static_cast<size_t>(EventKind::unknown) + 1> kKindNames{
    "campaign_started",       "instrument_ready",       "proposed",     "dispatched",       "accepted",
    "rejected",               "result",                 "failed",       "instrument_lost",  "instrument_reconnected",
    "instrument_restarted",   "instrument_quarantined", "planner_note", "campaign_resumed", "campaign_finished",
    "budget_extended",        "prior_result",           "result_corrected", "journal_signed",
    "instrument_held",        "instrument_released",    "stop_requested",
    "unknown",
};

// Reads one event's fields; every problem becomes a JournalError naming the source, line and field.
class FieldReader {
 public:
  FieldReader(const json& object, std::string_view source, size_t line, std::string_view event)
      : object_(object), source_(source), line_(line), event_(event) {}

  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    throw JournalError(fmt::format("{}: line {}: the {} event's \"{}\" {}; labloop never writes such a line (the journal was "
                                   "edited or damaged)",
                                   source_, line_, event_, field, problem));
  }

  const json* find(const char* key) const {
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  std::string required_string(const char* key) const {
    const json* v = find(key);
    if (!v) fail(key, "is missing");
    if (!v->is_string()) fail(key, "is not a string");
    return v->get<std::string>();
  }

  std::optional<std::string> optional_string(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail(key, "is not a string");
    return v->get<std::string>();
  }

  std::string string_or_empty(const char* key) const { return optional_string(key).value_or(std::string()); }

  std::optional<int> optional_int(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "is not an integer");
    // Unsigned first: a value past INT64_MAX read as signed would wrap into range.
    const bool fits = v->is_number_unsigned() ? v->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())
                                              : v->get<std::int64_t>() >= std::numeric_limits<int>::min() &&
                                                    v->get<std::int64_t>() <= std::numeric_limits<int>::max();
    if (!fits) fail(key, "is out of range");
    return v->get<int>();
  }

  std::optional<double> optional_number(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_number()) fail(key, "is not a number");
    return v->get<double>();
  }

  // A number kept with its spelling (2 stays 2, 2.0 stays 2.0); null when absent.
  json number_as_written(const char* key) const {
    const json* v = find(key);
    if (!v) return nullptr;
    if (!v->is_number()) fail(key, "is not a number");
    return *v;
  }

  bool boolean(const char* key, bool absent) const {
    const json* v = find(key);
    if (!v) return absent;
    if (!v->is_boolean()) fail(key, "is not true or false");
    return v->get<bool>();
  }

  json object_or_null(const char* key) const {
    const json* v = find(key);
    if (!v) return nullptr;
    if (!v->is_object()) fail(key, "is not an object");
    return *v;
  }

  std::vector<double> numbers(const char* key) const {
    std::vector<double> out;
    const json* v = find(key);
    if (!v) return out;
    if (!v->is_array()) fail(key, "is not an array of numbers");
    for (const json& item : *v) {
      if (!item.is_number()) fail(key, "is not an array of numbers");
      out.push_back(item.get<double>());
    }
    return out;
  }

  std::uint64_t required_count(const char* key) const {
    const json* v = find(key);
    if (!v) fail(key, "is missing");
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<std::int64_t>() >= 0)) fail(key, "is not a count (an integer >= 0)");
    return v->get<std::uint64_t>();
  }

  std::optional<std::vector<std::string>> optional_strings(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_array()) fail(key, "is not an array of strings");
    std::vector<std::string> out;
    for (const json& item : *v) {
      if (!item.is_string()) fail(key, "is not an array of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

 private:
  const json& object_;
  std::string_view source_;
  size_t line_;
  std::string_view event_;
};

JournalEventBody decode_body(EventKind kind, const std::string& name, const FieldReader& r) {
  switch (kind) {
    case EventKind::campaign_started: {
      CampaignStartedEvent e;
      e.campaign = r.string_or_empty("campaign");
      e.campaign_id = r.optional_string("campaign_id");
      e.config = r.object_or_null("config");
      e.dry_run = r.boolean("dry_run", false);
      e.labloop_version = r.optional_string("labloop_version");
      e.output = r.optional_string("output");
      e.candidates = r.object_or_null("candidates");
      e.descriptor_tables = r.object_or_null("descriptor_tables");
      e.os_user = r.optional_string("os_user");
      e.host = r.optional_string("host");
      e.key_name = r.optional_string("key_name");
      e.key_fingerprint = r.optional_string("key_fingerprint");
      return e;
    }
    case EventKind::instrument_ready: {
      InstrumentReadyEvent e;
      e.instrument = r.required_string("instrument");
      e.endpoint = r.string_or_empty("endpoint");
      e.driver = r.string_or_empty("driver");
      e.version = r.string_or_empty("version");
      e.capacity = r.optional_int("capacity").value_or(0);
      e.key_fingerprint = r.optional_string("key_fingerprint");
      return e;
    }
    case EventKind::proposed: {
      ProposedEvent e;
      e.experiment = r.required_string("experiment");
      e.params = r.object_or_null("params");
      e.planner = r.string_or_empty("planner");
      e.x = r.numbers("x");
      e.ask = r.optional_int("ask");
      e.pending = r.optional_strings("pending");
      e.pending_open = r.boolean("pending_open", false);
      if (e.pending_open && e.pending) r.fail("pending_open", "comes with a \"pending\" list, which it replaces");
      e.retry_of = r.optional_string("retry_of");
      e.attempt = r.optional_int("attempt");
      e.after_s = r.number_as_written("after_s");
      return e;
    }
    case EventKind::dispatched: {
      DispatchedEvent e;
      e.experiment = r.required_string("experiment");
      e.instrument = r.string_or_empty("instrument");
      e.resent = r.optional_string("resent");
      return e;
    }
    case EventKind::accepted: {
      AcceptedEvent e;
      e.experiment = r.required_string("experiment");
      e.instrument = r.string_or_empty("instrument");
      e.expected_s = r.number_as_written("expected_s");
      e.max_s = r.number_as_written("max_s");
      return e;
    }
    case EventKind::rejected: {
      RejectedEvent e;
      e.experiment = r.required_string("experiment");
      e.instrument = r.string_or_empty("instrument");
      e.reason = r.string_or_empty("reason");
      e.retry = r.boolean("retry", false);
      return e;
    }
    case EventKind::result: {
      ResultEvent e;
      e.experiment = r.required_string("experiment");
      e.instrument = r.string_or_empty("instrument");
      e.status = r.string_or_empty("status");
      e.values = r.object_or_null("values");
      e.objective = r.optional_number("objective");
      if (const json* meta = r.find("meta")) e.meta = *meta;
      return e;
    }
    case EventKind::failed: {
      FailedEvent e;
      e.experiment = r.required_string("experiment");
      e.instrument = r.string_or_empty("instrument");
      e.error = r.string_or_empty("error");
      e.learn = r.boolean("learn", true);
      e.retry_as = r.optional_string("retry_as");
      return e;
    }
    case EventKind::instrument_lost: {
      InstrumentLostEvent e;
      e.instrument = r.required_string("instrument");
      e.reason = r.string_or_empty("reason");
      e.wait_s = r.optional_number("wait_s").value_or(0.0);
      return e;
    }
    case EventKind::instrument_reconnected: {
      InstrumentReconnectedEvent e;
      e.instrument = r.required_string("instrument");
      e.after_s = r.optional_number("after_s").value_or(0.0);
      return e;
    }
    case EventKind::instrument_restarted: {
      InstrumentRestartedEvent e;
      e.instrument = r.required_string("instrument");
      e.exit_status = r.optional_int("exit_status").value_or(-1);
      e.restarts = r.optional_int("restarts").value_or(0);
      return e;
    }
    case EventKind::instrument_quarantined: {
      InstrumentQuarantinedEvent e;
      e.instrument = r.required_string("instrument");
      e.reason = r.string_or_empty("reason");
      return e;
    }
    case EventKind::planner_note: {
      PlannerNoteEvent e;
      e.note = r.string_or_empty("note");
      e.seconds = r.optional_number("seconds");
      return e;
    }
    case EventKind::campaign_resumed: {
      CampaignResumedEvent e;
      e.in_flight = r.optional_strings("in_flight").value_or(std::vector<std::string>{});
      e.waiting = r.optional_strings("waiting").value_or(std::vector<std::string>{});
      e.replayed_asks = r.optional_int("replayed_asks").value_or(0);
      e.reproduced = r.boolean("reproduced", true);
      e.torn_tail = r.optional_string("torn_tail");
      e.os_user = r.optional_string("os_user");
      e.host = r.optional_string("host");
      e.key_name = r.optional_string("key_name");
      e.key_fingerprint = r.optional_string("key_fingerprint");
      return e;
    }
    case EventKind::campaign_finished: {
      CampaignFinishedEvent e;
      e.reason = r.string_or_empty("reason");
      e.experiments = r.optional_int("experiments").value_or(0);
      e.failed = r.optional_int("failed").value_or(0);
      if (const json* best = r.find("best"); best && !best->is_null()) {
        if (!best->is_object()) r.fail("best", "is neither null nor an object");
        const json& b = *best;
        const auto experiment = b.find("experiment");
        const auto objective = b.find("objective");
        if (experiment == b.end() || !experiment->is_string()) r.fail("best", "has no string \"experiment\"");
        if (objective == b.end() || !objective->is_number()) r.fail("best", "has no number \"objective\"");
        FinishedBest finished_best{experiment->get<std::string>(), objective->get<double>(), b.value("params", json())};
        e.best = std::move(finished_best);
      }
      return e;
    }
    case EventKind::stop_requested: {
      StopRequestedEvent e;
      e.by = r.string_or_empty("by");
      e.reason = r.string_or_empty("reason");
      e.source = r.string_or_empty("source");
      return e;
    }
    case EventKind::budget_extended: {
      BudgetExtendedEvent e;
      const auto experiments = r.optional_int("experiments");
      if (!experiments || *experiments < 1) r.fail("experiments", "is not a positive integer");
      e.experiments = *experiments;
      e.hours = r.optional_number("hours");
      e.by = r.string_or_empty("by");
      return e;
    }
    case EventKind::prior_result: {
      PriorResultEvent e;
      e.source = r.string_or_empty("source");
      e.row = r.optional_int("row").value_or(0);
      e.params = r.object_or_null("params");
      e.x = r.numbers("x");
      e.values = r.object_or_null("values");
      const auto objective = r.optional_number("objective");
      if (!objective) r.fail("objective", "is not a number");
      e.objective = *objective;
      return e;
    }
    case EventKind::result_corrected: {
      ResultCorrectedEvent e;
      e.experiment = r.required_string("experiment");
      e.values = r.object_or_null("values");
      e.previous_values = r.object_or_null("previous_values");
      const auto objective = r.optional_number("objective");
      if (!objective) r.fail("objective", "is not a number");
      e.objective = *objective;
      e.previous_objective = r.optional_number("previous_objective").value_or(0);
      e.previous_error = r.optional_string("previous_error");
      e.reason = r.string_or_empty("reason");
      e.by = r.string_or_empty("by");
      return e;
    }
    case EventKind::journal_signed: {
      // Types only: what the fields must look like (lengths, encodings) is the audit's to check,
      // so that a damaged signature is reported as such rather than stopping resume.
      JournalSignedEvent e;
      e.signed_seq = r.required_count("signed_seq");
      e.head = r.required_string("head");
      e.key_name = r.string_or_empty("key_name");
      e.key_fingerprint = r.string_or_empty("key_fingerprint");
      e.public_key = r.required_string("public_key");
      e.signature = r.required_string("signature");
      return e;
    }
    case EventKind::instrument_held: {
      InstrumentHeldEvent e;
      e.instrument = r.required_string("instrument");
      e.campaign_id = r.string_or_empty("campaign_id");
      e.since = r.string_or_empty("since");
      e.until = r.optional_string("until");
      e.controller = r.optional_string("controller");
      return e;
    }
    case EventKind::instrument_released: {
      InstrumentReleasedEvent e;
      e.instrument = r.required_string("instrument");
      return e;
    }
    case EventKind::unknown: break;
  }
  return UnknownEvent{name};
}

}  // namespace

std::string_view event_kind_name(EventKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

EventKind event_kind_of(std::string_view name) {
  for (size_t i = 0; i + 1 < kKindNames.size(); ++i)
    if (kKindNames[i] == name) return static_cast<EventKind>(i);
  return EventKind::unknown;
}

std::string_view JournalEvent::name() const { return event_name(body); }

const std::string* JournalEvent::experiment() const {
  return std::visit(
      [](const auto& e) -> const std::string* {
        if constexpr (requires { e.experiment; }) return &e.experiment;
        return nullptr;
      },
      body);
}

JournalEvent decode_event(const json& object, std::string_view source, size_t line) {
  if (!object.is_object()) throw JournalError(fmt::format("{}: line {}: is not a JSON object", source, line));
  const auto name = object.find("event");
  if (name == object.end() || !name->is_string())
    throw JournalError(fmt::format("{}: line {}: has no string \"event\"", source, line));
  const std::string& event = name->get_ref<const std::string&>();
  const FieldReader reader(object, source, line, event);
  JournalEvent decoded;
  if (const json* seq = reader.find("seq")) {
    if (!seq->is_number_unsigned() && !(seq->is_number_integer() && seq->get<std::int64_t>() >= 0))
      reader.fail("seq", "is not a positive integer");
    decoded.seq = seq->get<std::uint64_t>();
  }
  decoded.time = reader.string_or_empty("time");
  // Time budgets, clock checks and reports count from these: "yesterday" or the year 9999 would
  // be read as no time or as one the clock cannot hold (a red-team report).
  if (reader.find("time") && !journal_time_ms(decoded.time))
    reader.fail("time", fmt::format("is \"{}\", not a time as labloop writes it (UTC, like \"2026-11-25T08:30:00.123Z\", in the years "
                                    "2000 to 9999)",
                                    decoded.time.size() > 40 ? decoded.time.substr(0, 40) + "…" : decoded.time));
  decoded.body = decode_body(event_kind_of(event), event, reader);
  if (decoded.kind() == EventKind::unknown) decoded.raw = object;
  return decoded;
}

std::vector<JournalEvent> decode_events(const std::vector<json>& objects, std::string_view source) {
  std::vector<JournalEvent> events;
  events.reserve(objects.size());
  for (size_t i = 0; i < objects.size(); ++i) {
    events.push_back(decode_event(objects[i], source, i + 1));
    if (i > 0 && events.back().kind() == EventKind::journal_signed) {
      const auto hash = objects[i - 1].find("hash");
      if (hash != objects[i - 1].end() && hash->is_string()) events.back().chain_before = hash->get<std::string>();
    }
  }
  return events;
}

std::string_view event_name(const JournalEventBody& body) {
  if (const auto* unknown = std::get_if<UnknownEvent>(&body)) return unknown->name;
  return event_kind_name(static_cast<EventKind>(body.index()));
}

json encode_fields(const JournalEventBody& body) {
  json f = json::object();
  const auto put_if = [&f](const char* key, const auto& optional) {
    if (optional) f[key] = *optional;
  };
  const auto put_unless_null = [&f](const char* key, const json& value) {
    if (!value.is_null()) f[key] = value;
  };
  std::visit(
      [&](const auto& e) {
        using Event = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<Event, CampaignStartedEvent>) {
          f["campaign"] = e.campaign;
          put_if("campaign_id", e.campaign_id);
          put_unless_null("config", e.config);
          f["dry_run"] = e.dry_run;
          put_if("labloop_version", e.labloop_version);
          put_if("output", e.output);
          put_unless_null("candidates", e.candidates);
          put_unless_null("descriptor_tables", e.descriptor_tables);
          put_if("os_user", e.os_user);
          put_if("host", e.host);
          put_if("key_name", e.key_name);
          put_if("key_fingerprint", e.key_fingerprint);
        } else if constexpr (std::is_same_v<Event, InstrumentReadyEvent>) {
          f["instrument"] = e.instrument;
          f["endpoint"] = e.endpoint;
          f["driver"] = e.driver;
          f["version"] = e.version;
          f["capacity"] = e.capacity;
          put_if("key_fingerprint", e.key_fingerprint);
        } else if constexpr (std::is_same_v<Event, ProposedEvent>) {
          f["experiment"] = e.experiment;
          put_unless_null("params", e.params);
          f["planner"] = e.planner;
          f["x"] = e.x;
          put_if("ask", e.ask);
          put_if("pending", e.pending);
          if (e.pending_open) f["pending_open"] = true;
          put_if("retry_of", e.retry_of);
          put_if("attempt", e.attempt);
          put_unless_null("after_s", e.after_s);
        } else if constexpr (std::is_same_v<Event, DispatchedEvent>) {
          f["experiment"] = e.experiment;
          f["instrument"] = e.instrument;
          put_if("resent", e.resent);
        } else if constexpr (std::is_same_v<Event, AcceptedEvent>) {
          f["experiment"] = e.experiment;
          f["instrument"] = e.instrument;
          put_unless_null("expected_s", e.expected_s);
          put_unless_null("max_s", e.max_s);
        } else if constexpr (std::is_same_v<Event, RejectedEvent>) {
          f["experiment"] = e.experiment;
          f["instrument"] = e.instrument;
          f["reason"] = e.reason;
          f["retry"] = e.retry;
        } else if constexpr (std::is_same_v<Event, ResultEvent>) {
          f["experiment"] = e.experiment;
          f["instrument"] = e.instrument;
          f["status"] = e.status;
          put_unless_null("values", e.values);
          put_if("objective", e.objective);
          put_if("meta", e.meta);
        } else if constexpr (std::is_same_v<Event, FailedEvent>) {
          f["experiment"] = e.experiment;
          f["instrument"] = e.instrument;
          f["error"] = e.error;
          if (!e.learn) f["learn"] = false;
          put_if("retry_as", e.retry_as);
        } else if constexpr (std::is_same_v<Event, InstrumentLostEvent>) {
          f["instrument"] = e.instrument;
          f["reason"] = e.reason;
          f["wait_s"] = e.wait_s;
        } else if constexpr (std::is_same_v<Event, InstrumentReconnectedEvent>) {
          f["instrument"] = e.instrument;
          f["after_s"] = e.after_s;
        } else if constexpr (std::is_same_v<Event, InstrumentRestartedEvent>) {
          f["instrument"] = e.instrument;
          f["exit_status"] = e.exit_status;
          f["restarts"] = e.restarts;
        } else if constexpr (std::is_same_v<Event, InstrumentQuarantinedEvent>) {
          f["instrument"] = e.instrument;
          f["reason"] = e.reason;
        } else if constexpr (std::is_same_v<Event, PlannerNoteEvent>) {
          f["note"] = e.note;
          put_if("seconds", e.seconds);
        } else if constexpr (std::is_same_v<Event, CampaignResumedEvent>) {
          f["in_flight"] = e.in_flight;
          f["waiting"] = e.waiting;
          f["replayed_asks"] = e.replayed_asks;
          f["reproduced"] = e.reproduced;
          put_if("torn_tail", e.torn_tail);
          put_if("os_user", e.os_user);
          put_if("host", e.host);
          put_if("key_name", e.key_name);
          put_if("key_fingerprint", e.key_fingerprint);
        } else if constexpr (std::is_same_v<Event, CampaignFinishedEvent>) {
          f["reason"] = e.reason;
          f["experiments"] = e.experiments;
          f["failed"] = e.failed;
          f["best"] = e.best ? json{{"experiment", e.best->experiment}, {"objective", e.best->objective}, {"params", e.best->params}}
                             : json(nullptr);
        } else if constexpr (std::is_same_v<Event, StopRequestedEvent>) {
          f["by"] = e.by;
          f["reason"] = e.reason;
          f["source"] = e.source;
        } else if constexpr (std::is_same_v<Event, BudgetExtendedEvent>) {
          f["experiments"] = e.experiments;
          put_if("hours", e.hours);
          f["by"] = e.by;
        } else if constexpr (std::is_same_v<Event, PriorResultEvent>) {
          f["source"] = e.source;
          f["row"] = e.row;
          f["params"] = e.params;
          f["x"] = e.x;
          f["values"] = e.values;
          f["objective"] = e.objective;
        } else if constexpr (std::is_same_v<Event, ResultCorrectedEvent>) {
          f["experiment"] = e.experiment;
          f["values"] = e.values;
          f["objective"] = e.objective;
          f["previous_values"] = e.previous_values;
          f["previous_objective"] = e.previous_objective;
          put_if("previous_error", e.previous_error);
          f["reason"] = e.reason;
          f["by"] = e.by;
        } else if constexpr (std::is_same_v<Event, JournalSignedEvent>) {
          f["signed_seq"] = e.signed_seq;
          f["head"] = e.head;
          f["key_name"] = e.key_name;
          f["key_fingerprint"] = e.key_fingerprint;
          f["public_key"] = e.public_key;
          f["signature"] = e.signature;
        } else if constexpr (std::is_same_v<Event, InstrumentHeldEvent>) {
          f["instrument"] = e.instrument;
          f["campaign_id"] = e.campaign_id;
          f["since"] = e.since;
          put_if("until", e.until);
          put_if("controller", e.controller);
        } else if constexpr (std::is_same_v<Event, InstrumentReleasedEvent>) {
          f["instrument"] = e.instrument;
        } else {
          static_assert(std::is_same_v<Event, UnknownEvent>);
        }
      },
      body);
  return f;
}

}  // namespace labloop
