// Real campaigns against real labloop-sim processes over ipc sockets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/campaign/stop_request.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "lookup_table.hpp"
#include "test_functions.hpp"
#include "test_support.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

json branin_campaign(const std::string& output) {
  return json{{"name", "t"},
              {"seed", 5},
              {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                              {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
              {"objective", {{"name", "y"}, {"goal", "minimize"}}},
              {"planner", {{"kind", "sobol"}}},
              {"instruments", {{{"name", "sim"}, {"simulator", "branin"}}}},
              {"budget", {{"experiments", 12}}},
              {"output", output}};
}

CampaignSummary run(const json& file, CampaignOptions options = {}) {
  const CampaignConfig config = parse_campaign_config(file.dump(), "test.json", labloop::sim::catalogue());
  options.simulator = LABLOOP_SIM_PATH;
  return run_campaign(config, options);
}

std::vector<json> events_of(const std::filesystem::path& dir, const std::string& kind) {
  std::vector<json> out;
  for (const auto& e : read_journal(dir / "journal.jsonl").events)
    if (e["event"] == kind) out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("Campaign: a real campaign against a real labloop-sim process finishes its budget with every event journaled", "[campaign]") {
  test::TempDir dir;
  const auto summary = run(branin_campaign((dir / "out").string()));
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 12);
  CHECK(summary.status.failed == 0);

  const auto all = read_journal(dir / "out" / "journal.jsonl").events;
  REQUIRE(all.size() > 3);
  CHECK(all.front()["event"] == "campaign_started");
  CHECK(all.back()["event"] == "campaign_finished");
  CHECK(all.back()["reason"] == "budget reached");
  CHECK(events_of(dir / "out", "proposed").size() == 12);
  CHECK(events_of(dir / "out", "dispatched").size() == 12);
  const auto results = events_of(dir / "out", "result");
  REQUIRE(results.size() == 12);

  // No noise configured: every recorded objective is Branin at the recorded parameters.
  std::map<std::string, json> params;
  for (const auto& p : events_of(dir / "out", "proposed")) params[p["experiment"]] = p["params"];
  const auto* branin = sim::find_test_function("branin");
  double best = 1e300;
  for (const auto& r : results) {
    const json& x = params.at(r["experiment"]);
    const double x1 = x["x1"], x2 = x["x2"];
    CHECK(x1 >= -5);
    CHECK(x1 <= 10);
    CHECK(x2 >= 0);
    CHECK(x2 <= 15);
    const double expected = branin->evaluate(std::vector<double>{x1, x2});
    CHECK(r["objective"].get<double>() == Approx(expected).epsilon(1e-12));
    best = std::min(best, expected);
  }
  REQUIRE(summary.status.best);
  CHECK(*summary.status.best == Approx(best));
  CHECK(all.back()["best"]["objective"].get<double>() == Approx(best));

  const std::string csv = test::read_file(dir / "out" / "results.csv");
  CHECK(csv.rfind("experiment,instrument,x1,x2,y,status,error,proposed_at,dispatched_at,finished_at,proposed_by\n", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 13);
  const std::string svg = test::read_file(dir / "out" / "convergence.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(std::filesystem::exists(dir / "out" / "sim.log"));
}

TEST_CASE("Campaign: a discrete parameter against a simulator's continuous input sends only its levels, with the Bayesian planner", "[campaign][discrete]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  const std::vector<double> levels{-5, -3.2, 0, 2.5, 3.1, 9.5};
  file["parameters"][0] = {{"name", "x1"}, {"type", "discrete"}, {"values", {9.5, -5, 3.1, 0, 2.5, -3.2}}};
  file["planner"] = {{"kind", "bayesian"}, {"initial", 4}, {"candidates", 128}, {"local_starts", 1}};
  file["budget"]["experiments"] = 10;
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  std::map<std::string, json> params;
  for (const auto& d : events_of(dir / "out", "proposed")) params[d["experiment"]] = d["params"];
  REQUIRE(params.size() == 10);
  CHECK(events_of(dir / "out", "result").size() == 10);
  const auto* branin = sim::find_test_function("branin");
  for (const auto& r : events_of(dir / "out", "result")) {
    const json& x = params.at(r["experiment"]);
    INFO(x.dump());
    const double x1 = x["x1"];
    CHECK(std::find(levels.begin(), levels.end(), x1) != levels.end());
    // The simulator computed its result at exactly that level.
    CHECK(r["objective"].get<double>() == Approx(branin->evaluate(std::vector<double>{x1, x["x2"].get<double>()})).epsilon(1e-12));
  }
}

TEST_CASE("Campaign: three simulated instruments share the budget and each experiment gets exactly one result", "[campaign]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  file["planner"]["kind"] = "random";
  file["budget"]["experiments"] = 30;
  file["instruments"] = {{{"name", "a"}, {"simulator", "branin"}, {"options", {{"delay", 0.02}}}},
                         {{"name", "b"}, {"simulator", "branin"}, {"options", {{"delay", 0.03}, {"capacity", 2}}}},
                         {{"name", "c"}, {"simulator", "branin"}, {"options", {{"delay", 0.01}, {"noise", 0.1}}}}};
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  std::map<std::string, int> per_id;
  std::map<std::string, int> per_instrument;
  for (const auto& r : events_of(dir / "out", "result")) {
    ++per_id[r["experiment"]];
    ++per_instrument[r["instrument"]];
  }
  CHECK(per_id.size() == 30);
  for (const auto& [id, count] : per_id) CHECK(count == 1);
  CHECK(per_instrument.size() == 3);
  CHECK(events_of(dir / "out", "failed").empty());
  // Only "c" states a noise (its welcome's, protocol §4.1): the objective's is left to the model.
  CHECK_FALSE(events_of(dir / "out", "campaign_started").front()["config"]["objective"].contains("noise"));
}

TEST_CASE("Campaign: an ask's pending experiments are the journal's open ones, said once (pending_open), and replay tells the planner the same", "[campaign][replay]") {
  // Every proposed line listed every open experiment: with 2000 open at once, 29 KB a line.
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  file["planner"] = {{"kind", "bayesian"}, {"initial", 4}};
  file["budget"]["experiments"] = 16;
  file["instruments"] = {{{"name", "a"}, {"simulator", "branin"}, {"options", {{"delay", 0.05}, {"capacity", 2}}}},
                         {{"name", "b"}, {"simulator", "branin"}, {"options", {{"delay", 0.08}, {"capacity", 2}}}}};
  CHECK(run(file).reason == "budget reached");
  const auto events = decode_events(read_journal(dir / "out" / "journal.jsonl").events, "journal");
  CampaignState state;
  int asks = 0, asks_with_open = 0;
  std::optional<int> last_ask;
  for (const JournalEvent& e : events) {
    if (const auto* p = e.as<ProposedEvent>(); p && p->ask && !p->retry_of) {
      CHECK_FALSE(p->pending);
      CHECK(p->pending_open);
      if (p->ask != last_ask) ++asks, asks_with_open += state.open_count() > 0;
      last_ask = p->ask;
    }
    state.apply(e);
  }
  CHECK(asks > 4);
  CHECK(asks_with_open > 0);  // experiments were running while the planner was asked
  const CampaignConfig journaled = journaled_config(events, "journal", labloop::sim::catalogue());
  const auto planner = make_planner(PlannerContext{journaled.space(), journaled.seed, journaled.planner, journaled.source, journaled.planner_goals()});
  const ReplayReport report = replay_journal(events, journaled, *planner);
  CHECK(report.asks == asks);
  CHECK(report.reproduced());
}

TEST_CASE("Campaign: the noise its instruments state goes into the journaled config, the largest", "[campaign]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  file["planner"]["kind"] = "random";
  file["budget"]["experiments"] = 4;
  file["instruments"] = {{{"name", "a"}, {"simulator", "branin"}, {"options", {{"noise", 0.2}}}},
                         {{"name", "b"}, {"simulator", "branin"}, {"options", {{"noise", 0.3}}}}};
  CHECK(run(file).reason == "budget reached");
  CHECK(events_of(dir / "out", "campaign_started").front()["config"]["objective"]["noise"] == 0.3);
}

TEST_CASE("Campaign: it stops once the target is reached", "[campaign]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  file["budget"]["experiments"] = 50;
  file["stop"] = {{"target", 20.0}};  // Branin ≤ 20 covers much of the box: reached early
  const auto summary = run(file);
  CHECK(summary.reason == "target reached");
  REQUIRE(summary.status.best);
  CHECK(*summary.status.best <= 20.0);
  CHECK(summary.status.done < 50);
}

TEST_CASE("Campaign: stopped after its target while a person still works, it ends as stopped, so the entered result can be resumed",
          "[campaign][manual]") {
  // Red-team report: the target reached, a Ctrl-C aborted the instruments' experiments after the
  // grace and the campaign ended "target reached" with the person's experiment open: `enter` took
  // its result "for resume", and resume and extend refused a finished campaign.
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  file["planner"] = {{"kind", "random"}};
  file["instruments"] = {{{"name", "fast"}, {"simulator", "branin"}, {"options", {{"delay", 0.3}}}},
                         {{"name", "slow"}, {"simulator", "branin"}, {"options", {{"delay", 60}}}},
                         {{"name", "tech"}, {"manual", true}, {"capacity", 1}}};
  file["stop"] = {{"target", 1000.0}};  // the first result reaches it
  struct FirstResult : CampaignObserver {
    std::atomic<bool> seen = false;
    void on_event(const JournalEvent& event, const CampaignStatus&) override {
      if (event.as<ResultEvent>()) seen = true;
    }
  } first;
  std::stop_source ctrl_c;
  std::jthread operator_([&](std::stop_token stop) {
    while (!first.seen && !stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the campaign is stopping for its target by now
    ctrl_c.request_stop();
  });
  CampaignOptions options;
  options.stop = ctrl_c.get_token();
  options.stop_grace = std::chrono::milliseconds(200);
  options.simulator = LABLOOP_SIM_PATH;
  const CampaignSummary summary =
      run_campaign(parse_campaign_config(file.dump(), "test.json", labloop::sim::catalogue()), options, &first);
  CHECK(summary.stop == StopReason::stopped_by_operator);
  const CampaignState state = CampaignState::fold(decode_events(read_journal(dir / "out" / "journal.jsonl").events, "journal.jsonl"));
  CHECK(state.finish_reason() == "stopped by operator");  // which resume continues
  std::size_t open = 0;
  for (const ExperimentState& e : state.experiments())
    if (e.outcome == ExperimentOutcome::open) {
      ++open;
      CHECK(e.instrument == "tech");
    }
  CHECK(open == 1);
}

TEST_CASE("Campaign: a maximized objective keeps the largest result as best", "[campaign]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  file["objective"]["goal"] = "maximize";
  const auto summary = run(file);
  double largest = -1e300;
  for (const auto& r : events_of(dir / "out", "result")) largest = std::max(largest, r["objective"].get<double>());
  REQUIRE(summary.status.best);
  CHECK(*summary.status.best == largest);
}

TEST_CASE("Campaign: a dry run replaces every instrument by a stand-in that accepts the campaign's parameters", "[campaign]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "out").string());
  // A real endpoint nobody serves, and parameters of every kind: the dry run needs neither.
  file["parameters"] = {{{"name", "temp"}, {"type", "continuous"}, {"low", 20}, {"high", 80}, {"unit", "C"}},
                        {{"name", "rate"}, {"type", "continuous"}, {"low", 0.01}, {"high", 10}, {"log", true}},
                        {{"name", "cycles"}, {"type", "integer"}, {"low", 1}, {"high", 8}},
                        {{"name", "solvent"}, {"type", "categorical"}, {"choices", {"THF", "DMF", "MeCN"}}}};
  file["objective"] = {{"name", "yield"}, {"goal", "maximize"}};
  file["instruments"] = {{{"name", "reactor"}, {"endpoint", "tcp://127.0.0.1:1"}}};
  CampaignOptions options;
  options.dry_run = true;
  const auto summary = run(file, options);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.output == dir / "out-dry-run");
  const auto started = events_of(dir / "out-dry-run", "campaign_started");
  REQUIRE(started.size() == 1);
  CHECK(started[0]["dry_run"] == true);
  const auto results = events_of(dir / "out-dry-run", "result");
  CHECK(results.size() == 12);
  std::set<double> distinct;
  for (const auto& r : results) distinct.insert(r["objective"].get<double>());
  CHECK(distinct.size() > 6);  // a response, not a constant
}

TEST_CASE("Campaign: an output directory that already holds a journal is refused, with a resume command a shell reads as one folder", "[campaign]") {
  test::TempDir dir;
  json file = branin_campaign((dir / "my runs").string());
  file["budget"]["experiments"] = 2;
  run(file);
  CHECK_THROWS_WITH(run(file), Catch::Contains("already holds a campaign") &&
                                   Catch::Contains(fmt::format("`labloop resume '{}'`", (dir / "my runs").string())));
}

TEST_CASE("Campaign: a simulator that cannot start gives a clear error", "[campaign]") {
  test::TempDir dir;
  CampaignConfig config = parse_campaign_config(branin_campaign((dir / "out").string()).dump(), "test.json", labloop::sim::catalogue());
  CampaignOptions options;
  options.simulator = "/bin/false";
  CHECK_THROWS_WITH(run_campaign(config, options), Catch::Contains("exited at start"));
  // What it said last is in the message: the cause, without opening its log.
  test::write_file(dir / "complain.sh", "#!/bin/sh\necho 'labloop-sim: data.csv: line 6: y = \"nan\" is not a number' >&2\nexit 2\n");
  std::filesystem::permissions(dir / "complain.sh", std::filesystem::perms::owner_all);
  options.simulator = (dir / "complain.sh").string();
  CHECK_THROWS_WITH(run_campaign(config, options),
                    Catch::Contains("exited at start (status 2): labloop-sim: data.csv: line 6: y = \"nan\" is not a number; see "));
}

TEST_CASE("Campaign: the C++ example driver from the docs runs a mixed integer and continuous campaign", "[campaign]") {
  test::TempDir dir;
  ChildProcess driver({LABLOOP_EXAMPLE_DRIVER_PATH, dir.ipc("oven"), (dir / "oven-cache.jsonl").string()}, dir / "oven.log");
  const json file{{"name", "oven"},
                  {"parameters", {{{"name", "temperature"}, {"type", "continuous"}, {"low", 50}, {"high", 240}},
                                  {{"name", "minutes"}, {"type", "integer"}, {"low", 1}, {"high", 60}}}},
                  {"objective", {{"name", "yield"}, {"goal", "maximize"}}},
                  {"planner", {{"kind", "bayesian"}, {"initial", 4}}},
                  {"instruments", {{{"name", "oven"}, {"endpoint", dir.ipc("oven")}}}},
                  {"budget", {{"experiments", 8}}},
                  {"output", (dir / "out").string()}};
  const auto summary = run_campaign(parse_campaign_config(file.dump(), "oven.json", labloop::sim::catalogue()), {});
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.failed == 0);
  for (const auto& e : events_of(dir / "out", "proposed")) CHECK(e["params"]["minutes"].is_number_integer());
  CHECK(events_of(dir / "out", "result").size() == 8);
  // Its second argument is the result cache of docs/writing-a-driver.md: every result is on disk.
  const std::string cache = test::read_file(dir / "oven-cache.jsonl");
  CHECK(std::count(cache.begin(), cache.end(), '\n') == 1 + 8);  // its stamp, then one line per result
}

TEST_CASE("Campaign: a dtlz2 simulator with its own option objectives 3 records all three outputs and optimizes f2", "[campaign][multi]") {
  test::TempDir dir;
  json parameters = json::array();
  for (int d = 1; d <= 4; ++d) parameters.push_back({{"name", "x" + std::to_string(d)}, {"type", "continuous"}, {"low", 0}, {"high", 1}});
  const json file{{"name", "mo"},
                  {"seed", 2},
                  {"parameters", parameters},
                  {"objective", {{"name", "f2"}, {"goal", "minimize"}}},
                  {"planner", {{"kind", "sobol"}}},
                  {"instruments", {{{"name", "sim"}, {"simulator", "dtlz2"}, {"options", {{"dim", 4}, {"objectives", 3}, {"delay", 0.001}}}}}},
                  {"budget", {{"experiments", 6}}},
                  {"output", (dir / "out").string()}};
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.failed == 0);
  std::map<std::string, json> params;
  for (const auto& p : events_of(dir / "out", "proposed")) params[p["experiment"]] = p["params"];
  const auto* dtlz2 = sim::find_test_function("dtlz2");
  const auto results = events_of(dir / "out", "result");
  REQUIRE(results.size() == 6);
  for (const auto& r : results) {
    const json& x = params.at(r["experiment"]);
    const std::vector<double> point{x["x1"], x["x2"], x["x3"], x["x4"]};
    const auto expected = dtlz2->values(point, sim::OptionValues{{"objectives", 3}});
    REQUIRE(r["values"].size() == 3);
    CHECK(r["values"]["f1"].get<double>() == Approx(expected[0]).epsilon(1e-12));
    CHECK(r["values"]["f3"].get<double>() == Approx(expected[2]).epsilon(1e-12));
    const double objective = r.contains("objective") ? r["objective"].get<double>() : r["values"]["f2"].get<double>();
    CHECK(objective == Approx(expected[1]).epsilon(1e-12));
  }
  // Three values in every result: the function's option reached labloop-sim (as --options).
}

namespace {

// results.csv as rows of header → field (its fields here hold no commas or quotes).
std::vector<std::map<std::string, std::string>> pareto_csv_rows(const std::filesystem::path& csv) {
  std::istringstream in(test::read_file(csv));
  const auto split = [](const std::string& text) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1) fields.push_back(text.substr(start, comma - start));
    fields.push_back(text.substr(start));
    return fields;
  };
  std::string line;
  std::getline(in, line);
  const auto header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const auto fields = split(line);
    auto& row = rows.emplace_back();
    for (size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
  }
  return rows;
}

}  // namespace

