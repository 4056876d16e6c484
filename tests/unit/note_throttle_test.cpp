// Notes about what a driver sends unasked are shown at a bounded rate, and what is held back is
// counted in one line per window (campaign.cpp's note_from; docs/reliability.md).
#include <catch2/catch.hpp>

#include <chrono>

#include "labloop/campaign/note_throttle.hpp"

using namespace labloop;
using namespace std::chrono_literals;
using Clock = NoteThrottle::Clock;

namespace {
const Clock::time_point throttle_t0 = Clock::time_point{} + 1000h;
}

TEST_CASE("NoteThrottle: a burst is shown, the rest of the window counted and summed up once it ends", "[throttle]") {
  NoteThrottle throttle("reactor-1");
  int shown = 0;
  for (int i = 0; i < 100'000; ++i) shown += throttle.admit(throttle_t0 + std::chrono::microseconds(i * 50));  // 5 s of notes
  CHECK(shown == NoteThrottle::kBurst);
  CHECK_FALSE(throttle.summary(throttle_t0 + 9s).has_value());  // the window has not ended
  const auto line = throttle.summary(throttle_t0 + 10s);
  REQUIRE(line.has_value());
  CHECK(*line == "reactor-1: 99980 more notes about what it sent in the last 10 s not shown (at most 20 per 10 s; the journal is not affected)");
  CHECK_FALSE(throttle.summary(throttle_t0 + 30s).has_value());  // said once
  // A fresh window: another burst is shown.
  shown = 0;
  for (int i = 0; i < 50; ++i) shown += throttle.admit(throttle_t0 + 11s);
  CHECK(shown == NoteThrottle::kBurst);
  const auto forced = throttle.summary(throttle_t0 + 12s, true);  // the campaign's end does not wait for the window
  REQUIRE(forced.has_value());
  CHECK_THAT(*forced, Catch::StartsWith("reactor-1: 30 more notes") && Catch::Contains("last 2 s"));
}

TEST_CASE("NoteThrottle: notes at a human rate are all shown, window after window", "[throttle]") {
  NoteThrottle throttle("sim");
  for (int i = 0; i < 1000; ++i) {
    CHECK(throttle.admit(throttle_t0 + std::chrono::seconds(i)));  // one a second
    CHECK_FALSE(throttle.summary(throttle_t0 + std::chrono::seconds(i)).has_value());
  }
  NoteThrottle one("sim");
  for (int i = 0; i <= NoteThrottle::kBurst; ++i) one.admit(throttle_t0);
  CHECK(*one.summary(throttle_t0 + 10s) == "sim: 1 more note about what it sent in the last 10 s not shown (at most 20 per 10 s; the journal is not affected)");
}
