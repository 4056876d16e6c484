// The labloop command line as a technician uses it: real processes, exit codes, messages.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "labloop/core/child_process.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/core/version.hpp"
#include "fake_driver.hpp"
#include "test_support.hpp"

using namespace labloop;

namespace {

struct Outcome {
  int status;
  std::string output;
};

Outcome labloop_cli(std::vector<std::string> args, const test::TempDir& dir) {
  args.insert(args.begin(), LABLOOP_CLI_PATH);
  const auto log = dir / "cli.log";
  std::filesystem::remove(log);
  ChildProcess process(args, log);
  const auto status = process.wait_for(std::chrono::seconds(60));
  REQUIRE(status);
  return {*status, test::read_file(log)};
}

}  // namespace

TEST_CASE("CLI: --version prints the version set in CMakeLists.txt and exits 0", "[cli]") {
  test::TempDir dir;
  const Outcome o = labloop_cli({"--version"}, dir);
  CHECK(o.status == 0);
  CHECK(o.output == std::string("labloop ") + labloop::kVersion + "\n");
}

TEST_CASE("CLI: every example campaign file validates", "[cli]") {
  test::TempDir dir;
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LABLOOP_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path());
    const Outcome o = labloop_cli({"validate", entry.path().string()}, dir);
    CHECK(o.status == 0);
    CHECK(o.output.find(": ok") != std::string::npos);
    // The pool example's planner has no β of its own: validate says the one its journal will record.
    if (entry.path().filename() == "plate.json") CHECK(o.output.find("the planner explores them with UCB beta 12\n") != std::string::npos);
    // So does a campaign whose parameters are all categorical (792 = 3 · 22 · 3 · 4 combinations).
    if (entry.path().filename() == "buchwald_a.json") {
      CHECK(o.output.find("space: 792 settings in all (every parameter categorical or discrete); the planner explores them with UCB beta 12\n") !=
            std::string::npos);
      // The dataset's descriptors are adopted, with an effect of each choice's own beside them (decision 0016).
      CHECK(o.output.find("descriptors: parameter 'additive': 200 per choice from ") != std::string::npos);
      CHECK(o.output.find("; the planner models each choice by them plus an effect of its own, fitting how much each explains (one_hot_residual)\n") !=
            std::string::npos);
    }
    ++checked;
  }
  CHECK(checked >= 2);
}

TEST_CASE("CLI: validate says when a descriptor table gives every choice the same values", "[cli]") {
  // perovskites' descriptors.csv (as Olympus ships it) repeats one option's values for all.
  test::TempDir dir;
  nlohmann::json c{{"name", "perov"}, {"objective", {{"name", "hse_gap"}, {"goal", "minimize"}}}, {"planner", {{"kind", "bayesian"}}},
                   {"instruments", {{{"name", "sim"}, {"simulator", "perovskites"}}}}, {"budget", {{"experiments", 10}}}, {"output", "runs/p"}};
  c["parameters"] = {{{"name", "cation"}, {"type", "categorical"}, {"choices", {"Ge", "Sn", "Pb"}}},
                     {{"name", "anion"}, {"type", "categorical"}, {"choices", {"F", "Cl", "Br", "I"}}},
                     {{"name", "organic"}, {"type", "categorical"}, {"choices", {"methylammonium", "formamidinium"}}}};
  test::write_file(dir / "perov.json", c.dump());
  const Outcome o = labloop_cli({"validate", (dir / "perov.json").string()}, dir);
  CHECK(o.status == 0);
  CHECK(o.output.find("descriptors: parameter 'cation': its 4 descriptors in ") != std::string::npos);
  CHECK(o.output.find(" are the same for every choice, so the model cannot use them: it sees the choices one-hot\n") != std::string::npos);
}

TEST_CASE("CLI: a bad campaign file exits with status 2 and one message naming the field", "[cli]") {
  test::TempDir dir;
  test::write_file(dir / "bad.json", R"({"name": "b",
    "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
                   {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
    "objective": {"name": "y"},
    "instruments": [{"name": "sim", "simulator": "branin"}],
    "budget": {"experiments": 0}})");
  for (const char* verb : {"validate", "run"}) {
    const Outcome o = labloop_cli({verb, (dir / "bad.json").string()}, dir);
    CHECK(o.status == 2);
    CHECK(o.output == "error: " + (dir / "bad.json").string() + ": /budget/experiments: must be at least 1 (got 0)\n");
  }
}

TEST_CASE("CLI: run --dry-run goes end to end and --output chooses the directory", "[cli]") {
  test::TempDir dir;
  const Outcome o = labloop_cli({"run", LABLOOP_SOURCE_DIR "/examples/quickstart.json", "--dry-run", "--output", (dir / "dry").string()}, dir);
  INFO(o.output);
  CHECK(o.status == 0);
  CHECK(o.output.find("dry run:") != std::string::npos);
  CHECK(o.output.find("campaign finished: budget reached") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "dry" / "results.csv"));
  CHECK(std::filesystem::exists(dir / "dry" / "convergence.svg"));
  CHECK(read_journal(dir / "dry" / "journal.jsonl").events.back()["event"] == "campaign_finished");
  // status says so too: its results were made up by stand-ins.
  const Outcome status = labloop_cli({"status", (dir / "dry").string()}, dir);
  CHECK(status.status == 0);
  CHECK_THAT(status.output, Catch::StartsWith("dry run (every instrument a stand-in, no result measured) of campaign \"quickstart\" in "));
  CHECK_THAT(status.output, Catch::Contains(": finished: budget reached\n"));
}

TEST_CASE("CLI: run prints plain progress lines and a summary when not on a terminal", "[cli]") {
  test::TempDir dir;
  const Outcome o = labloop_cli({"run", LABLOOP_SOURCE_DIR "/examples/quickstart.json", "--output", (dir / "q").string()}, dir);
  INFO(o.output);
  CHECK(o.status == 0);
  CHECK(o.output.find("instrument sim ready: labloop-sim") != std::string::npos);
  // Ids carry the start of the campaign's random id: quickstart-<12 hex digits>-0001.
  const auto first = o.output.find("[1/30] quickstart-");
  REQUIRE(first != std::string::npos);
  CHECK(o.output.substr(first + 30, 14) == "-0001 on sim: ");
  CHECK(o.output.find("campaign finished: ") != std::string::npos);
  CHECK(o.output.find("outputs: " + (dir / "q").string() + "/journal.jsonl") != std::string::npos);
  CHECK(o.output.find("\033[") == std::string::npos);  // no terminal control codes in a log
}

TEST_CASE("CLI: a run that cannot start says nothing was written and the folder may be reused", "[cli]") {
  test::TempDir dir;
  test::write_file(dir / "ghost.json", R"({"name": "ghost",
    "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10}],
    "objective": {"name": "y"},
    "instruments": [{"name": "reactor", "endpoint": ")" + dir.ipc("nobody") + R"(", "connect_timeout_s": 0.3}],
    "budget": {"experiments": 3}})");
  const Outcome o = labloop_cli({"run", (dir / "ghost.json").string(), "--output", (dir / "out").string()}, dir);
  INFO(o.output);
  CHECK(o.status == 1);
  CHECK(o.output.find("no answer from") != std::string::npos);
  CHECK(o.output.find("nothing was started and no journal was written") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "out" / "journal.jsonl"));
}

namespace {

// A command in a detached tmux pane of the given width (a terminal, as a technician's), the pane
// read as text; the tmux server goes with the object.
class TmuxPane {
 public:
  TmuxPane(const test::TempDir& dir, int columns, const std::string& command) : tmux_("tmux -L " + dir.path().filename().string() + " ") {
    REQUIRE(std::system((tmux_ + fmt::format("new-session -d -x {} -y 50 -s p '", columns) + command + "'").c_str()) == 0);
  }
  TmuxPane(const TmuxPane&) = delete;
  TmuxPane& operator=(const TmuxPane&) = delete;
  ~TmuxPane() { (void)std::system((tmux_ + "kill-server").c_str()); }
  std::string screen() const {
    std::string text;
    if (FILE* pipe = ::popen((tmux_ + "capture-pane -p -S - -E - -t p").c_str(), "r")) {
      char buffer[4096];
      while (std::fgets(buffer, sizeof buffer, pipe)) text += buffer;
      ::pclose(pipe);
    }
    return text;
  }

