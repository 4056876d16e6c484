#include "log_limiter.hpp"

#include <fmt/format.h>

namespace labloop::detail {

void LogLimiter::write(const std::string& kind, std::string line, Clock::time_point now) {
  {
    const std::lock_guard lock(mutex_);
    const auto [it, first] = kinds_.try_emplace(kind);
    Kind& k = it->second;
    if (!first && now - k.last < kEvery) {
      ++k.left_out;
      return;
    }
    if (k.left_out > 0)
      line += fmt::format(" (and {} more such left out since the last line saying so: at most one a second)", k.left_out);
    k.last = now;
    k.left_out = 0;
  }
  log_(line);  // outside the lock: a caller's log may be slow
}

}  // namespace labloop::detail
