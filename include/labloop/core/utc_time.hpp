#pragma once
// Wall-clock times as text in UTC, for records people read (key files, manual entries, leases).
#include <ctime>
#include <string>

namespace labloop {

// `t` formatted by strftime's `format` in UTC (at most 63 characters).
std::string utc_text(std::time_t t, const char* format);
// Now, as ISO-8601 to the second ("2026-12-05T14:21:10Z"): when a person entered or asked something.
std::string utc_now_iso();

}  // namespace labloop
