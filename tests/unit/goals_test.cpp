// Several objectives, outcome constraints and failure conditions: how a campaign file states them,
// and what one result then means (goals.hpp).
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <cmath>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/goals.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/outcome_condition.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

json goals_config() {
  return json::parse(R"({
    "name": "flow", "seed": 1,
    "parameters": [{"name": "t", "type": "continuous", "low": 20, "high": 120},
                   {"name": "equiv", "type": "continuous", "low": 1, "high": 5}],
    "objectives": [{"name": "sty", "goal": "maximize"}, {"name": "e_factor", "goal": "minimize", "threshold": 50}],
    "outcome_constraints": ["purity >= 0.95"],
    "failure": {"when": "sty <= 0"},
    "planner": {"kind": "sobol"},
    "instruments": [{"name": "reactor", "endpoint": "tcp://127.0.0.1:5555"}],
    "budget": {"experiments": 10}
  })");
}

std::string goals_error(const json& config) { return labloop::test::config_error(config, "g.json"); }

CampaignConfig goals_parsed(const json& config) { return parse_campaign_config(config.dump(), "g.json", labloop::sim::catalogue()); }

}  // namespace

TEST_CASE("Outcome conditions: parsed in both orders, refused with the reason", "[goals]") {
  OutcomeCondition c;
  CHECK(parse_outcome_condition("purity >= 0.95", c).empty());
  CHECK((c.output == "purity" && c.relation == Relation::at_least && c.bound == 0.95));
  CHECK(c.text() == "purity >= 0.95");
  CHECK(c.holds(0.96));
  CHECK_FALSE(c.holds(0.9));
  CHECK(c.excess(0.9) == Approx(0.05));
  CHECK(parse_outcome_condition("0<yield", c).empty());  // 0 < yield: yield > 0, the bound itself left out
  CHECK((c.output == "yield" && c.relation == Relation::at_least && c.bound == 0.0 && c.strict));
  CHECK(c.text() == "yield > 0");
  CHECK_FALSE(c.holds(0.0));  // a person's typed 0 sits on the bound: "0 < yield" does not hold
  CHECK(c.holds(1e-300));
  CHECK(parse_outcome_condition("color > 5", c).empty());
  CHECK((c.relation == Relation::at_least && c.strict && !c.holds(5.0) && c.holds(5.5)));
  CHECK(parse_outcome_condition(" e_factor<=-1e3 ", c).empty());
  CHECK((c.output == "e_factor" && c.relation == Relation::at_most && c.bound == -1000.0));
  // A name may start with a digit, as a campaign file allows it ("2theta"); one that reads as a number is a number.
  CHECK(parse_outcome_condition("2theta >= 1", c).empty());
  CHECK((c.output == "2theta" && c.relation == Relation::at_least && c.bound == 1.0));
  CHECK(parse_outcome_condition("1e5 >= 1", c).find("one finite number") != std::string::npos);
  CHECK(parse_outcome_condition("purity == 1", c).find("never exactly equal") != std::string::npos);
  CHECK(parse_outcome_condition("purity", c).find("no comparison") != std::string::npos);
  CHECK(parse_outcome_condition("purity >= high", c).find("one finite number") != std::string::npos);
  CHECK(parse_outcome_condition("0 <= purity <= 1", c).find("more than one comparison") != std::string::npos);
  CHECK(parse_outcome_condition("purity >= 1e999", c).find("one finite number") != std::string::npos);
  CHECK(parse_outcome_condition(std::string(300, 'a') + " >= 1", c).find("at most 200") != std::string::npos);
  REQUIRE(parse_outcome_condition("0 < yield", c).empty());
  CHECK(c.holds_in(json{{"e_factor", 3}}) == std::nullopt);  // no yield there
  CHECK(c.holds_in(json{{"yield", 3}}) == true);
  CHECK(c.holds_in(json{{"yield", 0}}) == false);
  CHECK(c.holds_in(json{{"yield", "3"}}) == std::nullopt);
}

