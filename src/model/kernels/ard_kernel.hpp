#pragma once
// Internal: the one stationary ARD kernel, parameterized by its radial profile.
//
//   r² = Σ_k (a_k − b_k)² / ℓ_k²,   k(a, b) = s² · f(r),   log params = [log ℓ_1 … log ℓ_d, log s²].
//
// A profile is a struct with
//   static constexpr const char* kName;
//   double value(double r) const;                               // f(r), f(0) = 1
//   void value_and_slope(double r, double& f, double& g) const;  // f(r) and g(r) = f'(r)/r
// (static member functions do as well); a profile with options holds them as members, fixed
// once the kernel is built: they are not hyperparameters.
// g = f'/r is what every gradient needs, and unlike f'(r)/r computed naively it is finite at r = 0
// for all the profiles here (the singularity is removable), so coincident points give no NaN:
//   ∂k/∂log ℓ_p = −s² g(r) (a_p − b_p)²/ℓ_p²,   ∂k/∂log s² = k,   ∇_a k = s² g(r) (a − b)/ℓ².
#include <Eigen/Core>
#include <fmt/format.h>
#include <cmath>
#include <memory>
#include <string>

#include "labloop/core/error.hpp"
#include "labloop/model/kernel.hpp"
#include "../registry.hpp"

namespace labloop::detail {

template <class Profile>
class ArdKernel final : public Kernel {
 public:
  explicit ArdKernel(int dim, Profile profile = {}) : profile_(profile), log_params_(Eigen::VectorXd::Constant(dim + 1, std::log(0.5))) {
    if (dim < 1) throw PlannerError("kernel dimension must be at least 1 (got " + std::to_string(dim) + ")");
    log_params_(dim) = 0.0;
    update();
  }

  std::unique_ptr<Kernel> clone() const override { return std::make_unique<ArdKernel>(*this); }
  std::string name() const override { return Profile::kName; }
  Eigen::Index num_params() const override { return log_params_.size(); }
  Eigen::VectorXd log_params() const override { return log_params_; }
  void set_log_params(const Eigen::VectorXd& p) override {
    if (p.size() != log_params_.size())
      throw PlannerError(std::string(Profile::kName) + " kernel: expected " + std::to_string(log_params_.size()) +
                         " log parameters, got " + std::to_string(p.size()));
    log_params_ = p;
    update();
  }
  double prior_variance() const override { return variance_; }

  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override {
    check_cols(a);
    check_cols(b);
    const Eigen::Index n = a.rows(), m = b.rows(), dim = dim_();
    const Eigen::MatrixXd as = scaled(a);  // d×n: one column per point
    Eigen::MatrixXd k(n, m);
    if (&a == &b) {  // K(X, X), the fitting hot path: half the pairs, unit diagonal
      for (Eigen::Index j = 0; j < n; ++j) {
        k(j, j) = variance_;
        const double* pj = as.data() + j * dim;
        for (Eigen::Index i = j + 1; i < n; ++i) {
          const double v = variance_ * profile_.value(std::sqrt(squared_distance(as.data() + i * dim, pj, dim)));
          k(i, j) = v;
          k(j, i) = v;
        }
      }
      return k;
    }
    const Eigen::MatrixXd bs = scaled(b);
    for (Eigen::Index j = 0; j < m; ++j) {
      const double* pj = bs.data() + j * dim;
      for (Eigen::Index i = 0; i < n; ++i)
        k(i, j) = variance_ * profile_.value(std::sqrt(squared_distance(as.data() + i * dim, pj, dim)));
    }
    return k;
  }

  Eigen::MatrixXd covariance_grad(const Eigen::MatrixXd& a, Eigen::Index param) const override {
    check_cols(a);
    if (param < 0 || param >= num_params())
      throw PlannerError(std::string(Profile::kName) + " kernel: parameter index " + std::to_string(param) + " is not in [0, " +
                         std::to_string(num_params()) + ")");
    const Eigen::MatrixXd as = scaled(a);
    const Eigen::Index n = a.rows(), dim = dim_();
    Eigen::MatrixXd g(n, n);
    for (Eigen::Index j = 0; j < n; ++j)
      for (Eigen::Index i = j; i < n; ++i) {
        double f = 0.0, slope = 0.0;
        profile_.value_and_slope(std::sqrt((as.col(i) - as.col(j)).squaredNorm()), f, slope);
        double v;
        if (param == dim) {
          v = variance_ * f;
        } else {
          const double delta = as(param, i) - as(param, j);
          v = -variance_ * slope * delta * delta;
        }
        g(i, j) = v;
        g(j, i) = v;
      }
    return g;
  }

