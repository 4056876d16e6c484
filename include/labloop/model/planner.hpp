#pragma once
// Planners propose experiments as points in the unit cube (see Space). They never see units,
// ids or instruments: the Campaign owns those (ask/tell, as in Ax). What comes back is an
// Observation; its `objective` is always "smaller is better": the Campaign negates maximized
// objectives (docs/decisions/0005-observation.md).
#include <Eigen/Core>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "labloop/core/json_check.hpp"
#include "labloop/model/candidate_pool.hpp"
#include "labloop/model/space.hpp"

namespace labloop {

using Point = Eigen::VectorXd;

// The "planner" section of a campaign file. Planners see this and the space, never the rest of
// the campaign (the dependency runs one way: campaign → planner).
struct PlannerConfig {
  std::string kind = "random";
  nlohmann::json options = nlohmann::json::object();  // every key of "planner" except "kind"
};

// How an experiment ended, as far as a planner is concerned. Room for more (an outcome
// constraint violated: "infeasible") without another interface change.
enum class ObservationStatus {
  ok,      // measured: `objective` and `values` hold the result
  failed,  // no result (the instrument failed): the point is worth avoiding, nothing more is known
};

// One experiment's outcome as a planner sees it: the one argument of Planner::tell, so that
// several objectives, outcome constraints or failure models can be added as fields, not as new
// virtual functions every planner must follow.
struct Observation {
  Point x;  // where, in the unit cube
  ObservationStatus status = ObservationStatus::ok;
  // The objective already oriented "smaller is better" (the campaign negates a maximized one), so
  // a single-objective planner needs nothing else. NaN unless status is ok.
  double objective = std::numeric_limits<double>::quiet_NaN();
  // Every numeric value the instrument reported, by name, as measured (not negated): for planners
  // that model more than the objective. Empty when the caller knows only the objective.
  std::map<std::string, double> values;
  // Every objective, oriented "smaller is better", in the order of PlannerGoals (objectives[0] ==
  // objective). Empty means {objective}: callers that know one objective need not fill it.
  std::vector<double> objectives;
  // One per outcome constraint of PlannerGoals, oriented so that ≤ 0 means it holds (for
  // "purity >= 0.95": 0.95 − purity). Empty when there are none. Known for failed experiments
  // too when the instrument measured them (NaN otherwise).
  std::vector<double> constraints;

  static Observation succeeded(Point x, double objective, std::map<std::string, double> values = {}) {
    return Observation{std::move(x), ObservationStatus::ok, objective, std::move(values), {}, {}};
  }
  static Observation failed(Point x) {
    return Observation{std::move(x), ObservationStatus::failed, std::numeric_limits<double>::quiet_NaN(), {}, {}, {}};
  }
  // objectives, or {objective} when the caller gave only that.
  std::vector<double> objective_values() const { return objectives.empty() ? std::vector<double>{objective} : objectives; }
  // Whether every outcome constraint holds (true when there are none).
  bool feasible() const {
    for (double c : constraints)
      if (!(c <= 0.0)) return false;
    return true;
  }
};

// What the campaign wants, as far as a planner needs to know: how many objectives (all oriented
// "smaller is better"), the worst value of each still worth having, and how many outcome
// constraints come with each Observation. The default is one objective and no constraints.
struct PlannerGoals {
  int objectives = 1;
  // Per objective, oriented like the objectives: the reference point for hypervolume. NaN where
  // the campaign file gives no threshold (the planner infers one). Empty means all NaN.
  std::vector<double> thresholds;
  // Per objective: the measurement's standard deviation when the campaign states it (an
  // objective's "noise", in its units), NaN where it does not and the planner estimates it.
  // Empty means all NaN.
  std::vector<double> noise;
  int outcome_constraints = 0;
  // Whether some failures are outcomes of the chemistry ("failure": {"when": …}) rather than of
  // the instrument, so a model of where experiments fail is worth fitting. Planners may model
  // failures either way.
  bool failure_condition = false;

