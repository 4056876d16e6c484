#include <catch2/catch.hpp>

#include "progress.hpp"

using labloop::cli::fit_to_width;

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
