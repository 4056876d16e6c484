// Unit tests of the protocol v1 codec (docs/protocol.md): decode()'s error codes in the spec's
// check order, the typed messages, parse_welcome and the limits. tests/unit/protocol_codec_test.cpp
// covers each message type's round trip and bytes.
#include "labloop/wire/protocol.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "labloop/core/error.hpp"
#include "labloop/wire/endpoint.hpp"
#include "test_support.hpp"

namespace {

using json = nlohmann::json;
namespace protocol = labloop::protocol;

// The ProtocolError code decode() answers with, or "" when it accepts the payload.
std::string decode_code(std::string_view payload) {
  try {
    protocol::decode(payload);
    return "";
  } catch (const labloop::ProtocolError& e) {
    return e.code();
  }
}

std::string parse_welcome_code(const json& welcome) {
  try {
    protocol::parse_welcome(std::get<protocol::Welcome>(protocol::decode(welcome.dump())));
    return "";
  } catch (const labloop::ProtocolError& e) {
    return e.code();
  }
}

std::string repeat(std::string_view unit, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += unit;
  return s;
}

std::string run_with_id(const std::string& id) {
  return json{{"v", 1}, {"type", "run"}, {"experiment", id}, {"params", json::object()}}.dump();
}

json welcome_with_inputs(json inputs) {
  return json{{"v", 1},          {"type", "welcome"},      {"driver", "d"}, {"version", "1"},
              {"inputs", inputs}, {"outputs", {"y"}},        {"capacity", 1}};
}

labloop::Parameter continuous(const std::string& name, double low, double high, const std::string& unit = {}) {
  labloop::Parameter p;
  p.name = name;
  p.type = labloop::ParameterType::continuous;
  p.low = low;
  p.high = high;
  p.unit = unit;
  return p;
}

}  // namespace

TEST_CASE("decode answers too_large for a payload over 1 MiB before parsing it", "[protocol]") {
  CHECK(decode_code(std::string(protocol::kMaxMessageBytes + 1, 'x')) == "too_large");
  // Exactly at the limit is fine.
  std::string at_limit = R"({"v":1,"type":"ping","pad":")";
  const std::string tail = "\"}";
  at_limit += std::string(protocol::kMaxMessageBytes - at_limit.size() - tail.size(), 'a') + tail;
  REQUIRE(at_limit.size() == protocol::kMaxMessageBytes);
  CHECK(decode_code(at_limit) == "");
  // A large but valid message one byte over the limit is still too_large, not parsed.
  CHECK(decode_code(at_limit + " ") == "too_large");
}

TEST_CASE("decode answers bad_json for invalid JSON or UTF-8 or a non-object", "[protocol]") {
  CHECK(decode_code("") == "bad_json");
  CHECK(decode_code("not json") == "bad_json");
  CHECK(decode_code(R"({"v":1,"type":"ping")") == "bad_json");
  CHECK(decode_code(R"({"v":1,"type":"ping"} trailing)") == "bad_json");
  CHECK(decode_code("{\"v\":1,\"type\":\"ping\",\"x\":\"\xff\xfe\"}") == "bad_json");
  CHECK(decode_code("{\"v\":1,\"type\":\"ping\",\"x\":\"\xc3\"}") == "bad_json");  // truncated sequence
  CHECK(decode_code(R"([{"v":1,"type":"ping"}])") == "bad_json");
  CHECK(decode_code(R"("ping")") == "bad_json");
  CHECK(decode_code("42") == "bad_json");
  CHECK(decode_code("null") == "bad_json");
  CHECK(decode_code(R"({"v":1,"type":"ping","x":NaN})") == "bad_json");
  CHECK(decode_code(R"({"v":1,"type":"ping","x":Infinity})") == "bad_json");
  // bad_json is checked before v: an array without v is bad_json, not bad_version.
  CHECK(decode_code("[]") == "bad_json");
}

