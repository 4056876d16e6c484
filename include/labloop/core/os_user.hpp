#pragma once
// Who is at the keyboard, for records that say who did what (entered results, raised budgets).
#include <string>

namespace labloop {

// The effective user's login name, or "uid N" when the user database has none.
std::string os_user_name();

}  // namespace labloop
