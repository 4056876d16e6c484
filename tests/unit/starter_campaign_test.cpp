// `labloop new`'s starter campaign files: one for every simulator of the catalogue (the 18 test
// functions and the 46 datasets) must load as written, with the simulator's own parameters,
// objectives, outcome constraints and required constraint.
#include <catch2/catch.hpp>

#include <algorithm>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/starter_campaign.hpp"
#include "labloop/core/error.hpp"
#include "test_support.hpp"

using namespace labloop;

namespace {

CampaignConfig load_starter(const test::TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir / (name + ".json");
  test::write_file(path, text);
  return load_campaign_config(path.string(), sim::catalogue());
}

}  // namespace

TEST_CASE("Starter campaign: every simulator's file loads with its parameters, goals and constraints", "[starter]") {
  test::TempDir dir;
  const SimulatorCatalogue& catalogue = sim::catalogue();
  int datasets = 0, several = 0, constrained = 0, with_outcome_constraints = 0, narrowed = 0;
  for (const std::string& name : catalogue.names()) {
    INFO(name);
    const SimulatorSpec& spec = *catalogue.find(name);
    const std::string text = starter_campaign(spec, {});
    CampaignConfig config;
    REQUIRE_NOTHROW(config = load_starter(dir, name, text));
    CHECK(config.name == campaign_name_from(name));
    CHECK(config.budget.experiments == 30);
    REQUIRE(config.instruments.size() == 1);
    CHECK(config.instruments[0].simulator == name);
    // The parameters as the simulator offers them (as it declares them, less a dataset's choices
    // no row holds): names, types, bounds, choices, levels.
    const std::vector<Parameter> inputs = spec.offered_inputs ? spec.offered_inputs(spec.default_dim) : spec.inputs(spec.default_dim);
    const std::vector<Parameter> declared = spec.inputs(spec.default_dim);
    REQUIRE(config.parameters.size() == inputs.size());
    REQUIRE(declared.size() == inputs.size());
    bool fewer_choices = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      fewer_choices |= inputs[i].choices.size() < declared[i].choices.size();
      for (const std::string& choice : inputs[i].choices)  // never one the instrument would not accept
        CHECK(std::find(declared[i].choices.begin(), declared[i].choices.end(), choice) != declared[i].choices.end());
      CHECK(config.parameters[i].name == inputs[i].name);
      CHECK(config.parameters[i].type == inputs[i].type);
      CHECK(config.parameters[i].choices == inputs[i].choices);
      CHECK(config.parameters[i].values == inputs[i].values);
      if (inputs[i].type == ParameterType::continuous || inputs[i].type == ParameterType::integer) {
        CHECK(config.parameters[i].low == inputs[i].low);  // exactly: the shortest text that reads back the same double
        CHECK(config.parameters[i].high == inputs[i].high);
      }
    }
    const SimulatorGoals goals = spec.goals(spec.default_dim);
    REQUIRE(!goals.objectives.empty());
    CHECK(config.objective.name == goals.objectives[0].output);
    CHECK((config.objective.goal == Goal::maximize) == goals.objectives[0].maximize);
    CHECK(config.objectives.size() == (goals.several ? goals.objectives.size() : 1));
    several += goals.several;
    if (goals.objectives.size() > 1 && !goals.several)  // the others, ready to switch on, in a comment
      CHECK(text.find("// \"objectives\": [") != std::string::npos);
    CHECK(config.outcome_constraints.size() == goals.outcome_constraints.size());
    with_outcome_constraints += !goals.outcome_constraints.empty();
    const std::string required = spec.required_constraint ? spec.required_constraint() : "";
    CHECK(config.constraints.size() == (required.empty() ? 0u : 1u));
    constrained += !required.empty();
    datasets += !spec.readme.empty();
    narrowed += fewer_choices;
  }
  // What the catalogue holds today; a smaller count means a simulator went missing.
  CHECK(datasets >= 46);
  CHECK(several >= 3);                    // branin_currin, dtlz2, snar_kinetic
  CHECK(with_outcome_constraints >= 3);  // hartmann6_constrained, gramacy, ackley_constrained
  CHECK(constrained >= 7);                // the simplex datasets
  CHECK(narrowed == 4);                   // suzuki_i–iv: their specs list ligand L7, no row holds it
}

