#pragma once
// Internal: the "planner" section of a bayesian campaign, checked and parsed once, when the
// planner is built. Names and defaults are the ones docs/config.md lists.
#include <string>

#include "labloop/model/planner.hpp"
#include "../optimize/acquisition_optimizer.hpp"
#include "../optimize/model_selection.hpp"

namespace labloop::detail {

enum class InitialDesign { sobol, lhs };
// How failed experiments shape proposals: on — a feasibility model (a GP classifier) weights the
// acquisition by the probability of success once something has failed; off — failures are only
// taught as the worst value seen.
enum class FailureModel { on, off };
// Several objectives: expected hypervolume improvement (2–4 objectives), or ParEGO's random
// Chebyshev scalarizations (any number; the only choice beyond 4).
enum class MultiObjective { ehvi, parego };
// One objective, no pool: what to propose while the fitted noise is more than kNoiseDominated of
// the results' variance — the acquisition's best point (as campaigns before this option ran), or
// the next point of the space-filling design (docs/decisions/0018-noise-dominated.md).
enum class NoiseDominated { acquisition, space_filling };
// An initial-design point that, snapped to choices and levels, falls on a setting already run,
// running or just proposed: kept (as campaigns before this option ran), or replaced by the next
// space-filling point.
enum class DesignRepeats { allow, avoid };
inline constexpr double kNoiseDominated = 0.8;

struct BayesianOptions {
  int initial = 0;  // resolved by parse_bayesian_options: 0 in the file means max(5, 2·d), d parameters
  InitialDesign initial_design = InitialDesign::sobol;
  // A registry name (make_acquisition), not an enum: a new acquisition is one .cpp and a
  // registry line, and the planner builds it once, at construction.
  std::string acquisition = "ucb";
  // Its options, checked: {"beta": …} for ucb, from the planner's own "beta" (default 3) or from
  // "acquisition": {"kind": "ucb", "beta": …}.
  nlohmann::json acquisition_options = nlohmann::json::object();
  double time_limit_s = 5.0;
  FailureModel failure_model = FailureModel::on;
  MultiObjective multi_objective = MultiObjective::ehvi;
  NoiseDominated noise_dominated = NoiseDominated::acquisition;
  DesignRepeats design_repeats = DesignRepeats::allow;
  ModelSelectionOptions model;
  AcquisitionOptimizerOptions optimizer;
};

// Throws ConfigError (path /planner/<option>) for an unknown option or a value out of range,
// and for a space with more cube dimensions than the Sobol sequence supports.
BayesianOptions parse_bayesian_options(const PlannerContext& context);

}  // namespace labloop::detail
