#pragma once
// Internal: maximizes an acquisition over the search space for the Bayesian planner. Scores
// quasi-random Sobol candidates, trust-region candidates (TuRBO: Eriksson et al., NeurIPS 2019)
// and perturbations of the best points; polishes the best few with bounded L-BFGS (NLopt) using
// the analytic gradient; snaps them to the space and settles categorical choices by enumeration
// or, with too many combinations, by a local search one choice at a time.
//
// With linear constraints every candidate is feasible or dropped: the global candidates are
// feasible hit-and-run draws instead of Sobol points, trust-region candidates and perturbations
// are hit-and-run walks inside the constraints and their box, polishing is SLSQP with the linear
// constraints (L-BFGS takes only bounds), and a polished point the rounding of integers pushed
// out is repaired (Space::repair) or dropped.
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "labloop/model/feasible_sampler.hpp"

#include "labloop/model/acquisition.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/space.hpp"
#include "observations.hpp"

namespace labloop::detail {

enum class TrustRegion { candidates, off };  // candidates: trust-region candidates join the pool
// How equal best scores are settled (docs/decisions/0014). first: the first offered, so a
// proposal depends on the order of a pool's rows and of a parameter's choices (campaigns before
// the option); random: one of them with equal chance, drawn from the planner's generator.
enum class Ties { first, random };
// Scores within this fraction of max(unit, |best|) of the best are equal: choices the model cannot
// tell apart (untried options of one-hot parameters) differ by rounding alone. `unit` is the
// acquisition's score_unit(), 1 but for results in small units (kSmallOutputScale), whose scores
// in y units all lay within 1e-9 of each other: every candidate was taken for a tie.
constexpr double kTieTolerance = 1e-9;

struct AcquisitionOptimizerOptions {
  int candidates = 1024;
  int local_starts = 4;
  TrustRegion trust_region = TrustRegion::candidates;
  Ties ties = Ties::first;
};

// Whether `score` is within kTieTolerance of `best` (both finite), scores in units of `unit`.
inline bool tied(double score, double best, double unit) {
  return std::isfinite(score) && std::isfinite(best) && std::abs(score - best) <= kTieTolerance * std::max(unit, std::abs(best));
}

class BestProposal;

class AcquisitionOptimizer {
 public:
  AcquisitionOptimizer(const Space& space, AcquisitionOptimizerOptions options);

  // Grows, shrinks or restarts the trust region from the results told since the last call (at
  // least one value in `observations`).
  void update_trust_region(const Observations& observations);

  // The point of the space (canonical: integers, discrete levels and one-hot categoricals
  // snapped) with the best acquisition found, away from `avoid` and from every observed or failed
  // point when possible.
  // An empty point when no candidate has a finite score; the caller then falls back. Past
  // `budget_s` seconds the candidates are no longer polished. `rng` draws the candidates and is
  // handed to the acquisition (Thompson sampling).
  Eigen::VectorXd maximize(const Acquisition& acquisition, const GaussianProcess& gp, double incumbent,
                           const std::vector<Eigen::VectorXd>& avoid, const Observations& observations,
                           std::mt19937_64& rng, double budget_s) const;
  // Whether the last maximize drew fewer candidates inside the constraints than asked, having
  // reached half its budget while drawing them (the caller notes the time limit).
  bool cut_short() const { return cut_short_; }
  // Whether the last maximize ran out of `budget_s` before it had polished (or, among
  // categorical choices, enumerated around) every start it would have: the proposal then depends
  // on the machine's speed, and the caller notes the time limit so that replay knows.
  bool ran_out_of_time() const { return ran_out_of_time_; }

 private:
  void trust_region_box(const GaussianProcess& gp, const Observations& observations, Eigen::VectorXd& lower,
                        Eigen::VectorXd& upper) const;
  std::vector<Eigen::VectorXd> categorical_variants(const Eigen::VectorXd& x) const;
  Eigen::VectorXd with_choice(const Eigen::VectorXd& x, int parameter, int choice) const;
  Eigen::VectorXd numeric_part(const Eigen::VectorXd& x) const;
  void categorical_local_search(const Acquisition& acquisition, const AcquisitionContext& ctx, Eigen::VectorXd x,
                                BestProposal& best) const;
  Eigen::VectorXd local_maximum(const Acquisition& acquisition, const AcquisitionContext& ctx, const Eigen::VectorXd& start) const;
  Eigen::VectorXd constrained_local_maximum(const Acquisition& acquisition, const AcquisitionContext& ctx, const Eigen::VectorXd& start) const;
  void add_feasible_near(Eigen::MatrixXd& candidates, const Eigen::VectorXd& centre, const Eigen::VectorXd& lower,
                         const Eigen::VectorXd& upper, int count, std::mt19937_64& rng) const;

  Space space_;
  int dim_;
  AcquisitionOptimizerOptions options_;
  long long combinations_ = 1;  // of categorical choices (capped at kMaxCombinations + 1)
  bool discrete_ = false;        // some parameter is integer, discrete or categorical
  bool polishable_ = false;      // some parameter is not categorical (gradient polishing applies)
  std::vector<bool> categorical_coordinate_;  // per cube coordinate
  // Constraints only: the feasible sampler (its chain's position changes with each draw, hence
  // mutable: maximize is otherwise a function of its arguments and the trust region), and the
  // constraints' rows over the whole cube for SLSQP.
  mutable std::optional<FeasibleSampler> sampler_;
  mutable bool cut_short_ = false;
  mutable bool ran_out_of_time_ = false;
  Eigen::MatrixXd inequality_rows_, equality_rows_;
  Eigen::VectorXd inequality_bounds_, equality_values_;

  static constexpr double kTrInitialLength = 0.8, kTrMinLength = 0.0078125, kTrMaxLength = 1.6;
  static constexpr int kTrSuccessTolerance = 3;
  static constexpr double kTrPerturbed = 20.0;
  double tr_length_ = kTrInitialLength;
  double tr_best_ = 0;
  size_t tr_seen_ = 0;
  int tr_success_ = 0, tr_failure_ = 0;
};

}  // namespace labloop::detail
