// `labloop driver-check` against real drivers over real sockets: the drivers labloop ships pass
// every check, and a driver that breaks the protocol fails exactly the checks it breaks.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>
#include <set>

#include "cli_process.hpp"
#include "fake_driver.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/signing.hpp"
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
    for (const CheckOutcome& o : report.outcomes) CHECK(o.verdict == CheckVerdict::passed);
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
  CHECK(report.outcomes.back().verdict == CheckVerdict::skipped);
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
  options.reply_timeout = std::chrono::seconds(1);  // it never names the id in an error: one wait that long
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
  CHECK(verdict("text that is not JSON → error bad_json") == CheckVerdict::failed);
  CHECK(verdict("a type only drivers send (result) → error unknown_type") == CheckVerdict::failed);
  CHECK(verdict("error from the controller → no answer (§4.6)") == CheckVerdict::failed);
  // The fake echoes no delimiter frame.
  CHECK(verdict("ping behind an empty delimiter frame (a REQ client) → pong behind the same") == CheckVerdict::failed);
  bool result_judged = false, refusal_judged = false;
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
  }
  CHECK(result_judged);
  CHECK(refusal_judged);
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
}

TEST_CASE("driver-check on the command line: a line per check, exit 0 when all pass, 1 when nothing answers, 2 for a misused option",
          "[driver-check][cli]") {
  test::TempDir dir;
  ChildProcess sim({LABLOOP_SIM_PATH, "-f", "branin", "-e", dir.ipc("sim")}, dir / "sim.log");
  const test::CliOutcome passed = test::cli({"driver-check", dir.ipc("sim"), "--run-experiments", "--out-of-limits"}, dir);
  INFO(passed.output);
  CHECK(passed.status == 0);
  CHECK_THAT(passed.output, Catch::Contains("  ok    hello → welcome: labloop-sim") && Catch::Contains("checks passed, 0 failed\n"));
  const test::CliOutcome nobody = test::cli({"driver-check", dir.ipc("nobody"), "--timeout", "0.2"}, dir);
  CHECK(nobody.status == 1);
  CHECK_THAT(nobody.output, Catch::Contains("nothing answered hello within 0.2 s"));
  const test::CliOutcome misused = test::cli({"driver-check", dir.ipc("sim"), "--out-of-limits"}, dir);
  CHECK(misused.status == 2);
  CHECK_THAT(misused.output, Catch::Contains("--out-of-limits: goes with --run-experiments"));
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
  CHECK_THROWS_WITH(check_driver(options), Catch::Contains("not a welcome"));
}
