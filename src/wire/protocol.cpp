#include "labloop/wire/protocol.hpp"

#include <fmt/format.h>

#include <climits>
#include <cmath>
#include <set>

#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"

namespace labloop::protocol {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& code, const std::string& message) { throw ProtocolError(code, message); }

// Counts code points so the 128-character limit means characters, as the spec says, not bytes.
std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

const json& require(const json& m, const char* field, const char* what) {
  auto it = m.find(field);
  if (it == m.end() || it->is_null()) bad("bad_message", fmt::format("{}: missing \"{}\"", m["type"].get<std::string>(), field));
  (void)what;
  return *it;
}

void require_string(const json& m, const char* field) {
  if (!require(m, field, "string").is_string())
    bad("bad_message", fmt::format("{}: \"{}\" must be a string", m["type"].get<std::string>(), field));
}

void require_experiment(const json& m) {
  require_string(m, "experiment");
  const auto& id = m["experiment"].get_ref<const std::string&>();
  if (id.empty() || utf8_length(id) > kMaxExperimentIdChars)
    bad("bad_message", fmt::format("{}: \"experiment\" must be 1 to {} characters", m["type"].get<std::string>(), kMaxExperimentIdChars));
}

void optional_number(const json& m, const char* field) {
  auto it = m.find(field);
  if (it != m.end() && !it->is_null() && (!it->is_number() || it->get<double>() < 0))
    bad("bad_message", fmt::format("{}: \"{}\" must be a number >= 0", m["type"].get<std::string>(), field));
}

void check_fields(const json& m) {
  const std::string& type = m["type"].get_ref<const std::string&>();
  if (type == "hello" || type == "ping") return;
  if (type == "run") {
    // "params" is checked by the driver after its cache lookup (spec §4.2: a repeated run of a
    // known id is answered from the cache whatever its params).
    require_experiment(m);
  } else if (type == "abort") {
    require_experiment(m);
  } else if (type == "welcome") {
    require_string(m, "driver");
    require_string(m, "version");
    if (!require(m, "inputs", "array").is_array()) bad("bad_message", "welcome: \"inputs\" must be an array");
    const json& outputs = require(m, "outputs", "array");
    if (!outputs.is_array()) bad("bad_message", "welcome: \"outputs\" must be an array of strings");
    for (const auto& o : outputs)
      if (!o.is_string() || o.get_ref<const std::string&>().empty()) bad("bad_message", "welcome: \"outputs\" must be non-empty strings");
    const json& capacity = require(m, "capacity", "integer");
    if (!capacity.is_number_integer() || capacity.get<long long>() < 1 || capacity.get<long long>() > INT_MAX)
      bad("bad_message", fmt::format("welcome: \"capacity\" must be an integer from 1 to {}", INT_MAX));
  } else if (type == "accepted") {
    require_experiment(m);
    optional_number(m, "expected_s");
    optional_number(m, "max_s");
  } else if (type == "rejected") {
    require_experiment(m);
    require_string(m, "reason");
  } else if (type == "result") {
    require_experiment(m);
    require_string(m, "status");
    const std::string& status = m["status"].get_ref<const std::string&>();
    if (status == "ok") {
      if (!require(m, "values", "object").is_object()) bad("bad_message", "result: \"values\" must be an object");
    } else if (status == "failed") {
      require_string(m, "error");
    } else {
      bad("bad_message", fmt::format("result: \"status\" must be \"ok\" or \"failed\", got \"{}\"", status));
    }
    if (m.contains("meta") && !m["meta"].is_null() && !m["meta"].is_object()) bad("bad_message", "result: \"meta\" must be an object");
  } else if (type == "pong") {
    if (!require(m, "running", "array").is_array()) bad("bad_message", "pong: \"running\" must be an array");
  } else if (type == "error") {
    require_string(m, "code");
    require_string(m, "message");
  } else {
    bad("unknown_type", fmt::format("unknown message type \"{}\"", type));
  }
}

json base(const char* type) { return json{{"v", kVersion}, {"type", type}}; }

}  // namespace

json decode(std::string_view payload) {
  if (payload.size() > kMaxMessageBytes)
    bad("too_large", fmt::format("message of {} bytes exceeds the {} byte limit", payload.size(), kMaxMessageBytes));
  // The spec forbids a byte-order mark; nlohmann would skip it silently, hiding a peer's bug that
  // stricter peers (Python's json.loads) reject.
  if (payload.starts_with("\xEF\xBB\xBF"))
    bad("bad_json", "message starts with a UTF-8 byte-order mark (EF BB BF); send the JSON object without it");
  if (const auto at = find_excess_nesting(payload, kMaxMessageDepth))
    bad("too_deep", fmt::format("message nests arrays/objects deeper than {} levels (at byte {}), the protocol's "
                                "limit; the sender must send flatter data (e.g. in \"meta\")",
                                kMaxMessageDepth, *at));
  json m;
  try {
    // nlohmann rejects invalid UTF-8 in strings, NaN/Infinity literals and trailing garbage.
    m = json::parse(payload.begin(), payload.end());
  } catch (const json::exception& e) {
    bad("bad_json", fmt::format("not valid UTF-8 JSON: {}", e.what()));
  }
  if (!m.is_object()) bad("bad_json", "message must be a JSON object");
  auto v = m.find("v");
  if (v == m.end() || !v->is_number() || v->get<double>() != kVersion)
    bad("bad_version", v == m.end() ? std::string("missing protocol version \"v\"; this peer speaks 1")
                                     : fmt::format("unsupported protocol version {}; this peer speaks 1", v->dump()));
  auto type = m.find("type");
  if (type == m.end() || !type->is_string()) bad("bad_message", "missing \"type\" (a string)");
  check_fields(m);
  return m;
}

