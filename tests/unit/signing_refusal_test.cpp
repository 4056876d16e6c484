// Signed journals after an audit (helper-B): whatever appends a signature (resume, extend, `enter
// --correct`) first checks every signature already there with the controller's key, and the key
// the sessions recorded, so an edited journal is never signed again (which would prove the edit);
// verify --key checks each signature line's own signer fields and the sessions' keys, and never
// advises signing a journal whose signatures fail. Dry runs, in-process.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <sstream>

#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"
#include "catalogue.hpp"
#include "journal_edit.hpp"
#include "signed_campaign.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace signing_refusal {

// The first result's objective made better than the instrument's, and the chain recomputed.
void forge_first_result(const fs::path& path) {
  std::vector<std::string> lines = test::journal_lines(path);
  for (std::string& line : lines) {
    const json object = json::parse(line);
    if (object["event"] != "result") continue;
    for (const std::string& field : {std::string("\"objective\":"), std::string("\"y\":")}) {
      const std::string before = field + object["objective"].dump();
      const auto at = line.find(before);
      REQUIRE(at != std::string::npos);
      line.replace(at, before.size(), field + "-1000.0");
    }
    break;
  }
  test::write_rechained(path, lines);
}

// The lines before the journal's first signature (a kill before it was written).
void cut_before_first_signature(const fs::path& path) {
  const std::vector<std::string> lines = test::journal_lines(path);
  size_t keep = 0;
  while (keep < lines.size() && json::parse(lines[keep])["event"] != "journal_signed") ++keep;
  REQUIRE(keep < lines.size());
  // Without its campaign_finished too, so that resume goes on.
  if (json::parse(lines[keep - 1])["event"] == "campaign_finished") --keep;
  test::keep_first_lines(path, keep);
}

}  // namespace signing_refusal

using namespace signing_refusal;

TEST_CASE("Signing refusal: resume does not sign a journal edited and re-chained after it was signed", "[signing][resume]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 4, true, "refusal", 5));
  const fs::path path = dir / "out/journal.jsonl";
  forge_first_result(path);
  {
    Journal journal(path);  // what `labloop extend` writes before it resumes
    journal.append("budget_extended", {{"experiments", 6}, {"by", "ana"}});
  }
  const size_t before = test::journal_lines(path).size();
  CHECK_THROWS_WITH(test::dry_resume(dir / "out"), Catch::Contains(fmt::format("line {}: signature does not match", before - 1)) &&
                                                 Catch::Contains("the journal was changed after it was signed") &&
                                                 Catch::Contains("so nothing was written"));
  CHECK(test::journal_lines(path).size() == before);
  CHECK_FALSE(audit_journal(path, key.public_key).intact());

  // What refuses it: every signature checked with the key, whatever the last one says.
  const auto events = decode_events(read_journal(path).events, "journal");
  CHECK_THAT(first_failing_signature(events, key.public_key), Catch::StartsWith(fmt::format("line {}: ", before - 1)));
  const CampaignConfig config = journaled_config(events, "journal", sim::catalogue());
  CHECK_THROWS_WITH(refuse_another_signing_key(config, events, key), Catch::Contains("signing it again would prove the change"));
}

TEST_CASE("Signing refusal: verify never advises signing again a journal whose signature fails", "[signing][verify]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 4, true, "refusal", 5));
  const fs::path path = dir / "out/journal.jsonl";
  forge_first_result(path);
  const std::string problems = test::all_problems(audit_journal(path, key.public_key));
  CHECK_THAT(problems, Catch::Contains("signature does not match"));
  CHECK_THAT(problems, Catch::Contains("not proved by a valid signature") && Catch::Contains("do not resume"));
  CHECK_THAT(problems, !Catch::Contains("resume it and stop it to sign") && !Catch::Contains("`labloop resume` and a stop sign"));

  // A finished campaign whose one signature was removed: nothing signs it now.
  test::TempDir second;
  const KeyPair key2 = test::written_key_pair(second / "keys", "controller");
  test::dry_run(test::signed_campaign_file(second, 4, true, "refusal", 5));
  const fs::path journal2 = second / "out/journal.jsonl";
  test::keep_first_lines(journal2, test::journal_lines(journal2).size() - 1);
  const std::string removed = test::all_problems(audit_journal(journal2, key2.public_key));
  CHECK_THAT(removed, Catch::Contains("signature was removed"));
  CHECK_THAT(removed, !Catch::Contains("`labloop resume` signs it"));
  CHECK_THAT(removed, Catch::Contains("the campaign finished here") && Catch::Contains("no signature follows"));
  // It is not refused: a controller stopped between the finish and its signature leaves the same
  // journal, and lines after the last periodic signature are an unsigned tail either way.
  const auto events = decode_events(read_journal(journal2).events, "journal");
  CHECK(first_failing_signature(events, key2.public_key).empty());
}

