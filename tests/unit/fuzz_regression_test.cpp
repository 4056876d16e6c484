// One test per fuzzer finding (tests/fuzz, docs/fuzzing.md): the input that failed, reduced, and the
// answer it must get now. Each failure was a crash, an undefined-behaviour report or an exception of
// the wrong type escaping where only the layer's own error is allowed.
#include <catch2/catch.hpp>

#include <string>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/wire/protocol.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

// A loadable campaign with `extra` merged in (a JSON merge patch, so null removes a key).
std::string config_with(const json& extra) {
  json c = json::parse(R"({
    "name": "fuzz", "parameters": [{"name": "x1", "type": "continuous", "low": -10, "high": 10},
                                   {"name": "x2", "type": "continuous", "low": -10, "high": 10}],
    "objective": {"name": "y"}, "planner": {"kind": "random"},
    "instruments": [{"name": "sim", "simulator": "levy", "options": {"dim": 2}}],
    "budget": {"experiments": 5}})");
  c.merge_patch(extra);
  return c.dump();
}

std::string config_error(const std::string& text) {
  try {
    parse_campaign_config(text, "fuzz.json", labloop::sim::catalogue());
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

// The welcome a payload decodes to (the payloads here are all welcomes).
protocol::Welcome welcome_of(const std::string& payload) { return std::get<protocol::Welcome>(protocol::decode(payload)); }

// The ProtocolError code for decode + parse_welcome, or "" when both accept.
std::string welcome_code(const std::string& payload) {
  try {
    protocol::parse_welcome(welcome_of(payload));
    return "";
  } catch (const ProtocolError& e) {
    return e.code();
  }
}

std::string welcome_with_input(const std::string& input) {
  return R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[)" + input + R"(],"outputs":["y"],"capacity":1})";
}

}  // namespace

TEST_CASE("Fuzz regression: a number beyond double range is a ConfigError, not json::out_of_range", "[fuzz][config]") {
  CHECK(config_error("1e999") == "fuzz.json: /: not valid JSON at line 1, column 1: number overflow parsing '1e999' (a number beyond ±1.8e308)");
  CHECK(config_error(R"({"name": "x", "budget": {"experiments": -1e400}})").find("not valid JSON") != std::string::npos);
}

TEST_CASE("Fuzz regression: an integral float too large for an integer is a ConfigError, not undefined behaviour",
          "[fuzz][config]") {
  CHECK(config_error(config_with({{"seed", 1.18446744073709551616e20}})) == "fuzz.json: /seed: integer too large");
  CHECK(config_error(config_with({{"budget", {{"experiments", -1e19}}}})) == "fuzz.json: /budget/experiments: integer too large");
  CHECK(config_error(config_with({{"seed", 9.2e18}})) == "");  // still an integer that fits
}

TEST_CASE("Fuzz regression: a simulator capacity beyond int is a ConfigError, not a wrapped or undefined int",
          "[fuzz][config]") {
  const json sim = {{"name", "sim"}, {"simulator", "levy"}};
  for (const json& capacity : {json(1e18), json(2147483648LL), json(4294967297LL)}) {
    INFO("capacity " << capacity.dump());
    json instrument = sim;
    instrument["options"] = {{"dim", 2}, {"capacity", capacity}};
    CHECK(config_error(config_with({{"instruments", {instrument}}})) ==
          "fuzz.json: /instruments/0/options/capacity: must be at most 2147483647");
  }
  json instrument = sim;
  instrument["options"] = {{"dim", 2}, {"capacity", 2147483647}};
  CHECK(config_error(config_with({{"instruments", {instrument}}})) == "");
}

TEST_CASE("Fuzz regression: a welcome input whose type is not a string is bad_message, not json::type_error",
          "[fuzz][protocol]") {
  CHECK(welcome_code(welcome_with_input(R"({"name":"x","type":5,"low":0,"high":1})")) == "bad_message");
  CHECK(welcome_code(welcome_with_input(R"({"name":"x","type":null,"low":0,"high":1})")) == "bad_message");
  CHECK(welcome_code(welcome_with_input(R"({"name":"x","type":"continuous","low":0,"high":1})")) == "");
}

TEST_CASE("Fuzz regression: a welcome capacity beyond int is bad_message, not wrapped to 0 or below", "[fuzz][protocol]") {
  const std::string head = R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":["y"],"capacity":)";
  CHECK(welcome_code(head + "4294967296}") == "bad_message");
  CHECK(welcome_code(head + "2147483648}") == "bad_message");
  CHECK(welcome_code(head + "2147483647}") == "");
}

TEST_CASE("Fuzz regression: a welcome integer input needs integral bounds (1e300 was undefined behaviour in to_json)",
          "[fuzz][protocol]") {
  CHECK(welcome_code(welcome_with_input(R"({"name":"n","type":"integer","low":0,"high":1e300})")) == "bad_message");
  CHECK(welcome_code(welcome_with_input(R"({"name":"n","type":"integer","low":0.5,"high":3})")) == "bad_message");
  CHECK(welcome_code(welcome_with_input(R"({"name":"n","type":"integer","low":-3,"high":3.0})")) == "");
  // What parse_welcome accepts, Welcome::of must send back in a form decode accepts.
  const auto info = protocol::parse_welcome(welcome_of(welcome_with_input(R"({"name":"n","type":"integer","low":-3,"high":3.0})")));
  CHECK(protocol::parse_welcome(welcome_of(protocol::encode(protocol::Welcome::of(info)))).inputs.at(0).high == 3);
}

TEST_CASE("parse_journal reads journal text as read_journal reads the file, naming the source", "[fuzz][journal]") {
  const std::string body = R"({"seq":1,"time":"2026-12-01T00:00:00.000Z","event":"campaign_started")";
  const std::string line = body + ",\"hash\":\"" + journal_hash(journal_genesis_hash(), body) + "\"}\n";
  const JournalContents contents = parse_journal(line + R"({"seq":2,"ti)", "text.jsonl");
  CHECK(contents.events.size() == 1);
  CHECK(contents.torn_tail);
  CHECK(contents.torn_tail_message == "text.jsonl: line 2 is incomplete (torn write); ignored");
  CHECK_THROWS_WITH(parse_journal("{}\n{}\n", "journal.jsonl"), Catch::StartsWith("journal.jsonl: line 1 has no positive integer"));
  // Under another name, a first line that is no event is most likely another file (a campaign file).
  CHECK_THROWS_WITH(parse_journal("{}\n{}\n", "text.jsonl"), Catch::StartsWith("text.jsonl: is not a campaign's journal (its first line is no journal event)"));
}
