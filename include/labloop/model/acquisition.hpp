#pragma once
// Acquisition functions: how much a candidate point is worth measuring next, given the posterior.
// Convention: the model predicts an objective to MINIMIZE (the planner negates maximized ones),
// and a larger acquisition value is better. Values that span many orders of magnitude (EI, PI)
// are returned in log space, so they stay finite and their gradients stay informative where the
// plain value underflows to zero.
//
// A new acquisition is one .cpp in src/acquisitions/ plus one line in its registry.cpp; the tests
// iterate over the registry and check every gradient against finite differences.
#include <Eigen/Core>
#include <memory>
#include <random>
#include <string>
#include <vector>

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
};

// "log_ei" (default), "ucb" (option beta, default 2), "log_pi", "thompson". Throws
// PlannerError for an unknown name (or a negative or non-finite beta for "ucb").
std::unique_ptr<Acquisition> make_acquisition(const std::string& name, double beta = 2.0);
std::vector<std::string> acquisition_names();

// log(h(z)) with h(z) = φ(z) + z·Φ(z), accurate for every z (no underflow for z ≪ 0), and its
// derivative d/dz log h(z) = Φ(z)/h(z). Expected improvement = σ·h((incumbent − μ)/σ).
double log_h(double z);
double log_h_derivative(double z);

}  // namespace labloop
