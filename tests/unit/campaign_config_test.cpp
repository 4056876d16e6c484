#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <sys/stat.h>

#include "labloop/core/parameter_check.hpp"
#include "test_support.hpp"

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/prior_results.hpp"
#include "labloop/journal/report.hpp"
#include "labloop/core/error.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

json valid() {
  return json::parse(R"({
    "name": "demo", "seed": 3,
    "parameters": [
      {"name": "x1", "type": "continuous", "low": -5, "high": 10},
      {"name": "x2", "type": "continuous", "low": 0, "high": 15, "unit": "mm"}
    ],
    "objective": {"name": "y", "goal": "minimize"},
    "planner": {"kind": "sobol"},
    "instruments": [
      {"name": "sim", "simulator": "branin", "options": {"noise": 0.01}},
      {"name": "reactor-1", "endpoint": "tcp://127.0.0.1:5555"}
    ],
    "budget": {"experiments": 30, "hours": 12},
    "stop": {"target": 0.4},
    "output": "runs/demo"
  })");
}

// The message the loader gives for `config`, or "" when it loads.
std::string error_for(const json& config) { return labloop::test::config_error(config, "c.json"); }

}  // namespace

TEST_CASE("Config: a valid file loads with every field", "[config]") {
  const CampaignConfig c = parse_campaign_config(valid().dump(), "c.json", labloop::sim::catalogue());
  CHECK(c.name == "demo");
  CHECK(c.seed == 3);
  REQUIRE(c.parameters.size() == 2);
  CHECK(c.parameters[1].unit == "mm");
  CHECK(c.objective.goal == Goal::minimize);
  CHECK(c.planner.kind == "sobol");
  REQUIRE(c.instruments.size() == 2);
  CHECK(c.instruments[0].is_simulator());
  CHECK(c.instruments[0].options["noise"] == 0.01);
  CHECK(c.instruments[1].endpoint == "tcp://127.0.0.1:5555");
  CHECK(c.budget.experiments == 30);
  CHECK(c.budget.hours == 12);
  REQUIRE(c.target);
  CHECK(*c.target == 0.4);
  CHECK(c.output == "runs/demo");
}

TEST_CASE("Config: comments are allowed and optional fields get defaults", "[config]") {
  const CampaignConfig c = parse_campaign_config(R"({
    // a comment
    "name": "d",
    "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
                   {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
    "objective": {"name": "y"},
    "instruments": [{"name": "sim", "simulator": "branin"}],
    "budget": {"experiments": 5}
  })", "c.json", labloop::sim::catalogue());
  CHECK(c.planner.kind == "random");
  CHECK(c.output == "runs/d");
  CHECK(c.seed == 1);
  CHECK_FALSE(c.target);
}

TEST_CASE("Config: each mistake gets one message naming the JSON path and the fix", "[config]") {
  json c = valid();
  SECTION("a range larger than the largest number (validate passed it, the run failed on a non-finite point)") {
    c["parameters"][0]["low"] = -1e308;
    c["parameters"][0]["high"] = 1e308;
    CHECK(error_for(c) == "c.json: /parameters/0/high: lies too far above low (-1e+308 to 1e+308: a range larger than the largest number, "
                          "1.79769e+308); express the parameter in a larger unit");
  }
  SECTION("integer bounds beyond 2^53, where a rounded bound could let a setting past the declared one") {
    c["parameters"][0] = {{"name", "n"}, {"type", "integer"}, {"low", 0}, {"high", 9007199254740995LL}};
    CHECK(error_for(c) == "c.json: /parameters/0/high: must be from -9007199254740991 to 9007199254740991 (2^53 - 1: integers beyond it are "
                          "not exact as numbers); express it in a larger unit");
    c["parameters"][0]["high"] = 9007199254740992LL;
    CHECK_THAT(error_for(c), !Catch::Contains("2^53"));  // (the test instrument has no input "n": another message)
  }
  SECTION("unknown key, with did-you-mean") {
    c["parameters"][0].erase("high");
    c["parameters"][0]["hgih"] = 10;
    CHECK(error_for(c) == "c.json: /parameters/0/hgih: unknown key; did you mean \"high\"? (allowed here: name, type, low, high, log, unit)");
  }
  SECTION("a description that is not text (a field put in the wrong place)") {
    c["description"] = {{"budget", 10}};
    CHECK_THAT(error_for(c), Catch::StartsWith("c.json: /description: must be a string"));
    c["description"] = "";
    CHECK(error_for(c) == "");
    c["description"] = nullptr;
    CHECK(error_for(c) == "");
  }
  SECTION("unknown top-level key") {
    c["budgt"] = 1;
    CHECK(error_for(c) == "c.json: /budgt: unknown key; did you mean \"budget\"? (allowed here: name, description, seed, parameters, constraints, objective, objectives, outcome_constraints, failure, outputs, planner, instruments, budget, stop, output, prior_results, candidates, controller_key, constraint_sampling)");
  }
  SECTION("stop.pause_on_failures is true or false") {
    c["stop"]["pause_on_failures"] = "no";
    CHECK(error_for(c) == "c.json: /stop/pause_on_failures: must be true or false, got \"no\" (a string)");
    c["stop"]["pause_on_failures"] = false;
    CHECK_FALSE(parse_campaign_config(c.dump(), "c.json", labloop::sim::catalogue()).pause_on_failures);
  }
  SECTION("wrong type") {
    c["budget"]["experiments"] = "30";
    CHECK(error_for(c) == "c.json: /budget/experiments: must be an integer, got \"30\" (a string)");
  }
  SECTION("fractional integer") {
    c["budget"]["experiments"] = 2.5;
    CHECK(error_for(c) == "c.json: /budget/experiments: must be an integer, got 2.5 (a fractional number)");
  }
  SECTION("low >= high") {
    c["parameters"][1]["low"] = 15;
    CHECK(error_for(c) == "c.json: /parameters/1/high: is 15, which must be greater than low (15)");
  }
  SECTION("empty choices") {
    c["parameters"].push_back({{"name", "solvent"}, {"type", "categorical"}, {"choices", json::array()}});
    CHECK(error_for(c) == "c.json: /parameters/2/choices: must list at least one choice");
  }
  SECTION("duplicate parameter names") {
    c["parameters"][1]["name"] = "x1";
    CHECK(error_for(c) == "c.json: /parameters/1/name: duplicate parameter name \"x1\" (also at /parameters/0)");
  }
  SECTION("duplicate instrument names") {
    c["instruments"][1]["name"] = "sim";
    CHECK(error_for(c) == "c.json: /instruments/1/name: duplicate instrument name \"sim\" (also at /instruments/0)");
  }
  SECTION("budget <= 0") {
    c["budget"]["experiments"] = 0;
    CHECK(error_for(c) == "c.json: /budget/experiments: must be at least 1 (got 0)");
  }
  SECTION("hours <= 0") {
    c["budget"]["hours"] = -1;
    CHECK(error_for(c) == "c.json: /budget/hours: must be greater than 0 (got -1); leave it out for no time limit");
  }
  SECTION("unknown simulator") {
    c["instruments"][0]["simulator"] = "brannin";
    CHECK(error_for(c) == "c.json: /instruments/0/simulator: unknown simulator \"brannin\"; did you mean \"branin\"? (labloop-sim --list shows them all)");
  }
  SECTION("instrument/parameter mismatch: a parameter the simulator does not have") {
    c["parameters"].push_back({{"name", "rate"}, {"type", "continuous"}, {"low", 0.01}, {"high", 10}, {"log", true}});
    CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' has no input named \"rate\" (it declares: x1, x2); rename the parameter or use another instrument");
  }
  SECTION("instrument/parameter mismatch: bounds outside the instrument's limits") {
    c["parameters"][0]["high"] = 12;
    CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' limits \"x1\" to [-5, 10], but the campaign asks for [-5, 12]; narrow the parameter's bounds to fit");
  }
  SECTION("instrument/parameter mismatch: an input the campaign lacks") {
    c["parameters"].erase(1);
    CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' needs input \"x2\" (x2 in [0, 15]), but the campaign has no such parameter; add it to \"parameters\"");
  }
  SECTION("objective the instrument does not measure") {
    c["objective"]["name"] = "yield";
    CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' does not measure the objective \"yield\" (its outputs: y)");
  }
  SECTION("endpoint and simulator both given") {
    c["instruments"][1]["simulator"] = "branin";
    CHECK(error_for(c) == "c.json: /instruments/1: needs exactly one of \"endpoint\" (a running driver, e.g. \"tcp://127.0.0.1:5555\"), \"simulator\" (e.g. \"branin\") or \"manual\": true (a person enters results with `labloop enter`)");
  }
  SECTION("an endpoint that is not ZeroMQ") {
    c["instruments"][1]["endpoint"] = "127.0.0.1:5555";
    CHECK(error_for(c) == "c.json: /instruments/1/endpoint: \"127.0.0.1:5555\" is not a ZeroMQ endpoint; use tcp://HOST:PORT or ipc:///PATH");
  }
  SECTION("bad goal") {
    c["objective"]["goal"] = "minimise";
    CHECK(error_for(c) == "c.json: /objective/goal: must be \"minimize\" or \"maximize\", got \"minimise\"; did you mean \"minimize\"?");
  }
  SECTION("unknown planner") {
    c["planner"]["kind"] = "genetic";
    CHECK(error_for(c) == "c.json: /planner/kind: unknown planner \"genetic\" (available: random, sobol, bayesian)");
  }
  SECTION("planner option it does not take") {
    c["planner"]["batch"] = 4;
    CHECK(error_for(c) == "c.json: /planner/batch: unknown option for the sobol planner (it takes none)");
  }
  SECTION("simulator option out of range") {
    c["instruments"][0]["options"]["noise"] = -1;
    CHECK(error_for(c) == "c.json: /instruments/0/options/noise: must be from 0 to 1e+100 (standard deviation of Gaussian noise; got -1)");
  }
  SECTION("missing required key") {
    c.erase("objective");
    CHECK(error_for(c) == "c.json: /: missing required key \"objective\"");
  }
  SECTION("log scale needs positive bounds") {
    c["parameters"][0]["log"] = true;
    CHECK(error_for(c) == "c.json: /parameters/0/low: must be greater than 0 for a log-scaled parameter (got -5)");
  }
}

