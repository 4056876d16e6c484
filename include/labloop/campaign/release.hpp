#pragma once
// `labloop release DIR`: gives back the instruments a stopped or finished campaign still holds
// (exclusive control, docs/protocol.md §12). A campaign releases them itself when it stops; a
// driver that was down then (crashed, restarted later from its holder file) stays held by it
// until the lease ends, an hour by default, and every other campaign is refused meanwhile.
#include <string>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"

namespace labloop {

struct InstrumentRelease {
  enum class Outcome {
    released,     // it held the instrument, and its driver answered `released`
    not_held,     // its driver welcomed it without naming it holder: free, or not under exclusive control
    held_by_another,  // `busy`: another campaign holds it now
    unreachable,  // no welcome (no answer, refused, malformed) or no `released`: `detail` says which
  };
  std::string instrument;
  Outcome outcome = Outcome::unreachable;
  std::string detail;  // what the driver said, for every outcome but released
};

// Says hello to each instrument at an endpoint as campaign `campaign_id` (with the keys the
// configuration names), and `release` where the welcome names it holder. Simulators and people's
// stand-ins hold nothing. One entry per instrument at an endpoint, in the configuration's order.
std::vector<InstrumentRelease> release_instruments(const CampaignConfig& config, const std::string& campaign_id);

}  // namespace labloop
