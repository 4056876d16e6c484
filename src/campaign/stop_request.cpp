#include "labloop/campaign/stop_request.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iterator>

#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"

namespace labloop {

namespace fs = std::filesystem;
using json = nlohmann::json;

json StopRequest::to_json() const { return {{"by", by}, {"reason", reason}, {"at", at}, {"source", source}}; }

fs::path stop_request_path(const fs::path& campaign_dir) { return campaign_dir / "stop-request.json"; }

void write_stop_request(const fs::path& campaign_dir, const StopRequest& request) {
  if (request.by.size() > kMaxStopRequestText || request.reason.size() > kMaxStopRequestText)
    throw Error(fmt::format("who asked and why are at most {} bytes each", kMaxStopRequestText));
  write_whole_file(stop_request_path(campaign_dir).string(), request.to_json().dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                   "the stop request");
}

std::optional<StopRequest> read_stop_request(const fs::path& campaign_dir) {
  const fs::path path = stop_request_path(campaign_dir);
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (ec || !fs::exists(status)) return std::nullopt;
  StopRequest request;
  request.source = "unknown";
  const auto unreadable = [&](const std::string& why) {
    request.reason = fmt::format("(the request could not be read: {})", why);
    return request;
  };
  if (!fs::is_regular_file(status)) return unreadable("it is not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) return unreadable(ec.message());
  if (size > kMaxStopRequestBytes) return unreadable(fmt::format("{} bytes; at most {}", size, kMaxStopRequestBytes));
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return unreadable("it cannot be read");
  if (find_excess_nesting(text, 1)) return unreadable("it nests deeper than one object");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    return unreadable("it is not JSON");
  }
  if (!j.is_object()) return unreadable("it is not a JSON object");
  const auto text_of = [&](const char* field) {
    const auto it = j.find(field);
    return it == j.end() || !it->is_string() ? std::string() : it->get<std::string>();
  };
  for (const char* field : {"by", "reason", "at", "source"})
    if (text_of(field).size() > kMaxStopRequestText) return unreadable(fmt::format("its \"{}\" is over {} bytes", field, kMaxStopRequestText));
  request.by = text_of("by");
  request.reason = text_of("reason");
  request.at = text_of("at");
  if (const std::string source = text_of("source"); !source.empty()) request.source = source;
  return request;
}

bool remove_stop_request(const fs::path& campaign_dir) {
  std::error_code ec;
  const bool removed = fs::remove(stop_request_path(campaign_dir), ec);
  if (ec) throw Error(fmt::format("{}: cannot remove the stop request: {}", stop_request_path(campaign_dir).string(), ec.message()));
  return removed;
}

}  // namespace labloop