TEST_CASE("decode answers bad_json for a key twice in one object, which readers take differently", "[protocol]") {
  // nlohmann kept the last "y", Python's json.loads keeps the last too, others the first: a result
  // could be recorded as one value and shown as the other (red-team report).
  CHECK(decode_code(R"({"v":1,"type":"ping","type":"pong"})") == "bad_json");
  const std::string twice = R"({"v":1,"type":"result","experiment":"e-1","status":"ok","values":{"y":1,"y":2}})";
  CHECK(decode_code(twice) == "bad_json");
  CHECK_THAT(labloop::test::message_of([&] { protocol::decode(twice); }), Catch::Contains("holds the key \"y\" twice"));
  // One name in two objects is no repeat, nor one in an object and in an array's objects.
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e-1","status":"ok","values":{"y":1},"meta":{"y":2,"runs":[{"y":3},{"y":4}]}})") == "");
}

TEST_CASE("decode answers bad_json for a payload that starts with a byte-order mark", "[protocol]") {
  // The spec forbids it; nlohmann alone would skip it and accept the message.
  CHECK(decode_code("\xEF\xBB\xBF{\"v\":1,\"type\":\"ping\"}") == "bad_json");
  CHECK(decode_code("\xEF\xBB\xBF") == "bad_json");
  CHECK(decode_code("{\"v\":1,\"type\":\"ping\",\"x\":\"\xEF\xBB\xBF\"}") == "");  // U+FEFF inside a string is text
}

namespace {

// A valid ok result whose "meta" (or "values") holds `arrays` nested arrays: the message object is
// level 1 and meta level 2, so its whole depth is arrays + 2.
std::string deep_result(std::size_t arrays, const char* field = "meta") {
  const std::string nest = repeat("[", arrays) + repeat("]", arrays);
  if (std::string_view(field) == "values")
    return R"({"v":1,"type":"result","experiment":"e-1","status":"ok","values":{"y":)" + nest + "}}";
  return R"({"v":1,"type":"result","experiment":"e-1","status":"ok","values":{"y":1},"meta":{"m":)" + nest + "}}";
}

}  // namespace

TEST_CASE("decode answers too_deep for a message nested deeper than 64 levels, before parsing", "[protocol]") {
  STATIC_REQUIRE(protocol::kMaxMessageDepth == 64);
  CHECK(decode_code(deep_result(100000)) == "too_deep");
  CHECK(decode_code(deep_result(100000, "values")) == "too_deep");
  CHECK(decode_code(deep_result(protocol::kMaxMessageDepth - 2)) == "");
  CHECK(decode_code(deep_result(protocol::kMaxMessageDepth - 1)) == "too_deep");
  CHECK(decode_code(deep_result(protocol::kMaxMessageDepth - 1, "values")) == "too_deep");
  try {
    protocol::decode(deep_result(100000));
    FAIL("accepted");
  } catch (const labloop::ProtocolError& e) {
    CHECK(std::string(e.what()) ==
          "message nests arrays/objects deeper than 64 levels (at byte 147), the protocol's limit; the sender must send "
          "flatter data (e.g. in \"meta\")");
  }
  // 100,000 brackets inside a string are text, not nesting.
  const std::string text = R"({"v":1,"type":"result","experiment":"e-1","status":"ok","values":{"y":1},"meta":{"note":")" +
                           repeat("[", 100000) + repeat("]", 100000) + "\"}}";
  CHECK(decode_code(text) == "");
  // Size is checked first: a deep payload over 1 MiB is too_large.
  CHECK(decode_code(repeat("[", protocol::kMaxMessageBytes + 1)) == "too_large");
}

