#include "manual_instrument.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <thread>

#include "labloop/campaign/manual_entry.hpp"
#include "labloop/core/error.hpp"

namespace labloop::detail {

ManualInstrument::ManualInstrument(const CampaignConfig& config, size_t index, std::filesystem::path campaign_dir,
                                   std::function<void(const std::string&)> log)
    : info_(manual_info(config, index)), dir_(std::move(campaign_dir)), log_(std::move(log)) {}

InstrumentInfo ManualInstrument::describe() const { return info_; }

Values ManualInstrument::run(const Params&, std::stop_token) {
  throw std::logic_error("a manual instrument needs the experiment id: serve() calls run_experiment");
}

Values ManualInstrument::run_experiment(const std::string& experiment, const Params&, std::stop_token stop) {
  // An unreadable entry is reported once and waited past: `labloop enter` checked it when it was
  // written, so this is a hand-edited or damaged file, and the person can fix it in place.
  std::string reported;
  while (!stop.stop_requested()) {
    try {
      if (auto entry = read_entry(dir_, experiment)) {
        if (entry->failed) throw std::runtime_error(fmt::format("{} (entered by {})", *entry->failed, entry->by));
        return entry->values;
      }
    } catch (const Error& e) {
      if (reported != e.what()) log_(fmt::format("{}: {}", info_.driver, reported = e.what()));
    }
    std::this_thread::sleep_for(kPoll);
  }
  throw std::runtime_error("aborted");
}

}  // namespace labloop::detail