 private:
  std::string tmux_;
};

}  // namespace

// What a technician sees in an 80-column tmux pane: the status line is redrawn in place, so the
// screen holds the few permanent lines and the last status, not one row per redraw (it held 145
// rows for this campaign when the status line was wider than the terminal).
TEST_CASE("CLI: in an 80-column terminal the progress display leaves a few lines, not one per redraw", "[cli][tmux]") {
  test::TempDir dir;
  std::string text;
  {
    const TmuxPane pane(dir, 80, std::string(LABLOOP_CLI_PATH) + " run " LABLOOP_SOURCE_DIR "/examples/quickstart.json --output " +
                                     (dir / "q").string() + "; echo run-ended; sleep 60");
    for (int i = 0; i < 600 && (text = pane.screen()).find("run-ended") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(text);
  REQUIRE(text.find("run-ended") != std::string::npos);
  CHECK(text.find("campaign finished: budget reached") != std::string::npos);
  int rows = 0;
  std::istringstream lines(text.substr(0, text.find("run-ended")));
  for (std::string row; std::getline(lines, row);) rows += row.find_first_not_of(' ') != std::string::npos;
  CHECK(rows <= 12);
}

// A benchmark of many minutes shows on the terminal how far it is, and leaves only its tables.
TEST_CASE("CLI: bench on a terminal shows the runs done while they go on, and clears the line at the end", "[cli][tmux][bench]") {
  test::TempDir dir;
  std::string text, progress;
  {
    const TmuxPane pane(dir, 150, std::string(LABLOOP_CLI_PATH) + " bench --problems branin --seeds 10 --budget 30 --jobs 1 -o " +
                                      (dir / "b").string() + "; echo bench-ended; sleep 60");
    for (int i = 0; i < 1200 && (text = pane.screen()).find("bench-ended") == std::string::npos; ++i) {
      if (const auto at = text.find(" runs done in "); progress.empty() && at != std::string::npos) progress = text.substr(at > 30 ? at - 30 : 0, 150);
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  INFO(text);
  REQUIRE(text.find("bench-ended") != std::string::npos);
  CHECK_THAT(progress, Catch::Contains("labloop bench: ") && Catch::Contains(" of 20 runs done in ") &&
                           Catch::Contains("(Ctrl-C: stop after the runs under way)"));
  CHECK(text.find(" runs done in ") == std::string::npos);  // cleared: only the tables stay
  CHECK(text.find("branin (budget 30, 10 seeds)") != std::string::npos);
}

TEST_CASE("CLI: SIGTERM stops a campaign cleanly with the journal closed", "[cli]") {
  test::TempDir dir;
  test::write_file(dir / "slow.json", R"({"name": "slow",
    "parameters": [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
                   {"name": "x2", "type": "continuous", "low": 0, "high": 15}],
    "objective": {"name": "y"},
    "instruments": [{"name": "sim", "simulator": "branin", "options": {"delay": 0.2}}],
    "budget": {"experiments": 1000}})");
  ChildProcess process({LABLOOP_CLI_PATH, "run", (dir / "slow.json").string(), "--output", (dir / "out").string()}, dir / "cli.log");
  // Wait until it has results, then ask it to stop.
  for (int i = 0; i < 100 && test::read_file(dir / "cli.log").find("[2/1000]") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(process.pid(), SIGTERM);
  const auto status = process.wait_for(std::chrono::seconds(10));
  REQUIRE(status);
  CHECK(*status == 130);
  const auto events = read_journal(dir / "out" / "journal.jsonl").events;
  REQUIRE(events.back()["event"] == "campaign_finished");
  CHECK(events.back()["reason"] == "stopped by operator");
  int outcomes = 0, proposed = 0;
  for (const auto& e : events) {
    if (e["event"] == "proposed") ++proposed;
    if (e["event"] == "result" || e["event"] == "failed") ++outcomes;
  }
  CHECK(proposed == outcomes);
  CHECK(outcomes < 1000);

  // While it waits for a driver's welcome, at once: it waited out connect_timeout_s (30 s here)
  // and exited 1 (a red-team report).
  test::write_file(dir / "silent.json", fmt::format(R"({{"name": "silent",
    "parameters": [{{"name": "x1", "type": "continuous", "low": -5, "high": 10}}],
    "objective": {{"name": "y"}},
    "instruments": [{{"name": "robot", "endpoint": "{}", "connect_timeout_s": 30}}],
    "budget": {{"experiments": 3}}}})", dir.ipc("nobody")));
  ChildProcess waiting({LABLOOP_CLI_PATH, "run", (dir / "silent.json").string(), "--output", (dir / "silent").string()}, dir / "silent.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto asked = std::chrono::steady_clock::now();
  ::kill(waiting.pid(), SIGTERM);
  const auto waited = waiting.wait_for(std::chrono::seconds(10));
  REQUIRE(waited);
  CHECK(*waited == 130);
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(5));
  CHECK_THAT(test::read_file(dir / "silent.log"), Catch::Contains("stopped while waiting for its driver's welcome"));
  CHECK_FALSE(std::filesystem::exists(dir / "silent" / "journal.jsonl"));
}

TEST_CASE("CLI: verify passes a finished journal and fails naming the line after one byte changes", "[cli]") {
  test::TempDir dir;
  const std::string out = (dir / "q").string();
  REQUIRE(labloop_cli({"run", LABLOOP_SOURCE_DIR "/examples/quickstart.json", "--dry-run", "--output", out}, dir).status == 0);
  const Outcome ok = labloop_cli({"verify", out}, dir);
  INFO(ok.output);
  CHECK(ok.status == 0);
  CHECK(ok.output.find("hash chain intact") != std::string::npos);
  CHECK(ok.output.find("finished: budget reached") != std::string::npos);
  CHECK(ok.output.find("verify: ok") != std::string::npos);

  // Change one digit of the first result's objective on disk.
  const auto journal = dir / "q" / "journal.jsonl";
  std::string text = test::read_file(journal);
  const size_t at = text.find("\"objective\":");
  REQUIRE(at != std::string::npos);
  const size_t digit = text.find_first_of("0123456789", at);
  text[digit] = text[digit] == '1' ? '2' : '1';
  test::write_file(journal, text);
  const long line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(digit), '\n');
  const Outcome bad = labloop_cli({"verify", out}, dir);
  INFO(bad.output);
  CHECK(bad.status == 1);
  CHECK(bad.output.find("line " + std::to_string(line) + " does not match its hash chain") != std::string::npos);
  CHECK(bad.output.find("verify: FAILED") != std::string::npos);
}

TEST_CASE("CLI: JSON nested 100,000 deep gets a clear error from validate, verify, replay, resume and report, not a crash", "[cli][limits]") {
  test::TempDir dir;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  test::write_file(dir / "deep.json", deep);
  const Outcome validate = labloop_cli({"validate", (dir / "deep.json").string()}, dir);
  CHECK(validate.status == 2);
  CHECK(validate.output == "error: " + (dir / "deep.json").string() +
                               ": /: arrays/objects nested deeper than 64 levels at line 1, column 65; a campaign file "
                               "needs only a few (is it damaged, or not a campaign file?)\n");

  // A finished campaign, then one more line, correctly chained, whose meta nests 100,000 deep.
  const std::string out = (dir / "q").string();
  REQUIRE(labloop_cli({"run", LABLOOP_SOURCE_DIR "/examples/quickstart.json", "--dry-run", "--output", out}, dir).status == 0);
  const auto journal = dir / "q" / "journal.jsonl";
  const JournalContents contents = read_journal(journal);
  const std::size_t line = contents.events.size() + 1;
  const std::string body = R"({"seq":)" + std::to_string(line) + R"(,"time":"2026-12-02T00:00:00.000Z","event":"note","meta":{"m":)" + deep + "}";
  test::write_file(journal, test::read_file(journal) + body + ",\"hash\":\"" + journal_hash(contents.last_hash, body) + "\"}\n");
  for (const char* verb : {"verify", "replay", "resume", "report"}) {
    const Outcome o = labloop_cli({verb, out}, dir);
    INFO(verb << ": " << o.output);
    CHECK(o.status == 1);
    CHECK(o.output.find("line " + std::to_string(line) + " nests arrays/objects deeper than 128 levels") != std::string::npos);
  }
}

TEST_CASE("CLI: bench says where it writes, explains its columns, orders budgets, and draws quartile bands with ticks", "[cli][bench]") {
  test::TempDir dir;
  const auto out = dir / "bench";
  // Budget 15: its half (7) comes before the fixed checkpoint 10 and must be printed first.
  const Outcome o = labloop_cli({"bench", "--problems", "branin", "--seeds", "3", "--budget", "15", "--planners", "bayesian", "--initial", "5",
                                 "-o", out.string()},
                                dir);
  INFO(o.output);
  REQUIRE(o.status == 0);
  CHECK(o.output.find("writing to " + out.string() + "/ (-o DIR to choose)") != std::string::npos);
  for (const char* column : {"  @N ", "  reach random ", "  ms/ask ", "  design ms "}) CHECK(o.output.find(column) != std::string::npos);
  const auto at7 = o.output.find("@7"), at10 = o.output.find("@10"), at15 = o.output.find("@15");
  REQUIRE(at7 != std::string::npos);
  CHECK(at7 < at10);
  CHECK(at10 < at15);
  // The Bayesian row times its model-based asks (10 of 15 here), not the design's near-zero ones.
  const auto row = o.output.substr(o.output.find("\n  bayesian"), 200);
  std::istringstream fields(row.substr(0, row.find('\n', 1)));
  std::vector<std::string> cells{std::istream_iterator<std::string>(fields), {}};
  REQUIRE(cells.size() >= 3);
  // … ms/ask, design ms, recommended (the true regret of the setting the planner recommends).
  CHECK(o.output.find(" recommended\n") != std::string::npos);
  CHECK(cells[cells.size() - 3] != "-");
  CHECK(std::stod(cells[cells.size() - 3]) > 0);
  CHECK(std::stod(cells[cells.size() - 1]) >= 0);
  const std::string svg = test::read_file(out / "regret.svg");
  CHECK(svg.find("<polygon") != std::string::npos);                     // the band between quartiles
  CHECK(svg.find(">10</text>") != std::string::npos);                   // evaluation ticks (every 2nd of 15)
  CHECK(svg.find(">evaluations</text>") != std::string::npos);
  CHECK(svg.find("median and quartiles over seeds") != std::string::npos);
  CHECK(svg.find("branin: simple regret (log scale)") != std::string::npos);

  // Several objectives with no known maximum hypervolume (snar_kinetic): no "nan" in the table,
  // and the panel plots the shortfall from the largest hypervolume reached, titled so (it plotted
  // clamp(2 × random's median − hypervolume) under "simple regret").
  const Outcome snar = labloop_cli({"bench", "--problems", "snar_kinetic", "--seeds", "2", "--budget", "12", "--planners", "sobol", "-o",
                                    (dir / "snar").string()},
                                   dir);
  INFO(snar.output);
  REQUIRE(snar.status == 0);
  CHECK_THAT(snar.output, Catch::Contains("hypervolume (maximum unknown)") && !Catch::Contains("nan"));
  const std::string snar_svg = test::read_file(dir / "snar" / "regret.svg");
  CHECK_THAT(snar_svg, Catch::Contains("snar_kinetic: shortfall from the largest hypervolume any run reached (") &&
                           Catch::Contains("the maximum is unknown) (log scale)") && !Catch::Contains("simple regret"));
}

TEST_CASE("CLI: bench refuses a planner before its header, says which file it cannot write, and writes what a stopped run finished", "[cli][bench]") {
  test::TempDir dir;
  const auto out = dir / "out";
  // A planner option refused is the one line shown, not one below the legend.
  const Outcome refused = labloop_cli({"bench", "--problems", "branin", "--planners", R"({"kind":"bayesian","beta":-3})", "-o", out.string()}, dir);
  CHECK(refused.status == 2);
  CHECK_THAT(refused.output, Catch::Contains("/planner/beta") && !Catch::Contains("simple regret") && !Catch::Contains("labloop bench: 1 problems"));
  // An option of the other suite, or a problem given twice, is refused: each was ignored (or its
  // runs pooled) without a word.
  for (const auto& [args, why] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--problems", "branin", "--subset", "0.5"}, "--subset: draws a fraction of a lookup table's rows: it belongs to the real suite"},
           {{"--problems", "branin", "--one-hot"}, "--one-hot: ignores a table's descriptors"},
           {{"--datasets", "perovskites", "--batch", "2"}, "--batch: proposes test functions' experiments in batches"},
           {{"--datasets", "perovskites", "--noise", "0.1"}, "--noise: adds noise to test functions"},
           {{"--datasets", "hplc", "--subset", "0.7"}, "--subset: draws a fraction of a lookup table's rows, and none of the datasets given is one"},
           {{"--datasets", "hplc", "snar", "--max", "30"}, "--max: caps the experiments of a lookup-table run"},
           {{"--problems", "levy:3", "levy:03"}, "--problems: levy-3 is given twice"}}) {
    std::vector<std::string> command{"bench"};
    command.insert(command.end(), args.begin(), args.end());
    command.insert(command.end(), {"-o", out.string()});
    const Outcome o = labloop_cli(command, dir);
    INFO(o.output);
    CHECK(o.status == 2);
    CHECK_THAT(o.output, Catch::Contains(why));
  }
  // A folder where bench.csv goes: an error naming it, exit 1 (bench used to say it wrote it).
  std::filesystem::create_directories(out / "bench.csv");
  const Outcome blocked = labloop_cli({"bench", "--problems", "branin", "--seeds", "1", "--budget", "12", "--planners", "sobol", "-o", out.string()}, dir);
  CHECK(blocked.status == 1);
  CHECK_THAT(blocked.output, Catch::Contains("error: cannot write " + (out / "bench.csv").string() + ": a folder of that name is in its way") &&
                                 !Catch::Contains("wrote "));
  // A first Ctrl-C: no further run starts, the runs under way finish, and the seeds every planner
  // finished are shown and written (exit 130). Runs start seed by seed: a second after the header,
  // seed 1's bayesian run is under way (random search's takes milliseconds).
  std::filesystem::remove(out / "bench.csv");
  const auto log = dir / "stopped.log";
  // branin, after hartmann6's 50 seeds, never starts: it is named as stopped, not left out unsaid.
  ChildProcess bench({LABLOOP_CLI_PATH, "bench", "--problems", "hartmann6", "branin", "--seeds", "50", "--budget", "40", "--jobs", "1", "-o", out.string()},
                     log);
  auto wait_for_header = [](const std::filesystem::path& file) {
    for (int i = 0; i < 2000 && test::read_file(file).find("labloop bench: ") == std::string::npos; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  };
  wait_for_header(log);
  ::kill(bench.pid(), SIGINT);
  CHECK(bench.wait_for(std::chrono::seconds(120)) == 128 + SIGINT);
  const std::string said = test::read_file(log);
  CHECK_THAT(said, Catch::Contains("labloop bench: stopping: no further run starts; the runs under way finish") &&
                       Catch::Contains("stopped by signal 2 after ") && Catch::Contains(" of 200 runs") && Catch::Contains("wrote "));
  CHECK_THAT(said, Catch::Contains("\nhartmann6 (budget 40, ") && Catch::Contains(" of 50 seeds: stopped) — simple regret") &&
                       Catch::Contains("\nbranin (budget 40, 0 of 50 seeds: stopped)\n"));
  std::map<int, std::set<std::string>> planners_by_seed;
  const std::string csv = test::read_file(out / "bench.csv");
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    const auto first = line.find(",\""), quote = line.find("\",", first + 2);
    REQUIRE(quote != std::string::npos);
    planners_by_seed[std::stoi(line.substr(quote + 2))].insert(line.substr(first + 2, quote - first - 2));
  }
  REQUIRE(!planners_by_seed.empty());
  CHECK(planners_by_seed.size() < 50);
  for (const auto& [seed, planners] : planners_by_seed) CHECK(planners == std::set<std::string>{"random", "bayesian"});
  CHECK(std::filesystem::exists(out / "regret.svg"));

  // A second Ctrl-C quits at once: an earlier run's bench.csv is left as it was and the message
  // says it is not this run's.
  test::write_file(out / "bench.csv", "earlier\n");
  const auto quit_log = dir / "quit.log";
  // Bayesian runs only, long ones: a run under way at the first Ctrl-C must still be running at
  // the second (a random run under way finished in between, and its results were written).
  ChildProcess quit({LABLOOP_CLI_PATH, "bench", "--problems", "hartmann6", "--planners", "bayesian", "--seeds", "50", "--budget", "300", "--jobs",
                     "1", "-o", out.string()},
                    quit_log);
  wait_for_header(quit_log);
  ::kill(quit.pid(), SIGINT);
  for (int i = 0; i < 500 && test::read_file(quit_log).find("stopping:") == std::string::npos; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(quit.pid(), SIGINT);
  CHECK(quit.wait_for(std::chrono::seconds(60)) == 128 + SIGINT);
  CHECK_THAT(test::read_file(quit_log), Catch::Contains("labloop bench: quit before every run was done; nothing was written") &&
                                             Catch::Contains("any bench.csv or regret.svg in " + out.string() + " are from an earlier run"));
  CHECK(test::read_file(out / "bench.csv") == "earlier\n");
}

TEST_CASE("CLI: bench --datasets runs the real suite on a dataset folder", "[cli][bench]") {
  test::TempDir dir;
  // A 4 × 5 plate of made-up yields, in the datasets' format (spec.json + data.csv, simulators/data).
  const auto dataset = dir / "plate";
  std::filesystem::create_directories(dataset);
  test::write_file(dataset / "spec.json", R"({"rows": 20, "lookup_table": true,
    "parameters": [{"name": "base", "type": "categorical", "options": ["a", "b", "c", "d"]},
    {"name": "solvent", "type": "categorical", "options": ["s1", "s2", "s3", "s4", "s5"]}],
    "objectives": [{"name": "yield", "goal": "maximize"}]})");
  // Written base last and solvents backwards, so that data.csv's order is not the options' order.
  std::string csv = "base,solvent,yield\n";
  std::vector<double> yields;  // by data.csv row
  for (const char* solvent : {"s5", "s4", "s3", "s2", "s1"})
    for (const char* base : {"a", "b", "c", "d"}) {
      yields.push_back((base[0] - 'a') * 5 + (solvent[1] - '0'));
      csv += fmt::format("{},{},{}\n", base, solvent, yields.back());
    }
  test::write_file(dataset / "data.csv", csv);
  const Outcome o = labloop_cli({"bench", "--datasets", dataset.string(), "--seeds", "2", "--planners", "sobol", "--max", "20", "--subset", "0.5",
                                 "--jobs", "1", "-o", (dir / "out").string()},
                                dir);
  INFO(o.output);
  CHECK(o.status == 0);
  CHECK(o.output.find("plate: lookup table, pool of 10 rows") != std::string::npos);
  CHECK(o.output.find("sobol") != std::string::npos);
  CHECK(o.output.find("random") != std::string::npos);
  CHECK(o.output.find("a random 50 % of the rows") != std::string::npos);
  // One line per run: 2 planners × 2 seeds, after the header.
  const std::string written = test::read_file(dir / "out" / "real.csv");
  CHECK(std::count(written.begin(), written.end(), '\n') == 5);
  // real_rows.csv: every row each run chose, in order (data.csv row numbers, with the row's
  // yield), never one twice; as many as the run's experiments in real.csv (column 9).
  std::map<std::string, std::set<int>> chosen;
  std::istringstream rows_in(test::read_file(dir / "out" / "real_rows.csv"));
  std::string line;
  std::getline(rows_in, line);
  CHECK(line == "dataset,planner,seed,experiment,row,value");
  size_t lines = 0;
  while (std::getline(rows_in, line)) {
    ++lines;
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) f.push_back(field);
    REQUIRE(f.size() == 6);
    const int row = std::stoi(f[4]);
    CHECK(row >= 0);
    REQUIRE(row < 20);
    CHECK(std::stod(f[5]) == yields[static_cast<size_t>(row)]);
    CHECK(chosen[f[1] + " " + f[2]].insert(row).second);
    CHECK(std::stoi(f[3]) == static_cast<int>(chosen[f[1] + " " + f[2]].size()));
  }
  CHECK(chosen.size() == 4);
  size_t experiments = 0;
  std::istringstream runs_in(written);
  std::getline(runs_in, line);
  while (std::getline(runs_in, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) f.push_back(field);
    REQUIRE(f.size() >= 9);
    experiments += static_cast<size_t>(std::stoi(f[8]));
  }
  CHECK(lines == experiments);

  // `--budget` alone limits pool runs, as it did before `--max` existed (a count of 4 is past it).
  const Outcome budget = labloop_cli({"bench", "--datasets", dataset.string(), "--seeds", "1", "--planners", "sobol", "--budget", "3", "--jobs", "1",
                                      "-o", (dir / "out3").string()},
                                     dir);
  INFO(budget.output);
  CHECK(budget.status == 0);
  CHECK(budget.output.find("at most 3 experiments (--max)") != std::string::npos);
  CHECK(budget.output.find("counts as 4") != std::string::npos);

  // An unknown name lists the known datasets.
  const Outcome unknown = labloop_cli({"bench", "--suite", "real", "--datasets", "buchwald_z", "--seeds", "1"}, dir);
  CHECK(unknown.status == 2);
  CHECK(unknown.output.find("unknown dataset \"buchwald_z\"") != std::string::npos);
  CHECK(unknown.output.find("buchwald_a") != std::string::npos);
}

