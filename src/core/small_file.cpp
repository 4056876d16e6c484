#include "labloop/core/small_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "labloop/core/unique_fd.hpp"

namespace labloop {

SmallFile read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
  SmallFile out;
  auto refused = [&](SmallFile::Status status, std::string reason) {
    out.status = status;
    out.reason = std::move(reason);
    out.text.clear();
    return out;
  };
  UniqueFd f{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (f.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return out;
    if (err == ELOOP) return refused(SmallFile::Status::link, "it is a symbolic link");
    return refused(SmallFile::Status::unreadable, std::strerror(err));
  }
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return refused(SmallFile::Status::unreadable, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return refused(SmallFile::Status::not_regular, S_ISDIR(st.st_mode) ? "it is not a regular file (a folder)" : "it is not a regular file (a pipe, a socket or a device)");
  char buffer[4096];
  while (out.text.size() <= max_bytes) {
    const ssize_t n = ::read(f.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refused(SmallFile::Status::unreadable, std::strerror(errno));
    if (n == 0) break;
    out.text.append(buffer, static_cast<std::size_t>(n));
  }
  if (out.text.size() > max_bytes) return refused(SmallFile::Status::too_large, fmt::format("it is over {} bytes", max_bytes));
  out.status = SmallFile::Status::read;
  return out;
}

int open_for_reading(const std::filesystem::path& path, bool& is_pipe) {
  is_pipe = false;
  UniqueFd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (f.get() < 0) return -1;
  struct stat st {};
  if (::fstat(f.get(), &st) == 0) is_pipe = S_ISFIFO(st.st_mode);
  // Reads wait again, as for any file: a writer that is slow is waited for, one that never came is end of file.
  if (const int flags = ::fcntl(f.get(), F_GETFL); flags >= 0) (void)::fcntl(f.get(), F_SETFL, flags & ~O_NONBLOCK);
  return f.release();
}

}  // namespace labloop
