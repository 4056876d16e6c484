// Pool-based campaigns end to end: exhaustion, replay, resume against a changed file, and a real
// campaign over sockets with two labloop-sim instruments.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <map>
#include <set>

#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/candidates.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "test_support.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

// `rows` settings of (x1, x2) on Branin's box, written to dir/plate.csv; a campaign choosing among them.
json pool_campaign(const test::TempDir& dir, int rows, const std::string& planner, int budget) {
  std::string csv = "x1,x2\n";
  for (int i = 0; i < rows; ++i) csv += fmt::format("{},{}\n", -5 + 15.0 * ((i * 7) % rows) / rows, 15.0 * i / rows);
  test::write_file(dir / "plate.csv", csv);
  json planner_section{{"kind", planner}};
  if (planner == "bayesian") planner_section["initial"] = 4;
  return json{{"name", "pool"},
              {"seed", 3},
              {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}}, {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
              {"objective", {{"name", "y"}, {"goal", "minimize"}}},
              {"planner", planner_section},
              {"instruments", {{{"name", "sim"}, {"simulator", "branin"}}}},
              {"budget", {{"experiments", budget}}},
              {"candidates", (dir / "plate.csv").string()},
              {"output", (dir / "out").string()}};
}

CampaignConfig parsed(const json& file) { return parse_campaign_config(file.dump(), "test.json", labloop::sim::catalogue()); }

std::set<std::pair<double, double>> rows_of(const test::TempDir& dir) {
  const CampaignConfig config = parsed(json{{"name", "r"},
                                            {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}}, {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                                            {"objective", {{"name", "y"}}},
                                            {"instruments", {{{"name", "sim"}, {"simulator", "branin"}}}},
                                            {"budget", {{"experiments", 1}}},
                                            {"candidates", (dir / "plate.csv").string()}});
  std::set<std::pair<double, double>> out;
  const CandidateFile file = read_candidates(config);
  for (Eigen::Index i = 0; i < file.pool.size(); ++i) {
    const Params p = file.row_params(i);
    out.emplace(p["x1"].get<double>(), p["x2"].get<double>());
  }
  return out;
}

// The params of every "proposed" line, checked to be distinct rows of the pool.
size_t check_proposals_are_rows(const std::filesystem::path& journal, const std::set<std::pair<double, double>>& rows) {
  std::set<std::pair<double, double>> seen;
  for (const json& e : read_journal(journal).events) {
    if (e["event"] != "proposed" || e.contains("retry_of")) continue;
    const std::pair<double, double> p{e["params"]["x1"].get<double>(), e["params"]["x2"].get<double>()};
    CHECK(rows.count(p) == 1);
    CHECK(seen.insert(p).second);
  }
  return seen.size();
}

}  // namespace

TEST_CASE("Pool campaign: a pool smaller than the budget stops cleanly once every candidate has been tried", "[pool][campaign]") {
  test::TempDir dir;
  CampaignOptions options;
  options.dry_run = true;
  const CampaignSummary summary = run_campaign(parsed(pool_campaign(dir, 6, "random", 20)), options);
  CHECK(summary.stop == StopReason::candidates_exhausted);
  CHECK(summary.reason == "every candidate has been tried");
  CHECK(summary.status.done == 6);
  const auto journal = dir / "out-dry-run" / "journal.jsonl";
  CHECK(check_proposals_are_rows(journal, rows_of(dir)) == 6);
  const auto events = read_journal(journal).events;
  CHECK(events.front()["candidates"]["rows"] == 6);
  CHECK(events.front()["candidates"]["sha256"].get<std::string>().size() == 64);
  CHECK(events.back()["reason"] == "every candidate has been tried");
  // Nothing is left to resume.
  options.resume = true;
  CHECK_THROWS_WITH(run_campaign(parsed(pool_campaign(dir, 6, "random", 20)), options), Catch::Contains("every candidate has been tried"));
}