TEST_CASE("Goals: several objectives, outcome constraints and a failure condition load, and journal as they load", "[goals]") {
  const CampaignConfig c = goals_parsed(goals_config());
  REQUIRE(c.objectives.size() == 2);
  CHECK(c.objective.name == "sty");
  CHECK(c.objective.goal == Goal::maximize);
  CHECK(c.objectives[1].threshold == 50.0);
  REQUIRE(c.outcome_constraints.size() == 1);
  CHECK(c.outcome_constraints[0].text() == "purity >= 0.95");
  REQUIRE(c.failure_when.size() == 1);
  CHECK(c.required_outputs() == std::vector<std::string>{"sty", "e_factor", "purity"});
  const PlannerGoals goals = c.planner_goals();
  CHECK(goals.objectives == 2);
  CHECK(std::isnan(goals.thresholds[0]));
  CHECK(goals.thresholds[1] == 50.0);
  CHECK(goals.outcome_constraints == 1);
  CHECK(goals.failure_condition);
  // The journaled form loads again to the same thing, and still names the first objective as
  // "objective" for readers that know only that.
  const json journaled = c.to_json();
  CHECK(journaled["objective"]["name"] == "sty");
  CHECK(goals_parsed(journaled).to_json() == journaled);
}

TEST_CASE("Goals: a one-objective file journals as before", "[goals]") {
  json one = goals_config();
  one.erase("objectives");
  one.erase("outcome_constraints");
  one.erase("failure");
  one["objective"] = {{"name", "sty"}, {"goal", "maximize"}};
  const json journaled = goals_parsed(one).to_json();
  CHECK_FALSE(journaled.contains("objectives"));
  CHECK_FALSE(journaled.contains("outcome_constraints"));
  CHECK_FALSE(journaled.contains("failure"));
}

TEST_CASE("Goals: mistakes are named where they are", "[goals]") {
  json c = goals_config();
  c["objectives"][1]["name"] = "sty";
  CHECK(goals_error(c) == "g.json: /objectives/1/name: duplicate objective \"sty\" (also at /objectives/0)");
  c = goals_config();
  c["objectives"][0]["goal"] = "maximise";
  CHECK(goals_error(c).find("/objectives/0/goal: must be \"minimize\" or \"maximize\", got \"maximise\"; did you mean \"maximize\"?") !=
        std::string::npos);
  c = goals_config();
  c["objectives"][1]["treshold"] = 3;
  CHECK(goals_error(c).find("/objectives/1/treshold: unknown key; did you mean \"threshold\"?") != std::string::npos);
  c = goals_config();
  c["objective"] = {{"name", "e_factor"}};
  CHECK(goals_error(c).find("/objective: names \"e_factor\" but \"objectives\" starts with \"sty\"") != std::string::npos);
  // Noise and threshold given both ways must agree too: "objectives" won, and the other was dropped unsaid.
  c = goals_config();
  c["objectives"][0]["noise"] = 5;
  c["objective"] = {{"name", "sty"}, {"goal", "maximize"}, {"noise", 1}};
  CHECK(goals_error(c) == "g.json: /objective: gives \"sty\" noise 1 but \"objectives\" gives 5: give one of the two (\"objectives\" for several)");
  c["objectives"][0].erase("noise");
  CHECK(goals_error(c) == "g.json: /objective: gives \"sty\" noise 1 but \"objectives\" gives none: give one of the two (\"objectives\" for several)");
  c["objective"] = {{"name", "sty"}, {"goal", "maximize"}, {"threshold", 2.5}};
  CHECK(goals_error(c) == "g.json: /objective: gives \"sty\" threshold 2.5 but \"objectives\" gives none: give one of the two (\"objectives\" for several)");
  c["objectives"][0]["threshold"] = 2.5;
  CHECK(goals_error(c).empty());
  c = goals_config();
  c["objectives"] = json::array();
  for (int i = 0; i < 9; ++i) c["objectives"].push_back({{"name", "o" + std::to_string(i)}});
  CHECK(goals_error(c).find("/objectives: lists 9 objectives; at most 8 are allowed") != std::string::npos);
  c = goals_config();
  c["outcome_constraints"] = {"purity >= 0.95", "purity = 1"};
  CHECK(goals_error(c).find("/outcome_constraints/1: \"purity = 1\" is not an outcome constraint: it uses \"=\"") != std::string::npos);
  c = goals_config();
  c["outcome_constraints"] = {"pareto >= 1"};
  CHECK(goals_error(c).find("/outcome_constraints/0: an output named \"pareto\" would clash with results.csv's own \"pareto\" column") !=
        std::string::npos);
  c = goals_config();
  c["failure"] = {{"when", 3}};
  CHECK(goals_error(c).find("/failure/when: ") != std::string::npos);
  c = goals_config();
  c["failure"] = {{"if", "sty <= 0"}};
  CHECK(goals_error(c).find("/failure/if: unknown key") != std::string::npos);
}

