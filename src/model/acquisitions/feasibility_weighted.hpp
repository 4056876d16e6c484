#pragma once
// Internal: an acquisition weighted by the probability that the experiment succeeds — in log
// space, log a(x) + log P(success | x) (the constrained-EI idea of Gardner et al., ICML 2014, and
// Gelbart et al., UAI 2014, with the feasibility model of feasibility_model.hpp). For an
// acquisition in y units (UCB) log P is scaled to y units instead: a heuristic penalty, not a
// probability weighting.
#include "labloop/model/acquisition.hpp"
#include "labloop/model/feasibility_model.hpp"

namespace labloop::detail {

class FeasibilityWeighted final : public Acquisition {
 public:
  // Both must outlive this object (the planner builds it for one ask).
  // `scale` multiplies log P: 1 for a log-space acquisition; for one in y units (UCB) the spread
  // of the observed values, so that a likely failure costs about as much as a bad prediction.
  FeasibilityWeighted(const Acquisition& base, const FeasibilityModel& feasibility, double scale = 1.0)
      : base_(base), feasibility_(feasibility), scale_(scale) {}

  std::string name() const override { return base_.name() + "+feasibility"; }
  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    return base_.score(ctx, x) + scale_ * feasibility_.log_probability(x);
  }
  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override {
    Eigen::VectorXd feasible_grad;
    const double s = base_.score(ctx, x, grad) + scale_ * feasibility_.log_probability(x, feasible_grad);
    grad += scale_ * feasible_grad;
    return s;
  }
  bool has_gradient() const override { return base_.has_gradient(); }
  double score_unit(const AcquisitionContext& ctx) const override { return base_.score_unit(ctx); }

 private:
  const Acquisition& base_;
  const FeasibilityModel& feasibility_;
  double scale_;
};

}  // namespace labloop::detail
