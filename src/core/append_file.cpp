#include "labloop/core/append_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "labloop/core/error.hpp"

namespace labloop {

namespace {

Error os_error(const std::string& action, const std::string& what, const std::string& path) {
  return Error(fmt::format("cannot {} {} {}: {}", action, what, path, std::strerror(errno)));
}

}  // namespace

AppendFile::AppendFile(std::string path, std::string what) : path_(std::move(path)), what_(std::move(what)) {
  const bool existed = std::filesystem::exists(path_);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) {
    if (refused_as_link(path_, errno)) throw Error(fmt::format("{}: {}", what_, symbolic_link_refusal(path_)));
    Error e = os_error("open", what_, path_);
    throw Error(std::string(e.what()) + " (check that the directory exists and is writable)");
  }
  // A device or a pipe is no file to keep records in: /dev/zero read "all" of itself until memory
  // ran out (a cache path linked to it), and a pipe blocks or loses what is appended.
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("{} {} is not a regular file (a device, a pipe or a socket): name a file", what_, path_));
  }
  if (existed) return;
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

AppendFile::~AppendFile() { ::close(fd_); }

std::string AppendFile::read_all() {
  struct stat info {};
  if (::fstat(fd_, &info) == 0 && static_cast<unsigned long long>(info.st_size) > kMaxReadBytes)
    throw Error(fmt::format("{} {} is {} bytes; at most {} are read (move it aside to start afresh)", what_, path_,
                            static_cast<unsigned long long>(info.st_size), kMaxReadBytes));
  std::string text;
  char buffer[65536];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd_, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error("read", what_, path_);
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
}

void AppendFile::append(std::string_view bytes) {
  // A write cut short (a full disk) must not leave a fragment: the next record, appended once
  // there is room again, would be glued to it and read back as one damaged line — a result the
  // driver did record, lost from its cache. So the file is cut back to where this record began.
  struct stat before {};
  const bool sized = ::fstat(fd_, &before) == 0;
  const auto cut_back_and_throw = [&](const char* action) {
    const Error e = os_error(action, what_, path_);
    if (sized) (void)!::ftruncate(fd_, before.st_size);
    throw e;
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) cut_back_and_throw("append to");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) cut_back_and_throw("fsync");
}

bool AppendFile::lock_exclusively(int wait_ms) {
  for (int waited = 0;; waited += 20) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return true;  // a filesystem without locks (some network mounts): nothing more can be known
    if (waited >= wait_ms) return false;
    ::usleep(20 * 1000);
  }
}

void write_whole_file(const std::string& path, std::string_view bytes, const std::string& what) {
  const std::string partial = path + ".partial";
  std::error_code ec;
  std::filesystem::remove(partial, ec);  // one cut short by a crash
  {
    AppendFile out(partial, what);
    out.append(bytes);
  }
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(fmt::format("cannot write {} {}: {}", what, path, ec.message()));
}

std::string symbolic_link_refusal(const std::string& path) {
  return fmt::format("{} is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself", path);
}

bool refused_as_link(const std::string& path, int err) {
  if (err != ELOOP) return false;
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode);
}

}  // namespace labloop
