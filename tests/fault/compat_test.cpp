// Campaign folders written by an earlier version (tests/fixtures/v0.1.0, written by labloop 0.1.0)
// still verify, replay and resume: the journal format and the result cache are extended, never
// changed in a way that strands a campaign that is already running.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>
#include <regex>

#include "labloop/journal/audit.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/candidates.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/campaign/replay.hpp"
#include "cli_process.hpp"
#include "test_support.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

const std::filesystem::path kFixtures = std::filesystem::path(LABLOOP_SOURCE_DIR) / "tests/fixtures/v0.1.0";
const std::filesystem::path kFixtures020 = std::filesystem::path(LABLOOP_SOURCE_DIR) / "tests/fixtures/v0.2.0";

// A private copy: resume writes into the folder.
std::filesystem::path copy_of(const std::string& name, const test::TempDir& dir, const std::filesystem::path& from = kFixtures) {
  const auto to = dir / name;
  std::filesystem::copy(from / name, to, std::filesystem::copy_options::recursive);
  return to;
}

// As `labloop replay` does it.
ReplayReport replay(const std::filesystem::path& folder) {
  const auto events = decode_events(read_journal(folder / "journal.jsonl").events, "fixture");
  const CampaignConfig config = journaled_config(events, "fixture", labloop::sim::catalogue());
  const auto candidates = journaled_candidates(events, config, folder);
  PlannerContext context{config.space(), config.seed, config.planner, config.source, config.planner_goals()};
  if (candidates) context.candidates = &candidates->pool;
  auto planner = make_planner(context);
  return replay_journal(events, config, *planner);
}

// As `labloop resume` does it.
CampaignSummary resume(const std::filesystem::path& folder) {
  const auto events = read_journal(folder / "journal.jsonl").events;
  const CampaignConfig config = journaled_config(events, "fixture", labloop::sim::catalogue());
  CampaignOptions options;
  options.resume = true;
  options.dry_run = events.front().value("dry_run", false);
  options.output = folder.string();
  options.simulator = LABLOOP_SIM_PATH;
  return run_campaign(config, options);
}


// Cuts the finished campaign in `folder` in the middle of its journal, as a `kill -9` then would,
// resumes it to its budget, and checks the result is whole and still replays exactly.
void check_resumes_from_a_cut(const std::filesystem::path& folder, int events) {
  const int budget = journaled_config(read_journal(folder / "journal.jsonl").events, "fixture", labloop::sim::catalogue()).budget.experiments;
  test::keep_first_lines(folder / "journal.jsonl", events / 2);
  const auto summary = resume(folder);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == budget);
  const JournalAudit after = audit_journal(folder);
  INFO(fmt::format("{}", fmt::join(after.problems, "\n")));
  CHECK(after.intact());
  CHECK(after.open == 0);
  const ReplayReport report = replay(folder);
  INFO(fmt::format("{}", fmt::join(report.differences, "\n")));
  CHECK(report.reproduced());
}

}  // namespace

TEST_CASE("Compatibility: a finished 0.1.0 campaign verifies, replays exactly and is not resumed", "[fault][compat]") {
  test::TempDir dir;
  const auto folder = copy_of("finished", dir);
  const JournalAudit audit = audit_journal(folder);
  CHECK(audit.intact());
  CHECK(audit.finished);
  CHECK(audit.results == 12);
  const ReplayReport report = replay(folder);
  INFO(fmt::format("{}", fmt::join(report.differences, "\n")));
  CHECK(report.reproduced());
  CHECK(report.proposals == 12);
  CHECK_THROWS_WITH(resume(folder), Catch::Contains("already finished"));
  // It never held an instrument: nothing to release is no failure (exit 1 means one unreachable).
  const test::CliOutcome released = test::cli({"release", folder.string()}, dir);
  CHECK(released.status == 0);
  CHECK_THAT(released.output, Catch::Contains("never held an instrument; nothing to release"));
}

