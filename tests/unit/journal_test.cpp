#include <catch2/catch.hpp>
#include <csignal>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "labloop/core/append_file.hpp"
#include "labloop/journal/audit.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include "test_support.hpp"

#include <filesystem>
#include <memory>
#include <thread>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/campaign/manual_entry.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::TempDir;


void write_text(const fs::path& p, const std::string& text, bool append = false) {
  std::ofstream out(p, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << text;
}

// Journal lines as Journal writes them: each JSON object text gets its chained "hash".
std::string sealed(const std::vector<std::string>& objects) {
  std::string text, previous = journal_genesis_hash();
  for (const std::string& object : objects) {
    const std::string body = object.substr(0, object.size() - 1);
    previous = journal_hash(previous, body);
    text += body + ",\"hash\":\"" + previous + "\"}\n";
  }
  return text;
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
  CHECK(third.size() == 4);  // seq, time, event and hash
  const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (const json& e : {first, second, third}) CHECK(std::regex_match(e["time"].get<std::string>(), iso));

  // On disk: one line per event, keys in the order seq, time, event, then the fields, then hash.
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
  SECTION("garbage without a newline") { write_text(p, std::string("\0\0\0\0", 4), true); }

  const JournalContents contents = read_journal(p);
  CHECK(contents.torn_tail);
  CHECK(contents.torn_tail_message == p.string() + ": line 3 is incomplete (torn write); ignored");
  CHECK_FALSE(contents.torn_tail_overlong);
  REQUIRE(contents.events.size() == 2);
  CHECK(contents.events[1]["event"] == "b");

  Journal journal(p);
  CHECK(journal.last_seq() == 2);
  CHECK(test::read_file(p) == intact);
  // What it cut, for the command to say (extend and enter --correct were silent about it).
  CHECK(journal.removed_torn_tail() == contents.torn_tail_message);
  CHECK(Journal(std::move(journal)).removed_torn_tail() == contents.torn_tail_message);
  Journal again(p);
  CHECK(again.removed_torn_tail().empty());
  CHECK(again.append("c")["seq"] == 3);
  const JournalContents after = read_journal(p);
  CHECK_FALSE(after.torn_tail);
  CHECK(after.events.size() == 3);
}

TEST_CASE("Journal: a broken line before the last one throws naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  write_text(p, sealed({R"({"seq":1,"time":"t","event":"a"})"}) + "{\"seq\":2,\"time\":\"t\",\"eve\n" +
                    sealed({R"({"seq":3,"time":"t","event":"c"})"}));
  const std::string expected = p.string() + ": line 2 is not valid JSON; " + kDamaged;
  REQUIRE_THROWS_MATCHES(read_journal(p), JournalError, Catch::Matchers::Message(expected));
  REQUIRE_THROWS_MATCHES(read_journal_events(p), JournalError, Catch::Matchers::Message(expected));
  // Appending after damage would bury it, so opening for writing refuses too.
  REQUIRE_THROWS_MATCHES(Journal(p), JournalError, Catch::Matchers::Message(expected));
}

TEST_CASE("Journal: read decoded, an event that does not decode is named once the chain holds, and a broken chain after it first",
          "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  const std::string started = R"({"seq":1,"time":"2026-11-25T08:30:00.123Z","event":"campaign_started","campaign":"c"})";
  const std::string bad_result = R"({"seq":2,"time":"2026-11-25T08:30:01.123Z","event":"result","experiment":7})";
  write_text(p, sealed({started, bad_result}));
  std::string undecodable;
  try {
    (void)decode_events(read_journal(p).events, p.string());
  } catch (const JournalError& e) {
    undecodable = e.what();
  }
  REQUIRE_THAT(undecodable, Catch::Matchers::Contains("line 2"));
  REQUIRE_THROWS_MATCHES(read_journal_events(p), JournalError, Catch::Matchers::Message(undecodable));
  // A line further on that breaks the chain is the graver news, as it is for read_journal.
  write_text(p, "{\"seq\":3,\"time\":\"t\",\"eve\n", /*append=*/true);
  write_text(p, sealed({R"({"seq":4,"time":"2026-11-25T08:30:02.123Z","event":"planner_note","text":"x"})"}), /*append=*/true);
  const std::string broken = p.string() + ": line 3 is not valid JSON; " + kDamaged;
  REQUIRE_THROWS_MATCHES(read_journal_events(p), JournalError, Catch::Matchers::Message(broken));
}

TEST_CASE("Journal: a damaged complete last line is corruption, not a torn write, and is never cut away", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  const std::string one = sealed({R"({"seq":1,"time":"t","event":"a"})"});
  const std::string two = sealed({R"({"seq":1,"time":"t","event":"a"})", R"({"seq":2,"time":"t","event":"b"})"});
  std::string text, reason;
  SECTION("garbage ending in a newline") {
    text = one + std::string("\0\0\0\0\n", 5);
    reason = "is not valid JSON";
  }
  SECTION("a cut line ending in a newline") {
    text = two.substr(0, two.size() - 20) + "\n";
    reason = "is not valid JSON";
  }
  SECTION("one byte changed") {
    text = two;
    text[text.rfind("\"b\"") + 1] = 'c';
    reason = "does not match its hash chain";
  }
  write_text(p, text);
  const std::string expected = p.string() + ": line 2 " + reason;
  REQUIRE_THROWS_AS(read_journal(p), JournalError);
  REQUIRE_THROWS_WITH(read_journal(p), Catch::Matchers::StartsWith(expected));
  REQUIRE_THROWS_AS(Journal(p), JournalError);
  REQUIRE_THROWS_WITH(Journal(p), Catch::Matchers::StartsWith(expected));
  CHECK(test::read_file(p) == text);
}

TEST_CASE("Journal: a correctly chained line nested 100,000 deep throws naming the line instead of crashing", "[journal]") {
  STATIC_REQUIRE(kMaxJournalLineDepth == 128);
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  const auto meta = [](std::size_t arrays) { return std::string(arrays, '[') + std::string(arrays, ']'); };
  const std::string first = R"({"seq":1,"time":"t","event":"a"})";
  const std::string deep = R"({"seq":2,"time":"t","event":"result","experiment":"e","meta":{"m":)" + meta(100000) + "}}";
  const std::string after = R"({"seq":3,"time":"t","event":"c"})";
  const std::string message = ": line 2 nests arrays/objects deeper than 128 levels";
  SECTION("in the middle") { write_text(p, sealed({first, deep, after})); }
  SECTION("as the last line") { write_text(p, sealed({first, deep})); }
  REQUIRE_THROWS_AS(read_journal(p), JournalError);
  REQUIRE_THROWS_WITH(read_journal(p), Catch::Matchers::StartsWith(p.string() + message));
  REQUIRE_THROWS_AS(Journal(p), JournalError);
  REQUIRE_THROWS_WITH(Journal(p), Catch::Matchers::StartsWith(p.string() + message));
  REQUIRE_THROWS_AS(parse_journal(test::read_file(p), "j"), JournalError);
  REQUIRE_THROWS_WITH(parse_journal(test::read_file(p), "j"), Catch::Matchers::StartsWith("j" + message));
}

TEST_CASE("Journal: a line exactly at the nesting limit is read", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  // The event object is level 1 and meta level 2: 126 arrays make 128 levels.
  const auto line = [](std::size_t arrays) {
    return R"({"seq":1,"time":"t","event":"result","meta":{"m":)" + std::string(arrays, '[') + std::string(arrays, ']') + "}}";
  };
  write_text(p, sealed({line(kMaxJournalLineDepth - 2)}));
  CHECK(read_journal(p).events.size() == 1);
  write_text(p, sealed({line(kMaxJournalLineDepth - 1)}));
  CHECK_THROWS_AS(read_journal(p), JournalError);
}

TEST_CASE("Journal: append refuses fields no reader would accept", "[journal]") {
  TempDir dir;
  Journal journal(dir.path() / "journal.jsonl");
  json deep = json::array();
  for (std::size_t i = 0; i < kMaxJournalLineDepth; ++i) deep = json::array({deep});
  CHECK_THROWS_AS(journal.append("result", {{"meta", deep}}), labloop::JournalError);
  CHECK(journal.append("a")["seq"] == 1);
}

TEST_CASE("Journal: a gap in seq throws naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  write_text(p, sealed({R"({"seq":1,"time":"t","event":"a"})", R"({"seq":2,"time":"t","event":"b"})",
                        R"({"seq":4,"time":"t","event":"d"})"}));
  REQUIRE_THROWS_MATCHES(
      read_journal(p), JournalError,
      Catch::Matchers::Message(p.string() +
                               ": line 3 has seq 4 but 3 was expected (events are missing or out of order); " +
                               kDamaged));
}

