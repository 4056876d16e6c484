// `labloop status`: one reading of a campaign folder, on the folders earlier versions wrote
// (tests/fixtures) and on a journal a running campaign holds.
#include <catch2/catch.hpp>

#include <filesystem>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_overview.hpp"
#include "labloop/journal/journal.hpp"
#include "test_support.hpp"

using namespace labloop;

namespace {

const std::filesystem::path kOverviewFixtures = LABLOOP_SOURCE_DIR "/tests/fixtures";

CampaignOverview overview_of(const std::filesystem::path& where) { return campaign_overview(where, sim::catalogue()); }

}  // namespace

TEST_CASE("Overview: a finished campaign of 0.1.0 with its budget, counts and best result", "[overview]") {
  const CampaignOverview s = overview_of(kOverviewFixtures / "v0.1.0" / "finished");
  CHECK(s.campaign == "fixture");
  CHECK(s.phase == CampaignPhase::finished);
  CHECK(s.finish_reason == "budget reached");
  CHECK(s.budget == 12);
  CHECK(s.used == 12);
  CHECK(s.results == 12);
  CHECK(s.failed == 0);
  CHECK(s.open.empty());
  CHECK(s.labloop_version == "0.1.0");
  CHECK(s.parameters == std::vector<std::string>{"x1", "x2"});
  REQUIRE(s.best);
  CHECK(s.best->experiment == "fixture-0005");
  CHECK(s.best->objective == Approx(2.12707).epsilon(1e-5));
  CHECK_FALSE(s.pareto);
  const nlohmann::json j = s.to_json();
  CHECK(j["phase"] == "finished");
  CHECK(j["best"]["experiment"] == "fixture-0005");
  CHECK(j["goal"] == "minimize");
}

TEST_CASE("Overview: an interrupted campaign lists its open experiment and where it runs, a person's marked as manual", "[overview]") {
  const CampaignOverview killed = overview_of(kOverviewFixtures / "v0.2.0" / "interrupted");
  CHECK(killed.phase == CampaignPhase::interrupted);
  CHECK(killed.finish_reason.empty());
  REQUIRE(killed.open.size() == 1);
  CHECK(killed.open[0].id == "goals-856c57c11548-0009");
  CHECK(killed.open[0].instrument == "sim");
  CHECK_FALSE(killed.open[0].manual);
  CHECK(killed.used == 9);
  CHECK(killed.results == 8);

  const CampaignOverview by_hand = overview_of(kOverviewFixtures / "v0.2.0" / "signed");
  REQUIRE(by_hand.open.size() == 1);
  CHECK(by_hand.open[0].instrument == "bench-chemist");
  CHECK(by_hand.open[0].manual);
  CHECK(by_hand.to_json()["open"][0]["manual"] == true);
}

TEST_CASE("Overview: several objectives give the Pareto set instead of one best", "[overview]") {
  const CampaignOverview s = overview_of(kOverviewFixtures / "v0.2.0" / "goals");
  CHECK_FALSE(s.best);
  REQUIRE(s.pareto);
  CHECK(s.pareto->members.size() == 5);
  REQUIRE(s.pareto->hypervolume);
  CHECK(*s.pareto->hypervolume > 0);
  const nlohmann::json j = s.to_json();
  CHECK(j["pareto"].size() == 5);
  CHECK(j["pareto"][0]["values"].contains("branin"));
  CHECK(j["pareto"][0]["values"].contains("currin"));
}

TEST_CASE("Overview: a journal a campaign holds reads as running, and as interrupted once let go", "[overview]") {
  test::TempDir dir;
  std::filesystem::copy(kOverviewFixtures / "v0.1.0" / "interrupted", dir.path() / "c", std::filesystem::copy_options::recursive);
  {
    Journal held(dir.path() / "c" / "journal.jsonl");  // what a running campaign holds: its lock
    const CampaignOverview s = overview_of(dir.path() / "c");
    CHECK(s.phase == CampaignPhase::running);
    CHECK(s.to_json()["phase"] == "running");
  }
  CHECK(overview_of(dir.path() / "c").phase == CampaignPhase::interrupted);
}
