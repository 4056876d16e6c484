// Log probability of improvement (minimization): PI(x) = P(f(x) < τ) = Φ(z), z = (τ − μ)/σ.
// log Φ is evaluated through Mills' ratio for z ≤ −1 (log_h.cpp), so it stays finite where Φ
// underflows. Gradient: ∇ log PI = (φ/Φ)(z)·∇z, with ∇z = −∇μ/σ − z·∇σ/σ.
#include "acquisitions.hpp"

namespace labloop::detail {

namespace {

class LogProbabilityOfImprovement final : public Acquisition {
 public:
  std::string name() const override { return "log_pi"; }

  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    Eigen::VectorXd mean, variance;
    ctx.model.predict(x, mean, variance);
    Eigen::VectorXd out(x.rows());
    const double floor = sigma_floor(ctx.model);
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      out[i] = log_ndtr((ctx.incumbent - mean[i]) / clamped_sigma(variance[i], floor));
    return out;
  }

  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override {
    const PointPosterior p = posterior_at(ctx.model, x);
    const double z = (ctx.incumbent - p.mean) / p.sigma;
    grad = -log_ndtr_derivative(z) * (p.mean_grad + z * p.sigma_grad) / p.sigma;
    return log_ndtr(z);
  }
};

}  // namespace

std::unique_ptr<Acquisition> make_log_pi(const JsonNode& options) {
  check_options(options, "log_pi acquisition", {});
  return std::make_unique<LogProbabilityOfImprovement>();
}

}  // namespace labloop::detail
