// Signed journals (issue 19): a campaign with "controller_key" signs its journal; the audit proves
// it with the public key, and catches what the hash chain alone cannot — a journal edited by hand
// and re-chained. Dry runs: the whole loop, in-process, without simulator processes.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <sstream>

#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/core/os_user.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/model/planner.hpp"
#include "catalogue.hpp"
#include "journal_edit.hpp"
#include "signed_campaign.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(LABLOOP_SOURCE_DIR) / "tests/fixtures/v0.1.0";

}  // namespace

TEST_CASE("Signed journals: a campaign with controller_key signs its journal, and verify --key proves it with that key only",
          "[signing]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  const KeyPair other = test::written_key_pair(dir / "keys", "stranger");
  const CampaignSummary summary = test::dry_run(test::signed_campaign_file(dir, 6));
  CHECK(summary.reason == "budget reached");

  const auto events = decode_events(read_journal(dir / "out/journal.jsonl").events, "journal");
  REQUIRE(events.size() > 3);
  // Signed after the campaign's last event, which stays the finish.
  const auto* last = events.back().as<JournalSignedEvent>();
  REQUIRE(last);
  CHECK(events[events.size() - 2].kind() == EventKind::campaign_finished);
  CHECK(last->signed_seq == events.size() - 1);
  CHECK(last->key_fingerprint == key.public_key.fingerprint());
  // Who started it.
  const auto* started = events.front().as<CampaignStartedEvent>();
  REQUIRE(started);
  CHECK(started->os_user == os_user_name());
  CHECK(started->host.has_value());
  CHECK(started->key_name == "controller");
  CHECK(started->key_fingerprint == key.public_key.fingerprint());
  CHECK(started->config.contains("controller_key"));  // resume finds the key from the journal

  // Read as resume, status and verify read it: the same events, each signature with the chain it
  // must sign, and no other line holding a hash or its object.
  const JournalContents objects = read_journal(dir / "out/journal.jsonl");
  const JournalEvents decoded = read_journal_events(dir / "out/journal.jsonl");
  REQUIRE(decoded.events.size() == events.size());
  CHECK(decoded.last_hash == objects.last_hash);
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(decoded.events[i].body == events[i].body);
    CHECK(decoded.events[i].seq == events[i].seq);
    CHECK(decoded.events[i].raw.is_null());
    CHECK(decoded.events[i].chain_before == events[i].chain_before);
    if (events[i].kind() == EventKind::journal_signed) CHECK(decoded.events[i].chain_before == objects.events[i - 1].at("hash"));
    else CHECK(decoded.events[i].chain_before.empty());
  }

  const JournalAudit proved = audit_journal(dir / "out", key.public_key);
  INFO(test::all_problems(proved));
  CHECK(proved.intact());
  CHECK(proved.key_checked);
  CHECK(proved.signatures == 1);
  CHECK(proved.signed_through == events.size() - 1);
  REQUIRE(proved.sessions.size() == 1);
  const SessionRecord& session = proved.sessions[0];
  CHECK_FALSE(session.resumed);
  CHECK(session.os_user == os_user_name());
  CHECK(session.key_fingerprint == key.public_key.fingerprint());
  REQUIRE(session.instruments.size() == 1);
  CHECK(session.instruments[0].name == "reactor");
  CHECK_FALSE(session.instruments[0].driver.empty());
  CHECK(session.instruments[0].key_fingerprint.empty());  // no driver key configured
  CHECK(session.experiments == 6);
  CHECK(session.first_experiment.substr(session.first_experiment.size() - 5) == "-0001");
  CHECK(session.last_experiment.substr(session.last_experiment.size() - 5) == "-0006");

  // Without a key: well-formed, and who signed it is said.
  const JournalAudit plain = audit_journal(dir / "out");
  CHECK(plain.intact());
  CHECK_FALSE(plain.key_checked);
  REQUIRE(plain.signers.size() == 1);
  CHECK(plain.signers[0].fingerprint == key.public_key.fingerprint());

  const JournalAudit stranger = audit_journal(dir / "out", other.public_key);
  CHECK_FALSE(stranger.intact());
  CHECK_THAT(test::all_problems(stranger), Catch::Contains(fmt::format("line {}: signature does not match", events.size())) &&
                                        Catch::Contains("signed by another key") && Catch::Contains(key.public_key.fingerprint()));
  CHECK(stranger.signed_through == 0);

  // A key made by another ZeroMQ tool has no signing part: it cannot check anything.
  PublicKey curve_only = other.public_key;
  curve_only.sign.reset();
  CHECK_THROWS_WITH(audit_journal(dir / "out", curve_only), Catch::Contains("no signing part"));
}