TEST_CASE("Compatibility: an interrupted 0.1.0 campaign resumes to its budget with ids of the old form", "[fault][compat]") {
  test::TempDir dir;
  const auto folder = copy_of("interrupted", dir);
  const JournalAudit before = audit_journal(folder);
  CHECK(before.intact());
  CHECK(before.open == 1);
  CHECK(replay(folder).reproduced());

  const auto summary = resume(folder);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 12);
  const JournalAudit after = audit_journal(folder);
  INFO(fmt::format("{}", fmt::join(after.problems, "\n")));
  CHECK(after.intact());
  CHECK(after.open == 0);
  CHECK(after.results == 12);
  // The journal has no campaign_id: the ids keep the form its drivers already know.
  const std::regex old_form("fixture-[0-9]{4}(-r[0-9]+)?");
  std::map<std::string, int> outcomes;
  for (const auto& e : read_journal(folder / "journal.jsonl").events) {
    if (e["event"] == "proposed") CHECK(std::regex_match(e["experiment"].get<std::string>(), old_form));
    if (e["event"] == "result" || e["event"] == "failed") ++outcomes[e["experiment"]];
  }
  CHECK(outcomes.size() == 12);
  for (const auto& [id, n] : outcomes) CHECK(n == 1);
  CHECK(replay(folder).reproduced());
}

TEST_CASE("Compatibility: 0.1.0 campaigns of every kind verify, replay exactly, and resume from a cut in the middle", "[fault][compat]") {
  for (const std::string name : {"finished", "mixed", "three", "faulty"}) {
    INFO(name);
    test::TempDir dir;
    const auto folder = copy_of(name, dir);
    const JournalAudit audit = audit_journal(folder);
    CHECK(audit.intact());
    CHECK(audit.finished);
    CHECK(replay(folder).reproduced());

    check_resumes_from_a_cut(folder, audit.events);
    const std::regex old_form(name == "finished" ? "fixture-[0-9]{4}(-r[0-9]+)?" : name + "-[0-9]{4}(-r[0-9]+)?");
    for (const auto& e : read_journal(folder / "journal.jsonl").events)
      if (e["event"] == "proposed") CHECK(std::regex_match(e["experiment"].get<std::string>(), old_form));
  }
}

// 0.2.0 wrote the goals (several objectives, constraints, outcome constraints, failure rules),
// pools of candidates, discrete parameters and lookup tables' categorical parameters into its
// journals: later versions read those too.
TEST_CASE("Compatibility: 0.2.0 campaigns verify, replay exactly, and resume from a cut in the middle", "[fault][compat]") {
  // described: categorical parameters seen through a dataset's descriptors, whose journaled path
  // is gone; kept: the same with decision 0015's margin journaled and the table's copy beside the
  // journal (the only copy left), before decision 0016's residual.
  // residual and noisy: written by commit d31bda2, with what a new campaign file got then
  // journaled (decisions 0012, 0014, 0016, 0017 on a lookup table with descriptors; 0018 and an
  // instrument's stated noise on a continuous space).
  // emulated: a campaign on suzuki_i listing ligand L7, which its rows lack (commit 9a2afd2).
  for (const std::string name : {"goals", "pool", "lookup", "described", "kept", "residual", "noisy", "emulated"}) {
    INFO(name);
    test::TempDir dir;
    const auto folder = copy_of(name, dir, kFixtures020);
    const JournalAudit audit = audit_journal(folder);
    INFO(fmt::format("{}", fmt::join(audit.problems, "\n")));
    CHECK(audit.intact());
    CHECK(audit.finished);
    const ReplayReport report = replay(folder);
    INFO(fmt::format("{}", fmt::join(report.differences, "\n")));
    CHECK(report.reproduced());
    CHECK_THROWS_WITH(resume(folder), Catch::Contains("already finished"));
    check_resumes_from_a_cut(folder, audit.events);
  }
}

TEST_CASE("Compatibility: a 0.2.0 campaign with two objectives killed mid-experiment resumes to its budget", "[fault][compat]") {
  test::TempDir dir;
  const auto folder = copy_of("interrupted", dir, kFixtures020);
  const JournalAudit before = audit_journal(folder);
  CHECK(before.intact());
  CHECK(before.open == 1);
  CHECK(replay(folder).reproduced());
  const auto summary = resume(folder);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 14);
  REQUIRE(summary.pareto);
  CHECK_FALSE(summary.pareto->members.empty());
  const JournalAudit after = audit_journal(folder);
  INFO(fmt::format("{}", fmt::join(after.problems, "\n")));
  CHECK(after.intact());
  CHECK(after.open == 0);
  CHECK(after.results == 14);
  const ReplayReport resumed = replay(folder);
  INFO(fmt::format("{}", fmt::join(resumed.differences, "\n")));  // "hit the time limit": a machine far past its cores
  CHECK(resumed.reproduced());
}

