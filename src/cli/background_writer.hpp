#pragma once
// What `labloop run` prints goes to a stream nobody may be reading: a terminal paused with Ctrl-S,
// a pager not scrolled, an ssh session whose network died. Written by the campaign's own loop, a
// full stream stopped the loop with it: no result journaled, no experiment sent, no heartbeat to
// the instruments (an exclusive hold ran out and another campaign took the instrument), while
// `status` said "running" (a red-team report). A BackgroundWriter writes on a thread of its own,
// so the loop never waits for the reader.
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace labloop::cli {

class BackgroundWriter {
 public:
  // Lines waiting for the stream, at most; past it, lines are left out (and counted) until it
  // takes text again. The journal keeps every event whatever is shown.
  static constexpr std::size_t kMostWaitingBytes = 1 << 20;

  // `terminal`: the note on lines left out first clears the line it is written on (a status line).
  BackgroundWriter(std::FILE* out, bool terminal);
  ~BackgroundWriter();  // writes what waits first (flush), however long the reader takes
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Text that stays (a line): after every line and redraw given before it, never dropped below the
  // limit.
  void line(std::string text);
  // Text that replaces the last redraw not yet written (the status line): only the newest matters.
  void redraw(std::string text);
  // Returns once everything given so far is written.
  void flush();
  // Lines left out so far (the stream was not read for a while).
  std::size_t left_out() const;

 private:
  void write_all(std::stop_token stop);
  void queue(std::string text);      // with mutex_ held
  std::string gap_note() const;      // with mutex_ held

  std::FILE* out_;
  bool terminal_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;      // something to write, or stop
  std::condition_variable written_;       // the queue ran dry and nothing is being written
  std::deque<std::string> lines_;
  std::optional<std::string> redraw_;
  std::size_t waiting_bytes_ = 0;
  std::size_t left_out_ = 0;              // in all
  std::size_t left_out_unsaid_ = 0;       // since the last note saying so
  bool writing_ = false;
  std::jthread thread_;                   // last: started once the rest is ready
};

}  // namespace labloop::cli
