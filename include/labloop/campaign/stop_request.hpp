#pragma once
// A request to stop a running campaign, left in its folder by someone who cannot send the campaign
// a signal: the operator console (docs/console.md). DIR/stop-request.json, written whole or not at
// all. The campaign holding the journal looks for it at every step of its loop (one stat),
// journals who asked (a stop_requested event), removes it, and stops as on a first Ctrl-C: no new
// experiments, running ones get the stop grace period, a person's stay open. A request found when a
// run or resume takes the journal was meant for an earlier run: it is removed, not acted on.
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace labloop {

// Stated limits: a file over this size is not read (a request is a few hundred bytes), and its free
// text (who, why) is at most kMaxStopRequestText bytes each.
constexpr std::size_t kMaxStopRequestBytes = 16 * 1024;
constexpr std::size_t kMaxStopRequestText = 1000;

struct StopRequest {
  std::string by;      // who asked
  std::string reason;  // why, "" when not said
  std::string at;      // when (ISO-8601 UTC)
  std::string source;  // "console"

  nlohmann::json to_json() const;
};

std::filesystem::path stop_request_path(const std::filesystem::path& campaign_dir);

// Writes the request unless one is there already (a temporary sibling of its own, fsynced, then
// linked into place: the first request stands, whole). Returns false when one was there. Throws
// Error when the text is over its limit or the disk refuses.
bool write_stop_request(const std::filesystem::path& campaign_dir, const StopRequest& request);

// The request in the folder, if there is one. A file that cannot be read as one is still a request
// to stop (stopping is the safe side): its `reason` then says what was wrong with it.
std::optional<StopRequest> read_stop_request(const std::filesystem::path& campaign_dir);

// Removes it; false when there was none. Throws Error when it is there and cannot be removed.
bool remove_stop_request(const std::filesystem::path& campaign_dir);

}  // namespace labloop
