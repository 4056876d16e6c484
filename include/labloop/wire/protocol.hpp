#pragma once
// Protocol v1 (docs/protocol.md is the normative spec): one ZeroMQ frame, one UTF-8 JSON object
// with "v": 1 and "type". This header builds and checks messages; it knows nothing of sockets.
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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

// Checks a received payload, in the spec's order (size, no byte-order mark, nesting depth, JSON
// object, v, type, known type, the type's required fields) and returns the parsed object. Throws
// ProtocolError whose code() is the protocol error code to answer with ("too_large", "bad_json",
// "too_deep", "bad_version", "bad_message", "unknown_type").
nlohmann::json decode(std::string_view payload);
std::string encode(const nlohmann::json& message);

// Builders, one per message type (controller → driver, then driver → controller).
nlohmann::json hello(const std::string& controller, const std::string& campaign);
nlohmann::json run(const std::string& experiment, const Params& params);
nlohmann::json ping();
nlohmann::json abort(const std::string& experiment);
nlohmann::json welcome(const InstrumentInfo& info);
nlohmann::json accepted(const std::string& experiment, std::optional<double> expected_s = {}, std::optional<double> max_s = {});
nlohmann::json rejected(const std::string& experiment, const std::string& reason);
nlohmann::json result_ok(const std::string& experiment, const std::map<std::string, double>& values, const nlohmann::json& meta = nullptr);
nlohmann::json result_failed(const std::string& experiment, const std::string& error, const nlohmann::json& meta = nullptr);
nlohmann::json pong(const std::vector<std::string>& running, const std::map<std::string, double>& progress = {});
nlohmann::json error(const std::string& code, const std::string& message, const std::string& experiment = {});

// The instrument description in a decoded `welcome`; throws ProtocolError("bad_message") when
// an input is malformed (unknown type, low > high, no choices, duplicate names).
InstrumentInfo parse_welcome(const nlohmann::json& welcome);

// Parses an input's JSON form (as in `welcome.inputs` and configs) into a Parameter.
Parameter parse_input(const nlohmann::json& input);

}  // namespace labloop::protocol
