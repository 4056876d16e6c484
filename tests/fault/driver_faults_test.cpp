// Instruments that misbehave: garbage, silence, hangs, lies, and SIGKILL. The controller must
// neither crash nor hang, and every experiment must end with exactly one recorded outcome.
#include <catch2/catch.hpp>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <atomic>
#include <map>
#include <optional>
#include <thread>

#include "cli_process.hpp"
#include "fake_driver.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/wire/instrument.hpp"
#include "test_support.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;
using test::FakeDriver;

namespace {

json campaign_with(const std::string& output, json instruments, int budget) {
  // `{x}` with one json x is a one-element array to gcc but a copy of x to clang: accept both.
  if (instruments.is_object()) instruments = json::array({instruments});
  return json{{"name", "f"},
              {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                              {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
              {"objective", {{"name", "y"}}},
              {"instruments", std::move(instruments)},
              {"budget", {{"experiments", budget}}},
              {"output", output}};
}

CampaignSummary run(const json& file) {
  const CampaignConfig config = parse_campaign_config(file.dump(), "fault.json", labloop::sim::catalogue());
  CampaignOptions options;
  options.simulator = LABLOOP_SIM_PATH;
  return run_campaign(config, options);
}

// Every proposed experiment has exactly one final outcome (result or failed).
std::map<std::string, int> outcomes(const std::filesystem::path& out) {
  std::map<std::string, int> count;
  for (const auto& e : read_journal(out / "journal.jsonl").events) {
    if (e["event"] == "proposed") count[e["experiment"]] += 0;
    if (e["event"] == "result" || e["event"] == "failed") ++count[e["experiment"]];
  }
  return count;
}

// The planner's own proposals (retries of a point carry "retry_of").
int proposals(const std::filesystem::path& out) {
  int n = 0;
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "proposed" && !e.contains("retry_of")) ++n;
  return n;
}

int count_events(const std::filesystem::path& out, const std::string& kind, const std::string& instrument = {}) {
  int n = 0;
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == kind && (instrument.empty() || e.value("instrument", "") == instrument)) ++n;
  return n;
}

using test::fast_heartbeat;

// A driver that answers two runs with results, then accepts and holds the rest: a campaign on it
// cannot finish before the test restarts it. `runs` counts the runs it got.
// `held`, when given, gets the id of the last run it holds (read it once the driver is gone).
FakeDriver::Behaviour two_results_then_hold(std::atomic<int>& runs, std::string* held = nullptr) {
  return [&runs, held](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "hello") return {FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type != "run") return {};
    const std::string id = FakeDriver::experiment_of(payload);
    if (++runs > 2) {
      if (held) *held = id;
      return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump()};
    }
    return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
            json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 3.0}}}}.dump()};
  };
}

// The same driver restarted with x1 limited to [low, high]: it counts the hellos and runs it gets
// and runs nothing. With `forged`, it answers each hello with a result for that id first.
FakeDriver::Behaviour narrowed_x1(double low, double high, std::atomic<int>& hellos, std::atomic<int>& runs, const std::string* forged = nullptr) {
  return [low, high, &hellos, &runs, forged](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "hello") {
      ++hellos;
      json w = json::parse(FakeDriver::welcome());
      w["inputs"][0]["low"] = low;
      w["inputs"][0]["high"] = high;
      if (forged && !forged->empty())
        return {json{{"v", 1}, {"type", "result"}, {"experiment", *forged}, {"status", "ok"}, {"values", {{"y", -1000.0}}}}.dump(), w.dump()};
      return {w.dump()};
    }
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "run") ++runs;
    return {};
  };
}

}  // namespace

TEST_CASE("Faults: a driver that answers garbage is logged and lost while the campaign finishes on the others", "[fault]") {
  test::TempDir dir;
  // Welcomes properly, then answers everything with junk of every kind.
  FakeDriver garbage(dir.ipc("garbage"), [](const std::string& payload) -> std::vector<std::string> {
    if (FakeDriver::type_of(payload) == "hello") return {FakeDriver::welcome()};
    return {"\xff\xfe not json", "[1,2,3]", R"({"v":1})", R"({"v":1,"type":"result","experiment":"nope","status":"ok","values":{"y":1}})",
            R"({"v":7,"type":"pong","running":[]})", std::string(100, '{')};
  });
  const auto out = dir / "out";
  const auto summary = run(campaign_with(out.string(), {fast_heartbeat({{"name", "junk"}, {"endpoint", dir.ipc("garbage")}}),
                                                        {{"name", "good"}, {"simulator", "branin"}}}, 10));
  CHECK(summary.reason == "budget reached");
  CHECK(summary.stop == StopReason::budget_reached);
  CHECK(count_events(out, "instrument_lost", "junk") == 1);
  for (const auto& [id, n] : outcomes(out)) CHECK(n == 1);
  CHECK(proposals(out) == 10);
  CHECK(count_events(out, "result", "good") >= 9);
}

