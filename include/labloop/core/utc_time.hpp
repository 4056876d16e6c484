#pragma once
// Wall-clock times as text in UTC, for records people read (key files, manual entries, leases).
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace labloop {

// `t` formatted by strftime's `format` in UTC (at most 63 characters).
std::string utc_text(std::time_t t, const char* format);
// Now, as ISO-8601 to the second ("2026-12-05T14:21:10Z"): when a person entered or asked something.
std::string utc_now_iso();
// Whether `text` is a time as utc_now_iso writes it: a real date and time, to the second, in UTC
// ("2026-12-05T14:21:10Z"). A time read from a file written by hand is held to it before it is
// journaled.
bool is_utc_iso(std::string_view text);
// The time such a text says; none for any other text.
std::optional<std::time_t> parse_utc_iso(std::string_view text);

}  // namespace labloop