  Eigen::VectorXd weighted_param_grad(const Eigen::MatrixXd& a, const Eigen::MatrixXd& weights) const override {
    check_cols(a);
    const Eigen::Index n = a.rows(), dim = dim_();
    if (weights.rows() != n || weights.cols() != n) throw PlannerError("weighted_param_grad: weights must be n×n for n input rows");
    const Eigen::MatrixXd as = scaled(a);
    const Eigen::MatrixXd w2 = weights + weights.transpose();  // read W_ij + W_ji contiguously
    Eigen::VectorXd g = Eigen::VectorXd::Zero(dim + 1);
    double g_variance = 0.0;
    // One pass over unordered pairs (the matrix ∂K/∂θ is symmetric, so W_ij and W_ji share a term).
    for (Eigen::Index j = 0; j < n; ++j) {
      g_variance += weights(j, j);  // f(0) = 1; the lengthscale terms vanish on the diagonal
      const double* pj = as.data() + j * dim;
      for (Eigen::Index i = j + 1; i < n; ++i) {
        const double w = w2(i, j);
        const double* pi = as.data() + i * dim;
        double f = 0.0, slope = 0.0;
        profile_.value_and_slope(std::sqrt(squared_distance(pi, pj, dim)), f, slope);
        g_variance += w * f;
        const double c = w * slope;
        for (Eigen::Index k = 0; k < dim; ++k) {
          const double delta = pi[k] - pj[k];
          g(k) -= c * delta * delta;
        }
      }
    }
    g *= variance_;
    g(dim) = variance_ * g_variance;
    return g;
  }

  Eigen::MatrixXd covariance_grad_x(const Eigen::RowVectorXd& x, const Eigen::MatrixXd& b) const override {
    check_cols(b);
    if (x.size() != dim_()) throw PlannerError("covariance_grad_x: x has " + std::to_string(x.size()) + " inputs, expected " + std::to_string(dim_()));
    const Eigen::VectorXd xs = x.transpose().cwiseProduct(inv_lengthscale_);
    const Eigen::MatrixXd bs = scaled(b);
    Eigen::MatrixXd g(b.rows(), dim_());
    for (Eigen::Index j = 0; j < b.rows(); ++j) {
      const Eigen::VectorXd delta = xs - bs.col(j);
      double f = 0.0, slope = 0.0;
      profile_.value_and_slope(std::sqrt(delta.squaredNorm()), f, slope);
      g.row(j) = (variance_ * slope) * delta.cwiseProduct(inv_lengthscale_).transpose();
    }
    return g;
  }

 private:
  Eigen::Index dim_() const { return log_params_.size() - 1; }
  void update() {
    inv_lengthscale_ = (-log_params_.head(dim_()).array()).exp().matrix();
    variance_ = std::exp(log_params_(dim_()));
  }
  void check_cols(const Eigen::MatrixXd& m) const {
    if (m.cols() != dim_())
      throw PlannerError(std::string(Profile::kName) + " kernel: inputs have " + std::to_string(m.cols()) +
                         " columns, expected " + std::to_string(dim_()));
  }
  static double squared_distance(const double* p, const double* q, Eigen::Index dim) {
    double r2 = 0.0;
    for (Eigen::Index k = 0; k < dim; ++k) {
      const double delta = p[k] - q[k];
      r2 += delta * delta;
    }
    return r2;
  }
  // Points as columns, divided by their lengthscales.
  Eigen::MatrixXd scaled(const Eigen::MatrixXd& m) const { return inv_lengthscale_.asDiagonal() * m.transpose(); }

  Profile profile_;
  Eigen::VectorXd log_params_;
  Eigen::VectorXd inv_lengthscale_;
  double variance_ = 1.0;
};

// The factory of every ARD kernel: they take no options (their hyperparameters are fitted).
template <class Profile>
std::unique_ptr<Kernel> make_ard_kernel(int dim, const JsonNode& options) {
  check_options(options, fmt::format("{} kernel", Profile::kName), {});  // not string + char*: GCC 12 warns falsely (-Warray-bounds)
  return std::make_unique<ArdKernel<Profile>>(dim);
}

}  // namespace labloop::detail