TEST_CASE("Faults: a silent driver is declared lost and its experiments fail instead of hanging", "[fault]") {
  test::TempDir dir;
  FakeDriver silent(dir.ipc("silent"), [](const std::string& payload) -> std::vector<std::string> {
    if (FakeDriver::type_of(payload) == "hello") return {FakeDriver::welcome()};
    return {};  // accepts nothing, answers nothing, not even pings
  });
  const auto out = dir / "out";
  const auto summary = run(campaign_with(out.string(), {fast_heartbeat({{"name", "mute"}, {"endpoint", dir.ipc("silent")}})}, 5));
  CHECK(summary.reason == "no instruments left");
  CHECK(summary.stop == StopReason::no_instruments_left);
  CHECK(count_events(out, "instrument_lost", "mute") == 1);
  const auto n = outcomes(out);
  for (const auto& [id, k] : n) CHECK(k == 1);
  CHECK(count_events(out, "failed") == static_cast<int>(n.size()));
}

TEST_CASE("Faults: a pause of the controller itself is not a driver's silence, but pings left unanswered are", "[fault]") {
  test::TempDir dir;
  std::atomic<bool> answering{true};
  FakeDriver driver(dir.ipc("d"), [&answering](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "hello") return {FakeDriver::welcome()};
    if (type == "ping" && answering) return {R"({"v":1,"type":"pong","running":[]})"};
    return {};
  });
  zmq::context_t context;
  InstrumentTiming timing;
  timing.heartbeat = std::chrono::milliseconds(100);
  timing.heartbeat_misses = 5;
  Instrument link(context, "d", dir.ipc("d"), timing, [](const std::string&) {});
  link.hello("c", {});
  // A planner step of a second: no pings went out, so none went unanswered.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  CHECK_FALSE(link.silent(Instrument::Clock::now()));
  auto exchange = [&](std::chrono::milliseconds span, bool stop_when_silent) {
    const auto until = Instrument::Clock::now() + span;
    while (Instrument::Clock::now() < until) {
      link.ping_if_due(Instrument::Clock::now());
      while (link.receive(std::chrono::milliseconds(10))) {
      }
      if (stop_when_silent && link.silent(Instrument::Clock::now())) return true;
    }
    return link.silent(Instrument::Clock::now());
  };
  CHECK_FALSE(exchange(std::chrono::milliseconds(400), false));  // answered: alive
  answering = false;
  const auto stopped = Instrument::Clock::now();
  CHECK(exchange(std::chrono::milliseconds(3000), true));  // 5 unanswered pings
  // 0.5 s after the last answer, which came at most one interval before it stopped answering.
  CHECK(Instrument::Clock::now() - stopped >= std::chrono::milliseconds(400));
}

TEST_CASE("Faults: a hung experiment is aborted after its timeout and the campaign goes on", "[fault]") {
  test::TempDir dir;
  const auto out = dir / "out";
  json hung = {{"name", "hung"}, {"simulator", "branin"}, {"options", {{"delay", 30}}}, {"timeout_s", 0.3}, {"retry_backoff_s", 0.05}};
  const auto summary = run(campaign_with(out.string(), {hung, {{"name", "good"}, {"simulator", "branin"}}}, 8));
  CHECK(summary.reason == "budget reached");
  const int timeouts = count_events(out, "failed", "hung");
  CHECK(timeouts >= 1);
  const auto events = read_journal(out / "journal.jsonl").events;
  std::map<std::string, json> params;
  int retries = 0;
  for (const auto& e : events) {
    if (e["event"] == "failed") CHECK(e["error"].get<std::string>().rfind("timeout: no result within 0.3 s; aborted", 0) == 0);
    if (e["event"] != "proposed") continue;
    params[e["experiment"].get<std::string>()] = e["params"];
    // A retry is the same point under a new id.
    if (!e.contains("retry_of")) continue;
    ++retries;
    CHECK(e["params"] == params[e["retry_of"].get<std::string>()]);
  }
  CHECK(retries >= 1);  // the first timeout of a point is retried (retries: 2)
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
  CHECK(summary.status.done == 8);
}

TEST_CASE("Faults: a driver killed with SIGKILL mid-campaign is lost and no recorded result is lost", "[fault]") {
  test::TempDir dir;
  const auto out = dir / "out";
  ChildProcess victim({LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", dir.ipc("victim"), "--delay", "0.05"}, dir / "victim.log");
  // Killed once a result of its is journaled (it did work before it died, and that is kept), not
  // after a fixed second: on a loaded machine it may not have finished one by then.
  std::jthread killer([&victim, &out](std::stop_token stop) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      std::error_code ec;
      if (!std::filesystem::exists(out / "journal.jsonl", ec)) continue;
      try {
        if (count_events(out, "result", "victim") >= 1) break;
      } catch (const std::exception&) {  // read while a line is being written: look again
      }
    }
    victim.kill();
  });
  json victim_instrument = fast_heartbeat({{"name", "victim"}, {"endpoint", dir.ipc("victim")}});
  const auto summary = run(campaign_with(out.string(), {victim_instrument, {{"name", "good"}, {"simulator", "branin"}, {"options", {{"delay", 0.05}}}}}, 40));
  killer.join();
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "instrument_lost", "victim") == 1);
  CHECK(count_events(out, "result", "victim") >= 1);  // it did work before it died, and that is kept
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
  CHECK(proposals(out) == 40);
  CHECK(count_events(out, "result") == 40);  // the victim's open experiment was retried elsewhere
}

