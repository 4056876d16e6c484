// Log expected improvement (minimization): EI(x) = E[max(τ − f(x), 0)] = σ·h(z),
// z = (τ − μ)/σ, h(z) = φ(z) + z·Φ(z), so log EI = log σ + log h(z) (see log_h.cpp).
// Working in log space keeps the value finite and the gradient informative far from the
// incumbent, where EI itself underflows to 0 (Ament et al., NeurIPS 2023).
//
// Gradient: ∇ log EI = ∇σ/σ + (log h)'(z)·∇z, with ∇z = −∇μ/σ − z·∇σ/σ.
#include <cmath>

#include "acquisitions.hpp"

namespace labloop::detail {

namespace {

class LogExpectedImprovement final : public Acquisition {
 public:
  std::string name() const override { return "log_ei"; }

  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    Eigen::VectorXd mean, variance;
    ctx.model.predict(x, mean, variance);
    Eigen::VectorXd out(x.rows());
    const double floor = sigma_floor(ctx.model);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double sigma = clamped_sigma(variance[i], floor);
      out[i] = std::log(sigma) + log_h((ctx.incumbent - mean[i]) / sigma);
    }
    return out;
  }

  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override {
    const PointPosterior p = posterior_at(ctx.model, x);
    const double z = (ctx.incumbent - p.mean) / p.sigma;
    const Eigen::VectorXd z_grad = -(p.mean_grad + z * p.sigma_grad) / p.sigma;
    grad = p.sigma_grad / p.sigma + log_h_derivative(z) * z_grad;
    return std::log(p.sigma) + log_h(z);
  }
};

}  // namespace

std::unique_ptr<Acquisition> make_log_ei(const JsonNode& options) {
  check_options(options, "log_ei acquisition", {});
  return std::make_unique<LogExpectedImprovement>();
}

}  // namespace labloop::detail
