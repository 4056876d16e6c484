#pragma once
// The campaign journal's events as types: one struct per event kind, and the one codec between
// them and the JSON objects the journal holds (journal.hpp gives the line format). Everything that
// reads a journal goes through decode_event; nothing else compares event names.
//
// The format is a contract with every journal already written (tests/fixtures/v0.1.0): field names
// are the ones labloop has always written, a field that older versions did not write is optional
// here, and an event of a kind this version does not know keeps its whole JSON object (`raw`). A
// known event keeps only its typed fields: a long campaign's journal is held as events by resume,
// status and verify, and a JSON object per line beside them took 15 times the journal's size.
//
// Decoding rules. An event must carry the fields that say what it is about ("experiment" for an
// experiment's events, "instrument" for an instrument's); any field that is present must have its
// type; a field that is absent takes its default (noted per field). An event kind this version does
// not know decodes as UnknownEvent: a newer labloop may write kinds that older readers skip.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace labloop {

// In the order of JournalEventBody's alternatives (kind() relies on it).
enum class EventKind {
  campaign_started,
  instrument_ready,
  proposed,
  dispatched,
  accepted,
  rejected,
  result,
  failed,
  instrument_lost,
  instrument_reconnected,
  instrument_restarted,
  instrument_quarantined,
  planner_note,
  campaign_resumed,
  campaign_finished,
  budget_extended,
  prior_result,
  result_corrected,
  journal_signed,
  instrument_held,
  instrument_released,
  stop_requested,
  unknown,
};

// The name written in a line's "event" field ("proposed", …); "unknown" for EventKind::unknown.
std::string_view event_kind_name(EventKind kind);
// EventKind::unknown for a name this version does not know.
EventKind event_kind_of(std::string_view name);

// The first line of every journal; a resumed run does not repeat it.
struct CampaignStartedEvent {
  static constexpr EventKind kind = EventKind::campaign_started;
  std::string campaign;                        // the campaign's name
  std::optional<std::string> campaign_id;      // 128 random bits, hex; absent before 0.2
  nlohmann::json config;                       // CampaignConfig::to_json(); null when absent
  bool dry_run = false;                        // absent = false
  std::optional<std::string> labloop_version;  // of the controller that started it
  std::optional<std::string> output;           // the output directory, as given
  // With a candidate pool: {"file": absolute path, "sha256": hex of its bytes, "rows": n}, so
  // resume and replay rebuild the same pool and refuse a changed file; null when absent.
  nlohmann::json candidates;
  // With descriptor tables: {"<path as journaled>": "<SHA-256 hex of its bytes>", …}, so resume
  // and replay use the bytes the campaign ran with (absent before decision 0016's commit): null when absent.
  nlohmann::json descriptor_tables;
  // Who started it (absent before 0.3): the OS user and host of the controller, and its key
  // (config "controller_key") when the journal is signed: the key's name and fingerprint.
  std::optional<std::string> os_user;
  std::optional<std::string> host;
  std::optional<std::string> key_name;
  std::optional<std::string> key_fingerprint;  // "curve:…" (core/key_file.hpp)
  bool operator==(const CampaignStartedEvent&) const = default;
};

struct InstrumentReadyEvent {
  static constexpr EventKind kind = EventKind::instrument_ready;
  std::string instrument;
  std::string endpoint;  // "(private)" for simulators and dry runs
  std::string driver;
  std::string version;
  int capacity = 0;
  // The driver's public key ("curve:…"), when the instrument's config names it (encrypted
  // links); absent otherwise and before 0.3.
  std::optional<std::string> key_fingerprint;
  bool operator==(const InstrumentReadyEvent&) const = default;
};

