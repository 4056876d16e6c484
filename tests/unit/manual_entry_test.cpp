// Results a person enters (manual_entry.hpp): what `labloop enter` refuses, and that an entry file
// written into the inbox by hand is held to the same checks when the campaign reads it.
#include <catch2/catch.hpp>

#include <ctime>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <tuple>

#include "labloop/core/utc_time.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "catalogue.hpp"
#include "manual_instrument.hpp"
#include "test_support.hpp"

using namespace labloop;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// yield (the objective, 0–100 %) and purity (optional, 0–100 %), one person with room for two.
CampaignConfig manual_entry_config() {
  return parse_campaign_config(R"({"name": "by-hand",
    "parameters": [{"name": "t", "type": "continuous", "low": 40, "high": 100}],
    "objective": {"name": "yield", "goal": "maximize"},
    "outputs": [{"name": "yield", "unit": "%", "low": 0, "high": 100}, {"name": "purity", "unit": "%", "low": 0, "high": 100}],
    "planner": {"kind": "sobol"},
    "instruments": [{"name": "chemist", "manual": true, "capacity": 2}],
    "budget": {"experiments": 4}})",
                               "by-hand.json", sim::catalogue());
}

// An entry file as a person might write it into DIR/inbox/ without `labloop enter` (renamed into
// place, so a campaign looking meanwhile never reads half of it).
void put_in_inbox(const fs::path& dir, const std::string& experiment, const std::string& text) {
  fs::create_directories(inbox_dir(dir));
  test::write_file(inbox_dir(dir) / "partial", text);
  fs::rename(inbox_dir(dir) / "partial", entry_path(dir, experiment));
}

std::string inbox_entry_with(const std::string& experiment, const std::string& values, const std::string& at = "2026-12-05T14:21:10Z") {
  return R"({"at":")" + at + R"(","by":"x","experiment":")" + experiment + R"(","source":"command line","values":)" + values + "}";
}

}  // namespace

TEST_CASE("Inbox entries written by hand get the checks enter applies and are refused with the reason", "[manual]") {
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  const std::string id = "by-hand-0001";

  put_in_inbox(dir.path(), id, inbox_entry_with(id, R"({"yield":71.5,"purity":93})"));
  const auto good = read_checked_entry(dir.path(), id, config);
  REQUIRE(good);
  CHECK(good->values.at("yield") == 71.5);
  CHECK_FALSE(read_checked_entry(dir.path(), "by-hand-0002", config));  // nothing entered yet

  const auto refusal = [&](const std::string& values) {
    put_in_inbox(dir.path(), id, inbox_entry_with(id, values));
    return test::message_of([&] { read_checked_entry(dir.path(), id, config); });
  };
  CHECK_THAT(refusal(R"({"yield":500})"), Catch::Contains("refused, not recorded: yield = 500 is above its declared range (high 100 %)"));
  CHECK_THAT(refusal(R"({"bogus":5})"), Catch::Contains("\"bogus\" is not an output of this campaign"));
  CHECK_THAT(refusal(R"({"purity":5})"), Catch::Contains("the objective \"yield\" is missing"));
  CHECK_THAT(refusal(R"({"yield":5,"yield":50})"), Catch::Contains("/values/yield is given twice"));
  CHECK_THAT(refusal(R"({"yield":5})"), Catch::Equals(""));
  // The same rules as enter's: check_entry_content is what both apply.
  ManualEntry typed;
  typed.experiment = id;
  typed.by = "ann";
  typed.values = {{"yield", 500}};
  CHECK_THAT(check_entry_content(config, typed), Catch::Contains("yield = 500 is above its declared range"));

  put_in_inbox(dir.path(), id, R"({"experiment":"by-hand-0002","values":{"yield":5}})");
  CHECK_THAT(test::message_of([&] { read_checked_entry(dir.path(), id, config); }),
             Catch::Contains("it names experiment \"by-hand-0002\", but its file is by-hand-0001's"));
  put_in_inbox(dir.path(), id, R"({"experiment":"by-hand-0001","failed":"no product","values":{"yield":5},"by":"ann"})");
  CHECK_THAT(test::message_of([&] { read_checked_entry(dir.path(), id, config); }), Catch::Contains("give either values or --failed, not both"));
}

