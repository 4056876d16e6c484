// Upper confidence bound for minimization: the negated lower confidence bound,
// score = −(μ − √β·σ) = √β·σ − μ, so larger is better like every acquisition here.
// β trades exploration (large) against exploitation (0 = pure posterior mean).
#include <cmath>
#include <string>

#include "labloop/core/error.hpp"
#include "acquisitions.hpp"

namespace labloop::detail {

namespace {

class UpperConfidenceBound final : public Acquisition {
 public:
  explicit UpperConfidenceBound(double beta) : sqrt_beta_(std::sqrt(beta)) {}

  std::string name() const override { return "ucb"; }
  double score_unit(const AcquisitionContext& ctx) const override { return ctx.model.output_unit(); }

  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    Eigen::VectorXd mean, variance;
    ctx.model.predict(x, mean, variance);
    Eigen::VectorXd out(x.rows());
    const double floor = sigma_floor(ctx.model);
    for (Eigen::Index i = 0; i < x.rows(); ++i) out[i] = sqrt_beta_ * clamped_sigma(variance[i], floor) - mean[i];
    return out;
  }

  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override {
    const PointPosterior p = posterior_at(ctx.model, x);
    grad = sqrt_beta_ * p.sigma_grad - p.mean_grad;
    return sqrt_beta_ * p.sigma - p.mean;
  }

 private:
  double sqrt_beta_;
};

}  // namespace

// Option "beta" (default 2): the exploration weight.
std::unique_ptr<Acquisition> make_ucb(const JsonNode& options) {
  check_options(options, "ucb acquisition", {"beta"});
  const double beta = number_option(options, "beta", 2.0, [](double b) { return std::isfinite(b) && b >= 0.0; }, "must be finite and >= 0");
  return std::make_unique<UpperConfidenceBound>(beta);
}

}  // namespace labloop::detail