TEST_CASE("Config: invalid JSON is reported with line and column", "[config]") {
  try {
    parse_campaign_config("{\n  \"name\": \"x\",\n  oops\n}", "c.json", labloop::sim::catalogue());
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).rfind("c.json: /: not valid JSON at line 3, column 3", 0) == 0);
  }
  // In plain words, without the parser's internal ids ("[json.exception.parse_error.101] parse
  // error at line 1, column 8: syntax error while parsing value - invalid literal", a red-team report).
  const auto why = [](const std::string& text) {
    const std::string message = labloop::test::message_of([&] { parse_campaign_config(text, "c.json", labloop::sim::catalogue()); });
    CHECK(message.find("json.exception") == std::string::npos);
    CHECK(message.find("syntax error while") == std::string::npos);
    return message;
  };
  CHECK_THAT(why(R"({"low": NaN})"), Catch::Matchers::StartsWith("c.json: /: not valid JSON at line 1, column 9: a word JSON does not know (NaN, Infinity"));
  CHECK_THAT(why("{\"a\": \"\xff\"}"), Catch::Matchers::EndsWith("a string holds bytes that are not UTF-8 text: save the file as UTF-8"));
  CHECK_THAT(why(R"({"a": "\ud800"})"), Catch::Matchers::EndsWith("a \\u escape is one half of a UTF-16 pair: write the character itself, or both halves"));
  CHECK_THAT(why("{} {}"), Catch::Matchers::EndsWith("more follows the end of the JSON value (two objects, or something after the last })"));
  CHECK_THAT(why(""), Catch::Matchers::Contains("the text ends before the JSON does"));
  CHECK_THAT(why("{/* x"), Catch::Matchers::EndsWith("a comment is not closed: end a /* comment with */"));
  CHECK_THAT(why("{\"a\": \"x\ty\"}"), Catch::Matchers::EndsWith("a string holds a control character: write a tab as \\t and a line break as \\n"));
  CHECK_THAT(why(R"({"a": -})"), Catch::Matchers::Contains("a number JSON cannot read (invalid number; expected digit after '-'"));
  CHECK_THAT(why(R"({"a" 1})"), Catch::Matchers::Contains("unexpected number literal; expected ':'"));
}

TEST_CASE("Config: nesting deeper than 64 levels is refused before parsing, naming the limit and place", "[config]") {
  STATIC_REQUIRE(kMaxConfigDepth == 64);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THROWS_MATCHES(parse_campaign_config(deep, "c.json", labloop::sim::catalogue()), ConfigError,
                       Catch::Matchers::Message("c.json: /: arrays/objects nested deeper than 64 levels at line 1, column "
                                                "65; a campaign file needs only a few (is it damaged, or not a campaign "
                                                "file?)"));
  // Inside an otherwise valid file, on its own line.
  std::string text = valid().dump(2);
  text.insert(2, "\"description\": " + deep + ",\n");  // after "{\n", the object being level 1
  try {
    parse_campaign_config(text, "c.json", labloop::sim::catalogue());
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Matchers::StartsWith("c.json: /: arrays/objects nested deeper than 64 levels at line 2, column 79;"));
  }
  // Brackets in strings and comments are not nesting.
  json c = valid();
  c["description"] = std::string(100000, '[');
  CHECK(error_for(c) == "");
  CHECK_NOTHROW(parse_campaign_config("// " + std::string(1000, '[') + "\n" + valid().dump(), "c.json", labloop::sim::catalogue()));
}

TEST_CASE("Config: a UTF-8 byte-order mark at the start is accepted (editors write one)", "[config]") {
  CHECK(parse_campaign_config("\xEF\xBB\xBF" + valid().dump(), "c.json", labloop::sim::catalogue()).name == "demo");
}

TEST_CASE("Config: a missing file says so", "[config]") {
  CHECK_THROWS_WITH(load_campaign_config("/nonexistent/campaign.json", labloop::sim::catalogue()),
                    "/nonexistent/campaign.json: /: cannot open the file (does it exist, and can you read it?)");
}

TEST_CASE("Config: an endpoint instrument is checked against what it declares at hello", "[config]") {
  const CampaignConfig c = parse_campaign_config(valid().dump(), "c.json", labloop::sim::catalogue());
  InstrumentInfo info;
  info.inputs = {Parameter{.name = "x1", .low = -10, .high = 10},
                 Parameter{.name = "x2", .type = ParameterType::integer, .low = 0, .high = 20}};
  info.outputs = {"y"};
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info),
                    "c.json: /instruments/1: instrument 'reactor-1' declares \"x2\" as integer, but the campaign makes it continuous; make the parameter \"type\": \"integer\"");
  info.inputs[1].type = ParameterType::continuous;
  CHECK_NOTHROW(check_instrument_fits(c, 1, info));
}

TEST_CASE("Config: every duration and count has a stated range, checked before any conversion", "[config][limits]") {
  auto with = [](const std::string& pointer, const json& value) {
    json c = valid();
    c[json::json_pointer(pointer)] = value;
    return error_for(c);
  };
  // Fuzzed files that validate accepted: each would overflow a conversion later.
  CHECK(with("/instruments/1/heartbeat_misses", 4294967297LL) == "c.json: /instruments/1/heartbeat_misses: must be from 1 to 1000 (got 4294967297)");
  CHECK(with("/instruments/0/options/delay", 18446744073709551615ULL).find("/instruments/0/options/delay: must be from 0 to 3.1536e+07") != std::string::npos);
  CHECK(with("/instruments/1/timeout_s", 1e300) == "c.json: /instruments/1/timeout_s: must be at most 3.1536e+07 seconds (got 1e+300)");
  CHECK(with("/instruments/1/heartbeat_s", 1e9) == "c.json: /instruments/1/heartbeat_s: must be at most 3600 seconds (got 1000000000)");
  CHECK(with("/instruments/1/timeout_s", 31536001) == "c.json: /instruments/1/timeout_s: must be at most 3.1536e+07 seconds (got 31536001)");  // not "(got 3.1536e+07)"
  CHECK(with("/instruments/1/reconnect_s", 1e308).find("must be at most") != std::string::npos);
  CHECK(with("/instruments/1/connect_timeout_s", 1e6).find("must be at most 86400 seconds") != std::string::npos);
  CHECK(with("/instruments/1/retry_backoff_s", 1e6).find("must be at most 86400 seconds") != std::string::npos);
  CHECK(with("/instruments/1/retries", 1000).find("must be from 0 to 20") != std::string::npos);
  CHECK(with("/instruments/1/quarantine_after", 4294967297LL).find("must be from 1 to 1000000") != std::string::npos);
  CHECK(with("/instruments/0/options/crash_after", 4294967297LL).find("must be from 0 to 2147483647") != std::string::npos);
  CHECK(with("/budget/hours", 1e308).find("/budget/hours: must be at most 8760 hours") != std::string::npos);
  CHECK(with("/instruments/0/options/noise", 1e300).find("must be from 0 to 1e+100") != std::string::npos);
  // At the limits, files load.
  CHECK(with("/instruments/1/heartbeat_misses", 1000) == "");
  CHECK(with("/instruments/1/timeout_s", 365.0 * 24 * 3600) == "");
  CHECK(with("/budget/hours", 8760) == "");
}

