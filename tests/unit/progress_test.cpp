#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "labloop/core/printable.hpp"
#include "background_writer.hpp"
#include "progress.hpp"

using labloop::cli::fit_to_width;

namespace {

// What print_summary writes for `summary`, the objective named "y", the parameters declared in
// `parameter_order`.
std::string printed_summary(const labloop::CampaignSummary& summary, std::vector<std::string> parameter_order = {}) {
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  {
    labloop::cli::ProgressDisplay display(out, false, "y", {}, std::move(parameter_order));
    display.print_summary(summary);
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  return text;
}

// A finished campaign's summary whose best result, 0.5 at `experiment`, has `params`.
labloop::CampaignSummary best_summary(const std::string& experiment, nlohmann::json params) {
  labloop::CampaignSummary summary;
  summary.reason = "budget reached";
  summary.output = "runs/" + experiment;
  summary.status.done = 3;
  summary.status.best = 0.5;
  summary.status.best_experiment = experiment;
  summary.status.best_params = std::move(params);
  return summary;
}

}  // namespace

TEST_CASE("Progress: the status line is cut to the terminal's width, counting characters, not bytes", "[progress]") {
  CHECK(fit_to_width("abcdef", 10) == "abcdef");
  CHECK(fit_to_width("abcdef", 6) == "abcdef");
  CHECK(fit_to_width("abcdef", 5) == "abcd…");
  CHECK(fit_to_width("abcdef", 1) == "…");
  CHECK(fit_to_width("abcdef", 0) == "");
  // "…" and "é" are one column each, several bytes each: never cut inside one.
  CHECK(fit_to_width("planner thinking… é", 19) == "planner thinking… é");
  CHECK(fit_to_width("planner thinking… é", 17) == "planner thinking…");
  CHECK(fit_to_width("ééééé", 3) == "éé…");
}

TEST_CASE("Progress: prints the typed events the loop passes, one line each when not on a terminal", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  {
    labloop::cli::ProgressDisplay display(out, false, "y");
    labloop::CampaignStatus status;
    status.budget = 4;
    status.done = 1;
    labloop::JournalEvent ready;
    ready.body = labloop::InstrumentReadyEvent{.instrument = "sim", .endpoint = "(private)", .driver = "labloop-sim", .version = "1", .capacity = 2};
    display.on_event(ready, status);
    labloop::JournalEvent result;
    result.body = labloop::ResultEvent{.experiment = "q-0001", .instrument = "sim", .status = "ok", .values = {{"y", 0.5}}, .objective = 0.5};
    display.on_event(result, status);
    display.on_status(status);  // the planner-thinking notice redraws a terminal's status line only
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  CHECK(text ==
        "instrument sim ready: labloop-sim 1 (capacity 2)\n"
        "[1/4] q-0001 on sim: y=0.5 | no result yet | 0s\n");
}

TEST_CASE("Progress: with several objectives the status shows the Pareto set and the summary lists it, at most 20 rows", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  {
    labloop::cli::ProgressDisplay display(out, false, "a", {"b"});
    labloop::CampaignSummary summary;
    summary.reason = "budget reached";
    summary.output = "runs/mo";
    summary.status.done = 25;
    summary.status.best = 1.0;
    summary.status.pareto_size = 22;
    summary.status.hypervolume = 12.5;
    labloop::ParetoSummary pareto;
    pareto.objectives = {{"a", false, "mg", std::nullopt}, {"b", true, "", 3.0}};
    for (int i = 1; i <= 22; ++i) pareto.members.push_back({(i < 10 ? "mo-000" : "mo-00") + std::to_string(i), {double(i), 0.5}, {{"x", 0.25}}});
    pareto.hypervolume = 12.5;
    summary.pareto = pareto;
    labloop::JournalEvent result;
    result.body = labloop::ResultEvent{.experiment = "mo-0001", .instrument = "sim", .status = "ok", .values = {{"a", 1}, {"b", 0.5}}, .objective = 1.0};
    display.on_event(result, summary.status);
    display.print_summary(summary);
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  CHECK_THAT(text, Catch::Matchers::Contains("[25/0] mo-0001 on sim: a=1, b=0.5 | Pareto set: 22 results, hypervolume 12.5 |"));
  CHECK_THAT(text, Catch::Matchers::Contains("\nPareto set: 22 results, hypervolume 12.5\n  mo-0001: a=1 mg, b=0.5 (x=0.25)\n"));
  CHECK_THAT(text, Catch::Matchers::Contains("  mo-0020: a=20 mg, b=0.5 (x=0.25)\n  … and 2 more (results.csv: pareto = 1)\n"));
  CHECK(text.find("mo-0021:") == std::string::npos);
  CHECK(text.find("best a=") == std::string::npos);  // no single best for several objectives
  CHECK_THAT(text, Catch::Matchers::Contains("runs/mo/pareto.svg"));
}

TEST_CASE("Progress: the summary names the planner's recommendation when it is not the best measurement", "[progress]") {
  auto summary_text = [](std::optional<labloop::CampaignSummary::Recommendation> recommended) {
    labloop::CampaignSummary summary;
    summary.reason = "budget reached";
    summary.output = "runs/n";
    summary.status.done = 20;
    summary.status.best = 0.1;
    summary.status.best_experiment = "n-0007";
    summary.status.best_params = {{"x", 0.5}};
    summary.recommended = std::move(recommended);
    return printed_summary(summary);
  };
  const std::string other = summary_text(labloop::CampaignSummary::Recommendation{"n-0012", {{"x", 0.25}}, 0.3});
  CHECK_THAT(other, Catch::Matchers::Contains("best y=0.1 (x=0.5) at n-0007\n"));
  CHECK_THAT(other, Catch::Matchers::Contains("recommended n-0012 at x=0.25 (y=0.3 measured): the planner's model believes it best"));
  const std::string same = summary_text(labloop::CampaignSummary::Recommendation{"n-0007", {{"x", 0.5}}, 0.1});
  CHECK_THAT(same, Catch::Matchers::Contains("the planner's model agrees"));
  CHECK(summary_text(std::nullopt).find("recommended") == std::string::npos);
}

TEST_CASE("Progress: a driver's long text in a note or a failure is cut, counting characters", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  const std::string huge(1 << 20, 'x');  // a protocol message's largest error message
  {
    labloop::cli::ProgressDisplay display(out, false, "y");
    display.on_log("reactor: driver reported error internal: " + huge);
    labloop::JournalEvent failed;
    failed.body = labloop::FailedEvent{.experiment = "q-0002", .instrument = "reactor", .error = "é" + huge};
    display.on_event(failed, labloop::CampaignStatus{});
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  const auto newline = text.find('\n');
  REQUIRE(newline != std::string::npos);
  const std::string note = text.substr(0, newline), failure = text.substr(newline + 1);
  CHECK(note.rfind("note: reactor: driver reported error internal: xxx", 0) == 0);
  CHECK(note.size() == std::string("note: ").size() + labloop::cli::kMostShownChars - 1 + std::string("…").size());
  CHECK(failure.rfind("q-0002 failed on reactor: éxx", 0) == 0);
  CHECK(failure.size() == std::string("q-0002 failed on reactor: ").size() + labloop::cli::kMostShownChars - 1 + 1 + std::string("…").size() + 1);
}

TEST_CASE("Progress: a driver's text cannot move the cursor, clear the screen or forge a line", "[progress]") {
  using labloop::cli::printable;
  CHECK(printable("pump\x1b[1A\x1b[2K\rcampaign finished\nFAKE") == "pump\\x1b[1A\\x1b[2K\\x0dcampaign finished\\nFAKE");
  CHECK(printable("a\nb", true) == "a\nb");
  CHECK(printable(std::string("nul\0end", 7)) == "nul\\x00end");
  CHECK(printable("tab\there\x7f") == "tab here\\x7f");
  // Bidirectional overrides would reorder what follows on the line: shown, not obeyed.
  CHECK(printable("v1.0\u202Efdp.exe\u2066x\u2069 caf\u00e9 \u2014") == "v1.0\\u202efdp.exe\\u2066x\\u2069 caf\u00e9 \u2014");
  CHECK(printable("\xc2\x9b" "2J and é, …") == "\\u009b2J and é, …");  // C1 CSI; other UTF-8 kept
  // Bytes that are not UTF-8 (a lone continuation, a cut sequence, an overlong form, a surrogate,
  // past U+10FFFF) are shown as bytes: a log reader stopped at the first one.
  CHECK(printable("bad \xff\xfe \x80 \xe2\x82 \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 ok \xf0\x9f\x99\x82") ==
        "bad \\xff\\xfe \\x80 \\xe2\\x82 \\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 ok \xf0\x9f\x99\x82");

  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  {
    labloop::cli::ProgressDisplay display(out, false, "y");
    labloop::JournalEvent failed;
    failed.body = labloop::FailedEvent{.experiment = "q-0003", .instrument = "reactor", .error = "jam\r\x1b[2Jcampaign finished\nFAKE LINE"};
    display.on_event(failed, labloop::CampaignStatus{});
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  CHECK(text == "q-0003 failed on reactor: jam\\x0d\\x1b[2Jcampaign finished\\nFAKE LINE\n");
}

TEST_CASE("Progress: the status line is cut by display columns: wide characters and emoji take two, combining marks none", "[progress]") {
  using labloop::cli::display_width;
  CHECK(display_width("abc") == 3);
  CHECK(display_width("反応温度") == 8);
  CHECK(display_width("🧪🔥") == 4);
  CHECK(display_width("e\u0301") == 1);  // e + combining acute
  CHECK(display_width("ｘ") == 2);        // fullwidth x
  const std::string cjk = [] {
    std::string s;
    for (int i = 0; i < 60; ++i) s += "反";
    return s;
  }();
  CHECK(display_width(fit_to_width(cjk, 79)) <= 79);
  CHECK(fit_to_width(cjk, 5) == "反反…");
  CHECK(fit_to_width("🧪🧪🧪", 4) == "🧪…");
  CHECK(fit_to_width("e\u0301e\u0301e\u0301", 2) == "e\u0301…");
}

TEST_CASE("Progress: on an 80-column terminal the status line keeps its elapsed time and ETA, shortening the best result", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  ::setenv("COLUMNS", "80", 1);
  {
    labloop::cli::ProgressDisplay display(out, true, "反応収率");
    labloop::CampaignStatus s;
    s.budget = 30;
    s.done = 12;
    s.best = 0.397887;
    s.best_experiment = "quickstart-2ff97af40c80-0001";
    s.best_params = {{"温度", 0.5}, {"x2", 2.275}, {"溶媒", "テトラヒドロフラン🧪"}};
    s.in_flight = 3;
    s.elapsed_s = 125;
    s.eta_s = 190;
    display.on_status(s);
  }
  ::unsetenv("COLUMNS");
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  const std::string prefix = "\r\033[K";
  REQUIRE(text.rfind(prefix, 0) == 0);
  const std::string line = text.substr(prefix.size(), text.find('\n') - prefix.size());
  CHECK(labloop::cli::display_width(line) <= 79);
  CHECK_THAT(line, Catch::StartsWith("[12/30] best ") && Catch::EndsWith(" | 3 running | 2m05s (ETA 3m10s)"));
  CHECK_THAT(line, Catch::Contains("…"));
}

TEST_CASE("Printable: a suggested command's folder is one shell word, quoted only when it must be", "[progress]") {
  CHECK(labloop::shell_word("runs/a-1") == "runs/a-1");
  CHECK(labloop::shell_word("my runs") == "'my runs'");
  CHECK(labloop::shell_word("runs;rm x") == "'runs;rm x'");
  CHECK(labloop::shell_word("it's") == "'it'\\''s'");
  CHECK(labloop::shell_word("") == "''");
  CHECK(labloop::shell_word("$HOME/`id`") == "'$HOME/`id`'");
  // A folder starting with '-' would be read as an option by the command it is pasted into.
  CHECK(labloop::path_word("-out") == "./-out");
  CHECK(labloop::path_word("-my out") == "'./-my out'");
  CHECK(labloop::path_word("runs/-out") == "runs/-out");
  CHECK(labloop::path_word("/tmp/-out") == "/tmp/-out");
}

TEST_CASE("Progress: the summary counts results that met the failure condition beside the failed experiments", "[progress]") {
  auto summary_text = [](int failed, int met) {
    labloop::CampaignSummary summary;
    summary.reason = "budget reached";
    summary.output = "runs/f";
    summary.status.done = 8;
    summary.status.failed = failed;
    summary.status.met_failure_condition = met;
    return printed_summary(summary);
  };
  CHECK_THAT(summary_text(1, 3), Catch::Matchers::Contains("— 8 experiments (1 failed, 3 more met the failure condition) in "));
  CHECK_THAT(summary_text(0, 0), Catch::Matchers::Contains("— 8 experiments (0 failed) in "));
}

TEST_CASE("Progress: a setting of many parameters shows its first ten and how many more", "[progress]") {
  nlohmann::json params;
  for (int i = 0; i < 300; ++i) params[fmt::format("x{:03}", i)] = 0.25;
  const std::string text = printed_summary(best_summary("big-0003", params));
  CHECK_THAT(text, Catch::Matchers::Contains("best y=0.5 (x000=0.25, x001=0.25, x002=0.25, x003=0.25, x004=0.25, x005=0.25, x006=0.25, "
                                             "x007=0.25, x008=0.25, x009=0.25 and 290 more) at big-0003"));
  CHECK(text.find("x010") == std::string::npos);
}

TEST_CASE("Progress: a setting is shown in the order its parameters are declared, not sorted by name", "[progress]") {
  labloop::CampaignSummary summary = best_summary("o-0002", {{"x1", 1}, {"x2", 2}, {"x10", 10}, {"temperature", 60}, {"extra", "a"}});
  // Declared x2, x10, x1, temperature; "extra" (not declared) follows.
  CHECK_THAT(printed_summary(summary, {"x2", "x10", "x1", "temperature"}),
             Catch::Matchers::Contains("best y=0.5 (x2=2, x10=10, x1=1, temperature=60, extra=a) at o-0002"));
  // Without an order: the setting's own (by name).
  CHECK_THAT(printed_summary(summary), Catch::Matchers::Contains("best y=0.5 (extra=a, temperature=60, x1=1, x10=10, x2=2) at o-0002"));
  // The first ten are the first ten declared.
  std::vector<std::string> order;
  summary.status.best_params = nlohmann::json::object();
  for (int i = 12; i >= 0; --i) {
    order.push_back(fmt::format("p{}", i));
    summary.status.best_params[order.back()] = i;
  }
  CHECK_THAT(printed_summary(summary, order),
             Catch::Matchers::Contains("(p12=12, p11=11, p10=10, p9=9, p8=8, p7=7, p6=6, p5=5, p4=4, p3=3 and 3 more)"));
}

TEST_CASE("Progress: a stream nobody reads never holds up the loop; lines past the limit are left out and the gap is said", "[progress]") {
  // A pipe whose reader does not read (a terminal paused with Ctrl-S, an ssh session whose network
  // died): the campaign's loop once blocked in its write, and with it every result and heartbeat.
  int ends[2];
  REQUIRE(::pipe(ends) == 0);
  std::FILE* out = ::fdopen(ends[1], "w");
  REQUIRE(out);
  const std::string filler(994, 'x');
  std::size_t given = 0, left_out = 0;
  std::string read;
  {
    labloop::cli::BackgroundWriter writer(out, false);
    // Three times what may wait, and the pipe's own 64 KiB: a blocking write would never return.
    for (; given * 1000 < 3 * labloop::cli::BackgroundWriter::kMostWaitingBytes; ++given) writer.line(fmt::format("{:05d}{}\n", given, filler));
    left_out = writer.left_out();
    CHECK(left_out > given / 2);
    // The reader comes back: what was kept comes out in order, and where lines were left out.
    std::jthread reader([&] {
      char buffer[65536];
      for (ssize_t n; (n = ::read(ends[0], buffer, sizeof buffer)) > 0;) read.append(buffer, static_cast<std::size_t>(n));
    });
    writer.flush();
    std::fclose(out);  // the reader sees the end of the pipe
  }
  ::close(ends[0]);
  // Every line given is either written, whole and in order, or counted in a note where it was left out.
  std::size_t written = 0, said = 0;
  long last = -1;
  std::istringstream lines(read);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() == 999) {
      const long number = std::stol(line.substr(0, 5));
      CHECK(number > last);
      last = number;
      ++written;
      continue;
    }
    unsigned n = 0;
    REQUIRE(std::sscanf(line.c_str(), "(%u lines left out here: nothing read this output for a while; the journal holds every event)", &n) == 1);
    said += n;
  }
  CHECK(written >= labloop::cli::BackgroundWriter::kMostWaitingBytes / 1000);  // the limit's worth at least
  CHECK(said == left_out);
  CHECK(written + said == given);
}

TEST_CASE("Progress: a status line drawn before a line is shown before it, as when written at once", "[progress]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  {
    labloop::cli::BackgroundWriter writer(out, true);
    writer.redraw("\r\033[Kstatus 1");
    writer.redraw("\r\033[Kstatus 2");  // replaces the first if it is not written yet
    writer.line("\r\033[Kevent\n");
  }
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(out);
  CHECK_THAT(text, Catch::EndsWith("\r\033[Kstatus 2\r\033[Kevent\n"));
}