// A point to run: either one of the planner's (`ask` and `pending` set) or a retry of an earlier
// attempt (`retry_of`, `attempt` and `after_s` set).
struct ProposedEvent {
  static constexpr EventKind kind = EventKind::proposed;
  std::string experiment;
  nlohmann::json params;        // user units, an object; null when absent
  std::string planner;          // the planner's kind
  std::vector<double> x;        // the canonical cube point; empty when absent
  std::optional<int> ask;       // the planner call that proposed it (1, 2, …)
  std::optional<std::vector<std::string>> pending;  // what that call was told was still running
  std::optional<std::string> retry_of;  // the attempt this one repeats
  std::optional<int> attempt;           // 2, 3, …; absent = 1
  // Backoff before the retry may run. A number kept as written: a retry written on resume has the
  // integer 0, one written by the loop a double, and the journal's bytes must stay the same.
  nlohmann::json after_s;
  // Instead of `pending` (from 0.3): that call was told the experiments open just before its first
  // proposal, in proposal order, which the journal itself holds. Listing them on every line made a
  // journal grow with the square of the experiments open at once (2000 open: 29 KB a line).
  bool pending_open = false;
  bool operator==(const ProposedEvent&) const = default;
};

struct DispatchedEvent {
  static constexpr EventKind kind = EventKind::dispatched;
  std::string experiment;
  std::string instrument;
  std::optional<std::string> resent;  // "resumed" or "reconnected": `run` sent again with the same id
  bool operator==(const DispatchedEvent&) const = default;
};

// The driver's `accepted` message. Its numbers are kept as the driver wrote them (2 or 2.0), as
// the journal records the message.
struct AcceptedEvent {
  static constexpr EventKind kind = EventKind::accepted;
  std::string experiment;
  std::string instrument;
  nlohmann::json expected_s;  // a number, or null when the driver gave none
  nlohmann::json max_s;       // likewise
  bool operator==(const AcceptedEvent&) const = default;
};

struct RejectedEvent {
  static constexpr EventKind kind = EventKind::rejected;
  std::string experiment;
  std::string instrument;
  std::string reason;
  bool retry = false;  // "busy": the experiment waits for a free instrument again
  bool operator==(const RejectedEvent&) const = default;
};

struct ResultEvent {
  static constexpr EventKind kind = EventKind::result;
  std::string experiment;
  std::string instrument;
  std::string status;                // labloop writes "ok" only
  nlohmann::json values;             // all measured values (an object); null when absent
  std::optional<double> objective;   // absent: read it from values
  std::optional<nlohmann::json> meta;
  bool operator==(const ResultEvent&) const = default;
};

// A final outcome without a result. `learn` false: not a verdict on the point (the planner is not
// told); with `retry_as` the same point gets another attempt under that id, otherwise it was
// discarded (the campaign stopped).
struct FailedEvent {
  static constexpr EventKind kind = EventKind::failed;
  std::string experiment;
  std::string instrument;  // "" when it never reached one
  std::string error;
  bool learn = true;       // written only when false
  std::optional<std::string> retry_as;
  bool operator==(const FailedEvent&) const = default;
};

struct InstrumentLostEvent {
  static constexpr EventKind kind = EventKind::instrument_lost;
  std::string instrument;
  std::string reason;
  double wait_s = 0;  // how long it may stay silent before it is quarantined
  bool operator==(const InstrumentLostEvent&) const = default;
};

struct InstrumentReconnectedEvent {
  static constexpr EventKind kind = EventKind::instrument_reconnected;
  std::string instrument;
  double after_s = 0;  // how long it was lost
  bool operator==(const InstrumentReconnectedEvent&) const = default;
};

struct InstrumentRestartedEvent {
  static constexpr EventKind kind = EventKind::instrument_restarted;
  std::string instrument;
  int exit_status = -1;  // of the simulator that died
  int restarts = 0;      // so far, this one included
  bool operator==(const InstrumentRestartedEvent&) const = default;
};

struct InstrumentQuarantinedEvent {
  static constexpr EventKind kind = EventKind::instrument_quarantined;
  std::string instrument;
  std::string reason;
  bool operator==(const InstrumentQuarantinedEvent&) const = default;
};

struct PlannerNoteEvent {
  static constexpr EventKind kind = EventKind::planner_note;
  std::string note;
  std::optional<double> seconds;  // how long the ask took, when the note is about one
  bool operator==(const PlannerNoteEvent&) const = default;
};

