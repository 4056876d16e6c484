// `labloop driver-check` against real drivers over real sockets: the drivers labloop ships pass
// every check, and a driver that breaks the protocol fails exactly the checks it breaks.
#include <catch2/catch.hpp>
#include <optional>
#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <thread>

#include "cli_process.hpp"
#include "fake_driver.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/driver.hpp"
#include "driver_check_support.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::map<std::string, CheckOutcome> by_check(const DriverCheckReport& report) {
  std::map<std::string, CheckOutcome> out;
  for (const CheckOutcome& o : report.outcomes) out.emplace(o.check, o);
  return out;
}

// Whether `experiment` is one of the capacity checks' runs: driver-check's ids end in a number,
// theirs from 8001 on.
bool capacity_run(const std::string& experiment) {
  return experiment.size() > 5 && experiment.compare(experiment.size() - 5, 3, "-80") == 0;
}

// A serve()d driver of a given capacity whose capacity-check runs (ids "…-80NN") wait at a gate
// until the test opens it, so they are sure to run at once while the checker asks; it counts how
// many ran at once. Inputs x in [-5, 10] and n in {0, 1, 2} (integer), output y.
class GatedCapacityDriver final : public Driver {
 public:
  explicit GatedCapacityDriver(int capacity) : capacity_(capacity) {}
  InstrumentInfo describe() const override {
    InstrumentInfo info;
    info.driver = "gated";
    info.version = "test";
    info.inputs = {Parameter{.name = "x", .low = -5, .high = 10}, Parameter{.name = "n", .type = ParameterType::integer, .low = 0, .high = 2}};
    info.outputs = {"y"};
    info.capacity = capacity_;
    return info;
  }
  Values run(const Params&, std::stop_token) override { return {{"y", 1.0}}; }
  Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) override {
    const int now = ++running_;
    for (int seen = peak_.load(); now > seen && !peak_.compare_exchange_weak(seen, now);) {
    }
    if (capacity_run(experiment)) {
      std::unique_lock lock(mutex_);
      (void)opened_.wait(lock, stop, [&] { return open_; });
    }
    --running_;
    if (stop.stop_requested()) throw std::runtime_error("aborted");
    return {{"y", params.at("x").get<double>() + params.at("n").get<double>()}};
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  int peak() const { return peak_.load(); }
  // Waits (up to 10 s) until `n` runs are inside run_experiment: serve() accepts a run before
  // its worker thread is scheduled, which on a loaded machine can come after the pong.
  void wait_until_running(int n) {
    for (int i = 0; i < 1000 && running_.load() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

 private:
  int capacity_;
  std::atomic<int> running_{0}, peak_{0};
  std::mutex mutex_;
  std::condition_variable_any opened_;
  bool open_ = false;
};

// serve(driver) on its own thread at `endpoint` until destroyed.
class CapacityCheckServer {
 public:
  CapacityCheckServer(Driver& driver, const std::string& endpoint) {
    std::promise<void> ready;
    auto bound = ready.get_future();
    thread_ = std::jthread([&driver, endpoint, ready = std::move(ready)](std::stop_token stop) mutable {
      ServeOptions options;
      options.stop = stop;
      options.handle_signals = false;
      options.log = [](const std::string&) {};
      options.on_ready = [&ready](const std::string&) { ready.set_value(); };
      try {
        serve(driver, endpoint, options);
      } catch (const std::exception&) {  // not bound: the REQUIRE below says so
      }
    });
    REQUIRE(bound.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  }

 private:
  std::jthread thread_;
};

// A fake driver of capacity 2 (FakeDriver::welcome) that finishes its experiments only when
// pinged: `accepts(running)` says whether a run is accepted while `running` experiments run;
// others are rejected as busy. A ping is answered with a pong listing them, then their results.
// A run of an id it has seen is rejected as a conflict, so nothing but the capacity checks' runs
// is running when they begin.
test::FakeDriver::Behaviour capacity_fake(std::function<bool(std::size_t running)> accepts) {
  auto running = std::make_shared<std::vector<std::string>>();
  auto seen = std::make_shared<std::set<std::string>>();
  return [running, seen, accepts](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    const auto result = [](const std::string& e) {
      return json{{"v", 1}, {"type", "result"}, {"experiment", e}, {"status", "ok"}, {"values", {{"y", 1}}}}.dump();
    };
    if (type == "hello") return {test::FakeDriver::welcome(2)};
    if (type == "ping") {
      std::vector<std::string> out{json{{"v", 1}, {"type", "pong"}, {"running", *running}}.dump()};
      for (const std::string& e : *running) out.push_back(result(e));
      running->clear();
      return out;
    }
    if (type == "run" && !id.empty()) {
      if (!seen->insert(id).second)
        return {json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", "conflict: seen before"}}.dump()};
      if (!accepts(running->size()))
        return {json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", fmt::format("busy: {}/1 experiments running", running->size())}}.dump()};
      running->push_back(id);
      return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump()};
    }
    if (type == "abort" && std::erase(*running, id) > 0) return {result(id)};
    json error{{"v", 1}, {"type", "error"}, {"code", type == "abort" ? "unknown_experiment" : "bad_message"}, {"message", "no"}};
    if (!id.empty()) error["experiment"] = id;
    return {error.dump()};
  };
}

DriverCheckOptions capacity_checks(const std::string& endpoint) {
  DriverCheckOptions options;
  options.endpoint = endpoint;
  options.run_experiments = true;
  options.capacity = true;
  options.reply_timeout = std::chrono::seconds(5);
  options.experiment_timeout = std::chrono::seconds(10);
  return options;
}

}  // namespace

TEST_CASE("driver-check: labloop-sim and the C++ example driver pass every check, experiments and settings outside the limits included",
          "[driver-check]") {
  test::TempDir dir;
  ChildProcess sim({LABLOOP_SIM_PATH, "-f", "buchwald_a", "-e", dir.ipc("sim"), "--delay", "0.2", "--cache", (dir / "cache.jsonl").string()},
                   dir / "sim.log");
  ChildProcess oven({LABLOOP_EXAMPLE_DRIVER_PATH, dir.ipc("oven")}, dir / "oven.log");
  for (const auto& [endpoint, driver] : {std::pair{dir.ipc("sim"), "labloop-sim"}, std::pair{dir.ipc("oven"), "example-oven"}}) {
    std::vector<std::string> seen;
    const DriverCheckReport report = check_driver(test::every_check(endpoint), [&](const CheckOutcome& o) { seen.push_back(o.check); });
    INFO(test::checks_not_passed(report));
    CHECK(report.all_passed());
    CHECK(report.info.driver == driver);
    CHECK(seen.size() == report.outcomes.size());
    const auto checks = by_check(report);
    CHECK(checks.size() > 30);
    // The experiment checks ran, and so did one refusal per way of leaving each input's limits.
    CHECK(checks.count("the same run again → the same result, from the cache (§5)") == 1);
    std::size_t refusals = 0;
    for (const auto& [name, outcome] : checks) refusals += name.find("→ rejected (§4.2 step 3)") != std::string::npos;
    CHECK(refusals >= 2 * report.info.inputs.size() + 1);
    // Every check but the capacity's, which every_check() leaves out (it runs several at once).
    for (const CheckOutcome& o : report.outcomes) CHECK((o.verdict == CheckVerdict::passed || o.check == "experiments at once"));
    CHECK(checks.at("experiments at once").verdict == CheckVerdict::skipped);
  }
}

TEST_CASE("driver-check: without --run-experiments nothing runs at the instrument", "[driver-check]") {
  test::TempDir dir;
  ChildProcess sim({LABLOOP_SIM_PATH, "-f", "branin", "-e", dir.ipc("sim"), "--completed-log", (dir / "completed.jsonl").string()},
                   dir / "sim.log");
  DriverCheckOptions options;
  options.endpoint = dir.ipc("sim");
  const DriverCheckReport report = check_driver(options);
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  CHECK(by_check(report).at("experiments").verdict == CheckVerdict::skipped);
  CHECK(test::read_file(dir / "completed.jsonl").empty());
}

TEST_CASE("driver-check: a driver that breaks the protocol fails the checks it breaks, and only those", "[driver-check]") {
  test::TempDir dir;
  // Answers hello and ping well, everything else wrongly: every malformed message (and even an
  // error) with bad_message, and every run — within the limits or not — with accepted and an ok
  // result lacking the declared output.
  test::FakeDriver driver(dir.ipc("bad"), [](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload);
    if (type == "hello") return {test::FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "run") {
      const json run = json::parse(payload);
      if (run.contains("params") && run["params"].is_object() && run.contains("experiment"))
        return {json{{"v", 1}, {"type", "accepted"}, {"experiment", run["experiment"]}}.dump(),
                json{{"v", 1}, {"type", "result"}, {"experiment", run["experiment"]}, {"status", "ok"}, {"values", {{"z", 1}}}}.dump()};
    }
    return {R"({"v":1,"type":"error","code":"bad_message","message":"no"})"};
  });
  DriverCheckOptions options = test::every_check(dir.ipc("bad"));
  // It never names the id in an error: one wait that long. Not shorter: an answer later than
  // this (a loaded machine) passes "no answer" and is taken for the next check's.
  options.reply_timeout = std::chrono::seconds(3);
  const DriverCheckReport report = check_driver(options);
  INFO(test::checks_not_passed(report));
  CHECK_FALSE(report.all_passed());
  const auto checks = by_check(report);
  const auto verdict = [&](const std::string& check) {
    INFO(check);
    REQUIRE(checks.count(check) == 1);
    return checks.at(check).verdict;
  };
  CHECK(verdict("hello → welcome") == CheckVerdict::passed);
  CHECK(verdict("ping → pong") == CheckVerdict::passed);
  CHECK(verdict("no \"type\" → error bad_message") == CheckVerdict::passed);
  CHECK(verdict("\"v\": true → error bad_version") == CheckVerdict::failed);  // answered bad_message
  CHECK(verdict("text that is not JSON → error bad_json") == CheckVerdict::failed);
  CHECK(verdict("a type only drivers send (result) → error unknown_type") == CheckVerdict::failed);
  CHECK(verdict("error from the controller → no answer (§4.6)") == CheckVerdict::failed);
  // The fake echoes no delimiter frame.
  CHECK(verdict("ping behind an empty delimiter frame (a REQ client) → pong behind the same") == CheckVerdict::failed);
  bool result_judged = false, refusal_judged = false, just_past_judged = false;
  for (const CheckOutcome& o : report.outcomes) {
    if (o.check.find("at the middle of every limit") != std::string::npos) {
      result_judged = true;
      CHECK(o.verdict == CheckVerdict::failed);
      CHECK_THAT(o.detail, Catch::Contains("missing: y"));
    }
    if (o.check.starts_with("run with x1 = ") && o.check.ends_with(", above its limit 10 → rejected (§4.2 step 3)")) {
      refusal_judged = true;
      CHECK(o.verdict == CheckVerdict::failed);
      CHECK_THAT(o.detail, Catch::StartsWith("NOT REJECTED"));
    }
    // Just past the limit as well (1 % of the range [-5, 10]): a driver checking a wider range fails.
    if (o.check == "run with x1 = 10.15, just above its limit 10 → rejected (§4.2 step 3)") {
      just_past_judged = true;
      CHECK(o.verdict == CheckVerdict::failed);
    }
  }
  CHECK(result_judged);
  CHECK(refusal_judged);
  CHECK(just_past_judged);
  CHECK(verdict("run with x1 = true, a boolean → rejected (§4.2 step 3)") == CheckVerdict::failed);
  CHECK(verdict("the same run again → the same result, from the cache (§5)") == CheckVerdict::failed);
}

TEST_CASE("driver-check: nothing listening, or a driver held by a campaign, is an error that says so", "[driver-check]") {
  test::TempDir dir;
  DriverCheckOptions options;
  options.endpoint = dir.ipc("nobody");
  options.reply_timeout = std::chrono::milliseconds(200);
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("nothing answered hello within 0.2 s") && Catch::Contains("--server-key"));

  test::FakeDriver held(dir.ipc("held"), [](const std::string&) -> std::vector<std::string> {
    return {R"({"v":1,"type":"error","code":"busy","message":"instrument held by campaign 5f3ac2e19b7d… since 2026-12-05 08:00:00 UTC"})"};
  });
  options.endpoint = dir.ipc("held");
  options.reply_timeout = std::chrono::seconds(5);
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("held by a campaign") && Catch::Contains("5f3ac2e19b7d…"));

  // A ZeroMQ program that never answers, and a driver slower than --timeout: said as that (both
  // read "no welcome came within 2 s … `labloop driver-check` tells more", with encryption options
  // for a plaintext driver; a red-team report).
  test::FakeDriver silent(dir.ipc("silent"), [](const std::string&) -> std::vector<std::string> { return {}; });
  options.endpoint = dir.ipc("silent");
  options.reply_timeout = std::chrono::milliseconds(200);
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("a ZeroMQ program is there, but no welcome came within 0.2 s") &&
                                               !Catch::Contains("--server-key"));
  test::FakeDriver slow(dir.ipc("slow"), [](const std::string&) -> std::vector<std::string> {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return {test::FakeDriver::welcome()};
  });
  options.endpoint = dir.ipc("slow");
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("the driver answered a second hello later") && Catch::Contains("--timeout"));
}