TEST_CASE("Signing refusal: resume refuses another controller key than the one the sessions recorded, before any signature",
          "[signing][resume]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 4, true, "refusal", 5));
  const fs::path path = dir / "out/journal.jsonl";
  cut_before_first_signature(path);
  // Another pair in the controller key's place.
  fs::remove(dir / "keys/controller.key");
  fs::remove(dir / "keys/controller.pub");
  const KeyPair other = test::written_key_pair(dir / "keys", "controller");
  const size_t before = test::journal_lines(path).size();
  CHECK_THROWS_WITH(test::dry_resume(dir / "out"), Catch::Contains("/controller_key") &&
                                                 Catch::Contains("records that the campaign started with key") &&
                                                 Catch::Contains(key.public_key.fingerprint()) && Catch::Contains("put back the key"));
  CHECK(test::journal_lines(path).size() == before);

  // Signed by the other key all the same (by hand): verify --key with it names the session.
  {
    Journal journal(path);
    const JournalSignedEvent s = sign_journal_head(other, decode_events(read_journal(path).events, "j").front().as<CampaignStartedEvent>()->campaign_id.value_or(""),
                                                   journal.last_seq(), journal.last_hash());
    journal.append("journal_signed", encode_fields(s));
  }
  const JournalAudit audit = audit_journal(path, other.public_key);
  CHECK_FALSE(audit.intact());
  CHECK_THAT(test::all_problems(audit), Catch::Contains("line 1: session 1 (the start) ran with controller key") &&
                                      Catch::Contains(key.public_key.fingerprint()) && Catch::Contains("not the key given"));
  // With the key it ran with, only the signature fails.
  CHECK_THAT(test::all_problems(audit_journal(path, key.public_key)), !Catch::Contains("session 1"));
}

TEST_CASE("Signing refusal: verify --key checks the signer a signature line names, which the signature does not cover",
          "[signing][verify]") {
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  const KeyPair stranger = generate_key_pair("stranger");
  test::dry_run(test::signed_campaign_file(dir, 4, true, "refusal", 5));
  const fs::path path = dir / "out/journal.jsonl";
  REQUIRE(audit_journal(path, key.public_key).intact());
  // The last signature line names another signer, its signature left as it was.
  std::vector<std::string> lines = test::journal_lines(path);
  json last = json::parse(lines.back());
  REQUIRE(last["event"] == "journal_signed");
  const auto replace = [&](const std::string& field, const std::string& value) {
    const std::string before = fmt::format("\"{}\":{}", field, last[field].dump());
    const auto at = lines.back().find(before);
    REQUIRE(at != std::string::npos);
    lines.back().replace(at, before.size(), fmt::format("\"{}\":{}", field, json(value).dump()));
  };
  replace("public_key", z85_encode(*stranger.public_key.sign));
  replace("key_fingerprint", stranger.public_key.fingerprint());
  replace("key_name", "stranger");
  test::write_rechained(path, lines);
  const JournalAudit audit = audit_journal(path, key.public_key);
  CHECK_FALSE(audit.intact());
  CHECK_THAT(test::all_problems(audit), Catch::Contains(fmt::format("line {}: the signature is key \"controller\"", lines.size())) &&
                                      Catch::Contains("names another signer (\"stranger\""));
  // And nothing signs over it.
  const auto events = decode_events(read_journal(path).events, "journal");
  CHECK_THAT(first_failing_signature(events, key.public_key), Catch::Contains("names another signer"));
}

TEST_CASE("Signing refusal: resume refuses a controller key that cannot sign, or whose .pub is another pair's, as run does, writing nothing",
          "[signing][resume]") {
  test::TempDir dir;
  (void)test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 4, true, "refusal", 5));
  const fs::path path = dir / "out/journal.jsonl";
  cut_before_first_signature(path);
  const size_t before = test::journal_lines(path).size();
  std::string secret;
  {
    // One character of its signing seed changed: the pair still reads, but its signatures fail.
    secret = test::damage_signing_seed(dir / "keys/controller.key");
    CHECK_THROWS_WITH(test::dry_resume(dir / "out"), Catch::Contains("/controller_key") && Catch::Contains("is damaged: its signing seed"));
    CHECK(test::journal_lines(path).size() == before);
  }
  {
    // The pair intact, its .pub another pair's: auditors would be told the journal was changed.
    test::write_key_text(dir / "keys/controller.key", secret);
    fs::create_directories(dir / "other");
    write_key_pair(dir / "other/controller", generate_key_pair("controller"));
    fs::copy_file(dir / "other/controller.pub", dir / "keys/controller.pub", fs::copy_options::overwrite_existing);
    CHECK_THROWS_WITH(test::dry_resume(dir / "out"), Catch::Contains("/controller_key") && Catch::Contains("is not this pair's public key"));
    CHECK(test::journal_lines(path).size() == before);
  }
}

TEST_CASE("Signing refusal: a finish whose signature was lost is proved by a later signature, an extension's", "[signing][verify]") {
  // A crash between campaign_finished and its signature, then `labloop extend`: the extension's
  // signatures sign the chain through every line before them. verify said "nothing proves the
  // lines before it" for good (a red-team report).
  test::TempDir dir;
  const KeyPair key = test::written_key_pair(dir / "keys", "controller");
  test::dry_run(test::signed_campaign_file(dir, 4, true, "refusal", 5));
  const fs::path path = dir / "out/journal.jsonl";
  test::keep_first_lines(path, test::journal_lines(path).size() - 1);
  CHECK_THAT(test::all_problems(audit_journal(path, key.public_key)), Catch::Contains("no signature follows"));
  {
    Journal journal(path);  // what `labloop extend` writes before it resumes
    journal.append("budget_extended", {{"experiments", 6}, {"by", "ana"}});
  }
  test::dry_resume(dir / "out");
  const JournalAudit audit = audit_journal(path, key.public_key);
  INFO(test::all_problems(audit));
  CHECK(audit.intact());
}
