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
