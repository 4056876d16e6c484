#pragma once
// The campaign journal: an append-only JSON-lines file, one event per line, that is the single source
// of truth for a campaign (reports, resume and audits are all derived from it).
//
// Line format: one JSON object per line, keys "seq", "time", "event" first, then the event's own fields:
//   {"seq":1,"time":"2026-11-25T08:30:00.123Z","event":"campaign_started","campaign":"quickstart",…}
// "seq" counts 1, 2, 3, … with no gaps; "time" is UTC ISO-8601 with milliseconds.
//
// Tamper evidence: every line ends with "hash", a SHA-256 chained to the line before it:
//   {"seq":1,…,"hash":"<64 lowercase hex>"}
//   hash = hex(SHA-256(previous line's hash (64 hex chars; 64 '0's for line 1) + body))
// where body is the line's raw bytes up to, not including, the `,"hash":"` that ends it. Raw bytes,
// not re-serialized JSON, so any tool in any language can check the chain (docs/reliability.md).
// Editing, inserting, deleting or reordering any line breaks the chain from that line on.
//
// Durability: `append` returns only after the line has been written and fsync()ed, so an event that
// was acknowledged survives a crash or power loss. A crash mid-append can leave a torn last line: one
// without its trailing newline (the newline is written last). It was never acknowledged, so readers
// report and ignore it and reopening a Journal truncates it away. A last line that has its newline
// but is damaged (bad JSON, wrong hash) is corruption like any other line: it throws, and is never
// truncated away.
//
// Nesting: a line may nest arrays and objects at most kMaxJournalLineDepth levels (the event object
// being level 1). Events wrap protocol messages (protocol::kMaxMessageDepth) and the campaign file
// (kMaxConfigDepth) in a few more levels, so real journals stay far below it; a deeper line is
// refused before parsing, as nested JSON is handled recursively and could overflow the stack.
//
// Length: a line is at most kMaxJournalLineBytes. The longest lines labloop writes carry one
// protocol message (protocol::kMaxMessageBytes, 1 MiB), a person's entry (64 KiB) or the campaign
// file (kMaxConfigBytes, 16 MiB, as read; re-written in canonical form, where a number written
// short, 1e9, can come out longer) with the event's own fields; 64 MiB leaves that room. Readers
// hold at most that much of one line: a longer one is damage (or, without its newline at the end
// of the file, a torn write), found without keeping it in memory. The journal itself must be a
// regular file (a symbolic link to one is followed): a device or a pipe is refused when opened.
#include <cstdint>
#include <chrono>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>
#include "labloop/journal/events.hpp"

namespace labloop {

constexpr std::size_t kMaxJournalLineDepth = 128;
constexpr std::size_t kMaxJournalLineBytes = std::size_t{64} << 20;

// Writes one journal file. Not thread-safe: one thread appends at a time (the campaign loop).
// Only one Journal may hold a given file open at a time, in any process (enforced with an
// advisory flock), so two controllers can never interleave events in one journal. The lock is
// held twice: on the journal itself (what earlier versions hold) and on a lock file beside it
// (journal_lock_path) that nothing replaces — an editor or a sync tool saving journal.jsonl
// replaces the file, and with it the first lock. Before each line the Journal checks that the
// path still names the file it writes; when the file was replaced, moved or cut short by another
// program it stops with a JournalError saying what happened, and a replaced file's events are
// saved beside it first, so nothing written is lost.
class Journal {
 public:
  // Opens `path` for appending, creating it (not its directory) if needed; a newly created file's
  // directory is fsync()ed so the file itself survives power loss. When the file already has events,
  // numbering continues after the last one; a torn last line is truncated away first (it was never
  // acknowledged). Throws JournalError naming the path and the reason when the file cannot be opened,
  // is damaged (any complete line, the last one included; see read_journal), or is held by another
  // Journal.
  explicit Journal(const std::filesystem::path& path);
  ~Journal();  // closes the file
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;

  // Writes {"seq": last_seq()+1, "time": now, "event": event, …fields} as one line and fsync()s it
  // before returning; returns the event exactly as written (parsed back from the line). `fields`
  // must be an object without "seq", "time", "event" or "hash" keys (JournalError otherwise: a caller's
  // bug, reported in the journal layer's own type like every other journal failure).
  // Strings that are not valid UTF-8 are written with U+FFFD replacements rather than losing the
  // event. Throws JournalError when the write or fsync fails; the partial line is then truncated
  // away if possible and this Journal refuses further appends (reopen it to continue), since after
  // a failed fsync the state of the file is unknown.
  nlohmann::json append(const std::string& event, nlohmann::json fields = nlohmann::json::object());

  std::uint64_t last_seq() const { return last_seq_; }  // 0 when the journal has no events
  const std::string& last_hash() const { return last_hash_; }  // the chain's head (64 '0's when empty)
  const std::filesystem::path& path() const { return path_; }
  // The torn last line opening cut away, in words ("<path>: line 12 is incomplete (torn write);
  // ignored"), for a command to say; "" when there was none.
  const std::string& removed_torn_tail() const { return removed_torn_tail_; }