TEST_CASE("Pool campaign: replaying a Bayesian pool campaign reproduces its proposals, and resume refuses a changed candidates file", "[pool][campaign]") {
  test::TempDir dir;
  CampaignOptions options;
  options.dry_run = true;
  const json file = pool_campaign(dir, 16, "bayesian", 9);
  const CampaignSummary summary = run_campaign(parsed(file), options);
  CHECK(summary.reason == "budget reached");
  const auto journal = dir / "out-dry-run" / "journal.jsonl";
  CHECK(check_proposals_are_rows(journal, rows_of(dir)) == 9);

  const auto events = decode_events(read_journal(journal).events, journal.string());
  const CampaignConfig config = journaled_config(events, journal.string(), labloop::sim::catalogue());
  const auto candidates = journaled_candidates(events, config);
  REQUIRE(candidates);
  PlannerContext context{config.space(), config.seed, config.planner, config.source, config.planner_goals()};
  context.candidates = &candidates->pool;
  const auto planner = make_planner(context);
  const ReplayReport report = replay_journal(events, config, *planner);
  CHECK(report.proposals == 9);
  CHECK(report.reproduced());

  // An unfinished copy (the last line cut away), then the file edited: resume refuses.
  const auto lines = read_journal(journal).events.size();
  test::keep_first_lines(journal, lines - 1);
  const std::string original = test::read_file(dir / "plate.csv");
  test::write_file(dir / "plate.csv", original + "9.5,14.5\n");
  options.resume = true;
  CHECK_THROWS_WITH(run_campaign(config, options), Catch::Contains("has changed since the campaign began") && Catch::Contains("restore that file"));
  test::write_file(dir / "plate.csv", original);
  CHECK(run_campaign(config, options).reason == "budget reached");

  // The campaign folder keeps its own copy: moved elsewhere (the original file gone), it still
  // replays; a copy that was edited is refused as the original would be.
  CHECK(test::read_file(dir / "out-dry-run" / "plate.csv") == original);
  std::filesystem::remove(dir / "plate.csv");
  const auto moved_events = decode_events(read_journal(journal).events, journal.string());
  CHECK(journaled_candidates(moved_events, config, dir / "out-dry-run"));
  CHECK_THROWS_WITH(journaled_candidates(moved_events, config), Catch::Contains("cannot be read"));
  test::write_file(dir / "out-dry-run" / "plate.csv", original + "9.5,14.5\n");
  CHECK_THROWS_WITH(journaled_candidates(moved_events, config, dir / "out-dry-run"), Catch::Contains("has changed since the campaign began"));
}

TEST_CASE("Pool campaign: two labloop-sim instruments over real sockets run only pool rows, none twice", "[pool][campaign]") {
  test::TempDir dir;
  json file = pool_campaign(dir, 30, "bayesian", 10);
  file["instruments"] = {{{"name", "a"}, {"simulator", "branin"}}, {{"name", "b"}, {"simulator", "branin"}}};
  CampaignOptions options;
  options.simulator = LABLOOP_SIM_PATH;
  const CampaignSummary summary = run_campaign(parsed(file), options);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 10);
  const auto journal = dir / "out" / "journal.jsonl";
  CHECK(check_proposals_are_rows(journal, rows_of(dir)) == 10);
  std::map<std::string, json> params;
  std::set<std::string> instruments;
  std::set<std::pair<double, double>> dispatched;
  for (const json& e : read_journal(journal).events) {
    if (e["event"] == "proposed") params[e["experiment"]] = e["params"];
    if (e["event"] == "dispatched" && !e.contains("resent")) {
      instruments.insert(e["instrument"].get<std::string>());
      const json& p = params.at(e["experiment"]);
      CHECK(dispatched.insert({p["x1"].get<double>(), p["x2"].get<double>()}).second);
    }
  }
  CHECK(dispatched.size() == 10);
  CHECK(instruments.size() == 2);
}
