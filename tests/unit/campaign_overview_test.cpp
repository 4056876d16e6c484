// `labloop status`: one reading of a campaign folder, on the folders earlier versions wrote
// (tests/fixtures) and on a journal a running campaign holds.
#include <catch2/catch.hpp>

#include <filesystem>

#include <fmt/format.h>

#include "catalogue.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/campaign_overview.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "journal_edit.hpp"
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

TEST_CASE("Overview: a campaign stopped by an error reads as that, not as finished, and a pause as paused", "[overview]") {
  test::TempDir dir;
  std::filesystem::copy(kOverviewFixtures / "v0.2.0" / "interrupted", dir / "c", std::filesystem::copy_options::recursive);
  const auto finish = [&](const std::string& reason) {
    Journal(dir / "c" / "journal.jsonl").append("campaign_finished", encode_fields(CampaignFinishedEvent{.reason = reason, .experiments = 8}));
    return overview_of(dir / "c");
  };
  const CampaignOverview error = finish("error: instrument 'sim': gone");
  CHECK(error.phase == CampaignPhase::error);
  CHECK(error.finish_reason == "error: instrument 'sim': gone");
  CHECK(error.to_json()["phase"] == "error");
  Journal(dir / "c" / "journal.jsonl").append("campaign_resumed", encode_fields(CampaignResumedEvent{{}, {}, 0, true}));
  CHECK(overview_of(dir / "c").phase == CampaignPhase::interrupted);
  CHECK(finish("paused: 5 of the last 9 experiments failed").phase == CampaignPhase::paused);
  CHECK(finish("stopped by operator").phase == CampaignPhase::finished);
  CHECK(finish("budget reached").to_json()["phase"] == "finished");
}