TEST_CASE("decode answers bad_version unless v is a number equal to 1", "[protocol]") {
  CHECK(decode_code(R"({"type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":"1","type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":2,"type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":0,"type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":1.5,"type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":true,"type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":null,"type":"ping"})") == "bad_version");
  CHECK(decode_code(R"({"v":1,"type":"ping"})") == "");
  CHECK(decode_code(R"({"v":1.0,"type":"ping"})") == "");
  // v is checked before type and before the type's fields.
  CHECK(decode_code(R"({"v":2})") == "bad_version");
  CHECK(decode_code(R"({"v":2,"type":"no_such_type"})") == "bad_version");
  CHECK(decode_code(R"({"v":2,"type":"run"})") == "bad_version");
}

TEST_CASE("decode answers bad_message for a missing type or bad required fields", "[protocol]") {
  CHECK(decode_code(R"({"v":1})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":5})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":null})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"run","params":{}})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"run","experiment":7,"params":{}})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"run","experiment":"","params":{}})") == "bad_message");
  // A run's params are the driver's to check, before its cache lookup (spec 4.2 step 2).
  CHECK(decode_code(R"({"v":1,"type":"run","experiment":"e"})").empty());
  CHECK(decode_code(R"({"v":1,"type":"run","experiment":"e","params":[1]})").empty());
  CHECK(decode_code(R"({"v":1,"type":"abort"})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"abort","experiment":""})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e","status":"maybe"})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e","status":"ok"})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e","status":"ok","values":[1]})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e","status":"failed"})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e","status":"failed","error":"x","meta":3})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"accepted","experiment":"e","expected_s":-1})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"rejected","experiment":"e"})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"pong"})") == "bad_message");
  CHECK(decode_code(R"({"v":1,"type":"error","code":"x"})") == "bad_message");

  const json welcome = json::parse(R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":["y"],"capacity":1})");
  CHECK(decode_code(welcome.dump()) == "");
  for (const json& capacity : {json(0), json(-1), json(1.5), json("1"), json(nullptr)}) {
    json w = welcome;
    w["capacity"] = capacity;
    INFO("capacity " << capacity.dump());
    CHECK(decode_code(w.dump()) == "bad_message");
  }
  json no_outputs = welcome;
  no_outputs["outputs"] = json::array({""});
  CHECK(decode_code(no_outputs.dump()) == "bad_message");
}

TEST_CASE("decode limits experiment ids to 128 characters counted as code points", "[protocol]") {
  CHECK(decode_code(run_with_id(std::string(128, 'a'))) == "");
  CHECK(decode_code(run_with_id(std::string(129, 'a'))) == "bad_message");
  // 128 two-byte characters (256 bytes) and 128 four-byte characters are still 128 characters.
  CHECK(decode_code(run_with_id(repeat("\xc3\xa9", 128))) == "");
  CHECK(decode_code(run_with_id(repeat("\xf0\x9f\x94\xac", 128))) == "");
  CHECK(decode_code(run_with_id(repeat("\xc3\xa9", 129))) == "bad_message");
}

TEST_CASE("decode answers unknown_type for a type it does not know and ignores unknown fields", "[protocol]") {
  CHECK(decode_code(R"({"v":1,"type":"no_such_type"})") == "unknown_type");
  CHECK(decode_code(R"({"v":1,"type":"Ping"})") == "unknown_type");
  CHECK(decode_code(R"({"v":1,"type":""})") == "unknown_type");
  // Unknown extra fields and null optional fields are fine.
  CHECK(decode_code(R"({"v":1,"type":"ping","future":{"a":[1,2]}})") == "");
  CHECK(decode_code(R"({"v":1,"type":"hello"})") == "");
  CHECK(decode_code(R"({"v":1,"type":"hello","controller":5,"campaign":null})") == "");
  CHECK(decode_code(R"({"v":1,"type":"accepted","experiment":"e","expected_s":null,"max_s":3})") == "");
  CHECK(decode_code(R"({"v":1,"type":"result","experiment":"e","status":"failed","error":"x","meta":null})") == "");
}