TEST_CASE("driver-check: a driver that stops after its welcome ends the checks with why, not a timeout each", "[driver-check]") {
  // 26 checks each waited their timeout and said only "no answer" (140 s; a red-team report).
  test::TempDir dir;
  std::atomic<bool> welcomed{false};
  std::optional<test::FakeDriver> driver;
  driver.emplace(dir.ipc("dies"), [&](const std::string&) -> std::vector<std::string> {
    welcomed = true;
    return {test::FakeDriver::welcome()};
  });
  std::jthread stops([&](std::stop_token stop) {
    while (!welcomed && !stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // its welcome on the way
    driver.reset();
  });
  DriverCheckOptions options;
  options.endpoint = dir.ipc("dies");
  options.reply_timeout = std::chrono::milliseconds(300);
  const DriverCheckReport report = check_driver(options);
  REQUIRE(report.outcomes.size() >= 2);
  INFO(test::checks_not_passed(report));
  CHECK(report.outcomes.size() <= 8);  // of the 26 and more a driver that answers gets
  CHECK(report.outcomes.back().verdict == CheckVerdict::skipped);
  CHECK_THAT(report.outcomes.back().detail, Catch::Contains("the driver closed its connection during") && Catch::Contains("it stopped or crashed"));
  CHECK_THAT(report.outcomes[report.outcomes.size() - 2].detail, Catch::EndsWith("; the driver closed its connection"));
}

TEST_CASE("driver-check on the command line: a line per check, exit 0 when all pass, 1 when nothing answers, 2 for a misused option",
          "[driver-check][cli]") {
  test::TempDir dir;
  ChildProcess sim({LABLOOP_SIM_PATH, "-f", "branin", "-e", dir.ipc("sim")}, dir / "sim.log");
  const test::CliOutcome passed = test::cli({"driver-check", dir.ipc("sim"), "--run-experiments", "--out-of-limits"}, dir);
  INFO(passed.output);
  CHECK(passed.status == 0);
  CHECK_THAT(passed.output, Catch::Contains("  ok    hello → welcome: labloop-sim") && Catch::Contains("checks passed, 0 failed, 1 skipped\n"));  // --capacity
  const test::CliOutcome nobody = test::cli({"driver-check", dir.ipc("nobody"), "--timeout", "0.2"}, dir);
  CHECK(nobody.status == 1);
  CHECK_THAT(nobody.output, Catch::Contains("nothing answered hello within 0.2 s"));
  // --json: one object for a script, the same checks and counts, and an error object when nothing answers.
  const test::CliOutcome as_json = test::cli({"driver-check", dir.ipc("sim"), "--run-experiments", "--json"}, dir);
  INFO(as_json.output);
  CHECK(as_json.status == 0);
  const json report = json::parse(as_json.output);
  CHECK(report["welcome"]["driver"] == "labloop-sim");
  CHECK(report["failed"] == 0);
  CHECK(report["checks"].size() == report["passed"].get<std::size_t>() + report["skipped"].get<std::size_t>());
  CHECK(report["checks"][0]["check"].get<std::string>().starts_with("hello → welcome"));
  CHECK(report["checks"][0]["verdict"] == "passed");
  const test::CliOutcome nobody_json = test::cli({"driver-check", dir.ipc("nobody"), "--timeout", "0.2", "--json"}, dir);
  CHECK(nobody_json.status == 1);
  CHECK_THAT(json::parse(nobody_json.output).value("error", ""), Catch::Contains("nothing answered hello within 0.2 s"));
  const test::CliOutcome misused = test::cli({"driver-check", dir.ipc("sim"), "--out-of-limits"}, dir);
  CHECK(misused.status == 2);
  CHECK_THAT(misused.output, Catch::Contains("--out-of-limits: goes with --run-experiments"));
  const test::CliOutcome alone = test::cli({"driver-check", dir.ipc("sim"), "--capacity"}, dir);
  CHECK(alone.status == 2);
  CHECK_THAT(alone.output, Catch::Contains("--capacity: goes with --run-experiments"));

  // A simulator running two at once, each for a second: both accepted, a third refused as busy.
  ChildProcess twice({LABLOOP_SIM_PATH, "-f", "branin", "-e", dir.ipc("twice"), "--capacity", "2", "--delay", "1"}, dir / "twice.log");
  const test::CliOutcome capacity = test::cli({"driver-check", dir.ipc("twice"), "--run-experiments", "--capacity"}, dir);
  INFO(capacity.output);
  CHECK(capacity.status == 0);
  CHECK_THAT(capacity.output, Catch::Contains("  ok    2 runs at once, each with its own setting (capacity 2) → each accepted\n") &&
                                  Catch::Contains("  ok    one more run while 2 run → rejected \"busy…\" (§4.2 step 6): busy") &&
                                  Catch::Contains("  ok    a run after their results → accepted, then a result") &&
                                  Catch::Contains(" 0 failed, 1 skipped\n"));  // --out-of-limits
}

TEST_CASE("driver-check and labloop new: an encrypted driver is asked with keys, and a refused handshake says why", "[driver-check][curve]") {
  test::TempDir dir;
  const KeyPair sim = generate_key_pair("sim"), allowed = generate_key_pair("allowed"), stranger = generate_key_pair("stranger");
  write_key_pair(dir / "sim", sim);
  write_key_pair(dir / "allowed", allowed);
  ChildProcess driver({LABLOOP_SIM_PATH, "-f", "branin", "-e", dir.ipc("sim"), "--key", (dir / "sim").string(), "--allowed",
                       (dir / "allowed.pub").string()},
                      dir / "sim.log");
  DriverCheckOptions options;
  options.endpoint = dir.ipc("sim");
  options.keys = InstrumentKeys{sim.public_key, allowed};
  const DriverCheckReport report = check_driver(options);
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  options.keys = InstrumentKeys{sim.public_key, stranger};
  options.reply_timeout = std::chrono::milliseconds(500);
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("refused this controller's key") && Catch::Contains("allow-list"));
  options.keys.reset();
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("requires encryption"));

  // labloop new asks it with the same keys, and names them in the campaign file's security section.
  fs::create_directories(dir / "campaigns");
  const test::CliOutcome written = test::cli({"new", (dir / "campaigns" / "enc.json").string(), "--endpoint", dir.ipc("sim"), "--goal",
                                              "minimize", "--server-key", (dir / "sim.pub").string(), "--client-keys", (dir / "allowed").string()},
                                             dir, "new.log");
  INFO(written.output);
  REQUIRE(written.status == 0);
  CHECK_THAT(test::read_file(dir / "campaigns" / "enc.json"),
             Catch::Contains(fmt::format(R"("security": {{"server_public_key": "{}", "client_keys": "{}"}})", (dir / "sim.pub").string(),
                                         (dir / "allowed").string())));
  const test::CliOutcome validated = test::cli({"validate", (dir / "campaigns" / "enc.json").string(), "--instruments"}, dir, "validate.log");
  INFO(validated.output);
  CHECK(validated.status == 0);
  const test::CliOutcome half = test::cli({"new", (dir / "half.json").string(), "--endpoint", dir.ipc("sim"), "--goal", "minimize",
                                           "--server-key", (dir / "sim.pub").string()},
                                          dir, "half.log");
  CHECK(half.status == 2);
  CHECK_THAT(half.output, Catch::Contains("--client-keys: an encrypted driver needs both"));
}

