// A person in the loop: a campaign with a manual and a simulated instrument, results entered with
// `labloop enter` while it runs and with `--csv` while it is stopped, then resumed to its end.
// Real processes throughout, as a technician would use them.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <sstream>
#include <thread>

#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"
#include "cli_process.hpp"
#include "test_support.hpp"

using namespace labloop;
namespace fs = std::filesystem;

namespace {

// The journal folded as it is now (empty while it cannot be read whole).
CampaignState state_of(const fs::path& journal) {
  try {
    return CampaignState::fold(decode_events(read_journal(journal).events, journal.string()));
  } catch (const Error&) {
    return {};
  }
}

// Experiments open on the manual instrument once nothing else is left to run.
std::vector<std::string> waiting_for_person(const CampaignState& state) {
  std::vector<std::string> ids;
  for (const auto* e : state.open_experiments()) {
    if (e->assigned_to != "chemist") return {};  // the simulator still has work
    ids.push_back(e->id);
  }
  return ids;
}

template <class Done>
void wait_until(Done done, const char* what) {
  for (int i = 0; i < 600; ++i) {
    if (done()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("timed out waiting until " << what);
}

}  // namespace

TEST_CASE("Manual instrument: results entered while running and from a CSV after a stop, wrong entries refused", "[manual][cli]") {
  test::TempDir dir;
  // Signed (docs/security.md): a person's correction keeps the journal provable.
  fs::create_directories(dir / "keys");
  const KeyPair key = generate_key_pair("controller");
  write_key_pair(dir / "keys/controller", key);
  test::write_file(dir / "c.json", R"({"name": "mixed", "seed": 4, "controller_key": "keys/controller",
    "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10, "unit": "mL"},
                   {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
    "objective": {"name": "y"},
    "outputs": [{"name": "y", "unit": "mg", "low": -1000, "high": 1000}, {"name": "purity", "low": 0, "high": 1}],
    "planner": {"kind": "sobol"},
    "instruments": [{"name": "sim", "simulator": "branin", "options": {"delay": 0.02}},
                    {"name": "chemist", "manual": true, "capacity": 2}],
    "budget": {"experiments": 8}})");
  const fs::path out = dir / "out", journal = out / "journal.jsonl";
  ChildProcess campaign({LABLOOP_CLI_PATH, "run", (dir / "c.json").string(), "--output", out.string()}, dir / "run.log");

  // The simulator runs everything else; the campaign then waits for the person's two.
  std::vector<std::string> mine;
  wait_until([&] { return (mine = waiting_for_person(state_of(journal))).size() == 2 && state_of(journal).used() == 8; },
             "two experiments wait for the person and the budget is proposed");
  const test::CliOutcome listed = test::cli({"pending", out.string()}, dir);
  CHECK(listed.status == 0);
  CHECK_THAT(listed.output, Catch::Contains("2 experiments waiting for a person"));
  CHECK_THAT(listed.output, Catch::Contains(" mL, x2 = "));
  CHECK_THAT(listed.output, Catch::Contains(fmt::format("enter: labloop enter {} {} y=VALUE [purity=VALUE]", out.string(), mine[0])));

  // Mistakes are refused with their reason, and nothing is saved.
  test::CliOutcome o = test::cli({"enter", out.string(), mine[0], "yeild=3"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("\"yeild\" is not an output of this campaign (outputs: y, purity"));
  o = test::cli({"enter", out.string(), mine[0], "y=3", "purity=1.5"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("purity = 1.5 is above its declared range (high 1)"));
  o = test::cli({"enter", out.string(), mine[0], "purity=0.5"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("the objective \"y\" is missing"));
  o = test::cli({"enter", out.string(), mine[0], "y=0x10"}, dir);  // strtod would read 16
  CHECK(o.status == 2);  // a value that is no number is a refused entry, like one out of range
  CHECK_THAT(o.output, Catch::Contains("y: \"0x10\" is not a number"));
  o = test::cli({"enter", out.string(), mine[0], "y=nan"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("y: \"nan\" is not a finite number"));
  o = test::cli({"enter", out.string(), mine[0], "y=1", "y=2"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("y is given twice"));
  o = test::cli({"enter", out.string(), "mixed-0000", "y=1"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("this campaign has no experiment \"mixed-0000\""));
  // The id forgotten: said so, where the reply asked for the values that were given.
  o = test::cli({"enter", out.string(), "y=5", "purity=0.5"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("EXPERIMENT: the experiment id is missing (\"y=5\" is a value, not an experiment id): give it first, "
                                       "labloop enter " + out.string() + " EXPERIMENT y=5 …; `labloop pending " + out.string() +
                                       "` lists the experiments waiting"));
  CHECK_THAT(o.output, !Catch::Contains("give the measured values"));
  // A blank --by names nobody ("   " was recorded as the name; a red-team report), and a bidi
  // mark or line separator in it is refused, named.
  for (const char* by : {"", "   "}) {
    o = test::cli({"enter", out.string(), mine[0], "y=1", "--by", by}, dir);
    CHECK(o.status == 2);
    CHECK_THAT(o.output, Catch::Contains("who entered it (--by) is blank; give a name"));
  }
  o = test::cli({"enter", out.string(), mine[0], "y=1", "--by", "\u200eann\u2028bob"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("who entered it (--by) holds a bidirectional mark (\\u200e)"));
  CHECK_FALSE(fs::exists(dir / "out" / "inbox" / (mine[0] + ".json")));

  // A right one is recorded by the running campaign at once.
  o = test::cli({"enter", out.string(), mine[0], "y=12.5", "purity=0.93", "--by", "ana"}, dir);
  CHECK(o.status == 0);
  CHECK_THAT(o.output, Catch::Contains("the running campaign records them within a second"));
  wait_until([&] {
               const CampaignState now = state_of(journal);
               const ExperimentState* e = now.experiment(mine[0]);
               return e && e->outcome == ExperimentOutcome::ok;
             },
             "the running campaign records the entered result");
  const CampaignState running = state_of(journal);
  const ExperimentState* first = running.experiment(mine[0]);
  CHECK(first->objective == 12.5);
  CHECK(first->values.value("purity", 0.0) == 0.93);
  // The journal says who entered it, and from where.
  bool recorded_by = false;
  for (const auto& e : decode_events(read_journal(journal).events, journal.string()))
    if (const auto* r = e.as<ResultEvent>(); r && r->experiment == mine[0])
      recorded_by = r->meta && r->meta->value("entered_by", "") == "ana" && r->meta->value("entered_from", "") == "command line";
  CHECK(recorded_by);
  // results.csv shows it within a second or so, though nothing else happens after it (writes come
  // at most once a second, and one skipped for that waited for the next event: a red-team report).
  wait_until([&] {
               std::istringstream csv(test::read_file(out / "results.csv"));
               for (std::string line; std::getline(csv, line);)
                 if (line.rfind(mine[0] + ",", 0) == 0) return line.find(",12.5,0.93,ok,") != std::string::npos;
               return false;
             },
             "results.csv shows the entered result");
  o = test::cli({"enter", out.string(), mine[0], "y=13"}, dir);  // once recorded, a result stays as recorded
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("already has its outcome"));

  // Stopped while the person still works on the second: it stays open, not aborted.
  ::kill(campaign.pid(), SIGTERM);
  const auto stopped = campaign.wait_for(std::chrono::seconds(20));
  REQUIRE(stopped);
  CHECK(*stopped == 130);
  CHECK_THAT(test::read_file(dir / "run.log"), Catch::Contains("1 experiment waits for a person"));
  const CampaignState after_stop = state_of(journal);
  REQUIRE(after_stop.experiment(mine[1])->outcome == ExperimentOutcome::open);

  // Entered from a CSV while stopped (a template from `pending --csv`, filled in), then resumed.
  const test::CliOutcome tpl = test::cli({"pending", out.string(), "--csv"}, dir);
  REQUIRE(tpl.status == 0);
  CHECK_THAT(tpl.output, Catch::StartsWith("experiment,instrument,x1 [mL],x2,y [mg],purity,failed\n" + mine[1] + ",chemist,"));
  test::write_file(dir / "done.csv", "experiment,y [mg],purity,notes\n" + mine[1] + ",4.25,,purity not measured\n");
  o = test::cli({"enter", out.string(), "--csv", (dir / "done.csv").string()}, dir);
  CHECK(o.status == 0);
  CHECK_THAT(o.output, Catch::Contains("ignored columns (not outputs): notes"));
  CHECK_THAT(o.output, Catch::Contains("`labloop resume"));
  o = test::cli({"resume", out.string()}, dir);
  CHECK(o.status == 0);
  const CampaignState end = state_of(journal);
  CHECK(end.finished());
  CHECK(end.finish_reason() == "budget reached");
  CHECK(end.done() == 8);
  CHECK(end.experiment(mine[1])->objective == 4.25);
  CHECK_FALSE(end.experiment(mine[1])->values.contains("purity"));  // optional outputs may be left out
  CHECK(test::cli({"verify", out.string()}, dir).status == 0);

  // A value entered wrongly is corrected by a new journaled event saying who and why; a result an
  // instrument measured cannot be. In a signed journal the correction is signed at once, and
  // without the campaign's key it is refused with nothing written.
  const std::string pub = (dir / "keys/controller.pub").string();
  CHECK(test::cli({"verify", out.string(), "--key", pub}, dir).status == 0);
  const std::string before_correction = test::read_file(journal);
  fs::rename(dir / "keys/controller.key", dir / "keys/away.key");
  o = test::cli({"enter", out.string(), mine[0], "y=11.5", "--correct", "misread the balance", "--by", "ben"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("its corrections are signed too, with its controller_key"));
  CHECK(test::read_file(journal) == before_correction);
  fs::rename(dir / "keys/away.key", dir / "keys/controller.key");
  // Nor with a key that reads but cannot sign (its signing seed damaged): tried before writing.
  {
    const std::string key_text = test::damage_signing_seed(dir / "keys/controller.key");
    o = test::cli({"enter", out.string(), mine[0], "y=11.5", "--correct", "misread the balance", "--by", "ben"}, dir);
    CHECK(o.status == 2);
    CHECK_THAT(o.output, Catch::Contains("is damaged: its signing seed"));
    CHECK(test::read_file(journal) == before_correction);
    test::write_key_text(dir / "keys/controller.key", key_text);
  }
  o = test::cli({"enter", out.string(), mine[0], "y=11.5", "--correct", "misread the balance", "--by", "ben"}, dir);
  CHECK(o.status == 0);
  // Every value that changed: purity, left out of the correction, is no longer part of the result.
  CHECK_THAT(o.output, Catch::Contains("corrected " + mine[0] + ": y 12.5 → 11.5, purity 0.93 → (none) (misread the balance)"));
  // results.csv shows the corrected value at once, not at the next resume (an audit found 12.5 there).
  {
    std::string row;
    std::istringstream csv(test::read_file(out / "results.csv"));
    for (std::string line; std::getline(csv, line);)
      if (line.rfind(mine[0] + ",", 0) == 0) row = line;
    CHECK_THAT(row, Catch::Contains(",11.5,"));
    CHECK_THAT(row, !Catch::Contains(",12.5,"));
  }
  const test::CliOutcome proved = test::cli({"verify", out.string(), "--key", pub}, dir);
  INFO(proved.output);
  CHECK(proved.status == 0);
  const auto events = decode_events(read_journal(journal).events, journal.string());
  REQUIRE(events.size() >= 2);
  CHECK(events.back().as<JournalSignedEvent>());
  const auto* correction = events[events.size() - 2].as<ResultCorrectedEvent>();
  REQUIRE(correction);
  CHECK(correction->by == "ben");
  CHECK(correction->previous_objective == 12.5);
  const CampaignState fixed = CampaignState::fold(events);
  CHECK(fixed.experiment(mine[0])->objective == 11.5);
  CHECK(fixed.problems().empty());
  std::string measured;
  for (const auto& e : fixed.experiments())
    if (e.instrument == "sim" && e.outcome == ExperimentOutcome::ok) measured = e.id;
  o = test::cli({"enter", out.string(), measured, "y=1", "--correct", "looks wrong"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("was measured by instrument 'sim'; only results a person entered can be corrected"));
  // A correction must say why, and change something.
  const std::string before_refusals = test::read_file(journal);
  o = test::cli({"enter", out.string(), mine[0], "y=10", "--correct", ""}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("say why you correct it"));
  o = test::cli({"enter", out.string(), mine[0], "y=11.5", "--correct", "again"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("these are the values already recorded for " + mine[0] + "; nothing to correct"));
  o = test::cli({"enter", out.string(), mine[0], "y=10", "--correct", "typo\x1b[2J"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("the reason (--correct) holds a control character"));
  CHECK(test::read_file(journal) == before_refusals);
  // Three people correcting it at once: each correction is checked against, and journals as its
  // previous values, what was recorded just before it (each had read the journal before the
  // others appended, a red-team report), and none is refused for the others.
  {
    std::vector<ChildProcess> people;
    for (int i = 0; i < 3; ++i)
      people.emplace_back(std::vector<std::string>{LABLOOP_CLI_PATH, "enter", out.string(), mine[0], fmt::format("y={}", 20 + i), "--correct",
                                                   fmt::format("person {}", i), "--by", fmt::format("p{}", i)},
                          dir / fmt::format("correct-{}.log", i));
    for (ChildProcess& person : people) CHECK(person.wait_for(std::chrono::seconds(30)) == 0);
    std::optional<double> recorded = 11.5;
    int corrections = 0;
    for (const JournalEvent& event : decode_events(read_journal(journal).events, journal.string()))
      if (const auto* c = event.as<ResultCorrectedEvent>(); c && c->experiment == mine[0] && c->by.starts_with("p")) {
        ++corrections;
        CHECK(c->previous_objective == recorded);
        recorded = c->objective;
      }
    CHECK(corrections == 3);
  }
  CHECK(test::cli({"verify", out.string(), "--key", pub}, dir).status == 0);
  CHECK(test::cli({"replay", out.string()}, dir).status == 0);
}

TEST_CASE("Manual instrument: stopped after its target is reached, the experiments a person still runs are recorded on resume", "[manual][cli]") {
  // The target reached, then Ctrl-C: the run said "enter the results, then labloop resume", but
  // journaled "target reached", which resume refuses; the entries stayed in inbox/ (a red-team report).
  test::TempDir dir;
  test::write_file(dir / "c.json", R"({"name": "aim", "seed": 2,
    "parameters": [{"name": "t", "type": "continuous", "low": 40, "high": 100}],
    "objective": {"name": "yield", "goal": "maximize"}, "stop": {"target": 90}, "planner": {"kind": "random"},
    "instruments": [{"name": "chemist", "manual": true, "capacity": 2}], "budget": {"experiments": 6}})");
  const fs::path out = dir / "out", journal = out / "journal.jsonl";
  ChildProcess campaign({LABLOOP_CLI_PATH, "run", (dir / "c.json").string(), "--output", out.string()}, dir / "run.log");
  std::vector<std::string> mine;
  wait_until([&] { return (mine = waiting_for_person(state_of(journal))).size() == 2; }, "two experiments wait for the person");
  REQUIRE(test::cli({"enter", out.string(), mine[0], "yield=95"}, dir).status == 0);
  wait_until([&] { return test::read_file(dir / "run.log").find("target reached: no new experiments") != std::string::npos; },
             "the campaign reaches its target and waits for the other");
  ::kill(campaign.pid(), SIGTERM);
  const auto stopped = campaign.wait_for(std::chrono::seconds(20));
  REQUIRE(stopped);
  CHECK(*stopped == 130);
  CHECK(state_of(journal).finish_reason() == "stopped by operator");
  // The log said the stop would abort the open one after a grace period; a stop leaves it open.
  CHECK_THAT(test::read_file(dir / "run.log"),
             Catch::Contains("target reached: no new experiments; waiting for 1 running (Ctrl-C ends the campaign at once; the one a person "
                             "runs stays open: enter its result, then `labloop resume`)"));
  REQUIRE(test::cli({"enter", out.string(), mine[1], "yield=99"}, dir).status == 0);
  const test::CliOutcome resumed = test::cli({"resume", out.string()}, dir);
  INFO(resumed.output);
  CHECK(resumed.status == 0);
  const CampaignState end = state_of(journal);
  CHECK(end.finish_reason() == "target reached");
  CHECK(end.experiment(mine[1])->objective == 99);
  CHECK(end.used() == 2);  // nothing new was proposed after the target
  CHECK(test::cli({"verify", out.string()}, dir).status == 0);
  CHECK(test::cli({"replay", out.string()}, dir).status == 0);
}

TEST_CASE("Manual instrument: failures a person enters pause the campaign as a pause, with experiments still open", "[manual][cli]") {
  // It was journaled "stopped by operator" and exited 130: nobody had stopped it, and nothing said
  // that five experiments had failed (a red-team report).
  test::TempDir dir;
  test::write_file(dir / "c.json", R"({"name": "fails", "seed": 3,
    "parameters": [{"name": "t", "type": "continuous", "low": 40, "high": 100}],
    "objective": {"name": "yield", "goal": "maximize"}, "planner": {"kind": "random"},
    "instruments": [{"name": "chemist", "manual": true, "capacity": 6}], "budget": {"experiments": 12}})");
  const fs::path out = dir / "out", journal = out / "journal.jsonl";
  ChildProcess campaign({LABLOOP_CLI_PATH, "run", (dir / "c.json").string(), "--output", out.string()}, dir / "run.log");
  std::vector<std::string> mine;
  wait_until([&] { return (mine = waiting_for_person(state_of(journal))).size() == 6; }, "six experiments wait for the person");
  for (int i = 0; i < 5; ++i) REQUIRE(test::cli({"enter", out.string(), mine[i], "--failed", "no product"}, dir).status == 0);
  const auto stopped = campaign.wait_for(std::chrono::seconds(30));
  REQUIRE(stopped);
  CHECK(*stopped == 3);
  const CampaignState end = state_of(journal);
  CHECK_THAT(end.finish_reason(), Catch::StartsWith("paused: 5 of the last 5 experiments failed"));
  CHECK_FALSE(end.open_experiments().empty());  // still with the person: recorded on resume
  CHECK_THAT(test::cli({"status", out.string()}, dir).output, Catch::Contains(": paused: 5 of the last 5"));

  // One was entered as failed by mistake: corrected into the result the person measured, saying
  // why. It could not be before (a red-team report); nothing else changes, and the record holds both.
  test::CliOutcome o = test::cli({"enter", out.string(), mine[0], "yield=55", "--correct", "wrong flask: this one gave product", "--by", "ann"}, dir);
  CHECK(o.status == 0);
  CHECK_THAT(o.output, Catch::Contains("corrected " + mine[0] + ": failed (no product (entered by "));
  CHECK_THAT(o.output, Catch::Contains(")) → a result, yield (none) → 55 (wrong flask: this one gave product)"));
  const CampaignState fixed = state_of(journal);
  CHECK(fixed.problems().empty());
  REQUIRE(fixed.experiment(mine[0]));
  CHECK(fixed.experiment(mine[0])->outcome == ExperimentOutcome::ok);
  CHECK(fixed.experiment(mine[0])->objective == 55);
  CHECK(fixed.failed() == 4);
  CHECK(fixed.best()->experiment == mine[0]);
  {
    std::string row;
    std::istringstream csv(test::read_file(out / "results.csv"));
    for (std::string line; std::getline(csv, line);)
      if (line.rfind(mine[0] + ",", 0) == 0) row = line;
    CHECK_THAT(row, Catch::Contains(",55,ok,"));
  }
  // A result cannot become a failure, and the failure is no longer there to correct.
  const std::string before_refusals = test::read_file(journal);
  o = test::cli({"enter", out.string(), mine[0], "--failed", "no product", "--correct", "it was right"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("a recorded result cannot become a failure"));
  o = test::cli({"enter", out.string(), mine[5], "yield=1", "--correct", "early"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("it is still open. Enter its result") && Catch::Contains("delete inbox/" + mine[5] + ".json first"));
  CHECK(test::read_file(journal) == before_refusals);
  CHECK(test::cli({"verify", out.string()}, dir).status == 0);
  CHECK(test::cli({"replay", out.string()}, dir).status == 0);
}

TEST_CASE("Manual instrument: pending quotes the commands it suggests, escapes what a terminal would obey, and writes its CSV as results.csv does", "[manual][pending][cli]") {
  test::TempDir dir;
  test::write_file(dir / "c.json", R"json({"name": "quote", "seed": 1,
    "parameters": [{"name": "-mode", "type": "categorical", "choices": ["=1+1", "@SUM(A1)", "a\u202eb"]}],
    "objective": {"name": "y", "goal": "maximize"}, "planner": {"kind": "random"},
    "instruments": [{"name": "chemist", "manual": true, "capacity": 3}], "budget": {"experiments": 3}})json");
  const fs::path out = dir / "my runs;echo INJECTED", journal = out / "journal.jsonl";
  ChildProcess campaign({LABLOOP_CLI_PATH, "run", (dir / "c.json").string(), "--output", out.string()}, dir / "run.log");
  std::vector<std::string> mine;
  wait_until([&] { return (mine = waiting_for_person(state_of(journal))).size() == 3; }, "three experiments wait for the person");
  ::kill(campaign.pid(), SIGTERM);
  REQUIRE(campaign.wait_for(std::chrono::seconds(20)));

  const test::CliOutcome listed = test::cli({"pending", out.string()}, dir);
  CHECK(listed.status == 0);
  const std::string quoted = "'" + out.string() + "'";
  CHECK_THAT(listed.output, Catch::Contains(fmt::format("enter: labloop enter {} {} y=VALUE", quoted, mine[0])));
  CHECK_THAT(listed.output, Catch::Contains(fmt::format("labloop pending {} --csv > todo.csv", quoted)));
  CHECK(listed.output.find("\u202e") == std::string::npos);  // a bidi override reaches no terminal
  const CampaignState state = state_of(journal);
  bool bidi = false;
  for (const std::string& id : mine) bidi = bidi || state.experiment(id)->params["-mode"] == "a\u202eb";
  if (bidi) CHECK_THAT(listed.output, Catch::Contains("-mode = a\\u202eb"));

  const test::CliOutcome tpl = test::cli({"pending", out.string(), "--csv"}, dir);
  REQUIRE(tpl.status == 0);
  CHECK_THAT(tpl.output, Catch::StartsWith("experiment,instrument,'-mode,y,failed\n"));
  for (const std::string& id : mine) {
    const std::string choice = state.experiment(id)->params["-mode"];
    CHECK_THAT(tpl.output, Catch::Contains(id + ",chemist," + (choice[0] == 'a' ? choice : "'" + choice) + ",,\n"));
  }
  // Read back by enter --csv, the marked header and the marked choice included (a setting's cell
  // must hold what was sent).
  const std::string sent = state.experiment(mine[0])->params["-mode"];
  test::write_file(dir / "done.csv", "experiment,'-mode,y\n" + mine[0] + "," + (sent[0] == 'a' ? sent : "'" + sent) + ",4.5\n");
  const test::CliOutcome o = test::cli({"enter", out.string(), "--csv", (dir / "done.csv").string()}, dir);
  CHECK(o.status == 0);
  CHECK_THAT(o.output, Catch::Contains("entered " + mine[0] + ": y=4.5"));
}