TEST_CASE("Goals: an instrument must measure every objective and every constrained output", "[goals]") {
  const CampaignConfig c = goals_parsed(goals_config());
  InstrumentInfo info;
  info.inputs = c.parameters;
  info.outputs = {"sty", "e_factor"};
  try {
    check_instrument_fits(c, 0, info);
    FAIL("an instrument without purity was accepted");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "g.json: /instruments/0: instrument 'reactor' does not measure the output \"purity\" (its outputs: sty, e_factor)");
  }
  info.outputs = {"sty", "purity", "e_factor"};
  CHECK_NOTHROW(check_instrument_fits(c, 0, info));
}

TEST_CASE("Goals: what one result means for the planner and for the best", "[goals]") {
  const CampaignConfig c = goals_parsed(goals_config());
  const Point x = Point::Constant(2, 0.5);
  CHECK(missing_outputs(c, json{{"sty", 1}, {"e_factor", 2}}) == "no finite value for the output \"purity\"");
  CHECK(missing_outputs(c, json{{"e_factor", 2}, {"purity", 1}}) == "no finite value for the objective \"sty\"");
  CHECK(missing_outputs(c, json{{"sty", 1}, {"e_factor", 2}, {"purity", 0.9}}).empty());
  // A value outside the range `outputs` declares is refused, as `labloop enter` refuses it.
  json ranged = goals_config();
  ranged["outputs"] = json::parse(R"([{"name": "purity", "low": 0, "high": 1}, {"name": "e_factor", "low": 0}, "sty"])");
  const CampaignConfig r = goals_parsed(ranged);
  CHECK(outputs_out_of_range(r, json{{"sty", -1e9}, {"e_factor", 2}, {"purity", 1}}).empty());
  CHECK(outputs_out_of_range(r, json{{"sty", 1}, {"e_factor", 2}, {"purity", 7}}) == "purity = 7 is outside its declared range [0, 1]");
  CHECK(outputs_out_of_range(r, json{{"sty", 1}, {"e_factor", -0.5}, {"purity", 0.5}}) == "e_factor = -0.5 is outside its declared range [0, inf]");
  CHECK(outputs_out_of_range(c, json{{"sty", 1}, {"e_factor", -5}, {"purity", 7}}).empty());  // nothing declared
  // A named output's value must be a number: "7" and true were recorded as good results.
  CHECK(outputs_out_of_range(r, json{{"sty", 1}, {"e_factor", 2}, {"purity", "7"}}) == "purity = \"7\" is not a number (an output's value is a JSON number)");
  CHECK(outputs_out_of_range(r, json{{"sty", 1}, {"e_factor", 2}, {"purity", true}}) == "purity = true is not a number (an output's value is a JSON number)");
  CHECK(outputs_out_of_range(c, json{{"sty", 1}, {"e_factor", 2}, {"purity", {1}}}) == "purity = [1] is not a number (an output's value is a JSON number)");  // in an outcome constraint
  CHECK(outputs_out_of_range(r, json{{"sty", 1}, {"e_factor", 2}, {"purity", nullptr}}).empty());  // null: not measured
  CHECK(outputs_out_of_range(r, json{{"sty", 1}, {"e_factor", 2}, {"purity", 0.5}, {"note", "free text"}}).empty());  // an output nobody named

  const Observation good = observe(c, x, json{{"sty", 12.5}, {"e_factor", 30}, {"purity", 0.97}});
  CHECK(good.status == ObservationStatus::ok);
  CHECK(good.objective == -12.5);  // maximized: negated
  CHECK(good.objectives == std::vector<double>{-12.5, 30});
  REQUIRE(good.constraints.size() == 1);
  CHECK(good.constraints[0] == Approx(-0.02));
  CHECK(good.feasible());
  CHECK(counts(c, json{{"sty", 12.5}, {"e_factor", 30}, {"purity", 0.97}}));

  const Observation impure = observe(c, x, json{{"sty", 20}, {"e_factor", 10}, {"purity", 0.5}});
  CHECK(impure.status == ObservationStatus::ok);
  CHECK_FALSE(impure.feasible());
  CHECK_FALSE(counts(c, json{{"sty", 20}, {"e_factor", 10}, {"purity", 0.5}}));

  const json no_product{{"sty", 0}, {"e_factor", 1e4}, {"purity", 0.99}};
  const Observation failed = observe(c, x, no_product);
  CHECK(failed.status == ObservationStatus::failed);
  CHECK(std::isnan(failed.objective));
  CHECK(failed.values.at("purity") == 0.99);  // what was measured stays with it
  REQUIRE(failure_met(c, no_product));
  CHECK(failure_met(c, no_product)->text() == "sty <= 0");
  CHECK_FALSE(counts(c, no_product));
}