TEST_CASE("The manual instrument leaves an experiment open while its inbox entry is refused, and takes a good one", "[manual]") {
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  const std::string id = "by-hand-0001";
  std::mutex lock;
  std::vector<std::string> notes;
  detail::ManualInstrument person(config, 0, dir.path(), [&](const std::string& note) {
    std::lock_guard held(lock);
    notes.push_back(note);
  });
  put_in_inbox(dir.path(), id, inbox_entry_with(id, R"({"yield":500})"));
  std::stop_source stop;
  std::optional<Values> got;
  std::string error;
  std::thread waiting([&] {
    try {
      got = person.run_experiment(id, {}, stop.get_token());
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  const auto noted = [&] {
    std::lock_guard held(lock);
    return notes.size();
  };
  for (int i = 0; i < 200 && noted() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard held(lock);
    REQUIRE(notes.size() == 1);  // once, not at every look
    CHECK_THAT(notes[0], Catch::Contains("yield = 500 is above its declared range"));
    CHECK_THAT(notes[0], Catch::Contains(id + " stays open: fix or delete that file, then enter again"));
  }
  CHECK(error.empty());  // not a failure: still waiting
  CHECK_FALSE(person.entry_taken(id));  // nothing taken from a refused entry
  fs::remove(entry_path(dir.path(), id));
  put_in_inbox(dir.path(), id, inbox_entry_with(id, R"({"yield":71.5})", utc_now_iso()));
  waiting.join();
  REQUIRE(got);
  CHECK(got->at("yield") == 71.5);
  // Who entered it, kept as read: the inbox file may go (or be replaced) before the campaign
  // journals the result, and a result was journaled without who entered it (a red-team report).
  fs::remove(entry_path(dir.path(), id));
  const std::optional<ManualEntry> taken = person.entry_taken(id);
  REQUIRE(taken);
  CHECK(taken->by == "x");
  CHECK(taken->source == "command line");
  CHECK(taken->values.at("yield") == 71.5);
}

TEST_CASE("The manual instrument refuses an entry made before its experiment existed, and each refusal once per version of the file",
          "[manual]") {
  // Red-team reports: an entry left in the inbox (another campaign's, or written ahead) was
  // recorded the moment its experiment was dispatched; one with an "at" in the future was
  // reported every second, as its message quotes the clock.
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  const std::string id = "by-hand-0001";
  std::mutex lock;
  std::vector<std::string> notes;
  const std::string proposed = utc_text(std::time(nullptr) - 60, "%Y-%m-%dT%H:%M:%S.000Z");  // journaled, at a resume
  detail::ManualInstrument person(config, 0, dir.path(), [&](const std::string& note) {
    std::lock_guard held(lock);
    notes.push_back(note);
  }, {{id, proposed}});
  const auto notes_now = [&] {
    std::lock_guard held(lock);
    return notes;
  };
  put_in_inbox(dir.path(), id, inbox_entry_with(id, R"({"yield":50})", "2026-01-01T00:00:00Z"));
  std::stop_source stop;
  std::optional<Values> got;
  std::thread waiting([&] { got = person.run_experiment(id, {}, stop.get_token()); });
  for (int i = 0; i < 200 && notes_now().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(notes_now().size() == 1);
  CHECK_THAT(notes_now()[0], Catch::Contains("its \"at\" is 2026-01-01T00:00:00Z, more than an hour before " + id + " was proposed"));
  // Two hours ahead of the clock: refused, and said once however often it is looked at.
  fs::remove(entry_path(dir.path(), id));
  const std::string late = utc_text(std::time(nullptr) + 7200, "%Y-%m-%dT%H:%M:%SZ");
  put_in_inbox(dir.path(), id, inbox_entry_with(id, R"({"yield":60})", late));
  std::this_thread::sleep_for(4 * detail::ManualInstrument::kPoll + std::chrono::milliseconds(500));  // several looks, and the clock moved on
  REQUIRE(notes_now().size() == 2);
  CHECK_THAT(notes_now()[1], Catch::Contains("later than this computer's clock"));
  // Half an hour before its proposal, within the grace for another computer's clock: taken.
  fs::remove(entry_path(dir.path(), id));
  put_in_inbox(dir.path(), id, inbox_entry_with(id, R"({"yield":71.5})", utc_text(std::time(nullptr) - 1800, "%Y-%m-%dT%H:%M:%SZ")));
  waiting.join();
  REQUIRE(got);
  CHECK(got->at("yield") == 71.5);
  CHECK(notes_now().size() == 2);
}

TEST_CASE("Free text in an entry has a stated limit, so every entry enter saves can be recorded", "[manual]") {
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 71.5}};
  e.by = std::string(kMaxEntryBytes + 1, 'a');  // once reported saved, then never recorded
  CHECK_THAT(check_entry_content(config, e), Catch::Contains(fmt::format("who entered it (--by) is {} bytes long; at most 1000 bytes", kMaxEntryBytes + 1)));
  e.by = std::string(kMaxEntryText, 'a');
  CHECK(check_entry_content(config, e).empty());
  ManualEntry failed;
  failed.experiment = e.experiment;
  failed.by = "ann";
  failed.failed = std::string(kMaxEntryText + 1, 'x');
  CHECK_THAT(check_entry_content(config, failed), Catch::Contains("the reason it failed (--failed) is 1001 bytes long"));
  // The backstop: what read_entry would not read is not saved.
  e.by = std::string(kMaxEntryBytes, 'a');
  CHECK_THAT(test::message_of([&] { write_entry(dir.path(), e); }), Catch::Contains("an entry is at most 65536 bytes"));
  CHECK_FALSE(fs::exists(entry_path(dir.path(), e.experiment)));
}

TEST_CASE("Values on the command line are refused with the precise reason, and a bound is told from the value", "[manual]") {
  const auto refusal = [](const std::string& word) {
    ManualEntry e;
    return test::message_of([&] { parse_assignments({word}, e); });
  };
  CHECK_THAT(refusal("yield=nan"), Catch::Contains("yield: \"nan\" is not a finite number"));
  CHECK_THAT(refusal("yield=-inf"), Catch::Contains("is not a finite number"));
  CHECK_THAT(refusal("yield=1e999"), Catch::Contains("yield: \"1e999\" is too large for a number"));
  CHECK_THAT(refusal("yield=abc"), Catch::Contains("yield: \"abc\" is not a number in decimal notation"));
  CHECK_THAT(refusal("yield=0x10"), Catch::Contains("is not a number in decimal notation"));
  CHECK_THAT(refusal("yield="), Catch::Contains("yield: \"\" is empty"));
  {
    ManualEntry twice;
    CHECK_THAT(test::message_of([&] { parse_assignments({"yield=1", "yield=2"}, twice); }), Catch::Contains("yield is given twice"));
  }
  // A decimal too small for a double is 0, as strtod reads it, whatever its sign.
  ManualEntry tiny;
  parse_assignments({"yield=1e-999", "purity=-1e-999"}, tiny);
  CHECK(tiny.values.at("yield") == 0);
  CHECK_FALSE(std::signbit(tiny.values.at("purity")));
  CHECK(parse_number("4.9e-324") > 0);

  ManualEntry over;
  over.values = {{"yield", 100.0000000001}};
  CHECK_THAT(check_values(manual_entry_config(), over), Catch::Contains("yield = 100.0000000001 is above its declared range (high 100 %)"));
}

TEST_CASE("A CSV row whose value is not a number is refused alone, as that value on the command line is", "[manual]") {
  test::TempDir dir;
  test::write_file(dir / "done.csv", "experiment,yield [%],purity\nby-hand-0001,abc,\nby-hand-0002,5,\nby-hand-0003,5,9x\n");
  const EntryFile file = read_entry_csv(dir / "done.csv", manual_entry_config());
  REQUIRE(file.entries.size() == 1);
  CHECK(file.entries[0].experiment == "by-hand-0002");
  REQUIRE(file.refused.size() == 2);
  CHECK(file.refused[0].first.experiment == "by-hand-0001");
  CHECK_THAT(file.refused[0].second, Catch::Contains("yield: \"abc\" is not a number in decimal notation"));
  CHECK_THAT(file.refused[1].second, Catch::Contains("purity: \"9x\" is not a number"));
}

TEST_CASE("enter --csv refuses a header that names a column it reads twice, naming the column; ignored columns may repeat", "[manual]") {
  // Of two "t" columns only the last was compared with the setting sent (an edited first copy went
  // through), and of two "experiment" columns the last named the row (red-team report).
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  for (const auto& [header, row, column] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"experiment,t [C],t [C],yield", "by-hand-0001,99.9,50,50", "t"},
           {"experiment,experiment,yield", "by-hand-0003,by-hand-0002,77", "experiment"},
           {"experiment,yield [%],yield", "by-hand-0001,5,6", "yield"},
           {"failed,experiment,yield,failed", "spilt,by-hand-0001,,", "failed"}}) {
    INFO(header);
    test::write_file(dir / "done.csv", header + "\n" + row + "\n");
    CHECK_THAT(test::message_of([&] { read_entry_csv(dir / "done.csv", config); }),
               Catch::Equals((dir / "done.csv").string() + ": column \"" + column + "\" appears more than once; keep one"));
  }
  // Columns it does not read, a spreadsheet's unnamed ones among them, may repeat.
  test::write_file(dir / "done.csv", "experiment,notes,notes,,,yield\nby-hand-0001,a,b,,,50\n");
  const EntryFile file = read_entry_csv(dir / "done.csv", config);
  REQUIRE(file.entries.size() == 1);
  CHECK(file.entries[0].values.at("yield") == 50);
}