TEST_CASE("Campaign: a bayesian campaign on branin_currin reports its Pareto set in results.csv, pareto.svg and the summary", "[campaign][multi]") {
  test::TempDir dir;
  // Branin's threshold as in the benchmark's reference point; Currin's reference is inferred.
  const json file{{"name", "bc"},
                  {"seed", 3},
                  {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", 0}, {"high", 1}},
                                  {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}}},
                  {"objectives", {{{"name", "branin"}, {"goal", "minimize"}, {"threshold", 18}}, {{"name", "currin"}, {"goal", "minimize"}}}},
                  {"outputs", {{{"name", "branin"}, {"unit", "a.u."}}, {{"name", "currin"}, {"unit", "b.u."}}}},
                  {"planner", {{"kind", "bayesian"}, {"initial", 6}}},
                  {"instruments", {{{"name", "sim"}, {"simulator", "branin_currin"}, {"options", {{"delay", 0.001}}}}}},
                  {"budget", {{"experiments", 14}}},
                  {"output", (dir / "out").string()}};
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  REQUIRE(summary.status.done == 14);

  auto rows = pareto_csv_rows(dir / "out" / "results.csv");
  REQUIRE(rows.size() == 14);
  REQUIRE(rows.front().count("pareto") == 1);
  REQUIRE(rows.front().count("hypervolume") == 1);
  CHECK(rows.front().count("branin [a.u.]") == 1);
  CHECK(rows.front().count("currin [b.u.]") == 1);
  CHECK(rows.front().count("counts") == 0);  // no outcome constraints, no failure condition
  int on_front = 0;
  for (const auto& row : rows) {
    INFO(row.at("experiment"));
    CHECK(row.at("status") == "ok");
    CHECK((row.at("pareto") == "0" || row.at("pareto") == "1"));
    on_front += row.at("pareto") == "1";
  }
  CHECK(on_front >= 1);
  // The hypervolume after each outcome never falls, in the order of completion.
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.at("finished_at") < b.at("finished_at"); });
  double previous = 0;
  for (const auto& row : rows) {
    REQUIRE_FALSE(row.at("hypervolume").empty());
    const double volume = std::stod(row.at("hypervolume"));
    CHECK(volume >= previous);
    previous = volume;
  }
  CHECK(previous > 0);

  // The summary carries the same set.
  REQUIRE(summary.pareto);
  CHECK(summary.pareto->members.size() == static_cast<size_t>(on_front));
  CHECK(summary.status.pareto_size == on_front);
  REQUIRE(summary.pareto->hypervolume);
  CHECK(*summary.pareto->hypervolume == Approx(previous));
  CHECK(summary.pareto->objectives.at(1).unit == "b.u.");

  // pareto.svg: one marker per result, a front point per Pareto row, and it renders.
  const auto svg_path = dir / "out" / "pareto.svg";
  REQUIRE(std::filesystem::exists(svg_path));
  const std::string svg = test::read_file(svg_path);
  const auto occurrences = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = svg.find(needle); at != std::string::npos; at = svg.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(occurrences("class=\"result") == 14);
  CHECK(occurrences("class=\"result front\"") == static_cast<size_t>(on_front));
  CHECK(occurrences("<polyline class=\"front\"") == 1);
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0)
    FAIL("rsvg-convert is not installed: install librsvg2-bin (scripts/install-deps.sh --tests installs it)");
  const auto png = dir / "pareto.png";
  REQUIRE(std::system(("rsvg-convert -o '" + png.string() + "' '" + svg_path.string() + "' 2>&1").c_str()) == 0);
  CHECK(test::read_file(png).substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_CASE("Campaign: a campaign on a dataset's lookup table runs end to end against labloop-sim, every result the table's value", "[campaign][datasets]") {
  test::TempDir dir;
  const std::filesystem::path data = LABLOOP_SOURCE_DIR "/simulators/data/edbo_direct_arylation";
  const sim::LookupTable table(sim::read_dataset(data));
  json parameters = json::array();
  for (const Parameter& p : table.spec().parameters) parameters.push_back(p.to_json());
  const json file{{"name", "edbo"},
                  {"seed", 3},
                  {"parameters", parameters},
                  {"objective", {{"name", "yield"}, {"goal", "maximize"}}},
                  {"planner", {{"kind", "random"}}},
                  {"instruments", {{{"name", "sim"}, {"simulator", "edbo_direct_arylation"}}}},
                  {"budget", {{"experiments", 8}}},
                  {"output", (dir / "out").string()}};
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 8);
  CHECK(summary.status.failed == 0);
  std::map<std::string, json> params;
  for (const auto& p : events_of(dir / "out", "proposed")) params[p["experiment"]] = p["params"];
  const auto results = events_of(dir / "out", "result");
  REQUIRE(results.size() == 8);
  for (const auto& r : results) {
    INFO(r.dump());
    CHECK(r["objective"].get<double>() == table.values(params.at(r["experiment"])).at(0));
  }
}

