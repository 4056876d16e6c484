#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "labloop/error.hpp"
#include "labloop/journal.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::TempDir;


void write_text(const fs::path& p, const std::string& text, bool append = false) {
  std::ofstream out(p, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << text;
}

const std::string kDamaged =
    "the journal was edited or damaged; restore it from a backup or start the campaign in a new output directory";

}  // namespace

TEST_CASE("Journal: appended events round-trip with seq and time and event first", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  CHECK(journal.path() == p);
  CHECK(journal.last_seq() == 0);

  const json first = journal.append("campaign_started", {{"campaign", "quickstart"}, {"dry_run", false}});
  const json second = journal.append("proposed", {{"experiment", "quickstart-0001"}, {"params", {{"x1", 1.5}}}});
  const json third = journal.append("campaign_finished");
  CHECK(journal.last_seq() == 3);

  CHECK(first["seq"] == 1);
  CHECK(first["event"] == "campaign_started");
  CHECK(first["campaign"] == "quickstart");
  CHECK(second["seq"] == 2);
  CHECK(second["params"]["x1"] == 1.5);
  CHECK(third["seq"] == 3);
  CHECK(third.size() == 3);
  const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (const json& e : {first, second, third}) CHECK(std::regex_match(e["time"].get<std::string>(), iso));

  // On disk: one line per event, keys in the order seq, time, event, then the fields.
  const std::string text = test::read_file(p);
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    const std::regex prefix("^\\{\"seq\":" + std::to_string(n) + ",\"time\":\"[^\"]+\",\"event\":\"[a-z_]+\"[,}].*");
    CHECK(std::regex_match(line, prefix));
  }
  CHECK(n == 3);
  CHECK(text.back() == '\n');

  const JournalContents contents = read_journal(p);
  CHECK_FALSE(contents.torn_tail);
  REQUIRE(contents.events.size() == 3);
  CHECK(contents.events[0] == first);
  CHECK(contents.events[1] == second);
  CHECK(contents.events[2] == third);
}

TEST_CASE("Journal: reopening continues the numbering after the last event", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  {
    Journal journal(p);
    journal.append("a");
    journal.append("b");
  }
  Journal journal(p);
  CHECK(journal.last_seq() == 2);
  CHECK(journal.append("c")["seq"] == 3);
  const JournalContents contents = read_journal(p);
  REQUIRE(contents.events.size() == 3);
  CHECK(contents.events[2]["event"] == "c");
}

TEST_CASE("Journal: an empty file is a journal without events", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  write_text(p, "");
  CHECK(read_journal(p).events.empty());
  Journal journal(p);
  CHECK(journal.last_seq() == 0);
  CHECK(journal.append("a")["seq"] == 1);
}

TEST_CASE("Journal: a torn last line is reported by read_journal and truncated by reopening", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  {
    Journal journal(p);
    journal.append("a", {{"k", 1}});
    journal.append("b", {{"k", 2}});
  }
  const std::string intact = test::read_file(p);

  SECTION("a line cut short") { write_text(p, R"({"seq":3,"time":"2026-11-25T08:30:00.123Z","ev)", true); }
  SECTION("a complete object whose newline never reached the disk") {
    write_text(p, R"({"seq":3,"time":"2026-11-25T08:30:00.123Z","event":"c"})", true);
  }
  SECTION("garbage ending in a newline") { write_text(p, std::string("\0\0\0\0\n", 5), true); }

  const JournalContents contents = read_journal(p);
  CHECK(contents.torn_tail);
  CHECK(contents.torn_tail_message == p.string() + ": line 3 is incomplete (torn write); ignored");
  REQUIRE(contents.events.size() == 2);
  CHECK(contents.events[1]["event"] == "b");

  Journal journal(p);
  CHECK(journal.last_seq() == 2);
  CHECK(test::read_file(p) == intact);
  CHECK(journal.append("c")["seq"] == 3);
  const JournalContents after = read_journal(p);
  CHECK_FALSE(after.torn_tail);
  CHECK(after.events.size() == 3);
}

TEST_CASE("Journal: a broken line before the last one throws naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  write_text(p,
             "{\"seq\":1,\"time\":\"t\",\"event\":\"a\"}\n"
             "{\"seq\":2,\"time\":\"t\",\"eve\n"
             "{\"seq\":3,\"time\":\"t\",\"event\":\"c\"}\n");
  const std::string expected = p.string() + ": line 2 is not valid JSON; " + kDamaged;
  REQUIRE_THROWS_MATCHES(read_journal(p), JournalError, Catch::Matchers::Message(expected));
  // Appending after damage would bury it, so opening for writing refuses too.
  REQUIRE_THROWS_MATCHES(Journal(p), JournalError, Catch::Matchers::Message(expected));
}