TEST_CASE("CLI: validate --instruments finds a parameter the driver lacks, without running anything", "[cli]") {
  test::TempDir dir;
  ChildProcess driver({LABLOOP_EXAMPLE_DRIVER_PATH, dir.ipc("oven")}, dir / "oven.log");
  const std::string campaign = fmt::format(R"({{"name": "oven",
    "parameters": [{{"name": "temprature", "type": "continuous", "low": 50, "high": 240}},
                   {{"name": "minutes", "type": "integer", "low": 1, "high": 60}}],
    "objective": {{"name": "yield", "goal": "maximize"}},
    "instruments": [{{"name": "oven", "endpoint": "{}"}}],
    "budget": {{"experiments": 5}}, "output": "{}"}})",
                                           dir.ipc("oven"), (dir / "out").string());
  test::write_file(dir / "oven.json", campaign);
  // The file itself is fine: only the driver knows its inputs.
  CHECK(labloop_cli({"validate", (dir / "oven.json").string()}, dir).status == 0);
  const Outcome o = labloop_cli({"validate", (dir / "oven.json").string(), "--instruments"}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("instrument 'oven' has no input named \"temprature\"; did you mean \"temperature\"?"));
  CHECK_THAT(o.output, Catch::Contains("the instruments do not all fit this campaign (nothing was run)"));
  CHECK_FALSE(std::filesystem::exists(dir / "out"));

  test::write_file(dir / "fixed.json", std::regex_replace(campaign, std::regex("temprature"), "temperature"));
  const Outcome fixed = labloop_cli({"validate", (dir / "fixed.json").string(), "--instruments"}, dir);
  CHECK(fixed.status == 0);
  CHECK_THAT(fixed.output, Catch::Contains("instrument 'oven': ok — "));
  CHECK_FALSE(std::filesystem::exists(dir / "out"));
}

