// Journal: append-only JSON lines with one fsync per event.
//
// Why this shape:
// - Each event is written as a single line by one write() loop on an O_APPEND descriptor, then
//   fsync()ed. A crash can therefore only damage the last line, and only a line that append() had not
//   yet acknowledged; that is what makes "torn last line = ignore it" safe rather than lossy.
// - A newly created file is not durable until its directory entry is: fsync the directory once.
// - If a write or fsync fails we cut the file back to the last acknowledged line and stop accepting
//   events. Continuing after a failed fsync is unsafe (Linux may drop the dirty pages and report
//   success next time), and continuing after a partial write would glue the next event onto garbage
//   in the middle of the file, which read_journal rightly refuses.
// - All line writing goes through write_line(), which also seals the line into the hash chain: each
//   line's hash covers the previous hash and the line's own bytes, so an edit anywhere shows up at
//   the first edited line when reading (the hash is libsodium's SHA-256; nothing of our own).
#include "labloop/journal/journal.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/core.h>
#include <utility>
#include <vector>

#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/unique_fd.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/journal/events.hpp"

namespace labloop {

namespace {

using nlohmann::json;

constexpr const char* kDamagedAdvice =
    "the journal was edited or damaged; restore it from a backup or start the campaign in a new output "
    "directory";

std::string os_reason(int err) { return std::strerror(err); }

constexpr std::string_view kHashPrefix = ",\"hash\":\"";  // what ends a line's body
constexpr size_t kHashHexLength = 64;
// `,"hash":"` + 64 hex + `"}`
constexpr size_t kHashSuffixLength = kHashPrefix.size() + kHashHexLength + 2;

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}


int open_retrying(const char* path, int flags, mode_t mode = 0) {
  for (;;) {
    const int fd = ::open(path, flags, mode);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

// An exclusive lock without waiting for a run that holds it. A reader that only looks (status,
// the console: a shared lock for a few microseconds, campaign_running) is waited out for up to
// 200 ms, so it never makes a run or resume think another run has the journal. False with errno
// EWOULDBLOCK when it is held for longer (another run).
bool lock_exclusive(int fd) {
  for (int attempt = 0;; ++attempt) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno != EWOULDBLOCK && errno != EINTR) return false;
    if (attempt >= 20) {
      errno = EWOULDBLOCK;
      return false;
    }
    ::usleep(10000);
  }
}

int fsync_retrying(int fd) {
  for (;;) {
    const int rc = ::fsync(fd);
    if (rc == 0 || errno != EINTR) return rc;
  }
}

// A journal is a regular file (a reader follows a symbolic link to one; Journal refuses the link):
// a device such as /dev/zero or /dev/urandom never ends, a pipe may never answer, so reading one
// would hang or fill the memory. Refused before a byte is read.
void refuse_unless_regular(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw JournalError(fmt::format("{}: cannot read the journal: {}", path.string(), os_reason(errno)));
  if (S_ISREG(st.st_mode)) return;
  const char* what = S_ISDIR(st.st_mode)   ? "a folder"
                     : S_ISCHR(st.st_mode) ? "a device"
                     : S_ISBLK(st.st_mode) ? "a block device"
                     : S_ISFIFO(st.st_mode) ? "a pipe (FIFO)"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "an unknown kind of file";
  throw JournalError(fmt::format("{}: is {}, not a regular file; a journal is the file labloop wrote (journal.jsonl): put it back, "
                                 "or point the command at the campaign folder that holds it",
                                 path.string(), what));
}

// Opened without waiting (a pipe's open would block until a writer comes), then checked to be a
// regular file; the flag is cleared again, as it means nothing for a file.
int open_journal_file(const std::filesystem::path& path, int flags, mode_t mode = 0) {
  const int raw = open_retrying(path.c_str(), flags | O_NONBLOCK, mode);
  if (raw < 0) return raw;
  UniqueFd fd(raw);
  refuse_unless_regular(fd.get(), path);
  if (const int now = ::fcntl(fd.get(), F_GETFL); now >= 0) (void)::fcntl(fd.get(), F_SETFL, now & ~O_NONBLOCK);
  return fd.release();
}

std::string journal_now_iso() {
  using namespace std::chrono;
  const auto now = floor<milliseconds>(system_clock::now());
  const auto secs = floor<seconds>(now);
  const std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((now - secs).count()));
}