TEST_CASE("Journal: lines that are not events throw naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  const std::string good = sealed({R"({"seq":1,"time":"t","event":"a"})"});
  std::string bad, reason;
  SECTION("not an object") { bad = "[1,2]\n", reason = "is not a JSON object"; }
  SECTION("no seq") { bad = "{\"time\":\"t\",\"event\":\"b\"}\n", reason = "has no positive integer \"seq\""; }
  SECTION("seq not a number") { bad = "{\"seq\":\"2\",\"event\":\"b\"}\n", reason = "has no positive integer \"seq\""; }
  SECTION("no event") { bad = "{\"seq\":2,\"time\":\"t\"}\n", reason = "has no string \"event\""; }
  SECTION("first seq is not 1") {
    write_text(p, sealed({R"({"seq":2,"time":"t","event":"a"})"}));
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
                                                  "run first (a new campaign may also take another output directory)"));
  CHECK(journal.append("b")["seq"] == 2);
}

TEST_CASE("Journal: a reader's brief shared lock (status, the console) does not make a run think the journal is taken", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  { Journal(p).append("a"); }
  // As campaign_running() does, held for 50 ms instead of microseconds, on the lock file beside it.
  const int reader = ::open(journal_lock_path(p).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(reader >= 0);
  REQUIRE(::flock(reader, LOCK_SH | LOCK_NB) == 0);
  std::thread release([reader] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::flock(reader, LOCK_UN);
    ::close(reader);
  });
  CHECK_NOTHROW(Journal(p).append("b"));
  release.join();
}