TEST_CASE("Config: names are at most 64 characters, so experiment ids stay within the protocol's 128", "[config][limits]") {
  json c = valid();
  c["name"] = std::string(64, 'a');
  CHECK(error_for(c) == "");
  c["name"] = std::string(65, 'a');
  CHECK(error_for(c) == "c.json: /name: campaign name is 65 characters long; at most 64 are allowed");
  // Limits in characters count characters: "é" is no name character (said first, not its bytes),
  // and a unit or a choice of "°" and "é" counts each as one.
  c["name"] = "caf\u00e9";
  CHECK(error_for(c) == "c.json: /name: campaign name \"caf\u00e9\" may only contain letters, digits, '_', '-' and '.'");
  c = valid();
  std::string degrees, accents;
  for (int i = 0; i < 64; ++i) degrees += "\u00b0";
  for (int i = 0; i < 1000; ++i) accents += "\u00e9";
  c["outputs"] = json::array({{{"name", "y"}, {"unit", degrees}}});
  CHECK(error_for(c) == "");
  c["outputs"][0]["unit"] = degrees + "C";
  CHECK(error_for(c) == "c.json: /outputs/0/unit: is 65 characters long; at most 64 are allowed");
  CHECK(labloop::choice_problem(accents).empty());
  CHECK(labloop::choice_problem(accents + "\u00e9") == "is 1001 characters long; at most 1000 are allowed");
  c = valid();
  c["instruments"][1]["name"] = std::string(100, 'r');
  CHECK(error_for(c).find("instrument name is 100 characters long") != std::string::npos);
}

TEST_CASE("Config: did-you-mean names every equally close candidate, or none when too many are", "[config]") {
  json c = valid();
  c["instruments"] = json::array({{{"name", "sim"}, {"simulator", "hartmann6"}}});
  c["parameters"] = json::array();
  for (const char* name : {"x1", "x2", "x3", "x4", "x5", "x7"}) c["parameters"].push_back({{"name", name}, {"type", "continuous"}, {"low", 0}, {"high", 1}});
  // x7 is as close to x1…x6 as it is to any: no single guess (it used to say "x1").
  CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' has no input named \"x7\" (it declares: x1, x2, x3, x4, x5, x6); rename the parameter or use another instrument");
  // An instrument declaring hundreds of inputs is named by its first 20 (ackley takes any dimension).
  c["instruments"] = json::array({{{"name", "sim"}, {"simulator", "ackley"}, {"options", {{"dim", 300}}}}});
  c["parameters"] = json::array({{{"name", "x0"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}});
  CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' has no input named \"x0\" (it declares: x1, x2, x3, x4, x5, x6, x7, x8, x9, "
                        "x10, x11, x12, x13, x14, x15, x16, x17, x18, x19, x20, … (300 in all)); rename the parameter or use another instrument");
  c = valid();
  c["objective"]["goal"] = "maxmize";
  CHECK(error_for(c) == "c.json: /objective/goal: must be \"minimize\" or \"maximize\", got \"maxmize\"; did you mean \"maximize\"?");
  // Up to three equally close ones are named.
  c = valid();
  c["instruments"] = json::array({{{"name", "sim"}, {"simulator", "hartmann3"}}});
  c["parameters"] = json::array();
  for (const char* name : {"x1", "x2", "x4"}) c["parameters"].push_back({{"name", name}, {"type", "continuous"}, {"low", 0}, {"high", 1}});
  CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' has no input named \"x4\"; did you mean \"x1\", \"x2\" or \"x3\"? (it declares: x1, x2, x3); rename the parameter or use another instrument");
}

