#include "labloop/core/os_user.hpp"

#include <pwd.h>
#include <unistd.h>

#include <vector>

namespace labloop {

std::string os_user_name() {
  // getpwuid_r: thread-safe, unlike getpwuid.
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found && found->pw_name) return found->pw_name;
  return "uid " + std::to_string(::geteuid());
}

}  // namespace labloop