TEST_CASE("Campaign: snar_kinetic takes its named inputs over the wire and returns the model's e_factor and sty", "[campaign][multi][snar]") {
  test::TempDir dir;
  const json file{{"name", "snar"},
                  {"seed", 2},
                  {"parameters", {{{"name", "tau"}, {"type", "continuous"}, {"low", 0.5}, {"high", 2}},
                                  {{"name", "equiv_pldn"}, {"type", "continuous"}, {"low", 1}, {"high", 5}},
                                  {{"name", "conc_dfnb"}, {"type", "continuous"}, {"low", 0.1}, {"high", 0.5}},
                                  {{"name", "temperature"}, {"type", "continuous"}, {"low", 30}, {"high", 120}}}},
                  {"objectives", {{{"name", "sty"}, {"goal", "maximize"}}, {{"name", "e_factor"}, {"goal", "minimize"}}}},
                  {"planner", {{"kind", "sobol"}}},
                  {"instruments", {{{"name", "reactor"}, {"simulator", "snar_kinetic"}}}},
                  {"budget", {{"experiments", 6}}},
                  {"output", (dir / "out").string()}};
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  REQUIRE(summary.status.done == 6);
  std::map<std::string, json> params;
  for (const auto& p : events_of(dir / "out", "proposed")) params[p["experiment"].get<std::string>()] = p["params"];
  const auto* f = labloop::sim::find_test_function("snar_kinetic");
  REQUIRE(f != nullptr);
  int checked = 0;
  for (const auto& r : events_of(dir / "out", "result")) {
    INFO(r.dump());
    REQUIRE(r["status"] == "ok");
    const json& p = params.at(r["experiment"].get<std::string>());
    const std::vector<double> x = {p["tau"].get<double>(), p["equiv_pldn"].get<double>(), p["conc_dfnb"].get<double>(), p["temperature"].get<double>()};
    const auto expected = f->values(x, {});
    CHECK(r["values"]["e_factor"].get<double>() == Approx(expected[0]).epsilon(1e-12));
    CHECK(r["values"]["sty"].get<double>() == Approx(expected[1]).epsilon(1e-12));
    ++checked;
  }
  CHECK(checked == 6);
}

