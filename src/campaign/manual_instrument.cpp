#include "manual_instrument.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <thread>

#include "labloop/campaign/manual_entry.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"

namespace labloop::detail {

ManualInstrument::ManualInstrument(const CampaignConfig& config, size_t index, std::filesystem::path campaign_dir,
                                   std::function<void(const std::string&)> log, std::map<std::string, std::string> proposed)
    : config_(config), info_(manual_info(config, index)), dir_(std::move(campaign_dir)), log_(std::move(log)) {
  for (const auto& [id, at] : proposed)
    if (const auto t = parse_journal_time(at)) since_[id] = *t;
}

std::chrono::system_clock::time_point ManualInstrument::since(const std::string& experiment) {
  std::lock_guard lock(since_mutex_);
  return since_.try_emplace(experiment, std::chrono::system_clock::now()).first->second;
}

std::optional<ManualEntry> ManualInstrument::entry_taken(const std::string& experiment) {
  std::lock_guard lock(since_mutex_);
  const auto it = taken_.find(experiment);
  return it == taken_.end() ? std::nullopt : std::optional<ManualEntry>(it->second);
}

bool ManualInstrument::entry_waiting(const std::string& experiment) const {
  std::error_code error;
  return std::filesystem::exists(entry_path(dir_, experiment), error);
}

InstrumentInfo ManualInstrument::describe() const { return info_; }

Values ManualInstrument::run(const Params&, std::stop_token) {
  throw std::logic_error("a manual instrument needs the experiment id: serve() calls run_experiment");
}

Values ManualInstrument::run_experiment(const std::string& experiment, const Params&, std::stop_token stop) {
  // An unreadable or refused entry is reported once and waited past: `labloop enter` checks what it
  // writes, so this is a hand-written or damaged file, held to the same checks (read_checked_entry)
  // and never recorded; the experiment stays open for the person to delete it and enter again.
  std::string reported;
  const auto exists_since = since(experiment);
  while (!stop.stop_requested()) {
    try {
      if (auto entry = read_checked_entry(dir_, experiment, config_, exists_since)) {
        if (entry->failed) throw std::runtime_error(fmt::format("{} (entered by {})", *entry->failed, entry->by));
        Values values = entry->values;
        std::lock_guard lock(since_mutex_);
        taken_.insert_or_assign(experiment, std::move(*entry));
        return values;
      }
    } catch (const Error& e) {
      // Once per version of the file: some refusals quote this computer's clock, and were said
      // again every second, all night, for one file with an "at" in the future (red-team report).
      std::error_code error;
      const std::filesystem::path path = entry_path(dir_, experiment);
      const auto written = std::filesystem::last_write_time(path, error);
      const auto size = error ? 0 : std::filesystem::file_size(path, error);
      const std::string version = error ? e.what() : fmt::format("{} {}", written.time_since_epoch().count(), size);
      if (reported != version) {
        reported = version;
        log_(fmt::format("{}: {}; {} stays open: fix or delete that file, then enter again", info_.driver, e.what(), experiment));
      }
    }
    std::this_thread::sleep_for(kPoll);
  }
  throw std::runtime_error("aborted");
}

}  // namespace labloop::detail