TEST_CASE("driver-check: an experiment past its timeout is aborted, and busy is no answer to a setting outside the limits",
          "[driver-check]") {
  test::TempDir dir;
  // Starts the first run and never finishes it unless aborted; rejects every other run as busy.
  test::FakeDriver driver(dir.ipc("stuck"), [](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    if (type == "hello") return {test::FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    const json reply_about = id.empty() ? json::object() : json{{"experiment", id}};
    if (type == "run" && id.ends_with("-0001")) return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump()};
    if (type == "run" && !id.empty())
      return {json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", "busy: 1/1 experiments running"}}.dump()};
    if (type == "abort" && id.ends_with("-0001"))
      return {json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "failed"}, {"error", "aborted"}}.dump()};
    json error{{"v", 1}, {"type", "error"}, {"code", type == "abort" ? "unknown_experiment" : "bad_message"}, {"message", "no"}};
    if (!id.empty()) error["experiment"] = id;
    return {error.dump()};
  });
  DriverCheckOptions options = test::every_check(dir.ipc("stuck"));
  options.experiment_timeout = std::chrono::milliseconds(300);
  const DriverCheckReport report = check_driver(options);
  INFO(test::checks_not_passed(report));
  bool timed_out = false;
  int busy = 0;
  for (const CheckOutcome& o : report.outcomes) {
    if (o.check.find("at the middle of every limit") != std::string::npos) {
      timed_out = true;
      CHECK(o.verdict == CheckVerdict::failed);
      CHECK_THAT(o.detail, Catch::Contains("no result within 0.3 s") && Catch::Contains("it was aborted"));
    }
    if (o.check.find("→ rejected (§4.2 step 3)") != std::string::npos) {
      ++busy;
      CHECK(o.verdict == CheckVerdict::failed);
      CHECK_THAT(o.detail, Catch::Contains("rejected as busy"));
    }
  }
  CHECK(timed_out);
  CHECK(busy >= 5);
}