TEST_CASE("Journal: a journal replaced while it is written stops its writer, whose events are saved beside it, and the lock holds", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  journal.append("a");
  journal.append("b");
  const std::string written = test::read_file(p);
  // An editor saving it: a copy written elsewhere and renamed over it.
  test::write_file(dir.path() / "j.tmp", written);
  fs::rename(dir.path() / "j.tmp", p);
  // The lock beside the journal still holds: no second controller takes it.
  REQUIRE_THROWS_WITH(Journal(p), Catch::Contains("already open in another labloop run"));
  CHECK(labloop::campaign_running(p));
  const std::string refusal = test::message_of([&] { journal.append("c"); });
  CHECK_THAT(refusal, Catch::Contains("this is no longer the journal this campaign writes: it was replaced by another file") &&
                          Catch::Contains("What it wrote (2 events) is saved as " + p.string() + ".displaced-1"));
  CHECK(test::read_file(p.string() + ".displaced-1") == written);
  CHECK_THROWS_AS(journal.append("d"), JournalError);  // and stays stopped
}

TEST_CASE("Journal: a journal deleted while it is written is saved beside it, and reading the folder then names the copy", "[journal]") {
  // status, verify and resume said only "no such journal" of a folder whose journal.jsonl.displaced-1
  // held every event (a red-team report).
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  journal.append("a");
  fs::remove(p);
  CHECK_THROWS_AS(journal.append("b"), JournalError);
  REQUIRE(fs::exists(p.string() + ".displaced-1"));
  CHECK_THROWS_WITH(read_journal(p), p.string() + ": no such journal, but " + p.string() + ".displaced-1 is what a run of this campaign had "
                                         "written when its journal was deleted or renamed while it ran: put it back as journal.jsonl (or the "
                                         "renamed file, if that is the right one)");
  fs::rename(p.string() + ".displaced-1", p);
  CHECK(read_journal(p).events.size() == 1);
}

