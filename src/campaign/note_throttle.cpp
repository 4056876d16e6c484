#include "labloop/campaign/note_throttle.hpp"

#include <fmt/format.h>

namespace labloop {

bool NoteThrottle::admit(Clock::time_point now) {
  if (!window_start_ || (held_ == 0 && now - *window_start_ >= kWindow)) {
    window_start_ = now;
    shown_ = 0;
  }
  if (shown_ < kBurst) {
    ++shown_;
    return true;
  }
  ++held_;
  return false;
}

std::optional<std::string> NoteThrottle::summary(Clock::time_point now, bool force) {
  if (held_ == 0 || !window_start_ || (!force && now - *window_start_ < kWindow)) return std::nullopt;
  const double seconds = std::chrono::duration<double>(now - *window_start_).count();
  std::string line = fmt::format("{}: {} more note{} about what it sent in the last {:.0f} s not shown (at most {} per {} s; the journal "
                                 "is not affected)",
                                 subject_, held_, held_ == 1 ? "" : "s", seconds, kBurst, kWindow.count());
  held_ = 0;
  shown_ = 0;
  window_start_ = now;
  return line;
}

}  // namespace labloop