TEST_CASE("driver-check: an answer nested past the protocol's depth is refused, not parsed", "[driver-check]") {
  test::TempDir dir;
  std::string deep = R"({"v":1,"type":"welcome","x":)";
  for (int i = 0; i < 200000; ++i) deep += R"({"a":)";
  deep += "1" + std::string(200000, '}') + "}";
  test::FakeDriver driver(dir.ipc("deep"), [&](const std::string&) -> std::vector<std::string> { return {deep}; });
  DriverCheckOptions options;
  options.endpoint = dir.ipc("deep");
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("which is no protocol message (too_large): message of 1200030 bytes exceeds"));
}

TEST_CASE("driver-check: a second, different result for one experiment, or a result for an id never sent, fails the last check",
          "[driver-check]") {
  test::TempDir dir;
  // Runs every experiment at once and sends two results for it, unlike each other; the first
  // ping also brings a result for an experiment nobody sent it.
  bool stray_sent = false;
  test::FakeDriver driver(dir.ipc("twice"), [&](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    const auto result = [&](double y) { return json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", y}}}}.dump(); };
    if (type == "hello") return {test::FakeDriver::welcome()};
    if (type == "ping") {
      std::vector<std::string> out{R"({"v":1,"type":"pong","running":[]})"};
      if (!std::exchange(stray_sent, true))
        out.push_back(json{{"v", 1}, {"type", "result"}, {"experiment", "someone-else-0001"}, {"status", "ok"}, {"values", {{"y", 0}}}}.dump());
      return out;
    }
    if (type == "run" && !id.empty() && json::parse(payload).contains("params"))
      return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(), result(1), result(2)};
    json error{{"v", 1}, {"type", "error"}, {"code", type == "abort" ? "unknown_experiment" : "bad_message"}, {"message", "no"}};
    if (!id.empty()) error["experiment"] = id;
    return {error.dump()};
  });
  DriverCheckOptions options;
  options.endpoint = dir.ipc("twice");
  options.run_experiments = true;
  const DriverCheckReport report = check_driver(options);
  const CheckOutcome& last = report.outcomes.back();
  CHECK(last.check == "every result answers a run or abort sent, one per request, the same each time (§4.5, §5)");
  CHECK(last.verdict == CheckVerdict::failed);
  CHECK_THAT(last.detail, Catch::Contains("1 result(s) for experiments it was never sent: someone-else-0001"));
  CHECK_THAT(last.detail, Catch::Contains("more results than were asked for: driver-check-"));
  // Its run, the repeat, the abort of it finished and the run with another setting sent 4 messages
  // with its id; each of the 3 runs brought two results.
  CHECK_THAT(last.detail, Catch::Contains("(6 results, 4 run or abort sent)"));
  CHECK_THAT(last.detail, Catch::Contains(R"(different results for one experiment: driver-check-)"));
  CHECK_THAT(last.detail, Catch::Contains(R"("values":{"y":2.0})"));
}