TEST_CASE("Faults: a result without the objective or with a non-number counts as failed", "[fault]") {
  test::TempDir dir;
  int n = 0;
  FakeDriver liar(dir.ipc("liar"), [&n](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "hello") return {FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type != "run") return {};
    const std::string id = FakeDriver::experiment_of(payload);
    const std::string values = (++n % 2) ? R"({"z":1})" : R"({"y":"high"})";
    return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
            R"({"v":1,"type":"result","experiment":")" + id + R"(","status":"ok","values":)" + values + "}"};
  });
  const auto out = dir / "out";
  const auto summary = run(campaign_with(out.string(), {{{"name", "liar"}, {"endpoint", dir.ipc("liar")}}}, 4));
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "failed") == 4);
  CHECK(count_events(out, "result") == 0);
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "failed") CHECK(e["error"].get<std::string>().find("no finite value for the objective \"y\"") != std::string::npos);
}

TEST_CASE("Faults: a driver whose limits do not fit the campaign is refused at hello with a config error", "[fault]") {
  test::TempDir dir;
  FakeDriver narrow(dir.ipc("narrow"), [](const std::string& payload) -> std::vector<std::string> {
    if (FakeDriver::type_of(payload) != "hello") return {};
    json w = json::parse(FakeDriver::welcome());
    w["inputs"][0]["high"] = 5;  // the campaign asks for x1 up to 10
    return {w.dump()};
  });
  try {
    run(campaign_with((dir / "out").string(), {{{"name", "narrow"}, {"endpoint", dir.ipc("narrow")}}}, 3));
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "fault.json: /instruments/0: instrument 'narrow' limits \"x1\" to [-5, 5], but the campaign asks for [-5, 10]; narrow the parameter's bounds to fit");
  }
}

TEST_CASE("Faults: a campaign that cannot start writes no journal, and the same run works once the cause is fixed", "[fault]") {
  test::TempDir dir;
  const auto out = dir / "out";
  const json file = campaign_with(out.string(), {fast_heartbeat({{"name", "reactor"}, {"endpoint", dir.ipc("reactor")}})}, 3);
  {
    FakeDriver narrow(dir.ipc("reactor"), [](const std::string& payload) -> std::vector<std::string> {
      if (FakeDriver::type_of(payload) != "hello") return {};
      json w = json::parse(FakeDriver::welcome());
      w["inputs"][1]["high"] = 10;  // the campaign asks for x2 up to 15
      return {w.dump()};
    });
    CHECK_THROWS_AS(run(file), ConfigError);
    CHECK_FALSE(std::filesystem::exists(out / "journal.jsonl"));
  }
  // The technician fixes the instrument (here: a driver with the right limits) and runs again.
  FakeDriver fixed(dir.ipc("reactor"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (m["type"] != "run") return {};
    return {json{{"v", 1}, {"type", "accepted"}, {"experiment", m["experiment"]}}.dump(),
            json{{"v", 1}, {"type", "result"}, {"experiment", m["experiment"]}, {"status", "ok"}, {"values", {{"y", 1.0}}}}.dump()};
  });
  CHECK(run(file).reason == "budget reached");
  const auto events = read_journal(out / "journal.jsonl").events;
  REQUIRE(events.size() >= 2);
  CHECK(events[0]["event"] == "campaign_started");
  CHECK(events[1]["event"] == "instrument_ready");
  CHECK(count_events(out, "result") == 3);
}

TEST_CASE("Faults: an endpoint with no driver gives a clear error after the connect timeout", "[fault]") {
  test::TempDir dir;
  json instrument = {{"name", "ghost"}, {"endpoint", dir.ipc("ghost")}, {"connect_timeout_s", 0.5}};
  CHECK_THROWS_WITH(run(campaign_with((dir / "out").string(), {instrument}, 3)),
                    Catch::Contains("instrument 'ghost': no answer from") && Catch::Contains("is its driver running"));
  // Something is there (a ZeroMQ peer) but never answers hello: asking whether it runs misleads.
  FakeDriver mute(dir.ipc("mute"), [](const std::string&) -> std::vector<std::string> { return {}; });
  json silent = {{"name", "mute"}, {"endpoint", dir.ipc("mute")}, {"connect_timeout_s", 0.5}};
  CHECK_THROWS_WITH(run(campaign_with((dir / "out2").string(), {silent}, 3)),
                    Catch::Contains("instrument 'mute': connected to " + dir.ipc("mute") + ", but no welcome came within") &&
                        Catch::Contains("did not answer labloop's hello"));
}