TEST_CASE("enter --csv tells an edited setting from the one sent on the parameter's own scale, however small its values", "[manual]") {
  // A dose in [1e-12, 2e-12] mol sent at 1.13e-12 and edited to 1.99e-12 was taken: the tolerance
  // was 1e-9 in absolute terms (red-team report).
  const CampaignConfig config = parse_campaign_config(R"({"name": "dose",
    "parameters": [{"name": "dose", "type": "continuous", "low": 1e-12, "high": 2e-12, "unit": "mol"},
                   {"name": "rate", "type": "continuous", "low": 1e-9, "high": 1, "log": true},
                   {"name": "level", "type": "discrete", "values": [1e-12, 1.5e-12, 2e-12]},
                   {"name": "mass", "type": "continuous", "low": 0, "high": 1e12}],
    "objective": {"name": "yield", "goal": "maximize"},
    "planner": {"kind": "random"},
    "instruments": [{"name": "chemist", "manual": true, "capacity": 1}],
    "budget": {"experiments": 3}})",
                                                      "dose.json", sim::catalogue());
  const json sent{{"dose", 1.13e-12}, {"rate", 3.3e-9}, {"level", 1.5e-12}, {"mass", 123456789.123}};
  std::vector<json> events{{{"event", "campaign_started"}, {"campaign", "dose"}},
                           {{"event", "proposed"}, {"experiment", "dose-0001"}, {"params", sent}, {"planner", "random"}},
                           {{"event", "dispatched"}, {"experiment", "dose-0001"}, {"instrument", "chemist"}}};
  for (size_t i = 0; i < events.size(); ++i) {
    events[i]["seq"] = i + 1;
    events[i]["time"] = fmt::format("2026-12-05T08:{:02}:00.000Z", i);
  }
  const CampaignState state = CampaignState::fold(decode_events(events, "test"));
  const auto check_cell = [&](const std::string& name, const std::string& cell) {
    ManualEntry e;
    e.experiment = "dose-0001";
    e.by = "ann";
    e.values = {{"yield", 42}};
    e.settings[name] = cell;
    return check_entry(config, state, e);
  };
  for (const auto& [name, value] : sent.items()) {
    INFO(name);
    const double v = value.get<double>();
    // As pending --csv and results.csv write it (the shortest round trip), with 15 or 17 digits
    // as a spreadsheet saves it, or empty: the setting sent.
    CHECK(check_cell(name, fmt::format("{}", v)).empty());
    CHECK(check_cell(name, fmt::format("{:.15g}", v)).empty());
    CHECK(check_cell(name, fmt::format("{:.17g}", v)).empty());
    CHECK(check_cell(name, "").empty());
  }
  // Edits, each to another value in range: refused, naming the column.
  CHECK_THAT(check_cell("dose", "1.99e-12"), Catch::StartsWith("its dose column reads 1.99e-12, but dose-0001 was sent with dose = 1.13e-12"));
  CHECK_THAT(check_cell("dose", "1.1300001e-12"), Catch::StartsWith("its dose column reads"));
  CHECK_THAT(check_cell("rate", "3.4e-9"), Catch::StartsWith("its rate column reads"));
  CHECK_THAT(check_cell("level", "2e-12"), Catch::StartsWith("its level column reads"));
  // Within 1e-9 of a range of 1e12 (1000) is the same setting; past it, an edit.
  CHECK(check_cell("mass", "123456989.123").empty());
  CHECK_THAT(check_cell("mass", "123466789.123"), Catch::StartsWith("its mass column reads"));
}

