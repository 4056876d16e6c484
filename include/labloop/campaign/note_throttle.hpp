#pragma once
// Notes about what one instrument sends unasked (unsolicited or malformed messages, errors it
// reports, news of experiments it does not run) come at the rate the driver sends them: a driver
// stuck in a loop of `error` messages made the controller print 160,000 notes a second, 114 MB
// of console log in 18 s, which a day-long campaign run under nohup turns into a full disk.
// NoteThrottle shows the first kBurst notes of each kWindow and counts the rest; when the window
// ends, one line says how many were held back. Nothing here touches the journal: what the
// campaign records is decided elsewhere, and a held-back note was only ever a note.
#include <chrono>
#include <optional>
#include <string>

namespace labloop {

class NoteThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kBurst = 20;
  static constexpr std::chrono::seconds kWindow{10};

  // `subject` names whose notes these are ("reactor-1"), in the summary line.
  explicit NoteThrottle(std::string subject) : subject_(std::move(subject)) {}

  // Whether a note at `now` is to be shown. A note that is not is counted for summary().
  bool admit(Clock::time_point now);
  // Once the window of held-back notes has ended (or at once with `force`, at the campaign's
  // end): the line that says how many were held back, and a fresh window. Nothing otherwise.
  std::optional<std::string> summary(Clock::time_point now, bool force = false);

 private:
  std::string subject_;
  std::optional<Clock::time_point> window_start_;
  int shown_ = 0;
  long long held_ = 0;
};

}  // namespace labloop