struct CampaignResumedEvent {
  static constexpr EventKind kind = EventKind::campaign_resumed;
  std::vector<std::string> in_flight;  // re-sent by id once their instrument answers
  std::vector<std::string> waiting;    // not yet dispatched
  int replayed_asks = 0;
  bool reproduced = true;              // replay gave every journaled proposal again
  std::optional<std::string> torn_tail;  // the message about a torn last line that was cut away
  // Who resumed it: as in CampaignStartedEvent (absent before 0.3).
  std::optional<std::string> os_user;
  std::optional<std::string> host;
  std::optional<std::string> key_name;
  std::optional<std::string> key_fingerprint;
  bool operator==(const CampaignResumedEvent&) const = default;
};

// The best experiment as campaign_finished records it.
struct FinishedBest {
  std::string experiment;
  double objective = 0;
  nlohmann::json params;
  bool operator==(const FinishedBest&) const = default;
};

struct CampaignFinishedEvent {
  static constexpr EventKind kind = EventKind::campaign_finished;
  std::string reason;  // "budget reached", "stopped by operator", "paused: …", "error: …", …
  int experiments = 0;  // with a final outcome the planner learned
  int failed = 0;
  std::optional<FinishedBest> best;  // written as null when there is none
  bool operator==(const CampaignFinishedEvent&) const = default;
};

// `labloop extend`: the budget from here on (totals, not increments), and who raised it. A
// finished campaign continues after it.
struct BudgetExtendedEvent {
  static constexpr EventKind kind = EventKind::budget_extended;
  int experiments = 0;            // the new experiment budget
  std::optional<double> hours;    // the new time budget, when it has one
  std::string by;                 // the OS user who extended it
  bool operator==(const BudgetExtendedEvent&) const = default;
};

// One row of the config's "prior_results" file, taught to the planner before its first proposal.
// Not an experiment of this campaign: it has no id, costs no budget and is not a candidate for best.
struct PriorResultEvent {
  static constexpr EventKind kind = EventKind::prior_result;
  std::string source;             // the file, as named in the config
  int row = 0;                    // 1-based line in that file (the header is line 1)
  nlohmann::json params;          // user units
  std::vector<double> x;          // canonical cube point
  nlohmann::json values;          // the outputs given
  double objective = 0;
  bool operator==(const PriorResultEvent&) const = default;
};

// `labloop enter --correct`: a person's recorded result replaced by the right values, saying who
// and why. The journal stays append-only: the first result stays in it, this one supersedes it.
struct ResultCorrectedEvent {
  static constexpr EventKind kind = EventKind::result_corrected;
  std::string experiment;
  nlohmann::json values;          // the corrected values
  double objective = 0;
  nlohmann::json previous_values; // as recorded before ({} when it had failed)
  double previous_objective = 0;
  std::string reason;
  std::string by;
  // Present when the experiment had failed (its "failed" line's error): a person who entered a
  // failure by mistake gives its result. Absent for corrected results (and in every
  // correction journaled before this field was added).
  std::optional<std::string> previous_error;
  bool operator==(const ResultCorrectedEvent&) const = default;
};

// The controller's Ed25519 signature of the journal up to the line before this one (signing.hpp:
// journal_signature_message gives the exact bytes signed: the campaign id, signed_seq and head).
// Written by a campaign with a "controller_key" at every stop, at the end and periodically.
// Not an event of the campaign: the fold, replay and resume skip it.
struct JournalSignedEvent {
  static constexpr EventKind kind = EventKind::journal_signed;
  std::uint64_t signed_seq = 0;  // the last line signed: this line's seq − 1
  std::string head;              // that line's "hash" (64 hex)
  std::string key_name;          // the key's name (metadata "name" of its files)
  std::string key_fingerprint;   // "curve:…" of the key's CurveZMQ half (core/key_file.hpp)
  std::string public_key;        // the Ed25519 public key, Z85 (40 characters)
  std::string signature;         // Ed25519, lower-case hex (128 characters)
  bool operator==(const JournalSignedEvent&) const = default;
};