TEST_CASE("Journal: a journal renamed within its folder while it is written stops its writer, saying to rename it back", "[journal]") {
  // It said to resume "the folder where it is now": the same folder, which had no journal.jsonl.
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  journal.append("a");
  fs::rename(p, dir.path() / "journal.old");
  CHECK_THROWS_WITH(journal.append("b"), p.string() + ": the journal is no longer there: it was renamed to journal.old while the campaign "
                                                      "ran. This controller stops; rename it back to journal.jsonl, then `labloop resume` "
                                                      "continues the campaign");
  CHECK(read_journal(dir.path() / "journal.old").events.size() == 1);
}

TEST_CASE("Journal: a journal whose folder is moved while it is written stops its writer, naming where it went", "[journal]") {
  TempDir dir;
  fs::create_directory(dir.path() / "run");
  Journal journal(dir.path() / "run" / "journal.jsonl");
  journal.append("a");
  fs::rename(dir.path() / "run", dir.path() / "moved");
  CHECK_THAT(test::message_of([&] { journal.append("b"); }),
             Catch::Contains("the journal is no longer there: it (or its folder) was moved to " + (dir.path() / "moved" / "journal.jsonl").string()));
  CHECK(read_journal(dir.path() / "moved" / "journal.jsonl").events.size() == 1);
}

TEST_CASE("Journal: a journal cut short by another program stops its writer", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  journal.append("a");
  fs::resize_file(p, 0);  // logrotate's copytruncate
  CHECK_THAT(test::message_of([&] { journal.append("b"); }), Catch::Contains("another program cut the journal short"));
  CHECK(fs::file_size(p) == 0);
}

