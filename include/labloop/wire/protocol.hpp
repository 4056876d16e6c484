#pragma once
// Protocol v1 (docs/protocol.md is the normative spec): one ZeroMQ frame, one UTF-8 JSON object
// with "v": 1 and "type". This header is the protocol's messages as types — one struct per message
// type, `Message` for any of them — and its one codec (decode/encode); it knows nothing of sockets.
//
// What the types keep. The fields the spec defines, and nothing else: unknown extra fields are
// ignored on decode (spec §2, forward compatibility) and so are not sent on. Where the spec leaves
// a value free-form (`meta`, `params`, `values`, `inputs`) it stays JSON: the receiver checks it
// where it acts on it (the driver checks `params` after its cache lookup, spec §4.2; parse_welcome
// checks `inputs`), exactly as the checks ran before the messages had types.
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "labloop/wire/instrument_info.hpp"
#include "labloop/core/parameter.hpp"

namespace labloop::protocol {

constexpr int kVersion = 1;
constexpr std::size_t kMaxMessageBytes = 1 << 20;
// Arrays and objects nested in one message, the message object itself being level 1 (so a
// result's "meta" may hold 62 levels). Deeper messages are refused with "too_deep" before parsing:
// nested JSON is handled recursively, and 100,000 levels would overflow the stack.
constexpr std::size_t kMaxMessageDepth = 64;
constexpr std::size_t kMaxExperimentIdChars = 128;
// A failed result's "error" is cut to this many characters when made with Result::failed (spec
// §4.3: SHOULD be ≤ 4096); decode accepts longer text from other drivers, and the controller keeps
// this much of it, and of a rejection's reason (kept_text).
constexpr std::size_t kMaxErrorChars = 4096;

// `s` cut to at most `max_chars` characters (code points), at a character boundary: cutting never
// makes valid UTF-8 invalid.
std::string truncate_utf8(const std::string& s, std::size_t max_chars);
// A driver's text to record (a failed result's error, a rejection's reason): its first
// kMaxErrorChars characters, followed by how many were left out, when it is longer.
std::string kept_text(const std::string& s);

constexpr std::size_t kMaxCampaignIdChars = 128;
// Inputs a welcome may declare: a campaign names every input of its driver and has at most 1000
// parameters (campaign_config.hpp), so a driver with more could serve none; and driver-check's
// probes of every input past its limits stay a few thousand runs.
constexpr std::size_t kMaxInputs = 1000;
// The largest standard deviation a welcome may state for an output ("noise"), as a campaign file may.
constexpr double kMaxStatedNoise = 1e100;
// The error code of a driver held by another campaign (spec §6, §12).
constexpr std::string_view kBusy = "busy";

// ---- controller → driver ----

// "controller" and "campaign" (the campaign's name) are informational: a driver must not refuse a
// hello without them or with other types there (spec §4.1), so a non-string decodes as absent.
// "campaign_id" (v1 extended, spec §12) is the campaign's random id: a driver under exclusive
// control lets that campaign hold the instrument (wire/lease.hpp). A non-string is absent too
// (an old controller); a string must be 1 to kMaxCampaignIdChars characters.
struct Hello {
  std::optional<std::string> controller;
  std::optional<std::string> campaign;
  std::optional<std::string> campaign_id;
  bool operator==(const Hello&) const = default;
};

// Ends the sender's hold on the instrument (spec §12): answered by `released`, or by
// `unknown_type` from a driver that knows nothing of holders (which the controller ignores).
struct Release {
  std::string campaign_id;
  bool operator==(const Release&) const = default;
};

struct Run {
  std::string experiment;
  nlohmann::json params;  // an object when well-formed; null when absent (checked by the driver, spec §4.2 step 2)
  bool operator==(const Run&) const = default;
};

struct Ping {
  bool operator==(const Ping&) const = default;
};

struct Abort {
  std::string experiment;
  bool operator==(const Abort&) const = default;
};

// ---- driver → controller ----

// Who holds an instrument under exclusive control, as `welcome` tells its holder (spec §12). Times
// are UTC ISO 8601 ("2026-12-02T14:02:00Z"); `controller` is the holder's key fingerprint when the
// link is encrypted. Informational: a malformed "holder" decodes as absent.
struct Holder {
  std::string campaign_id;
  std::string since;
  std::optional<std::string> until;
  std::optional<std::string> controller;
  bool operator==(const Holder&) const = default;
};

// The instrument description as sent. `inputs` stays JSON here: decode checks only that it is an
// array, and parse_welcome() reads it into Parameters (a driver receiving a welcome answers
// unknown_type, not a complaint about its inputs).
struct Welcome {
  std::string driver;
  std::string version;
  nlohmann::json inputs = nlohmann::json::array();
  std::vector<std::string> outputs;
  int capacity = 1;
  std::optional<Holder> holder;  // only from a driver under exclusive control, to the campaign it admitted
  std::map<std::string, double> noise;  // "noise": standard deviation per output the driver states one for (§4.1)
  static Welcome of(const InstrumentInfo& info);
  bool operator==(const Welcome&) const = default;
};

// Seconds as the driver wrote them: a JSON number ≥ 0 (2 stays 2, 2.0 stays 2.0, since the
// journal records the message as received), or null when absent.
struct Accepted {
  std::string experiment;
  nlohmann::json expected_s;
  nlohmann::json max_s;
  static Accepted of(std::string experiment, std::optional<double> expected_s = {}, std::optional<double> max_s = {});
  bool operator==(const Accepted&) const = default;
};

struct Rejected {
  std::string experiment;
  std::string reason;  // free text, but "busy…" and "conflict…" are machine-readable (spec §4.2)
  bool operator==(const Rejected&) const = default;
};

enum class ResultStatus { ok, failed };

// `values` only when ok (an object; its members as the driver wrote them), `error` only when
// failed; `meta` is opaque: an object, or null when absent.
struct Result {
  std::string experiment;
  ResultStatus status = ResultStatus::ok;
  nlohmann::json values;
  std::string error;
  nlohmann::json meta;
  static Result ok(std::string experiment, const std::map<std::string, double>& values, nlohmann::json meta = nullptr);
  // Cuts `error` to kMaxErrorChars characters (at a character boundary).
  static Result failed(std::string experiment, const std::string& error, nlohmann::json meta = nullptr);
  bool operator==(const Result&) const = default;
};

// Ids in `running` that are not strings, and progress entries that are not numbers, are dropped
// on decode: nobody could act on them.
struct Pong {
  std::vector<std::string> running;
  std::map<std::string, double> progress;  // sent only when not empty
  bool operator==(const Pong&) const = default;
};

// Either direction.
struct Error {
  std::string code;
  std::string message;
  std::optional<std::string> experiment;
  bool operator==(const Error&) const = default;
};

// The answer to `release`: the instrument is no longer held by that campaign (or never was).
struct Released {
  std::string campaign_id;
  bool operator==(const Released&) const = default;
};

// New types go at the end: type_name() and the fuzz corpus rely on the order.
using Message = std::variant<Hello, Run, Ping, Abort, Welcome, Accepted, Rejected, Result, Pong, Error, Release, Released>;

// The "type" of a message ("hello", "run", …).
std::string_view type_name(const Message& message);

// Who decodes. A driver knows only the controller → driver types (and `error`): a `welcome` or
// `result` sent to it is an unknown type there, answered `unknown_type` whatever its fields (§3),
// not `bad_message` for fields it would never read.
enum class Reader { any, driver };

// Checks a received payload, in the spec's order (size, no byte-order mark, nesting depth, JSON
// object, v, type, known type, the type's required fields) and returns the message. Throws
// ProtocolError whose code() is the protocol error code to answer with ("too_large", "bad_json",
// "too_deep", "bad_version", "bad_message", "unknown_type").
Message decode(std::string_view payload, Reader reader = Reader::any);
// The checks after parsing (JSON object, v, type, the type's fields), for JSON already in hand.
// Not a second decode(): a string literal would convert to either argument.
Message decode_object(const nlohmann::json& object, Reader reader = Reader::any);

// The message as one JSON object ("v", "type" and its fields; optional fields only when set), and
// as the payload to send. Invalid UTF-8 in strings is replaced, never thrown on: a message must
// always be sendable.
nlohmann::json to_json(const Message& message);
std::string encode(const Message& message);

// The instrument description in a decoded `welcome`; throws ProtocolError("bad_message") when
// an input is malformed (unknown type, low > high, no choices, duplicate names).
InstrumentInfo parse_welcome(const Welcome& welcome);

// Parses an input's JSON form (as in `welcome.inputs` and configs) into a Parameter.
Parameter parse_input(const nlohmann::json& input);

}  // namespace labloop::protocol
