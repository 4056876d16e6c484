#pragma once
// Internal: the lines a peer can make a driver write once per message or connection it sends (a
// malformed message, its `error`, a conflict, a refused abort, `busy`, a refused handshake) are
// written at most once a second per kind, the next one saying how many were left out: a flood of
// messages or connections must not fill the instrument PC's disk. The Python SDK keeps the same
// rule (drivers/python/README.md). Thread-safe: the access check (ZAP) runs on its own thread.
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace labloop::detail {

class LogLimiter {
 public:
  using Log = std::function<void(const std::string&)>;
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kEvery{1};

  explicit LogLimiter(Log log) : log_(std::move(log)) {}

  // Writes `line` unless a line of `kind` was written less than kEvery ago; then it is counted,
  // and the next line of that kind written says how many were left out.
  void write(const std::string& kind, std::string line, Clock::time_point now = Clock::now());

 private:
  struct Kind {
    Clock::time_point last;
    long long left_out = 0;
  };
  Log log_;
  std::mutex mutex_;
  std::map<std::string, Kind> kinds_;  // kinds are the code's own words: a fixed few
};

}  // namespace labloop::detail
