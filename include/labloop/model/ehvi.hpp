#pragma once
// Expected hypervolume improvement (EHVI) of a candidate whose M minimized objectives have
// independent Gaussian posteriors, in log space (docs/decisions/0006-multi-objective.md).
//
//   EHVI(μ, σ) = E[ HV(front ∪ {Y}) − HV(front) ],  Y_j ~ N(μ_j, σ_j²) independent,
//
// exact (closed form over the box decomposition of hypervolume.hpp), for 1 to 4 objectives.
// The log is finite wherever the candidate's distribution is finite, even far behind the front
// where EHVI itself underflows to 0, so an optimizer started there still gets a useful gradient.
//
// The front: any n×M matrix, usually the posterior means at the observed points (not the noisy
// measurements; see pareto.hpp); dominated rows and rows not better than the reference cost a
// little time and change nothing. The reference: the user's thresholds, or
// infer_reference_point().
//
// Build one LogExpectedHypervolumeImprovement per front (it holds the box decomposition, which
// is the expensive part) and evaluate it for many candidates; evaluation is const and
// thread-safe. An evaluation costs O(boxes·M) special functions: 30–60 µs for 2 objectives
// and 50 points, 50–70 µs for 3 and 50, 60–90 µs for 4 and 30 (docs/decisions/0006-multi-objective.md).
#include <Eigen/Core>
#include <vector>

#include "labloop/model/hypervolume.hpp"

namespace labloop {

class LogExpectedHypervolumeImprovement {
 public:
  // Throws PlannerError as hypervolume() does for a bad front or reference.
  LogExpectedHypervolumeImprovement(const Eigen::MatrixXd& front, const Eigen::VectorXd& reference);

  // log EHVI for means μ and standard deviations σ (M entries each, σ > 0 and finite, μ finite;
  // PlannerError otherwise). The planner floors σ as for single-objective acquisitions.
  double operator()(const Eigen::VectorXd& mean, const Eigen::VectorXd& sd) const;
  // The same, and its gradient with respect to μ and σ (resized to M). With one GP per objective,
  // the gradient in x is Σ_j grad_mean(j)·∇μ_j(x) + grad_sd(j)·∇σ_j(x) (detail::posterior_at
  // gives both, with σ floored).
  double operator()(const Eigen::VectorXd& mean, const Eigen::VectorXd& sd, Eigen::VectorXd& grad_mean,
                    Eigen::VectorXd& grad_sd) const;

  const BoxDecomposition& boxes() const { return boxes_; }
  Eigen::Index objectives() const { return boxes_.lower.cols(); }

 private:
  double evaluate(const Eigen::VectorXd& mean, const Eigen::VectorXd& sd, Eigen::VectorXd* grad_mean,
                  Eigen::VectorXd* grad_sd) const;

  BoxDecomposition boxes_;
  // Per objective, the distinct finite bounds of the boxes, sorted; each box's lower and upper
  // bound as an index into them (−1: the lower bound is −inf).
  std::vector<Eigen::VectorXd> bounds_;
  Eigen::MatrixXi lower_at_;
  Eigen::MatrixXi upper_at_;
};

}  // namespace labloop
