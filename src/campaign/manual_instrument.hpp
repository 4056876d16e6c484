#pragma once
// Internal: a person as an instrument. The campaign serves it in-process on a private endpoint,
// like a dry run's stand-ins, so manual experiments are dispatched, accepted, timed out, resumed
// and journaled by exactly the code that handles drivers. Its run waits for the person's entry
// (manual_entry.hpp) in the campaign's inbox and returns it.
#include <chrono>
#include <filesystem>
#include <functional>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/wire/driver.hpp"

namespace labloop::detail {

class ManualInstrument final : public Driver {
 public:
  ManualInstrument(const CampaignConfig& config, size_t index, std::filesystem::path campaign_dir,
                   std::function<void(const std::string&)> log);
  InstrumentInfo describe() const override;
  Values run(const Params& params, std::stop_token stop) override;  // never called: see run_experiment
  Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) override;

  // How often a waiting experiment looks for its entry; a person never notices a quarter second.
  static constexpr std::chrono::milliseconds kPoll{250};

 private:
  CampaignConfig config_;  // what an entry is checked against (outputs, ranges, the objective)
  InstrumentInfo info_;
  std::filesystem::path dir_;
  std::function<void(const std::string&)> log_;
};

}  // namespace labloop::detail