// ---- outcomes end to end (the policy of every row of docs/reliability.md's outcome table --------
// ---- is unit-tested without processes: tests/unit/experiment_book_test.cpp) ------------------

TEST_CASE("Faults: when more than half of at least 5 experiments fail the campaign pauses and says why", "[fault][outcomes]") {
  test::TempDir dir;
  const auto out = dir / "out";
  const auto summary = run(campaign_with(out.string(), {{{"name", "bad"}, {"simulator", "branin"}, {"options", {{"fail_rate", 1}}}}}, 40));
  CHECK(summary.stop == StopReason::paused);
  CHECK(summary.reason.rfind("paused: 5 of the last 5 experiments failed", 0) == 0);
  CHECK(summary.reason.find("labloop resume") != std::string::npos);
  CHECK(summary.status.failed == 5);
  CHECK(proposals(out) < 40);  // the budget was not burnt
}

TEST_CASE("Faults: a simulator that crashes mid-experiment is restarted and nothing completes twice", "[fault][outcomes]") {
  test::TempDir dir;
  const auto out = dir / "out";
  json crashy = fast_heartbeat({{"name", "crashy"}, {"simulator", "branin"}, {"options", {{"crash_after", 4}, {"delay", 0.02}}}});
  crashy["reconnect_s"] = 30;
  const auto summary = run(campaign_with(out.string(), {crashy}, 14));
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "instrument_restarted", "crashy") >= 2);
  CHECK(count_events(out, "result") == 14);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
  std::map<std::string, int> completed;
  test::count_completed(out / "crashy.completed.jsonl", completed);
  CHECK(completed.size() == 14);
  for (const auto& [id, k] : completed) CHECK(k == 1);
}