TEST_CASE("enter --csv refuses a column in another unit than the campaign declares, naming both", "[manual][units]") {
  // purity in ‰ would have been recorded as purity in %: ten times too high, without a word.
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  test::write_file(dir / "done.csv", "experiment,yield [%],purity [‰]\nby-hand-0001,50,900\n");
  CHECK_THAT(test::message_of([&] { read_entry_csv(dir / "done.csv", config); }),
             Catch::EndsWith("done.csv: column 3 (\"purity [‰]\") gives purity in ‰, but the campaign declares it in %; convert the values to % "
                             "and head the column \"purity [%]\" (or \"purity\")"));
  // The declared unit, padded as a spreadsheet may write it, or none at all, is read.
  test::write_file(dir / "done.csv", "experiment,yield [ % ],purity\nby-hand-0001,50,90\n");
  const EntryFile file = read_entry_csv(dir / "done.csv", config);
  REQUIRE(file.entries.size() == 1);
  CHECK(file.entries[0].values.at("purity") == 90);
}

TEST_CASE("enter --csv refuses a folder or a pipe at once, naming it", "[manual]") {
  test::TempDir dir;
  const CampaignConfig config = manual_entry_config();
  CHECK_THAT(test::message_of([&] { read_entry_csv(dir.path(), config); }),
             Catch::Equals(dir.path().string() + " is a folder; name the CSV file itself (--csv FILE)"));
  const fs::path fifo = dir / "results.csv";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // nobody writes: reading it would wait for ever
  CHECK_THAT(test::message_of([&] { read_entry_csv(fifo, config); }), Catch::Contains("is not a regular file (a device or a pipe)"));
}

TEST_CASE("An entry is not written through a symbolic link planted under its temporary name", "[manual]") {
  test::TempDir dir, home;
  const fs::path bashrc = home / ".bashrc";
  test::write_file(bashrc, "umask 022\n");
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 71.5}};
  fs::create_directories(inbox_dir(dir.path()));
  const fs::path temp = inbox_dir(dir.path()) / fmt::format(".{}.{}.tmp", e.experiment, ::getpid());
  fs::create_symlink(bashrc, temp);
  CHECK_THAT(test::message_of([&] { write_entry(dir.path(), e); }),
             Catch::Equals(temp.string() + " is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself"));
  CHECK(test::read_file(bashrc) == "umask 022\n");
  CHECK_FALSE(fs::exists(entry_path(dir.path(), e.experiment)));
}

TEST_CASE("An experiment id that is not one labloop writes names no inbox file, so an edited journal cannot reach outside the folder", "[manual]") {
  test::TempDir dir;
  for (const std::string& id : std::vector<std::string>{"../../etc/x", "a/b", "", ".", "..", std::string(129, 'a'), std::string("a\0b", 3), "with space"}) {
    INFO(id);
    CHECK_THAT(test::message_of([&] { entry_path(dir.path(), id); }), Catch::Contains("cannot name a file in inbox/"));
  }
  CHECK(entry_path(dir.path(), "by-hand.v2-5f3ac2e19b7d-0001-r2").filename() == "by-hand.v2-5f3ac2e19b7d-0001-r2.json");
  CHECK(entry_path(dir.path(), "..-tag-0001").filename() == "..-tag-0001.json");
}

TEST_CASE("An entry is not written through an inbox that is a link to a folder elsewhere, nor into something in its place", "[manual]") {
  test::TempDir dir, elsewhere;
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 71.5}};
  fs::create_directory_symlink(elsewhere.path(), inbox_dir(dir.path()));
  CHECK_THAT(test::message_of([&] { write_entry(dir.path(), e); }),
             Catch::Equals(inbox_dir(dir.path()).string() +
                           " is a symbolic link, not the campaign's inbox folder; remove it (labloop makes the folder), then enter again"));
  CHECK(fs::is_empty(elsewhere.path()));
  fs::remove(inbox_dir(dir.path()));
  test::write_file(inbox_dir(dir.path()), "");
  CHECK_THAT(test::message_of([&] { write_entry(dir.path(), e); }), Catch::Contains("is in the way: it is not a folder"));
  fs::remove(inbox_dir(dir.path()));
  // An entry file that is a pipe: named as such, never waited on.
  fs::create_directory(inbox_dir(dir.path()));
  REQUIRE(::mkfifo(entry_path(dir.path(), e.experiment).c_str(), 0600) == 0);
  CHECK_THAT(test::message_of([&] { read_entry(dir.path(), e.experiment); }),
             Catch::Contains("is not an entry file (it is not a regular file (a pipe, a socket or a device))"));
  CHECK_THAT(test::message_of([&] { write_entry(dir.path(), e); }), Catch::Contains("is in the way"));
}

