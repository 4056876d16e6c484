#include "labloop/wire/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <set>

#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"

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

void require_campaign_id(const json& m) {
  require_string(m, "campaign_id");
  const auto& id = m["campaign_id"].get_ref<const std::string&>();
  if (id.empty() || utf8_length(id) > kMaxCampaignIdChars)
    bad("bad_message", fmt::format("{}: \"campaign_id\" must be 1 to {} characters", m["type"].get<std::string>(), kMaxCampaignIdChars));
}

void check_fields(const json& m) {
  const std::string& type = m["type"].get_ref<const std::string&>();
  if (type == "ping") return;
  if (type == "hello") {
    // Only a string is a campaign id; anything else is an old or foreign controller's field.
    if (const auto id = m.find("campaign_id"); id != m.end() && id->is_string()) require_campaign_id(m);
  } else if (type == "release" || type == "released") {
    require_campaign_id(m);
  } else if (type == "run") {
    // "params" is the driver's to check against its inputs (spec §4.2 steps 2-3), before its
    // cache is asked.
    require_experiment(m);
  } else if (type == "abort") {
    require_experiment(m);
  } else if (type == "welcome") {
    require_string(m, "driver");
    require_string(m, "version");
    if (!require(m, "inputs", "array").is_array()) bad("bad_message", "welcome: \"inputs\" must be an array");
    const json& outputs = require(m, "outputs", "array");
    if (!outputs.is_array()) bad("bad_message", "welcome: \"outputs\" must be an array of strings");
    // Distinct (§4.1): a result's values are keyed by output name, so a second one could never be given.
    std::set<std::string_view> names;
    for (const auto& o : outputs)
      if (!o.is_string() || o.get_ref<const std::string&>().empty()) bad("bad_message", "welcome: \"outputs\" must be non-empty strings");
      else if (!names.insert(o.get_ref<const std::string&>()).second)
        bad("bad_message", fmt::format("welcome: \"outputs\" lists \"{}\" twice; each output has its own name",
                                       truncate_utf8(o.get<std::string>(), 64)));
    const json& capacity = require(m, "capacity", "integer");
    if (!capacity.is_number_integer() || capacity.get<long long>() < 1 || capacity.get<long long>() > INT_MAX)
      bad("bad_message", fmt::format("welcome: \"capacity\" must be an integer from 1 to {}", INT_MAX));
    // Optional (v1 extended, §4.1); null counts as absent.
    if (const auto noise = m.find("noise"); noise != m.end() && !noise->is_null()) {
      if (!noise->is_object()) bad("bad_message", "welcome: \"noise\" must be an object of output names and standard deviations");
      for (const auto& [name, sd] : noise->items()) {
        if (std::find(outputs.begin(), outputs.end(), json(name)) == outputs.end())
          bad("bad_message", fmt::format("welcome: \"noise\" names \"{}\", which is not one of its outputs", name));
        if (!sd.is_number() || !(sd.get<double>() >= 0 && sd.get<double>() <= kMaxStatedNoise))
          bad("bad_message", fmt::format("welcome: the noise of \"{}\" must be a number from 0 to {:g} (a standard deviation), got {}", name,
                                         kMaxStatedNoise, sd.dump()));
      }
    }
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

// check_fields() has run: every required field is present with its type.
Message read_message(const json& m) {
  const std::string& type = m["type"].get_ref<const std::string&>();
  const auto string_at = [&m](const char* field) { return m[field].get<std::string>(); };
  const auto optional_string = [&m](const char* field) -> std::optional<std::string> {
    const auto it = m.find(field);
    if (it == m.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto present = [&m](const char* field) -> json {
    const auto it = m.find(field);
    return it == m.end() ? json(nullptr) : *it;
  };
  if (type == "hello") return Hello{optional_string("controller"), optional_string("campaign"), optional_string("campaign_id")};
  if (type == "release") return Release{string_at("campaign_id")};
  if (type == "released") return Released{string_at("campaign_id")};
  if (type == "run") return Run{string_at("experiment"), present("params")};
  if (type == "ping") return Ping{};
  if (type == "abort") return Abort{string_at("experiment")};
  if (type == "welcome") {
    Welcome w{string_at("driver"), string_at("version"), m["inputs"], {}, m["capacity"].get<int>(), std::nullopt};
    for (const auto& o : m["outputs"]) w.outputs.push_back(o.get<std::string>());
    if (const auto holder = m.find("holder"); holder != m.end() && holder->is_object()) {
      const auto text = [&holder](const char* field) -> std::optional<std::string> {
        const auto it = holder->find(field);
        return it != holder->end() && it->is_string() ? std::optional<std::string>(it->get<std::string>()) : std::nullopt;
      };
      // Its times and key go into the journal: a field that is not what §12 says is dropped, not
      // recorded as sent (a 5000-character "since", a "controller" that is no key fingerprint).
      const auto time = [&text](const char* field) {
        auto t = text(field);
        return t && is_utc_iso(*t) ? t : std::nullopt;
      };
      auto controller = text("controller");
      if (controller && !is_key_fingerprint(*controller)) controller.reset();
      if (auto id = text("campaign_id")) w.holder = Holder{std::move(*id), time("since").value_or(""), time("until"), std::move(controller)};
    }
    if (const auto noise = m.find("noise"); noise != m.end() && noise->is_object())
      for (const auto& [name, sd] : noise->items()) w.noise[name] = sd.get<double>();
    return w;
  }
  if (type == "accepted") return Accepted{string_at("experiment"), present("expected_s"), present("max_s")};
  if (type == "rejected") return Rejected{string_at("experiment"), string_at("reason")};
  if (type == "result") {
    Result r{string_at("experiment"), ResultStatus::ok, nullptr, {}, present("meta")};
    if (m["status"] == "ok") {
      r.values = m["values"];
    } else {
      r.status = ResultStatus::failed;
      r.error = string_at("error");
    }
    return r;
  }
  if (type == "pong") {
    Pong p;
    for (const auto& id : m["running"])
      if (id.is_string()) p.running.push_back(id.get<std::string>());
    if (const auto progress = m.find("progress"); progress != m.end() && progress->is_object())
      for (const auto& [id, fraction] : progress->items())
        if (fraction.is_number()) p.progress[id] = fraction.get<double>();
    return p;
  }
  return Error{string_at("code"), string_at("message"), optional_string("experiment")};  // check_fields knows no other type
}

// In the order of Message's alternatives.
constexpr std::array<std::string_view, std::variant_size_v<Message>> kTypeNames{
    "hello", "run", "ping", "abort", "welcome", "accepted", "rejected", "result", "pong", "error", "release", "released"};

}  // namespace

std::string truncate_utf8(const std::string& s, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == max_chars) return s.substr(0, i);
  }
  return s;
}

std::string kept_text(const std::string& s) {
  if (s.size() <= kMaxErrorChars) return s;  // bytes ≥ characters
  const std::string kept = truncate_utf8(s, kMaxErrorChars);
  if (kept.size() == s.size()) return s;
  return fmt::format("{} … ({} more characters not kept: the protocol asks for at most {})", kept, character_count(s) - kMaxErrorChars,
                     kMaxErrorChars);
}

Message decode(std::string_view payload, Reader reader) {
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
  // nlohmann's lexer takes a NUL byte for the end of the text: {"type":"ping"}\0garbage parsed as
  // a ping. JSON text holds none (a string writes it \u0000).
  if (const auto nul = payload.find('\0'); nul != std::string_view::npos)
    bad("bad_json", fmt::format("message holds a NUL byte (at byte {}), which JSON text never does (in a string it is \\u0000)", nul));
  json m;
  // A key twice in one object: nlohmann keeps the last, other readers the first or refuse it (RFC
  // 8259 §4), so {"y": 1, "y": 2} could be recorded as one value and shown as the other.
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> repeated_key;
  const json::parser_callback_t note_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    else if (event == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    else if (event == json::parse_event_t::key && !open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
             !repeated_key)
      repeated_key = parsed.get<std::string>();
    return true;
  };
  try {
    // nlohmann rejects invalid UTF-8 in strings, NaN/Infinity literals and trailing garbage.
    m = json::parse(payload.begin(), payload.end(), note_keys);
  } catch (const json::out_of_range& e) {
    // 1e999 is valid JSON text, but no double holds it (nor any JSON library's number).
    bad("bad_json", fmt::format("a number too large for a double (past 1.8e308, such as 1e999): {}", e.what()));
  } catch (const json::exception& e) {
    bad("bad_json", fmt::format("not valid UTF-8 JSON: {}", e.what()));
  }
  if (repeated_key)
    bad("bad_json", fmt::format("an object holds the key \"{}\" twice; JSON readers differ on which one counts, so each key may appear once "
                                "per object",
                                printable(truncate_utf8(*repeated_key, 100))));
  return decode_object(m, reader);
}

Message decode_object(const json& m, Reader reader) {
  if (!m.is_object()) bad("bad_json", "message must be a JSON object");
  auto v = m.find("v");
  if (v == m.end() || !v->is_number() || v->get<double>() != kVersion)
    bad("bad_version", v == m.end() ? std::string("missing protocol version \"v\"; this peer speaks 1")
                                     : v->is_number() ? fmt::format("unsupported protocol version {}; this peer speaks 1", v->dump())
                                                      : fmt::format("protocol version {} must be a number: write \"v\": 1", protocol::truncate_utf8(v->dump(), 64)));
  auto type = m.find("type");
  if (type == m.end() || !type->is_string()) bad("bad_message", "missing \"type\" (a string)");
  if (reader == Reader::driver) {
    static constexpr std::array<std::string_view, 6> kDriverSends{"welcome", "accepted", "rejected", "result", "pong", "released"};
    const std::string& name = type->get_ref<const std::string&>();
    if (std::find(kDriverSends.begin(), kDriverSends.end(), name) != kDriverSends.end())
      bad("unknown_type", fmt::format("a driver does not handle \"{}\" messages", name));
  }
  check_fields(m);
  return read_message(m);
}

std::string_view type_name(const Message& message) { return kTypeNames[message.index()]; }

namespace {

// One writer per message type: its fields, optional ones only when set.
template <class T>
void put_optional(json& m, const char* field, const std::optional<T>& value) {
  if (value) m[field] = *value;
}
void put_unless_null(json& m, const char* field, const json& value) {
  if (!value.is_null()) m[field] = value;
}

void write(json& m, const Hello& x) {
  put_optional(m, "controller", x.controller);
  put_optional(m, "campaign", x.campaign);
  put_optional(m, "campaign_id", x.campaign_id);
}
void write(json& m, const Release& x) { m["campaign_id"] = x.campaign_id; }
void write(json& m, const Released& x) { m["campaign_id"] = x.campaign_id; }
void write(json& m, const Run& x) {
  m["experiment"] = x.experiment;
  m["params"] = x.params;
}
void write(json&, const Ping&) {}
void write(json& m, const Abort& x) { m["experiment"] = x.experiment; }
void write(json& m, const Welcome& x) {
  m["driver"] = x.driver;
  m["version"] = x.version;
  m["inputs"] = x.inputs;
  m["outputs"] = x.outputs;
  m["capacity"] = x.capacity;
  if (x.holder) {
    json holder{{"campaign_id", x.holder->campaign_id}, {"since", x.holder->since}};
    put_optional(holder, "until", x.holder->until);
    put_optional(holder, "controller", x.holder->controller);
    m["holder"] = std::move(holder);
  }
  if (!x.noise.empty()) m["noise"] = x.noise;
}
void write(json& m, const Accepted& x) {
  m["experiment"] = x.experiment;
  put_unless_null(m, "expected_s", x.expected_s);
  put_unless_null(m, "max_s", x.max_s);
}
void write(json& m, const Rejected& x) {
  m["experiment"] = x.experiment;
  m["reason"] = x.reason;
}
void write(json& m, const Result& x) {
  m["experiment"] = x.experiment;
  if (x.status == ResultStatus::ok) {
    m["status"] = "ok";
    m["values"] = x.values.is_null() ? json::object() : x.values;
  } else {
    m["status"] = "failed";
    m["error"] = x.error;
  }
  put_unless_null(m, "meta", x.meta);
}
void write(json& m, const Pong& x) {
  m["running"] = x.running;
  if (!x.progress.empty()) m["progress"] = x.progress;
}
void write(json& m, const Error& x) {
  m["code"] = x.code;
  m["message"] = x.message;
  put_optional(m, "experiment", x.experiment);
}

}  // namespace

json to_json(const Message& message) {
  json m{{"v", kVersion}, {"type", type_name(message)}};
  std::visit([&m](const auto& x) { write(m, x); }, message);
  return m;
}

// Invalid UTF-8 (a driver's error text, a parser message quoting the bad byte) is replaced
// rather than thrown on: a message must always be sendable.
std::string encode(const Message& message) { return to_json(message).dump(-1, ' ', false, json::error_handler_t::replace); }

Welcome Welcome::of(const InstrumentInfo& info) {
  Welcome w{info.driver, info.version, json::array(), info.outputs, info.capacity, std::nullopt, info.noise};
  for (const auto& p : info.inputs) w.inputs.push_back(p.to_json());
  return w;
}

Accepted Accepted::of(std::string experiment, std::optional<double> expected_s, std::optional<double> max_s) {
  return Accepted{std::move(experiment), expected_s ? json(*expected_s) : json(nullptr), max_s ? json(*max_s) : json(nullptr)};
}

Result Result::ok(std::string experiment, const std::map<std::string, double>& values, json meta) {
  Result r{std::move(experiment), ResultStatus::ok, json::object(), {}, std::move(meta)};
  for (const auto& [name, value] : values) r.values[name] = value;
  return r;
}

Result Result::failed(std::string experiment, const std::string& error, json meta) {
  return Result{std::move(experiment), ResultStatus::failed, nullptr, truncate_utf8(error, kMaxErrorChars), std::move(meta)};
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
    // labloop sends a choice as a JSON string, and the driver compares JSON values ("1" is not 1):
    // a choice of another type can never be sent, so it is not one labloop may match by its text.
    std::vector<std::string> others;
    for (const auto& c : input["choices"]) {
      if (c.is_string()) p.choices.push_back(c.get<std::string>());
      else if (others.size() < 5) others.push_back(c.dump());
    }
    if (p.choices.empty())
      bad("bad_message", fmt::format("welcome: categorical input \"{}\" has no string among its choices ({}{}); labloop sends a choice "
                                     "as a JSON string, so declare them as strings (\"1\", not 1)",
                                     p.name, fmt::join(others, ", "), input["choices"].size() > others.size() ? ", …" : ""));
    return p;
  }
  if (type == "discrete") {
    // Protocol v1 extended: only a driver that declares a discrete input sends one.
    p.type = ParameterType::discrete;
    const auto values = input.find("values");
    if (values == input.end() || !values->is_array() || values->empty() || values->size() > kMaxDiscreteLevels)
      bad("bad_message", fmt::format("welcome: discrete input \"{}\" needs a \"values\" array of 1 to {} numbers", p.name, kMaxDiscreteLevels));
    for (const auto& v : *values) {
      if (!v.is_number() || !std::isfinite(v.get<double>()))
        bad("bad_message", fmt::format("welcome: discrete input \"{}\" has a level that is not a finite number ({})", p.name, v.dump()));
      p.values.push_back(v.get<double>());
    }
    std::sort(p.values.begin(), p.values.end());
    for (size_t k = 1; k < p.values.size(); ++k)
      if (p.values[k] - p.values[k - 1] <= p.level_tolerance())
        bad("bad_message", fmt::format("welcome: discrete input \"{}\" lists the level {} twice", p.name, p.values[k]));
    p.low = p.values.front();
    p.high = p.values.back();
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

InstrumentInfo parse_welcome(const Welcome& welcome) {
  InstrumentInfo info;
  info.driver = welcome.driver;
  info.version = welcome.version;
  std::set<std::string> names;
  if (welcome.inputs.size() > kMaxInputs)
    bad("bad_message", fmt::format("welcome: {} inputs; at most {} are allowed (a campaign names every input of its instrument, and has at most "
                                   "{} parameters)",
                                   welcome.inputs.size(), kMaxInputs, kMaxInputs));
  for (const auto& input : welcome.inputs) {
    info.inputs.push_back(parse_input(input));
    if (!names.insert(info.inputs.back().name).second)
      bad("bad_message", fmt::format("welcome: duplicate input \"{}\"", info.inputs.back().name));
  }
  info.outputs = welcome.outputs;
  info.capacity = welcome.capacity;
  info.noise = welcome.noise;
  return info;
}

}  // namespace labloop::protocol