TEST_CASE("Campaign: every shipped example runs as a dry run, several outputs, outcome constraints and failure conditions included", "[campaign][dry-run]") {
  test::TempDir dir;
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LABLOOP_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    ++examples;
    CampaignConfig config = load_campaign_config(entry.path().string(), labloop::sim::catalogue());
    config.budget.experiments = std::min(config.budget.experiments, 7);  // past any initial design: the planner's own choice runs too
    CampaignOptions options;
    options.dry_run = true;
    options.output = (dir / entry.path().stem()).string();
    CampaignSummary summary;
    REQUIRE_NOTHROW(summary = run_campaign(config, options));
    CHECK(summary.status.done == config.budget.experiments);
    CHECK(summary.status.failed == 0);
  }
  CHECK(examples >= 10);
}

TEST_CASE("Campaign: a stop asked for while the planner thinks sends none of what it then proposes", "[campaign][dry-run]") {
  test::TempDir dir;
  CampaignConfig config = load_campaign_config(LABLOOP_SOURCE_DIR "/examples/quickstart.json", labloop::sim::catalogue());
  std::stop_source stop;
  // Asks the stop during the planner's 4th call, as Ctrl-C during a long ask would.
  struct StopWhileThinking : CampaignObserver {
    std::stop_source* stop = nullptr;
    int asks = 0;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_status(const CampaignStatus& status) override {
      if (status.planner_thinking && ++asks == 4) stop->request_stop();
    }
  } observer;
  observer.stop = &stop;
  CampaignOptions options;
  options.dry_run = true;
  options.stop = stop.get_token();
  options.output = (dir / "out").string();
  const CampaignSummary summary = run_campaign(config, options, &observer);
  CHECK(summary.stop == StopReason::stopped_by_operator);
  std::set<std::string> proposed_in_last_ask, dispatched;
  int last_ask = 0;
  for (const auto& e : read_journal(dir / "out" / "journal.jsonl").events) {
    if (e["event"] == "proposed" && e.contains("ask")) {
      if (e["ask"].get<int>() > last_ask) proposed_in_last_ask.clear(), last_ask = e["ask"].get<int>();
      proposed_in_last_ask.insert(e["experiment"].get<std::string>());
    }
    if (e["event"] == "dispatched") dispatched.insert(e["experiment"].get<std::string>());
  }
  CHECK(last_ask == 4);
  REQUIRE_FALSE(proposed_in_last_ask.empty());
  for (const auto& id : proposed_in_last_ask) CHECK(dispatched.count(id) == 0);
}

