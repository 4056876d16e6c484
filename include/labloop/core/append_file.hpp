#pragma once
// An append-only file whose every append is on disk before the call returns: opened with
// O_APPEND (each write lands at the end, so processes sharing the file never overwrite each
// other) and fsynced after each append. What the driver's result cache and labloop-sim's
// completed log are made of. Not thread-safe.
//
// It is never opened through a symbolic link (O_NOFOLLOW): these files live in a campaign folder,
// and a name there replaced by a link to ~/.bashrc would have had results appended to that.
#include <string>
#include <string_view>

namespace labloop {

class AppendFile {
 public:
  // Opens `path`, creating it if needed (then its directory is fsynced too, so the new file
  // survives a power cut). `what` names the file in error messages ("the result cache").
  // Throws labloop::Error naming the file, the path and the OS reason, or saying that `path` is a
  // symbolic link or no regular file.
  AppendFile(std::string path, std::string what);
  ~AppendFile();  // closes the file
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // The whole file as it is now. Throws labloop::Error when it cannot be read or is larger than
  // kMaxReadBytes (a result cache of a million 1 KiB results is 1 GiB).
  std::string read_all();
  static constexpr unsigned long long kMaxReadBytes = 1ULL << 30;
  // Writes `bytes` at the end and fsyncs. Throws labloop::Error when the disk refuses.
  void append(std::string_view bytes);

  // Takes an exclusive advisory lock (flock) on the file for as long as this object lives,
  // waiting up to `wait_ms` for another process to let go of one (a driver killed a moment ago);
  // false when it does not. For files one process at a time may write (a result cache).
  bool lock_exclusively(int wait_ms);

  const std::string& path() const { return path_; }

 private:
  std::string path_, what_;
  int fd_ = -1;
};

// Writes `bytes` as the whole of `path`, all or nothing: into `path`.partial (fsynced; one left
// by a crash is replaced), then renamed over `path`. Throws labloop::Error naming `what`, the
// path and the reason.
void write_whole_file(const std::string& path, std::string_view bytes, const std::string& what);

// Why a file labloop writes to in a campaign folder is refused when an open with O_NOFOLLOW fails
// with ELOOP: "<path> is a symbolic link; labloop writes only to regular files in a campaign
// folder: replace it with the file itself". One wording for every such file (the journal, the
// simulators' logs, result caches, the reports' temporary files).
std::string symbolic_link_refusal(const std::string& path);
// Whether an open of `path` with O_NOFOLLOW failed with `err` because its last component is a
// symbolic link (ELOOP also comes from a loop among the folders above it; that one is not).
bool refused_as_link(const std::string& path, int err);

}  // namespace labloop