TEST_CASE("labloop-sim: --list shows the datasets with their kinds and emulators' CV error, and a dataset it cannot find is named with what to do", "[cli][datasets]") {
  test::TempDir dir;
  auto sim = [&](std::vector<std::string> args) {
    args.insert(args.begin(), LABLOOP_SIM_PATH);
    ChildProcess process(args, dir / "sim.log");
    const auto status = process.wait_for(std::chrono::seconds(60));
    REQUIRE(status);
    return Outcome{*status, test::read_file(dir / "sim.log")};
  };
  const Outcome list = sim({"--list"});
  CHECK(list.status == 0);
  CHECK(std::regex_search(list.output, std::regex(R"(\nbuchwald_a +lookup +792 +4  yield \(max\)\n)")));
  CHECK(std::regex_search(list.output, std::regex(R"(\nsnar +emulated +66 +4  e_factor \(min\)\n +5-fold CV: e_factor RMSE [0-9.]+, R² 0\.[0-9]+; fitted to all 66 rows\n)")));
  CHECK(std::regex_search(list.output, std::regex(R"(\noer_plate_3496 +emulated +2121 +6  overpotential \(min\)\n +5-fold CV: .*; fitted to a random 1000 of the 2121 rows \(seed [0-9]+\)\n)")));
  CHECK(std::regex_search(list.output, std::regex(R"(\ndye_lasers +lookup +3458 +3  peak_score \(max\), spectral_overlap \(min\), fluo_rate \(max\)\n)")));

  // The report recomputes the figures (--print-only: the shipped files stay as they are).
  const Outcome report = sim({"--emulator-report", "snar", "--print-only"});
  CHECK(report.status == 0);
  CHECK(std::regex_search(report.output, std::regex(R"(\nsnar \(66 of 66 rows fitted, [0-9.]+ s\)\n  e_factor +5-fold CV RMSE [0-9.]+  R² 0\.[0-9]+  noise sd )")));
  const Outcome lookup = sim({"--emulator-report", "buchwald_a", "--print-only"});
  CHECK(lookup.status == 2);
  CHECK_THAT(lookup.output, Catch::EndsWith("\nlabloop-sim: buchwald_a is a lookup table: labloop-sim serves it from its rows, not through an emulator\n"));

  // The data directory comes from the environment when set; a missing one is named, with the fix.
  const std::string missing = (dir / "no-data").string();
  ChildProcess env_process({"/usr/bin/env", "LABLOOP_DATA_DIR=" + missing, LABLOOP_SIM_PATH, "--function", "buchwald_a", "--endpoint", dir.ipc("e")},
                           dir / "env.log");
  const auto status = env_process.wait_for(std::chrono::seconds(60));
  REQUIRE(status);
  CHECK(*status == 2);
  CHECK(test::read_file(dir / "env.log") ==
        "labloop-sim: unknown function \"buchwald_a\", and no datasets to look in: the data directory " + missing +
            " does not exist; set the environment variable LABLOOP_DATA_DIR to the folder holding the datasets (simulators/data in labloop's source)\n");
}

