#include "labloop/core/utc_time.hpp"

namespace labloop {

std::string utc_text(std::time_t t, const char* format) {
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[64];
  const std::size_t length = std::strftime(text, sizeof text, format, &utc);
  return std::string(text, length);
}

std::string utc_now_iso() { return utc_text(std::time(nullptr), "%Y-%m-%dT%H:%M:%SZ"); }

}  // namespace labloop
