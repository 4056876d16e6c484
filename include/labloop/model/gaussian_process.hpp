#pragma once
// Gaussian-process regression over the unit cube: the planner's surrogate model.
//
// Model: y = m + f(x) + ε with constant mean m, f ~ GP(0, k), ε ~ N(0, σ²). Observations are
// standardized (zero mean, unit variance) internally; everything public is in the caller's y
// units. Hyperparameters θ = [kernel log params…, log σ² (standardized units), m (standardized)]
// are fitted by maximizing log p(y|θ) + log p(θ) (MAP, weak priors) with analytic gradients and
// L-BFGS (NLopt), from the current θ plus a few random restarts.
//
// Numerics: Cholesky of K + σ²I, with jitter escalated (1e-8 … 1e-2 of the signal variance) when
// the factorization fails; PlannerError when even that fails. add_observation extends the
// factor by one row in O(n²) without refitting. Predictions for many points use matrix solves.
#include <Eigen/Core>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "labloop/model/kernel.hpp"

namespace labloop {

// Results whose spread is below this are in small units (1e-15 mol, 1e-18 J): floors and
// tolerances that are absolute in y units (a σ of 1e-12, scores equal to 1e-9) would swallow
// their differences, so they are taken relative to the spread instead (output_unit()). Results
// at ordinary scales keep the absolute ones, so their proposals (and the replays of campaigns
// run before) are unchanged.
inline constexpr double kSmallOutputScale = 0x1p-20;  // ≈ 9.5e-7

struct GaussianProcessOptions {
  std::string kernel = "matern52";
  // The kernel's options (make_kernel), already checked where they were written.
  nlohmann::json kernel_options = nlohmann::json::object();
  bool learn_noise = true;
  double noise_variance = 1e-4;      // standardized units: the fixed value, or the start when learned
  double noise_floor = 1e-6;         // learned noise never goes below this (standardized units)
  // The measurement's standard deviation in y units, when someone who knows the instrument states
  // it (an objective's "noise"): the noise is then that, not learned, whatever learn_noise says —
  // within [noise_floor, 1] in standardized units. NaN: not stated.
  double noise_sd = std::numeric_limits<double>::quiet_NaN();
  int restarts = 2;                  // random restarts of the hyperparameter optimization, beyond the current θ
  int max_evaluations = 150;         // per L-BFGS run
  bool priors = true;                // weak priors on lengthscales, signal and noise (MAP instead of ML)
  // Empty: one lengthscale per input. Otherwise the group (0, 1, …) of each input: inputs of a
  // group share one fitted lengthscale — the one-hot inputs of a categorical parameter, whose
  // kernel then depends only on whether two choices are equal (a Hamming distance), with one
  // hyperparameter instead of one per choice.
  std::vector<int> lengthscale_groups;
  // `kernel` over all inputs plus its mean over the lengthscale groups (each input its own group
  // when none are given), half and half unless fit_kernel_own_params: see make_additive_kernel.
  bool additive = false;
  // Fit the kernel's own parameters (the additive share) with the others, from 15 results on;
  // otherwise they stay at 0 (the additive kernel: half and half).
  bool fit_kernel_own_params = false;
  std::uint64_t seed = 1;
  // Empty: the kernel sees the inputs. Otherwise (features × dim) it sees input_map · x, and
  // lengthscale_groups and additive refer to those features (descriptors.hpp's FeatureMap).
  Eigen::MatrixXd input_map;
  // With input_map: the kernel over the features plus, with a fitted share, the same kernel over
  // the inputs themselves (one-hot choices: an effect of each choice that its descriptors do not
  // explain), whose inputs share lengthscales by these groups (empty: one per input).
  bool input_residual = false;
  std::vector<int> residual_lengthscale_groups;
};

class GaussianProcess {
 public:
  GaussianProcess(int dim, GaussianProcessOptions options = {});
  GaussianProcess(const GaussianProcess& other);
  GaussianProcess& operator=(const GaussianProcess& other);
  GaussianProcess(GaussianProcess&&) noexcept;
  GaussianProcess& operator=(GaussianProcess&&) noexcept;
  ~GaussianProcess();

  // Replaces the data (rows of x in the unit cube; n ≥ 1) and factorizes with the current θ.
  // Any finite y can be standardized (no overflow beyond 1e154), but PlannerError when their
  // spread is so wide that variances in y units would overflow (~1e154 and more): compress
  // such values first (MagnitudeCompression in output_transform.hpp).
  void set_data(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);
  // MAP fit of θ (then refactorizes). Requires data. `restarts` overrides options.restarts
  // (0 = polish the current θ only: cheap when θ is already close, as between BO iterations).
  // `max_seconds` > 0 bounds the whole fit: restarts not begun by then are skipped and a run in
  // progress stops at its best θ so far (the planner's time limit covers the fit too).
  void fit();
  void fit(int restarts, double max_seconds = 0.0);
  // Appends one observation without changing θ or the standardization: O(n²). `exact` treats it
  // as noise-free (jitter only): fantasized outcomes of pending experiments, which must pin the
  // posterior down at their point so a batch spreads out. PlannerError for a y whose
  // standardized value overflows.
  void add_observation(const Eigen::VectorXd& x, double y, bool exact = false);

  // Posterior of the latent f (no noise) at the rows of x: mean and variance in y units.
  void predict(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const;
  // The posterior mean alone: O(n·m) instead of the variance's O(n²·m).
  Eigen::VectorXd predict_mean(const Eigen::MatrixXd& x) const;
  // predict_mean(x()) in O(n), from the factorization: the incumbent of noisy objectives.
  Eigen::VectorXd fitted_mean() const;
  // The same at one point, with gradients of mean and variance with respect to x.
  void predict(const Eigen::VectorXd& x, double& mean, double& variance, Eigen::VectorXd& mean_grad, Eigen::VectorXd& variance_grad) const;
  // One joint draw of f at the rows of x (y units), for Thompson sampling.
  Eigen::VectorXd sample(const Eigen::MatrixXd& x, std::mt19937_64& rng) const;

  // θ as described above, and the objective the fit maximizes (log marginal likelihood plus
  // log prior, in standardized units) with its analytic gradient when `grad` is not null.
  Eigen::VectorXd hyperparameters() const;
  void set_hyperparameters(const Eigen::VectorXd& theta);  // refactorizes when there is data
  double log_posterior(const Eigen::VectorXd& theta, Eigen::VectorXd* grad) const;
  // The box fit() searches θ in, coordinate by coordinate (θ's layout): what a θ from elsewhere
  // (an emulator's stored fit) is checked against before set_hyperparameters. Needs no data.
  void hyperparameter_bounds(Eigen::VectorXd& lower, Eigen::VectorXd& upper) const;

  int dim() const;
  int size() const;                      // number of observations
  const Eigen::MatrixXd& x() const;      // n×d
  const Eigen::VectorXd& y() const;      // in y units
  double noise_variance() const;         // in y units
  // What results are divided by to standardize them (their sample standard deviation; 1 for
  // fewer than two results or equal ones).
  double output_scale() const;
  // The unit floors and tolerances in y units are taken in (the acquisitions' σ floor, equal
  // scores): 1, or output_scale() for results in small units (below kSmallOutputScale).
  double output_unit() const;
  const Kernel& kernel() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace labloop