TEST_CASE("Campaign: a stop request left in its folder stops it as Ctrl-C would, with who asked journaled, and one left from before is removed at resume", "[campaign][dry-run]") {
  test::TempDir dir;
  const CampaignConfig config = load_campaign_config(LABLOOP_SOURCE_DIR "/examples/quickstart.json", labloop::sim::catalogue());
  const std::filesystem::path out = dir / "out";
  // The console's part: the request written into the folder while the campaign runs (at its 4th ask).
  struct AskToStop : CampaignObserver {
    std::filesystem::path folder;
    int asks = 0;
    // Someone else asks too, once the campaign is stopping: recorded, nothing more.
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    // Once the campaign says it stops on Ann's request (her file is gone by then).
    void on_log(const std::string& line) override {
      if (line.find("stopping: asked from the console by Ann") != std::string::npos)
        write_stop_request(folder, StopRequest{"Bob", "me too", "2026-12-05T10:00:02Z", "console"});
    }
    void on_status(const CampaignStatus& status) override {
      if (status.planner_thinking && ++asks == 4) write_stop_request(folder, StopRequest{"Ann", "reagent ran out", "2026-12-05T10:00:00Z", "console"});
    }
  } observer;
  observer.folder = out;
  CampaignOptions options;
  options.dry_run = true;
  options.output = out.string();
  const CampaignSummary summary = run_campaign(config, options, &observer);
  CHECK(summary.stop == StopReason::stopped_by_operator);
  CHECK(summary.status.done < config.budget.experiments);
  CHECK_FALSE(read_stop_request(out));
  CHECK(stop_requests_closed(out));  // its last look closed the path: a console asking now is told it finished
  const auto events = read_journal(out / "journal.jsonl").events;
  std::vector<json> asked;
  for (const auto& e : events)
    if (e["event"] == "stop_requested") asked.push_back(e);
  REQUIRE(asked.size() == 2);
  CHECK(asked[0]["by"] == "Ann");
  CHECK(asked[0]["reason"] == "reagent ran out");
  CHECK(asked[0]["source"] == "console");
  CHECK(asked[1]["by"] == "Bob");
  CHECK(events.back()["event"] == "campaign_finished");
  CHECK(events.back()["reason"] == "stopped by operator");
  // Ann's stopped it: status and the console name her, not the last to ask (a red-team report).
  CHECK(CampaignState::fold(decode_events(events, "journal")).stop_request()->by == "Ann");

  // A request nobody acted on (the campaign was killed before its last look; an earlier version)
  // is not aimed at the next run.
  std::filesystem::remove(stop_request_path(out));
  REQUIRE(write_stop_request(out, StopRequest{"Bob", "stale", "2026-12-05T10:00:01Z", "console"}) == StopRequestWritten::written);
  CampaignOptions again = options;
  again.resume = true;
  const CampaignSummary resumed = run_campaign(config, again);
  CHECK(resumed.stop == StopReason::budget_reached);
  CHECK(stop_requests_closed(out));  // Bob's stale request gone, the resumed run's own last look in its place
  int stop_events = 0;
  for (const auto& e : read_journal(out / "journal.jsonl").events) stop_events += e["event"] == "stop_requested";
  CHECK(stop_events == 2);
  CHECK_FALSE(CampaignState::fold(decode_events(read_journal(out / "journal.jsonl").events, "journal")).stop_request());
  // Replay reads past the stop requests and reproduces every proposal.
  const auto journal_events = decode_events(read_journal(out / "journal.jsonl").events, "journal");
  const CampaignConfig journaled = journaled_config(journal_events, "journal", labloop::sim::catalogue());
  const auto planner = make_planner(PlannerContext{journaled.space(), journaled.seed, journaled.planner, journaled.source, journaled.planner_goals()});
  const ReplayReport report = replay_journal(journal_events, journaled, *planner);
  CHECK(report.asks > 0);
  CHECK(report.reproduced());
  CHECK(report.replay_time_limited == 0);

  // A planner cut short while replaying (a busy machine) proposes something else: the difference
  // says so, and the count lets `labloop replay` say to replay again when the machine is idle.
  struct CutShort : Planner {
    std::unique_ptr<Planner> inner;
    double factor = 1.0;
    std::vector<double> factors;  // the time limit's stretch at each ask
    std::vector<Point> ask(int q, std::span<const Point> pending) override {
      factors.push_back(factor);
      auto points = inner->ask(q, pending);
      for (Point& p : points) p = Point::Constant(p.size(), 0.5);
      return points;
    }
    void tell(const Observation& o) override { inner->tell(o); }
    std::string take_note() override { return "time limit of 5 s reached while fitting the models"; }
    void stretch_time_limit(double f) override { factor = f; }
  } cut_short;
  cut_short.inner = make_planner(PlannerContext{journaled.space(), journaled.seed, journaled.planner, journaled.source, journaled.planner_goals()});
  const ReplayReport cut = replay_journal(journal_events, journaled, cut_short);
  CHECK(cut.replay_time_limited == cut.asks);
  REQUIRE_FALSE(cut.reproduced());
  CHECK_THAT(cut.differences.front(), Catch::EndsWith("(replaying that ask hit the time limit)"));
  // No ask was cut when first made, so each was replayed with its time limit stretched (a busy
  // machine must not part the planner from the journal), and the limit is the planner's own again after.
  CHECK(cut.time_limited == 0);
  CHECK(cut_short.factors == std::vector<double>(static_cast<size_t>(cut.asks), kReplayTimeFactor));
  CHECK(cut_short.factor == 1.0);
  {
    // An ask the journal says was cut is replayed with the limit it had: it may differ either way.
    auto objects = read_journal(out / "journal.jsonl").events;
    size_t first = 0;
    while (objects.at(first)["event"] != "proposed") ++first;
    json note = {{"event", "planner_note"}, {"seq", objects[first]["seq"]}, {"time", objects[first]["time"]},
                 {"note", "time limit of 5 s reached while fitting the model: hyperparameters are the best found by then"}};
    objects.insert(objects.begin() + static_cast<std::ptrdiff_t>(first), note);
    cut_short.factors.clear();
    const ReplayReport noted = replay_journal(decode_events(objects, "journal"), journaled, cut_short);
    CHECK(noted.time_limited == 1);
    REQUIRE(cut_short.factors.size() >= 2);
    CHECK(cut_short.factors[0] == 1.0);
    CHECK(cut_short.factors[1] == kReplayTimeFactor);
    CHECK(cut_short.factor == 1.0);
  }

  // A proposal's point edited to another length or out of the cube (hash chain recomputed) is
  // named before any planner sees it; before, replay and resume crashed on an empty one.
  auto objects = read_journal(out / "journal.jsonl").events;
  size_t first = 0;
  while (objects.at(first)["event"] != "proposed") ++first;
  const std::string id = objects[first]["experiment"];
  auto check_named = [&](const json& x, const std::string& problem) {
    INFO(x.dump());
    objects[first]["x"] = x;
    const auto edited = decode_events(objects, "journal");
    const std::string message = fmt::format("seq {}: the point (\"x\") of {} {}; the journal was edited or damaged",
                                            objects[first]["seq"].get<long long>(), id, problem);
    CHECK_THROWS_WITH(check_journaled_points(edited, journaled), message);
    const auto fresh = make_planner(PlannerContext{journaled.space(), journaled.seed, journaled.planner, journaled.source, journaled.planner_goals()});
    CHECK_THROWS_WITH(replay_journal(edited, journaled, *fresh), message);
  };
  check_named(json::array(), "has 0 coordinates, where the campaign's parameters take 2");
  check_named(json::array({0.5}), "has 1 coordinate, where the campaign's parameters take 2");
  check_named(json::array({0.5, 1.5}), "has the coordinate 1.5, outside 0 to 1");

  // Its params edited instead (what the instrument is sent and results.csv shows): far outside the
  // bounds, or inside them but not the point's setting. Both passed verify and replay (red team).
  objects = read_journal(out / "journal.jsonl").events;
  const json params = objects[first]["params"];
  auto check_params = [&](const json& edited_params, const std::string& problem) {
    INFO(edited_params.dump());
    objects[first]["params"] = edited_params;
    const auto edited = decode_events(objects, "journal");
    CHECK_THROWS_WITH(check_journaled_points(edited, journaled),
                      Catch::StartsWith(fmt::format("seq {}: the params of {} ", objects[first]["seq"].get<long long>(), id)) &&
                          Catch::Contains(problem) && Catch::EndsWith("; the journal was edited or damaged"));
  };
  check_params(json{{"x1", 1e9}, {"x2", -1e9}}, "are not within the bounds (x1 = 1000000000.0 is outside its bounds [-5, 10])");
  json moved = params;
  moved["x1"] = params["x1"].get<double>() > 0 ? params["x1"].get<double>() - 1 : params["x1"].get<double>() + 1;
  check_params(moved, "are not the setting of its point (\"x\"): coordinate 1 is");
  objects[first]["params"] = params;
  CHECK_NOTHROW(check_journaled_points(decode_events(objects, "journal"), journaled));
}
