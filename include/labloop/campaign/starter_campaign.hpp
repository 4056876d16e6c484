#pragma once
// A starter campaign file for a simulated instrument (`labloop new FILE --simulator NAME`): every
// parameter the simulator declares, with its names, bounds, choices and levels as they must be
// written, its objective(s), outcome constraints and required linear constraint, a bayesian
// planner and a budget. A technician edits it from there instead of copying 46 SMILES strings out
// of a spec.json. The text parses with load_campaign_config as written (tests/unit check every
// simulator of the catalogue), and says in comments what it left out (a dataset's other
// objectives, ready to switch on).
#include <string>

#include "labloop/campaign/simulator_catalogue.hpp"

namespace labloop {

struct StarterOptions {
  std::string name;         // the campaign's name (letters, digits, _ - ., at most 64); "" = the simulator's
  int experiments = 30;     // the budget
  int dim = 0;              // for a function of several dimensions; 0 = its default
};

// Throws ConfigError (source "labloop new") for a dimension the simulator does not take or a name a
// campaign file would refuse.
std::string starter_campaign(const SimulatorSpec& simulator, const StarterOptions& options);

// `text` made into a campaign name: characters a name may not hold become '_', cut to 64; "" when
// nothing usable is left.
std::string campaign_name_from(const std::string& text);

}  // namespace labloop