TEST_CASE("Faults: an experiment its driver goes down on every time is given up after 3 returns, not re-sent for ever", "[fault][outcomes]") {
  // crash_after 0: each (re)started simulator dies halfway through the first experiment it gets,
  // so the setting re-sent to it after each restart kills it again (a red-team report: 68 restarts
  // in 40 s, no experiment ever ended).
  test::TempDir dir;
  const auto out = dir / "out";
  json crashy = fast_heartbeat({{"name", "crashy"}, {"simulator", "branin"}, {"options", {{"crash_after", 0}, {"delay", 0.02}}}}, 30);
  crashy["retries"] = 1;
  crashy["quarantine_after"] = 2;
  const auto summary = run(campaign_with(out.string(), {crashy}, 3));
  CHECK(summary.stop == StopReason::no_instruments_left);
  const auto events = read_journal(out / "journal.jsonl").events;
  std::vector<std::string> given_up;
  for (const auto& e : events)
    if (e["event"] == "failed" && e.value("error", "").find("went down 3 times while it ran this experiment") != std::string::npos)
      given_up.push_back(e["experiment"]);
  CHECK(given_up.size() == 2);  // the proposal and its one retry
  CHECK(count_events(out, "instrument_quarantined", "crashy") == 1);
  CHECK(count_events(out, "instrument_restarted", "crashy") >= 5);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a lost driver that comes back is reconnected and its experiments are re-queried by id", "[fault][outcomes]") {
  test::TempDir dir;
  const auto out = dir / "out";
  const std::vector<std::string> argv{LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", dir.ipc("flaky"), "--delay", "0.05",
                                      "--cache", (dir / "flaky.cache.jsonl").string(), "--completed-log", (dir / "flaky.completed.jsonl").string()};
  std::optional<ChildProcess> flaky;
  flaky.emplace(argv, dir / "flaky.log");
  std::jthread outage([&](std::stop_token stop) {
    // Mid-campaign: once it has results (a fixed delay could land before it even connected).
    for (int i = 0; i < 2000 && !stop.stop_requested() && test::count_journaled(out / "journal.jsonl", "result") < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    flaky->kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // well past 10 missed heartbeats of 0.1 s
    flaky.emplace(argv, dir / "flaky.log");
    // The child dies with the thread that started it (PR_SET_PDEATHSIG), so this one stays.
    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  json instrument = fast_heartbeat({{"name", "flaky"}, {"endpoint", dir.ipc("flaky")}});
  instrument["reconnect_s"] = 30;
  // Lost once only: a driver stalled for 0.5 s on a loaded machine (sanitizers beside it) must
  // not count as lost again, so 10 misses here instead of 5.
  instrument["heartbeat_misses"] = 10;
  const auto summary = run(campaign_with(out.string(), {instrument}, 12));
  outage.request_stop();
  outage.join();
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "instrument_lost", "flaky") == 1);
  CHECK(count_events(out, "instrument_reconnected", "flaky") == 1);
  // Its welcome is journaled again once checked (another driver might have answered), and the
  // audit lists the same driver once.
  CHECK(count_events(out, "instrument_ready", "flaky") == 2);
  const JournalAudit audit = audit_journal(out);
  REQUIRE(audit.sessions.size() == 1);
  CHECK(audit.sessions[0].instruments.size() == 1);
  CHECK(count_events(out, "instrument_quarantined") == 0);
  CHECK(count_events(out, "result") == 12);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
  std::map<std::string, int> completed;
  test::count_completed(dir / "flaky.completed.jsonl", completed);
  for (const auto& [id, k] : completed) CHECK(k == 1);
}

TEST_CASE("Faults: a driver that comes back with limits that no longer fit is quarantined and the campaign finishes on the others", "[fault]") {
  test::TempDir dir;
  std::atomic<int> runs{0};
  const auto honest = two_results_then_hold(runs);
  std::atomic<int> hellos_after{0}, runs_after{0};
  const auto narrowed = narrowed_x1(-5, 5, hellos_after, runs_after);  // someone narrowed x1 while it was down
  std::optional<FakeDriver> morph;
  morph.emplace(dir.ipc("morph"), honest);
  std::jthread swapper([&](std::stop_token stop) {
    while (runs < 2 && !stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    morph.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(800));  // lost after 0.5 s of silence
    morph.emplace(dir.ipc("morph"), narrowed);
  });
  const auto out = dir / "out";
  json changing = fast_heartbeat({{"name", "morph"}, {"endpoint", dir.ipc("morph")}});
  changing["reconnect_s"] = 30;
  const auto summary =
      run(campaign_with(out.string(), {changing, {{"name", "good"}, {"simulator", "branin"}, {"options", {{"delay", 0.1}}}}}, 16));
  swapper.join();
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "instrument_reconnected", "morph") == 1);
  REQUIRE(count_events(out, "instrument_quarantined", "morph") == 1);
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "instrument_quarantined")
      CHECK(e["reason"].get<std::string>().find("different limits") != std::string::npos);
  CHECK(count_events(out, "result") == 16);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a driver restarted within a heartbeat with narrower limits is asked hello again and sent nothing outside them", "[fault]") {
  test::TempDir dir;
  std::atomic<int> runs{0};
  std::string held;
  const auto honest = two_results_then_hold(runs, &held);
  std::atomic<int> hellos_after{0}, runs_after{0};
  // Restarted with x1 narrowed, and a result for the run it held sent before its welcome: a
  // driver that no longer fits is no source of results.
  const auto narrowed = narrowed_x1(0, 10, hellos_after, runs_after, &held);
  std::optional<FakeDriver> morph;
  morph.emplace(dir.ipc("quick"), honest);
  std::jthread swapper([&](std::stop_token stop) {
    // Once it holds its third run (not after the second: the third could then reach the new
    // driver, and there would be nothing to forge). Bounded, should the campaign send it none.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (runs < 3 && !stop.stop_requested() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    morph.reset();  // joins its thread: what it wrote to `held` is seen from here on
    morph.emplace(dir.ipc("quick"), narrowed);  // at once: no heartbeat goes unanswered for long
  });
  const auto out = dir / "out";
  json quick = fast_heartbeat({{"name", "quick"}, {"endpoint", dir.ipc("quick")}});
  quick["heartbeat_misses"] = 50;  // never lost: only the new connection tells
  const auto summary =
      run(campaign_with(out.string(), {quick, {{"name", "good"}, {"simulator", "branin"}, {"options", {{"delay", 0.2}}}}}, 10));
  swapper.join();
  CHECK(summary.reason == "budget reached");
  CHECK(hellos_after >= 1);
  CHECK_FALSE(held.empty());  // the restarted driver did send its forged result
  // What was sent before the restart may reach the new driver (ZeroMQ keeps it for the next
  // connection; a driver checks every run against its limits): at most its capacity, 1. Nothing
  // goes to it after the connection closed, and nothing after its welcome showed other limits.
  CHECK(runs_after <= 1);
  bool reconnected = false;
  for (const auto& e : read_journal(out / "journal.jsonl").events) {
    if (e["event"] == "instrument_reconnected" && e["instrument"] == "quick") reconnected = true;
    if (reconnected && e["event"] == "dispatched") CHECK(e["instrument"] != "quick");
  }
  CHECK(reconnected);
  CHECK(count_events(out, "instrument_lost", "quick") == 0);
  REQUIRE(count_events(out, "instrument_quarantined", "quick") == 1);
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "instrument_quarantined")
      CHECK(e["reason"].get<std::string>().find("different limits") != std::string::npos);
  CHECK(count_events(out, "result") == 10);
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "result") CHECK(e["values"]["y"] != -1000.0);  // the restarted driver's result was not taken
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a driver restarted under another campaign's hold is named as busy, and its open run goes elsewhere after reconnect_s", "[fault]") {
  test::TempDir dir;
  std::atomic<int> runs{0}, runs_after{0};
  std::optional<FakeDriver> taken;
  taken.emplace(dir.ipc("taken"), two_results_then_hold(runs));
  // Restarted, and someone else's campaign holds it now: it answers pings, and hello and runs with busy.
  const FakeDriver::Behaviour held_elsewhere = [&runs_after](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "run") ++runs_after;
    if (type != "hello" && type != "run") return {};
    return {R"({"v":1,"type":"error","code":"busy","message":"held by campaign 0123abcd (other-lab) until 2026-12-05T12:00:00Z"})"};
  };
  std::jthread swapper([&](std::stop_token stop) {
    while (runs < 3 && !stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    taken.reset();
    taken.emplace(dir.ipc("taken"), held_elsewhere);
  });
  const auto out = dir / "out";
  json quick = fast_heartbeat({{"name", "taken"}, {"endpoint", dir.ipc("taken")}}, 1.5);
  quick["heartbeat_misses"] = 50;  // never lost: only the new connection tells
  quick["connect_timeout_s"] = 0.5;
  struct BusyLines : CampaignObserver {
    std::vector<std::string> lines;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_log(const std::string& line) override { lines.push_back(line); }
  } log;
  const json file = campaign_with(out.string(), {quick, {{"name", "good"}, {"simulator", "branin"}, {"options", {{"delay", 0.3}}}}}, 10);
  CampaignOptions options;
  options.simulator = LABLOOP_SIM_PATH;
  const auto summary = run_campaign(parse_campaign_config(file.dump(), "fault.json", labloop::sim::catalogue()), options, &log);
  const std::vector<std::string>& lines = log.lines;
  swapper.join();
  CHECK(summary.reason == "budget reached");
  CHECK(runs_after == 0);  // nothing goes to a connection whose welcome never came
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.find("answered hello with busy (held by campaign 0123abcd") != std::string::npos;
        }) == 1);
  REQUIRE(count_events(out, "instrument_quarantined", "taken") == 1);
  for (const auto& e : read_journal(out / "journal.jsonl").events) {
    if (e["event"] == "instrument_quarantined")
      CHECK_THAT(e["reason"].get<std::string>(), Catch::Contains("no welcome for 1.5 s") && Catch::Contains("busy: held by campaign 0123abcd"));
    if (e["event"] == "failed" && e["instrument"] == "taken") CHECK(e.contains("retry_as"));  // the held run was retried, on good
  }
  CHECK(count_events(out, "result") == 10);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a driver another campaign takes mid-run (busy on the same connection) gets nothing more, and is given up after "
          "reconnect_s naming the holder", "[fault]") {
  test::TempDir dir;
  std::atomic<int> runs{0}, runs_after_busy{0};
  std::atomic<bool> taken{false};
  // Two results, then someone else holds it (our lease ran out): busy to every hello and run.
  FakeDriver driver(dir.ipc("taken"), [&](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "run" && taken) ++runs_after_busy;
    if (type == "run" && ++runs > 2) taken = true;
    if (taken && (type == "hello" || type == "run"))
      return {json{{"v", 1}, {"type", "error"}, {"code", "busy"}, {"message", "held by campaign 0123abcd (other-lab)"},
                   {"experiment", FakeDriver::experiment_of(payload)}}.dump()};
    if (type == "hello") return {FakeDriver::welcome()};
    if (type != "run") return {};
    const std::string id = FakeDriver::experiment_of(payload);
    return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
            json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 3.0}}}}.dump()};
  });
  const auto out = dir / "out";
  json quick = fast_heartbeat({{"name", "taken"}, {"endpoint", dir.ipc("taken")}}, 1.0);
  quick["connect_timeout_s"] = 0.3;
  // Its refused run times out while hello is asked again: nothing, not even abort, goes to it.
  quick["timeout_s"] = 0.5;
  // good's experiments take long enough (10 × 0.2 s) for reconnect_s to pass before the budget is spent.
  const json file = campaign_with(out.string(), {quick, {{"name", "good"}, {"simulator", "branin"}, {"options", {{"delay", 0.2}}}}}, 10);
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  CHECK(runs_after_busy == 0);  // before: its open run re-sent and failed as forgotten, and new ones sent until quarantined
  REQUIRE(count_events(out, "instrument_quarantined", "taken") == 1);
  int timed_out = 0;
  for (const auto& e : read_journal(out / "journal.jsonl").events) {
    if (e["event"] == "instrument_quarantined")
      CHECK_THAT(e["reason"].get<std::string>(), Catch::Contains("busy: held by campaign 0123abcd"));
    if (e["event"] == "failed" && e["instrument"] == "taken") {
      CHECK(e.contains("retry_as"));  // the run it refused was retried, on good
      if (e["error"].get<std::string>().starts_with("timeout: no result within 0.5 s; not aborted: its driver has not answered hello again"))
        ++timed_out;
    }
  }
  CHECK(timed_out == 1);
  CHECK(count_events(out, "result") == 10);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a driver that forgot this campaign's connection (busy once) is taken back by one hello, and its open run completes "
          "there", "[fault]") {
  test::TempDir dir;
  std::atomic<int> hellos{0}, busy_answers{0};
  std::string refused;
  FakeDriver driver(dir.ipc("forgetful"), [&](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "hello") return ++hellos, std::vector<std::string>{FakeDriver::welcome()};
    if (type != "run") return {};
    const std::string id = FakeDriver::experiment_of(payload);
    // Its third run finds it restarted without its holder file: busy until a hello names us again.
    if (hellos == 1 && refused.empty() && id.ends_with("-0003")) refused = id;
    if (hellos == 1 && !refused.empty())
      return ++busy_answers, std::vector<std::string>{json{{"v", 1}, {"type", "error"}, {"code", "busy"},
                                                           {"message", "no holder; say hello"}, {"experiment", id}}.dump()};
    return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
            json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 3.0}}}}.dump()};
  });
  const auto out = dir / "out";
  const json file = campaign_with(out.string(), fast_heartbeat({{"name", "forgetful"}, {"endpoint", dir.ipc("forgetful")}}, 2.0), 6);
  const auto summary = run(file);
  CHECK(summary.reason == "budget reached");
  CHECK(hellos == 2);
  CHECK(busy_answers == 1);  // nothing else was sent before its welcome
  CHECK(count_events(out, "failed") == 0);
  CHECK(count_events(out, "result") == 6);
  bool refused_completed = false;
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "result" && e["experiment"] == refused) refused_completed = true;
  CHECK(refused_completed);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a driver that welcomes every hello but answers every run with busy is not said to go down with the setting",
          "[fault]") {
  // A red-team driver: its runs failed as "went down 3 times while it ran this experiment (does
  // this setting stop its driver?)", though no connection closed and no run was ever accepted.
  test::TempDir dir;
  FakeDriver driver(dir.ipc("contradictory"), [&](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "hello") return {FakeDriver::welcome()};
    if (type != "run") return {};
    return {json{{"v", 1}, {"type", "error"}, {"code", "busy"}, {"message", "held by campaign abcdef (other-lab)"},
                 {"experiment", FakeDriver::experiment_of(payload)}}.dump()};
  });
  const auto out = dir / "out";
  json instrument = fast_heartbeat({{"name", "contradictory"}, {"endpoint", dir.ipc("contradictory")}}, 30);
  instrument["retries"] = 0;
  instrument["quarantine_after"] = 1;
  const auto summary = run(campaign_with(out.string(), instrument, 3));
  CHECK(summary.stop == StopReason::no_instruments_left);
  int failed = 0;
  for (const auto& e : read_journal(out / "journal.jsonl").events)
    if (e["event"] == "failed") {
      ++failed;
      INFO(e.dump());
      CHECK_THAT(e["error"].get<std::string>(), Catch::Contains("contradictory answered busy 3 times while it held this experiment") &&
                                                    Catch::Contains("held by campaign abcdef (other-lab)") && !Catch::Contains("went down"));
    }
  CHECK(failed >= 1);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a rejection's reason and a failed result's error of a megabyte are journaled cut to 4096 characters, saying so",
          "[fault][limits]") {
  test::TempDir dir;
  std::atomic<int> runs{0};
  const std::string long_text(1000000, 'w');
  FakeDriver verbose(dir.ipc("verbose"), [&](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "hello") return {FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type != "run") return {};
    const std::string id = FakeDriver::experiment_of(payload);
    if (++runs == 1) return {json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", "too hot: " + long_text}}.dump()};
    return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
            json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "failed"}, {"error", "spilled: " + long_text}}.dump()};
  });
  const auto out = dir / "out";
  json instrument = fast_heartbeat({{"name", "verbose"}, {"endpoint", dir.ipc("verbose")}});
  run(campaign_with(out.string(), instrument, 3));
  CHECK(std::filesystem::file_size(out / "journal.jsonl") < 100000);
  int cut = 0;
  for (const auto& e : read_journal(out / "journal.jsonl").events) {
    for (const char* field : {"reason", "error"}) {
      if (!e.contains(field) || !e[field].is_string()) continue;
      const std::string text = e[field].get<std::string>();
      if (text.find("wwww") == std::string::npos) continue;
      ++cut;
      CHECK(text.size() < protocol::kMaxErrorChars + 200);
      CHECK_THAT(text, Catch::Contains("more characters not kept"));
    }
  }
  CHECK(cut >= 2);
}