TEST_CASE("Config: a trailing or missing comma is named in plain words, where it is", "[config]") {
  auto error = [](const std::string& text) {
    try {
      parse_campaign_config(text, "c.json", labloop::sim::catalogue());
      return std::string();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
  };
  // The parser notices at the ']' on the next line; the mistake is the comma on line 2.
  CHECK(error("{\n  \"parameters\": [1, 2,\n  ]\n}") ==
        "c.json: /: not valid JSON: a comma at line 2, column 22 is followed by ']'; JSON allows no comma after the last item: remove it");
  CHECK(error("{\"a\": 1,}") == "c.json: /: not valid JSON: a comma at line 1, column 8 is followed by '}'; JSON allows no comma after the last item: remove it");
  CHECK(error("{\n  \"name\": \"x\"\n  \"seed\": 1\n}") ==
        "c.json: /: not valid JSON: a comma is missing at line 2, column 14, before the string at line 3, column 3");
}

TEST_CASE("Config: simulators are known only through the catalogue the program passes in", "[config]") {
  // The library links no simulator code: with no catalogue, a simulator instrument is refused, and
  // a catalogue of one's own is what decides which simulators exist and what they declare.
  CHECK_THROWS_WITH(parse_campaign_config(valid().dump(), "c.json", SimulatorCatalogue{}),
                    Catch::Matchers::Contains("/instruments/0/simulator: unknown simulator \"branin\""));
  // A dataset's name is unknown when the datasets' folder is missing: the folder is named, with the fix.
  CHECK_THROWS_WITH(parse_campaign_config(valid().dump(), "c.json", SimulatorCatalogue({}, "the data directory /nowhere does not exist")),
                    Catch::Matchers::EndsWith("unknown simulator \"branin\" (labloop-sim --list shows them all); no dataset could be listed: "
                                              "the data directory /nowhere does not exist"));
  const SimulatorCatalogue own({SimulatorSpec{.name = "branin", .default_dim = 2, .min_dim = 2, .max_dim = 2, .inputs = [](int dim) {
    std::vector<Parameter> inputs;
    for (int d = 1; d <= dim; ++d) inputs.push_back(Parameter{.name = "x" + std::to_string(d), .low = -100, .high = 100});
    return inputs;
  }}});
  const CampaignConfig c = parse_campaign_config(valid().dump(), "c.json", own);
  REQUIRE(c.instruments[0].simulated_inputs.size() == 2);
  CHECK(simulator_info(c, 0).inputs[1].high == 100);
}

TEST_CASE("Config: every mistake in a file is reported at once, in file order, up to 20", "[config]") {
  json c = valid();
  c["budgett"] = 3;                              // an unknown key (did you mean budget?)
  c["parameters"][1]["high"] = -1;              // high below low
  c["instruments"][1]["endpoint"] = "127.0.0.1:5555";  // not a ZeroMQ endpoint
  c["budget"]["experiments"] = 0;               // below 1
  try {
    parse_campaign_config(c.dump(), "c.json", labloop::sim::catalogue());
    FAIL("the file loaded");
  } catch (const ConfigError& e) {
    REQUIRE(e.mistakes().size() == 4);
    CHECK(e.mistakes()[0] == "c.json: /budgett: unknown key; did you mean \"budget\"? (allowed here: name, description, seed, parameters, constraints, objective, "
                             "objectives, outcome_constraints, failure, outputs, planner, instruments, budget, stop, output, prior_results, candidates, controller_key, constraint_sampling)");
    CHECK(e.mistakes()[1] == "c.json: /parameters/1/high: is -1, which must be greater than low (0)");
    CHECK(e.mistakes()[2].rfind("c.json: /instruments/1/endpoint: \"127.0.0.1:5555\" is not a ZeroMQ endpoint", 0) == 0);
    CHECK(e.mistakes()[3] == "c.json: /budget/experiments: must be at least 1 (got 0)");
    CHECK(e.json_path() == "/budgett");
    CHECK(std::string(e.what()) == e.mistakes()[0] + "\n" + e.mistakes()[1] + "\n" + e.mistakes()[2] + "\n" + e.mistakes()[3]);
  }
  // One mistake: exactly its message, as before.
  json one = valid();
  one["budget"]["experiments"] = 0;
  CHECK(error_for(one) == "c.json: /budget/experiments: must be at least 1 (got 0)");

  json many = valid();
  for (int i = 0; i < 25; ++i) many["parameters"].push_back({{"name", "p" + std::to_string(i)}, {"type", "continuous"}, {"low", 1}, {"high", 0}});
  try {
    parse_campaign_config(many.dump(), "c.json", labloop::sim::catalogue());
    FAIL("the file loaded");
  } catch (const ConfigError& e) {
    CHECK(e.mistakes().size() == 20);
    CHECK(std::string(e.what()).find("\n… and 5 more (fix these first)") != std::string::npos);
  }
}

TEST_CASE("Config: declared outputs carry units and ranges, and a manual instrument needs no driver", "[config]") {
  json c = valid();
  c["outputs"] = json::parse(R"([{"name": "y", "unit": "%", "low": 0, "high": 100}, "purity"])");
  c["instruments"].push_back(json::parse(R"({"name": "bench-chemist", "manual": true, "capacity": 3})"));
  const CampaignConfig config = parse_campaign_config(c.dump(), "c.json", labloop::sim::catalogue());
  REQUIRE(config.outputs.size() == 2);
  CHECK(config.find_output("y")->unit == "%");
  CHECK(*config.find_output("y")->high == 100);
  CHECK(config.find_output("purity")->unit.empty());
  CHECK(config.find_output("nothing") == nullptr);
  const InstrumentConfig& person = config.instruments.back();
  CHECK(person.is_manual());
  CHECK(person.capacity == 3);
  // The journaled form parses back to the same thing (resume reads it).
  const CampaignConfig again = parse_campaign_config(config.to_json().dump(), "journal", labloop::sim::catalogue());
  CHECK(again.to_json() == config.to_json());
  const InstrumentInfo info = manual_info(config, config.instruments.size() - 1);
  CHECK(info.capacity == 3);
  CHECK(info.outputs == std::vector<std::string>{"y"});  // purity may be entered, but need not be
  CHECK(info.inputs.size() == config.parameters.size());

  SECTION("mistakes") {
    json bad = c;
    bad["instruments"].back()["endpoint"] = "tcp://127.0.0.1:1";
    CHECK_THAT(error_for(bad), Catch::Contains("/instruments/2: needs exactly one of \"endpoint\""));
    bad = c;
    bad["instruments"][0]["capacity"] = 2;
    CHECK(error_for(bad) == "c.json: /instruments/0/capacity: is only for manual instruments; a driver declares its own capacity (a simulator takes it in \"options\")");
    bad = c;
    bad["instruments"].back()["capacity"] = 0;
    CHECK(error_for(bad) == "c.json: /instruments/2/capacity: must be from 1 to 1000 (got 0)");
    bad = c;
    bad["outputs"][0]["high"] = -1;
    CHECK(error_for(bad) == "c.json: /outputs/0/high: is -1, which must be greater than low (0)");
    bad = c;
    bad["outputs"][1] = "y";
    CHECK(error_for(bad) == "c.json: /outputs/1: duplicate output name \"y\" (also at /outputs/0)");
    bad = c;
    bad["outputs"][0]["unit"] = "a,b";
    CHECK_THAT(error_for(bad), Catch::Contains("/outputs/0/unit: may not contain"));
  }
}

namespace {

// valid() with x1 discrete: levels inside branin's [-5, 10], written out of order.
json config_test_discrete() {
  json c = valid();
  c["parameters"][0] = json::parse(R"({"name": "x1", "type": "discrete", "values": [10, -5, 2.5, 3], "unit": "mM"})");
  return c;
}

}  // namespace

TEST_CASE("Config: a discrete parameter loads with its levels sorted, and its journaled form parses back the same", "[config][discrete]") {
  const CampaignConfig config = parse_campaign_config(config_test_discrete().dump(), "c.json", labloop::sim::catalogue());
  const Parameter& x1 = config.parameters.front();
  CHECK(x1.type == ParameterType::discrete);
  CHECK(x1.values == std::vector<double>{-5, 2.5, 3, 10});
  CHECK(x1.low == -5);
  CHECK(x1.high == 10);
  CHECK(x1.describe_domain() == "x1 in {-5, 2.5, 3, 10} mM");
  CHECK(x1.to_json() == json::parse(R"({"name": "x1", "type": "discrete", "values": [-5.0, 2.5, 3.0, 10.0], "unit": "mM"})"));
  const CampaignConfig again = parse_campaign_config(config.to_json().dump(), "journal", labloop::sim::catalogue());
  CHECK(again.to_json() == config.to_json());
  CHECK(again.parameters.front().values == x1.values);
}

TEST_CASE("Config: a discrete parameter with one level is a constant that fits a driver's input holding that value", "[config][discrete]") {
  // A driver's numeric input must be named by the campaign; one level is how a campaign holds it.
  json file = config_test_discrete();
  file["parameters"][0]["values"] = {3};
  const CampaignConfig c = parse_campaign_config(file.dump(), "c.json", labloop::sim::catalogue());
  const Parameter& x1 = c.parameters.front();
  CHECK(x1.values == std::vector<double>{3});
  CHECK(x1.low == 3);
  CHECK(x1.high == 3);
  CHECK(x1.describe_domain() == "x1 in {3} mM");
  CHECK(parse_campaign_config(c.to_json().dump(), "journal", labloop::sim::catalogue()).to_json() == c.to_json());
  InstrumentInfo info;
  info.inputs = {Parameter{.name = "x1", .type = ParameterType::discrete, .low = 3, .high = 3, .values = {3}}, Parameter{.name = "x2", .low = 0, .high = 15}};
  info.outputs = {"y"};
  CHECK_NOTHROW(check_instrument_fits(c, 1, info));
  info.inputs[0] = Parameter{.name = "x1", .low = 0, .high = 4};
  CHECK_NOTHROW(check_instrument_fits(c, 1, info));
  info.inputs[0].high = 2;
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info),
                    "c.json: /instruments/1: instrument 'reactor-1' limits \"x1\" to [0, 2], but the campaign asks for level 3; drop the levels outside");
}

TEST_CASE("Config: each mistake in a discrete parameter is named at its JSON path", "[config][discrete]") {
  json c = config_test_discrete();
  json& x1 = c["parameters"][0];
  SECTION("no values") {
    x1.erase("values");
    CHECK(error_for(c) == "c.json: /parameters/0: missing required key \"values\"");
  }
  SECTION("no level") {
    x1["values"] = json::array();
    CHECK(error_for(c) == "c.json: /parameters/0/values: must list the levels (e.g. [0.05, 0.1, 0.15]; one level holds the input at that value)");
  }
  SECTION("more than 1000 levels") {
    x1["values"] = json::array();
    for (int k = 0; k < 1001; ++k) x1["values"].push_back(-5 + 0.01 * k);
    CHECK(error_for(c) == "c.json: /parameters/0/values: lists 1001 levels; at most 1000 are allowed (use a continuous or integer parameter)");
  }
  SECTION("a level that is not a number") {
    x1["values"][1] = "0.1";
    CHECK(error_for(c) == "c.json: /parameters/0/values/1: must be a number, got \"0.1\" (a string)");
  }
  SECTION("levels spread over more than a number can hold (the spread used to make every level a duplicate)") {
    x1["values"] = {1e308, -1e308, 0};
    CHECK(error_for(c) == "c.json: /parameters/0/values: spans -1e+308 to 1e+308, more than a number can hold (1.79769e+308); express the levels in a larger unit");
  }
  SECTION("a duplicate level, named with where it first appears") {
    x1["values"] = {3, 1, 2.5, 1.0};
    CHECK(error_for(c) == "c.json: /parameters/0/values/3: duplicate level 1.0 (also at /parameters/0/values/1); list each level once");
  }
  SECTION("levels closer than they can be told apart are named with the tolerance, not called duplicates") {
    x1["values"] = {0.0001, 0.001, 1000000};
    CHECK(error_for(c) == "c.json: /parameters/0/values/1: level 0.001 is within 0.001 of level 0.0001 (at /parameters/0/values/0): levels are "
                          "told apart only to 1e-9 of the largest level or spread (1e+06): drop one of them");
  }
  SECTION("low, high or choices on a discrete parameter") {
    x1["low"] = 0;
    CHECK(error_for(c) == "c.json: /parameters/0/low: a discrete parameter takes its levels from \"values\" only; drop \"low\"");
    x1.erase("low");
    x1["choices"] = {"a"};
    CHECK(error_for(c) == "c.json: /parameters/0/choices: a discrete parameter takes its levels from \"values\" only; drop \"choices\"");
  }
  SECTION("values on a continuous parameter") {
    c["parameters"][1]["values"] = {1, 2};
    CHECK(error_for(c) == "c.json: /parameters/1/values: only a discrete parameter takes \"values\"; make the type \"discrete\" or use \"low\" and \"high\"");
  }
  SECTION("log with a level that is not positive") {
    x1["log"] = true;
    CHECK(error_for(c) == "c.json: /parameters/0/log: a log-scaled parameter needs every level > 0 (it has -5): drop \"log\" or that level");
  }
  SECTION("a level outside the simulator's input") {
    x1["values"].push_back(12);
    CHECK(error_for(c) == "c.json: /instruments/0: instrument 'sim' limits \"x1\" to [-5, 10], but the campaign asks for level 12; drop the levels outside");
  }
  SECTION("linear constraints take a discrete parameter, and need a setting at its levels") {
    c["constraints"] = {"x1 + x2 <= 10"};
    CHECK(error_for(c) == "");
    c["constraints"] = {"x1 == 1"};  // within [-5, 10], but no level is 1
    CHECK(error_for(c) == "c.json: /constraints: no setting of whole numbers and levels that meets the constraints was found: they may "
                          "need fractional values of integer parameters or values between discrete levels, or have too few whole solutions "
                          "to find: make those parameters continuous or loosen the constraints");
  }
  SECTION("an unknown type names discrete among the types") {
    x1["type"] = "discret";
    CHECK(error_for(c) == "c.json: /parameters/0/type: unknown parameter type \"discret\"; did you mean \"discrete\"? (use continuous, integer, categorical or discrete)");
  }
}

