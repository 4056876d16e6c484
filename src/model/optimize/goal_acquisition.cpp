// See goal_acquisition.hpp. Gradients chain the parts' analytic ones:
//   LogEI: ∇ = ∇σ/σ + (log h)'(z)·∇z, z = (τ − μ)/σ, ∇z = −(∇μ + z∇σ)/σ;
//   log Φ(u), u = (b − μ)/σ: ∇ = (log Φ)'(u)·∇u, ∇u = −(∇μ + u∇σ)/σ;
//   log EHVI: Σ_j ∂/∂μ_j·∇μ_j + ∂/∂σ_j·∇σ_j (ehvi.hpp).
#include "goal_acquisition.hpp"

#include <cmath>

#include "../acquisitions/acquisitions.hpp"

namespace labloop::detail {

std::string GoalAcquisition::name() const {
  std::string n = parts_.objectives.size() > 1 ? "log_ehvi" : "log_ei";
  if (!parts_.constraints.empty()) n += "+constraints";
  if (parts_.feasibility) n += "+feasibility";
  return n;
}

Eigen::VectorXd GoalAcquisition::score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const {
  (void)ctx;
  const Eigen::Index m = x.rows();
  Eigen::VectorXd out = Eigen::VectorXd::Zero(m);
  Eigen::VectorXd mean, variance;
  if (improves()) {
    if (parts_.ehvi) {
      const size_t k = parts_.objectives.size();
      Eigen::MatrixXd means(m, static_cast<Eigen::Index>(k)), sds(m, static_cast<Eigen::Index>(k));
      for (size_t j = 0; j < k; ++j) {
        parts_.objectives[j]->predict(x, mean, variance);
        means.col(static_cast<Eigen::Index>(j)) = mean;
        const double floor = sigma_floor(*parts_.objectives[j]);
        for (Eigen::Index i = 0; i < m; ++i) sds(i, static_cast<Eigen::Index>(j)) = clamped_sigma(variance[i], floor);
      }
      for (Eigen::Index i = 0; i < m; ++i) {
        const Eigen::VectorXd mu = means.row(i).transpose(), sd = sds.row(i).transpose();
        out[i] = mu.allFinite() ? (*parts_.ehvi)(mu, sd) : -std::numeric_limits<double>::infinity();
      }
    } else {
      parts_.objectives.front()->predict(x, mean, variance);
      const double floor = sigma_floor(*parts_.objectives.front());
      for (Eigen::Index i = 0; i < m; ++i) {
        const double sigma = clamped_sigma(variance[i], floor);
        out[i] = std::log(sigma) + log_h((parts_.incumbent - mean[i]) / sigma);
      }
    }
  }
  for (size_t k = 0; k < parts_.constraints.size(); ++k) {
    parts_.constraints[k]->predict(x, mean, variance);
    const double bound = bound_of(k);
    const double floor = sigma_floor(*parts_.constraints[k]);
    for (Eigen::Index i = 0; i < m; ++i) out[i] += log_ndtr((bound - mean[i]) / clamped_sigma(variance[i], floor));
  }
  if (parts_.feasibility) out += parts_.feasibility->log_probability(x);
  return out;
}

double GoalAcquisition::score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const {
  (void)ctx;
  double value = 0.0;
  grad = Eigen::VectorXd::Zero(x.size());
  if (improves()) {
    if (parts_.ehvi) {
      const Eigen::Index k = static_cast<Eigen::Index>(parts_.objectives.size());
      std::vector<PointPosterior> posteriors;
      Eigen::VectorXd mu(k), sd(k), grad_mean, grad_sd;
      for (Eigen::Index j = 0; j < k; ++j) {
        posteriors.push_back(posterior_at(*parts_.objectives[static_cast<size_t>(j)], x));
        mu[j] = posteriors.back().mean;
        sd[j] = posteriors.back().sigma;
      }
      if (!mu.allFinite()) {
        grad.setZero();
        return -std::numeric_limits<double>::infinity();
      }
      value = (*parts_.ehvi)(mu, sd, grad_mean, grad_sd);
      for (Eigen::Index j = 0; j < k; ++j)
        grad += grad_mean[j] * posteriors[static_cast<size_t>(j)].mean_grad + grad_sd[j] * posteriors[static_cast<size_t>(j)].sigma_grad;
    } else {
      const PointPosterior p = posterior_at(*parts_.objectives.front(), x);
      const double z = (parts_.incumbent - p.mean) / p.sigma;
      const Eigen::VectorXd z_grad = -(p.mean_grad + z * p.sigma_grad) / p.sigma;
      grad += p.sigma_grad / p.sigma + log_h_derivative(z) * z_grad;
      value += std::log(p.sigma) + log_h(z);
    }
  }
  for (size_t k = 0; k < parts_.constraints.size(); ++k) {
    const PointPosterior p = posterior_at(*parts_.constraints[k], x);
    const double u = (bound_of(k) - p.mean) / p.sigma;
    grad += log_ndtr_derivative(u) * (-(p.mean_grad + u * p.sigma_grad) / p.sigma);
    value += log_ndtr(u);
  }
  if (parts_.feasibility) {
    Eigen::VectorXd g;
    value += parts_.feasibility->log_probability(x, g);
    grad += g;
  }
  return value;
}

}  // namespace labloop::detail