TEST_CASE("Starter campaign: a multi-objective function's reference point becomes the thresholds, a maximized objective's included", "[starter]") {
  test::TempDir dir;
  const CampaignConfig snar = load_starter(dir, "snar", starter_campaign(*sim::catalogue().find("snar_kinetic"), {.name = "flow", .experiments = 12}));
  CHECK(snar.name == "flow");
  CHECK(snar.budget.experiments == 12);
  REQUIRE(snar.objectives.size() == 2);
  CHECK(snar.objectives[0].name == "e_factor");
  CHECK(snar.objectives[0].threshold == 10.0);
  CHECK(snar.objectives[1].goal == Goal::maximize);
  CHECK(snar.objectives[1].threshold == 2000.0);
}

TEST_CASE("Starter campaign: another dimension goes into the instrument options, and one the simulator does not take is refused", "[starter]") {
  test::TempDir dir;
  const SimulatorSpec& ackley = *sim::catalogue().find("ackley");
  const CampaignConfig five = load_starter(dir, "ackley5", starter_campaign(ackley, {.dim = 5}));
  CHECK(five.parameters.size() == 5);
  CHECK(five.instruments.at(0).options.value("dim", 0) == 5);
  CHECK(five.planner.kind == "bayesian");
  // More coordinates than the model-based planners take: a file that loads, with random search.
  const CampaignConfig wide = load_starter(dir, "ackley338", starter_campaign(ackley, {.dim = 338}));
  CHECK(wide.parameters.size() == 338);
  CHECK(wide.planner.kind == "random");
  CHECK(test::message_of([&] { starter_campaign(*sim::catalogue().find("branin"), {.dim = 3}); }) ==
        "labloop new: --dim: simulator \"branin\" has 2 dimensions only; leave --dim out");
  CHECK(test::message_of([&] { starter_campaign(ackley, {.name = "a b"}); }).find("\"a b\" cannot name a campaign") != std::string::npos);
  CHECK(test::message_of([&] { starter_campaign(ackley, {.experiments = 0}); }) == "labloop new: --experiments: must be from 1 to 1000000");
  // More experiments than the bayesian planner learns from: a file that loads, with Sobol points.
  const CampaignConfig many = load_starter(dir, "many", starter_campaign(ackley, {.experiments = 1000000}));
  CHECK(many.planner.kind == "sobol");
  CHECK(load_starter(dir, "enough", starter_campaign(ackley, {.experiments = 5000})).planner.kind == "bayesian");
}

TEST_CASE("Starter campaign: a simulator that fails by design gets a campaign that carries on through failures", "[starter]") {
  test::TempDir dir;
  const CampaignConfig failing = load_starter(dir, "failing", starter_campaign(*sim::catalogue().find("branin_failing"), {}));
  CHECK_FALSE(failing.pause_on_failures);
  CHECK(failing.instruments.at(0).quarantine_after == kMaxQuarantineAfter);
  CHECK(failing.to_json()["stop"] == nlohmann::json{{"pause_on_failures", false}});  // journaled, so resume keeps it
  const CampaignConfig plain = load_starter(dir, "plain", starter_campaign(*sim::catalogue().find("branin"), {}));
  CHECK(plain.pause_on_failures);
  CHECK(plain.instruments.at(0).quarantine_after == 5);
  CHECK_FALSE(plain.to_json().contains("stop"));
}

TEST_CASE("Starter campaign: a file's name becomes a campaign name a file may hold", "[starter]") {
  CHECK(campaign_name_from("buchwald a (copy)") == "buchwald_a__copy_");
  CHECK(campaign_name_from(std::string(100, 'x')).size() == kMaxNameChars);
  CHECK(campaign_name_from("") == "");
  CHECK(campaign_name_from("---") == "");
  CHECK(campaign_name_from("réaction").find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos);
}

