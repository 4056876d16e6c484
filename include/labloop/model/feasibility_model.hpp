#pragma once
// The probability that an experiment at x succeeds, learned from where experiments succeeded and
// where they failed (an instrument's failure, or the campaign's "failure": {"when": …}): a
// Gaussian-process classifier with a probit likelihood, fitted by the Laplace approximation
// (Rasmussen & Williams, "Gaussian Processes for Machine Learning", 2006, §3.4, Alg. 3.1–3.2).
// The Bayesian planner weights its acquisition by this probability, so it stops proposing into
// regions that fail instead of re-proposing them.
//
// The covariance's lengthscales are given (the objective model's, fitted to far more informative
// data than a handful of successes and failures); the latent signal variance is chosen among a
// few values by the Laplace evidence. The prior mean is the probit of the smoothed success rate,
// so an unexplored region is believed to succeed as often as experiments have so far.
// Points are rows in the unit cube.
#include <Eigen/Core>
#include <memory>
#include <vector>

#include "labloop/model/kernel.hpp"

namespace labloop {

class FeasibilityModel {
 public:
  FeasibilityModel();
  FeasibilityModel(const FeasibilityModel& other);
  FeasibilityModel& operator=(const FeasibilityModel& other);
  FeasibilityModel(FeasibilityModel&&) noexcept;
  FeasibilityModel& operator=(FeasibilityModel&&) noexcept;
  ~FeasibilityModel();

  // Fits to the rows of x and whether each succeeded (sizes equal, n ≥ 1). `kernel` supplies the
  // covariance; its signal variance is replaced. Throws PlannerError on mismatched sizes or when
  // the Newton iteration cannot factorize (it cannot for a positive semi-definite kernel).
  void fit(const Kernel& kernel, const Eigen::MatrixXd& x, const std::vector<bool>& succeeded);
  bool fitted() const;

  // log P(success) at each row of x: log Φ(μ/√(1+σ²)) of the latent posterior, never above 0,
  // finite however sure the model is of a failure.
  Eigen::VectorXd log_probability(const Eigen::MatrixXd& x) const;
  // The same at one point, with its gradient with respect to x.
  double log_probability(const Eigen::VectorXd& x, Eigen::VectorXd& grad) const;

  double signal_variance() const;  // the one the evidence chose
  double prior_mean() const;       // latent units: Φ(prior_mean) is the believed base rate

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace labloop