void fsync_directory_of(const std::filesystem::path& path) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  UniqueFd fd(open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0)
    throw JournalError(fmt::format("{}: cannot open the journal's directory to make the new file durable: {}",
                                   path.string(), os_reason(errno)));
  // Some filesystems cannot fsync a directory (EINVAL); there is nothing more we can do there.
  if (fsync_retrying(fd.get()) != 0 && errno != EINVAL)
    throw JournalError(fmt::format("{}: cannot fsync the journal's directory: {}", path.string(), os_reason(errno)));
}

// What a reading keeps of each line once it is checked: its JSON object (read_journal), its
// decoded event (read_journal_events), or nothing (opening a Journal, which needs only the end of
// the chain). A long campaign's JSON objects take 15 times the journal's size; a reader that keeps
// them and then decodes them holds both.
enum class Keep { objects, events, nothing };

struct Parsed {
  JournalContents contents;           // its events only with Keep::objects
  std::vector<JournalEvent> decoded;  // Keep::events
  std::string first_undecodable;      // Keep::events: the first line's decoding error, thrown once the chain holds
  std::uint64_t last_seq = 0;
  size_t good_bytes = 0;  // length of the prefix made of complete, valid lines
};

// Checks journal lines one at a time; see read_journal for the rules. `name` names the file in
// messages.
class LineChecker {
 public:
  LineChecker(std::string name, Keep keep) : name_(std::move(name)), keep_(keep) { parsed_.contents.last_hash = journal_genesis_hash(); }

  // The 1-based number of the line being read.
  size_t line_number() const { return line_number_ + 1; }

  // A line longer than kMaxJournalLineBytes that has its newline: never written by labloop.
  [[noreturn]] void too_long() const { too_long_at(line_number()); }

  // A torn write is a last line without its newline: append() writes the newline last and
  // acknowledges nothing before fsync, so such a line was never acknowledged and is dropped, even
  // if what is there happens to parse. A line WITH its newline was written whole; if it is wrong,
  // the file was damaged after the fact and that is reported (complete()), never cut away as a
  // torn write.
  // `overlong`: the line passed kMaxJournalLineBytes before the file ended. labloop never writes
  // one that long, so it is not called incomplete: the message names the limit (a 300 MB line
  // was reported as a torn write, and status then as a journal without its first event).
  void torn(bool overlong = false) {
    parsed_.contents.torn_tail = true;
    parsed_.contents.torn_tail_overlong = overlong;
    parsed_.contents.torn_tail_message =
        overlong ? fmt::format("{}: line {} is longer than {} MiB ({} bytes), the longest line a journal holds, and has no newline: "
                               "labloop never writes such a line; ignored as a torn write",
                               name_, line_number(), kMaxJournalLineBytes >> 20, kMaxJournalLineBytes)
                 : fmt::format("{}: line {} is incomplete (torn write); ignored", name_, line_number());
  }