// Invalid UTF-8 (a driver's error text, a parser message quoting the bad byte) is replaced
// rather than thrown on: a message must always be sendable.
std::string encode(const json& message) { return message.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

// Cuts at a character boundary, so truncation never creates invalid UTF-8.
std::string truncate_utf8(const std::string& s, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == max_chars) return s.substr(0, i);
  }
  return s;
}

}  // namespace

json hello(const std::string& controller, const std::string& campaign) {
  json m = base("hello");
  m["controller"] = controller;
  m["campaign"] = campaign;
  return m;
}

json run(const std::string& experiment, const Params& params) {
  json m = base("run");
  m["experiment"] = experiment;
  m["params"] = params;
  return m;
}

json ping() { return base("ping"); }

json abort(const std::string& experiment) {
  json m = base("abort");
  m["experiment"] = experiment;
  return m;
}

json welcome(const InstrumentInfo& info) {
  json m = base("welcome");
  m["driver"] = info.driver;
  m["version"] = info.version;
  m["inputs"] = json::array();
  for (const auto& p : info.inputs) m["inputs"].push_back(p.to_json());
  m["outputs"] = info.outputs;
  m["capacity"] = info.capacity;
  return m;
}

json accepted(const std::string& experiment, std::optional<double> expected_s, std::optional<double> max_s) {
  json m = base("accepted");
  m["experiment"] = experiment;
  if (expected_s) m["expected_s"] = *expected_s;
  if (max_s) m["max_s"] = *max_s;
  return m;
}

json rejected(const std::string& experiment, const std::string& reason) {
  json m = base("rejected");
  m["experiment"] = experiment;
  m["reason"] = reason;
  return m;
}

json result_ok(const std::string& experiment, const std::map<std::string, double>& values, const json& meta) {
  json m = base("result");
  m["experiment"] = experiment;
  m["status"] = "ok";
  m["values"] = json::object();
  for (const auto& [k, v] : values) m["values"][k] = v;
  if (!meta.is_null()) m["meta"] = meta;
  return m;
}

json result_failed(const std::string& experiment, const std::string& error_text, const json& meta) {
  json m = base("result");
  m["experiment"] = experiment;
  m["status"] = "failed";
  m["error"] = truncate_utf8(error_text, 4096);
  if (!meta.is_null()) m["meta"] = meta;
  return m;
}

json pong(const std::vector<std::string>& running, const std::map<std::string, double>& progress) {
  json m = base("pong");
  m["running"] = running;
  if (!progress.empty()) m["progress"] = progress;
  return m;
}

json error(const std::string& code, const std::string& message, const std::string& experiment) {
  json m = base("error");
  m["code"] = code;
  m["message"] = message;
  if (!experiment.empty()) m["experiment"] = experiment;
  return m;
}

Parameter parse_input(const json& input) {
  if (!input.is_object()) bad("bad_message", "welcome: each input must be an object");
  Parameter p;
  if (!input.contains("name") || !input["name"].is_string() || input["name"].get<std::string>().empty())
    bad("bad_message", "welcome: each input needs a non-empty \"name\"");
  p.name = input["name"];
  // Not input.value("type", ""): that throws json::type_error when "type" is not a string.
  const auto type_it = input.find("type");
  const std::string type = type_it != input.end() && type_it->is_string() ? type_it->get<std::string>() : "";
  if (input.contains("unit") && input["unit"].is_string()) p.unit = input["unit"];
  if (type == "categorical") {
    p.type = ParameterType::categorical;
    if (!input.contains("choices") || !input["choices"].is_array() || input["choices"].empty())
      bad("bad_message", fmt::format("welcome: input \"{}\" needs a non-empty \"choices\" array", p.name));
    for (const auto& c : input["choices"]) p.choices.push_back(c.is_string() ? c.get<std::string>() : c.dump());
    return p;
  }
  if (type == "continuous") p.type = ParameterType::continuous;
  else if (type == "integer") p.type = ParameterType::integer;
  else bad("bad_message", fmt::format("welcome: input \"{}\" has unknown type \"{}\"", p.name, type));
  if (!input.contains("low") || !input.contains("high") || !input["low"].is_number() || !input["high"].is_number())
    bad("bad_message", fmt::format("welcome: input \"{}\" needs numeric \"low\" and \"high\"", p.name));
  p.low = input["low"];
  p.high = input["high"];
  if (!std::isfinite(p.low) || !std::isfinite(p.high) || p.low > p.high)
    bad("bad_message", fmt::format("welcome: input \"{}\" needs finite low <= high", p.name));
  // Integral, and within long long, which is how Parameter::to_json writes integer bounds back.
  if (p.type == ParameterType::integer &&
      (p.low != std::floor(p.low) || p.high != std::floor(p.high) || !(std::fabs(p.low) < 0x1p63) || !(std::fabs(p.high) < 0x1p63)))
    bad("bad_message", fmt::format("welcome: integer input \"{}\" needs integral low and high", p.name));
  return p;
}

InstrumentInfo parse_welcome(const json& m) {
  InstrumentInfo info;
  info.driver = m.at("driver");
  info.version = m.at("version");
  std::set<std::string> names;
  for (const auto& input : m.at("inputs")) {
    info.inputs.push_back(parse_input(input));
    if (!names.insert(info.inputs.back().name).second)
      bad("bad_message", fmt::format("welcome: duplicate input \"{}\"", info.inputs.back().name));
  }
  for (const auto& o : m.at("outputs")) info.outputs.push_back(o);
  info.capacity = m.at("capacity");
  return info;
}

}  // namespace labloop::protocol