TEST_CASE("driver-check: a welcome that is no JSON (NaN) is said to be that, not a reply of another type", "[driver-check]") {
  test::TempDir dir;
  test::FakeDriver driver(dir.ipc("nan"), [&](const std::string&) -> std::vector<std::string> {
    return {R"({"v":1,"type":"welcome","driver":"d","version":"1","inputs":[],"outputs":["y"],"capacity":1,"noise":NaN})"};
  });
  DriverCheckOptions options;
  options.endpoint = dir.ipc("nan");
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("which is no protocol message (bad_json): not valid UTF-8 JSON"));
}

TEST_CASE("driver-check --capacity: a driver running three at once passes, with all three running while it asks", "[driver-check][capacity]") {
  test::TempDir dir;
  GatedCapacityDriver driver(3);
  CapacityCheckServer server(driver, dir.ipc("gated"));
  // The gate opens once the pong that lists them has been judged: until then none can finish.
  const DriverCheckReport report = check_driver(capacity_checks(dir.ipc("gated")), [&](const CheckOutcome& o) {
    if (o.check.starts_with("ping while 3 run")) {
      driver.wait_until_running(3);
      driver.open();
    }
  });
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  CHECK(driver.peak() == 3);
  const auto checks = by_check(report);
  for (const char* check : {"3 runs at once, each with its own setting (capacity 3) → each accepted",
                            "one more run while 3 run → rejected \"busy…\" (§4.2 step 6)", "ping while 3 run → pong listing each running one (§4.4)",
                            "the 3 runs → a result each, for its own id",
                            "a run after their results → accepted, then a result: the capacity is free again"}) {
    INFO(check);
    REQUIRE(checks.count(check) == 1);
    CHECK(checks.at(check).verdict == CheckVerdict::passed);
  }
  CHECK_THAT(checks.at("one more run while 3 run → rejected \"busy…\" (§4.2 step 6)").detail, Catch::StartsWith("busy: 3/3"));
  CHECK(checks.at("ping while 3 run → pong listing each running one (§4.4)").detail == "3 listed");
}

TEST_CASE("driver-check --capacity: past 16 at once it runs 16 and does not judge the refusal", "[driver-check][capacity]") {
  test::TempDir dir;
  GatedCapacityDriver driver(20);
  CapacityCheckServer server(driver, dir.ipc("wide"));
  const DriverCheckReport report = check_driver(capacity_checks(dir.ipc("wide")), [&](const CheckOutcome& o) {
    if (o.check.starts_with("ping while 16 run")) {
      driver.wait_until_running(16);
      driver.open();
    }
  });
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  CHECK(driver.peak() == 16);
  const auto checks = by_check(report);
  REQUIRE(checks.count("16 runs at once, each with its own setting (capacity 20) → each accepted") == 1);
  CHECK(checks.at("16 runs at once, each with its own setting (capacity 20) → each accepted").verdict == CheckVerdict::passed);
  const std::string refusal = "one more run while 16 run → rejected \"busy…\" (§4.2 step 6)";
  REQUIRE(checks.count(refusal) == 1);
  CHECK(checks.at(refusal).verdict == CheckVerdict::skipped);
  CHECK_THAT(checks.at(refusal).detail, Catch::Contains("capacity 20 is more than the 16"));
}

TEST_CASE("driver-check --capacity: a driver that accepts past its capacity fails, one that refuses below it fails", "[driver-check][capacity]") {
  test::TempDir dir;
  const std::string refusal = "one more run while 2 run → rejected \"busy…\" (§4.2 step 6)";
  const std::string at_once = "2 runs at once, each with its own setting (capacity 2) → each accepted";
  SECTION("accepts a third while two run") {
    test::FakeDriver driver(dir.ipc("greedy"), capacity_fake([](std::size_t) { return true; }));
    DriverCheckOptions options = capacity_checks(dir.ipc("greedy"));
    options.experiment_timeout = std::chrono::seconds(1);  // the run after them is never finished: it is not pinged
    const DriverCheckReport report = check_driver(options);
    INFO(test::checks_not_passed(report));
    CHECK_FALSE(report.all_passed());
    const auto checks = by_check(report);
    REQUIRE(checks.count(at_once) == 1);
    CHECK(checks.at(at_once).verdict == CheckVerdict::passed);
    REQUIRE(checks.count(refusal) == 1);
    CHECK(checks.at(refusal).verdict == CheckVerdict::failed);
    CHECK_THAT(checks.at(refusal).detail, Catch::StartsWith("NOT REJECTED: accepted while 2 ran") && Catch::Contains("aborted"));
    // Its pong listed both, and each got its result.
    CHECK(checks.at("ping while 2 run → pong listing each running one (§4.4)").verdict == CheckVerdict::passed);
    CHECK(checks.at("the 2 runs → a result each, for its own id").verdict == CheckVerdict::passed);
  }
  SECTION("declares 2 and refuses the second as busy") {
    test::FakeDriver driver(dir.ipc("timid"), capacity_fake([](std::size_t running) { return running == 0; }));
    DriverCheckOptions options = capacity_checks(dir.ipc("timid"));
    options.experiment_timeout = std::chrono::seconds(1);
    const DriverCheckReport report = check_driver(options);
    INFO(test::checks_not_passed(report));
    CHECK_FALSE(report.all_passed());
    const auto checks = by_check(report);
    REQUIRE(checks.count(at_once) == 1);
    CHECK(checks.at(at_once).verdict == CheckVerdict::failed);
    CHECK_THAT(checks.at(at_once).detail, Catch::StartsWith("1 of 2 accepted, though the welcome declares capacity 2") &&
                                              Catch::Contains("rejected as busy (busy: 1/1") && Catch::Contains("1 still running, aborted"));
    CHECK(checks.count(refusal) == 0);  // nothing more is judged once they are not all running
  }
}