TEST_CASE("decode returns the typed message", "[protocol]") {
  const protocol::Message m = protocol::decode(R"({"v":1,"type":"run","experiment":"q-1","params":{"x1":1.5,"s":"THF"}})");
  CHECK(protocol::type_name(m) == "run");
  const auto& run = std::get<protocol::Run>(m);
  CHECK(run.experiment == "q-1");
  CHECK(run.params["x1"] == 1.5);
  CHECK(run.params["s"] == "THF");
}

TEST_CASE("Every message type encodes to a message that decode gives back unchanged", "[protocol]") {
  labloop::InstrumentInfo info;
  info.driver = "test-driver";
  info.version = "0.1.0";
  info.inputs.push_back(continuous("x1", -5, 10, "mL"));
  labloop::Parameter cycles;
  cycles.name = "cycles";
  cycles.type = labloop::ParameterType::integer;
  cycles.low = 1;
  cycles.high = 8;
  info.inputs.push_back(cycles);
  labloop::Parameter solvent;
  solvent.name = "solvent";
  solvent.type = labloop::ParameterType::categorical;
  solvent.choices = {"THF", "DMF"};
  info.inputs.push_back(solvent);
  info.outputs = {"y", "purity"};
  info.capacity = 3;

  const std::vector<protocol::Message> messages = {
      protocol::Hello{"labloop 0.1.0", "quickstart"},
      protocol::Run{"quickstart-0007", json{{"x1", 1.5}, {"cycles", 3}, {"solvent", "THF"}}},
      protocol::Ping{},
      protocol::Abort{"quickstart-0007"},
      protocol::Welcome::of(info),
      protocol::Accepted::of("quickstart-0007"),
      protocol::Accepted::of("quickstart-0007", 2.0, 60.0),
      protocol::Rejected{"quickstart-0007", "x1=12 outside limits [-5, 10]"},
      protocol::Result::ok("quickstart-0007", {{"y", 0.42}, {"purity", 0.9}}),
      protocol::Result::ok("quickstart-0007", {{"y", 0.42}}, json{{"run_seq", 7}}),
      protocol::Result::failed("quickstart-0007", "pump pressure too high"),
      protocol::Result::failed("quickstart-0007", "pump pressure too high", json{{"duration_s", 2.0}}),
      protocol::Pong{},
      protocol::Pong{{"a", "b"}, {{"a", 0.4}}},
      protocol::Error{"bad_json", "not JSON"},
      protocol::Error{"unknown_experiment", "no experiment q-0099 is running or finished", "q-0099"},
  };
  for (const auto& m : messages) {
    const json object = protocol::to_json(m);
    INFO(object.dump());
    CHECK(object["v"] == protocol::kVersion);
    CHECK(object["type"] == protocol::type_name(m));
    const std::string text = protocol::encode(m);
    CHECK(text.find('\n') == std::string::npos);
    protocol::Message decoded;
    REQUIRE_NOTHROW(decoded = protocol::decode(text));
    CHECK(decoded == m);
    CHECK(protocol::to_json(decoded) == object);
  }
}

TEST_CASE("Encoding writes the fields the spec requires and optional ones only when set", "[protocol]") {
  const json a = protocol::to_json(protocol::Accepted::of("e"));
  CHECK_FALSE(a.contains("expected_s"));
  CHECK_FALSE(a.contains("max_s"));
  const json a2 = protocol::to_json(protocol::Accepted::of("e", 2.0, 16.0));
  CHECK(a2["expected_s"] == 2.0);
  CHECK(a2["max_s"] == 16.0);

  const json ok = protocol::to_json(protocol::Result::ok("e", {{"y", 0.5}}));
  CHECK(ok["status"] == "ok");
  CHECK(ok["values"] == json{{"y", 0.5}});
  CHECK_FALSE(ok.contains("meta"));

  const json failed = protocol::to_json(protocol::Result::failed("e", "boom"));
  CHECK(failed["status"] == "failed");
  CHECK(failed["error"] == "boom");
  CHECK_FALSE(failed.contains("values"));

  const json pong = protocol::to_json(protocol::Pong{{"a", "b"}, {{"a", 0.25}}});
  CHECK(pong["running"] == json{"a", "b"});
  CHECK(pong["progress"]["a"] == 0.25);
  CHECK_FALSE(protocol::to_json(protocol::Pong{}).contains("progress"));
  CHECK(protocol::to_json(protocol::Pong{})["running"].is_array());

  CHECK_FALSE(protocol::to_json(protocol::Error{"bad_json", "m"}).contains("experiment"));
  CHECK(protocol::to_json(protocol::Error{"unknown_experiment", "m", "q"})["experiment"] == "q");
}

