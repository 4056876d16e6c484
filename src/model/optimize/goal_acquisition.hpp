#pragma once
// Internal: the Bayesian planner's acquisition when the campaign's goals are more than one clean
// objective — several objectives, outcome constraints, or failures worth avoiding. In log space:
//
//   score(x) = log A(x) + Σ_c log P(c(x) ≤ 0) + log P(success | x)
//
// A is the expected improvement of the one objective over the incumbent (the best posterior mean
// among observed points that satisfy the constraints), or the expected hypervolume improvement
// over the front of posterior means for several objectives (noise-aware: the model's belief
// about the observed points, not their noisy values). Each constraint has its own GP; P(c ≤ 0)
// = Φ((b_c − μ_c)/σ_c), b_c the bound in the model's units (Gardner et al., ICML 2014; Gelbart et al., UAI 2014). Before any observed point
// satisfies the constraints there is nothing to improve on and A is left out: the score is the
// probability of feasibility, which finds the feasible region first.
//
// Holds pointers to models the planner owns, for one ask. Its AcquisitionContext's model and
// incumbent are not used (the parts carry their own).
#include <limits>
#include <memory>
#include <vector>

#include "labloop/model/acquisition.hpp"
#include "labloop/model/ehvi.hpp"
#include "labloop/model/feasibility_model.hpp"
#include "labloop/model/gaussian_process.hpp"

namespace labloop::detail {

struct GoalParts {
  std::vector<const GaussianProcess*> objectives;   // one model per objective (≥ 1), "smaller is better"
  std::vector<const GaussianProcess*> constraints;  // one per outcome constraint: holds where ≤ its bound
  std::vector<double> constraint_bounds;            // per constraint, in its model's units (0 when absent)
  const FeasibilityModel* feasibility = nullptr;    // null: failures are not modelled
  // One objective: LogEI's incumbent; NaN: no feasible point yet (score feasibility alone).
  double incumbent = std::numeric_limits<double>::quiet_NaN();
  // Several objectives: the hypervolume criterion (null: no feasible point yet).
  const LogExpectedHypervolumeImprovement* ehvi = nullptr;
};

class GoalAcquisition final : public Acquisition {
 public:
  explicit GoalAcquisition(GoalParts parts) : parts_(std::move(parts)) {}
  std::string name() const override;
  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override;
  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override;

 private:
  double bound_of(size_t k) const { return k < parts_.constraint_bounds.size() ? parts_.constraint_bounds[k] : 0.0; }
  bool improves() const { return parts_.ehvi != nullptr || (parts_.objectives.size() == 1 && !std::isnan(parts_.incumbent)); }
  GoalParts parts_;
};

}  // namespace labloop::detail
