#include "manual_instrument.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <thread>

#include "labloop/campaign/manual_entry.hpp"
#include "labloop/core/error.hpp"

namespace labloop::detail {

ManualInstrument::ManualInstrument(const CampaignConfig& config, size_t index, std::filesystem::path campaign_dir,
                                   std::function<void(const std::string&)> log)
    : config_(config), info_(manual_info(config, index)), dir_(std::move(campaign_dir)), log_(std::move(log)) {}

InstrumentInfo ManualInstrument::describe() const { return info_; }

Values ManualInstrument::run(const Params&, std::stop_token) {
  throw std::logic_error("a manual instrument needs the experiment id: serve() calls run_experiment");
}

Values ManualInstrument::run_experiment(const std::string& experiment, const Params&, std::stop_token stop) {
  // An unreadable or refused entry is reported once and waited past: `labloop enter` checks what it
  // writes, so this is a hand-written or damaged file, held to the same checks (read_checked_entry)
  // and never recorded; the experiment stays open for the person to delete it and enter again.
  std::string reported;
  while (!stop.stop_requested()) {
    try {
      if (auto entry = read_checked_entry(dir_, experiment, config_)) {
        if (entry->failed) throw std::runtime_error(fmt::format("{} (entered by {})", *entry->failed, entry->by));
        return entry->values;
      }
    } catch (const Error& e) {
      if (reported != e.what())
        log_(fmt::format("{}: {}; {} stays open: fix or delete that file, then enter again", info_.driver, reported = e.what(), experiment));
    }
    std::this_thread::sleep_for(kPoll);
  }
  throw std::runtime_error("aborted");
}

}  // namespace labloop::detail
