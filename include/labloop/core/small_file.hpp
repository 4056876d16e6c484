#pragma once
// Reading a small file that someone else may have put in a campaign folder (a person's entry, a
// stop request): opened once, without following a symbolic link or waiting on a pipe, judged by
// what was opened (a name swapped between a look and an open could otherwise hang the reader or
// fill its memory), and read up to a stated size.
#include <cstddef>
#include <filesystem>
#include <string>

namespace labloop {

struct SmallFile {
  enum class Status {
    read,         // `text` holds the whole file
    missing,      // nothing by that name
    link,         // a symbolic link (not followed)
    not_regular,  // a folder, a pipe, a socket or a device
    too_large,    // over the size asked for
    unreadable,   // the system refused; `reason` says why
  };
  Status status = Status::missing;
  std::string text;
  std::string reason;  // for every status but read and missing: why, in a technician's words
};

SmallFile read_small_file(const std::filesystem::path& path, std::size_t max_bytes);

// Opens `path` for reading (blocking reads) without waiting for a writer when it is a pipe: a
// pipe nobody writes to then reads as empty, where a plain open waited for ever. `is_pipe` says
// whether it was one, for the message an empty read deserves. Returns -1 with errno set when the
// system refuses.
int open_for_reading(const std::filesystem::path& path, bool& is_pipe);

}  // namespace labloop
