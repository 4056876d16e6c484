// Crashes of the controller itself: kill -9 at any moment, torn journal lines, and `resume` /
// `replay` / `verify` run as a technician would, as real processes.
#include <catch2/catch.hpp>
#include <signal.h>

#include <random>
#include <thread>

#include "cli_process.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "journal_edit.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

using Outcome = test::CliOutcome;
using test::cli;

int count(const std::filesystem::path& journal, const std::string& kind) { return test::count_journaled(journal, kind); }

// The planner's points in proposal order, as journaled.
std::vector<json> proposed_points(const std::filesystem::path& journal) {
  std::vector<json> xs;
  for (const auto& e : read_journal(journal).events)
    if (e["event"] == "proposed" && !e.contains("retry_of")) xs.push_back(e["x"]);
  return xs;
}

void write_campaign(const std::filesystem::path& file, int budget, const std::string& planner, double delay) {
  test::write_file(file, json{{"name", "rz"},
                              {"seed", 3},
                              {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                              {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                              {"objective", {{"name", "y"}}},
                              {"planner", json::parse(planner)},
                              {"instruments", {{{"name", "sim"}, {"simulator", "branin"}, {"options", {{"delay", delay}}}}}},
                              {"budget", {{"experiments", budget}}}}
                             .dump());
}

// Starts `labloop run` (or resume), and kill -9s it once the journal holds `results` results.
void run_and_kill(const std::vector<std::string>& args, const std::filesystem::path& journal, int results, const test::TempDir& dir) {
  std::vector<std::string> argv{LABLOOP_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess controller(argv, dir / "killed.log");
  for (int i = 0; i < 400 && count(journal, "result") < results && controller.running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(controller.running());
  ::kill(controller.pid(), SIGKILL);
  REQUIRE(controller.wait_for(std::chrono::seconds(10)));
}

}  // namespace

TEST_CASE("Resume: a campaign killed with SIGKILL twice and resumed makes exactly the proposals of an uninterrupted run", "[resume]") {
  test::TempDir dir;
  write_campaign(dir / "c.json", 16, R"({"kind": "bayesian", "initial": 5})", 0.06);  // kills after 4 and 9 land before the 16th
  REQUIRE(cli({"run", (dir / "c.json").string(), "-o", (dir / "a").string()}, dir).status == 0);

  const auto b = dir / "b";
  run_and_kill({"run", (dir / "c.json").string(), "-o", b.string()}, b / "journal.jsonl", 4, dir);
  run_and_kill({"resume", b.string()}, b / "journal.jsonl", 9, dir);
  CHECK(cli({"verify", b.string()}, dir).status == 0);  // an unfinished journal is intact too
  const Outcome resumed = cli({"resume", b.string()}, dir);
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("campaign resumed:") != std::string::npos);
  CHECK(resumed.output.find("campaign finished: budget reached") != std::string::npos);

  const auto uninterrupted = proposed_points(dir / "a" / "journal.jsonl");
  CHECK(uninterrupted.size() == 16);
  CHECK(proposed_points(b / "journal.jsonl") == uninterrupted);
  const JournalAudit audit = audit_journal(b);
  CHECK(audit.intact());
  CHECK(audit.results == 16);
  CHECK(audit.open == 0);
  CHECK(count(b / "journal.jsonl", "campaign_resumed") == 2);

  for (const auto& run : {dir / "a", b}) {
    const Outcome replay = cli({"replay", run.string()}, dir);
    INFO(replay.output);
    CHECK(replay.status == 0);
    CHECK(replay.output.find("every proposal reproduced exactly") != std::string::npos);
  }
}

TEST_CASE("Resume: a torn last line is reported and cut away and the campaign finishes", "[resume]") {
  test::TempDir dir;
  // 0.1 s an experiment: the kill after the third result must come before the eighth, even when
  // a loaded machine holds this test's thread back for a few hundred milliseconds.
  write_campaign(dir / "c.json", 8, R"({"kind": "sobol"})", 0.1);
  const auto b = dir / "b";
  run_and_kill({"run", (dir / "c.json").string(), "-o", b.string()}, b / "journal.jsonl", 3, dir);
  // Power loss mid-write: half of a last line, no newline.
  const std::string intact = test::read_file(b / "journal.jsonl");
  test::write_file(b / "journal.jsonl", intact + R"({"seq":999,"time":"2026-11-25T08:30:00.123Z","event":"res)");
  const Outcome torn = cli({"verify", b.string()}, dir);
  CHECK(torn.status == 1);
  CHECK(torn.output.find("is incomplete (torn write)") != std::string::npos);
  CHECK(torn.output.find("(a crash cut the last line short; `labloop resume` removes it and continues)") != std::string::npos);

  const Outcome resumed = cli({"resume", b.string()}, dir);
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.output.find("is incomplete (torn write); ignored (removed; it was never acted on)") != std::string::npos);
  CHECK(cli({"verify", b.string()}, dir).status == 0);
  CHECK(audit_journal(b).results == 8);

  // Torn in its first line: no campaign was recorded, and `run` starts one there (run, resume and
  // status all refused such a folder, a red-team report).
  const auto first = dir / "first";
  std::filesystem::create_directories(first);
  test::write_file(first / "journal.jsonl", R"({"seq":1,"time":"2026-11-25T08:30:00.123Z","event":"campaign_sta)");
  const Outcome told = cli({"verify", first.string()}, dir);
  CHECK(told.status == 1);
  CHECK_THAT(told.output, Catch::Contains("no campaign was recorded before it: `labloop run` starts one there afresh"));
  write_campaign(dir / "quick.json", 2, R"({"kind": "sobol"})", 0.0);
  const Outcome ran = cli({"run", (dir / "quick.json").string(), "-o", first.string()}, dir);
  INFO(ran.output);
  CHECK(ran.status == 0);
  CHECK(cli({"verify", first.string()}, dir).status == 0);
  CHECK(audit_journal(first).results == 2);
}

TEST_CASE("Resume: a journal whose bookkeeping verify rejects is resumed with a warning saying so", "[resume]") {
  // An edit with the chain made again: a second result for an experiment (resume went on silently).
  test::TempDir dir;
  write_campaign(dir / "c.json", 6, R"({"kind": "sobol"})", 0.1);
  const auto out = dir / "out";
  run_and_kill({"run", (dir / "c.json").string(), "-o", out.string()}, out / "journal.jsonl", 2, dir);
  std::vector<std::string> lines = test::journal_lines(out / "journal.jsonl");
  size_t result = 0;
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].find("\"event\":\"result\"") != std::string::npos) result = i;
  REQUIRE(result > 0);
  REQUIRE(lines[result].rfind("{\"seq\":", 0) == 0);
  lines.push_back("{\"seq\":" + std::to_string(lines.size() + 1) + lines[result].substr(lines[result].find(',')));
  test::write_rechained(out / "journal.jsonl", lines);
  REQUIRE(cli({"verify", out.string()}, dir).status == 1);
  const Outcome resumed = cli({"resume", out.string()}, dir);
  INFO(resumed.output);
  CHECK_THAT(resumed.output, Catch::Contains("warning: `labloop verify` finds 1 problem in this journal's bookkeeping (first: line " +
                                             std::to_string(lines.size())));
}

