// Campaigns that start from what the lab already knows ("prior_results") and campaigns given more
// budget after they finished (`labloop extend`): real processes, as a technician uses them.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <set>
#include <thread>

#include "cli_process.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "test_support.hpp"

using namespace labloop;
namespace fs = std::filesystem;

namespace {

std::string campaign_file(const std::string& name, int budget, const std::string& extra) {
  return fmt::format(R"({{"name": "{}", "seed": 11,
    "parameters": [{{"name": "x1", "type": "continuous", "low": -5, "high": 10, "unit": "mm"}},
                   {{"name": "x2", "type": "continuous", "low": 0, "high": 15}}],
    "objective": {{"name": "y"}},
    "planner": {{"kind": "bayesian", "initial": 5}},
    "instruments": [{{"name": "sim", "simulator": "branin"}}],
    "budget": {{"experiments": {}}}{}}})",
                     name, budget, extra);
}

std::vector<JournalEvent> events_of(const fs::path& dir) {
  const fs::path journal = dir / "journal.jsonl";
  return decode_events(read_journal(journal).events, journal.string());
}

std::vector<double> first_proposal(const fs::path& dir) {
  for (const auto& e : events_of(dir))
    if (const auto* p = e.as<ProposedEvent>()) return p->x;
  FAIL("no proposal in " << dir);
  return {};
}

}  // namespace

TEST_CASE("prior_results teach the planner before its first proposal, and bad rows are reported by line and skipped", "[prior][cli]") {
  test::TempDir dir;
  // Eight good rows (more than the initial design of 5), one outside the space, one without the
  // objective, and a column that is neither a parameter nor an output.
  std::string csv = "x1 [mm],x2,y,notes\n";
  const double rows[8][3] = {{-3, 12, 20.1}, {9, 2, 3.2},  {3.1, 2.3, 0.6}, {0, 5, 17.5},
                             {5, 5, 18.0},   {-4, 4, 96}, {8, 14, 110},    {2, 8, 30}};
  for (const auto& r : rows) csv += fmt::format("{},{},{},ok\n", r[0], r[1], r[2]);
  csv += "12,3,1.0,too far\n";  // line 10
  csv += "1,3,,no result\n";    // line 11
  test::write_file(dir / "earlier.csv", csv);
  test::write_file(dir / "with.json", campaign_file("with", 3, R"(, "prior_results": "earlier.csv")"));
  test::write_file(dir / "without.json", campaign_file("without", 3, ""));

  const test::CliOutcome checked = test::cli({"validate", (dir / "with.json").string()}, dir);
  CHECK(checked.status == 0);
  CHECK_THAT(checked.output, Catch::Contains("earlier.csv line 10: x1 = 12") && Catch::Contains("is outside its bounds [-5, 10]; skipped"));
  CHECK_THAT(checked.output, Catch::Contains("earlier.csv line 11: no value for the objective y; skipped"));
  CHECK_THAT(checked.output, Catch::Contains("ignored columns (neither parameters nor outputs): notes"));
  CHECK_THAT(checked.output, Catch::Contains("8 rows of 10 taught to the planner"));

  REQUIRE(test::cli({"run", (dir / "with.json").string(), "--output", (dir / "with").string()}, dir).status == 0);
  REQUIRE(test::cli({"run", (dir / "without.json").string(), "--output", (dir / "without").string()}, dir).status == 0);
  int priors = 0;
  for (const auto& e : events_of(dir / "with")) priors += e.as<PriorResultEvent>() != nullptr;
  CHECK(priors == 8);
  // Same seed and space: only the prior results can make the first proposals differ. Without them
  // the first is the initial design's; with eight of them the model proposes at once.
  CHECK(first_proposal(dir / "with") != first_proposal(dir / "without"));
  const CampaignState with = CampaignState::fold(events_of(dir / "with"));
  CHECK(with.done() == 3);  // priors cost no budget
  // The journal alone reproduces the planner: replay tells the priors where the run did.
  const test::CliOutcome replayed = test::cli({"replay", (dir / "with").string()}, dir);
  CHECK(replayed.status == 0);
  CHECK_THAT(replayed.output, Catch::Contains("every proposal reproduced exactly"));
}

