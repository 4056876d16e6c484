#pragma once
// A request to stop a running campaign, left in its folder by someone who cannot send the campaign
// a signal: the operator console (docs/console.md). DIR/stop-request.json, written whole or not at
// all. The campaign holding the journal looks for it at every step of its loop (one stat),
// journals who asked (a stop_requested event), removes it, and stops as on a first Ctrl-C: no new
// experiments, running ones get the stop grace period, a person's stay open. A request found when a
// run or resume takes the journal was meant for an earlier run: it is removed, not acted on.
//
// The campaign's last look, as it finishes, closes the path: a request there is journaled with the
// finish, and a "closed" marker takes its name, so a console asking later is refused (link()
// finds the name taken) instead of leaving a request nobody reads. The marker stays until the next
// run takes the journal, which removes it without a word: removed any earlier, a console that saw
// the campaign running a moment before could write a request after it, and be told "asked".
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace labloop {

// Stated limits: a file over this size is not read (a request is a few hundred bytes), and its free
// text (who, why) is at most kMaxStopRequestText bytes each.
constexpr std::size_t kMaxStopRequestBytes = 16 * 1024;
constexpr std::size_t kMaxStopRequestText = 1000;

// The source a request read from the folder is journaled with unless the file says "console" (the
// console's own): the file it came through. Any other text the file claims is not taken.
constexpr const char* kStopRequestSource = "stop request file";

struct StopRequest {
  std::string by;      // who asked
  std::string reason;  // why, "" when not said
  std::string at;      // when (ISO-8601 UTC)
  std::string source;  // written: "console"; read back: "console", else kStopRequestSource ("unknown" when unreadable)

  nlohmann::json to_json() const;
};

std::filesystem::path stop_request_path(const std::filesystem::path& campaign_dir);

enum class StopRequestWritten {
  written,        // it will be read: by the loop, or by the last look as the campaign finishes
  already_asked,  // another request is waiting: it stands
  closed,         // the campaign has taken its last look (it finished): nothing was asked
};

// Writes the request unless the name is taken (a temporary sibling of its own, fsynced, then
// linked into place: the first request stands, whole, and none lands after the last look). Throws
// Error when the text is over its limit or the disk refuses.
StopRequestWritten write_stop_request(const std::filesystem::path& campaign_dir, const StopRequest& request);

// The request in the folder, if there is one. A file that cannot be read as one is still a request
// to stop (stopping is the safe side): its `reason` then says what was wrong with it. The closed
// marker is none.
std::optional<StopRequest> read_stop_request(const std::filesystem::path& campaign_dir);

// The campaign's last look: a request there is handed to `record` (to be journaled before
// campaign_finished), then the closed marker is renamed over it, so the name is never free for a
// console to write into; with none there, the marker is linked into place. When `record` throws,
// the request is left as it was and the exception passes on. Throws Error when the disk refuses.
void close_stop_requests(const std::filesystem::path& campaign_dir, const std::function<void(const StopRequest&)>& record);

// Whether the closed marker is there.
bool stop_requests_closed(const std::filesystem::path& campaign_dir);

// As a run, resume or extend takes the journal: the marker is removed quietly (an earlier run
// finished, or died between its last look and letting go of the journal); a request is removed and
// returned, for the log to say whose it was: it was meant for an earlier run and never read.
// Throws Error when it cannot be removed.
std::optional<StopRequest> reopen_stop_requests(const std::filesystem::path& campaign_dir);

// Removes it; false when there was none. Throws Error when it is there and cannot be removed.
bool remove_stop_request(const std::filesystem::path& campaign_dir);

}  // namespace labloop