TEST_CASE("Result::failed truncates the error text to 4096 characters", "[protocol]") {
  const protocol::Result long_failure = protocol::Result::failed("e", std::string(10000, 'x'));
  CHECK(long_failure.error == std::string(4096, 'x'));
  CHECK(protocol::Result::failed("e", std::string(4096, 'z')).error.size() == 4096);
  CHECK(protocol::Result::failed("e", "short").error == "short");
  CHECK(decode_code(protocol::encode(long_failure)) == "");
}

TEST_CASE("parse_welcome turns the inputs into Parameters", "[protocol]") {
  const auto welcome = std::get<protocol::Welcome>(protocol::decode(R"({"v":1,"type":"welcome","driver":"labloop-sim","version":"0.1.0",
    "inputs":[{"name":"x1","type":"continuous","low":-5,"high":10,"unit":"mL"},
              {"name":"cycles","type":"integer","low":1,"high":8},
              {"name":"solvent","type":"categorical","choices":["THF","DMF"],"unit":"-"}],
    "outputs":["y","purity"],"capacity":2,"future_field":true})"));
  const labloop::InstrumentInfo info = protocol::parse_welcome(welcome);
  CHECK(info.driver == "labloop-sim");
  CHECK(info.version == "0.1.0");
  CHECK(info.outputs == std::vector<std::string>{"y", "purity"});
  CHECK(info.capacity == 2);
  REQUIRE(info.inputs.size() == 3);

  CHECK(info.inputs[0].name == "x1");
  CHECK(info.inputs[0].type == labloop::ParameterType::continuous);
  CHECK(info.inputs[0].low == -5.0);
  CHECK(info.inputs[0].high == 10.0);
  CHECK(info.inputs[0].unit == "mL");

  CHECK(info.inputs[1].name == "cycles");
  CHECK(info.inputs[1].type == labloop::ParameterType::integer);
  CHECK(info.inputs[1].low == 1.0);
  CHECK(info.inputs[1].high == 8.0);
  CHECK(info.inputs[1].unit.empty());

  CHECK(info.inputs[2].name == "solvent");
  CHECK(info.inputs[2].type == labloop::ParameterType::categorical);
  CHECK(info.inputs[2].choices == std::vector<std::string>{"THF", "DMF"});
  CHECK(info.inputs[2].unit == "-");
}

TEST_CASE("parse_welcome of Welcome::of gives back the InstrumentInfo", "[protocol]") {
  labloop::InstrumentInfo info;
  info.driver = "round-trip";
  info.version = "2";
  info.inputs = {continuous("a", -1.5, 2.25, "K"), continuous("b", 0, 0)};
  info.outputs = {"y"};
  info.capacity = 4;
  const labloop::InstrumentInfo back = protocol::parse_welcome(std::get<protocol::Welcome>(protocol::decode(protocol::encode(protocol::Welcome::of(info)))));
  CHECK(back.driver == info.driver);
  CHECK(back.version == info.version);
  CHECK(back.outputs == info.outputs);
  CHECK(back.capacity == info.capacity);
  REQUIRE(back.inputs.size() == 2);
  CHECK(back.inputs[0].name == "a");
  CHECK(back.inputs[0].low == -1.5);
  CHECK(back.inputs[0].high == 2.25);
  CHECK(back.inputs[0].unit == "K");
  CHECK(back.inputs[1].low == 0.0);
  CHECK(back.inputs[1].high == 0.0);  // low == high is allowed (inclusive bounds)
}