TEST_CASE("Journal: a gap in seq throws naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  write_text(p,
             "{\"seq\":1,\"time\":\"t\",\"event\":\"a\"}\n"
             "{\"seq\":2,\"time\":\"t\",\"event\":\"b\"}\n"
             "{\"seq\":4,\"time\":\"t\",\"event\":\"d\"}\n");
  REQUIRE_THROWS_MATCHES(
      read_journal(p), JournalError,
      Catch::Matchers::Message(p.string() +
                               ": line 3 has seq 4 but 3 was expected (events are missing or out of order); " +
                               kDamaged));
}

TEST_CASE("Journal: lines that are not events throw naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  const std::string good = "{\"seq\":1,\"time\":\"t\",\"event\":\"a\"}\n";
  std::string bad, reason;
  SECTION("not an object") { bad = "[1,2]\n", reason = "is not a JSON object"; }
  SECTION("no seq") { bad = "{\"time\":\"t\",\"event\":\"b\"}\n", reason = "has no positive integer \"seq\""; }
  SECTION("seq not a number") { bad = "{\"seq\":\"2\",\"event\":\"b\"}\n", reason = "has no positive integer \"seq\""; }
  SECTION("no event") { bad = "{\"seq\":2,\"time\":\"t\"}\n", reason = "has no string \"event\""; }
  SECTION("first seq is not 1") {
    write_text(p, "{\"seq\":2,\"time\":\"t\",\"event\":\"a\"}\n");
    REQUIRE_THROWS_MATCHES(read_journal(p), JournalError,
                           Catch::Matchers::Message(p.string() + ": line 1 has seq 2 but 1 was expected (events are "
                                                                 "missing or out of order); " +
                                                    kDamaged));
    return;
  }
  write_text(p, good + bad);
  REQUIRE_THROWS_MATCHES(read_journal(p), JournalError,
                         Catch::Matchers::Message(p.string() + ": line 2 " + reason + "; " + kDamaged));
}

TEST_CASE("Journal: a path in a missing directory throws JournalError with the path and reason", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "no-such-dir" / "journal.jsonl";
  REQUIRE_THROWS_AS(Journal(p), JournalError);
  try {
    Journal journal(p);
  } catch (const JournalError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Matchers::Contains(p.string()));
    CHECK_THAT(message, Catch::Matchers::Contains("No such file or directory"));
  }
  CHECK_FALSE(fs::exists(p.parent_path()));  // the directory is not created
  REQUIRE_THROWS_AS(read_journal(p), JournalError);
}

TEST_CASE("Journal: a directory where the file should be throws JournalError", "[journal]") {
  TempDir dir;
  REQUIRE_THROWS_AS(Journal(dir.path()), JournalError);
}

TEST_CASE("Journal: a second writer on the same file is refused", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  journal.append("a");
  REQUIRE_THROWS_MATCHES(Journal(p), JournalError,
                         Catch::Matchers::Message(p.string() +
                                                  ": the journal is already open in another labloop run; stop that "
                                                  "run first, or choose another output directory"));
  CHECK(journal.append("b")["seq"] == 2);
}

TEST_CASE("Journal: a moved journal keeps appending and the moved-from one refuses", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal a(p);
  a.append("x");
  Journal b(std::move(a));
  CHECK(b.append("y")["seq"] == 2);
  CHECK(b.last_seq() == 2);
  REQUIRE_THROWS_AS(a.append("z"), JournalError);  // NOLINT(bugprone-use-after-move): checked on purpose

  Journal c(dir.path() / "other.jsonl");
  c = std::move(b);
  CHECK(c.path() == p);
  CHECK(c.append("z")["seq"] == 3);
  CHECK(read_journal(p).events.size() == 3);
}

TEST_CASE("Journal: fields may not override seq or time or event", "[journal]") {
  TempDir dir;
  Journal journal(dir.path() / "journal.jsonl");
  CHECK_THROWS_AS(journal.append("a", {{"seq", 7}}), std::invalid_argument);
  CHECK_THROWS_AS(journal.append("a", {{"event", "b"}}), std::invalid_argument);
  CHECK_THROWS_AS(journal.append("a", json::array()), std::invalid_argument);
  CHECK(journal.last_seq() == 0);
  CHECK(journal.append("a")["seq"] == 1);
}

TEST_CASE("Journal: invalid UTF-8 in a field is replaced rather than losing the event", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  const json e = journal.append("failed", {{"error", std::string("bad \xff byte")}});
  CHECK(e["error"] == "bad \xEF\xBF\xBD byte");
  CHECK(read_journal(p).events.size() == 1);
}
