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

std::optional<std::time_t> parse_utc_iso(std::string_view text) {
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != shape.size()) return std::nullopt;
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 'd' ? text[i] < '0' || text[i] > '9' : text[i] != shape[i]) return std::nullopt;
  const auto number = [&](std::size_t at, std::size_t digits) {
    int n = 0;
    for (std::size_t i = at; i < at + digits; ++i) n = n * 10 + (text[i] - '0');
    return n;
  };
  std::tm t{};
  t.tm_year = number(0, 4) - 1900;
  t.tm_mon = number(5, 2) - 1;
  t.tm_mday = number(8, 2);
  t.tm_hour = number(11, 2);
  t.tm_min = number(14, 2);
  t.tm_sec = number(17, 2);
  if (t.tm_mon > 11 || t.tm_mday < 1 || t.tm_hour > 23 || t.tm_min > 59 || t.tm_sec > 59) return std::nullopt;
  // A real time: written back the same way (2026-02-30 or 25:00:00 would come back otherwise).
  const std::time_t at = timegm(&t);
  if (utc_text(at, "%Y-%m-%dT%H:%M:%SZ") != text) return std::nullopt;
  return at;
}

bool is_utc_iso(std::string_view text) { return parse_utc_iso(text).has_value(); }

}  // namespace labloop