TEST_CASE("Journal: bytes another program appends while it is written are kept aside and cut off, and its writer stops", "[journal]") {
  // `echo … >> journal.jsonl` during a run: the controller went on appending after them, the run
  // ended "budget reached", and verify, replay and resume then stopped at that line (red team).
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  Journal journal(p);
  journal.append("a");
  const std::string written = test::read_file(p);
  { std::ofstream(p, std::ios::app) << "a note\n" << std::string(3, '\0'); }
  CHECK_THAT(test::message_of([&] { journal.append("b"); }),
             Catch::Contains("another program wrote 10 bytes to the end of the journal while the campaign ran: this controller stops. They are saved as " +
                             p.string() + ".foreign-1. They are cut off") &&
                 Catch::Contains("`labloop resume` continues the campaign"));
  CHECK(test::read_file(p.string() + ".foreign-1") == std::string("a note\n") + std::string(3, '\0'));
  CHECK(test::read_file(p) == written);
  CHECK(read_journal(p).events.size() == 1);
  CHECK_THROWS_AS(journal.append("c"), JournalError);  // stopped for good
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
  CHECK_THROWS_AS(journal.append("a", {{"seq", 7}}), labloop::JournalError);
  CHECK_THROWS_AS(journal.append("a", {{"event", "b"}}), labloop::JournalError);
  CHECK_THROWS_AS(journal.append("a", json::array()), labloop::JournalError);
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

TEST_CASE("Journal: the chain hash is SHA-256 of the previous hash and the body", "[journal]") {
  // FIPS 180-2 test vectors: SHA-256("abc") and SHA-256("").
  CHECK(journal_hash("", "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(journal_hash("a", "bc") == journal_hash("", "abc"));
  CHECK(journal_hash("", "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(journal_genesis_hash() == std::string(64, '0'));
}

TEST_CASE("Journal: every line ends with a hash chained to the line before", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  {
    Journal journal(p);
    CHECK(journal.last_hash() == journal_genesis_hash());
    journal.append("a", {{"k", 1}});
    journal.append("b", {{"k", "two"}});
  }
  {
    Journal reopened(p);  // the chain continues across reopening
    reopened.append("c");
  }
  // Recompute the chain from the raw lines: each hash covers the previous hash and the bytes before it.
  std::istringstream lines(test::read_file(p));
  std::string line, previous = journal_genesis_hash();
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    const size_t at = line.rfind(",\"hash\":\"");
    REQUIRE(at != std::string::npos);
    const std::string hash = journal_hash(previous, line.substr(0, at));
    CHECK(line.substr(at) == ",\"hash\":\"" + hash + "\"}");
    previous = hash;
  }
  CHECK(n == 3);
  const JournalContents contents = read_journal(p);
  REQUIRE(contents.events.size() == 3);
  CHECK(contents.last_hash == contents.events.back()["hash"]);
  CHECK(Journal(p).last_hash() == contents.last_hash);
}

TEST_CASE("Journal: changing any single byte of a finished journal is detected naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  {
    Journal journal(p);
    for (int i = 0; i < 5; ++i) journal.append("proposed", {{"experiment", "c-000" + std::to_string(i)}, {"x", {0.25, 0.5}}});
  }
  const std::string intact = test::read_file(p);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t offset = std::uniform_int_distribution<size_t>(0, intact.size() - 1)(rng);
    std::string edited = intact;
    edited[offset] = static_cast<char>(edited[offset] ^ (1 << std::uniform_int_distribution<int>(0, 6)(rng)));
    write_text(p, edited);
    const size_t line = 1 + static_cast<size_t>(std::count(intact.begin(), intact.begin() + static_cast<long>(offset), '\n'));
    const bool last_line = line == 5;
    INFO("byte " << offset << " on line " << line);
    if (offset == intact.size() - 1) {
      // Only the final newline lost makes a torn write: reported and dropped, never accepted.
      const JournalContents contents = read_journal(p);
      CHECK(contents.torn_tail);
      CHECK(contents.events.size() == 4);
    } else if (last_line) {
      // The last line is complete, so a damaged one is corruption, not a torn write.
      REQUIRE_THROWS_AS(read_journal(p), JournalError);
      REQUIRE_THROWS_WITH(read_journal(p), Catch::Matchers::Contains("line 5 "));
      REQUIRE_THROWS_WITH(Journal(p), Catch::Matchers::Contains("line 5 "));
      CHECK(test::read_file(p) == edited);  // never truncated away
    } else {
      try {
        read_journal(p);
        FAIL("an edited journal was accepted");
      } catch (const JournalError& e) {
        const std::string message = e.what();
        // The edited line, or (for an edited newline) the line it merged into or split off.
        const bool names_line = message.find("line " + std::to_string(line) + " ") != std::string::npos ||
                                message.find("line " + std::to_string(line + 1) + " ") != std::string::npos;
        CHECK(names_line);
      }
    }
  }
}

TEST_CASE("Journal: a line without its hash or with a wrong one throws naming the line", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  const std::string first = sealed({R"({"seq":1,"time":"t","event":"a"})"});
  SECTION("no hash") {
    write_text(p, first + "{\"seq\":2,\"time\":\"t\",\"event\":\"b\"}\n" + first);
    REQUIRE_THROWS_MATCHES(read_journal(p), JournalError,
                           Catch::Matchers::Message(p.string() + ": line 2 does not end with its \"hash\" (every line is "
                                                                 "sealed into a hash chain); " + kDamaged));
  }
  SECTION("a line deleted") {
    const std::string three = sealed({R"({"seq":1,"time":"t","event":"a"})", R"({"seq":2,"time":"t","event":"b"})",
                                      R"({"seq":3,"time":"t","event":"c"})"});
    const size_t second = three.find('\n') + 1;
    write_text(p, three.substr(0, second) + three.substr(three.find('\n', second) + 1));
    REQUIRE_THROWS_MATCHES(read_journal(p), JournalError,
                           Catch::Matchers::Message(p.string() + ": line 2 does not match its hash chain: it was changed, or a "
                                                                 "line before it was removed or inserted; " + kDamaged));
  }
}

namespace {

// The peak resident memory of this process so far, in bytes.
long peak_memory_bytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss * 1024L;  // kilobytes on Linux
}

void extend_sparse(const fs::path& p, std::uintmax_t more) { fs::resize_file(p, fs::file_size(p) + more); }

}  // namespace

TEST_CASE("Journal: a journal that is no regular file is refused at once naming it", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  SECTION("a link to /dev/zero") { fs::create_symlink("/dev/zero", p); }
  SECTION("a link to /dev/urandom") { fs::create_symlink("/dev/urandom", p); }
  SECTION("a link to /dev/null") { fs::create_symlink("/dev/null", p); }
  SECTION("a pipe nobody writes to") { REQUIRE(::mkfifo(p.c_str(), 0600) == 0); }
  const std::string refused = p.string() + ": is ";
  REQUIRE_THROWS_AS(read_journal(p), JournalError);
  REQUIRE_THROWS_WITH(read_journal(p), Catch::Matchers::StartsWith(refused) && Catch::Matchers::Contains("not a regular file"));
  REQUIRE_THROWS_AS(Journal(p), JournalError);
  // The writer opens no link at all, so a link is refused as one before what it points to matters.
  if (fs::is_symlink(p)) REQUIRE_THROWS_WITH(Journal(p), p.string() + " is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself");
  else REQUIRE_THROWS_WITH(Journal(p), Catch::Matchers::StartsWith(refused) && Catch::Matchers::Contains("not a regular file"));
}

TEST_CASE("Journal: a reader follows a symbolic link to a journal file, the writer refuses it and leaves the file as it was", "[journal]") {
  TempDir dir, elsewhere;
  const fs::path real = elsewhere.path() / "kept.jsonl";
  const fs::path p = dir.path() / "journal.jsonl";
  { Journal(real).append("a"); }
  const std::string before = test::read_file(real);
  fs::create_symlink(real, p);
  CHECK(read_journal(p).events.size() == 1);
  const std::string refusal = p.string() + " is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself";
  REQUIRE_THROWS_MATCHES(Journal(p), JournalError, Catch::Matchers::Message(refusal));
  CHECK(test::read_file(real) == before);
  // A one-line file without its newline (a token) was a torn write to the writer: it was cut to
  // nothing, then written over with events. And a link to no file created one.
  const fs::path token = elsewhere.path() / "token";
  test::write_file(token, "ghp_0123456789");
  fs::remove(p);
  fs::create_symlink(token, p);
  REQUIRE_THROWS_WITH(Journal(p), refusal);
  CHECK(test::read_file(token) == "ghp_0123456789");
  fs::remove(p);
  fs::create_symlink(elsewhere.path() / "new.jsonl", p);
  REQUIRE_THROWS_WITH(Journal(p), refusal);
  CHECK_FALSE(fs::exists(elsewhere.path() / "new.jsonl"));
}

TEST_CASE("Journal: a complete line longer than the limit is damage at its line, not held in memory", "[journal]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  { Journal(p).append("a"); }
  write_text(p, "{", true);
  extend_sparse(p, kMaxJournalLineBytes + 10);
  write_text(p, "}\n", true);
  REQUIRE_THROWS_MATCHES(read_journal(p), JournalError,
                         Catch::Matchers::Message(p.string() + ": line 2 is longer than 64 MiB; labloop never writes such a line; " + kDamaged));
  REQUIRE_THROWS_AS(Journal(p), JournalError);
  // In memory too.
  std::string text = sealed({R"({"seq":1,"event":"a"})"}) + std::string(kMaxJournalLineBytes + 1, ' ') + "\n";
  REQUIRE_THROWS_WITH(parse_journal(text, "j"), Catch::Matchers::StartsWith("j: line 2 is longer than 64 MiB"));
}

TEST_CASE("Journal: a sparse tail of zeros far past the line limit is a torn write read in bounded memory", "[journal][memory]") {
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  {
    Journal journal(p);
    journal.append("a");
    journal.append("b");
  }
  const std::string intact = test::read_file(p);
  constexpr std::uintmax_t kTail = std::uintmax_t{1} << 30;  // 1 GiB: read whole, as before, it would show in the peak
  extend_sparse(p, kTail);
  const long before = peak_memory_bytes();
  const JournalContents contents = read_journal(p);
  CHECK(peak_memory_bytes() - before < 256L << 20);
  CHECK(contents.torn_tail);
  CHECK(contents.torn_tail_message == p.string() + ": line 3 is longer than 64 MiB (67108864 bytes), the longest line a journal holds, and "
                                                   "has no newline: labloop never writes such a line; ignored as a torn write");
  CHECK(contents.torn_tail_overlong);  // `verify` then names another writer, not a crash, as the cause
  CHECK(audit_journal(p).torn_tail_overlong);
  CHECK(contents.events.size() == 2);
  Journal journal(p);  // cuts it away, as any torn write
  CHECK(journal.last_seq() == 2);
  CHECK(fs::file_size(p) == intact.size());
}

TEST_CASE("Journal: a one-line journal far past the line limit is named as a line over the limit, by its number, never held whole",
          "[journal][memory]") {
  // A 300 MB journal of one line without its newline was reported as "line 1 is incomplete (torn
  // write)", and status and the console then said it did not start with a campaign_started event.
  TempDir dir;
  const fs::path p = dir.path() / "journal.jsonl";
  write_text(p, "{\"seq\":1,\"event\":\"campaign_started\",\"note\":\"", false);
  extend_sparse(p, std::uintmax_t{300} << 20);
  const long before = peak_memory_bytes();
  const JournalContents contents = read_journal(p);
  CHECK(peak_memory_bytes() - before < 128L << 20);
  CHECK(contents.events.empty());
  CHECK(contents.torn_tail);
  CHECK_THAT(contents.torn_tail_message, Catch::StartsWith(p.string() + ": line 1 is longer than 64 MiB (67108864 bytes)"));
  // In memory too: the same words, and a line under the limit is still simply incomplete.
  CHECK_THAT(parse_journal(std::string(kMaxJournalLineBytes + 1, 'x'), "j").torn_tail_message, Catch::StartsWith("j: line 1 is longer than 64 MiB"));
  CHECK(parse_journal("{\"seq\"", "j").torn_tail_message == "j: line 1 is incomplete (torn write); ignored");
}

TEST_CASE("AppendFile: a device or a pipe is refused at open, naming it, not read without end", "[journal][limits]") {
  test::TempDir dir;
  CHECK_THAT(test::message_of([] { labloop::AppendFile("/dev/zero", "the result cache"); }),
             Catch::Equals("the result cache /dev/zero is not a regular file (a device, a pipe or a socket): name a file"));
  const auto fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THAT(test::message_of([&] { labloop::AppendFile(fifo.string(), "the completed log"); }), Catch::Contains("is not a regular file"));
  labloop::AppendFile file((dir / "ok.jsonl").string(), "the result cache");
  file.append("{}\n");
  CHECK(file.read_all() == "{}\n");
}

TEST_CASE("AppendFile: a write cut short (no room) leaves no fragment for the next record to be glued to", "[journal][limits]") {
  test::TempDir dir;
  const auto path = dir / "cache.jsonl";
  labloop::AppendFile file(path.string(), "the result cache");
  file.append("{\"experiment\":\"e1\"}\n");  // 21 bytes
  // A file-size limit stands in for a full disk: the write stops part way with an error (SIGXFSZ
  // ignored, as labloop-sim and labloop ignore it).
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  rlimit small = old_limit;
  small.rlim_cur = 30;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string failure = test::message_of([&] { file.append("{\"experiment\":\"e2\",\"values\":{\"y\":1}}\n"); });
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  CHECK_THAT(failure, Catch::Contains("cannot append to the result cache"));
  CHECK(test::read_file(path) == "{\"experiment\":\"e1\"}\n");  // cut back to the last whole record
  file.append("{\"experiment\":\"e3\"}\n");  // room again
  CHECK(test::read_file(path) == "{\"experiment\":\"e1\"}\n{\"experiment\":\"e3\"}\n");
}

TEST_CASE("AppendFile: one holder of the exclusive lock at a time, the next waiting for it to let go", "[journal]") {
  test::TempDir dir;
  const auto path = (dir / "cache.jsonl").string();
  auto first = std::make_unique<labloop::AppendFile>(path, "the result cache");
  CHECK(first->lock_exclusively(0));
  labloop::AppendFile second(path, "the result cache");
  CHECK_FALSE(second.lock_exclusively(60));  // held: a second driver on the same cache is refused
  std::jthread releaser([&first] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    first.reset();  // a driver killed a moment ago lets go
  });
  CHECK(second.lock_exclusively(5000));
}