TEST_CASE("Signed journals: a journal edited by hand and re-chained passes plain verify but fails verify --key", "[signing]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 6));
  const fs::path path = dir / "out/journal.jsonl";
  std::vector<std::string> lines = test::journal_lines(path);
  // A better result for the first experiment than the instrument gave, in its objective and its
  // values alike (an objective at odds with its values, verify names without the key).
  size_t edited = 0;
  for (size_t i = 0; i < lines.size() && !edited; ++i) {
    json object = json::parse(lines[i]);
    if (object["event"] != "result") continue;
    for (const std::string& field : {std::string("\"objective\":"), std::string("\"y\":")}) {
      const std::string before = field + object["objective"].dump();
      const auto at = lines[i].find(before);
      REQUIRE(at != std::string::npos);
      lines[i].replace(at, before.size(), field + "-1000.0");
    }
    edited = i + 1;
  }
  REQUIRE(edited > 0);
  test::write_rechained(path, lines);

  const JournalAudit plain = audit_journal(dir / "out");
  INFO(test::all_problems(plain));
  CHECK(plain.intact());  // the chain alone cannot tell

  const JournalAudit proved = audit_journal(dir / "out", key.public_key);
  CHECK_FALSE(proved.intact());
  CHECK_THAT(test::all_problems(proved), Catch::Contains(fmt::format("line {}: signature does not match: the journal was changed after it was signed",
                                                              lines.size())));

  // A signature line damaged by hand is malformed even without the key.
  std::vector<std::string> damaged = test::journal_lines(path);
  const std::string pk = "\"public_key\":\"";
  const auto at = damaged.back().find(pk);
  REQUIRE(at != std::string::npos);
  damaged.back().replace(at + pk.size(), 40, std::string(40, '#'));
  test::write_rechained(path, damaged);
  const JournalAudit malformed = audit_journal(dir / "out");
  CHECK_FALSE(malformed.intact());
  CHECK_THAT(test::all_problems(malformed), Catch::Contains(fmt::format("line {}: malformed signature", damaged.size())));
}

TEST_CASE("Signed journals: lines after the last signature are reported as unsigned, naming them", "[signing]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 4));
  const fs::path path = dir / "out/journal.jsonl";
  const size_t signed_lines = test::journal_lines(path).size();
  {
    Journal journal(path);  // what a writer without the key leaves (as `labloop extend` before it resumes)
    journal.append("budget_extended", {{"experiments", 5}, {"by", "ana"}});
  }
  CHECK_THAT(test::all_problems(audit_journal(path, key.public_key)),
             Catch::Contains(fmt::format("line {} is not signed (the campaign may have been killed): `labloop resume` and a stop sign them as they "
                                         "are now, so check first that nobody changed them",
                                         signed_lines + 1)));
  {
    Journal journal(path);
    journal.append("budget_extended", {{"experiments", 6}, {"by", "ana"}});
    journal.append("budget_extended", {{"experiments", 7}, {"by", "ana"}});
  }
  const JournalAudit audit = audit_journal(path, key.public_key);
  CHECK_FALSE(audit.intact());
  CHECK(audit.signed_through == signed_lines - 1);
  CHECK_THAT(test::all_problems(audit), Catch::Contains(fmt::format("lines {}–{} are not signed", signed_lines + 1, signed_lines + 3)));
  INFO(test::all_problems(audit_journal(path)));
  CHECK(audit_journal(path).intact());  // plain verify: as before
}