TEST_CASE("Config: a discrete parameter fits a continuous input holding its levels, an integer one when whole, a discrete one listing them all", "[config][discrete]") {
  json file = config_test_discrete();
  file["parameters"][0]["values"] = {1, 2, 4};
  const CampaignConfig c = parse_campaign_config(file.dump(), "c.json", labloop::sim::catalogue());
  InstrumentInfo info;
  info.inputs = {Parameter{.name = "x1", .low = 0, .high = 4}, Parameter{.name = "x2", .low = 0, .high = 15}};
  info.outputs = {"y"};
  CHECK_NOTHROW(check_instrument_fits(c, 1, info));
  info.inputs[0].high = 3;
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info),
                    "c.json: /instruments/1: instrument 'reactor-1' limits \"x1\" to [0, 3], but the campaign asks for level 4; drop the levels outside");
  // A started campaign's parameters are journaled: the advice is to give the instrument its limits back.
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info, InstrumentFit::started),
                    "c.json: /instruments/1: instrument 'reactor-1' limits \"x1\" to [0, 3], but the campaign asks for level 4; this campaign's "
                    "parameters are fixed since it started: give the instrument back the limits it had (its driver's declaration), then "
                    "`labloop resume`");
  info.inputs[0] = Parameter{.name = "x1", .type = ParameterType::integer, .low = 0, .high = 4};
  CHECK_NOTHROW(check_instrument_fits(c, 1, info));
  info.inputs[0] = Parameter{.name = "x1", .type = ParameterType::discrete, .low = 1, .high = 8, .values = {1, 2, 4, 8}};
  CHECK_NOTHROW(check_instrument_fits(c, 1, info));
  info.inputs[0].values = {1, 4, 8};
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info),
                    "c.json: /instruments/1: instrument 'reactor-1' does not accept level 2 for \"x1\" (it accepts: 1, 4, 8); use only those levels");
  info.inputs[0] = Parameter{.name = "x1", .type = ParameterType::categorical, .choices = {"1", "2", "4"}};
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info),
                    "c.json: /instruments/1: instrument 'reactor-1' declares \"x1\" as categorical, but the campaign makes it discrete");
  // A continuous campaign parameter cannot go to a discrete input: it would ask for values between levels.
  info.inputs[0] = Parameter{.name = "x1", .low = 0, .high = 4};
  info.inputs[1] = Parameter{.name = "x2", .type = ParameterType::discrete, .low = 0, .high = 15, .values = {0, 15}};
  CHECK_THROWS_WITH(check_instrument_fits(c, 1, info),
                    "c.json: /instruments/1: instrument 'reactor-1' declares \"x2\" as discrete (levels 0, 15), but the campaign makes it continuous; "
                    "make the parameter \"type\": \"discrete\" with some of those levels as \"values\"");

  SECTION("fractional levels do not fit an integer input") {
    json half = config_test_discrete();
    half["parameters"][0]["values"] = {1, 2.5};
    const CampaignConfig h = parse_campaign_config(half.dump(), "c.json", labloop::sim::catalogue());
    InstrumentInfo ints;
    ints.inputs = {Parameter{.name = "x1", .type = ParameterType::integer, .low = 0, .high = 4}, Parameter{.name = "x2", .low = 0, .high = 15}};
    ints.outputs = {"y"};
    CHECK_THROWS_WITH(check_instrument_fits(h, 1, ints),
                      "c.json: /instruments/1: instrument 'reactor-1' declares \"x1\" as integer, but the campaign's level 2.5 is not a whole number; use whole levels");
  }
}

TEST_CASE("Config: prior results refuse a discrete value that is no level, by line, and take one with a rounding error as its level", "[config][discrete][prior]") {
  labloop::test::TempDir dir;
  labloop::test::write_file(dir / "earlier.csv", "x1,x2,y\n2.5,1,10\n2.6,1,11\n3.0000000000001,2,12\n");
  json file = config_test_discrete();
  file["prior_results"] = "earlier.csv";
  file["instruments"].erase(1);
  const std::string source = (dir / "c.json").string();
  labloop::test::write_file(dir / "c.json", file.dump());
  const CampaignConfig c = parse_campaign_config(file.dump(), source, labloop::sim::catalogue());
  const PriorResults prior = read_prior_results(c);
  REQUIRE(prior.rows.size() == 2);
  CHECK(prior.rows[0].params["x1"].get<double>() == 2.5);
  CHECK(prior.rows[1].params["x1"].is_number_integer());
  CHECK(prior.rows[1].params["x1"].get<double>() == 3);
  REQUIRE(prior.skipped.size() == 1);
  CHECK_THAT(prior.skipped[0], Catch::Contains("line 3: x1 = 2.6 is not one of the levels {-5, 2.5, 3, 10}; skipped"));
  // A name heading two columns: which one is meant cannot be known.
  labloop::test::write_file(dir / "earlier.csv", "x1,x2,y,y\n2.5,1,10,40\n");
  CHECK_THAT(test::message_of([&] { read_prior_results(c); }), Catch::EndsWith("earlier.csv has two columns \"y\" (columns 3 and 4); keep one"));
  // But labloop's own columns may repeat: a results.csv whose campaign measures "error" has two.
  labloop::test::write_file(dir / "earlier.csv", "x1,x2,y,error,status,error\n2.5,1,10,0.3,ok,\n");
  CHECK(read_prior_results(c).rows.size() == 1);
  // A column in another unit than declared (x1 is in mM) would be learnt from as if in mM.
  labloop::test::write_file(dir / "earlier.csv", "x1 [M],x2,y\n0.0025,1,10\n");
  CHECK_THAT(test::message_of([&] { read_prior_results(c); }),
             Catch::EndsWith("earlier.csv: column 1 (\"x1 [M]\") gives x1 in M, but the campaign declares it in mM; convert the values to mM "
                             "and head the column \"x1 [mM]\" (or \"x1\")"));
  labloop::test::write_file(dir / "earlier.csv", "x1 [mM],x2 [mm],y [%]\n2.5,1,10\n");
  CHECK(read_prior_results(c).rows.size() == 1);
  // A folder in its place is named as one (it gave the library's "basic_filebuf::underflow").
  std::filesystem::remove(dir / "earlier.csv");
  std::filesystem::create_directory(dir / "earlier.csv");
  CHECK_THAT(test::message_of([&] { read_prior_results(c); }), Catch::EndsWith("earlier.csv is a folder, not a CSV file; name the file in it"));
}

