#pragma once
// The campaign journal: an append-only JSON-lines file, one event per line, that is the single source
// of truth for a campaign (reports, resume and audits are all derived from it).
//
// Line format: one JSON object per line, keys "seq", "time", "event" first, then the event's own fields:
//   {"seq":1,"time":"2026-11-25T08:30:00.123Z","event":"campaign_started","campaign":"quickstart",…}
// "seq" counts 1, 2, 3, … with no gaps; "time" is UTC ISO-8601 with milliseconds.
//
// Durability: `append` returns only after the line has been written and fsync()ed, so an event that
// was acknowledged survives a crash or power loss. A crash mid-append can leave a torn last line (no
// trailing newline, or unparsable); it was never acknowledged, so readers report and ignore it and
// reopening a Journal truncates it away.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labloop {

// Writes one journal file. Not thread-safe: one thread appends at a time (the campaign loop).
// Only one Journal may hold a given file open at a time, in any process (enforced with an
// advisory flock), so two controllers can never interleave events in one journal.
class Journal {
 public:
  // Opens `path` for appending, creating it (not its directory) if needed; a newly created file's
  // directory is fsync()ed so the file itself survives power loss. When the file already has events,
  // numbering continues after the last one; a torn last line is truncated away first (it was never
  // acknowledged). Throws JournalError naming the path and the reason when the file cannot be opened,
  // is damaged before its last line (see read_journal), or is held by another Journal.
  explicit Journal(const std::filesystem::path& path);
  ~Journal();  // closes the file
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;

  // Writes {"seq": last_seq()+1, "time": now, "event": event, …fields} as one line and fsync()s it
  // before returning; returns the event exactly as written (parsed back from the line). `fields`
  // must be an object without "seq", "time" or "event" keys (std::invalid_argument otherwise).
  // Strings that are not valid UTF-8 are written with U+FFFD replacements rather than losing the
  // event. Throws JournalError when the write or fsync fails; the partial line is then truncated
  // away if possible and this Journal refuses further appends (reopen it to continue), since after
  // a failed fsync the state of the file is unknown.
  nlohmann::json append(const std::string& event, nlohmann::json fields = nlohmann::json::object());

  std::uint64_t last_seq() const { return last_seq_; }  // 0 when the journal has no events
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_line(const std::string& line);  // the one place a line reaches the file
  void close() noexcept;

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t last_seq_ = 0;
  std::uint64_t size_ = 0;  // bytes of complete, acknowledged lines
  bool broken_ = false;     // a write or fsync failed: no more appends
};

struct JournalContents {
  std::vector<nlohmann::json> events;  // in file order; each an object with "seq", "time", "event"
  bool torn_tail = false;              // last line incomplete (power loss mid-write): reported and ignored
  std::string torn_tail_message;       // "<path>: line 12 is incomplete (torn write); ignored"
};

// Reads a whole journal. A torn last line is tolerated (see above). Any other unparsable line, a line
// that is not an object, lacks an integer "seq" or a string "event", or whose seq is not the previous
// seq + 1 (the first being 1) throws JournalError naming the file and the 1-based line number. A file
// that cannot be read throws JournalError with the OS reason.
JournalContents read_journal(const std::filesystem::path& path);

}  // namespace labloop
