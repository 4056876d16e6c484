#pragma once
// Covariance functions for the Gaussian-process surrogate. Inputs are rows in the unit cube.
// Hyperparameters live in log space: [log lengthscale_1 … log lengthscale_d, log signal variance]
// for the ARD kernels here, so every value is positive and optimizers work unconstrained. A kernel
// may have parameters of its own between the lengthscales and the signal variance (the additive
// mixture's share): reals that the fit keeps within ±kKernelOwnParamBound, starting at 0.
//
// A new kernel is one .cpp in src/model/kernels/ plus one line in src/model/kernels/registry.cpp
// (docs/extending.md); the unit tests iterate over the registry (symmetry, positive
// semi-definiteness, every gradient against finite differences), so a new entry is checked
// automatically.
#include <Eigen/Core>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "labloop/core/json_check.hpp"

namespace labloop {

inline constexpr double kKernelOwnParamBound = 3.0;

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual std::unique_ptr<Kernel> clone() const = 0;
  virtual std::string name() const = 0;

  virtual Eigen::Index num_params() const = 0;
  // The first num_lengthscales() parameters are log lengthscales; the last is the log signal
  // variance s² (the kernel is s² times a kernel without it); any between are the kernel's own.
  virtual Eigen::Index num_lengthscales() const { return num_params() - 1; }
  virtual Eigen::VectorXd log_params() const = 0;
  virtual void set_log_params(const Eigen::VectorXd& p) = 0;

  // k(a_i, b_j) for rows a_i of `a` (n×d) and b_j of `b` (m×d): an n×m matrix.
  virtual Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const = 0;
  // k(x, x), the same for every x (stationary kernels): the prior variance.
  virtual double prior_variance() const = 0;
  // ∂K(a,a)/∂log_params[param]: n×n. Used by tests; fitting uses weighted_param_grad.
  virtual Eigen::MatrixXd covariance_grad(const Eigen::MatrixXd& a, Eigen::Index param) const = 0;
  // g_p = Σ_jk weights_jk · ∂K(a,a)_jk/∂log_params[p] for every p at once, in O(n² d) — the
  // marginal-likelihood gradient is 0.5·tr(W ∂K/∂θ) with W = αα' − K⁻¹.
  virtual Eigen::VectorXd weighted_param_grad(const Eigen::MatrixXd& a, const Eigen::MatrixXd& weights) const = 0;
  // Gradient of k(x, b_j) with respect to x, for each row b_j: an m×d matrix (row j = ∇ₓ k(x, b_j)).
  virtual Eigen::MatrixXd covariance_grad_x(const Eigen::RowVectorXd& x, const Eigen::MatrixXd& b) const = 0;
};

// What a registry row builds a kernel with: the number of inputs and the kernel's options (an
// object, {} for every default), which the factory checks with JsonNode, so an unknown or wrong
// option is a ConfigError naming where it was written ("/planner/kernel/alpha").
using KernelFactory = std::unique_ptr<Kernel> (*)(int dim, const JsonNode& options);

// "matern52" (default), "matern32", "squared_exponential"; throws PlannerError for an
// unknown name, ConfigError for options the kernel does not take. Starts with lengthscales 0.5
// (in the unit cube) and signal variance 1.
std::unique_ptr<Kernel> make_kernel(const std::string& name, int dim, const JsonNode& options);
// The same with options that have no place in a file (already checked, or none).
std::unique_ptr<Kernel> make_kernel(const std::string& name, int dim, const nlohmann::json& options = nlohmann::json::object());
std::vector<std::string> kernel_names();

// The kernel `base` (with `options`) over all inputs, weighted w, plus 1 − w times the mean over
// groups of inputs of the same kernel over that group alone (additive main effects plus
// interactions); `groups` gives each input's group, numbered 0, 1, … Parameters: `base`'s
// lengthscales, η = logit w (starts at 0: w = ½), `base`'s log signal variance. Throws PlannerError.
std::unique_ptr<Kernel> make_additive_kernel(const std::string& base, int dim, const std::vector<int>& groups,
                                             const nlohmann::json& options = nlohmann::json::object());

}  // namespace labloop