TEST_CASE("An entry whose write fails (a full disk) leaves no temporary file in the inbox", "[manual]") {
  test::TempDir dir;
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 71.5}};
  // A file size limit fails the write part-way as a full disk would (EFBIG instead of ENOSPC),
  // here, as an unprivileged test: its signal ignored, the write returns the error.
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = before;
  small.rlim_cur = 16;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string message = test::message_of([&] { write_entry(dir.path(), e); });
  ::setrlimit(RLIMIT_FSIZE, &before);
  ::signal(SIGXFSZ, old_handler);
  CHECK_THAT(message, Catch::Contains("cannot write"));
  REQUIRE(fs::is_directory(inbox_dir(dir.path())));
  CHECK(fs::is_empty(inbox_dir(dir.path())));
  // With room again the same entry is saved, and only it is there.
  write_entry(dir.path(), e);
  CHECK(std::distance(fs::directory_iterator(inbox_dir(dir.path())), fs::directory_iterator()) == 1);
  CHECK(fs::is_regular_file(entry_path(dir.path(), e.experiment)));
}

TEST_CASE("Who entered a result and why it failed are plain text on one line: a terminal shows them, never obeys them", "[manual]") {
  const CampaignConfig config = manual_entry_config();
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 71.5}};
  for (const auto& [by, what] : std::vector<std::pair<std::string, std::string>>{{"\x1b[2Jbob", "a control character (\\x1b)"},
                                                                                {"bob\u202e", "a bidirectional control (\\u202e)"},
                                                                                {"bo\nb", "a line break (\\n)"},
                                                                                {"bob\xff", "bytes that are not UTF-8 (\\xff)"}}) {
    e.by = by;
    CHECK_THAT(check_entry_content(config, e), Catch::Equals("who entered it (--by) holds " + what + "; write it as plain text on one line"));
  }
  e.by = "Zoë Ødegård";
  CHECK(check_entry_content(config, e).empty());
  ManualEntry failed;
  failed.experiment = e.experiment;
  failed.by = "bob";
  failed.failed = "clogged\x1b]0;pwn\x07";
  CHECK_THAT(check_entry_content(config, failed), Catch::Contains("the reason it failed (--failed) holds a control character"));
  failed.failed = "  ";
  CHECK_THAT(check_entry_content(config, failed), Catch::Contains("say why it failed"));
}

TEST_CASE("A person's text holding a bidi mark, a line separator or an invisible character is refused, naming it as \\uXXXX", "[manual]") {
  // They passed as plain text (a red-team report): a right-to-left mark reorders what follows on
  // screen, U+2028 breaks the line in some viewers, and "a<U+200B>nn" reads as "ann".
  const CampaignConfig config = manual_entry_config();
  for (const auto& [character, what] : std::vector<std::pair<std::string, std::string>>{
           {"\u200e", "a bidirectional mark (\\u200e)"},      {"\u200f", "a bidirectional mark (\\u200f)"},
           {"\u061c", "a bidirectional mark (\\u061c)"},      {"\u2028", "a line or paragraph separator (\\u2028)"},
           {"\u2029", "a line or paragraph separator (\\u2029)"}, {"\u200b", "an invisible character (\\u200b)"},
           {"\ufeff", "an invisible character (\\ufeff)"},    {"\u00ad", "an invisible character (\\u00ad)"},
           {"\u2060", "an invisible character (\\u2060)"}}) {
    INFO(what);
    ManualEntry e;
    e.experiment = "by-hand-0001";
    e.values = {{"yield", 71.5}};
    e.by = "ann" + character + "bob";
    CHECK(check_entry_content(config, e) == "who entered it (--by) holds " + what + "; write it as plain text on one line");
    e.by = "ann";
    e.values.clear();
    e.failed = "line1" + character;
    CHECK(check_entry_content(config, e) == "the reason it failed (--failed) holds " + what + "; write it as plain text on one line");
    CHECK(printable("a" + character) == "a" + what.substr(what.find('(') + 1, 6));  // and shown so, wherever it comes from
  }
  // Joiners stay: Persian and Indic names, and emoji, need them.
  ManualEntry persian;
  persian.experiment = "by-hand-0001";
  persian.values = {{"yield", 71.5}};
  persian.by = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645";
  CHECK(check_entry_content(config, persian).empty());
}

TEST_CASE("A blank name is refused, whoever typed it, and an inbox file without one is not recorded", "[manual]") {
  const CampaignConfig config = manual_entry_config();
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 71.5}};
  for (const char* by : {"", "   ", " \t "}) {
    e.by = by;
    CHECK(check_entry_content(config, e) == "who entered it (--by) is blank; give a name");
  }
  test::TempDir dir;
  put_in_inbox(dir.path(), e.experiment, R"({"experiment":"by-hand-0001","values":{"yield":17},"at":"2026-12-05T14:21:10Z"})");
  CHECK_THAT(test::message_of([&] { read_checked_entry(dir.path(), e.experiment, config); }),
             Catch::EndsWith("refused, not recorded: who entered it (--by) is blank; give a name"));
}