TEST_CASE("CLI: numbers on the command line are checked against their stated ranges, with a readable message", "[cli]") {
  test::TempDir dir;
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"bench", "--noise", "-1"}, "--noise: must be a number from 0 to 1e+100, got -1"},
           {{"bench", "--seeds", "100000000"}, "--seeds: must be a whole number from 1 to 100000, got 100000000"},
           {{"bench", "--jobs", "0"}, "--jobs: must be a whole number from 1 to 256, got 0"},
           {{"run", "x.json", "--grace", "1e300"}, "--grace: must be a number from 0 to 31536000, got 1e300"},
           {{"extend", "dir", "--experiments", "0x10"}, "--experiments: must be a whole number from 1 to 1000000, got 0x10"},
           {{"run", "x.json", "--output", ""}, "--output: is empty; name a folder, or leave the option out for the default"},
           {{"bench", "--planners", "{\"kind\":"}, "labloop bench: --planners: {\"kind\": is not valid JSON (at character 9)"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    const Outcome o = labloop_cli(args, dir);
    CHECK(o.status == 2);  // a mistake in the command line, as one in a campaign file
    CHECK_THAT(o.output, Catch::Contains(message));
  }
  // A folder bench cannot make is said before any run, not after them all.
  const std::string in_the_way = (dir / "a-file").string();
  test::write_file(in_the_way, "");
  const Outcome o = labloop_cli({"bench", "--problems", "branin", "-o", in_the_way}, dir);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("labloop bench: -o: cannot make the folder " + in_the_way + ": "));
  CHECK_THAT(o.output, !Catch::Contains("simple regret"));
}

TEST_CASE("CLI: new writes a starter campaign file that validates, and never writes over a file", "[cli]") {
  test::TempDir dir;
  const std::string file = (dir / "edbo run.json").string();
  const Outcome made = labloop_cli({"new", file, "--simulator", "edbo_direct_arylation", "--experiments", "40"}, dir);
  CHECK(made.status == 0);
  CHECK(made.output.find("wrote " + file + ": campaign \"edbo_run\" on simulator edbo_direct_arylation, 5 parameters, objective yield (maximize), "
                         "budget 40 experiments\n") == 0);
  CHECK(!std::filesystem::exists(file + ".labloop-new"));
  const std::string text = test::read_file(file);
  // Its discrete levels as numbers, for the model to see their order (issue 18's example).
  CHECK(text.find(R"({"name": "concentration", "type": "discrete", "values": [0.057, 0.1, 0.153]})") != std::string::npos);
  const Outcome valid = labloop_cli({"validate", file}, dir);
  CHECK(valid.status == 0);
  CHECK(valid.output.find(": ok — campaign \"edbo_run\", 5 parameters, 1 instrument, budget 40 experiments, planner bayesian\n") != std::string::npos);

  // Never over an existing file: exit 1, the file as it was.
  test::write_file(file, "{}\n");
  const Outcome again = labloop_cli({"new", file, "--simulator", "branin"}, dir);
  CHECK(again.status == 1);
  CHECK(again.output == "error: " + file + " already exists; labloop new never writes over a file: give another name, or remove it first\n");
  CHECK(test::read_file(file) == "{}\n");

  // An unknown simulator is a configuration mistake (exit 2) with the likely one named.
  const Outcome unknown = labloop_cli({"new", (dir / "x.json").string(), "--simulator", "brannin"}, dir);
  CHECK(unknown.status == 2);
  CHECK(unknown.output.find("error: labloop new: --simulator: unknown simulator \"brannin\"; did you mean \"branin\"?") == 0);
  CHECK(!std::filesystem::exists(dir / "x.json"));
  // The commands it suggests can be pasted as they are: a file name with a space is quoted.
  const std::string spaced = (dir / "my campaign.json").string();
  const Outcome quoted = labloop_cli({"new", spaced, "--simulator", "branin"}, dir);
  CHECK(quoted.status == 0);
  CHECK_THAT(quoted.output, Catch::Contains("then labloop validate '" + spaced + "' and labloop run '" + spaced + "'"));
  CHECK(labloop_cli({"new", (dir / "up.json").string(), "--simulator", "branin", "--name", ".."}, dir).status == 2);
  // An empty name was taken for none (the file's name): said, not guessed.
  const Outcome empty = labloop_cli({"new", (dir / "empty.json").string(), "--simulator", "branin", "--name", ""}, dir);
  CHECK(empty.status == 2);
  CHECK_THAT(empty.output, Catch::Contains("--name: is empty: leave --name out to name the campaign after its file"));
  CHECK(!std::filesystem::exists(dir / "empty.json"));
}