TEST_CASE("Config: the bayesian planner learns from at most 5000 results, budget and prior results together", "[config][prior][limits]") {
  labloop::test::TempDir dir;
  json file = config_test_discrete();
  file["instruments"].erase(1);
  file["planner"] = {{"kind", "bayesian"}};
  file["budget"] = {{"experiments", 5001}};
  const auto loaded = [&] {
    labloop::test::write_file(dir / "c.json", file.dump());
    return test::message_of([&] { load_campaign_config((dir / "c.json").string(), labloop::sim::catalogue()); });
  };
  CHECK_THAT(loaded(), Catch::Contains("/budget/experiments") && Catch::Contains("is 5001; the bayesian planner learns from at most 5000 results"));
  file["planner"] = {{"kind", "random"}};
  CHECK(loaded().empty());  // no model: no such cost
  // 40 prior rows and a budget of 4961: one too many.
  std::string rows = "x1,x2,y\n";
  for (int i = 0; i < 40; ++i) rows += fmt::format("{},{},{}\n", i % 2 ? 2.5 : 3, i % 7, i);
  labloop::test::write_file(dir / "earlier.csv", rows);
  file["planner"] = {{"kind", "bayesian"}};
  file["prior_results"] = "earlier.csv";
  file["budget"] = {{"experiments", 4961}};
  const std::string source = (dir / "c.json").string();
  const CampaignConfig over = parse_campaign_config(file.dump(), source, labloop::sim::catalogue());
  CHECK_THAT(test::message_of([&] { read_prior_results(over); }), Catch::Contains("earlier.csv has 40 rows and the budget is 4961 experiments"));
  file["budget"] = {{"experiments", 4960}};
  CHECK(read_prior_results(parse_campaign_config(file.dump(), source, labloop::sim::catalogue())).rows.size() == 40);
}

TEST_CASE("Every example campaign file in examples/ loads, and its simulators are known", "[config][examples]") {
  // A technician's first files: a renamed field or a dataset that moved must fail here, not at
  // their bench.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(LABLOOP_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".json") continue;
    ++files;
    INFO(entry.path().string());
    CampaignConfig config;
    REQUIRE_NOTHROW(config = load_campaign_config(entry.path().string(), labloop::sim::catalogue()));
    CHECK_FALSE(config.parameters.empty());
    for (const auto& instrument : config.instruments)
      if (!instrument.simulator.empty()) CHECK(labloop::sim::catalogue().find(instrument.simulator) != nullptr);
  }
  CHECK(files >= 12);
}

TEST_CASE("Config: a new campaign on a simplex dataset must declare its sum-to-1 constraint, journals are not held to it", "[config]") {
  // thin_film's three fractions sum to 1 in every row, and its emulator refuses other settings.
  test::TempDir dir;
  json c = json::parse(R"({"name": "tf", "parameters": [
      {"name": "CsPbI", "type": "continuous", "low": 0, "high": 1}, {"name": "FAPbI", "type": "continuous", "low": 0, "high": 1},
      {"name": "MAPbI", "type": "continuous", "low": 0, "high": 1}],
    "objective": {"name": "instability_index", "goal": "minimize"}, "planner": {"kind": "bayesian"},
    "instruments": [{"name": "sim", "simulator": "thin_film"}], "budget": {"experiments": 5}, "output": "runs/tf"})");
  const auto file = dir / "tf.json";
  auto load = [&] {
    test::write_file(file, c.dump());
    return load_campaign_config(file.string(), labloop::sim::catalogue());
  };
  CHECK_THROWS_WITH(load(), file.string() + ": /instruments/0/simulator: thin_film refuses any setting off \"CsPbI + FAPbI + MAPbI == 1\": "
                                            "add \"constraints\": [\"CsPbI + FAPbI + MAPbI == 1\"] to the campaign");
  // A journal (replay, resume) written before the rule still parses.
  CHECK_NOTHROW(parse_campaign_config(c.dump(), "journal", labloop::sim::catalogue()));
  // Not the sum, or not all of them, or an inequality: refused as well.
  for (const char* wrong : {"CsPbI + FAPbI + MAPbI == 0.9", "CsPbI + FAPbI == 1", "CsPbI + FAPbI + MAPbI <= 1", "CsPbI + 2*FAPbI + MAPbI == 1"}) {
    INFO(wrong);
    c["constraints"] = {wrong};
    CHECK_THROWS_AS(load(), ConfigError);
  }
  // The equality in any scale is the one asked for.
  for (const char* right : {"CsPbI + FAPbI + MAPbI == 1", "100*CsPbI + 100*FAPbI + 100*MAPbI == 100", "MAPbI + CsPbI + FAPbI == 1",
                           "-CsPbI - FAPbI - MAPbI == -1"}) {
    INFO(right);
    c["constraints"] = {right};
    CHECK(load().constraints.size() == 1);
  }
}

TEST_CASE("Config: a file past 16 MiB, a device without end or a folder is refused without reading it all", "[config][limits]") {
  CHECK_THROWS_WITH(load_campaign_config("/dev/zero", labloop::sim::catalogue()),
                    "/dev/zero: /: is larger than 16 MiB, the most a campaign file may be (is it the right file?)");
  labloop::test::TempDir dir;
  CHECK_THROWS_WITH(load_campaign_config(dir.path().string(), labloop::sim::catalogue()), dir.path().string() + ": /: is a folder, not a campaign file");
  // A pipe nobody writes to: the open waited for a writer for ever.
  const std::string fifo = (dir / "campaign.json").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(load_campaign_config(fifo, labloop::sim::catalogue()), fifo + ": /: is a pipe nothing was written to; name the campaign file itself");
  // A NUL byte ended the text for the JSON reader: what followed was never checked.
  CHECK_THROWS_WITH(parse_campaign_config(std::string("{\"name\": \"a\"}\0{{{", 17), "c.json", labloop::sim::catalogue()),
                    "c.json: /: holds a NUL byte at line 1, column 14: a campaign file is text (is it the right file, or damaged?)");
  // One inside a string is shown, not the end of the message.
  CHECK_THAT(test::message_of([] { parse_campaign_config(R"({"name": "t\u0000x"})", "c.json", labloop::sim::catalogue()); }),
             Catch::Contains(R"(campaign name "t\u0000x" may only contain)"));
}

