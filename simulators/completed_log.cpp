#include "completed_log.hpp"

#include <unistd.h>

#include <chrono>

namespace labloop::sim {

void CompletedLog::record(const std::string& experiment, const nlohmann::json& result) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const nlohmann::json line{{"experiment", experiment}, {"status", result.value("status", "")}, {"pid", ::getpid()}, {"time", now}};
  // One write() per line (a regular file takes it whole), so with O_APPEND simulators sharing
  // the file never interleave their lines.
  file_.append(line.dump() + "\n");
}

}  // namespace labloop::sim