// The campaign holds an instrument under exclusive control (protocol §12): its driver's welcome
// named this campaign as holder. Written at start, at resume and after a reconnect; absent for
// drivers without exclusive control. Times as the driver gave them (UTC ISO 8601).
struct InstrumentHeldEvent {
  static constexpr EventKind kind = EventKind::instrument_held;
  std::string instrument;
  std::string campaign_id;
  std::string since;
  std::optional<std::string> until;       // the lease's end unless renewed
  std::optional<std::string> controller;  // the controller key the driver knows it by
  bool operator==(const InstrumentHeldEvent&) const = default;
};

// The campaign let an instrument go (`release` answered by `released`), just before
// campaign_finished.
struct InstrumentReleasedEvent {
  static constexpr EventKind kind = EventKind::instrument_released;
  std::string instrument;
  bool operator==(const InstrumentReleasedEvent&) const = default;
};

// Someone asked the running campaign to stop without a signal (the operator console's stop-request
// file, stop_request.hpp): who, why, from where. The campaign then stops as on a first Ctrl-C,
// and its campaign_finished says "stopped by operator".
struct StopRequestedEvent {
  static constexpr EventKind kind = EventKind::stop_requested;
  std::string by;
  std::string reason;  // "" when not said
  std::string source;  // how it came: "console", or "stop request file" (kStopRequestSource) for a file that claims anything else
  bool operator==(const StopRequestedEvent&) const = default;
};

// A kind this version does not know; its fields are in JournalEvent::raw.
struct UnknownEvent {
  static constexpr EventKind kind = EventKind::unknown;
  std::string name;
  bool operator==(const UnknownEvent&) const = default;
};

using JournalEventBody =
    std::variant<CampaignStartedEvent, InstrumentReadyEvent, ProposedEvent, DispatchedEvent, AcceptedEvent, RejectedEvent,
                 ResultEvent, FailedEvent, InstrumentLostEvent, InstrumentReconnectedEvent, InstrumentRestartedEvent,
                 InstrumentQuarantinedEvent, PlannerNoteEvent, CampaignResumedEvent, CampaignFinishedEvent, BudgetExtendedEvent,
                 PriorResultEvent, ResultCorrectedEvent, JournalSignedEvent, InstrumentHeldEvent, InstrumentReleasedEvent, StopRequestedEvent,
                 UnknownEvent>;

// One decoded journal line.
struct JournalEvent {
  std::uint64_t seq = 0;  // 0 when the object had none (an event not from a journal file)
  std::string time;       // UTC ISO-8601 with milliseconds; "" when absent
  JournalEventBody body;
  // A journal_signed line's: the "hash" of the line before it as read, which its signature must
  // sign (the chain as it is, not as the line claims it was); "" for other lines, for the first,
  // and when that line has none. Only these lines keep a hash: a long journal is held as events.
  std::string chain_before;
  nlohmann::json raw;     // an UnknownEvent's whole object as read; null for every known kind

  EventKind kind() const { return static_cast<EventKind>(body.index()); }
  std::string_view name() const;  // as written in "event"
  template <class Event>
  const Event* as() const {
    return std::get_if<Event>(&body);
  }
  // The experiment an experiment's event is about; nullptr for the others.
  const std::string* experiment() const;
};

// Decodes one journal event (an object with "event", and normally "seq" and "time"). `source` and
// `line` name it in errors: a malformed event throws JournalError "<source>: line <line>: …".
JournalEvent decode_event(const nlohmann::json& object, std::string_view source, std::size_t line);
// Every event of a journal, in order; line numbers are 1-based positions in `objects`.
std::vector<JournalEvent> decode_events(const std::vector<nlohmann::json>& objects, std::string_view source);

// An event's own fields as the journal writes them (no seq, time, event or hash): what
// Journal::append takes. Optional fields are written only when set.
nlohmann::json encode_fields(const JournalEventBody& body);
// The name for "event", for any body (UnknownEvent: its own name).
std::string_view event_name(const JournalEventBody& body);

}  // namespace labloop
