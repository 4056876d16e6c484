#pragma once
// Rebuilding a planner from a campaign's journal. The campaign journals everything its planner
// was given and gave back — each ask (its number, the pending experiments it was told about) and
// every outcome, in call order — so feeding the same calls to a new planner with the same seed and
// settings (both in campaign_started) reproduces its state exactly. `labloop replay` uses this to
// audit every proposal; `labloop resume` uses it to continue as if never interrupted.
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/model/planner.hpp"

namespace labloop {

// The campaign's configuration as journaled in its campaign_started event (the first line).
// Throws JournalError when the events do not start with one, ConfigError when it does not parse.
CampaignConfig journaled_config(const std::vector<JournalEvent>& events, const std::string& source, const SimulatorCatalogue& simulators);
// The same from the journal's objects (only the first is decoded).
CampaignConfig journaled_config(const std::vector<nlohmann::json>& events, const std::string& source, const SimulatorCatalogue& simulators);

constexpr double kReplayTimeFactor = 20.0;

struct ReplayReport {
  int asks = 0;        // planner calls replayed
  int proposals = 0;   // points compared
  int outcomes = 0;    // results and failures told to the planner
  std::vector<std::string> differences;  // one line per proposal the planner no longer makes
  int time_limited = 0;  // asks that hit the planner's time limit when first made (may differ)
  int replay_time_limited = 0;  // asks that hit it while replayed: this machine busier or slower (may differ)
  bool reproduced() const { return differences.empty(); }
};

// Throws JournalError naming the first proposal or past result whose point ("x", in the unit
// cube) does not fit `config`'s space: another number of coordinates, or one outside 0 to 1.
// replay_journal checks this first; `labloop verify` too, as it loads the configuration.
void check_journaled_points(const std::vector<JournalEvent>& events, const CampaignConfig& config);

// Replays `events` (a whole journal, in order) into `planner`: asks with the recorded q and pending
// experiments, compares every point with the journaled one, and tells each outcome the planner
// was told (the first outcome of each proposed experiment; see journal/campaign_state.hpp).
// Afterwards the planner is in the state it had after the last event. Asks the time limit did
// not cut when first made get kReplayTimeFactor times the planner's time limit
// (Planner::stretch_time_limit), so a busier or slower machine still reproduces them; those it
// cut get the limit as it was. Throws JournalError when a
// pending experiment was never proposed, an ok result has no objective, or a point does not fit.
//
// `watch`: `progress` hears each ask replayed (its number, and how many the journal holds), and a
// stop asked on `stop` ends the replay between asks with ReplayStopped: a Bayesian planner takes
// about as long to replay a campaign as it took to plan it (minutes for a thousand experiments).
struct ReplayWatch {
  std::function<void(int asks_done, int asks_total)> progress;
  std::stop_token stop;
};
struct ReplayStopped : Error {
  using Error::Error;
};
ReplayReport replay_journal(const std::vector<JournalEvent>& events, const CampaignConfig& config, Planner& planner, const ReplayWatch& watch = {});
// The same from the journal's objects; a malformed event throws JournalError naming its line.
ReplayReport replay_journal(const std::vector<nlohmann::json>& events, const CampaignConfig& config, Planner& planner);

}  // namespace labloop