TEST_CASE("CLI: new --endpoint writes a campaign from what a running driver declares, which validates against it", "[cli]") {
  test::TempDir dir;
  ChildProcess driver({LABLOOP_EXAMPLE_DRIVER_PATH, dir.ipc("oven")}, dir / "oven.log");
  const std::string file = (dir / "bake.json").string();
  const Outcome goal_missing = labloop_cli({"new", file, "--endpoint", dir.ipc("oven")}, dir);
  CHECK(goal_missing.status == 2);
  CHECK(goal_missing.output == "error: labloop new: --goal: say whether larger is better, --goal maximize or --goal minimize: a driver does not declare it\n");
  const Outcome made = labloop_cli({"new", file, "--endpoint", dir.ipc("oven"), "--goal", "maximize", "--experiments", "8"}, dir);
  CHECK(made.status == 0);
  CHECK_THAT(made.output, Catch::StartsWith("wrote " + file + ": campaign \"bake\" on the driver at " + dir.ipc("oven") +
                                            ", 2 parameters, objective yield (maximize), budget 8 experiments\n"));
  const std::string text = test::read_file(file);
  CHECK_THAT(text, Catch::Contains(R"({"name": "temperature", "type": "continuous", "low": 20.0, "high": 250.0, "unit": "C"})"));
  const Outcome valid = labloop_cli({"validate", file, "--instruments"}, dir);
  CHECK(valid.status == 0);
  CHECK_THAT(valid.output, Catch::Contains("instrument 'example-oven': ok — example-oven 1.0, capacity 1, outputs yield"));

  // A driver that declares no outputs is named as the fault, with or without --objective (it
  // said "the driver measures : choose the objective" and "does not measure "y" (its outputs: )").
  const std::string silent = dir.ipc("silent");
  test::FakeDriver no_outputs(silent, [](const std::string& payload) -> std::vector<std::string> {
    if (test::FakeDriver::type_of(payload) != "hello") return {};
    nlohmann::json welcome = nlohmann::json::parse(test::FakeDriver::welcome());
    welcome["outputs"] = nlohmann::json::array();
    return {welcome.dump()};
  });
  for (const std::vector<std::string>& objective : {std::vector<std::string>{}, std::vector<std::string>{"--objective", "y"}}) {
    std::vector<std::string> args{"new", (dir / "none.json").string(), "--endpoint", silent, "--goal", "maximize"};
    args.insert(args.end(), objective.begin(), objective.end());
    const Outcome none = labloop_cli(args, dir);
    CHECK(none.status == 2);
    CHECK_THAT(none.output, Catch::Contains("error: labloop new: --endpoint: the driver at " + silent +
                                            " declares no outputs (its welcome's \"outputs\" is empty): no campaign can use it; fix the driver "
                                            "(docs/writing-a-driver.md)\n"));
    CHECK(!std::filesystem::exists(dir / "none.json"));
  }
}

TEST_CASE("CLI: status says where a campaign stands, for a person and as JSON, and names a folder without a journal", "[cli]") {
  test::TempDir dir;
  const std::string signed_folder = LABLOOP_SOURCE_DIR "/tests/fixtures/v0.2.0/signed";
  const Outcome text = labloop_cli({"status", signed_folder}, dir);
  CHECK(text.status == 0);
  CHECK_THAT(text.output, Catch::StartsWith("campaign \"signed\" in " + signed_folder + ": interrupted (not running and not finished"));
  CHECK_THAT(text.output, Catch::Contains("experiments: 5 of 5 used — 4 results, 0 failed; 1 open\n"));
  CHECK_THAT(text.output, Catch::Contains("  signed-f8808d37c039-0005 waiting for a person (bench-chemist; labloop pending lists it) since "));
  CHECK_THAT(text.output, Catch::Contains("best yield = "));
  const Outcome json = labloop_cli({"status", signed_folder, "--json"}, dir);
  CHECK(json.status == 0);
  const nlohmann::json j = nlohmann::json::parse(json.output);
  CHECK(j["phase"] == "interrupted");
  CHECK(j["open"].size() == 1);
  // Stopped by an error: said as that, with the way on (it read "finished").
  std::filesystem::copy(LABLOOP_SOURCE_DIR "/tests/fixtures/v0.2.0/interrupted", dir / "err", std::filesystem::copy_options::recursive);
  labloop::Journal(dir / "err" / "journal.jsonl").append("campaign_finished", {{"reason", "error: instrument 'sim': gone"}, {"experiments", 8},
                                                                               {"failed", 0}, {"best", nullptr}});
  const Outcome error = labloop_cli({"status", (dir / "err").string()}, dir);
  CHECK(error.status == 0);
  CHECK_THAT(error.output, Catch::Contains(": stopped by an error: instrument 'sim': gone; fix the cause, then `labloop resume "));
  const Outcome none = labloop_cli({"status", dir.path().string()}, dir);
  CHECK(none.status == 1);
  CHECK_THAT(none.output, Catch::Contains("no such journal (is the name right?"));
}

TEST_CASE("CLI: new --candidates makes a pool campaign, its rows checked before the file is named", "[cli]") {
  test::TempDir dir;
  const std::string file = (dir / "plate.json").string();
  const std::string plate = LABLOOP_SOURCE_DIR "/examples/plate.csv";
  const Outcome made = labloop_cli({"new", file, "--simulator", "branin", "--candidates", plate}, dir);
  CHECK(made.status == 0);
  CHECK_THAT(made.output, Catch::Contains("budget 30 experiments; candidates: 24 rows of " + plate + "\n"));
  const Outcome valid = labloop_cli({"validate", file}, dir);
  CHECK(valid.status == 0);
  CHECK_THAT(valid.output, Catch::Contains("candidates: 24 rows from "));
  // A row outside the simulator's box: refused, named, and nothing written.
  test::write_file(dir / "bad.csv", "x1,x2\n-4,6\n99,1\n");
  const Outcome bad = labloop_cli({"new", (dir / "bad.json").string(), "--simulator", "branin", "--candidates", (dir / "bad.csv").string()}, dir);
  CHECK(bad.status == 2);
  CHECK_THAT(bad.output, Catch::StartsWith("error: labloop new: --candidates: " + (dir / "bad.json").string() + " was not written: "));
  CHECK_THAT(bad.output, Catch::Contains("line 3: x1 = 99.0 is outside its bounds [-5, 10]"));
  CHECK_FALSE(std::filesystem::exists(dir / "bad.json"));
  CHECK_FALSE(std::filesystem::exists(dir / "bad.json.labloop-new"));
}

TEST_CASE("CLI: verify fails a journal whose configuration does not load, though its chain holds, and does not offer resume", "[cli]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "bad");
  {
    labloop::Journal journal(dir / "bad" / "journal.jsonl");
    // The name and the finish reason as someone with the file may write them: escapes that would
    // retitle the window, clear the screen and turn the text around.
    journal.append("campaign_started", {{"campaign", "x\x1b]0;pwned\x07\x1b[2J\u202e"}, {"config", {{"name", "x"}, {"budget", {{"experiments", -5}}}}}});
    journal.append("campaign_finished", {{"reason", "budget reached\x1b[31m"}, {"experiments", 0}, {"failed", 0}});
  }
  const Outcome o = labloop_cli({"verify", (dir / "bad").string()}, dir);
  CHECK(o.status == 1);
  CHECK_THAT(o.output, Catch::Contains("verify: FAILED"));
  CHECK_THAT(o.output, !Catch::Contains("labloop resume"));
  // Shown, never obeyed by the terminal, as status and replay show them.
  INFO(o.output);
  CHECK_THAT(o.output, Catch::Contains("campaign \"x") && Catch::Contains("finished: budget reached"));
  CHECK(o.output.find('\x1b') == std::string::npos);
  CHECK(o.output.find('\x07') == std::string::npos);
  CHECK(o.output.find("\u202e") == std::string::npos);
}