TEST_CASE("driver-check --capacity: an experiment that finished before the extra run was answered leaves the refusal not judged",
          "[driver-check][capacity]") {
  test::TempDir dir;
  // Capacity 1, and each run over as soon as it is accepted: the extra run finds room. With
  // `stale_pong`, its pong lists every run it ever started, finished or not.
  const auto quick_fake = [](bool stale_pong) {
    auto started = std::make_shared<std::vector<std::string>>();
    return [started, stale_pong](const std::string& payload) -> std::vector<std::string> {
      const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
      if (type == "hello") return {test::FakeDriver::welcome(1)};
      if (type == "ping") return {json{{"v", 1}, {"type", "pong"}, {"running", stale_pong ? *started : std::vector<std::string>{}}}.dump()};
      const json result{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 1}}}};
      if (type == "run" && !id.empty()) {
        started->push_back(id);
        return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(), result.dump()};
      }
      if (type == "abort" && capacity_run(id)) return {result.dump()};
      return {json{{"v", 1}, {"type", "error"}, {"code", "unknown_experiment"}, {"message", "no"}, {"experiment", id}}.dump()};
    };
  };
  const std::string refusal = "one more run while 1 run → rejected \"busy…\" (§4.2 step 6)";
  const std::string listing = "ping while 1 run → pong listing each running one (§4.4)";
  SECTION("its pong lists none") {
    test::FakeDriver driver(dir.ipc("quick"), quick_fake(false));
    const DriverCheckReport report = check_driver(capacity_checks(dir.ipc("quick")));
    INFO(test::checks_not_passed(report));
    const auto checks = by_check(report);
    REQUIRE(checks.count(refusal) == 1);
    CHECK(checks.at(refusal).verdict == CheckVerdict::skipped);
    CHECK_THAT(checks.at(refusal).detail,
               Catch::StartsWith("not judged: driver-check-") && Catch::Contains("-8001 finished before the extra run was answered"));
    CHECK(checks.at(listing).verdict == CheckVerdict::skipped);
    CHECK(checks.at("the 1 runs → a result each, for its own id").verdict == CheckVerdict::passed);
    CHECK(checks.at("a run after their results → accepted, then a result: the capacity is free again").verdict == CheckVerdict::passed);
  }
  SECTION("its pong lists a run whose result it had sent") {
    test::FakeDriver driver(dir.ipc("stale"), quick_fake(true));
    const DriverCheckReport report = check_driver(capacity_checks(dir.ipc("stale")));
    INFO(test::checks_not_passed(report));
    const auto checks = by_check(report);
    REQUIRE(checks.count(listing) == 1);
    CHECK(checks.at(listing).verdict == CheckVerdict::failed);
    CHECK_THAT(checks.at(listing).detail, Catch::StartsWith("it lists driver-check-") && Catch::Contains("-8001, whose result came before it"));
  }
}

TEST_CASE("driver-check --capacity: fewer distinct settings than the capacity and one more is not judged", "[driver-check][capacity]") {
  test::TempDir dir;
  // One categorical input with two choices and capacity 2: three settings would be needed.
  test::FakeDriver driver(dir.ipc("narrow"), [](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    if (type == "hello")
      return {json{{"v", 1}, {"type", "welcome"}, {"driver", "narrow"}, {"version", "0"},
                   {"inputs", {{{"name", "c"}, {"type", "categorical"}, {"choices", {"a", "b"}}}}}, {"outputs", {"y"}}, {"capacity", 2}}
                  .dump()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    if (type == "run" && !id.empty())
      return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
              json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 1}}}}.dump()};
    return {json{{"v", 1}, {"type", "error"}, {"code", "unknown_experiment"}, {"message", "no"}, {"experiment", id}}.dump()};
  });
  const DriverCheckReport report = check_driver(capacity_checks(dir.ipc("narrow")));
  INFO(test::checks_not_passed(report));
  const auto checks = by_check(report);
  REQUIRE(checks.count("experiments at once") == 1);
  CHECK(checks.at("experiments at once").verdict == CheckVerdict::skipped);
  CHECK_THAT(checks.at("experiments at once").detail, Catch::Contains("the inputs take 2 different settings, and capacity 2 needs 3"));
}