TEST_CASE("extend gives a finished campaign more experiments, journaled, with unique ids", "[extend][cli]") {
  test::TempDir dir;
  test::write_file(dir / "c.json", campaign_file("grow", 4, ""));
  const fs::path out = dir / "out";
  REQUIRE(test::cli({"run", (dir / "c.json").string(), "--output", out.string()}, dir).status == 0);
  const test::CliOutcome again = test::cli({"resume", out.string()}, dir);
  CHECK(again.status == 1);
  CHECK_THAT(again.output, Catch::Contains(fmt::format("`labloop extend {} --experiments N` gives it more", out.string())));

  const test::CliOutcome extended = test::cli({"extend", out.string(), "--experiments", "3"}, dir);
  CHECK(extended.status == 0);
  CHECK_THAT(extended.output, Catch::Contains("budget: 4 → 7 experiments, recorded once every instrument answers; continuing"));
  const auto events = events_of(out);
  const CampaignState state = CampaignState::fold(events);
  CHECK(state.finished());
  CHECK(state.finish_reason() == "budget reached");
  CHECK(state.done() == 7);
  CHECK(state.budget_experiments() == 7);
  CHECK(state.problems().empty());
  std::set<std::string> ids;
  for (const auto& e : state.experiments()) CHECK(ids.insert(e.id).second);
  CHECK(ids.size() == 7);
  CHECK(test::cli({"verify", out.string()}, dir).status == 0);
  CHECK(test::cli({"replay", out.string()}, dir).status == 0);
  // Its reports deleted or edited by hand: `report` writes them again from the journal, as they were.
  const std::string results = test::read_file(out / "results.csv"), plot = test::read_file(out / "convergence.svg");
  fs::remove(out / "results.csv");
  test::write_file(out / "convergence.svg", "edited");
  const test::CliOutcome reported = test::cli({"report", out.string()}, dir);
  CHECK(reported.status == 0);
  CHECK_THAT(reported.output, Catch::Contains("results.csv and " + (out / "convergence.svg").string() + " from the journal (7 experiments)"));
  CHECK(test::read_file(out / "results.csv") == results);
  CHECK(test::read_file(out / "convergence.svg") == plot);
  CHECK(test::cli({"report", (dir / "nowhere").string()}, dir).status == 1);
  CHECK(test::cli({"extend", out.string()}, dir).status == 2);  // how much more must be said: a command-line mistake
  // Hours alone for a campaign that ran all its experiments would resume it to finish at once.
  const test::CliOutcome hours = test::cli({"extend", out.string(), "--hours", "1"}, dir);
  CHECK(hours.status == 2);
  CHECK_THAT(hours.output, Catch::Contains("has run all 7 experiments of its budget; more hours give it time, not experiments: add --experiments N"));
  CHECK(CampaignState::fold(events_of(out)).budget_experiments() == 7);
  // A mistyped folder is said to hold no journal, and nothing is made under its name (an empty
  // journal and its lock file were).
  const test::CliOutcome typo = test::cli({"extend", (dir / "ot").string(), "--experiments", "2"}, dir);
  CHECK(typo.status == 1);
  CHECK_THAT(typo.output, Catch::Contains("no such journal (is the name right?"));
  CHECK_FALSE(fs::exists(dir / "ot"));
  CHECK_FALSE(fs::exists(dir / ".ot.lock"));
  // No raise past what the bayesian planner learns from (5000 results, as a new campaign's budget).
  const std::string journal_before = test::read_file(out / "journal.jsonl");
  const test::CliOutcome too_far = test::cli({"extend", out.string(), "--experiments", "4994"}, dir);
  CHECK(too_far.status == 2);  // a mistake on the command line (it was 1, as for a damaged journal: red-team report)
  CHECK_THAT(too_far.output, Catch::Contains("--experiments") && Catch::Contains("learns from at most 5000 results (5001 experiments asked for)"));
  CHECK(test::read_file(out / "journal.jsonl") == journal_before);
}

