// What replay, resume and verify refuse in a journal's record before the planner hears it
// (campaign/replay.hpp): lines the loop never writes, named by their line.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "catalogue.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/error.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

json campaign_file(const std::string& planner) {
  return json::parse(R"({
    "name": "demo", "seed": 3,
    "parameters": [
      {"name": "x1", "type": "continuous", "low": -5, "high": 10},
      {"name": "x2", "type": "continuous", "low": 0, "high": 15}
    ],
    "constraints": ["x1 + x2 <= 5"],
    "objective": {"name": "y", "goal": "minimize"},
    "planner": {"kind": ")" + planner + R"("},
    "instruments": [{"name": "sim", "simulator": "branin"}],
    "budget": {"experiments": 10},
    "output": "runs/demo"
  })");
}

json line(int seq, const std::string& kind, json fields) {
  fields["seq"] = seq;
  fields["time"] = fmt::format("2026-11-25T08:30:{:02d}.000Z", seq);
  fields["event"] = kind;
  return fields;
}

std::vector<JournalEvent> journal_of(const CampaignConfig& c, const std::vector<json>& after_start) {
  std::vector<json> objects{line(1, "campaign_started", {{"campaign", "demo"}, {"config", c.to_json()}})};
  for (const json& e : after_start) objects.push_back(line(static_cast<int>(objects.size()) + 1, e["event"], e));
  return decode_events(objects, "runs/demo/journal.jsonl");
}

json proposal(const CampaignConfig& c, const std::string& id, double x1, double x2) {
  const json params{{"x1", x1}, {"x2", x2}};
  const Eigen::VectorXd x = c.space().encode(params);
  return json{{"event", "proposed"}, {"experiment", id}, {"params", params}, {"planner", c.planner.kind},
              {"x", std::vector<double>(x.data(), x.data() + x.size())}, {"ask", 1}, {"pending", json::array()}};
}

// The message the readers give for these events, or "" when they take them.
std::string refusal(const std::vector<JournalEvent>& events) {
  return test::message_of([&] { check_journaled_points(events, journaled_config(events, "runs/demo/journal.jsonl", sim::catalogue())); });
}

}  // namespace

TEST_CASE("Replay: a journaled proposal that breaks a linear constraint is named as an edit, as one outside the bounds is", "[replay]") {
  const CampaignConfig c = parse_campaign_config(campaign_file("sobol").dump(), "c.json", sim::catalogue());
  CHECK(refusal(journal_of(c, {proposal(c, "demo-0001", 1, 2)})).empty());
  // Resume refused to send it as a planner's bug ("a bug: please report it"), at every attempt.
  CHECK(refusal(journal_of(c, {proposal(c, "demo-0001", 1, 2), proposal(c, "demo-0002", 4, 4)})) ==
        "seq 3: the params of demo-0002 break the campaign's constraints (violates constraint 0 \"x1 + x2 <= 5\": its parameter terms sum "
        "to 8, which must be <= 5); the journal was edited or damaged");
}

TEST_CASE("Replay: a journaled budget extension past the limits `labloop extend` keeps is refused, naming its line", "[replay]") {
  const auto extension = [](int experiments, std::optional<double> hours = std::nullopt) {
    json e{{"event", "budget_extended"}, {"experiments", experiments}, {"by", "ana"}};
    if (hours) e["hours"] = *hours;
    return e;
  };
  const CampaignConfig sobol = parse_campaign_config(campaign_file("sobol").dump(), "c.json", sim::catalogue());
  CHECK(journaled_config(journal_of(sobol, {extension(6000, 48.0)}), "j", sim::catalogue()).budget.experiments == 6000);
  CHECK(refusal(journal_of(sobol, {extension(20), extension(1000000000)})) ==
        "runs/demo/journal.jsonl: line 3: budget_extended raises the budget to 1000000000 experiments, past the most a campaign may have "
        "(1000000); `labloop extend` never journals that (the journal was edited or damaged): restore journal.jsonl from a copy");
  CHECK_THAT(refusal(journal_of(sobol, {extension(20, 1e9)})),
             Catch::StartsWith("runs/demo/journal.jsonl: line 2: budget_extended gives 1000000000.0 hours, where a time budget is more "
                               "than 0 and at most 8760"));
  const CampaignConfig bayesian = parse_campaign_config(campaign_file("bayesian").dump(), "c.json", sim::catalogue());
  CHECK(journaled_config(journal_of(bayesian, {extension(5000)}), "j", sim::catalogue()).budget.experiments == 5000);
  CHECK_THAT(refusal(journal_of(bayesian, {extension(5001)})),
             Catch::StartsWith("runs/demo/journal.jsonl: line 2: budget_extended raises the budget to 5001 experiments, past the 5000 "
                               "results the bayesian planner learns from;"));
}

TEST_CASE("Replay: progress hears every ask with the journal's count, and a stop ends it between asks", "[replay]") {
  const CampaignConfig c = parse_campaign_config(campaign_file("sobol").dump(), "c.json", sim::catalogue());
  json second = proposal(c, "demo-0002", 1, 2), third = proposal(c, "demo-0003", 2, 1);
  second["ask"] = 2;
  third["ask"] = 2;  // one ask of two
  const std::vector<JournalEvent> events = journal_of(c, {proposal(c, "demo-0001", 1, 1), second, third});
  const auto fresh = [&] { return make_planner(PlannerContext{c.space(), c.seed, c.planner, c.source, c.planner_goals()}); };
  std::vector<std::pair<int, int>> heard;
  ReplayWatch watch{.progress = [&](int ask, int asks) { heard.emplace_back(ask, asks); }};
  const ReplayReport report = replay_journal(events, c, *fresh(), watch);
  CHECK(report.asks == 2);
  CHECK(heard == std::vector<std::pair<int, int>>{{1, 2}, {2, 2}});
  std::stop_source stop;
  stop.request_stop();
  watch.stop = stop.get_token();
  CHECK_THROWS_MATCHES(replay_journal(events, c, *fresh(), watch), ReplayStopped,
                       Catch::Matchers::Message("stopped while rebuilding the planner from the journal, at ask 1 of 2"));
}