TEST_CASE("A name or a reason is trimmed at both ends alike before it is checked and kept: \"  Ann\" and \"Ann \" are Ann", "[manual]") {
  // Leading and trailing white space were both kept as typed, so "  Ann" and "Ann" were recorded as
  // two people, and a value's trailing space refused where its leading one was taken.
  CHECK(trimmed("  Ann") == "Ann");
  CHECK(trimmed("Ann \t") == "Ann");
  CHECK(trimmed(" \t Ann Lee\n") == "Ann Lee");
  CHECK(trimmed("   ").empty());
  CHECK(trimmed("A\tB") == "A\tB");  // inside: still refused as not plain text
  // Unicode's blanks too (a red-team report: a no-break space was recorded as a name, and an
  // ideographic space as a failure's reason).
  CHECK(trimmed("\u00a0Ann\u3000") == "Ann");
  CHECK(trimmed("\u2003 Ann Lee\u202f\u00a0") == "Ann Lee");
  CHECK(trimmed("Ann\u00a0Lee") == "Ann\u00a0Lee");
  CHECK(is_blank("\u3000"));
  CHECK(is_blank(" \u00a0\u2000\u200a\t"));
  CHECK_FALSE(is_blank("\u200b"));  // not a blank: refused as not plain text
  CHECK(trimmed("\xe2\x80") == "\xe2\x80");  // a cut sequence is left for the UTF-8 check to refuse
  test::TempDir dir;
  put_in_inbox(dir.path(), "by-hand-0001",
               R"({"experiment":"by-hand-0001","failed":"  clogged \t","by":" Ann ","at":"2026-12-05T14:21:10Z"})");
  const std::optional<ManualEntry> read = read_checked_entry(dir.path(), "by-hand-0001", manual_entry_config());
  REQUIRE(read);
  CHECK(read->by == "Ann");
  CHECK(read->failed == "clogged");
}

TEST_CASE("An inbox file's \"at\" must be a UTC time as labloop writes it, and its \"source\" plain text", "[manual]") {
  // They become the result's entered_at and entered_from in the journal (a red-team report: an
  // escape sequence and a bidi override went there).
  const CampaignConfig config = manual_entry_config();
  test::TempDir dir;
  const std::string id = "by-hand-0001";
  const auto refusal = [&](const std::string& at, const std::string& source) {
    put_in_inbox(dir.path(), id, json{{"experiment", id}, {"values", {{"yield", 17}}}, {"by", "ann"}, {"at", at}, {"source", source}}.dump());
    return test::message_of([&] { read_checked_entry(dir.path(), id, config); });
  };
  CHECK(refusal("2026-12-05T14:21:10Z", "console").empty());
  CHECK(refusal("2024-02-29T23:59:59Z", "command line").empty());
  CHECK_THAT(refusal("\x1b[2J\x1b]0;pwned\x07", "console"),
             Catch::Contains("refused, not recorded: its \"at\" is \"\\x1b[2J\\x1b]0;pwned\\x07\", not a UTC time as labloop writes it"));
  for (const char* at : {"yesterday", "2026-12-05 14:21:10Z", "2026-12-05T14:21:10", "2026-12-05T14:21:10.5Z", "2026-02-30T10:00:00Z",
                         "2026-12-05T24:00:00Z", "2026-13-05T10:00:00Z", "2026-12-05T14:21:10+01:00"}) {
    INFO(at);
    CHECK_THAT(refusal(at, "console"), Catch::Contains("not a UTC time as labloop writes it"));
  }
  // Nor a time yet to come, past an hour's grace for another computer's clock.
  CHECK_THAT(refusal("9999-12-31T23:59:59Z", "console"),
             Catch::Contains("its \"at\" is 9999-12-31T23:59:59Z, later than this computer's clock (") &&
                 Catch::Contains(") by more than an hour: write when it was entered"));
  CHECK_THAT(refusal(labloop::utc_text(std::time(nullptr) + 7200, "%Y-%m-%dT%H:%M:%SZ"), "console"), Catch::Contains("by more than an hour"));
  CHECK(refusal(labloop::utc_text(std::time(nullptr) + 1800, "%Y-%m-%dT%H:%M:%SZ"), "console").empty());
  CHECK_THAT(refusal("2026-12-05T14:21:10Z", "\x1b[31mred\u202e"),
             Catch::Contains("where it was entered (\"source\") holds a control character (\\x1b); write it as plain text on one line"));
  CHECK_THAT(refusal("2026-12-05T14:21:10Z", "a\u2028b"), Catch::Contains("holds a line or paragraph separator (\\u2028)"));
}