TEST_CASE("extend --hours gives a campaign that ran out of time that much more from now, not from its old budget", "[extend][cli]") {
  test::TempDir dir;
  auto replaced = [](std::string text, const std::string& from, const std::string& to) { return text.replace(text.find(from), from.size(), to); };
  std::string file = campaign_file("late", 100000, "");
  file = replaced(file, R"("kind": "bayesian", "initial": 5)", R"("kind": "random")");
  file = replaced(file, R"("experiments": 100000})", R"("experiments": 100000, "hours": 0.0002})");  // 0.72 s
  test::write_file(dir / "c.json", file);
  const fs::path out = dir / "out";
  REQUIRE(test::cli({"run", (dir / "c.json").string(), "--output", out.string()}, dir).status == 0);
  const CampaignState ran = CampaignState::fold(events_of(out));
  REQUIRE(ran.finish_reason() == "time budget reached");
  // Idle for longer than the old budget plus the raise: counted from the old budget, the raise
  // would end before now and the campaign stop at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const test::CliOutcome extended = test::cli({"extend", out.string(), "--hours", "0.0003"}, dir);  // 1.08 s
  CHECK(extended.status == 0);
  const CampaignState state = CampaignState::fold(events_of(out));
  CHECK(state.finish_reason() == "time budget reached");
  CHECK(state.done() > ran.done());
  REQUIRE(state.budget_hours());
  CHECK(*state.budget_hours() > (2.5 + 1.08) / 3600);  // from its old budget: (0.72 + 1.08) / 3600
}

TEST_CASE("a failed extend leaves the budget as it was, however often it is tried", "[extend][cli]") {
  test::TempDir dir;
  const fs::path fixtures = fs::path(LABLOOP_SOURCE_DIR) / "tests/fixtures/v0.2.0";
  const fs::path out = dir / "pool";
  fs::copy(fixtures / "pool", out, fs::copy_options::recursive);
  fs::remove(out / "plate.csv");  // the candidates' copy beside the journal; the file the journal names is gone too
  const std::string before = test::read_file(out / "journal.jsonl");
  for (int attempt = 0; attempt < 2; ++attempt) {
    const test::CliOutcome extended = test::cli({"extend", out.string(), "--experiments", "1"}, dir);
    CHECK(extended.status == 1);
    CHECK_THAT(extended.output, Catch::Contains("plate.csv"));
    CHECK_THAT(extended.output, !Catch::Contains("recorded once every instrument answers"));
  }
  CHECK(test::read_file(out / "journal.jsonl") == before);
  CHECK_FALSE(CampaignState::fold(events_of(out)).budget_experiments());

  // Its instrument not answering: the raise was journaled before the instruments were asked, and
  // each attempt raised the budget again (4 → 6 → 8, a red-team report). It is journaled once they answer.
  const std::string endpoint = dir.ipc("robot");
  const std::vector<std::string> sim_argv{LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", endpoint};
  std::optional<ChildProcess> sim;
  sim.emplace(sim_argv, dir / "sim.log");
  test::write_file(dir / "e.json", fmt::format(R"({{"name": "remote", "seed": 3,
    "parameters": [{{"name": "x1", "type": "continuous", "low": -5, "high": 10}}, {{"name": "x2", "type": "continuous", "low": 0, "high": 15}}],
    "objective": {{"name": "y"}}, "planner": {{"kind": "sobol"}},
    "instruments": [{{"name": "robot", "endpoint": "{}", "connect_timeout_s": 0.5}}], "budget": {{"experiments": 3}}}})", endpoint));
  const fs::path remote = dir / "remote";
  REQUIRE(test::cli({"run", (dir / "e.json").string(), "--output", remote.string()}, dir).status == 0);
  sim.reset();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const test::CliOutcome extended = test::cli({"extend", remote.string(), "--experiments", "2"}, dir);
    CHECK(extended.status == 1);
    CHECK_THAT(extended.output, Catch::Contains("instrument 'robot': no answer"));
    CHECK_FALSE(CampaignState::fold(events_of(remote)).budget_experiments());
  }
  sim.emplace(sim_argv, dir / "sim2.log");
  CHECK(test::cli({"extend", remote.string(), "--experiments", "2"}, dir).status == 0);
  const CampaignState grown = CampaignState::fold(events_of(remote));
  CHECK(grown.budget_experiments() == 5);
  CHECK(grown.done() == 5);
  CHECK(test::cli({"verify", remote.string()}, dir).status == 0);
  CHECK(test::cli({"replay", remote.string()}, dir).status == 0);
}
