// `labloop verify --key` as an auditor runs it: the real program, its output and exit status.
// (The audit itself is unit-tested in tests/unit/signed_journal_test.cpp.)
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "cli_process.hpp"
#include "labloop/core/key_file.hpp"
#include "journal_edit.hpp"
#include "labloop/journal/signing.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

// The quick start, four experiments as a dry run, signed by keys/controller: its output folder.
std::string signed_quickstart(const test::TempDir& dir) {
  json file = json::parse(test::read_file(std::filesystem::path(LABLOOP_SOURCE_DIR) / "examples/quickstart.json"), nullptr, true, true);
  file["controller_key"] = "keys/controller";
  file["budget"]["experiments"] = 4;
  test::write_file(dir / "campaign.json", file.dump());
  const auto out = (dir / "out").string();
  REQUIRE(test::cli({"run", (dir / "campaign.json").string(), "--dry-run", "--output", out}, dir).status == 0);
  return out;
}

}  // namespace

TEST_CASE("CLI: verify --key proves a signed journal, shows who ran what, and exits 1 for another key", "[cli][signing]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "keys");
  const KeyPair key = generate_key_pair("controller");
  write_key_pair(dir / "keys/controller", key);
  write_key_pair(dir / "keys/stranger", generate_key_pair("stranger"));
  const auto out = signed_quickstart(dir);

  const test::CliOutcome proved = test::cli({"verify", out, "--key", (dir / "keys/controller.pub").string()}, dir);
  INFO(proved.output);
  CHECK(proved.status == 0);
  CHECK_THAT(proved.output, Catch::Contains("who ran what:") && Catch::Contains("session 1: started") &&
                                Catch::Contains(fmt::format("controller key \"controller\" {}", key.public_key.fingerprint())) &&
                                Catch::Contains("experiments: 4 proposed") && Catch::Contains("verify: ok"));

  const test::CliOutcome plain = test::cli({"verify", out}, dir);
  CHECK(plain.status == 0);
  CHECK_THAT(plain.output, Catch::Contains(fmt::format("signed by {}", key.public_key.fingerprint())) &&
                               Catch::Contains("(use --key to prove it)"));

  const test::CliOutcome stranger = test::cli({"verify", out, "--key", (dir / "keys/stranger").string()}, dir);
  CHECK(stranger.status == 1);
  CHECK_THAT(stranger.output, Catch::Contains("signature does not match") && Catch::Contains("verify: FAILED"));
}

TEST_CASE("CLI: verify shows a signer's name with escape sequences as text, and replay fails an edited signed journal",
          "[cli][signing]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "keys");
  const KeyPair key = generate_key_pair("controller");
  write_key_pair(dir / "keys/controller", key);
  const auto out = signed_quickstart(dir);
  const std::filesystem::path journal = dir / "out/journal.jsonl";
  REQUIRE(test::cli({"replay", out}, dir).status == 0);

  // A first result made better, re-chained: replay reproduces the proposals, but says the signature fails.
  std::vector<std::string> lines = test::journal_lines(journal);
  for (std::string& line : lines) {
    const json object = json::parse(line);
    if (object["event"] != "result") continue;
    const std::string before = "\"objective\":" + object["objective"].dump();
    const auto at = line.find(before);
    REQUIRE(at != std::string::npos);
    line.replace(at, before.size(), "\"objective\":-1000.0");
    break;
  }
  test::write_rechained(journal, lines);
  const test::CliOutcome replayed = test::cli({"replay", out}, dir);
  INFO(replayed.output);
  CHECK(replayed.status == 1);
  CHECK_THAT(replayed.output, Catch::Contains("signature does not match") && Catch::Contains("replay: FAILED"));

  // The last signature's key name carries an escape sequence (clear the screen).
  lines = test::journal_lines(journal);
  const std::string name = "\"key_name\":\"controller\"";
  const auto at = lines.back().find(name);
  REQUIRE(at != std::string::npos);
  lines.back().replace(at, name.size(), "\"key_name\":\"ctl\\u001b[2J\"");
  test::write_rechained(journal, lines);
  const test::CliOutcome plain = test::cli({"verify", out}, dir);
  INFO(plain.output);
  CHECK(plain.output.find('\x1b') == std::string::npos);
  CHECK_THAT(plain.output, Catch::Contains("ctl\\x1b[2J"));
  const test::CliOutcome keyed = test::cli({"verify", out, "--key", (dir / "keys/controller.pub").string()}, dir);
  INFO(keyed.output);
  CHECK(keyed.status == 1);
  CHECK(keyed.output.find('\x1b') == std::string::npos);
}