TEST_CASE("Resume: a finished campaign is not resumed and an operator stop is", "[resume]") {
  test::TempDir dir;
  write_campaign(dir / "c.json", 4, R"({"kind": "random"})", 0.0);
  REQUIRE(cli({"run", (dir / "c.json").string(), "-o", (dir / "a").string()}, dir).status == 0);
  const Outcome again = cli({"resume", (dir / "a").string()}, dir);
  CHECK(again.status == 1);
  CHECK(again.output.find("the campaign already finished (budget reached); nothing to resume") != std::string::npos);

  write_campaign(dir / "slow.json", 30, R"({"kind": "random"})", 0.05);
  const auto s = dir / "s";
  {
    ChildProcess controller({LABLOOP_CLI_PATH, "run", (dir / "slow.json").string(), "-o", s.string()}, dir / "slow.log");
    for (int i = 0; i < 400 && count(s / "journal.jsonl", "result") < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ::kill(controller.pid(), SIGINT);
    const auto status = controller.wait_for(std::chrono::seconds(20));
    REQUIRE(status);
    CHECK(*status == 130);
  }
  const Outcome resumed = cli({"resume", s.string()}, dir);
  INFO(resumed.output);
  CHECK(resumed.status == 0);
  const JournalAudit audit = audit_journal(s);
  CHECK(audit.intact());
  CHECK(audit.results == 30);  // the stop discarded nothing that counts: the budget is still met
  CHECK(audit.finish_reason == "budget reached");
}

TEST_CASE("Resume: a directory without a journal gives a clear error", "[resume]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "empty");
  const Outcome o = cli({"resume", (dir / "empty").string()}, dir);
  CHECK(o.status == 1);
  CHECK(o.output.find("journal.jsonl") != std::string::npos);
}

TEST_CASE("Resume: a second Ctrl-C stops at once and still leaves a journal that resume finishes", "[resume]") {
  test::TempDir dir;
  write_campaign(dir / "c.json", 12, R"({"kind": "random"})", 0.3);
  const auto s = dir / "s";
  {
    ChildProcess controller({LABLOOP_CLI_PATH, "run", (dir / "c.json").string(), "-o", s.string()}, dir / "twice.log");
    // Both signals while an experiment (0.3 s) runs: with none running, the first alone would
    // finish the campaign before the second arrived.
    const auto journal = s / "journal.jsonl";
    for (int i = 0; i < 1000 && (count(journal, "result") < 2 || count(journal, "dispatched") <= count(journal, "result")); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(controller.pid(), SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(controller.pid(), SIGINT);
    const auto status = controller.wait_for(std::chrono::seconds(5));
    REQUIRE(status);
    CHECK(*status == 130);
    CHECK(test::read_file(dir / "twice.log").find("stopped at once") != std::string::npos);
  }
  CHECK(count(s / "journal.jsonl", "campaign_finished") == 0);  // it really did not wait
  const Outcome resumed = cli({"resume", s.string()}, dir);
  INFO(resumed.output);
  CHECK(resumed.status == 0);
  const JournalAudit audit = audit_journal(s);
  CHECK(audit.intact());
  CHECK(audit.results == 12);
}

TEST_CASE("Resume: after a stop whose grace ran out the aborted experiments are discarded and the budget is still met", "[resume]") {
  test::TempDir dir;
  write_campaign(dir / "c.json", 6, R"({"kind": "random"})", 0.5);
  const auto s = dir / "s";
  {
    ChildProcess controller({LABLOOP_CLI_PATH, "run", (dir / "c.json").string(), "-o", s.string(), "--grace", "0"}, dir / "grace.log");
    // Stop while an experiment runs: after the first result, once the next one is dispatched.
    const auto journal = s / "journal.jsonl";
    for (int i = 0; i < 1000 && (count(journal, "result") < 1 || count(journal, "dispatched") <= count(journal, "result")); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(controller.pid(), SIGTERM);
    const auto status = controller.wait_for(std::chrono::seconds(5));
    REQUIRE(status);
    CHECK(*status == 130);
  }
  int discarded = 0;
  for (const auto& e : read_journal(s / "journal.jsonl").events)
    if (e["event"] == "failed") {
      CHECK(e["learn"] == false);  // no verdict on the point: the planner is not told
      ++discarded;
    }
  CHECK(discarded == 1);  // the one running when the stop came
  REQUIRE(cli({"resume", s.string(), "--grace", "0"}, dir).status == 0);
  CHECK(audit_journal(s).results == 6);
}

TEST_CASE("Resume: a finished journal whose last line was cut mid-way is recovered, and verify passes again", "[resume]") {
  test::TempDir dir;
  write_campaign(dir / "c.json", 5, R"({"kind": "sobol"})", 0.0);
  const auto a = dir / "a";
  REQUIRE(cli({"run", (dir / "c.json").string(), "-o", a.string()}, dir).status == 0);
  const std::string whole = test::read_file(a / "journal.jsonl");
  const size_t last_start = whole.rfind('\n', whole.size() - 2) + 1;
  test::write_file(a / "journal.jsonl", whole.substr(0, last_start + (whole.size() - last_start) / 2));  // campaign_finished, half of it
  CHECK(cli({"verify", a.string()}, dir).status == 1);
  const Outcome resumed = cli({"resume", a.string()}, dir);
  INFO(resumed.output);
  CHECK(resumed.status == 0);
  CHECK(resumed.output.find("torn write") != std::string::npos);
  CHECK(cli({"verify", a.string()}, dir).status == 0);
  const JournalAudit audit = audit_journal(a);
  CHECK(audit.results == 5);
  CHECK(audit.finish_reason == "budget reached");
}