  // Whether the path still names the file this Journal writes, whole; throws JournalError saying
  // what happened otherwise (as an append would). Every append checks; a campaign that waits for
  // hours without one (for people's entries, read from its folder by path) asks now and then.
  void check_still_ours();

 private:
  // The one place a line reaches the file: seals `body` (a JSON object without its closing '}')
  // into the hash chain, writes and fsyncs it; returns the whole line as written.
  std::string write_line(const std::string& body);
  void close() noexcept;

  // Copies bytes [from, to) of the file it holds to "<journal>.<what>-N" (the first N free);
  // returns that path, or "" when it could not be written whole.
  std::string copy_aside(const char* what, std::uint64_t from, std::uint64_t to) const;

  std::filesystem::path path_;
  std::string removed_torn_tail_;
  int fd_ = -1;
  int lock_fd_ = -1;         // journal_lock_path(path_), flocked; -1 where it cannot be made (read-only folder)
  std::uint64_t device_ = 0;  // the file's identity when opened
  std::uint64_t inode_ = 0;
  std::uint64_t last_seq_ = 0;
  std::string last_hash_;
  std::uint64_t size_ = 0;  // bytes of complete, acknowledged lines
  bool broken_ = false;     // a write or fsync failed: no more appends
};

// The lock file a Journal writing `journal` holds (".journal.jsonl.lock" beside it).
std::filesystem::path journal_lock_path(const std::filesystem::path& journal);

struct JournalContents {
  std::vector<nlohmann::json> events;  // in file order; each an object with "seq", "time", "event"
  bool torn_tail = false;              // last line without its newline (crash mid-write): reported and ignored
  std::string torn_tail_message;       // "<path>: line 12 is incomplete (torn write); ignored"
  bool torn_tail_overlong = false;     // that line passed kMaxJournalLineBytes: no crash of labloop's left it
  std::string last_hash;               // hash of the last complete line (64 '0's when there is none)
};

// Reads a whole journal and checks its hash chain. A torn last line (no newline) is tolerated (see
// above). Any other line that is unparsable, nested deeper than kMaxJournalLineDepth, not an object,
// lacks an integer "seq" or a string "event", whose seq is not the previous seq + 1 (the first being
// 1), whose hash is missing or does not match, or that is longer than kMaxJournalLineBytes throws
// JournalError naming the file and the 1-based line number. A file that cannot be read, or that is
// not a regular file (a device, a pipe, a folder), throws JournalError with the reason.
JournalContents read_journal(const std::filesystem::path& path);

// A journal read as read_journal reads it, each line decoded (decode_event) once checked and its
// JSON object dropped: what resume, status, verify and the console read, holding a long campaign's
// events once (a 64 MB journal of 59,653 experiments took 950 MB as JSON objects). The same
// errors as read_journal; then, when the chain holds, the first line that does not decode throws
// its JournalError, as decode_events would.
struct JournalEvents {
  std::vector<JournalEvent> events;  // in file order
  bool torn_tail = false;
  std::string torn_tail_message;
  bool torn_tail_overlong = false;
  std::string last_hash;
};
JournalEvents read_journal_events(const std::filesystem::path& path);
// read_journal_events for a reader that needs a campaign there (status, resume, extend, report,
// replay): a journal holding no whole event, only a torn line, throws JournalError saying so.
JournalEvents read_campaign_journal(const std::filesystem::path& path);
// The checks of read_journal, keeping nothing: how many events the journal holds.
std::size_t count_journal_events(const std::filesystem::path& path);

// The copies a controller saved beside `journal` when another program replaced or deleted it while
// the campaign ran ("journal.jsonl.displaced-1", …: everything that controller had written), in
// name order. Until someone puts the right one back, the journal may be missing events that run.
std::vector<std::filesystem::path> displaced_copies(const std::filesystem::path& journal);
// Said once per copy, for status, verify and resume: "journal.jsonl.displaced-1 (14 events; the
// journal holds 5) is what a run of this campaign wrote when its journal was replaced: …".
std::string displaced_copy_note(const std::filesystem::path& copy, std::size_t journal_events);
// The same checks on journal text already in memory; `source` names it in messages (as the path
// does for read_journal). Throws JournalError only.
JournalContents parse_journal(std::string_view text, const std::string& source);

// The chain link: hex SHA-256 of previous_hash followed by body (see the line format above).
std::string journal_hash(std::string_view previous_hash, std::string_view body);
// The hash before the first line: 64 '0's.
const std::string& journal_genesis_hash();

// A journal's "time" as milliseconds since 1970: the form the journal writes ("2026-11-25T08:30:00.123Z",
// UTC), a real date and time in the years 2000 to 9999; nullopt for any other text. Reading an
// event refuses any other (events.hpp).
std::optional<std::int64_t> journal_time_ms(std::string_view text);
// The same as a clock reading; nullopt when it is not one, or lies past what the clock can hold
// (the year 2262). Time budgets count from the first start, across resumes and extensions.
std::optional<std::chrono::system_clock::time_point> parse_journal_time(const std::string& text);

}  // namespace labloop