TEST_CASE("Config: a new campaign's names make distinct results.csv columns, its choices and units print safely, its size is bounded", "[config][limits]") {
  test::TempDir dir;
  json c = json::parse(R"({"name": "cols", "parameters": [
      {"name": "x1", "type": "continuous", "low": -5, "high": 10}, {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
    "objective": {"name": "y", "goal": "minimize"}, "planner": {"kind": "random"},
    "instruments": [{"name": "m", "manual": true}], "budget": {"experiments": 4}})");
  const auto file = dir / "cols.json";
  auto error = [&](const json& config) -> std::string {
    test::write_file(file, config.dump());
    try {
      load_campaign_config(file.string(), labloop::sim::catalogue());
      return "";
    } catch (const ConfigError& e) {
      return std::string(e.what()).substr(file.string().size() + 2);
    }
  };
  CHECK(error(c) == "");
  json same = c;
  same["objective"]["name"] = "x2";
  CHECK(error(same) == "/objective: \"x2\" is also the name at /parameters/1: results.csv would have two columns of that name; rename one");
  // A journal written before the rule still parses (replay, resume).
  CHECK_NOTHROW(parse_campaign_config(same.dump(), "journal", labloop::sim::catalogue()));
  json own = c;
  own["parameters"][0]["name"] = "status";
  CHECK(error(own) == "/parameters/0: \"status\" is also a column results.csv has of its own: results.csv would have two columns of that name; rename one");
  json failure_on_parameter = c;
  failure_on_parameter["failure"] = {{"when", "x2 >= 3"}};
  CHECK(error(failure_on_parameter) ==
        "/failure/when: \"x2\" is also the name at /parameters/1: results.csv would have two columns of that name; rename one");
  // An objective also declared as an output (for its unit) is one column.
  json declared = c;
  declared["outputs"] = json::parse(R"([{"name": "y", "unit": "mg"}])");
  CHECK(error(declared) == "");

  json never = c;
  never["outcome_constraints"] = {"y >= 1", "x2 <= 3", "y <= 0"};
  never["parameters"][1]["name"] = "z";
  CHECK(error(never) == "/outcome_constraints/2: \"y >= 1\" and \"y <= 0\" cannot both hold: no result would ever count; loosen one of them");

  // A person enters results with `labloop enter … NAME=VALUE --failed … --by …` and `pending
  // --csv`, whose own columns are experiment, instrument and failed (red-team report: an output
  // "failed" recorded every measured value as a failure's reason).
  json entered = c;
  entered["objective"]["name"] = "failed";
  CHECK(error(entered) == "/objective/name: \"failed\" is a column of `labloop pending --csv` of its own: a person enters results with "
                          "`labloop enter` and `labloop pending --csv`, which would read it as that column; rename it");
  entered["objective"]["name"] = "--by";
  CHECK(error(entered) == "/objective/name: \"--by\" starts with '-': a person enters results with `labloop enter` and `labloop pending "
                          "--csv`, which would read it as an option; rename it");
  entered = c;
  entered["outputs"] = json::parse(R"([{"name": "experiment"}])");
  CHECK(error(entered) == "/outputs/0: \"experiment\" is a column of `labloop pending --csv` of its own: a person enters results with "
                          "`labloop enter` and `labloop pending --csv`, which would read it as that column; rename it");
  entered = c;
  entered["parameters"][0]["name"] = "failed";
  CHECK_THAT(error(entered), Catch::Matchers::StartsWith("/parameters/0/name: \"failed\" is a column of `labloop pending --csv`"));
  entered["parameters"][0]["name"] = "-x";  // not typed on enter's command line; pending --csv quotes it
  entered["outcome_constraints"] = {"-purity >= 0.9"};
  CHECK_THAT(error(entered), Catch::Matchers::StartsWith("/outcome_constraints/0: \"-purity\" starts with '-'"));
  // Without a person in the campaign those names stay free (datasets name outputs "error").
  entered["instruments"][0] = {{"name", "robot"}, {"endpoint", "tcp://127.0.0.1:5555"}};
  CHECK(error(entered) == "");
  CHECK_NOTHROW(parse_campaign_config(json(c).dump(), "journal", labloop::sim::catalogue()));

  // Goals the outputs' declared ranges rule out (all passed validate: a red-team report).
  json ranged = c;
  ranged["outputs"] = json::parse(R"([{"name": "y", "low": 0, "high": 100}])");
  CHECK(error(ranged) == "");
  json never_counts = ranged;
  never_counts["outcome_constraints"] = {"y >= 200"};
  CHECK(error(never_counts) == "/outcome_constraints/0: \"y >= 200\" cannot hold for any value in the range declared for \"y\" [0, 100]: no "
                               "result would ever count; loosen it, or widen the range in \"outputs\"");
  never_counts["outcome_constraints"] = {"y >= 100"};  // the top of the range still counts
  CHECK(error(never_counts) == "");
  json always_fails = ranged;
  always_fails["failure"] = {{"when", "y >= -5"}};
  CHECK(error(always_fails) == "/failure/when: \"y >= -5\" holds for every value in the range declared for \"y\" [0, 100]: every result "
                               "would count as failed");
  always_fails["failure"] = {{"when", "y <= 0"}};
  CHECK(error(always_fails) == "");
  json unreachable = ranged;
  unreachable["stop"] = {{"target", -1}};  // minimizing y in [0, 100]
  CHECK(error(unreachable) == "/stop/target: is -1, which no value in the range declared for \"y\" [0, 100] reaches: the campaign would run "
                              "its whole budget for it; give a target within the range");
  unreachable["stop"] = {{"target", 0}};
  CHECK(error(unreachable) == "");
  json worthless = ranged;
  worthless["objective"]["threshold"] = 0;  // minimizing y in [0, 100]: nothing can be better than 0
  CHECK(error(worthless) == "/objective/threshold: is 0, but the range declared for \"y\" in \"outputs\" ends at 0: no result could be "
                            "better than it; give the worst value still worth having, within the range");
  CHECK_NOTHROW(parse_campaign_config(worthless.dump(), "journal", labloop::sim::catalogue()));  // a journal holding one goes on
  worthless["objective"]["threshold"] = 50;
  CHECK(error(worthless) == "");

  json dots = c;
  dots["name"] = "..";
  CHECK(error(dots) == "/name: \"..\" cannot name a campaign: it names its output folder (runs/NAME); use letters or digits");
  // A candidates file named like a file the campaign writes in its folder, where it keeps the copy.
  for (const std::string name : {"results.csv", "sub/journal.jsonl", "x.descriptors.csv", "stop-request.json", "reactor.log"}) {
    json pool = c;
    pool["candidates"] = name;
    CHECK(error(pool) == fmt::format("/candidates: \"{}\" is a name the campaign writes in its own folder, where it keeps a copy of its "
                                     "candidates file under that file's name: rename the file (e.g. plate.csv)",
                                     std::filesystem::path(name).filename().string()));
  }
  json huge = c;
  huge["parameters"].push_back(json::parse(R"({"name": "n", "type": "integer", "low": 0, "high": 9007199254740992})"));
  CHECK(error(huge) == "/parameters/2/high: is 9007199254740992; an integer parameter's bounds are at most 9007199254740991 (2^53 - 1) "
                       "in magnitude, the largest whole numbers a double holds exactly");
  huge["parameters"][2]["high"] = 9007199254740991.0;
  CHECK(error(huge) == "");
  json twice = c;
  twice["instruments"] = json::parse(R"([{"name": "a", "endpoint": "tcp://127.0.0.1:5555"}, {"name": "m", "manual": true},
                                         {"name": "b", "endpoint": "tcp://127.0.0.1:5555"}])");
  CHECK(error(twice) == "/instruments/2/endpoint: \"tcp://127.0.0.1:5555\" is also instrument 0's (\"a\"): one driver would get the work "
                        "of both; raise its capacity instead, or give each instrument its own driver");
  // The same driver spelt another way is the same driver.
  twice["instruments"][2]["endpoint"] = "tcp://LocalHost:05555";
  CHECK(error(twice) == "/instruments/2/endpoint: \"tcp://LocalHost:05555\" is also instrument 0's (\"a\", written \"tcp://127.0.0.1:5555\"): "
                        "one driver would get the work of both; raise its capacity instead, or give each instrument its own driver");
  // Numeric forms the resolver reads as 127.0.0.1, and 0.0.0.0, which the kernel takes for this
  // machine, all reached one driver of capacity 1 as two instruments (a red-team report).
  for (const char* alias : {"tcp://127.1:5555", "tcp://2130706433:5555", "tcp://0x7f.0.0.1:5555", "tcp://0177.0.0.1:5555", "tcp://0.0.0.0:5555"}) {
    INFO(alias);
    twice["instruments"][2]["endpoint"] = alias;
    CHECK_THAT(error(twice), Catch::StartsWith(fmt::format("/instruments/2/endpoint: \"{}\" is also instrument 0's", alias)));
  }
  twice["instruments"][2]["endpoint"] = "tcp://127.0.0.2:5555";  // another address: a driver may bind it alone
  CHECK(error(twice) == "");
  twice["instruments"][2]["endpoint"] = "tcp://127.0.0.1:5556";
  CHECK(error(twice) == "");
  twice["instruments"][0]["endpoint"] = "ipc:///tmp/labloop-x/../labloop-y.ipc";
  twice["instruments"][2]["endpoint"] = "ipc:///tmp/./labloop-y.ipc";
  CHECK_THAT(error(twice), Catch::StartsWith("/instruments/2/endpoint: \"ipc:///tmp/./labloop-y.ipc\" is also instrument 0's"));

  json far = c;
  far["objective"]["threshold"] = 1e300;
  CHECK(error(far) == "/objective/threshold: is 1e+300; at most 1e+30 in magnitude (express the objective in a larger unit)");
  json listed = c;  // one objective given as a list: its errors point into the list
  listed["objectives"] = json::array({far["objective"]});
  listed.erase("objective");
  CHECK(error(listed) == "/objectives/0/threshold: is 1e+300; at most 1e+30 in magnitude (express the objective in a larger unit)");
  // An objective heads columns of results.csv and pending --csv: a formula or an escape sequence
  // there reached a spreadsheet or a terminal (audit).
  json formula = c;
  formula["objective"]["name"] = "=HYPERLINK(\"http://evil/\")";
  CHECK(error(formula) == "/objective/name: objective name \"=HYPERLINK(\"http://evil/\")\" may only contain letters, digits, '_', '-' and '.' (as an output name)");
  formula["objective"]["name"] = std::string(65, 'y');
  CHECK(error(formula) == "/objective/name: objective name is 65 characters long; at most 64 are allowed");

  json choices = c;
  choices["parameters"].push_back(json::parse(R"({"name": "s", "type": "categorical", "choices": ["THF", "a\u001b[31mb"]})"));
  CHECK(error(choices) == "/parameters/2/choices/1: may not contain control characters (line breaks, tabs, escapes)");
  json seed = c;
  seed["instruments"][0] = {{"name", "sim"}, {"simulator", "branin"}, {"options", {{"seed", -5}}}};  // labloop-sim refuses it when it starts
  CHECK(error(seed) == "/instruments/0/options/seed: is -5; a simulator's seed is a whole number from 0");
  choices["parameters"][2]["choices"][1] = " THF";
  CHECK(error(choices) == "/parameters/2/choices/1: \" THF\" starts or ends with a space, which CSV files drop (candidates, prior_results): write it without that space");
  json unit = c;
  unit["parameters"][0]["unit"] = "m\nm";
  CHECK(error(unit) == "/parameters/0/unit: may not contain control characters, commas, quotes or brackets (it goes into CSV headers as \"name [unit]\")");

  json many = c;
  many["parameters"] = json::array();
  for (size_t i = 0; i <= kMaxParameters; ++i) many["parameters"].push_back({{"name", fmt::format("p{}", i)}, {"type", "continuous"}, {"low", 0}, {"high", 1}});
  CHECK(error(many) == fmt::format("/parameters: declares {} parameters; at most {} are allowed", kMaxParameters + 1, kMaxParameters));
  json wide = c;
  json options = json::array();
  for (size_t i = 0; i <= kMaxChoices; ++i) options.push_back(fmt::format("c{}", i));
  wide["parameters"].push_back({{"name", "s"}, {"type", "categorical"}, {"choices", options}});
  CHECK(error(wide) == fmt::format("/parameters/2/choices: lists {} choices; at most {} are allowed", kMaxChoices + 1, kMaxChoices));
  // Within each limit, but more than one protocol message could carry.
  json heavy = c;
  for (int k = 0; k < 100; ++k) {
    json long_options = json::array();
    for (int i = 0; i < 10; ++i) long_options.push_back(fmt::format("{:0>999}", k * 10 + i));
    heavy["parameters"].push_back({{"name", fmt::format("s{}", k)}, {"type", "categorical"}, {"choices", long_options}});
  }
  CHECK_THAT(error(heavy), Catch::Matchers::StartsWith("/parameters: the parameters take 10") &&
                               Catch::Matchers::Contains("bytes as written in a protocol message; at most 524288 fit"));
}

