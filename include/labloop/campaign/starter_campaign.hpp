#pragma once
// A starter campaign file (`labloop new FILE`): every parameter an instrument declares, with its
// names, bounds, choices and levels as they must be written, its objective(s), outcome
// constraints and required linear constraint, a bayesian planner and a budget. A technician edits
// it from there instead of copying 46 SMILES strings out of a spec.json, or a driver's limits out
// of its source. Two sources: a simulated instrument's catalogue entry (`--simulator NAME`), and
// what a running driver declares in its welcome (`--endpoint ADDRESS`). The text parses with
// load_campaign_config as written (tests/unit check every simulator of the catalogue), and says in
// comments what it left out (a dataset's other objectives, ready to switch on).
#include <string>

#include "labloop/campaign/simulator_catalogue.hpp"
#include "labloop/wire/instrument_info.hpp"

namespace labloop {

struct StarterOptions {
  std::string name;         // the campaign's name (letters, digits, _ - ., at most 64); "" = the instrument's
  int experiments = 30;     // the budget
  int dim = 0;              // for a function of several dimensions; 0 = its default
  std::string candidates;   // a candidates file as the campaign file names it ("" = none): a pool campaign
  // An encrypted driver (docs/security.md): its public key and this controller's key pair, as
  // the campaign file names them; both or neither. They become the instrument's "security".
  std::string server_public_key;
  std::string client_keys;
};

// Throws ConfigError (source "labloop new") for a dimension the simulator does not take or a name a
// campaign file would refuse.
std::string starter_campaign(const SimulatorSpec& simulator, const StarterOptions& options);

// For the driver at `endpoint` that answered hello with `info`: its inputs at its own limits (a
// comment says to narrow them to the campaign's range), `objective` (one of its outputs) and the
// others named in a comment. Throws ConfigError for an objective it does not measure.
std::string starter_campaign(const InstrumentInfo& info, const std::string& endpoint, const SimulatorGoal& objective, const StarterOptions& options);

// `text` made into a campaign name: characters a name may not hold become '_', cut to 64; "" when
// nothing usable is left.
std::string campaign_name_from(const std::string& text);

}  // namespace labloop