TEST_CASE("parse_welcome rejects malformed inputs with bad_message", "[protocol]") {
  const json x = {{"name", "x"}, {"type", "continuous"}, {"low", 0}, {"high", 1}};
  CHECK(parse_welcome_code(welcome_with_inputs(json::array({x}))) == "");
  CHECK(parse_welcome_code(welcome_with_inputs(json::array({x, x}))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"x","type":"continuous","low":2,"high":1}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"n","type":"integer","low":5,"high":3}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"x","type":"complex","low":0,"high":1}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"x","low":0,"high":1}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"s","type":"categorical","choices":[]}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"s","type":"categorical"}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"x","type":"continuous","low":0}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"x","type":"continuous","low":"0","high":1}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"","type":"continuous","low":0,"high":1}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"type":"continuous","low":0,"high":1}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([3])"))) == "bad_message");
  // At most 1000 inputs: no campaign (at most 1000 parameters, naming every input) could use more.
  json many = json::array();
  for (int i = 0; i < 1001; ++i) many.push_back({{"name", "p" + std::to_string(i)}, {"type", "continuous"}, {"low", 0}, {"high", 1}});
  CHECK(parse_welcome_code(welcome_with_inputs(many)) == "bad_message");
  many.erase(many.size() - 1);
  CHECK(parse_welcome_code(welcome_with_inputs(many)).empty());
  // labloop sends choices as strings: a driver whose choices are all numbers could never be sent one.
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"c","type":"categorical","choices":[1,2]}])"))) == "bad_message");
}

TEST_CASE("A choice that is not a string is not one labloop may send: 1 is not \"1\" (protocol §4.1)", "[protocol]") {
  const auto welcome = std::get<protocol::Welcome>(protocol::decode(
      welcome_with_inputs(json::parse(R"([{"name":"c","type":"categorical","choices":[1,"2",{"a":1},null]}])")).dump()));
  CHECK(protocol::parse_welcome(welcome).inputs.at(0).choices == std::vector<std::string>{"2"});
}

TEST_CASE("A discrete input in welcome round-trips through encode and parse_welcome, its levels sorted", "[protocol][discrete]") {
  labloop::InstrumentInfo info;
  info.driver = "levels";
  info.version = "1";
  info.inputs = {labloop::Parameter{.name = "conc", .type = labloop::ParameterType::discrete, .low = 0.057, .high = 0.153, .unit = "M",
                                    .values = {0.057, 0.1, 0.153}}};
  info.outputs = {"y"};
  const std::string wire = protocol::encode(protocol::Welcome::of(info));
  CHECK(json::parse(wire)["inputs"][0] == json::parse(R"({"name": "conc", "type": "discrete", "values": [0.057, 0.1, 0.153], "unit": "M"})"));
  const labloop::InstrumentInfo back = protocol::parse_welcome(std::get<protocol::Welcome>(protocol::decode(wire)));
  REQUIRE(back.inputs.size() == 1);
  CHECK(back.inputs[0].type == labloop::ParameterType::discrete);
  CHECK(back.inputs[0].values == info.inputs[0].values);
  CHECK(back.inputs[0].low == 0.057);
  CHECK(back.inputs[0].high == 0.153);
  CHECK(back.inputs[0].unit == "M");
  // A driver may list them in any order.
  const auto unsorted = protocol::parse_welcome(std::get<protocol::Welcome>(
      protocol::decode(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete","values":[80,25,60]}])")).dump())));
  CHECK(unsorted.inputs[0].values == std::vector<double>{25, 60, 80});
}

