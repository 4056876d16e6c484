#pragma once
// The simulated instruments a campaign may start itself ("simulator": "branin"), as far as
// checking a campaign file needs to know them: names, allowed dimensions, the inputs and outputs
// each declares, and the options of its own each takes. The simulators live outside the library
// (simulators/); the program that loads campaign files passes their catalogue in (labloop's CLI
// passes labloop-sim's, `labloop::sim::catalogue()`), so loading a config links no simulator code.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labloop/core/json_check.hpp"
#include "labloop/core/parameter.hpp"

namespace labloop {

// labloop-sim's own options, which every simulated function takes. The campaign passes each one
// given in an instrument's "options" as a flag (`"fail_rate": 0.1` → `--fail-rate 0.1`), and the
// function's own options together as one `--options '{"objectives": 3}'`.
inline const std::vector<std::string>& simulator_options() {
  static const std::vector<std::string> names{"noise",    "delay",     "capacity",   "dim",        "seed",         "jitter",
                                              "fail_rate", "hang_rate", "crash_rate", "crash_after", "garbage_rate", "oversize_rate"};
  return names;
}

// What a simulator is made to be optimized for, as a starter campaign file writes it (`labloop
// new`, campaign/starter_campaign.hpp).
struct SimulatorGoal {
  std::string output;
  bool maximize = false;
  std::optional<double> threshold;  // the worst value still worth having (a hypervolume reference)
};
struct SimulatorGoals {
  std::vector<SimulatorGoal> objectives;         // in order; a dataset's first is its main one
  bool several = false;                          // made for all of them at once (BraninCurrin), not the first alone
  std::vector<std::string> outcome_constraints;  // as a campaign file writes them: "c <= 0"
};

struct SimulatorSpec {
  std::string name;  // as written in a campaign file, e.g. "hartmann6"
  int default_dim = 1;
  int min_dim = 1;   // min_dim == max_dim for a function of fixed dimension
  int max_dim = 1;
  // The inputs x1…x<dim> with the function's standard bounds: what the simulator declares at hello.
  std::function<std::vector<Parameter>(int dim)> inputs;
  // What `labloop new` writes: inputs(dim) less what the simulator accepts but cannot answer (a
  // dataset's choice no row holds). Empty function: inputs.
  std::function<std::vector<Parameter>(int dim)> offered_inputs;
  // The options of its own (beside simulator_options()), by name, for messages; empty for most.
  std::vector<std::string> option_names;
  // Checks those of them in an instrument's "options" object (which also holds labloop-sim's;
  // unknown keys and "dim" are checked before). Throws ConfigError at the offending option's
  // path. Empty: the function has no options of its own.
  std::function<void(const JsonNode& options)> check_options;
  // The outputs it declares at hello for an instrument's (checked) "options"; empty: one output "y".
  std::function<std::vector<std::string>(const nlohmann::json& options)> outputs;
  // Why a campaign may not use it now (e.g. a dataset whose emulator is not written yet), said
  // where the campaign file names it. Empty, or returning "": it can be used.
  std::function<std::string()> unavailable;
  // A dataset's descriptors.csv, when it has one: a categorical parameter of a campaign file on
  // this simulator that names no descriptors (and does not say false) uses it (load_campaign_config).
  std::filesystem::path descriptors;
  // A linear constraint (model/linear_constraints.hpp) every setting must meet, e.g. a simplex
  // dataset's "a + b + c == 1", or none ("" or an empty function): a campaign file on this
  // simulator must declare it, at any scale (load_campaign_config), or the instrument would refuse
  // every setting off it.
  std::function<std::string()> required_constraint;
  // One line on what it is ("Buchwald-Hartwig amination yields (lookup table, 792 rows)"), and a
  // dataset's README.md; for a starter campaign file. Empty: none to say.
  std::function<std::string()> summary;
  std::filesystem::path readme;
  // Its objectives and outcome constraints for dimension `dim` with its options at their defaults;
  // empty function: minimize its first output.
  std::function<SimulatorGoals(int dim)> goals;
  // Its experiments fail in part of its space by design (branin_failing): a starter file lets the
  // campaign carry on through failures instead of pausing or quarantining the instrument.
  bool fails_by_design = false;
};

class SimulatorCatalogue {
 public:
  SimulatorCatalogue() = default;  // none: a campaign naming a simulator is refused
  // `datasets_problem`: why no dataset could be listed (their folder is missing), said where a
  // campaign names a simulator the catalogue does not hold; empty when they were.
  explicit SimulatorCatalogue(std::vector<SimulatorSpec> specs, std::string datasets_problem = {})
      : specs_(std::move(specs)), datasets_problem_(std::move(datasets_problem)) {}

  const SimulatorSpec* find(std::string_view name) const {
    for (const auto& s : specs_)
      if (s.name == name) return &s;
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& s : specs_) out.push_back(s.name);
    return out;
  }
  // "unknown simulator \"name\"…": with a suggestion among the known names, and why datasets
  // are missing when they are (a dataset's name is otherwise just unknown).
  std::string unknown(const std::string& name) const {
    std::string out = "unknown simulator \"" + name + "\"" + did_you_mean(name, names()) + " (labloop-sim --list shows them all)";
    if (!datasets_problem_.empty()) out += "; no dataset could be listed: " + datasets_problem_;
    return out;
  }

 private:
  std::vector<SimulatorSpec> specs_;
  std::string datasets_problem_;
};

}  // namespace labloop