TEST_CASE("Signed journals: a killed campaign resumes and signs again, periodically and at the end, and replays exactly", "[signing]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  const fs::path file = test::signed_campaign_file(dir, 40);
  test::dry_run(file);
  const fs::path path = dir / "out/journal.jsonl";
  std::uint64_t first_signature = 0;
  {
    // More than 100 events: at least one signature before the end, 100 events after the start.
    const auto events = decode_events(read_journal(path).events, "journal");
    std::vector<std::uint64_t> signed_at;
    for (const auto& e : events)
      if (const auto* s = e.as<JournalSignedEvent>()) signed_at.push_back(s->signed_seq);
    REQUIRE(signed_at.size() >= 2);
    CHECK(signed_at.front() >= 100);  // at the first step of the loop after 100 unsigned events
    CHECK(signed_at.front() < 120);
    first_signature = signed_at.front() + 1;
    REQUIRE(events.size() > 140);
    CHECK(signed_at.back() == events.size() - 1);
    CHECK(audit_journal(path, key.public_key).intact());
    // A finished signed campaign is still refused by resume (its last line is a signature).
    CHECK_THROWS_WITH(test::dry_resume(dir / "out"), Catch::Contains("already finished"));
  }
  // A `kill -9` after the periodic signature: the tail after it is unsigned.
  test::keep_first_lines(path, 130);
  const JournalAudit killed = audit_journal(path, key.public_key);
  CHECK_THAT(test::all_problems(killed), Catch::Contains(fmt::format("lines {}–130 are not signed", first_signature + 1)));

  const CampaignSummary summary = test::dry_resume(dir / "out");
  CHECK(summary.reason == "budget reached");
  const JournalAudit proved = audit_journal(path, key.public_key);
  INFO(test::all_problems(proved));
  CHECK(proved.intact());
  REQUIRE(proved.sessions.size() == 2);
  CHECK(proved.sessions[1].resumed);
  CHECK(proved.sessions[1].key_fingerprint == key.public_key.fingerprint());
  CHECK(proved.sessions[0].experiments + proved.sessions[1].experiments == proved.proposed);

  // Replay skips the signatures: every proposal reproduced.
  const auto events = decode_events(read_journal(path).events, "journal");
  const CampaignConfig config = journaled_config(events, "journal", sim::catalogue());
  auto planner = make_planner(PlannerContext{config.space(), config.seed, config.planner, config.source, config.planner_goals()});
  const ReplayReport report = replay_journal(events, config, *planner);
  INFO(fmt::format("{}", fmt::join(report.differences, "\n")));
  CHECK(report.reproduced());
  CHECK(report.proposals == proved.proposed);

  // Resuming with another key in its place is refused before anything is written.
  fs::remove(dir / "keys/controller.key");
  fs::remove(dir / "keys/controller.pub");
  test::written_key_pair(dir / "keys", "controller");
  const size_t before = test::journal_lines(path).size();
  CHECK_THROWS_WITH(test::dry_resume(dir / "out"), Catch::Contains("/controller_key") && Catch::Contains("put back the key that signed it"));
  CHECK(test::journal_lines(path).size() == before);
}