TEST_CASE("parse_welcome rejects a discrete input without a list of distinct numeric levels", "[protocol][discrete]") {
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete","values":[1]}])"))) == "");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete"}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete","values":[]}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete","values":[1,"2"]}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete","values":[2,1,2]}])"))) == "bad_message");
  CHECK(parse_welcome_code(welcome_with_inputs(json::parse(R"([{"name":"t","type":"discrete","values":3}])"))) == "bad_message");
  json many = json::array();
  for (int k = 0; k < 1001; ++k) many.push_back(k);
  CHECK(parse_welcome_code(welcome_with_inputs(json::array({json{{"name", "t"}, {"type", "discrete"}, {"values", many}}}))) == "bad_message");
}

TEST_CASE("Endpoints: a numeric IPv4 host in any form the resolver reads is one address, and loopback whatever its spelling", "[protocol][endpoint]") {
  for (const char* form : {"127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.0.1"}) {
    INFO(form);
    CHECK(labloop::dotted_ipv4(form) == std::optional<std::string>("127.0.0.1"));
    CHECK(labloop::loopback_host(form));
  }
  CHECK(labloop::dotted_ipv4("10.1") == std::optional<std::string>("10.0.0.1"));
  for (const char* name : {"localhost", "lab-pc", "127.attacker.example", "::1", "", "127.0.0.1 x"}) CHECK_FALSE(labloop::dotted_ipv4(name));
  for (const char* local : {"localhost", "127.9.9.9", "0.0.0.0", "0", "::1"}) CHECK(labloop::loopback_host(local));
  for (const char* far : {"192.0.2.1", "lab-pc", "127.attacker.example", "::2", "3232235777"}) CHECK_FALSE(labloop::loopback_host(far));
}

TEST_CASE("Endpoints: what a controller connects to and a driver serves on, mistakes named", "[protocol][endpoint]") {
  for (const char* good : {"tcp://127.0.0.1:5555", "tcp://reactor-1.lab:1", "tcp://[::1]:65535", "ipc:///tmp/x.ipc"})
    for (labloop::EndpointUse use : {labloop::EndpointUse::connect, labloop::EndpointUse::bind}) CHECK(labloop::endpoint_problem(good, use).empty());
  CHECK(labloop::endpoint_problem("tcp://*:5555", labloop::EndpointUse::bind).empty());
  CHECK(labloop::endpoint_problem("tcp://*:5555", labloop::EndpointUse::connect) ==
        "\"tcp://*:5555\" names every interface, which a driver serves on; connect to one host (e.g. tcp://127.0.0.1:5555)");
  // The audit's case: validated, then refused at run as a connection that could not be made.
  CHECK(labloop::endpoint_problem("tcp://127.0.0.1", labloop::EndpointUse::connect) ==
        "\"tcp://127.0.0.1\" lacks a host or a port; use tcp://HOST:PORT or ipc:///PATH (e.g. tcp://127.0.0.1:5555)");
  CHECK(labloop::endpoint_problem("tcp://:5555", labloop::EndpointUse::connect).find("lacks a host or a port") != std::string::npos);
  CHECK(labloop::endpoint_problem("tcp://[::1]", labloop::EndpointUse::connect).find("lacks a host or a port") != std::string::npos);
  CHECK(labloop::endpoint_problem("tcp://h:0", labloop::EndpointUse::connect) == "\"tcp://h:0\": the port must be a number from 1 to 65535, got \"0\"");
  CHECK(labloop::endpoint_problem("tcp://h:65536", labloop::EndpointUse::connect).find("got \"65536\"") != std::string::npos);
  CHECK(labloop::endpoint_problem("tcp://h:", labloop::EndpointUse::connect).find("got \"\"") != std::string::npos);
  CHECK(labloop::endpoint_problem("tcp://h:5x", labloop::EndpointUse::connect).find("got \"5x\"") != std::string::npos);
  CHECK(labloop::endpoint_problem("ipc://", labloop::EndpointUse::connect) == "\"ipc://\" names no file; use tcp://HOST:PORT or ipc:///PATH");
  CHECK(labloop::endpoint_problem("foo", labloop::EndpointUse::connect) == "\"foo\" is not a ZeroMQ endpoint; use tcp://HOST:PORT or ipc:///PATH");
}