TEST_CASE("AppendFile: a symbolic link is refused at open, naming it, and the file it points to is left as it was", "[journal][limits]") {
  test::TempDir dir, home;
  const fs::path bashrc = home / ".bashrc";
  test::write_file(bashrc, "export PATH=$HOME/bin:$PATH\n");
  const fs::path cache = dir / "cache.jsonl";
  fs::create_symlink(bashrc, cache);
  const std::string refusal = "the result cache: " + cache.string() +
                              " is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself";
  CHECK_THAT(test::message_of([&] { labloop::AppendFile(cache.string(), "the result cache").append("{\"id\":\"e1\"}\n"); }), Catch::Equals(refusal));
  CHECK(test::read_file(bashrc) == "export PATH=$HOME/bin:$PATH\n");
  // A link to no file: the file is not created where it points.
  const fs::path completed = dir / "completed.jsonl";
  fs::create_symlink(home / "planted", completed);
  CHECK_THAT(test::message_of([&] { labloop::AppendFile(completed.string(), "the completed log"); }), Catch::Contains("is a symbolic link"));
  CHECK_FALSE(fs::exists(home / "planted"));
  // write_whole_file goes through AppendFile: a link in place of its .partial is removed, not followed.
  const fs::path whole = dir / "whole.json";
  fs::create_symlink(bashrc, whole.string() + ".partial");
  labloop::write_whole_file(whole.string(), "{}\n", "the state file");
  CHECK(test::read_file(whole) == "{}\n");
  CHECK(test::read_file(bashrc) == "export PATH=$HOME/bin:$PATH\n");
}