TEST_CASE("Manual entry: an entry's time is read as the one shape labloop writes, a real date to the second in UTC", "[manual]") {
  REQUIRE(labloop::parse_utc_iso("2026-12-05T14:21:10Z"));
  CHECK(*labloop::parse_utc_iso("2026-12-05T14:21:10Z") == 1796480470);
  CHECK(*labloop::parse_utc_iso("1970-01-01T00:00:00Z") == 0);
  CHECK_FALSE(labloop::parse_utc_iso("2026-02-30T00:00:00Z"));  // no such day
  CHECK_FALSE(labloop::parse_utc_iso("2026-12-05T24:00:00Z"));
  CHECK_FALSE(labloop::parse_utc_iso("2026-12-05T14:21:10.000Z"));  // a journal time, not an entry's
  CHECK_FALSE(labloop::parse_utc_iso("2026-12-05 14:21:10Z"));
  CHECK_FALSE(labloop::parse_utc_iso("+026-12-05T14:21:10Z"));
  CHECK_FALSE(labloop::parse_utc_iso(""));
}

TEST_CASE("A dry run takes no entries: nothing pending for a person, entries and corrections refused", "[manual]") {
  // Its manual instruments are stand-ins that make results up; an entry was accepted, and the
  // stand-in's values journaled under the person's name (a red-team report).
  const fs::path signed_folder = LABLOOP_SOURCE_DIR "/tests/fixtures/v0.2.0/signed";
  std::vector<json> objects = read_journal(signed_folder / "journal.jsonl").events;
  const auto fold = [&] { return CampaignState::fold(decode_events(objects, "journal.jsonl")); };
  const CampaignConfig config = journaled_config(decode_events(objects, "journal.jsonl"), "journal.jsonl", sim::catalogue());
  const std::string open = "signed-f8808d37c039-0005";
  ManualEntry entry;
  entry.experiment = open;
  entry.by = "ana";
  entry.at = "2026-12-05T14:21:10Z";
  entry.values = {{"yield", 12.5}};
  test::TempDir dir;
  REQUIRE(pending_experiments(dir.path(), config, fold()).size() == 1);  // as recorded: a real run
  CHECK(check_entry(config, fold(), entry, EntryWording::command_line).empty());
  objects.front()["dry_run"] = true;
  CHECK(pending_experiments(dir.path(), config, fold()).empty());
  CHECK_THAT(check_entry(config, fold(), entry, EntryWording::command_line), Catch::StartsWith("this campaign is a dry run"));
  CHECK_THAT(check_correction(config, fold(), entry), Catch::StartsWith("this campaign is a dry run"));
}

TEST_CASE("An entry saved just before its experiment's timeout is recorded, not failed as late", "[manual][timeout]") {
  // The stand-in reads the inbox every kPoll: an entry saved in the last quarter second before the
  // deadline was in the inbox, `enter` had said "entered", and the experiment was failed as timed
  // out all the same (a red-team report). Saved 30 ms before the deadline here.
  test::TempDir dir;
  const CampaignConfig config = parse_campaign_config(fmt::format(R"({{"name": "late",
    "parameters": [{{"name": "t", "type": "continuous", "low": 40, "high": 100}}],
    "objective": {{"name": "yield", "goal": "maximize"}},
    "outputs": [{{"name": "yield", "unit": "%", "low": 0, "high": 100}}],
    "planner": {{"kind": "sobol"}},
    "instruments": [{{"name": "chemist", "manual": true, "capacity": 1, "timeout_s": 1, "retries": 0}}],
    "budget": {{"experiments": 1}}, "output": {}}})",
                                                                  json(dir.path().string()).dump()),
                                                      "late.json", sim::catalogue());
  struct Dispatch : CampaignObserver {
    std::mutex mutex;
    std::optional<std::pair<std::string, std::chrono::steady_clock::time_point>> sent;
    void on_event(const JournalEvent& event, const CampaignStatus&) override {
      if (const auto* d = event.as<DispatchedEvent>()) {
        const std::lock_guard lock(mutex);
        sent.emplace(d->experiment, std::chrono::steady_clock::now());
      }
    }
  } dispatch;
  std::jthread person([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      std::optional<std::pair<std::string, std::chrono::steady_clock::time_point>> sent;
      {
        const std::lock_guard lock(dispatch.mutex);
        sent = dispatch.sent;
      }
      if (sent) {
        std::this_thread::sleep_until(sent->second + std::chrono::milliseconds(970));
        ManualEntry e;
        e.experiment = sent->first;
        e.values = {{"yield", 42}};
        e.by = "ana";
        e.at = utc_now_iso();
        e.source = "command line";
        write_entry(dir.path(), e);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const CampaignSummary summary = run_campaign(config, CampaignOptions{}, &dispatch);
  person.request_stop();
  person.join();
  CHECK(summary.reason == "budget reached");
  const CampaignState state = CampaignState::fold(decode_events(read_journal(dir.path() / "journal.jsonl").events, "journal.jsonl"));
  CHECK(state.done() == 1);
  CHECK(state.failed_outcomes() == 0);
}

TEST_CASE("The inbox takes the campaign folder's permissions, not the umask of whoever enters first", "[manual]") {
  // One login per technician in a group-writable folder: an inbox made 0755 by the first person's
  // umask refused the second person's entries.
  test::TempDir dir;
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_all | fs::perms::others_read | fs::perms::others_exec);
  const mode_t before = ::umask(022);
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 42}};
  e.by = "ana";
  e.at = utc_now_iso();
  e.source = "command line";
  write_entry(dir.path(), e);
  ::umask(before);
  const fs::perms inbox = fs::status(inbox_dir(dir.path())).permissions();
  CHECK((inbox & fs::perms::group_write) == fs::perms::group_write);
  CHECK((inbox & fs::perms::others_write) == fs::perms::none);
}

