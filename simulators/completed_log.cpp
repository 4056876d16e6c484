#include "completed_log.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "labloop/error.hpp"

namespace labloop::sim {

CompletedLog::CompletedLog(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot open the completed log {}: {}", path_, std::strerror(errno)));
}

CompletedLog::~CompletedLog() { ::close(fd_); }

void CompletedLog::record(const std::string& experiment, const nlohmann::json& result) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const nlohmann::json line{{"experiment", experiment}, {"status", result.value("status", "")}, {"pid", ::getpid()}, {"time", now}};
  // One write() per line (a regular file takes it whole), so with O_APPEND simulators sharing
  // the file never interleave their lines.
  const std::string text = line.dump() + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("cannot append to the completed log {}: {}", path_, std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) throw Error(fmt::format("cannot fsync the completed log {}: {}", path_, std::strerror(errno)));
}

}  // namespace labloop::sim