TEST_CASE("Faults: a result nested 100,000 deep is ignored as malformed, never recorded, and the campaign goes on", "[fault][limits]") {
  test::TempDir dir;
  std::string deep_id;
  FakeDriver hostile(dir.ipc("deep"), [&deep_id](const std::string& payload) -> std::vector<std::string> {
    const std::string type = FakeDriver::type_of(payload);
    if (type == "hello") return {FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type != "run") return {};
    const std::string id = FakeDriver::experiment_of(payload);
    const std::string accepted = json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump();
    if (deep_id.empty()) {
      // 200 KB, far under the 1 MiB frame limit: only the depth check stands in the way.
      deep_id = id;
      return {accepted, R"({"v":1,"type":"result","experiment":")" + id + R"(","status":"ok","values":{"y":1},"meta":{"m":)" +
                            std::string(100000, '[') + std::string(100000, ']') + "}}"};
    }
    // The re-sent run of the same id (the pong never listed it) and all later runs: a normal result.
    return {accepted, json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 2.0}}}}.dump()};
  });
  const auto out = dir / "out";
  struct LogLines : CampaignObserver {
    std::vector<std::string> lines;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_log(const std::string& line) override { lines.push_back(line); }
  } log;
  const json file = campaign_with(out.string(), {fast_heartbeat({{"name", "deep"}, {"endpoint", dir.ipc("deep")}})}, 3);
  CampaignOptions options;
  options.simulator = LABLOOP_SIM_PATH;
  const auto summary = run_campaign(parse_campaign_config(file.dump(), "fault.json", labloop::sim::catalogue()), options, &log);
  CHECK(summary.reason == "budget reached");
  REQUIRE_FALSE(deep_id.empty());
  CHECK(std::count_if(log.lines.begin(), log.lines.end(), [](const std::string& line) {
          return line.find("ignored a malformed message (too_deep)") != std::string::npos;
        }) == 1);
  // The journal verifies, and the deep result is nowhere in it: the experiment got the later answer.
  const auto events = read_journal(out / "journal.jsonl").events;
  int results = 0;
  for (const auto& e : events)
    if (e["event"] == "result") {
      ++results;
      CHECK_FALSE(e.contains("meta"));
      CHECK(e["values"]["y"] == 2.0);
    }
  CHECK(results == 3);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
  CHECK(outcomes(out).count(deep_id) == 1);
}