TEST_CASE("Signed journals: controller_key is checked at load: missing, readable by others, unable to sign", "[signing][config]") {
  test::TempDir dir;
  const fs::path file = test::signed_campaign_file(dir, 4);
  CHECK_THROWS_WITH(load_campaign_config(file.string(), sim::catalogue()), Catch::Contains("/controller_key") && Catch::Contains("cannot be read"));

  test::written_key_pair(dir / "keys", "controller");
  CHECK_NOTHROW(load_campaign_config(file.string(), sim::catalogue()));
  ::chmod((dir / "keys/controller.key").c_str(), 0644);
  CHECK_THROWS_WITH(load_campaign_config(file.string(), sim::catalogue()),
                    Catch::Contains("/controller_key") && Catch::Contains("other users") && Catch::Contains("chmod 600"));

  // A CurveZMQ key pair made by another tool encrypts but cannot sign.
  KeyPair curve_only = generate_key_pair("curve-only");
  curve_only.public_key.sign.reset();
  curve_only.sign_seed.reset();
  write_key_pair(dir / "keys/curve-only", curve_only);
  json config = json::parse(test::read_file(file));
  config["controller_key"] = "keys/curve-only";
  test::write_file(file, config.dump());
  CHECK_THROWS_WITH(load_campaign_config(file.string(), sim::catalogue()), Catch::Contains("/controller_key") && Catch::Contains("cannot sign"));

  config["controller_key"] = "";
  test::write_file(file, config.dump());
  CHECK_THROWS_WITH(load_campaign_config(file.string(), sim::catalogue()), Catch::Contains("/controller_key"));

  // Its .pub from another pair (a copy mix-up): auditors would be told the journal was changed.
  ::chmod((dir / "keys/controller.key").c_str(), 0600);
  config["controller_key"] = "keys/controller";
  test::write_file(file, config.dump());
  CHECK_NOTHROW(load_campaign_config(file.string(), sim::catalogue()));
  test::written_key_pair(dir / "keys", "other");
  fs::copy_file(dir / "keys/other.pub", dir / "keys/controller.pub", fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH(load_campaign_config(file.string(), sim::catalogue()),
                    Catch::Contains("/controller_key") && Catch::Contains("controller.pub is not this pair's public key") &&
                        Catch::Contains("\"other\", the pair's"));
}

TEST_CASE("Signed journals: without controller_key nothing is signed, and verify --key says there is nothing to prove", "[signing]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 3, /*signed_journal=*/false));
  const auto events = decode_events(read_journal(dir / "out/journal.jsonl").events, "journal");
  for (const auto& e : events) CHECK(e.kind() != EventKind::journal_signed);
  CHECK_FALSE(events.front().as<CampaignStartedEvent>()->key_fingerprint);
  CHECK_FALSE(events.front().as<CampaignStartedEvent>()->config.contains("controller_key"));
  CHECK(audit_journal(dir / "out").intact());
  CHECK_THAT(test::all_problems(audit_journal(dir / "out", key.public_key)), Catch::Contains("no signatures"));
}

TEST_CASE("Signed journals: 0.1.0 journals audit as before, and have nothing to prove with a key", "[signing][compat]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  for (const char* name : {"finished", "interrupted", "mixed", "three", "faulty"}) {
    INFO(name);
    const JournalAudit plain = audit_journal(kFixtures / name);
    CHECK(plain.signatures == 0);
    CHECK(plain.signature_problems.empty());
    CHECK(plain.signers.empty());
    REQUIRE_FALSE(plain.sessions.empty());
    CHECK(plain.sessions[0].os_user.empty());  // not recorded then
    CHECK_THAT(test::all_problems(audit_journal(kFixtures / name, key.public_key)), Catch::Contains("no signatures"));
  }
}

TEST_CASE("Signed journals: a signature binds the campaign id, the line and its hash", "[signing]") {
  const KeyPair key = generate_key_pair("controller");
  const std::string head(64, 'a');
  const JournalSignedEvent s = sign_journal_head(key, "c0ffee", 7, head);
  const Signature signature = *signature_from_hex(s.signature);
  CHECK(signature_valid(key.public_key, journal_signature_message("c0ffee", 7, head), signature));
  CHECK_FALSE(signature_valid(key.public_key, journal_signature_message("c0ffef", 7, head), signature));  // another journal
  CHECK_FALSE(signature_valid(key.public_key, journal_signature_message("c0ffee", 8, head), signature));
  CHECK_FALSE(signature_valid(key.public_key, journal_signature_message("c0ffee", 7, std::string(64, 'b')), signature));
  CHECK(s.public_key == z85_encode(*key.public_key.sign));
  CHECK(key_fingerprint(*curve_public_of(*key.public_key.sign)) == key.public_key.fingerprint());
}

TEST_CASE("Signed journals: a campaign stopped by the operator signs its journal after campaign_finished", "[signing]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  const CampaignConfig config = load_campaign_config(test::signed_campaign_file(dir, 50).string(), sim::catalogue());
  // Ctrl-C once the campaign has started (before, while its instruments start, nothing is written):
  // the first step of the loop stops it.
  struct StopOnStart : CampaignObserver {
    std::stop_source stop;
    void on_event(const JournalEvent& event, const CampaignStatus&) override {
      if (event.kind() == EventKind::campaign_started) stop.request_stop();
    }
  } observer;
  CampaignOptions options;
  options.dry_run = true;
  options.output = (dir / "out").string();
  options.stop = observer.stop.get_token();
  CHECK(run_campaign(config, options, &observer).reason == "stopped by operator");
  const auto events = decode_events(read_journal(dir / "out/journal.jsonl").events, "journal");
  REQUIRE(events.size() >= 2);
  REQUIRE(events[events.size() - 2].as<CampaignFinishedEvent>());
  CHECK(events[events.size() - 2].as<CampaignFinishedEvent>()->reason == "stopped by operator");
  CHECK(events.back().kind() == EventKind::journal_signed);
  CHECK(audit_journal(dir / "out", key.public_key).intact());
}
