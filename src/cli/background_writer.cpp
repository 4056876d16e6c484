#include "background_writer.hpp"

#include <fmt/format.h>

#include <utility>

namespace labloop::cli {

BackgroundWriter::BackgroundWriter(std::FILE* out, bool terminal)
    : out_(out), terminal_(terminal), thread_([this](std::stop_token stop) { write_all(stop); }) {}

BackgroundWriter::~BackgroundWriter() {
  flush();
  thread_.request_stop();
  wake_.notify_all();
}

void BackgroundWriter::line(std::string text) {
  {
    std::lock_guard lock(mutex_);
    // A status line drawn before this line, as it would have been had it been written at once:
    // the line's "\r\033[K" clears it (ProgressDisplay::line).
    std::optional<std::string> drawn = std::exchange(redraw_, std::nullopt);
    if (drawn && waiting_bytes_ + drawn->size() + text.size() <= kMostWaitingBytes) queue(std::move(*drawn));
    // Where lines were left out is said there, once the reader has made room again.
    if (left_out_unsaid_ > 0) {
      std::string note = gap_note();
      if (waiting_bytes_ + note.size() + text.size() <= kMostWaitingBytes) queue(std::move(note)), left_out_unsaid_ = 0;
    }
    if (left_out_unsaid_ > 0 || waiting_bytes_ + text.size() > kMostWaitingBytes) {
      ++left_out_, ++left_out_unsaid_;
      return;
    }
    queue(std::move(text));
  }
  wake_.notify_one();
}

void BackgroundWriter::queue(std::string text) {
  waiting_bytes_ += text.size();
  lines_.push_back(std::move(text));
}

std::string BackgroundWriter::gap_note() const {
  return fmt::format("{}({} line{} left out here: nothing read this output for a while; the journal holds every event)\n",
                     terminal_ ? "\r\033[K" : "", left_out_unsaid_, left_out_unsaid_ == 1 ? "" : "s");
}

void BackgroundWriter::redraw(std::string text) {
  {
    std::lock_guard lock(mutex_);
    redraw_ = std::move(text);
  }
  wake_.notify_one();
}

void BackgroundWriter::flush() {
  std::unique_lock lock(mutex_);
  if (left_out_unsaid_ > 0) {
    queue(gap_note());
    left_out_unsaid_ = 0;
    wake_.notify_one();
  }
  written_.wait(lock, [this] { return lines_.empty() && !redraw_ && !writing_; });
}

std::size_t BackgroundWriter::left_out() const {
  std::lock_guard lock(mutex_);
  return left_out_;
}

void BackgroundWriter::write_all(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, stop, [this] { return !lines_.empty() || redraw_; });
    if (lines_.empty() && !redraw_) return;  // asked to stop, with nothing left
    std::string text;
    if (!lines_.empty()) {
      text = std::move(lines_.front());
      lines_.pop_front();
      waiting_bytes_ -= text.size();
    } else {
      text = std::move(*redraw_);
      redraw_.reset();
    }
    writing_ = true;
    lock.unlock();
    // Blocks for as long as nobody reads: only this thread waits.
    std::fputs(text.c_str(), out_);
    std::fflush(out_);
    lock.lock();
    writing_ = false;
    if (lines_.empty() && !redraw_) written_.notify_all();
  }
}

}  // namespace labloop::cli