TEST_CASE("Starter campaign: from a driver's welcome, its inputs at its limits and the chosen objective, its text kept on comment lines", "[starter]") {
  test::TempDir dir;
  InstrumentInfo info;
  info.driver = "reactor\n\"objective\": {\"name\": \"x\"},\r//";  // a hostile name: must stay on its comment line
  info.version = "2.1";
  info.inputs = {Parameter{.name = "temperature", .low = 20, .high = 250, .unit = "C"},
                 Parameter{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF"}},
                 // One level (a file of this writing used to be refused when loaded).
                 Parameter{.name = "pressure", .type = ParameterType::discrete, .low = 2, .high = 2, .values = {2}}};
  info.outputs = {"yield", "purity"};
  const std::string text = starter_campaign(info, "tcp://127.0.0.1:5555", {.output = "yield", .maximize = true}, {.name = "r1"});
  const CampaignConfig config = load_starter(dir, "driver", text);
  CHECK(config.objective.name == "yield");
  CHECK(config.objective.goal == Goal::maximize);
  REQUIRE(config.parameters.size() == 3);
  CHECK(config.parameters[0].high == 250);
  CHECK(config.parameters[0].unit == "C");
  CHECK(config.parameters[1].choices == std::vector<std::string>{"THF", "DMF"});
  CHECK(config.parameters[2].values == std::vector<double>{2});
  CHECK_NOTHROW(check_instrument_fits(config, 0, info));
  CHECK(config.instruments.at(0).endpoint == "tcp://127.0.0.1:5555");
  CHECK(config.instruments.at(0).name == "reactor__objective_____name____x______");
  // The other output named, without a guess at its goal.
  CHECK(text.find("// It also measures purity: name them in \"outputs\"") != std::string::npos);
  CHECK(text.find("purity (m") == std::string::npos);
  CHECK(test::message_of([&] { starter_campaign(info, "tcp://127.0.0.1:5555", {.output = "yeild"}, {}); }) ==
        "labloop new: --objective: the driver at tcp://127.0.0.1:5555 does not measure \"yeild\"; did you mean \"yield\"? (its outputs: yield, purity)");
}

TEST_CASE("Starter campaign: a driver's other outputs stay on their comment line, escapes shown, not obeyed", "[starter]") {
  test::TempDir dir;
  InstrumentInfo info;
  info.driver = "reactor";
  info.version = "1";
  info.inputs = {Parameter{.name = "temperature", .low = 20, .high = 250}};
  // An audit's driver planted a stop target through an output's name, and an escape sequence.
  info.outputs = {"yield", "z\n  \"stop\": {\"target\": 1e9},\n  //", "q\x1b]0;PWNED\x07\x1b[2J"};
  const std::string text = starter_campaign(info, "tcp://127.0.0.1:5555", {.output = "yield", .maximize = true}, {.name = "r1"});
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("\\x1b]0;PWNED") != std::string::npos);
  const CampaignConfig config = load_starter(dir, "driver", text);
  CHECK_FALSE(config.target.has_value());
}

// A file `labloop new` wrote before 2026-12-06 for suzuki_i lists ligand L7, which no row of the
// dataset holds: it still loads (old campaign folders resume), and validate and run say which
// choice fails and what to do. Today's starter file lists none.
TEST_CASE("Starter campaign: choices a simulated instrument cannot answer are named, and a new file lists none", "[starter]") {
  const CampaignConfig old = load_campaign_config((std::filesystem::path(LABLOOP_SOURCE_DIR) / "tests/fixtures/v0.2.0/emulated.json").string(), sim::catalogue());
  const std::vector<std::string> notes = unanswerable_choices(old);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0] == "parameter 'ligand': instrument 'sim' (suzuki_i) cannot answer choice L7 (no measurement holds it): every experiment proposing it "
                    "fails; remove it from the choices");
  test::TempDir dir;
  for (const char* name : {"suzuki_i", "suzuki_iv", "buchwald_a", "branin"}) {
    INFO(name);
    CHECK(unanswerable_choices(load_starter(dir, name, starter_campaign(*sim::catalogue().find(name), {}))).empty());
  }
}
