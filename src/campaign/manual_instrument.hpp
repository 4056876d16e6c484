#pragma once
// Internal: a person as an instrument. The campaign serves it in-process on a private endpoint,
// like a dry run's stand-ins, so manual experiments are dispatched, accepted, timed out, resumed
// and journaled by exactly the code that handles drivers. Its run waits for the person's entry
// (manual_entry.hpp) in the campaign's inbox and returns it.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/manual_entry.hpp"
#include "labloop/wire/driver.hpp"

namespace labloop::detail {

class ManualInstrument final : public Driver {
 public:
  // `proposed`: when each experiment open at a resume was proposed (journal times), by id.
  ManualInstrument(const CampaignConfig& config, size_t index, std::filesystem::path campaign_dir,
                   std::function<void(const std::string&)> log, std::map<std::string, std::string> proposed = {});
  InstrumentInfo describe() const override;
  Values run(const Params& params, std::stop_token stop) override;  // never called: see run_experiment
  Values run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) override;

  // The entry whose values run_experiment returned for `experiment`: who entered it, when and
  // from where, as it was when read. The campaign journals them with the result; read from the
  // inbox again there, a file deleted or replaced meanwhile (as the docs allow) left a result
  // without who entered it, or with another entry's name (a red-team report).
  std::optional<ManualEntry> entry_taken(const std::string& experiment);

  // Whether the inbox holds an entry for `experiment`, read or not yet, good or refused: at its
  // timeout, the campaign waits kEntryGrace for it to be read rather than fail an experiment a
  // person entered a moment before the deadline (an entry saved, then thrown away).
  bool entry_waiting(const std::string& experiment) const;

  // How often a waiting experiment looks for its entry; a person never notices a quarter second.
  static constexpr std::chrono::milliseconds kPoll{250};
  // Past a timeout, how long an entry in the inbox is waited for: a few polls, so a refused entry
  // (the person is told why) does not hold the timeout for long.
  static constexpr std::chrono::milliseconds kEntryGrace{2000};

 private:
  CampaignConfig config_;  // what an entry is checked against (outputs, ranges, the objective)
  InstrumentInfo info_;
  std::filesystem::path dir_;
  std::function<void(const std::string&)> log_;
  // Since when each experiment exists (its proposal at a resume, else its first run here): an
  // entry that says it was made before that is for something else (a file left from another
  // campaign, or written ahead) and is refused. Runs may wait side by side: guarded.
  std::mutex since_mutex_;
  std::map<std::string, std::chrono::system_clock::time_point> since_;
  std::chrono::system_clock::time_point since(const std::string& experiment);
  std::map<std::string, ManualEntry> taken_;  // guarded by since_mutex_
};

}  // namespace labloop::detail