TEST_CASE("Journal: a time is read as the journal writes it, and one past what the clock holds is no time, not a wrapped one", "[journal]") {
  using namespace std::chrono;
  CHECK(journal_time_ms("2026-11-25T08:30:00.123Z") == std::optional<std::int64_t>(1795595400123));
  CHECK(journal_time_ms("2000-01-01T00:00:00.000Z") == std::optional<std::int64_t>(946684800000));
  CHECK(journal_time_ms("9999-12-31T23:59:59.999Z") == std::optional<std::int64_t>(253402300799999));
  for (const char* bad : {"yesterday", "1999-12-31T23:59:59.999Z", "2026-02-30T00:00:00.000Z", "2026-11-25T24:00:00.000Z",
                          "2026-11-25T08:30:00Z", "2026-11-25T08:30:00.12Z", "2026-11-25T08:30:00.123", "+2026-11-25T08:30:00.12Z", ""}) {
    INFO(bad);
    CHECK_FALSE(journal_time_ms(bad));
    CHECK_FALSE(parse_journal_time(bad));
  }
  const auto at = parse_journal_time("2026-11-25T08:30:00.123Z");
  REQUIRE(at);
  CHECK(duration_cast<milliseconds>(at->time_since_epoch()).count() == 1795595400123);
  // The nanosecond clock ends in April 2262: the year 9999 wrapped to a time long past, and a
  // resumed campaign's time budget was spent at once.
  CHECK(parse_journal_time("2262-04-11T00:00:00.000Z"));
  CHECK_FALSE(parse_journal_time("2262-04-12T00:00:00.000Z"));
  CHECK_FALSE(parse_journal_time("9999-12-31T23:59:59.999Z"));
}
