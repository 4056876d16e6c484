// A campaign against an emulated dataset served by a real labloop-sim process (one short
// real-socket test; the emulator itself is covered by tests/unit/emulator_test.cpp).
#include <catch2/catch.hpp>

#include <map>

#include "catalogue.hpp"
#include "emulator.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/journal/journal.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

TEST_CASE("Campaign: a random campaign on the emulated snar dataset records the emulator's values, noise included", "[campaign][emulator]") {
  test::TempDir dir;
  const auto folder = std::filesystem::path(LABLOOP_SOURCE_DIR) / "simulators/data/snar";
  const auto stored = sim::read_emulator_json(folder);
  REQUIRE(stored);
  const sim::Emulator emulator(sim::read_dataset(folder), &*stored);
  json parameters = json::array();
  for (const Parameter& p : emulator.inputs()) parameters.push_back(p.to_json());
  const json file{{"name", "snar-emulated"},
                  {"seed", 4},
                  {"parameters", parameters},
                  {"objective", {{"name", "e_factor"}, {"goal", "minimize"}}},
                  {"planner", {{"kind", "random"}}},
                  {"instruments", {{{"name", "reactor"}, {"simulator", "snar"}, {"options", {{"seed", 9}}}}}},
                  {"budget", {{"experiments", 6}}},
                  {"output", (dir / "out").string()}};
  const CampaignConfig config = parse_campaign_config(file.dump(), "test.json", sim::catalogue());
  CampaignOptions options;
  options.simulator = LABLOOP_SIM_PATH;
  const auto summary = run_campaign(config, options);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 6);
  CHECK(summary.status.failed == 0);

  std::map<std::string, json> params;
  std::vector<json> results;
  for (const auto& e : read_journal(dir / "out" / "journal.jsonl").events) {
    if (e["event"] == "proposed") params[e["experiment"].get<std::string>()] = e["params"];
    if (e["event"] == "result") results.push_back(e);
  }
  REQUIRE(results.size() == 6);
  const sim::EmulatedObjective& o = emulator.objectives().at(0);
  int off_mean = 0;
  for (const auto& r : results) {
    INFO(r.dump());
    REQUIRE(r["status"] == "ok");
    const double y = r["objective"].get<double>(), mean = emulator.predict(params.at(r["experiment"].get<std::string>())).at(0);
    CHECK(y >= o.low);
    CHECK(y <= o.high);
    CHECK(std::abs(y - mean) < 6 * o.noise_sd + 1e-12);
    off_mean += y != mean;  // the emulator's noise was drawn
  }
  CHECK(off_mean == 6);
}
