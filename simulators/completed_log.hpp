#pragma once
// labloop-sim --completed-log: one JSON line per experiment the simulator actually completed,
// so a test can prove that no experiment ever ran to completion twice, across crashes and
// restarts of the simulator. Append-only (O_APPEND) and fsynced per line, like the journal.
#include <nlohmann/json.hpp>
#include <string>

#include "labloop/core/append_file.hpp"

namespace labloop::sim {

class CompletedLog {
 public:
  // Opens (creating if needed) `path` for appending; throws labloop::Error naming the path.
  explicit CompletedLog(std::string path) : file_(std::move(path), "the completed log") {}

  // Appends {"experiment", "status", "pid", "time" (Unix seconds)} from a final `result`
  // message, and fsyncs it. Throws labloop::Error when the disk refuses.
  void record(const std::string& experiment, const nlohmann::json& result);

 private:
  AppendFile file_;
};

}  // namespace labloop::sim