TEST_CASE("enter --csv refuses a file none of whose columns is an output or failed, suggesting the output a header misspells", "[manual]") {
  // Red-team report: headers "yield[%]" and "Yield [%]" made every row "not measured yet", nothing
  // was saved and enter exited 0.
  test::TempDir dir;
  test::write_file(dir / "done.csv", "experiment,yield[%]\nby-hand-0001,71.5\n");
  CHECK_THROWS_WITH(read_entry_csv(dir / "done.csv", manual_entry_config()),
                    Catch::Contains("no column of line 1 is an output of this campaign (yield") &&
                        Catch::Contains("\"yield[%]\"; did you mean \"yield\"?"));
  test::write_file(dir / "failed.csv", "experiment,failed\nby-hand-0001,spilled\n");
  CHECK(read_entry_csv(dir / "failed.csv", manual_entry_config()).entries.size() == 1);  // failures alone are results
  // An id cell is trimmed as a value is, of a spreadsheet's no-break spaces too.
  test::write_file(dir / "nbsp.csv", "experiment,yield\n\u00a0by-hand-0001\u00a0 ,71.5\n");
  const EntryFile nbsp = read_entry_csv(dir / "nbsp.csv", manual_entry_config());
  REQUIRE(nbsp.entries.size() == 1);
  CHECK(nbsp.entries[0].experiment == "by-hand-0001");
}

TEST_CASE("A second entry for an experiment is refused saying how to enter again: delete the first until it is recorded", "[manual]") {
  // Red-team report: --correct on an entry not yet recorded said "enter it", and enter refused a
  // second entry without a way out.
  test::TempDir dir;
  ManualEntry e;
  e.experiment = "by-hand-0001";
  e.values = {{"yield", 17.5}};
  e.by = "ana";
  e.at = utc_now_iso();
  e.source = "command line";
  write_entry(dir.path(), e);
  e.values = {{"yield", 71.5}};
  CHECK_THROWS_WITH(write_entry(dir.path(), e), Catch::Contains("already has an entered result by ana") &&
                                                    Catch::Contains("deleting that file lets it be entered again") &&
                                                    Catch::Contains("`labloop enter --correct`"));
  fs::remove(dir / "inbox" / "by-hand-0001.json");
  write_entry(dir.path(), e);
  CHECK(read_entry(dir.path(), "by-hand-0001")->values.at("yield") == 71.5);
}

TEST_CASE("A campaign waiting for a person notices its folder moved, and stops saying where to resume", "[manual]") {
  // Its inbox is read by path: moved, entries made in the new place went unread for good while
  // `status` there said "running" (a red-team report). Appends notice a move; waiting for people
  // there may be none for hours, so the loop asks too.
  test::TempDir dir;
  const fs::path before = dir / "before", after = dir / "after";
  const CampaignConfig config = parse_campaign_config(fmt::format(R"({{"name": "moved",
    "parameters": [{{"name": "t", "type": "continuous", "low": 40, "high": 100}}],
    "objective": {{"name": "yield", "goal": "maximize"}},
    "outputs": [{{"name": "yield", "unit": "%", "low": 0, "high": 100}}],
    "planner": {{"kind": "sobol"}},
    "instruments": [{{"name": "chemist", "manual": true, "capacity": 1}}],
    "budget": {{"experiments": 1}}, "output": {}}})",
                                                                  json(before.string()).dump()),
                                                      "moved.json", sim::catalogue());
  struct Dispatch : CampaignObserver {
    std::atomic<bool> sent = false;
    void on_event(const JournalEvent& event, const CampaignStatus&) override {
      if (event.as<DispatchedEvent>()) sent = true;
    }
  } dispatch;
  std::jthread mover([&](std::stop_token stop) {
    while (!dispatch.sent && !stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!stop.stop_requested()) fs::rename(before, after);
  });
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(run_campaign(config, CampaignOptions{}, &dispatch),
                    Catch::Contains("was moved") && Catch::Contains("`labloop resume` on the folder where it is now"));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(20));
  mover.request_stop();
}

TEST_CASE("enter and the console refuse an entry the campaign would refuse for a clock more than an hour behind", "[manual]") {
  // They said "entered", and the campaign then refused it as made before its experiment existed
  // (a red-team report): the entering computer's clock was two hours behind.
  const fs::path signed_folder = LABLOOP_SOURCE_DIR "/tests/fixtures/v0.2.0/signed";
  const auto events = decode_events(read_journal(signed_folder / "journal.jsonl").events, "journal.jsonl");
  const CampaignState state = CampaignState::fold(events);
  const CampaignConfig config = journaled_config(events, "journal.jsonl", sim::catalogue());
  ManualEntry entry;
  entry.experiment = "signed-f8808d37c039-0005";
  const std::string proposed = state.experiment(entry.experiment)->proposed_at;
  REQUIRE(proposed.rfind("2026-12-04T22:", 0) == 0);
  entry.by = "ana";
  entry.values = {{"yield", 12.5}};
  entry.at = "2026-12-04T22:30:00Z";  // within the hour: a clock a little off is fine
  CHECK(check_entry(config, state, entry, EntryWording::command_line).empty());
  entry.at = "2026-12-04T20:00:00Z";
  CHECK_THAT(check_entry(config, state, entry, EntryWording::console),
             Catch::StartsWith("this computer's clock says 2026-12-04T20:00:00Z, more than an hour before signed-f8808d37c039-0005 was proposed"));
}
