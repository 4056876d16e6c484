#pragma once
// Acquisition functions: how much a candidate point is worth measuring next, given the posterior.
// Convention: the model predicts an objective to MINIMIZE (the planner negates maximized ones),
// and a larger acquisition value is better. Values that span many orders of magnitude (EI, PI)
// are returned in log space, so they stay finite and their gradients stay informative where the
// plain value underflows to zero.
//
// A new acquisition is one .cpp in src/model/acquisitions/ plus one line in its registry.cpp
// (docs/extending.md); the tests iterate over the registry and check every gradient against
// finite differences.
#include <Eigen/Core>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "labloop/core/json_check.hpp"
#include "labloop/model/gaussian_process.hpp"

namespace labloop {

struct AcquisitionContext {
  const GaussianProcess& model;
  double incumbent;      // best value so far (the best posterior mean for noisy objectives)
  std::mt19937_64& rng;  // for randomized acquisitions (Thompson sampling)
};

class Acquisition {
 public:
  virtual ~Acquisition() = default;
  virtual std::string name() const = 0;
  // Scores of the rows of x (n×d), larger is better.
  virtual Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const = 0;
  // Score of one point and its gradient with respect to x. Only when has_gradient().
  virtual double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const = 0;
  virtual bool has_gradient() const { return true; }
  // The unit its scores are in: 1 for scores in logs or probabilities (the default); the model's
  // output_unit() for scores in y units (UCB, Thompson sampling). Equal scores are judged to a
  // fraction of it (detail::tied), and the local search climbs score / unit, so results in small
  // units are still told apart and climbed (gradients of 1e-15 stopped it where it started).
  virtual double score_unit(const AcquisitionContext& ctx) const {
    (void)ctx;
    return 1.0;
  }
};

// What a registry row builds an acquisition with: its options (an object, {} for every default),
// which the factory checks with JsonNode (an unknown or wrong option is a ConfigError naming where
// it was written, "/planner/acquisition/beta").
using AcquisitionFactory = std::unique_ptr<Acquisition> (*)(const JsonNode& options);

// "log_ei" (default), "ucb" (option "beta", default 2), "log_pi", "thompson". Throws
// PlannerError for an unknown name, ConfigError for options it does not take (or a negative or
// non-finite beta for "ucb").
std::unique_ptr<Acquisition> make_acquisition(const std::string& name, const JsonNode& options);
// The same with options that have no place in a file (already checked, or none).
std::unique_ptr<Acquisition> make_acquisition(const std::string& name, const nlohmann::json& options = nlohmann::json::object());
std::vector<std::string> acquisition_names();

// log(h(z)) with h(z) = φ(z) + z·Φ(z), accurate for every z (no underflow for z ≪ 0), and its
// derivative d/dz log h(z) = Φ(z)/h(z). Expected improvement = σ·h((incumbent − μ)/σ).
double log_h(double z);
double log_h_derivative(double z);

}  // namespace labloop