  // One whole line, without its newline.
  void complete(std::string_view line) {
    ++line_number_;
    const size_t line_number = line_number_;
    const std::string& name = name_;
    if (line.size() > kMaxJournalLineBytes) too_long_at(line_number);
    // Checked before parsing: nested JSON is handled recursively, and a deep enough line would
    // overflow the stack of every reader (resume, verify, replay) instead of being reported.
    if (const auto at = find_excess_nesting(line, kMaxJournalLineDepth))
      throw JournalError(fmt::format("{}: line {} nests arrays/objects deeper than {} levels (at byte {} of the line); "
                                     "labloop never writes such a line; {}",
                                     name, line_number, kMaxJournalLineDepth, *at, kDamagedAdvice));
    // A NUL ends nlohmann's reading of a line: what follows it would go unread (labloop never writes one).
    json event = line.find('\0') == std::string::npos ? json::parse(line, nullptr, /*allow_exceptions=*/false) : json(json::value_t::discarded);
    // `labloop status campaign.json` read the campaign file as a journal and called it damaged,
    // advising a restore from backup: a first line that is no event, in a file not named as a
    // journal, is most likely not one.
    if (line_number == 1 && std::filesystem::path(name).filename() != "journal.jsonl" &&
        !(event.is_object() && event.contains("seq") && event.contains("event")))
      throw JournalError(fmt::format("{}: is not a campaign's journal (its first line is no journal event): give the campaign's folder "
                                     "(where labloop run wrote journal.jsonl), or its journal.jsonl",
                                     name));
    if (event.is_discarded())
      throw JournalError(fmt::format("{}: line {} is not valid JSON; {}", name, line_number, kDamagedAdvice));
    if (!event.is_object())
      throw JournalError(fmt::format("{}: line {} is not a JSON object; {}", name, line_number, kDamagedAdvice));
    const auto seq = event.find("seq");
    if (seq == event.end() || !seq->is_number_unsigned())
      throw JournalError(
          fmt::format("{}: line {} has no positive integer \"seq\"; {}", name, line_number, kDamagedAdvice));
    const auto kind = event.find("event");
    if (kind == event.end() || !kind->is_string())
      throw JournalError(fmt::format("{}: line {} has no string \"event\"; {}", name, line_number, kDamagedAdvice));
    // The chain is checked on the raw bytes (see journal.hpp), before seq, so that an edited line is
    // reported as edited rather than as whatever its edit happened to break.
    const bool sealed = line.size() > kHashSuffixLength + 1 && line.substr(line.size() - 2) == "\"}" &&
                        line.substr(line.size() - kHashSuffixLength, kHashPrefix.size()) == kHashPrefix &&
                        is_lower_hex(line.substr(line.size() - kHashHexLength - 2, kHashHexLength));
    if (!sealed)
      throw JournalError(fmt::format("{}: line {} does not end with its \"hash\" (every line is sealed into a hash "
                                     "chain); {}",
                                     name, line_number, kDamagedAdvice));
    const std::string_view stored = line.substr(line.size() - kHashHexLength - 2, kHashHexLength);
    const std::string expected = journal_hash(previous_hash_, line.substr(0, line.size() - kHashSuffixLength));
    if (stored != expected)
      throw JournalError(fmt::format("{}: line {} does not match its hash chain: it was changed, or a line before "
                                     "it was removed or inserted; {}",
                                     name, line_number, kDamagedAdvice));
    std::string before = std::exchange(previous_hash_, expected);
    const auto s = seq->get<std::uint64_t>();
    if (s != previous_seq_ + 1)
      throw JournalError(fmt::format("{}: line {} has seq {} but {} was expected (events are missing or out of "
                                     "order); {}",
                                     name, line_number, s, previous_seq_ + 1, kDamagedAdvice));
    previous_seq_ = s;
    keep(std::move(event), line_number, line_number > 1 ? std::move(before) : std::string());
    parsed_.last_seq = s;
    parsed_.contents.last_hash = previous_hash_;
    parsed_.good_bytes += line.size() + 1;
  }

  Parsed take() { return std::move(parsed_); }

 private:
  void keep(json&& event, size_t line_number, std::string chain_before) {
    if (keep_ == Keep::objects) {
      parsed_.contents.events.push_back(std::move(event));
    } else if (keep_ == Keep::events && parsed_.first_undecodable.empty()) {
      // A damaged chain further on is the graver news, as it was when whole journals were decoded
      // after reading: the first event that does not decode is said only once the chain holds.
      try {
        parsed_.decoded.push_back(decode_event(event, name_, line_number));
        if (parsed_.decoded.back().kind() == EventKind::journal_signed) parsed_.decoded.back().chain_before = std::move(chain_before);
      } catch (const JournalError& e) {
        parsed_.first_undecodable = e.what();
        std::vector<JournalEvent>().swap(parsed_.decoded);
      }
    }
  }

