#pragma once
// Wall-clock times as text in UTC, for records people read (key files, manual entries, leases).
#include <ctime>
#include <string>

namespace labloop {

// `t` formatted by strftime's `format` in UTC (at most 63 characters).
std::string utc_text(std::time_t t, const char* format);

}  // namespace labloop