TEST_CASE("Goals: an objective's stated noise loads, reaches the planner, journals, and is refused out of range", "[goals]") {
  json c = goals_config();
  c["objectives"][1]["noise"] = 0.5;
  const CampaignConfig parsed = goals_parsed(c);
  CHECK(parsed.objectives[1].noise == 0.5);
  CHECK_FALSE(parsed.objectives[0].noise.has_value());
  const PlannerGoals goals = parsed.planner_goals();
  REQUIRE(goals.noise.size() == 2);
  CHECK(std::isnan(goals.noise[0]));
  CHECK(goals.noise[1] == 0.5);
  const json journaled = parsed.to_json();
  CHECK(journaled["objectives"][1]["noise"] == 0.5);
  CHECK(goals_parsed(journaled).to_json() == journaled);

  json one = goals_config();
  one.erase("objectives");
  one["objective"] = {{"name", "sty"}, {"goal", "maximize"}, {"noise", 2}};
  CHECK(goals_parsed(one).to_json()["objective"]["noise"] == 2.0);
  CHECK(goals_parsed(one).planner_goals().noise == std::vector<double>{2.0});

  c["objectives"][1]["noise"] = -0.1;
  CHECK(goals_error(c).find("/objectives/1/noise: must be from 0 to 1e100 (the standard deviation of a measurement of \"e_factor\", in its units; got -0.1)") !=
        std::string::npos);
  c["objectives"][1]["noise"] = "0.5";
  CHECK(goals_error(c).find("/objectives/1/noise:") != std::string::npos);
  // A warp of the results would change the units the noise is stated in.
  c["objectives"][1]["noise"] = 0.5;
  c["planner"] = {{"kind", "bayesian"}, {"output_transform", "yeo_johnson"}};
  CHECK(goals_error(c).find("/planner/output_transform: warps the results, whose units an objective's \"noise\" is stated in") != std::string::npos);
}

TEST_CASE("Goals: a new campaign adopts the noise every instrument states, the largest, where its file states none", "[goals]") {
  CampaignConfig c = goals_parsed(goals_config());
  InstrumentInfo a, b;
  a.outputs = b.outputs = {"sty", "e_factor", "purity"};
  a.noise = {{"sty", 0.2}, {"e_factor", 1.0}};
  b.noise = {{"sty", 0.3}};
  std::vector<std::string> lines = adopt_stated_noise(c, {&a, &b});
  CHECK(c.objectives[0].noise == 0.3);
  CHECK(c.objective.noise == 0.3);  // the first objective is journaled as "objective" too
  CHECK_FALSE(c.objectives[1].noise.has_value());  // b states none for it
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "objective \"sty\": noise 0.3 (standard deviation) as the instruments state it");
  CHECK(lines[1] == "objective \"e_factor\": its noise is estimated from the results (not every instrument states one)");
  CHECK(goals_parsed(c.to_json()).planner_goals().noise[0] == 0.3);

  // What the file states stands; nothing stated, nothing said.
  json stated = goals_config();
  stated["objectives"][0]["noise"] = 5;
  c = goals_parsed(stated);
  lines = adopt_stated_noise(c, {&a, &b});
  CHECK(c.objectives[0].noise == 5.0);
  CHECK(lines == std::vector<std::string>{"objective \"e_factor\": its noise is estimated from the results (not every instrument states one)"});
  c = goals_parsed(goals_config());
  const InstrumentInfo silent;
  CHECK(adopt_stated_noise(c, {&a, &silent}).size() == 2);
  CHECK_FALSE(c.objectives[0].noise.has_value());
  CHECK(adopt_stated_noise(c, {&silent}).empty());
  CHECK(adopt_stated_noise(c, {}).empty());

  // A planner told to warp the results does not get it (the config would no longer validate).
  json warped = goals_config();
  warped["planner"] = {{"kind", "bayesian"}, {"output_transform", "half_rank"}};
  c = goals_parsed(warped);
  lines = adopt_stated_noise(c, {&a, &b});
  CHECK_FALSE(c.objectives[0].noise.has_value());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("is not used: the planner's \"output_transform\": \"half_rank\"") != std::string::npos);
}