namespace {

// A driver that finishes its experiments when pinged (like capacity_fake) and answers each with
// `accepted(id)`, its pongs listing every run it ever started, finished or not, each still running
// at progress 7; a repeated run or an abort gets the result again. With `hello_first`, a connection
// that has not said hello is answered error bad_message, whatever it sends.
test::FakeDriver::RoutedBehaviour sloppy_fake(std::function<json(const std::string& id)> accepted, bool hello_first) {
  auto started = std::make_shared<std::vector<std::string>>();
  auto running = std::make_shared<std::vector<std::string>>();
  auto results = std::make_shared<std::map<std::string, std::string>>();
  auto greeted = std::make_shared<std::set<std::string>>();
  return [=](const std::string& identity, const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    if (type == "hello") {
      greeted->insert(identity);
      return {test::FakeDriver::welcome()};
    }
    if (hello_first && !greeted->contains(identity)) return {R"({"v":1,"type":"error","code":"bad_message","message":"say hello first"})"};
    if (type == "ping") {
      json progress = json::object();
      for (const std::string& e : *running) progress[e] = 7;
      std::vector<std::string> out{json{{"v", 1}, {"type", "pong"}, {"running", *started}, {"progress", progress}}.dump()};
      for (const std::string& e : *running) out.push_back(results->at(e));
      running->clear();
      return out;
    }
    const json message = json::parse(payload, nullptr, false);
    if (type == "run" && !id.empty() && message.contains("params") && message["params"].is_object()) {
      if (results->contains(id)) return {results->at(id)};
      started->push_back(id);
      running->push_back(id);
      (*results)[id] = json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 1}}}}.dump();
      return {accepted(id).dump()};
    }
    if (type == "abort" && results->contains(id)) return {results->at(id)};
    json error{{"v", 1}, {"type", "error"}, {"code", type == "abort" ? "unknown_experiment" : "bad_message"}, {"message", "no"}};
    if (!id.empty()) error["experiment"] = id;
    return {error.dump()};
  };
}

json accepted_with(const std::string& id, json fields) {
  fields["v"] = 1;
  fields["type"] = "accepted";
  if (!fields.contains("experiment")) fields["experiment"] = id;
  return fields;
}

// A serve()d driver whose every accepted says max_s 0: within the protocol's letter, no time at all.
class NoTimeDriver final : public Driver {
 public:
  InstrumentInfo describe() const override {
    InstrumentInfo info;
    info.driver = "no-time";
    info.version = "test";
    info.inputs = {Parameter{.name = "x", .low = -5, .high = 10}};
    info.outputs = {"y"};
    return info;
  }
  Values run(const Params& params, std::stop_token) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // running while the pong is asked for
    return {{"y", params.at("x").get<double>()}};
  }
  RunEstimate estimate(const Params&) const override { return {1.0, 0.0}; }
};

const std::string kAcceptedCheck = "accepted → names its experiment; expected_s and max_s, if given, numbers ≥ 0 (§3, §4.2)";
const std::string kRunningCheck = "ping while an experiment runs → pong listing it";
const std::string kFinishedCheck = "ping after the results came → a pong listing none of those experiments (§4.4)";
const std::string kPingFirstCheck = "ping on a new connection, before any hello → pong (§4.1: no hello is required first)";
const std::string kRunFirstCheck = "the same run on a new connection, before any hello → the same result (§4.1, §5: a restarted controller)";

}  // namespace

TEST_CASE("driver-check: a malformed accepted, progress past 1, finished experiments still listed and a hello required first each fail",
          "[driver-check]") {
  test::TempDir dir;
  DriverCheckOptions options;
  options.endpoint = dir.ipc("sloppy");
  options.run_experiments = true;
  const auto verdict_of = [](const DriverCheckReport& report, const std::string& check) {
    const auto checks = by_check(report);
    INFO(check);
    REQUIRE(checks.count(check) == 1);
    return checks.at(check);
  };
  SECTION("an accepted naming another experiment, and the rest") {
    test::FakeDriver driver(dir.ipc("sloppy"), sloppy_fake([](const std::string& id) { return accepted_with(id, {{"experiment", "someone-else"}}); },
                                                           /*hello_first=*/true));
    const DriverCheckReport report = check_driver(options);
    INFO(test::checks_not_passed(report));
    const CheckOutcome accepted = verdict_of(report, kAcceptedCheck);
    CHECK(accepted.verdict == CheckVerdict::failed);
    CHECK_THAT(accepted.detail, Catch::StartsWith("it names experiment \"someone-else\", but the run was driver-check-"));
    const CheckOutcome progress = verdict_of(report, kRunningCheck);
    CHECK(progress.verdict == CheckVerdict::failed);
    CHECK_THAT(progress.detail, Catch::StartsWith("the progress of driver-check-") && Catch::Contains("-0001 is 7, not a fraction from 0 to 1"));
    const CheckOutcome finished = verdict_of(report, kFinishedCheck);
    CHECK(finished.verdict == CheckVerdict::failed);
    CHECK_THAT(finished.detail, Catch::StartsWith("it still lists driver-check-") && Catch::Contains("whose result it sent"));
    for (const std::string& check : {kPingFirstCheck, kRunFirstCheck}) {
      const CheckOutcome first = verdict_of(report, check);
      CHECK(first.verdict == CheckVerdict::failed);
      CHECK_THAT(first.detail, Catch::Contains("say hello first") && Catch::Contains("before any hello"));
    }
  }
  SECTION("an accepted whose expected_s is text") {
    test::FakeDriver driver(dir.ipc("sloppy"), sloppy_fake([](const std::string& id) { return accepted_with(id, {{"expected_s", "soon"}}); },
                                                           /*hello_first=*/false));
    const DriverCheckReport report = check_driver(options);
    INFO(test::checks_not_passed(report));
    const CheckOutcome accepted = verdict_of(report, kAcceptedCheck);
    CHECK(accepted.verdict == CheckVerdict::failed);
    CHECK_THAT(accepted.detail, Catch::StartsWith("the accepted breaks the protocol (bad_message): accepted: \"expected_s\" must be a number >= 0"));
    // Answered before a hello as after one.
    CHECK(verdict_of(report, kPingFirstCheck).verdict == CheckVerdict::passed);
    CHECK(verdict_of(report, kRunFirstCheck).verdict == CheckVerdict::passed);
  }
}