// A signed journal of a campaign run by hand (commit d31bda2): four results entered with
// `labloop enter`, one corrected after the controller was killed (signed at once), the fifth
// experiment still waiting for its person. Its journal names the controller's key by the absolute
// path it had, /tmp/labloop-fixture-signed/keys/controller; the fixture's copy of that key pair
// (tests/fixtures/v0.2.0/signed-keys, made for this fixture and nothing else) is put back there
// for the resume, as on the machine that ran it.
TEST_CASE("Compatibility: a signed 0.2.0 campaign run by hand, with a correction, verifies by its key and resumes once its last result is entered", "[fault][compat]") {
  test::TempDir dir;
  const auto folder = copy_of("signed", dir, kFixtures020);
  const auto keys = kFixtures020 / "signed-keys";
  const PublicKey key = read_public_key(keys / "controller.pub");
  const JournalAudit before = audit_journal(folder, key);
  INFO(fmt::format("{}", fmt::join(before.problems, "\n")));
  CHECK(before.intact());
  CHECK(before.open == 1);
  CHECK(before.results == 4);
  CHECK(replay(folder).reproduced());
  test::CliOutcome o = test::cli({"verify", folder.string(), "--key", (keys / "controller.pub").string()}, dir);
  INFO(o.output);
  CHECK(o.status == 0);

  // The signatures are checked, not only their form: another key does not prove this journal.
  CHECK_FALSE(audit_journal(folder, generate_key_pair("another").public_key).intact());

  const std::filesystem::path key_dir = "/tmp/labloop-fixture-signed/keys";
  std::filesystem::remove_all(key_dir);
  CHECK_THROWS_WITH(resume(folder), Catch::Contains("controller_key"));
  // Another key in its place: extend refuses it before raising the budget, as resume does.
  o = test::cli({"keys", "new", "controller", "--dir", key_dir.string()}, dir);
  REQUIRE(o.status == 0);
  const size_t lines_before = read_journal(folder / "journal.jsonl").events.size();
  o = test::cli({"extend", folder.string(), "--experiments", "2"}, dir);
  INFO(o.output);
  CHECK(o.status == 2);
  CHECK_THAT(o.output, Catch::Contains("put back the key that signed it"));
  CHECK(read_journal(folder / "journal.jsonl").events.size() == lines_before);
  std::filesystem::remove_all(key_dir);
  std::filesystem::create_directories(key_dir);
  for (const char* file : {"controller.key", "controller.pub"})
    std::filesystem::copy_file(keys / file, key_dir / file, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(key_dir / "controller.key", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  const auto pending = read_journal(folder / "journal.jsonl").events;
  std::string open;
  for (const auto& e : pending)
    if (e["event"] == "dispatched") open = e["experiment"];
  o = test::cli({"enter", folder.string(), open, "yield=61.5", "--by", "fixture"}, dir);
  INFO(o.output);
  REQUIRE(o.status == 0);
  const auto summary = resume(folder);
  std::filesystem::remove_all(key_dir.parent_path());
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 5);
  const JournalAudit after = audit_journal(folder, key);
  INFO(fmt::format("{}", fmt::join(after.problems, "\n")));
  CHECK(after.intact());
  CHECK(after.open == 0);
  CHECK(after.results == 5);
  CHECK(replay(folder).reproduced());
  // The corrected value is the one that counts, in results.csv as in the planner.
  const std::string csv = test::read_file(folder / "results.csv");
  CHECK_THAT(csv, Catch::Contains("84.4"));
  CHECK_THAT(csv, !Catch::Contains("88.44"));  // the fixture's results.csv, written before the correction, had it
  CHECK_THAT(csv, Catch::Contains("61.5"));
}

TEST_CASE("Compatibility: a 0.2.0 campaign stopped from the console verifies, says who stopped it, replays exactly and resumes to its budget", "[fault][compat]") {
  test::TempDir dir;
  const auto folder = copy_of("stopped", dir, kFixtures020);
  const JournalAudit audit = audit_journal(folder);
  INFO(fmt::format("{}", fmt::join(audit.problems, "\n")));
  CHECK(audit.intact());
  CHECK(audit.finished);
  CHECK(audit.finish_reason == "stopped by operator");
  const CampaignState state = CampaignState::fold(decode_events(read_journal(folder / "journal.jsonl").events, "fixture"));
  REQUIRE(state.stop_request());
  CHECK(state.stop_request()->by == "Ann");
  CHECK(state.stop_request()->reason == "end of shift");
  CHECK(state.stop_request()->source == "console");
  CHECK(replay(folder).reproduced());
  const auto summary = resume(folder);
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 12);
  CHECK(audit_journal(folder).intact());
  CHECK(replay(folder).reproduced());
  test::TempDir other;
  check_resumes_from_a_cut(copy_of("stopped", other, kFixtures020), audit.events);
}
