// The controller and a driver written in another language from docs/protocol.md alone: the
// Python SDK's example instrument, run by a real campaign over ipc.
#include <catch2/catch.hpp>

#include <map>

#include "labloop/campaign/campaign.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/journal/journal.hpp"
#include "driver_check_support.hpp"
#include "test_functions.hpp"
#include "test_support.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;

TEST_CASE("Python driver: a campaign runs to its budget on the Python SDK's example instrument", "[python]") {
  test::TempDir dir;
  ChildProcess driver({LABLOOP_PYTHON3, LABLOOP_SOURCE_DIR "/drivers/python/example_driver.py", "--endpoint", dir.ipc("py"), "--capacity", "2"},
                      dir / "driver.log");
  const json file{{"name", "py"},
                  {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                  {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                  {"objective", {{"name", "y"}}},
                  {"planner", {{"kind", "sobol"}}},
                  {"instruments", {{{"name", "python"}, {"endpoint", dir.ipc("py")}}}},
                  {"budget", {{"experiments", 10}}},
                  {"output", (dir / "out").string()}};
  const auto summary = run_campaign(parse_campaign_config(file.dump(), "py.json", labloop::sim::catalogue()), {});
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 10);
  CHECK(summary.status.failed == 0);
  std::map<std::string, json> params;
  int results = 0;
  for (const auto& e : read_journal(dir / "out" / "journal.jsonl").events) {
    if (e["event"] == "proposed") params[e["experiment"]] = e["params"];
    if (e["event"] == "instrument_ready") CHECK(e["capacity"] == 2);
    if (e["event"] != "result") continue;
    ++results;
    const json& p = params.at(e["experiment"]);
    const double expected = sim::find_test_function("branin")->evaluate(std::vector<double>{p["x1"], p["x2"]});
    CHECK(e["objective"].get<double>() == Approx(expected).epsilon(1e-9));
  }
  CHECK(results == 10);
}

TEST_CASE("Python driver: the SDK's example instrument passes every driver-check, experiments and settings outside the limits included",
          "[python][driver-check]") {
  test::TempDir dir;
  ChildProcess driver({LABLOOP_PYTHON3, LABLOOP_SOURCE_DIR "/drivers/python/example_driver.py", "--endpoint", dir.ipc("py"), "--delay", "0.2"},
                      dir / "driver.log");
  const DriverCheckReport report = check_driver(test::every_check(dir.ipc("py")));
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  CHECK(report.outcomes.size() > 30);
}
