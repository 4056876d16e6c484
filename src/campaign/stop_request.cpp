#include "labloop/campaign/stop_request.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/small_file.hpp"
#include "labloop/core/unique_fd.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"

namespace labloop {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string os_reason(int err) { return std::strerror(err); }

}  // namespace

json StopRequest::to_json() const { return {{"by", by}, {"reason", reason}, {"at", at}, {"source", source}}; }

fs::path stop_request_path(const fs::path& campaign_dir) { return campaign_dir / "stop-request.json"; }

namespace {

// `text` in a temporary sibling of the request under a name of its own (two consoles, or two
// threads, may write at once), fsynced: linked or renamed into place whole.
fs::path write_stop_temporary(const fs::path& campaign_dir, const std::string& text) {
  static std::atomic<unsigned long> calls{0};
  const fs::path temp = campaign_dir / fmt::format(".stop-request.{}.{}.tmp", ::getpid(), calls++);
  UniqueFd f{::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644)};
  if (f.get() < 0) throw Error(fmt::format("{}: cannot create: {}", temp.string(), os_reason(errno)));
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(f.get(), text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::unlink(temp.c_str());
      throw Error(fmt::format("{}: cannot write: {}", temp.string(), os_reason(err)));
    }
    written += static_cast<std::size_t>(n);
  }
  ::fsync(f.get());
  return temp;
}

// The marker's one field: what a person who opens the file reads.
constexpr const char* kStopClosedField = "closed";

bool is_stop_closed_marker(const std::string& text) {
  if (find_excess_nesting(text, 1)) return false;
  const json j = json::parse(text, nullptr, false);
  return j.is_object() && j.contains(kStopClosedField);
}

}  // namespace

StopRequestWritten write_stop_request(const fs::path& campaign_dir, const StopRequest& request) {
  if (request.by.size() > kMaxStopRequestText || request.reason.size() > kMaxStopRequestText)
    throw Error(fmt::format("who asked and why are at most {} bytes each", kMaxStopRequestText));
  const std::string text = request.to_json().dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  // Linked into place: link() refuses an existing name, so the first request stands, none is torn
  // or replaced, and none is written once the campaign's last look has put its marker there.
  const fs::path target = stop_request_path(campaign_dir);
  const fs::path temp = write_stop_temporary(campaign_dir, text);
  const int rc = ::link(temp.c_str(), target.c_str());
  const int err = errno;
  ::unlink(temp.c_str());
  if (rc == 0) return StopRequestWritten::written;
  // The name stays taken from here on (only the campaign removes it, and never once closed):
  // what is there is what the request met.
  if (err == EEXIST) return stop_requests_closed(campaign_dir) ? StopRequestWritten::closed : StopRequestWritten::already_asked;
  throw Error(fmt::format("{}: cannot create: {}", target.string(), os_reason(err)));
}

bool stop_requests_closed(const fs::path& campaign_dir) {
  const SmallFile file = read_small_file(stop_request_path(campaign_dir), kMaxStopRequestBytes);
  return file.status == SmallFile::Status::read && is_stop_closed_marker(file.text);
}

void close_stop_requests(const fs::path& campaign_dir, const std::function<void(const StopRequest&)>& record) {
  const fs::path target = stop_request_path(campaign_dir);
  const std::string text =
      json{{kStopClosedField, "the campaign took its last look for a stop request as it finished; one asked now has nothing to stop"},
           {"at", utc_now_iso()}}
          .dump() +
      "\n";
  const fs::path temp = write_stop_temporary(campaign_dir, text);
  const auto fail = [&](const std::string& doing, int err) {
    ::unlink(temp.c_str());
    throw Error(fmt::format("{}: cannot {}: {}", target.string(), doing, os_reason(err)));
  };
  if (::link(temp.c_str(), target.c_str()) == 0) {
    ::unlink(temp.c_str());
    return;
  }
  if (errno != EEXIST) fail("create", errno);
  // A request is there, and stays as it is while it is read and recorded: a console's link()
  // finds the name taken. rename() then puts the marker in its place without freeing the name.
  try {
    if (const std::optional<StopRequest> request = read_stop_request(campaign_dir)) record(*request);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) fail("replace the request with the closed marker", errno);
}

std::optional<StopRequest> reopen_stop_requests(const fs::path& campaign_dir) {
  // Read once: a console's request can land only once the marker is gone, and is then this run's.
  if (stop_requests_closed(campaign_dir)) {
    remove_stop_request(campaign_dir);
    return std::nullopt;
  }
  std::optional<StopRequest> stale = read_stop_request(campaign_dir);
  if (stale) remove_stop_request(campaign_dir);
  return stale;
}

std::optional<StopRequest> read_stop_request(const fs::path& campaign_dir) {
  const fs::path path = stop_request_path(campaign_dir);
  StopRequest request;
  request.source = "unknown";
  const auto unreadable = [&](const std::string& why) {
    request.reason = fmt::format("the request could not be read: {}", why);
    return request;
  };
  // Opened once, without following a link or waiting on a pipe (small_file.hpp).
  SmallFile file = read_small_file(path, kMaxStopRequestBytes);
  if (file.status == SmallFile::Status::missing) return std::nullopt;
  if (file.status != SmallFile::Status::read) {
    // Something is there (a socket, no permission): still a request, said to be unreadable. One
    // gone between the open and a look is none.
    std::error_code ec;
    if (file.status == SmallFile::Status::unreadable && !fs::exists(fs::symlink_status(path, ec))) return std::nullopt;
    return unreadable(file.reason);
  }
  const std::string& text = file.text;
  if (find_excess_nesting(text, 1)) return unreadable("it nests deeper than one object");
  if (text.find('\0') != std::string::npos) return unreadable("it holds a NUL byte, which JSON text never does");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    return unreadable("it is not JSON");
  }
  if (!j.is_object()) return unreadable("it is not a JSON object");
  if (j.contains(kStopClosedField)) return std::nullopt;  // the last look's marker: no request
  const auto text_of = [&](const char* field) {
    const auto it = j.find(field);
    // Trimmed, as the console's Stop trims what is typed: "  Ann" asked as Ann.
    return it == j.end() || !it->is_string() ? std::string() : trimmed(it->get<std::string>());
  };
  for (const char* field : {"by", "reason", "at", "source"})
    if (text_of(field).size() > kMaxStopRequestText) return unreadable(fmt::format("its \"{}\" is over {} bytes", field, kMaxStopRequestText));
  // Held to what the console's Stop takes (plain text on one line): they go to the journal and to
  // terminals (status, the campaign's log). A file that fails is still a request, as above.
  for (const char* field : {"by", "reason"})
    if (const std::string problem = plain_text_problem(text_of(field)); !problem.empty())
      return unreadable(fmt::format("its \"{}\" {}", field, problem));
  request.by = text_of("by");
  request.reason = text_of("reason");
  request.at = text_of("at");
  // The file's own "source" is a claim: only the console's is kept (journals, status and the card
  // say "console", as they always have), anything else is recorded as the way it came.
  request.source = text_of("source") == "console" ? std::string("console") : std::string(kStopRequestSource);
  return request;
}

bool remove_stop_request(const fs::path& campaign_dir) {
  std::error_code ec;
  const bool removed = fs::remove(stop_request_path(campaign_dir), ec);
  if (ec) throw Error(fmt::format("{}: cannot remove the stop request: {}", stop_request_path(campaign_dir).string(), ec.message()));
  return removed;
}

}  // namespace labloop