  bool several_objectives() const { return objectives > 1; }
};

// The numbers among a result's "values" object (anything else, or a non-object, gives none).
std::map<std::string, double> numeric_values(const nlohmann::json& values);

class Planner {
 public:
  virtual ~Planner() = default;
  // q new points, distinct from each other and aware of `pending` (dispatched, no result yet).
  // With a candidate pool (PlannerContext::candidates) at most the rows still open.
  virtual std::vector<Point> ask(int q, std::span<const Point> pending) = 0;
  // The one way results reach a planner, successes and failures alike.
  virtual void tell(const Observation& observation) = 0;
  // A result told earlier was wrong (a person corrected a value they entered): replace `told` by
  // `corrected` (same point). `told` may be a failure (a person entered one by mistake): the
  // planner then holds a result there instead. Planners that keep no observations need not
  // override it.
  virtual void amend(const Observation& told, const Observation& corrected) {
    (void)told;
    (void)corrected;
  }
  // Something about the last ask() worth journaling (e.g. "time limit reached"), then cleared.
  virtual std::string take_note() { return {}; }
  // Multiplies the planner's time limit, if it has one, until called again with 1. Replay
  // (campaign/replay.hpp) asks again what a journal recorded, to check it or to rebuild the
  // planner for `labloop resume`: an ask the time limit did not cut when it was first made must
  // not be cut now because this machine is slower or busier, or the planner's state would part
  // from the journal's and every later proposal with it.
  virtual void stretch_time_limit(double factor) { (void)factor; }
  // The setting the planner would recommend now among those already run, for one objective: the
  // one its model believes best (for noisy results not the luckiest measurement), among those
  // whose outcome constraints held. nullopt when the planner has no model, no such result, or
  // several objectives; callers then take the best measured value.
  virtual std::optional<Point> recommend() { return std::nullopt; }
};

// What a planner factory gets: the space, the seed and the "planner" section of the config.
struct PlannerContext {
  const Space& space;
  std::uint64_t seed;
  const PlannerConfig& config;
  const std::string& source;  // config file name, for ConfigError messages
  PlannerGoals goals{};        // one objective, no outcome constraints unless the campaign says so
  // A fixed list of settings to choose from ("candidates"), or null for the whole space. With a
  // pool every planner proposes only its rows, never a row told or pending, and ask() returns
  // fewer than q points (none: the pool is exhausted, and nothing in the planner changed) when
  // fewer rows are open. The planner copies it; results told later mark rows in its copy.
  const CandidatePool* candidates = nullptr;

  // The options (config.options) with their place in the file, "/planner": a factory checks and
  // reads them with JsonNode, so a mistake is a ConfigError at /planner/<option>.
  JsonNode options() const { return JsonNode(config.options, "/planner", source); }
};

// What a registry row builds a planner with; the factory checks context.options() itself.
using PlannerFactory = std::unique_ptr<Planner> (*)(const PlannerContext& context);

// Builds the planner named by config.kind; throws ConfigError (path /planner/...) for an unknown
// kind or options it does not accept.
std::unique_ptr<Planner> make_planner(const PlannerContext& context);

// Registered kinds, for messages and --help.
std::vector<std::string> planner_kinds();

// Defaults a new campaign gets that older journals did not run with, written into
// config.options explicitly so every journal replays with what it ran (a journal's planner
// section is parsed as written: parse_campaign_config never calls this). For a campaign file
// (load_campaign_config) and for every run of `labloop bench`, which measures what such a
// campaign does. The bayesian planner choosing from a finite set — a candidate pool's
// rows, or a space whose parameters are all categorical or discrete — with UCB and no β of its
// own gets "beta": kPoolBeta (docs/decisions/0012-pool-exploration.md); one that can use the
// additive kernel (a categorical parameter, or "additive": "on") and says nothing of its share
// gets "additive_share": "fitted" (docs/decisions/0013-fitted-additive-share.md); one with a
// categorical parameter or a pool gets "ties": "random" (docs/decisions/0014-random-ties.md); one
// whose categorical choices have descriptors gets "one_hot_residual": true (a model over the
// descriptors with an effect of each choice's own beside them, docs/decisions/0016), unless it
// sets "one_hot_margin" (the choice between descriptors and one-hot by evidence that campaigns
// journaled before, docs/decisions/0015-descriptors-kept.md); one whose space has a continuous or
// integer parameter and no pool gets "noise_dominated": "space_filling" (the space-filling design
// goes on while the model puts most of the variation down to noise, docs/decisions/0018).
constexpr double kPoolBeta = 12.0;
void set_new_campaign_defaults(PlannerConfig& config, const std::vector<Parameter>& parameters, bool candidate_pool);

}  // namespace labloop