TEST_CASE("driver-check: an accepted with max_s 0 is warned about, and fails nothing", "[driver-check]") {
  test::TempDir dir;
  NoTimeDriver driver;
  CapacityCheckServer server(driver, dir.ipc("no-time"));
  DriverCheckOptions options;
  options.endpoint = dir.ipc("no-time");
  options.run_experiments = true;
  const DriverCheckReport report = check_driver(options);
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  const auto checks = by_check(report);
  REQUIRE(checks.count(kAcceptedCheck) == 1);
  CHECK(checks.at(kAcceptedCheck).verdict == CheckVerdict::warned);
  CHECK_THAT(checks.at(kAcceptedCheck).detail, Catch::StartsWith("max_s is 0: the experiment may take no time at all"));
  // The SDK passes the checks added beside it.
  for (const std::string& check : {kRunningCheck, kFinishedCheck, kPingFirstCheck, kRunFirstCheck}) {
    INFO(check);
    CHECK(checks.count(check) == 1);
  }
  std::size_t warned = 0;
  for (const CheckOutcome& o : report.outcomes) warned += o.verdict == CheckVerdict::warned;
  CHECK(warned == 1);

  // On the command line: a WARN line, counted, and exit 0; "warned" in --json.
  const test::CliOutcome shown = test::cli({"driver-check", dir.ipc("no-time"), "--run-experiments"}, dir);
  INFO(shown.output);
  CHECK(shown.status == 0);
  CHECK_THAT(shown.output, Catch::Contains("  WARN  " + kAcceptedCheck + ": max_s is 0") && Catch::Contains(" 0 failed, 1 warned, 2 skipped\n"));
  const test::CliOutcome as_json = test::cli({"driver-check", dir.ipc("no-time"), "--run-experiments", "--json"}, dir, "json.log");
  INFO(as_json.output);
  CHECK(as_json.status == 0);
  const json summary = json::parse(as_json.output);
  CHECK(summary["warned"] == 1);
  CHECK(summary["failed"] == 0);
}

TEST_CASE("driver-check: a result before its accepted, a rejected after it, a name no campaign can take and an abort taken from a "
          "connection that never ran the experiment are each reported", "[driver-check]") {
  test::TempDir dir;
  auto results = std::make_shared<std::map<std::string, std::string>>();
  test::FakeDriver driver(dir.ipc("odd"), [results](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    if (type == "hello") {
      json welcome = json::parse(test::FakeDriver::welcome());
      welcome["outputs"].push_back("temp (\u00b0C)");
      return {welcome.dump()};
    }
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    const json m = json::parse(payload, nullptr, false);
    if (type == "run" && !id.empty() && m.contains("params") && m["params"].is_object()) {
      if (results->contains(id)) return {results->at(id)};
      (*results)[id] = json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 1}, {"temp (\u00b0C)", 20}}}}.dump();
      return {results->at(id), json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(),
              json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", "changed my mind"}}.dump()};
    }
    if (type == "abort" && results->contains(id)) return {results->at(id)};
    json error{{"v", 1}, {"type", "error"}, {"code", type == "abort" ? "unknown_experiment" : "bad_message"}, {"message", "no"}};
    if (!id.empty()) error["experiment"] = id;
    return {error.dump()};
  });
  DriverCheckOptions options;
  options.endpoint = dir.ipc("odd");
  options.run_experiments = true;
  const DriverCheckReport report = check_driver(options);
  INFO(test::checks_not_passed(report));
  const auto checks = by_check(report);
  const auto outcome = [&](const std::string& check) {
    INFO(check);
    REQUIRE(checks.count(check) == 1);
    return checks.at(check);
  };
  CHECK(outcome("run → accepted before its result (§4.2 step 7)").verdict == CheckVerdict::failed);
  CHECK(outcome("run → accepted, then no rejected for it (§4.2)").verdict == CheckVerdict::failed);
  // It answers an abort with the result whoever sends it: a stray abort could end another's run.
  const CheckOutcome stranger = outcome("abort from a connection that never ran the experiment → error unknown_experiment, no result (§5)");
  CHECK(stranger.verdict == CheckVerdict::failed);
  CHECK_THAT(stranger.detail, Catch::Contains("\"type\":\"result\"") && Catch::Contains("only the experiment's owner"));
  const CheckOutcome names = outcome("input and output names a campaign can use (letters, digits, '_', '-', '.'; at most 64)");
  CHECK(names.verdict == CheckVerdict::warned);
  CHECK_THAT(names.detail, Catch::StartsWith("output \"temp (\u00b0C)\": a campaign's parameters and outputs take these names"));
}

TEST_CASE("driver-check: an abort from a connection that never ran the experiment, answered unknown_experiment and then its result, "
          "fails", "[driver-check]") {
  test::TempDir dir;
  auto results = std::make_shared<std::map<std::string, std::string>>();
  test::FakeDriver driver(dir.ipc("leaky"), [results](const std::string& payload) -> std::vector<std::string> {
    const std::string type = test::FakeDriver::type_of(payload), id = test::FakeDriver::experiment_of(payload);
    if (type == "hello") return {test::FakeDriver::welcome()};
    if (type == "ping") return {R"({"v":1,"type":"pong","running":[]})"};
    const json m = json::parse(payload, nullptr, false);
    if (type == "run" && !id.empty() && m.contains("params") && m["params"].is_object()) {
      if (results->contains(id)) return {results->at(id)};
      (*results)[id] = json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", 1}}}}.dump();
      return {json{{"v", 1}, {"type", "accepted"}, {"experiment", id}}.dump(), results->at(id)};
    }
    json error{{"v", 1}, {"type", "error"}, {"code", type == "abort" ? "unknown_experiment" : "bad_message"}, {"message", "no"}};
    if (!id.empty()) error["experiment"] = id;
    // The refusal, and the result anyway.
    if (type == "abort" && results->contains(id)) return {error.dump(), results->at(id)};
    return {error.dump()};
  });
  DriverCheckOptions options;
  options.endpoint = dir.ipc("leaky");
  options.run_experiments = true;
  const auto checks = by_check(check_driver(options));
  const std::string check = "abort from a connection that never ran the experiment → error unknown_experiment, no result (§5)";
  REQUIRE(checks.count(check) == 1);
  CHECK(checks.at(check).verdict == CheckVerdict::failed);
  CHECK_THAT(checks.at(check).detail, Catch::Contains("\"code\":\"unknown_experiment\"") && Catch::Contains(", then {\"experiment\"") && Catch::Contains("\"type\":\"result\""));
}