  [[noreturn]] void too_long_at(size_t line_number) const {
    throw JournalError(fmt::format("{}: line {} is longer than {} MiB; labloop never writes such a line; {}", name_, line_number,
                                   kMaxJournalLineBytes >> 20, kDamagedAdvice));
  }

  std::string name_;
  Keep keep_;
  Parsed parsed_;
  size_t line_number_ = 0;  // complete lines so far
  std::uint64_t previous_seq_ = 0;
  std::string previous_hash_ = journal_genesis_hash();
};

// Journal text already in memory.
Parsed parse_text(std::string_view text, const std::string& name) {
  LineChecker checker(name, Keep::objects);
  size_t start = 0;
  while (start < text.size()) {
    const size_t newline = text.find('\n', start);
    if (newline == std::string::npos) {
      checker.torn(text.size() - start > kMaxJournalLineBytes);
      break;
    }
    checker.complete(text.substr(start, newline - start));
    start = newline + 1;
  }
  return checker.take();
}

// The file from offset 0, a line at a time: at most kMaxJournalLineBytes of one line are held.
// A longer line is damage when its newline comes (reported at once) and a torn write when the file
// ends first; either way the rest of it is only scanned for the newline, never kept, and a sparse
// file's holes in it are skipped (a tail of gigabytes of zeros after a crash costs neither memory
// nor a long read).
Parsed parse_file(int fd, const std::filesystem::path& path, Keep keep) {
  LineChecker checker(path.string(), keep);
  std::string line;           // the current line so far
  bool overlong = false;      // the current line passed the limit; its bytes are not kept
  std::vector<char> buffer(1 << 16);
  off_t offset = 0;
  for (bool at_end = false; !at_end;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw JournalError(fmt::format("{}: cannot read the journal: {}", path.string(), os_reason(errno)));
    }
    if (n == 0) break;
    offset += n;
    std::string_view chunk(buffer.data(), static_cast<size_t>(n));
    while (!chunk.empty()) {
      const size_t newline = chunk.find('\n');
      const std::string_view piece = chunk.substr(0, newline);
      if (!overlong && line.size() + piece.size() > kMaxJournalLineBytes) {
        overlong = true;
        std::string().swap(line);
      }
      if (!overlong) line.append(piece);
      if (newline == std::string_view::npos) {
        // A hole in a sparse file holds only zeros, no newline: skipped rather than read.
        if (overlong) {
          const off_t data = ::lseek(fd, offset, SEEK_DATA);
          if (data > offset) offset = data;
          else if (data < 0 && errno == ENXIO) at_end = true;  // a hole up to the end of the file
        }
        break;
      }
      chunk.remove_prefix(newline + 1);
      if (overlong) checker.too_long();
      checker.complete(line);
      line.clear();
    }
  }
  if (overlong || !line.empty()) checker.torn(overlong);
  return checker.take();
}

}  // namespace

std::filesystem::path journal_lock_path(const std::filesystem::path& journal) {
  return journal.parent_path() / ("." + journal.filename().string() + ".lock");
}