TEST_CASE("CLI: a missing TMPDIR, stack, open-file or address-space limits too small and an output path too long are each named before anything starts", "[cli]") {
  test::TempDir dir;
  const std::string quickstart = LABLOOP_SOURCE_DIR "/examples/quickstart.json";
  const auto shell = [&](const std::string& command) {
    const auto log = dir / "shell.log";
    std::filesystem::remove(log);
    ChildProcess process({"/bin/sh", "-c", command}, log);
    const auto status = process.wait_for(std::chrono::seconds(60));
    REQUIRE(status);
    return Outcome{*status, test::read_file(log)};
  };
  const std::string cli = std::string(LABLOOP_CLI_PATH);
  Outcome o = shell("TMPDIR=/nonexistent-labloop " + cli + " run " + quickstart + " --output " + (dir / "a").string());
  CHECK(o.status == 1);
  CHECK_THAT(o.output, Catch::Contains("no folder for temporary files (TMPDIR=/nonexistent-labloop)") && Catch::Contains("nothing was started"));
  o = shell("ulimit -s 128 && exec " + cli + " run " + quickstart + " --dry-run --output " + (dir / "b").string());
  CHECK(o.status == 1);
  CHECK_THAT(o.output, Catch::Contains("the stack size limit is 128 KiB (ulimit -s)"));
  o = shell("ulimit -n 16 && exec " + cli + " run " + quickstart + " --dry-run --output " + (dir / "c").string());
  CHECK(o.status == 1);  // not ZeroMQ's abort
  CHECK_THAT(o.output, Catch::Contains("at most 16 open files are allowed (ulimit -n)"));
#if !defined(__SANITIZE_ADDRESS__) && !(defined(__has_feature) && __has_feature(address_sanitizer))
  // (AddressSanitizer reserves terabytes of address space: a program built with it cannot start
  // under any such limit.) ZeroMQ aborted starting its threads, 8 MiB of stack each, under 64 MiB.
  o = shell("ulimit -v 32768 && exec " + cli + " run " + quickstart + " --dry-run --output " + (dir / "d").string());
  CHECK(o.status == 1);
  CHECK_THAT(o.output, Catch::Contains("the address-space limit is 32768 KiB (ulimit -v)"));
  o = shell("ulimit -v 65536 && exec " + cli + " run " + quickstart + " --dry-run --output " + (dir / "e").string());
  CHECK(o.status == 0);
  CHECK_THAT(o.output, Catch::Contains("campaign finished"));
#endif
  // Room for journal.jsonl, none for the longest names labloop writes beside it.
  std::filesystem::path deep = dir.path();
  while (deep.string().size() < 4096 - 60) deep /= std::string(std::min<std::size_t>(200, 4096 - 60 - deep.string().size()), 'd');
  o = labloop_cli({"run", quickstart, "--dry-run", "--output", deep.string()}, dir);
  CHECK(o.status == 1);
  CHECK_THAT(o.output, Catch::Contains("choose a folder with a shorter path") && Catch::Contains("nothing was started"));
}