TEST_CASE("Overview: a dry run's person is a stand-in: its instrument and open experiment are not a person's", "[overview]") {
  test::TempDir dir;
  std::filesystem::copy(kOverviewFixtures / "v0.2.0" / "signed", dir / "c", std::filesystem::copy_options::recursive);
  const std::filesystem::path journal = dir / "c" / "journal.jsonl";
  std::vector<std::string> lines = test::journal_lines(journal);
  const auto at = lines[0].find("\"dry_run\":false");
  REQUIRE(at != std::string::npos);
  lines[0].replace(at, 15, "\"dry_run\":true");  // as `labloop run --dry-run` writes it
  test::write_rechained(journal, lines);
  const CampaignOverview s = overview_of(dir / "c");
  CHECK(s.dry_run);
  REQUIRE(s.open.size() == 1);
  CHECK_FALSE(s.open[0].manual);  // `labloop pending` lists nothing in a dry run
  for (const InstrumentOverview& i : s.instruments) CHECK_FALSE(i.manual);
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

TEST_CASE("Overview: each instrument as the journal last left it in this run: ready, lost, back, quarantined, and connecting after a resume", "[overview]") {
  test::TempDir dir;
  std::filesystem::copy(kOverviewFixtures / "v0.2.0" / "interrupted", dir / "c", std::filesystem::copy_options::recursive);
  const std::filesystem::path journal_file = dir / "c" / "journal.jsonl";
  const auto sim_of = [&] {
    const CampaignOverview s = overview_of(dir / "c");
    REQUIRE(s.instruments.size() == 1);
    return s.instruments[0];
  };
  InstrumentOverview sim = sim_of();
  CHECK(sim.name == "sim");
  CHECK(sim.state == InstrumentState::ready);
  CHECK(sim.driver == "labloop-sim");
  CHECK(sim.running == 1);  // experiment 9 was accepted there when the controller was killed
  CHECK_FALSE(sim.manual);
  const auto append = [&](const JournalEventBody& event) {
    Journal journal(journal_file);
    journal.append(std::string(event_name(event)), encode_fields(event));
  };
  append(InstrumentLostEvent{"sim", "no answer for 6 s", 300});
  sim = sim_of();
  CHECK(sim.state == InstrumentState::lost);
  CHECK(sim.detail == "no answer for 6 s");
  CHECK_FALSE(sim.since.empty());
  append(InstrumentReconnectedEvent{"sim", 12.5});
  CHECK(sim_of().state == InstrumentState::ready);
  CHECK(sim_of().capacity == 0);  // what answered may be a driver restarted with other limits
  append(InstrumentQuarantinedEvent{"sim", "5 failures in a row"});
  sim = sim_of();
  CHECK(sim.state == InstrumentState::quarantined);
  CHECK(overview_of(dir / "c").to_json()["instruments"][0]["state"] == "quarantined");
  CHECK(overview_of(dir / "c").to_json()["instruments"][0]["detail"] == "5 failures in a row");
  append(CampaignResumedEvent{{}, {}, 0, true});
  CHECK(sim_of().state == InstrumentState::connecting);
  append(InstrumentReadyEvent{"sim", "(private)", "labloop-sim", "0.3.0", 2});
  sim = sim_of();
  CHECK(sim.state == InstrumentState::ready);
  CHECK(sim.version == "0.3.0");
  CHECK(sim.capacity == 2);
  // Ready, but every run it is sent rejected as busy: said, until it takes one (it looked "ready").
  const std::string id = "goals-856c57c11548-0009";
  append(RejectedEvent{id, "sim", "busy: another program", true});
  append(RejectedEvent{id, "sim", "busy: another program", true});
  sim = sim_of();
  CHECK(sim.state == InstrumentState::ready);
  CHECK_THAT(sim.detail, Catch::StartsWith("2 runs in a row rejected as busy since 20") && Catch::EndsWith(", the last: busy: another program"));
  append(AcceptedEvent{id, "sim", nullptr, nullptr});
  CHECK(sim_of().detail.empty());

  const CampaignOverview by_hand = overview_of(kOverviewFixtures / "v0.2.0" / "signed");
  REQUIRE(by_hand.instruments.size() == 1);
  CHECK(by_hand.instruments[0].manual);
  CHECK(by_hand.instruments[0].running == 1);
}

TEST_CASE("Overview: a journal copy a stopped run saved beside a replaced journal is noted, and resume refuses until it is settled", "[overview]") {
  // The controller stopped and saved what it had written as journal.jsonl.displaced-1; status,
  // verify and resume then said nothing, and resume went on from the replacement (red-team report).
  test::TempDir dir;
  std::filesystem::copy(kOverviewFixtures / "v0.2.0" / "interrupted", dir / "c", std::filesystem::copy_options::recursive);
  const auto journal = dir / "c" / "journal.jsonl";
  std::filesystem::copy_file(journal, dir / "c" / "journal.jsonl.displaced-1");
  test::write_file(dir / "c" / "journal.jsonl.displaced-notes", "not a copy");  // no number: not one
  const std::size_t events = read_journal(journal).events.size();
  test::keep_first_lines(journal, 5);
  CHECK(displaced_copies(journal) == std::vector<std::filesystem::path>{dir / "c" / "journal.jsonl.displaced-1"});
  const CampaignOverview s = overview_of(dir / "c");
  REQUIRE(s.notes.size() == 1);
  CHECK_THAT(s.notes[0], Catch::StartsWith((dir / "c" / "journal.jsonl.displaced-1").string() + fmt::format(" ({} events; the journal holds 5)", events)) &&
                             Catch::EndsWith("keep the right one as journal.jsonl, and move the other out of the folder"));
  CHECK(s.to_json()["notes"].size() == 1);
  CampaignOptions options;
  options.resume = true;
  options.output = (dir / "c").string();
  const CampaignConfig config = journaled_config(read_journal(journal).events, "fixture", sim::catalogue());
  CHECK_THAT(test::message_of([&] { run_campaign(config, options); }), Catch::StartsWith("not resumed: ") && Catch::EndsWith("then `labloop resume` again"));
  CHECK(read_journal(journal).events.size() == 5);  // nothing written
  std::filesystem::rename(dir / "c" / "journal.jsonl.displaced-1", dir / "elsewhere");
  CHECK(overview_of(dir / "c").notes.empty());
}

TEST_CASE("Overview: a journaled setting outside the campaign's space is one of its problems, as resume and verify find it", "[overview]") {
  // Status said "`labloop resume` continues it" of a journal whose edited proposal resume refuses.
  test::TempDir dir;
  std::filesystem::copy(kOverviewFixtures / "v0.2.0" / "interrupted", dir / "c", std::filesystem::copy_options::recursive);
  const auto journal = dir / "c" / "journal.jsonl";
  CHECK(overview_of(dir / "c").problems.empty());
  std::vector<std::string> lines = test::journal_lines(journal);
  const std::string from = R"("params":{"x1":0.06538297111774116,)", to = R"("params":{"x1":1.5,)";
  for (std::string& line : lines)
    if (const auto at = line.find(from); at != std::string::npos) line.replace(at, from.size(), to);
  test::write_rechained(journal, lines);
  const CampaignOverview s = overview_of(dir / "c");
  REQUIRE(s.problems.size() == 1);
  CHECK_THAT(s.problems[0], Catch::Contains("the params of goals-856c57c11548-0002 are not within the bounds"));
  CHECK(s.to_json()["problems"].size() == 1);
}

TEST_CASE("Overview: attempts that failed and were retried are counted apart from the failures, as results.csv lists them", "[overview]") {
  // Status said "0 failed" beside results.csv's failed rows of retried attempts (a red-team report).
  const CampaignOverview s = overview_of(kOverviewFixtures / "v0.1.0" / "faulty");
  CHECK(s.failed_uncounted == 2);  // faulty-0003 and faulty-0013 timed out, retried as -r2
  CHECK(s.to_json()["failed_uncounted"] == 2);
  CHECK(overview_of(kOverviewFixtures / "v0.1.0" / "finished").failed_uncounted == 0);
}

TEST_CASE("Overview: a journal with no whole event, empty or only a torn line, is said to be that, not one without its first event",
          "[overview]") {
  test::TempDir dir;
  const auto journal = dir / "journal.jsonl";
  test::write_file(journal, "");
  REQUIRE_THROWS_WITH(overview_of(dir.path()), Catch::Contains("holds no events") && Catch::Contains("run the campaign again") &&
                                                   !Catch::Contains("does not start with"));
  test::write_file(journal, R"({"seq":1,"time":"2026-11-25T08:30:00.123Z","event":"campaign_started","campaign":"c","con)");
  REQUIRE_THROWS_WITH(overview_of(dir.path()), Catch::Contains("line 1 is incomplete (torn write)") &&
                                                   Catch::Contains("`labloop run` starts one there afresh"));
  // Counted without holding anything.
  CHECK(count_journal_events(journal) == 0);
  CHECK(count_journal_events(LABLOOP_SOURCE_DIR "/tests/fixtures/v0.1.0/finished/journal.jsonl") ==
        read_journal(LABLOOP_SOURCE_DIR "/tests/fixtures/v0.1.0/finished/journal.jsonl").events.size());
}