Journal::Journal(const std::filesystem::path& path) : path_(path) {
  const std::string name = path_.string();
  // First the lock nothing replaces. A folder where it cannot be made (read-only, yet with a
  // writable journal) still has the journal's own lock.
  const std::string lock_name = journal_lock_path(path_).string();
  UniqueFd lock(open_retrying(lock_name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (lock.get() >= 0 && !lock_exclusive(lock.get())) {
    if (errno == EWOULDBLOCK)
      throw JournalError(fmt::format("{}: the journal is already open in another labloop run; stop that run first "
                                     "(a new campaign may also take another output directory)",
                                     name));
    ::close(lock.release());
  }
  bool created = false;
  int raw = -1;
  // Never through a symbolic link (O_NOFOLLOW): a journal.jsonl linked to a file elsewhere had
  // events appended to it, and one whose only line lacked a newline (a token file) cut to nothing
  // as a torn write. Readers (read_journal) still follow a link: reading harms nothing.
  for (;;) {
    raw = open_journal_file(path_, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (raw >= 0 || errno != ENOENT) break;
    // O_EXCL tells us whether we created it (and so must make the directory entry durable).
    raw = open_journal_file(path_, O_RDWR | O_APPEND | O_CLOEXEC | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (raw >= 0) {
      created = true;
      break;
    }
    if (errno != EEXIST) break;  // someone created it between our two opens: open it normally
  }
  if (raw < 0) {
    const int err = errno;
    if (refused_as_link(name, err)) throw JournalError(symbolic_link_refusal(name));
    throw JournalError(fmt::format("{}: cannot open the journal for writing: {} (the directory must exist and be "
                                   "writable)",
                                   name, os_reason(err)));
  }
  UniqueFd fd(raw);
  if (!lock_exclusive(fd.get())) {
    if (errno == EWOULDBLOCK)
      throw JournalError(fmt::format("{}: the journal is already open in another labloop run; stop that run first "
                                     "(a new campaign may also take another output directory)",
                                     name));
    throw JournalError(fmt::format("{}: cannot lock the journal: {}", name, os_reason(errno)));
  }
  // A journal made here and then not opened (no descriptor left to make it durable, `ulimit -n`)
  // is removed: an empty journal.jsonl was left behind, which verify called FAILED. Only once it
  // is locked: until then another run may have opened it as its own.
  struct RemovedUnlessOpened {
    const std::filesystem::path& path;
    bool made;
    ~RemovedUnlessOpened() {
      if (made) ::unlink(path.c_str());
    }
  } made_here{path_, created};

  const Parsed parsed = parse_file(fd.get(), path_, Keep::nothing);
  if (parsed.contents.torn_tail) {
    if (::ftruncate(fd.get(), static_cast<off_t>(parsed.good_bytes)) != 0 || fsync_retrying(fd.get()) != 0)
      throw JournalError(fmt::format("{}: cannot truncate the torn last line: {}", name, os_reason(errno)));
    removed_torn_tail_ = parsed.contents.torn_tail_message;
  }
  if (created) fsync_directory_of(path_);

  size_ = parsed.good_bytes;
  last_hash_ = parsed.contents.last_hash;
  last_seq_ = parsed.last_seq;
  struct stat info {};
  if (::fstat(fd.get(), &info) == 0) {
    device_ = static_cast<std::uint64_t>(info.st_dev);
    inode_ = static_cast<std::uint64_t>(info.st_ino);
  }
  fd_ = fd.release();
  lock_fd_ = lock.release();
  made_here.made = false;
}

Journal::~Journal() { close(); }

Journal::Journal(Journal&& other) noexcept
    : path_(std::move(other.path_)),
      removed_torn_tail_(std::move(other.removed_torn_tail_)),
      fd_(std::exchange(other.fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      device_(other.device_),
      inode_(other.inode_),
      last_seq_(other.last_seq_),
      last_hash_(std::move(other.last_hash_)),
      size_(other.size_),
      broken_(other.broken_) {}

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    removed_torn_tail_ = std::move(other.removed_torn_tail_);
    fd_ = std::exchange(other.fd_, -1);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    device_ = other.device_;
    inode_ = other.inode_;
    last_seq_ = other.last_seq_;
    last_hash_ = std::move(other.last_hash_);
    size_ = other.size_;
    broken_ = other.broken_;
  }
  return *this;
}

void Journal::close() noexcept {
  // Every acknowledged line is already fsync()ed, so a close() error loses nothing we promised.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (lock_fd_ >= 0) ::close(lock_fd_);  // the lock file stays: removing it would race a next opener
  lock_fd_ = -1;
}

nlohmann::json Journal::append(const std::string& event, nlohmann::json fields) {
  if (!fields.is_object()) throw JournalError("Journal::append: fields must be a JSON object");
  for (const char* reserved : {"seq", "time", "event", "hash"})
    if (fields.contains(reserved))
      throw JournalError(fmt::format("Journal::append: fields must not contain \"{}\"", reserved));
  if (fd_ < 0) throw JournalError(fmt::format("{}: the journal is closed (moved from)", path_.string()));
  if (broken_)
    throw JournalError(fmt::format("{}: an earlier write to the journal failed; once the cause is fixed, `labloop resume` "
                                   "continues the campaign from it",
                                   path_.string()));

  // ordered_json only to put seq/time/event first on the line; the public type stays json.
  nlohmann::ordered_json line{{"seq", last_seq_ + 1}, {"time", journal_now_iso()}, {"event", event}};
  for (const auto& [key, value] : fields.items()) line[key] = nlohmann::ordered_json(value);
  // Replace invalid UTF-8 (e.g. a driver's error text) rather than throwing and losing the event.
  std::string body = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  body.pop_back();  // the closing '}': the hash goes inside the object, last
  // A line no reader would accept must not be written; fields come from depth-checked messages and
  // configs, so this only fires on a caller's bug.
  if (find_excess_nesting(body, kMaxJournalLineDepth))
    throw JournalError(fmt::format("Journal::append: \"{}\" nests deeper than {} levels", event, kMaxJournalLineDepth));
  if (body.size() + kHashSuffixLength > kMaxJournalLineBytes)
    throw JournalError(fmt::format("Journal::append: \"{}\" is longer than {} MiB", event, kMaxJournalLineBytes >> 20));
  const std::string text = write_line(body);
  ++last_seq_;
  return nlohmann::json::parse(text);
}

std::string Journal::copy_aside(const char* what, std::uint64_t from, std::uint64_t to) const {
  const std::string name = path_.string();
  for (int n = 1; n < 100; ++n) {
    const std::string candidate = fmt::format("{}.{}-{}", name, what, n);
    UniqueFd out(open_retrying(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (out.get() < 0) {
      if (errno == EEXIST) continue;
      return "";
    }
    char buffer[65536];
    bool copied = true;
    for (off_t at = static_cast<off_t>(from); at < static_cast<off_t>(to) && copied;) {
      const ssize_t n_read = ::pread(fd_, buffer, std::min<std::uint64_t>(sizeof buffer, to - static_cast<std::uint64_t>(at)), at);
      if (n_read <= 0) copied = n_read == 0;
      if (n_read <= 0) break;
      for (ssize_t done = 0; done < n_read && copied;) {
        const ssize_t w = ::write(out.get(), buffer + done, static_cast<size_t>(n_read - done));
        if (w < 0 && errno == EINTR) continue;
        copied = w > 0;
        done += std::max<ssize_t>(w, 0);
      }
      at += n_read;
    }
    return copied && fsync_retrying(out.get()) == 0 ? candidate : "";
  }
  return "";
}

void Journal::check_still_ours() {
  struct stat mine {};
  if (::fstat(fd_, &mine) != 0) return;  // nothing to compare with; the write itself will say
  const std::string name = path_.string();
  const auto stop = [&](const std::string& what) {
    broken_ = true;
    throw JournalError(what);
  };
  if (static_cast<std::uint64_t>(mine.st_size) < size_)
    stop(fmt::format("{}: another program cut the journal short while the campaign ran ({} of its {} bytes are left; log rotation "
                     "with copytruncate?): this controller stops. Put back a copy of the whole file if there is one; `labloop verify` "
                     "says how much of it holds together",
                     name, static_cast<std::uint64_t>(mine.st_size), size_));
  if (static_cast<std::uint64_t>(mine.st_size) > size_) {
    // Bytes this controller did not write (`echo … >>`, a tool padding the file): the next line
    // would have followed them, and the journal would no longer read past them. Kept aside, cut off.
    const auto grown = static_cast<std::uint64_t>(mine.st_size);
    const std::string saved = copy_aside("foreign", size_, grown);
    const bool cut = ::ftruncate(fd_, static_cast<off_t>(size_)) == 0;
    stop(fmt::format("{}: another program wrote {} bytes to the end of the journal while the campaign ran: this controller stops. {}{}",
                     name, grown - size_, saved.empty() ? "They could not be saved beside it. " : fmt::format("They are saved as {}. ", saved),
                     cut ? "They are cut off, so the journal holds what this controller wrote, and `labloop resume` continues the campaign"
                         : fmt::format("They could not be cut off: remove what follows byte {} of the journal, then `labloop resume`", size_)));
  }
  struct stat there {};
  const bool found = ::stat(path_.c_str(), &there) == 0;
  if (found && static_cast<std::uint64_t>(there.st_dev) == device_ && static_cast<std::uint64_t>(there.st_ino) == inode_) return;
  if (!found && mine.st_nlink > 0) {
    // Moved, with its folder most likely: the file is still whole, wherever it is now.
    std::error_code ec;
    const auto now_at = std::filesystem::read_symlink(fmt::format("/proc/self/fd/{}", fd_), ec);
    // Renamed within its folder: "resume the folder where it is now" found no journal there.
    if (!ec && now_at.parent_path() == std::filesystem::absolute(path_, ec).parent_path() && !ec)
      stop(fmt::format("{}: the journal is no longer there: it was renamed to {} while the campaign ran. This controller stops; rename "
                       "it back to {}, then `labloop resume` continues the campaign",
                       name, now_at.filename().string(), path_.filename().string()));
    stop(fmt::format("{}: the journal is no longer there: it (or its folder) was moved{} while the campaign ran. This controller "
                     "stops; `labloop resume` on the folder where it is now continues the campaign",
                     name, ec ? std::string() : " to " + now_at.string()));
  }
  // Replaced (an editor or a sync tool saving it, a copy moved over it) or deleted: what this
  // controller wrote lives only in the file it holds open. Saved beside it before stopping.
  const std::string saved = copy_aside("displaced", 0, size_);
  stop(fmt::format("{}: this is no longer the journal this campaign writes: it was {} while the campaign ran (an editor or a "
                   "sync tool saving it? a copy moved over it?), and another labloop may have resumed from it. This controller "
                   "stops. {} Compare the two, put the right one back as {}, then `labloop resume`",
                   name, found ? "replaced by another file" : "deleted",
                   saved.empty() ? "What it wrote could not be saved beside it." : fmt::format("What it wrote ({} events) is saved as {}.", last_seq_, saved),
                   path_.filename().string()));
}

std::string Journal::write_line(const std::string& body) {
  check_still_ours();
  const std::string hash = journal_hash(last_hash_, body);
  const std::string line = fmt::format("{}{}{}\"}}\n", body, kHashPrefix, hash);
  const auto fail = [&](const char* what, int err) {
    broken_ = true;
    // Best effort: cut back to the last acknowledged line so the file stays readable.
    (void)::ftruncate(fd_, static_cast<off_t>(size_));
    throw JournalError(fmt::format("{}: cannot {} the journal: {}; the last event was not recorded", path_.string(),
                                   what, os_reason(err)));
  };
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write to", errno);
    }
    written += static_cast<size_t>(n);  // short writes just continue; O_APPEND keeps them contiguous
  }
  if (fsync_retrying(fd_) != 0) fail("fsync", errno);
  size_ += line.size();
  last_hash_ = hash;
  return line;
}

std::vector<std::filesystem::path> displaced_copies(const std::filesystem::path& journal) {
  std::vector<std::filesystem::path> found;
  const std::string prefix = journal.filename().string() + ".displaced-";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(journal.parent_path().empty() ? "." : journal.parent_path(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > prefix.size() && name.rfind(prefix, 0) == 0 &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      found.push_back(journal.parent_path() / name);
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string displaced_copy_note(const std::filesystem::path& copy, std::size_t journal_events) {
  std::string events;
  try {
    events = fmt::format("{} events", count_journal_events(copy));
  } catch (const JournalError&) {
    events = "not readable as a journal";
  }
  return fmt::format("{} ({}; the journal holds {}) is what a run of this campaign had written when its journal was replaced or "
                     "deleted while it ran. Compare the two, keep the right one as {}, and move the other out of the folder",
                     copy.string(), events, journal_events, copy.filename().string().substr(0, copy.filename().string().rfind(".displaced-")));
}

std::string journal_hash(std::string_view previous_hash, std::string_view body) {
  static const bool ready = sodium_init() >= 0;  // thread-safe once; hashing works either way
  (void)ready;
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(previous_hash.data()), previous_hash.size());
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, 2 * crypto_hash_sha256_BYTES);
}

const std::string& journal_genesis_hash() {
  static const std::string genesis(kHashHexLength, '0');
  return genesis;
}

namespace {

Parsed read_journal_keeping(const std::filesystem::path& path, Keep keep) {
  UniqueFd fd(open_journal_file(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      // Deleted or renamed while its campaign ran: the run saved what it had written beside it.
      if (const auto copies = displaced_copies(path); !copies.empty())
        throw JournalError(fmt::format("{}: no such journal, but {} is what a run of this campaign had written when its journal was "
                                       "deleted or renamed while it ran: put it back as {} (or the renamed file, if that is the right one)",
                                       path.string(), copies.back().string(), path.filename().string()));
      throw JournalError(fmt::format("{}: no such journal (is the name right? a campaign's folder holds its journal.jsonl)", path.string()));
    }
    throw JournalError(fmt::format("{}: cannot open the journal: {}", path.string(), os_reason(errno)));
  }
  return parse_file(fd.get(), path, keep);
}

}  // namespace

JournalContents read_journal(const std::filesystem::path& path) { return read_journal_keeping(path, Keep::objects).contents; }

std::size_t count_journal_events(const std::filesystem::path& path) {
  return static_cast<std::size_t>(read_journal_keeping(path, Keep::nothing).last_seq);  // seqs run 1, 2, … (checked)
}

JournalEvents read_campaign_journal(const std::filesystem::path& path) {
  JournalEvents journal = read_journal_events(path);
  // Said as what it is, not as a journal that "does not start with a campaign_started event".
  if (journal.events.empty() && journal.torn_tail)
    throw JournalError(fmt::format("{} (the journal holds no whole event: no campaign is recorded there, and `labloop run` starts one there "
                                   "afresh)",
                                   journal.torn_tail_message));
  return journal;
}

JournalEvents read_journal_events(const std::filesystem::path& path) {
  Parsed parsed = read_journal_keeping(path, Keep::events);
  if (!parsed.first_undecodable.empty()) throw JournalError(parsed.first_undecodable);
  JournalContents& c = parsed.contents;
  return JournalEvents{std::move(parsed.decoded), c.torn_tail, std::move(c.torn_tail_message), c.torn_tail_overlong, std::move(c.last_hash)};
}

JournalContents parse_journal(std::string_view text, const std::string& source) {
  return parse_text(text, source).contents;
}

std::optional<std::int64_t> journal_time_ms(std::string_view text) {
  // The one form the journal writes (journal_now_iso above): 24 characters, milliseconds, UTC.
  if (text.size() != 24 || text[19] != '.' || text[23] != 'Z') return std::nullopt;
  for (std::size_t i = 20; i < 23; ++i)
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  const auto seconds = parse_utc_iso(std::string(text.substr(0, 19)) + "Z");  // a real date and time
  if (!seconds || text.substr(0, 4) < "2000") return std::nullopt;
  const int millis = (text[20] - '0') * 100 + (text[21] - '0') * 10 + (text[22] - '0');
  return static_cast<std::int64_t>(*seconds) * 1000 + millis;
}

std::optional<std::chrono::system_clock::time_point> parse_journal_time(const std::string& text) {
  using namespace std::chrono;
  const auto ms = journal_time_ms(text);
  // The clock counts nanoseconds to 2262: a later year (verify lets up to 9999 pass) wrapped round
  // and ended a resumed campaign at once, "time budget reached" (a red-team report).
  if (!ms || *ms > duration_cast<milliseconds>(system_clock::time_point::max().time_since_epoch()).count()) return std::nullopt;
  return system_clock::time_point(duration_cast<system_clock::duration>(milliseconds(*ms)));
}

}  // namespace labloop
