#pragma once
// Internal: one factory per acquisition file (listed in registry.cpp), the special functions they
// share (log_h.cpp), and the posterior-at-a-point helper with the σ floor.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <memory>

#include "labloop/model/acquisition.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "../registry.hpp"

namespace labloop::detail {

std::unique_ptr<Acquisition> make_log_ei(const JsonNode& options);
std::unique_ptr<Acquisition> make_ucb(const JsonNode& options);  // "beta" ≥ 0 and finite
std::unique_ptr<Acquisition> make_log_pi(const JsonNode& options);
std::unique_ptr<Acquisition> make_thompson(const JsonNode& options);

// Special functions (log_h.cpp), accurate to a few ulp over the whole double range.
double erfcx(double x);                // exp(x²)·erfc(x); +inf once 2·exp(x²) overflows (x ≲ −26.6)
double mills_ratio(double u);          // R(u) = Φ(−u)/φ(u) = √(π/2)·erfcx(u/√2)
double log_ndtr(double z);             // log Φ(z), finite for every finite z
double log_ndtr_derivative(double z);  // d/dz log Φ(z) = φ(z)/Φ(z)

// The posterior standard deviation never goes below this many of the model's output_unit(), so
// that scores and gradients stay finite at training points of a noise-free model, where the
// latent variance is ~0 or even slightly negative from rounding. In y units for ordinary results;
// results in small units (1e-15 mol) have posterior standard deviations far below 1e-12 y units,
// and a floor there made every score alike: the model's predictions told the planner nothing.
inline constexpr double kMinSigma = 1e-12;

inline double sigma_floor(const GaussianProcess& model) { return kMinSigma * model.output_unit(); }
inline double clamped_sigma(double variance, double floor) { return std::sqrt(std::max(variance, floor * floor)); }

// μ, σ and their gradients with respect to x at one point. Where the floor is active σ is
// constant, so its gradient is zero there.
struct PointPosterior {
  double mean = 0.0;
  double sigma = 0.0;
  Eigen::VectorXd mean_grad;
  Eigen::VectorXd sigma_grad;
};

inline PointPosterior posterior_at(const GaussianProcess& model, const Eigen::VectorXd& x) {
  PointPosterior p;
  double variance = 0.0;
  Eigen::VectorXd variance_grad;
  model.predict(x, p.mean, variance, p.mean_grad, variance_grad);
  const double floor = sigma_floor(model);
  p.sigma = clamped_sigma(variance, floor);
  if (variance > floor * floor)
    p.sigma_grad = variance_grad / (2.0 * p.sigma);
  else
    p.sigma_grad = Eigen::VectorXd::Zero(x.size());
  return p;
}

}  // namespace labloop::detail