TEST_CASE("Faults: a simulator that cannot be started again (its program gone) is lost and quarantined, the campaign goes on elsewhere", "[fault]") {
  test::TempDir dir;
  // labloop-sim as an upgrade might leave it: deleted while the campaign runs.
  const auto program = dir / "labloop-sim";
  std::filesystem::copy_file(LABLOOP_SIM_PATH, program);
  std::filesystem::permissions(program, std::filesystem::perms::owner_all);
  ChildProcess good({LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", dir.ipc("good"), "--delay", "0.05"}, dir / "good.log");
  json crashy = fast_heartbeat({{"name", "crashy"}, {"simulator", "branin"}, {"options", {{"crash_after", 2}, {"delay", 0.05}}}});
  const auto out = dir / "out";
  struct RemoveProgram : CampaignObserver {
    std::filesystem::path program;
    void on_event(const JournalEvent& event, const CampaignStatus&) override {
      if (event.kind() == EventKind::instrument_ready) std::filesystem::remove(program);
    }
  } remover;
  remover.program = program;
  CampaignOptions options;
  options.simulator = program;
  const json file = campaign_with(out.string(), {crashy, fast_heartbeat({{"name", "good"}, {"endpoint", dir.ipc("good")}})}, 12);
  const auto summary = run_campaign(parse_campaign_config(file.dump(), "fault.json", labloop::sim::catalogue()), options, &remover);
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "instrument_restarted", "crashy") == 0);  // no restart happened, so none is journaled
  CHECK(count_events(out, "instrument_quarantined", "crashy") == 1);
  CHECK(count_events(out, "result") == 12);
  for (const auto& [id, k] : outcomes(out)) CHECK(k == 1);
}