TEST_CASE("Config: a key given twice in one object is refused by its pointer, not read as its last value", "[config]") {
  const std::string text = R"({"name": "t", "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10}],
    "objective": {"name": "y"}, "planner": {"kind": "random"}, "instruments": [{"name": "m", "manual": true}],
    "budget": {"experiments": 4, "experiments": 400}})";
  CHECK(test::message_of([&] { parse_campaign_config(text, "c.json", labloop::sim::catalogue()); }) ==
        "c.json: /budget/experiments: is given twice in one object; JSON keeps only the last, so remove one of them");
}

TEST_CASE("Config: prior results read back a results.csv whose choices and texts were written so a spreadsheet runs no formula", "[config][prior]") {
  labloop::test::TempDir dir;
  json file = valid();
  file["parameters"].push_back(json::parse(R"({"name": "mode", "type": "categorical", "choices": ["-fast", "=slow", "plain"]})"));
  file["instruments"].erase(0);  // branin takes no "mode"
  file["prior_results"] = "results.csv";
  const std::string source = (dir / "c.json").string();
  const CampaignConfig c = parse_campaign_config(file.dump(), source, labloop::sim::catalogue());
  // A journal of two results, its report written as the campaign writes it.
  const auto at = [](int seq, const std::string& kind, json fields) {
    fields["seq"] = seq;
    fields["time"] = fmt::format("2026-11-25T08:30:{:02d}.000Z", seq);
    fields["event"] = kind;
    return fields;
  };
  const std::vector<json> events{
      at(1, "campaign_started", {{"campaign", "demo"}, {"config", c.to_json()}}),
      at(2, "proposed", {{"experiment", "e1"}, {"params", {{"x1", -3.5}, {"x2", 1}, {"mode", "-fast"}}}}),
      at(3, "proposed", {{"experiment", "e2"}, {"params", {{"x1", 2}, {"x2", 3}, {"mode", "=slow"}}}}),
      at(4, "dispatched", {{"experiment", "e1"}, {"instrument", "reactor-1"}}),
      at(5, "dispatched", {{"experiment", "e2"}, {"instrument", "reactor-1"}}),
      at(6, "result", {{"experiment", "e1"}, {"instrument", "reactor-1"}, {"status", "ok"}, {"values", {{"y", -1.25}}}, {"objective", -1.25}}),
      at(7, "result", {{"experiment", "e2"}, {"instrument", "reactor-1"}, {"status", "ok"}, {"values", {{"y", 4}}}, {"objective", 4}}),
  };
  write_results_csv(summarize(events), dir / "results.csv");
  REQUIRE_THAT(labloop::test::read_file(dir / "results.csv"), Catch::Contains("e1,reactor-1,-3.5,1,'-fast,-1.25,"));
  const PriorResults prior = read_prior_results(c);
  CHECK(prior.skipped.empty());
  REQUIRE(prior.rows.size() == 2);
  CHECK(prior.rows[0].params == json{{"x1", -3.5}, {"x2", 1}, {"mode", "-fast"}});
  CHECK(prior.rows[0].objective == -1.25);
  CHECK(prior.rows[1].params["mode"] == "=slow");
}

TEST_CASE("Config: prior results tell choices =a and '=a apart, and read headers that start like a formula", "[config][prior]") {
  labloop::test::TempDir dir;
  json file = valid();
  file["parameters"] = json::parse(R"([{"name": "-A1", "type": "continuous", "low": -5, "high": 10},
                                       {"name": "mode", "type": "categorical", "choices": ["=a", "'=a", "''=a", "'x", "x"]}])");
  file["outputs"] = json::parse(R"(["y", "-2-3"])");
  file["instruments"] = json::parse(R"([{"name": "m", "manual": true}])");
  file.erase("stop");
  file["prior_results"] = "results.csv";
  const std::string source = (dir / "c.json").string();
  const CampaignConfig c = parse_campaign_config(file.dump(), source, labloop::sim::catalogue());
  const auto at = [](int seq, const std::string& kind, json fields) {
    fields["seq"] = seq;
    fields["time"] = fmt::format("2026-11-25T08:30:{:02d}.000Z", seq);
    fields["event"] = kind;
    return fields;
  };
  const std::vector<std::string> choices{"=a", "'=a", "''=a", "'x", "x"};
  std::vector<json> events{at(1, "campaign_started", {{"campaign", "demo"}, {"config", c.to_json()}})};
  int seq = 2;
  for (size_t i = 0; i < choices.size(); ++i) {
    const std::string id = fmt::format("e{}", i + 1);
    events.push_back(at(seq++, "proposed", {{"experiment", id}, {"params", {{"-A1", double(i)}, {"mode", choices[i]}}}}));
    events.push_back(at(seq++, "dispatched", {{"experiment", id}, {"instrument", "m"}}));
    events.push_back(at(seq++, "result", {{"experiment", id}, {"instrument", "m"}, {"status", "ok"}, {"values", {{"y", double(i)}, {"-2-3", double(i)}}}, {"objective", double(i)}}));
  }
  write_results_csv(summarize(events), dir / "results.csv");
  const std::string csv = labloop::test::read_file(dir / "results.csv");
  // The headers get the data cells' protection; each choice its own cell.
  CHECK(csv.rfind("experiment,instrument,'-A1,mode,y,'-2-3,status,", 0) == 0);
  CHECK_THAT(csv, Catch::Contains("e1,m,0,'=a,0,") && Catch::Contains("e2,m,1,''=a,1,") && Catch::Contains("e3,m,2,'''=a,2,") &&
                      Catch::Contains("e4,m,3,'x,3,") && Catch::Contains("e5,m,4,x,4,"));
  const PriorResults prior = read_prior_results(c);
  CHECK(prior.skipped.empty());
  REQUIRE(prior.rows.size() == choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    CHECK(prior.rows[i].params["mode"] == choices[i]);
    CHECK(prior.rows[i].params["-A1"] == double(i));
    CHECK(prior.rows[i].objective == double(i));
    CHECK(prior.rows[i].values.at("-2-3") == double(i));
  }
  // A file of an earlier version, where '=a stood for =a (and bare names headed the columns), reads as before.
  labloop::test::write_file(dir / "results.csv", "-A1,mode,y\n1,'=a,2\n1,'x,3\n");
  const PriorResults old = read_prior_results(c);
  REQUIRE(old.rows.size() == 2);
  CHECK(old.rows[0].params["mode"] == "=a");
  CHECK(old.rows[1].params["mode"] == "'x");
}