TEST_CASE("CLI: labloop console listens on this machine only, says when its port is taken, and gives its key unless --read-only", "[cli][console]") {
  test::TempDir dir;
  for (const char* listen : {"0.0.0.0:8765", "192.168.1.5:8765", "example.org:80", "8765", "127.0.0.1:99999", "127.0.0.1:x", "127.0.0.1:0080"}) {
    INFO(listen);
    const Outcome refused = labloop_cli({"console", dir.path().string(), "--listen", listen}, dir);
    CHECK(refused.status == 2);
    CHECK_THAT(refused.output, Catch::Contains("--listen"));
  }
  CHECK_THAT(labloop_cli({"console", dir.path().string(), "--listen", "0.0.0.0:8765"}, dir).output, Catch::Contains("ssh -L"));
  // A second console on the first one's port: exit 1, naming the address.
  ChildProcess first({LABLOOP_CLI_PATH, "console", dir.path().string(), "--listen", "127.0.0.1:0"}, dir / "first.log");
  ChildProcess wall({LABLOOP_CLI_PATH, "console", dir.path().string(), "--listen", "127.0.0.1:0", "--read-only"}, dir / "wall.log");
  // What a console printed once it listens: its address (and the rest of what it said).
  const auto said_by = [&](const char* log) {
    for (int i = 0; i < 500; ++i) {
      std::smatch m;
      const std::string said = test::read_file(dir / log);
      if (std::regex_search(said, m, std::regex("http://(127\\.0\\.0\\.1:\\d+)/ shows[^\\n]*\\n"))) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the lines after it
        return std::pair<std::string, std::string>(m[1], test::read_file(dir / log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::pair<std::string, std::string>();
  };
  const auto [address, said] = said_by("first.log");
  REQUIRE_FALSE(address.empty());
  CHECK(std::regex_search(said, std::regex("To enter results for manual instruments there, open http://" + address + "/#key=[0-9a-f]{32}\\n")));
  const auto [wall_address, wall_said] = said_by("wall.log");
  REQUIRE_FALSE(wall_address.empty());
  CHECK_THAT(wall_said, !Catch::Contains("key"));
  // The first line of the console's answer to `request`, sent as it is.
  const auto answer_to = [&console = address](const std::string& request) {
    const int port = std::stoi(console.substr(console.find(':') + 1));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
    CHECK(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    timeval wait{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    // The head and the body may come in two reads: read until the body its Content-Length gives.
    std::string answer;
    char part[512];
    for (ssize_t got; (got = ::recv(fd, part, sizeof part, 0)) > 0;) {
      answer.append(part, static_cast<std::size_t>(got));
      const auto end = answer.find("\r\n\r\n");
      std::smatch length;
      if (end != std::string::npos && std::regex_search(answer, length, std::regex("Content-Length: (\\d+)")) &&
          answer.size() >= end + 4 + std::stoul(length[1]))
        break;
    }
    ::close(fd);
    CHECK_FALSE(answer.empty());
    return answer;
  };
  // A body sent in chunks is refused before it is read (httplib would hold it whole, past any limit).
  CHECK_THAT(answer_to("POST /api/campaigns/0/entries HTTP/1.1\r\nHost: " + address +
                       "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + std::string(4096, 'x')),
             Catch::StartsWith("HTTP/1.1 411"));
  // A header the console judges a request by, given twice (in any case), is refused: the HTTP
  // server handed over the first copy only, so a request was judged by one of its two Origins.
  for (const std::string& twice : std::vector<std::string>{"Origin: http://" + address + "\r\nOrigin: http://evil.example",
                                  "Origin: http://evil.example\r\norigin: http://" + address,
                                  "X-Labloop-Key: a\r\nX-Labloop-Key: b", "Sec-Fetch-Site: same-origin\r\nSec-Fetch-Site: cross-site",
                                  "Content-Type: application/json\r\nContent-Type: text/plain"}) {
    INFO(twice);
    const std::string answer = answer_to("POST /api/campaigns/0/stop HTTP/1.1\r\nHost: " + address + "\r\n" + twice +
                                         "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 400") && Catch::Contains("more than one"));
  }
  // "localhost" is served and printed as 127.0.0.1 (a browser tries ::1 first for the name, where
  // another account could listen and take the key).
  ChildProcess named({LABLOOP_CLI_PATH, "console", dir.path().string(), "--listen", "localhost:0"}, dir / "named.log");
  CHECK_FALSE(said_by("named.log").first.empty());
  const Outcome taken = labloop_cli({"console", dir.path().string(), "--listen", address}, dir);
  CHECK(taken.status == 1);
  CHECK_THAT(taken.output, Catch::Contains("cannot listen on " + address));
  for (ChildProcess* console : {&first, &wall, &named}) {
    ::kill(console->pid(), SIGTERM);
    const auto status = console->wait_for(std::chrono::seconds(10));
    REQUIRE(status);
    CHECK(*status == 0);
  }
}

TEST_CASE("labloop-sim: a mistake on its command line exits 2 with a message naming the option and --help exits 0", "[cli]") {
  test::TempDir dir;
  auto sim = [&](std::vector<std::string> args) {
    args.insert(args.begin(), LABLOOP_SIM_PATH);
    std::filesystem::remove(dir / "usage.log");
    ChildProcess process(args, dir / "usage.log");
    const auto status = process.wait_for(std::chrono::seconds(60));
    REQUIRE(status);
    return Outcome{*status, test::read_file(dir / "usage.log")};
  };
  const std::string ipc = dir.ipc("usage");
  // CLI11's own exit codes (104, 105, 109) were returned; a port past 65535 was served as a
  // random one, inproc:// where no controller reaches, --dim 0 and an unsigned --seed of -5 taken.
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--noise", "nan"}, "--noise: must be a number from 0 to 1e+100, got nan"},
           {{"--capacity", "0"}, "--capacity: must be a whole number from 1 to 2147483647, got 0"},
           {{"--fail-rate", "2"}, "--fail-rate: must be a number from 0 to 1, got 2"},
           {{"--dim", "abc"}, "--dim: must be a whole number from 1 to 2147483647, got abc"},
           {{"--bogus"}, "--bogus"},
           {{"-f", "branin", "-e", ipc, "--dim", "0"}, "--dim: must be a whole number from 1 to 2147483647, got 0"},
           {{"-f", "branin", "-e", ipc, "--seed", "-5"}, "--seed: must be a whole number from 0 to 18446744073709551615, got -5"},
           {{"-f", "branin", "-e", ipc, "--seed", "99999999999999999999999"},
            "--seed: must be a whole number from 0 to 18446744073709551615, got 99999999999999999999999"},
           {{"-f", "branin", "-e", "tcp://127.0.0.1:99999"},
            "--endpoint: \"tcp://127.0.0.1:99999\": the port must be a number from 1 to 65535, got \"99999\""},
           {{"-f", "branin", "-e", "tcp://127.0.0.1:*"}, "--endpoint: \"tcp://127.0.0.1:*\": the port must be a number from 1 to 65535, got \"*\""},
           {{"-f", "branin", "-e", "tcp://127.0.0.1"}, "--endpoint: \"tcp://127.0.0.1\" lacks a host or a port"},
           {{"-f", "branin", "-e", "inproc://x"},
            "--endpoint: inproc://x is reachable only from inside labloop-sim itself, so no controller could connect; use tcp://HOST:PORT"},
           {{"-f", "branin", "-e", ""}, "--endpoint: is empty; use tcp://HOST:PORT"},
           {{"--emulator-report", ""}, "--emulator-report: is empty; name a scattered dataset (--list shows them), or all"},
           {{"-f", "", "-e", ipc}, "--function: is empty; name a test function or dataset (--list shows them)"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    const Outcome o = sim(args);
    CHECK(o.status == 2);
    CHECK_THAT(o.output, Catch::Contains(message));
  }
  CHECK(sim({"--help"}).status == 0);
  CHECK(sim({"--version"}).status == 0);
}

TEST_CASE("labloop-sim and labloop new: an emulated dataset whose rows hold an input constant is named and not served to fail", "[cli][datasets]") {
  test::TempDir dir;
  // A copy of snar whose concentration is 0.3 in every row: declared over the spec's [0.1, 0.5],
  // every experiment failed as outside [0.3, 0.3].
  const auto data = dir / "data";
  std::filesystem::create_directories(data / "flat");
  for (const char* file : {"spec.json", "README.md"})
    std::filesystem::copy_file(std::filesystem::path(LABLOOP_SOURCE_DIR) / "simulators/data/snar" / file, data / "flat" / file);
  std::istringstream rows(test::read_file(std::filesystem::path(LABLOOP_SOURCE_DIR) / "simulators/data/snar/data.csv"));
  std::string line, csv;
  for (bool header = true; std::getline(rows, line); header = false) {
    if (!header) line = std::regex_replace(line, std::regex("^([^,]*,[^,]*),[^,]*,"), "$1,0.3,");
    csv += line + "\n";
  }
  test::write_file(data / "flat" / "data.csv", csv);
  const std::string message =
      "flat: concentration is 0.3 in every row of data.csv, so the emulator would refuse any other value and every experiment would fail";
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/env", "LABLOOP_DATA_DIR=" + data.string()});
    std::filesystem::remove(dir / "flat.log");
    ChildProcess process(args, dir / "flat.log");
    const auto status = process.wait_for(std::chrono::seconds(60));
    REQUIRE(status);
    return Outcome{*status, test::read_file(dir / "flat.log")};
  };
  const Outcome list = run({LABLOOP_SIM_PATH, "--list"});
  CHECK(list.status == 0);
  CHECK_THAT(list.output, Catch::Contains("unusable: " + message));
  const Outcome serve = run({LABLOOP_SIM_PATH, "-f", "flat", "-e", dir.ipc("flat")});
  CHECK(serve.status == 2);
  CHECK_THAT(serve.output, Catch::Contains(message));
  const std::string file = (dir / "flat.json").string();
  const Outcome made = run({LABLOOP_CLI_PATH, "new", file, "--simulator", "flat"});
  CHECK(made.status == 2);
  CHECK_THAT(made.output, Catch::Contains(message));
  CHECK_FALSE(std::filesystem::exists(file));

  // Beside it, a lookup table whose data.csv holds an option its spec lacks and a folder whose
  // spec.json is malformed: --list named the first fine, and --emulator-report all stopped at the
  // second. Both name each and go on with the others.
  std::filesystem::create_directories(data / "broken");
  std::filesystem::create_directories(data / "nospec");
  test::write_file(data / "broken" / "spec.json",
                   R"({"title": "broken", "rows": 2, "lookup_table": true, "parameters": [{"name": "s", "type": "categorical", "options": ["a", "b"]}],)"
                   R"( "objectives": [{"name": "y", "goal": "maximize"}]})");
  test::write_file(data / "broken" / "data.csv", "s,y\na,1\n\"c\",2\n");
  test::write_file(data / "nospec" / "spec.json", "{\"title\": ");
  // A folder named as a test function is shadowed by it: --list says so instead of listing it.
  std::filesystem::create_directories(data / "branin");
  for (const char* name : {"spec.json", "data.csv"})
    std::filesystem::copy_file(std::filesystem::path(LABLOOP_SOURCE_DIR) / "simulators/data/snar" / name, data / "branin" / name);
  const Outcome listed = run({LABLOOP_SIM_PATH, "--list"});
  CHECK(listed.status == 0);
  CHECK(std::regex_search(listed.output, std::regex(R"(\nbroken +lookup +2 +1  y \(max\)\n +unusable: .*broken/data\.csv: line 3: )")));
  CHECK_THAT(listed.output, Catch::Contains("nospec") && Catch::Contains("unreadable: "));
  CHECK_THAT(listed.output, Catch::Contains("\nbranin                        shadowed: a test function is named branin too, and \"simulator\": "
                                            "\"branin\" (or --function branin) means the function; rename the folder to serve this dataset\n"));
  // --emulator-report all skips it with the same note (it fitted it, and printed figures for a dataset no campaign gets).
  const Outcome report = run({LABLOOP_SIM_PATH, "--emulator-report", "all", "--print-only"});
  CHECK(report.status == 2);
  CHECK_THAT(report.output, Catch::Contains("labloop-sim: --emulator-report all: skipped nospec: ") &&
                                Catch::Contains("labloop-sim: --emulator-report all: skipped branin: shadowed: a test function is named branin "
                                                "too, and \"simulator\": \"branin\" (or --function branin) means the function; rename the folder "
                                                "to serve this dataset\n") &&
                                Catch::Contains("labloop-sim: --emulator-report all: skipped flat: " + message) &&
                                Catch::Contains("3 of the datasets skipped (nospec, branin, flat); the others were reported"));
  CHECK_THAT(report.output, !Catch::Contains("rows fitted"));  // nothing here can be fitted
}

TEST_CASE("CLI: mistakes on the command line exit 2 and say what was mistaken", "[cli]") {
  test::TempDir dir;
  // A word that is no verb is named, with the verbs (CLI11 said only "A subcommand is required").
  const Outcome unknown = labloop_cli({"contiue", "runs/x"}, dir);
  CHECK(unknown.status == 2);
  CHECK_THAT(unknown.output, Catch::Contains("unknown command \"contiue\"") && Catch::Contains("the commands are run, validate, new"));
  CHECK(labloop_cli({"continue", "--help"}, dir).status == 2);  // not the whole help, exit 0
  // An address that is none: the driver-check option, not a driver that does not answer (exit 1).
  const Outcome check = labloop_cli({"driver-check", "foo"}, dir);
  CHECK(check.status == 2);
  CHECK_THAT(check.output, Catch::Contains("\"foo\" is not a ZeroMQ endpoint"));
  // A campaign file whose endpoint has no port fails validate, not run (which said "cannot connect").
  test::write_file(dir / "c.json", R"({"name": "p", "parameters": [{"name": "x", "low": 0, "high": 1}], "objective": {"name": "y"},
    "instruments": [{"name": "r", "endpoint": "tcp://127.0.0.1"}], "budget": {"experiments": 2}})");
  const Outcome port = labloop_cli({"validate", (dir / "c.json").string()}, dir);
  CHECK(port.status == 2);
  CHECK_THAT(port.output, Catch::Contains("/instruments/0/endpoint: \"tcp://127.0.0.1\" lacks a host or a port"));
  // verify's --key naming no file is a mistake in the option.
  const Outcome key = labloop_cli({"verify", (dir / "nowhere").string(), "--key", (dir / "no.pub").string()}, dir);
  CHECK(key.status == 2);
  CHECK_THAT(key.output, Catch::Contains("labloop verify: --key: "));
}