TEST_CASE("Faults: a simulator slower to start than connect_timeout_s is waited for while its process runs, and the wait is said", "[fault]") {
  test::TempDir dir;
  // As labloop-sim refitting an emulator to an edited dataset: it listens only after a while.
  const auto program = dir / "slow-sim";
  {
    std::ofstream script(program);
    script << "#!/bin/sh\nsleep 2\nexec '" << LABLOOP_SIM_PATH << "' \"$@\"\n";
  }
  std::filesystem::permissions(program, std::filesystem::perms::owner_all);
  struct Lines : CampaignObserver {
    std::vector<std::string> lines;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_log(const std::string& line) override { lines.push_back(line); }
  } lines;
  CampaignOptions options;
  options.simulator = program;
  const auto out = dir / "out";
  json slow{{"name", "slow"}, {"simulator", "branin"}, {"connect_timeout_s", 0.5}};
  const auto summary = run_campaign(parse_campaign_config(campaign_with(out.string(), {slow}, 3).dump(), "fault.json", labloop::sim::catalogue()), options, &lines);
  CHECK(summary.reason == "budget reached");
  CHECK(count_events(out, "result") == 3);
  CHECK(std::count_if(lines.lines.begin(), lines.lines.end(), [](const std::string& l) {
          return l.starts_with("slow: its simulator is still starting after 0.5 s") && l.find("up to 600 s") != std::string::npos;
        }) == 1);
}
