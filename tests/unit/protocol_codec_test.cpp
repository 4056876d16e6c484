// Unit tests of the typed protocol codec: every message type survives encode → decode, is
// written with the bytes protocol v1 has always had (docs/protocol.md's examples), tolerates
// unknown fields, and every refusal keeps its code and text (peers and the fuzz corpus rely on both).
#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "labloop/core/error.hpp"
#include "labloop/wire/protocol.hpp"

namespace {

using json = nlohmann::json;
namespace protocol = labloop::protocol;

struct Refusal {
  std::string code;
  std::string message;
};

// What decode() refuses a payload with; fails the test when it accepts it.
Refusal refusal(std::string_view payload) {
  try {
    protocol::decode(payload);
  } catch (const labloop::ProtocolError& e) {
    return {e.code(), e.what()};
  }
  FAIL("decode accepted " << payload);
  return {};
}

}  // namespace

TEST_CASE("Codec: each message type round-trips through encode and decode", "[protocol][codec]") {
  const json meta{{"run_seq", 7}, {"nested", {{"a", json::array({1, 2})}}}};
  const std::vector<protocol::Message> messages = {
      protocol::Hello{},
      protocol::Hello{"labloop 0.1.0", "quickstart"},
      protocol::Run{"q-0007", json{{"x1", 1.5}, {"cycles", 3}, {"solvent", "THF"}}},
      protocol::Run{"q-0007", nullptr},  // no params: the driver answers bad_message, not decode
      protocol::Ping{},
      protocol::Abort{"q-0007"},
      protocol::Welcome{"d", "1", json::array({{{"name", "x"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}}), {"y", "z"}, 2147483647},
      protocol::Accepted{"q-0007", nullptr, nullptr},
      protocol::Accepted{"q-0007", 2, 60.5},
      protocol::Rejected{"q-0007", "busy: 1/1 experiments running"},
      protocol::Result{"q-0007", protocol::ResultStatus::ok, json{{"y", 1}, {"purity", 0.5}}, "", meta},
      protocol::Result{"q-0007", protocol::ResultStatus::failed, nullptr, "aborted", nullptr},
      protocol::Pong{{"a", "b"}, {{"a", 0.25}, {"b", 1.0}}},
      protocol::Error{"bad_json", "not JSON", std::nullopt},
      protocol::Error{"unknown_experiment", "no such experiment", "q-0099"},
      // Exclusive control (spec §12): v1 extended.
      protocol::Hello{"labloop 0.3.0", "quickstart", "0123456789abcdef0123456789abcdef"},
      protocol::Welcome{"d", "1", json::array(), {"y"}, 1, protocol::Holder{"0123456789abcdef", "2026-12-02T14:02:07Z", "2026-12-02T15:02:07Z", "curve:abcdefghijklmnop"}},
      protocol::Welcome{"d", "1", json::array(), {"y"}, 1, protocol::Holder{"0123456789abcdef", "2026-12-02T14:02:07Z", std::nullopt, std::nullopt}},
      protocol::Release{"0123456789abcdef"},
      protocol::Released{"0123456789abcdef"},
      protocol::Error{"busy", "instrument held by campaign 0123 since 14:02:07 UTC", std::nullopt},
  };
  for (const auto& m : messages) {
    const std::string bytes = protocol::encode(m);
    INFO(bytes);
    protocol::Message back;
    REQUIRE_NOTHROW(back = protocol::decode(bytes));
    CHECK(back.index() == m.index());
    CHECK(back == m);
    CHECK(protocol::encode(back) == bytes);
  }
}

TEST_CASE("Codec: the bytes on the wire are protocol v1's, key order and number spelling included", "[protocol][codec]") {
  CHECK(protocol::encode(protocol::Hello{"labloop 0.1.0", "quickstart"}) ==
        R"({"campaign":"quickstart","controller":"labloop 0.1.0","type":"hello","v":1})");
  CHECK(protocol::encode(protocol::Run{"quickstart-0001", json{{"x1", -3.14159}, {"x2", 12.275}}}) ==
        R"({"experiment":"quickstart-0001","params":{"x1":-3.14159,"x2":12.275},"type":"run","v":1})");
  CHECK(protocol::encode(protocol::Ping{}) == R"({"type":"ping","v":1})");
  CHECK(protocol::encode(protocol::Abort{"q-2"}) == R"({"experiment":"q-2","type":"abort","v":1})");
  CHECK(protocol::encode(protocol::Accepted::of("q-1", 2.0, 16.0)) == R"({"expected_s":2.0,"experiment":"q-1","max_s":16.0,"type":"accepted","v":1})");
  CHECK(protocol::encode(protocol::Accepted::of("q-1")) == R"({"experiment":"q-1","type":"accepted","v":1})");
  CHECK(protocol::encode(protocol::Rejected{"q-2", "x1=12 outside limits [-5, 10]"}) ==
        R"({"experiment":"q-2","reason":"x1=12 outside limits [-5, 10]","type":"rejected","v":1})");
  CHECK(protocol::encode(protocol::Result::ok("q-1", {{"y", 0.397887}}, json{{"run_seq", 1}})) ==
        R"({"experiment":"q-1","meta":{"run_seq":1},"status":"ok","type":"result","v":1,"values":{"y":0.397887}})");
  CHECK(protocol::encode(protocol::Result::failed("q-2", "aborted")) == R"({"error":"aborted","experiment":"q-2","status":"failed","type":"result","v":1})");
  CHECK(protocol::encode(protocol::Pong{{"q-1"}, {{"q-1", 0.5}}}) == R"({"progress":{"q-1":0.5},"running":["q-1"],"type":"pong","v":1})");
  CHECK(protocol::encode(protocol::Pong{}) == R"({"running":[],"type":"pong","v":1})");
  CHECK(protocol::encode(protocol::Error{"bad_json", "m", std::nullopt}) == R"({"code":"bad_json","message":"m","type":"error","v":1})");
  CHECK(protocol::encode(protocol::Error{"unknown_experiment", "m", "q"}) ==
        R"({"code":"unknown_experiment","experiment":"q","message":"m","type":"error","v":1})");
  labloop::InstrumentInfo info;
  info.driver = "d";
  info.version = "1";
  info.outputs = {"y"};
  info.capacity = 3;
  CHECK(protocol::encode(protocol::Welcome::of(info)) == R"({"capacity":3,"driver":"d","inputs":[],"outputs":["y"],"type":"welcome","v":1,"version":"1"})");
  // Numbers the driver sent keep their spelling: the journal records accepted's seconds as sent.
  const auto accepted = std::get<protocol::Accepted>(protocol::decode(R"({"v":1,"type":"accepted","experiment":"e","expected_s":2,"max_s":2.0})"));
  CHECK(accepted.expected_s.dump() == "2");
  CHECK(accepted.max_s.dump() == "2.0");
  // Invalid UTF-8 in a driver's text is replaced, never thrown on.
  CHECK(protocol::encode(protocol::Error{"internal", "bad \xff byte", std::nullopt}) == "{\"code\":\"internal\",\"message\":\"bad \xEF\xBF\xBD byte\",\"type\":\"error\",\"v\":1}");
}

TEST_CASE("Codec: unknown fields are ignored, null optional fields are absent, meta stays opaque", "[protocol][codec]") {
  const auto hello = std::get<protocol::Hello>(protocol::decode(R"({"v":1,"type":"hello","controller":5,"campaign":null,"x":1})"));
  CHECK(hello == protocol::Hello{});
  const auto accepted = std::get<protocol::Accepted>(protocol::decode(R"({"v":1.0,"type":"accepted","experiment":"e","expected_s":null,"future":[1]})"));
  CHECK(accepted == protocol::Accepted{"e", nullptr, nullptr});
  const auto result = std::get<protocol::Result>(
      protocol::decode(R"({"v":1,"type":"result","experiment":"e","status":"ok","values":{"y":1,"label":"x"},"meta":{"a":{"b":[null]}},"extra":true})"));
  CHECK(result.status == protocol::ResultStatus::ok);
  CHECK(result.values == json{{"y", 1}, {"label", "x"}});
  CHECK(result.meta == json{{"a", {{"b", json::array({nullptr})}}}});
  // A failed result's values must be ignored (spec §4.3); its meta null is absent.
  const auto failed = std::get<protocol::Result>(
      protocol::decode(R"({"v":1,"type":"result","experiment":"e","status":"failed","error":"x","values":{"y":1},"meta":null})"));
  CHECK(failed == protocol::Result{"e", protocol::ResultStatus::failed, nullptr, "x", nullptr});
  // Non-string running ids and non-number progress cannot be acted on: dropped.
  const auto pong = std::get<protocol::Pong>(protocol::decode(R"({"v":1,"type":"pong","running":["a",3,null,"b"],"progress":{"a":0.5,"b":"half"}})"));
  CHECK(pong == protocol::Pong{{"a", "b"}, {{"a", 0.5}}});
  const auto error = std::get<protocol::Error>(protocol::decode(R"({"v":1,"type":"error","code":"c","message":"m","experiment":7})"));
  CHECK_FALSE(error.experiment.has_value());
  const auto run = std::get<protocol::Run>(protocol::decode(R"({"v":1,"type":"run","experiment":"e","params":[1]})"));
  CHECK(run.params == json::array({1}));  // the driver's to refuse (spec §4.2 step 2)
  CHECK(protocol::type_name(protocol::decode(R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[7],"outputs":[],"capacity":1})")) == "welcome");
}

TEST_CASE("Codec: exclusive control's fields are v1 extended, and old peers' messages decode as before", "[protocol][codec][lease]") {
  CHECK(protocol::encode(protocol::Hello{"c", "q", "abc"}) == R"({"campaign":"q","campaign_id":"abc","controller":"c","type":"hello","v":1})");
  CHECK(protocol::encode(protocol::Release{"abc"}) == R"({"campaign_id":"abc","type":"release","v":1})");
  CHECK(protocol::encode(protocol::Released{"abc"}) == R"({"campaign_id":"abc","type":"released","v":1})");
  // An old controller's hello, and a campaign_id of another type, are a hello without one.
  CHECK(std::get<protocol::Hello>(protocol::decode(R"({"v":1,"type":"hello","campaign":"q"})")).campaign_id == std::nullopt);
  CHECK(std::get<protocol::Hello>(protocol::decode(R"({"v":1,"type":"hello","campaign_id":7})")).campaign_id == std::nullopt);
  CHECK(refusal(R"({"v":1,"type":"hello","campaign_id":""})").code == "bad_message");
  // nlohmann ends the text at a NUL: this was answered as a ping.
  CHECK(refusal(std::string_view("{\"v\":1,\"type\":\"ping\"}\0garbage", 29)).message ==
        "message holds a NUL byte (at byte 21), which JSON text never does (in a string it is \\u0000)");
  CHECK(refusal(R"({"v":1,"type":"release"})").message == "release: missing \"campaign_id\"");
  CHECK(refusal(R"({"v":1,"type":"released","campaign_id":3})").message == "released: \"campaign_id\" must be a string");
  // An old driver's welcome has no holder; a malformed holder is informational, so absent.
  const char* welcome = R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":["y"],"capacity":1)";
  CHECK_FALSE(std::get<protocol::Welcome>(protocol::decode(std::string(welcome) + "}")).holder);
  CHECK_FALSE(std::get<protocol::Welcome>(protocol::decode(std::string(welcome) + R"(,"holder":"me"})")).holder);
  CHECK_FALSE(std::get<protocol::Welcome>(protocol::decode(std::string(welcome) + R"(,"holder":{"since":"x"}})")).holder);
  const auto held = std::get<protocol::Welcome>(protocol::decode(std::string(welcome) + R"(,"holder":{"campaign_id":"c","since":"s","x":1}})"));
  CHECK(held.holder == protocol::Holder{"c", "", std::nullopt, std::nullopt});
  // What goes into the journal is what §12 says: UTC times to the second, a key fingerprint.
  const auto fields = [&welcome](const std::string& holder) {
    return *std::get<protocol::Welcome>(protocol::decode(std::string(welcome) + R"(,"holder":)" + holder + "}")).holder;
  };
  CHECK(fields(R"({"campaign_id":"c","since":"2026-12-02T14:02:07Z","until":"2026-12-02T15:02:07Z","controller":"curve:abcdefghijklmnop"})") ==
        protocol::Holder{"c", "2026-12-02T14:02:07Z", "2026-12-02T15:02:07Z", "curve:abcdefghijklmnop"});
  CHECK(fields(R"({"campaign_id":"c","since":")" + std::string(5000, '9') + R"(","until":"2026-13-02T15:02:07Z","controller":"me"})") ==
        protocol::Holder{"c", "", std::nullopt, std::nullopt});
  CHECK_FALSE(fields(R"({"campaign_id":"c","since":"2026-12-02T14:02:07Z","controller":"curve:abcdefghijklmno\n"})").controller);
}

TEST_CASE("Codec: every refusal keeps its code and text", "[protocol][codec]") {
  struct Case {
    std::string payload;
    std::string code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {std::string(protocol::kMaxMessageBytes + 1, ' '), "too_large", "message of 1048577 bytes exceeds the 1048576 byte limit"},
      {"\xEF\xBB\xBF{}", "bad_json", "message starts with a UTF-8 byte-order mark (EF BB BF); send the JSON object without it"},
      {std::string(65, '[') + std::string(65, ']'), "too_deep",
       "message nests arrays/objects deeper than 64 levels (at byte 64), the protocol's limit; the sender must send flatter data (e.g. in \"meta\")"},
      {"[1]", "bad_json", "message must be a JSON object"},
      {R"({"type":"ping"})", "bad_version", "missing protocol version \"v\"; this peer speaks 1"},
      {R"({"v":"1","type":"ping"})", "bad_version", "protocol version \"1\" must be a number: write \"v\": 1"},
      {R"({"v":2,"type":"ping"})", "bad_version", "unsupported protocol version 2; this peer speaks 1"},
      {R"({"v":1})", "bad_message", "missing \"type\" (a string)"},
      {R"({"v":1,"type":"Ping"})", "unknown_type", "unknown message type \"Ping\""},
      {R"({"v":1,"type":"run"})", "bad_message", "run: missing \"experiment\""},
      {R"({"v":1,"type":"abort","experiment":3})", "bad_message", "abort: \"experiment\" must be a string"},
      {R"({"v":1,"type":"run","experiment":""})", "bad_message", "run: \"experiment\" must be 1 to 128 characters"},
      {R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":{},"outputs":[],"capacity":1})", "bad_message",
       "welcome: \"inputs\" must be an array"},
      {R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":"y","capacity":1})", "bad_message",
       "welcome: \"outputs\" must be an array of strings"},
      {R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":[""],"capacity":1})", "bad_message",
       "welcome: \"outputs\" must be non-empty strings"},
      {R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":["y","z","y"],"capacity":1})", "bad_message",
       "welcome: \"outputs\" lists \"y\" twice; each output has its own name"},
      {R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":[],"capacity":0})", "bad_message",
       "welcome: \"capacity\" must be an integer from 1 to 2147483647"},
      {R"({"v":1,"type":"accepted","experiment":"e","max_s":"1"})", "bad_message", "accepted: \"max_s\" must be a number >= 0"},
      {R"({"v":1,"type":"rejected","experiment":"e"})", "bad_message", "rejected: missing \"reason\""},
      {R"({"v":1,"type":"result","experiment":"e","status":"maybe"})", "bad_message", "result: \"status\" must be \"ok\" or \"failed\", got \"maybe\""},
      {R"({"v":1,"type":"result","experiment":"e","status":"ok","values":[]})", "bad_message", "result: \"values\" must be an object"},
      {R"({"v":1,"type":"result","experiment":"e","status":"failed","error":null})", "bad_message", "result: missing \"error\""},
      {R"({"v":1,"type":"result","experiment":"e","status":"failed","error":"x","meta":[]})", "bad_message", "result: \"meta\" must be an object"},
      {R"({"v":1,"type":"pong","running":{}})", "bad_message", "pong: \"running\" must be an array"},
      {R"({"v":1,"type":"error","code":"c"})", "bad_message", "error: missing \"message\""},
  };
  for (const Case& c : cases) {
    INFO(c.payload.substr(0, 120));
    const Refusal r = refusal(c.payload);
    CHECK(r.code == c.code);
    CHECK(r.message == c.message);
  }
  // Invalid JSON: the parser's own words follow the protocol's.
  const Refusal not_json = refusal("{");
  CHECK(not_json.code == "bad_json");
  CHECK(not_json.message.rfind("not valid UTF-8 JSON: ", 0) == 0);
  // 1e999 is JSON, but no double holds it: said as such, not as broken JSON.
  const Refusal huge = refusal(R"({"v":1,"type":"result","experiment":"e","status":"ok","values":{"y":1e999}})");
  CHECK(huge.code == "bad_json");
  CHECK(huge.message.rfind("a number too large for a double (past 1.8e308, such as 1e999): ", 0) == 0);
}

TEST_CASE("Codec: parse_welcome refuses a welcome whose inputs decode let through", "[protocol][codec]") {
  const auto welcome = std::get<protocol::Welcome>(
      protocol::decode(R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[{"name":"x","type":"complex"}],"outputs":["y"],"capacity":1})"));
  try {
    protocol::parse_welcome(welcome);
    FAIL("accepted");
  } catch (const labloop::ProtocolError& e) {
    CHECK(e.code() == "bad_message");
    CHECK(std::string(e.what()) == "welcome: input \"x\" has unknown type \"complex\"");
  }
  // Levels near the ends of a double's range: their spread overflowed to infinity, and the levels'
  // tolerance with it, so 0.5 was "listed twice" (a red-team report).
  const auto extreme = std::get<protocol::Welcome>(protocol::decode(
      R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[{"name":"d","type":"discrete","values":[-1e308,0.5,1e308]}],"outputs":["y"],"capacity":1})"));
  const auto info = protocol::parse_welcome(extreme);
  REQUIRE(info.inputs.size() == 1);
  CHECK(info.inputs[0].level_index(0.5) == 1);
  CHECK(info.inputs[0].level_index(1e308) == 2);
}

TEST_CASE("Params: a discrete value is run as the level it matched, what a driver declared, never the value written near it", "[protocol]") {
  const auto welcome = std::get<protocol::Welcome>(protocol::decode(
      R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[{"name":"t","type":"discrete","values":[90,105,120]},)"
      R"({"name":"c","type":"discrete","values":[0,1e9]},{"name":"x","type":"continuous","low":0,"high":1}],"outputs":["y"],"capacity":1})"));
  const auto inputs = protocol::parse_welcome(welcome).inputs;
  const json sent{{"t", 104.99999999}, {"c", -0.9}, {"x", 0.30000000000000004}};
  REQUIRE(labloop::check_params(inputs, sent).empty());  // within 1e-9 of each list's scale
  const json run = labloop::at_declared_levels(inputs, sent);
  CHECK(run == json{{"t", 105}, {"c", 0}, {"x", 0.30000000000000004}});
  CHECK(run["t"].get<double>() == 105.0);
}

TEST_CASE("Codec: decode_object checks JSON already parsed as decode does after parsing, without the size limit", "[protocol][codec]") {
  // The driver SDK's own workers hand results over this way: the 1 MiB limit is the receiver's.
  const auto big = protocol::Result::failed("e", "x", json{{"blob", std::string(protocol::kMaxMessageBytes, 'b')}});
  CHECK(protocol::decode_object(protocol::to_json(big)) == protocol::Message{big});
  CHECK(refusal(protocol::encode(big)).code == "too_large");
  for (const auto& [object, code] : std::vector<std::pair<json, std::string>>{
           {json::array(), "bad_json"}, {json{{"type", "ping"}}, "bad_version"}, {json{{"v", 1}, {"type", "pong"}}, "bad_message"}}) {
    INFO(object.dump());
    try {
      protocol::decode_object(object);
      FAIL("accepted");
    } catch (const labloop::ProtocolError& e) {
      CHECK(e.code() == code);
    }
  }
}

TEST_CASE("Codec: a welcome's stated noise is v1 extended: round-trips, null is absent, and malformed is refused", "[protocol][codec]") {
  const std::string welcome = R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":["y","purity"],"capacity":1)";
  protocol::Welcome w = std::get<protocol::Welcome>(protocol::decode(welcome + R"(,"noise":{"y":0.5}})"));
  CHECK(w.noise == std::map<std::string, double>{{"y", 0.5}});
  CHECK(protocol::parse_welcome(w).noise == w.noise);
  CHECK(std::get<protocol::Welcome>(protocol::decode(protocol::encode(w))) == w);
  CHECK(protocol::encode(w).find(R"("noise":{"y":0.5})") != std::string::npos);
  // Absent or null: nothing stated, and nothing written.
  w = std::get<protocol::Welcome>(protocol::decode(welcome + R"(,"noise":null})"));
  CHECK(w.noise.empty());
  CHECK(protocol::encode(w).find("noise") == std::string::npos);
  CHECK(protocol::Welcome::of(labloop::InstrumentInfo{"d", "1", {}, {"y"}, 1, {{"y", 0.0}}}).noise == std::map<std::string, double>{{"y", 0.0}});
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"("noise":[0.5])", "welcome: \"noise\" must be an object of output names and standard deviations"},
      {R"("noise":{"z":0.5})", "welcome: \"noise\" names \"z\", which is not one of its outputs"},
      {R"("noise":{"y":-1})", "welcome: the noise of \"y\" must be a number from 0 to 1e+100 (a standard deviation), got -1"},
      {R"("noise":{"y":"0.5"})", "welcome: the noise of \"y\" must be a number from 0 to 1e+100 (a standard deviation), got \"0.5\""},
      {R"("noise":{"y":1e300})", "welcome: the noise of \"y\" must be a number from 0 to 1e+100 (a standard deviation), got 1e+300"},
  };
  for (const auto& [field, message] : refused) {
    INFO(field);
    const Refusal r = refusal(welcome + "," + field + "}");
    CHECK(r.code == "bad_message");
    CHECK(r.message == message);
  }
}

TEST_CASE("Codec: a driver's text to record keeps 4096 characters, at a character boundary, and says how many it left out", "[protocol][codec][limits]") {
  CHECK(protocol::kept_text("") == "");
  const std::string exact(protocol::kMaxErrorChars, 'e');
  CHECK(protocol::kept_text(exact) == exact);
  // 4096 two-byte characters: 8192 bytes, kept whole (the limit counts characters, not bytes).
  std::string accented;
  for (std::size_t i = 0; i < protocol::kMaxErrorChars; ++i) accented += "\xC3\xA9";
  CHECK(protocol::kept_text(accented) == accented);
  const std::string kept = protocol::kept_text(accented + "\xC3\xA9z" + std::string(1000000, 'x'));
  CHECK(kept.starts_with(accented + " … (1000002 more characters not kept"));
  CHECK(kept.size() < accented.size() + 100);
}
