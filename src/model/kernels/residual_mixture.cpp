// Descriptors with a residual per choice:
//
//   k(a, b) = ρ k_D(a, b) + (1 − ρ) k_C(a, b),    ρ = 1 / (1 + e^(−η))
//
// where k_D sees categorical choices through their descriptor features (a mapped kernel) and k_C
// sees them one-hot, both with the same signal variance s². Under k_D alone two choices with
// similar descriptors have similar values, and a choice whose descriptors resemble poor ones is
// predicted poor with confidence, so it is never tried even when the descriptors mislead (a
// general-purpose table on dye_lasers took the median run from 33.5 experiments to 62). k_C adds
// to each choice an effect of its own that the descriptors do not explain, so an untried choice
// keeps a share (1 − ρ) of the prior uncertainty, and the fit says how much the descriptors
// explain. Parameters: [k_D's lengthscales, k_C's lengthscales, k_D's own, k_C's own, η, log s²],
// with ρ = σ(η + logit ρ₀): η starts at 0, where ρ is the initial share ρ₀ (the Gaussian process
// keeps it there until it fits a kernel's own parameters, and its prior on η is centred there). A
// sum of positive semi-definite kernels with positive weights is one.
#include <fmt/format.h>

#include <cmath>

#include "kernels.hpp"
#include "labloop/core/error.hpp"

namespace labloop::detail {

namespace {

class ResidualMixtureKernel final : public Kernel {
 public:
  ResidualMixtureKernel(std::unique_ptr<Kernel> described, std::unique_ptr<Kernel> choices, double initial_share)
      : d_(std::move(described)), c_(std::move(choices)), offset_(std::log(initial_share / (1.0 - initial_share))) {
    if (!(initial_share > 0.0 && initial_share < 1.0))
      throw PlannerError(fmt::format("residual mixture kernel: the initial share must be between 0 and 1 (got {})", initial_share));
    const Eigen::VectorXd pd = d_->log_params(), pc = c_->log_params();
    Eigen::VectorXd p(num_params());
    p << pd.head(d_->num_lengthscales()), pc.head(c_->num_lengthscales()), pd.segment(d_->num_lengthscales(), own(*d_)),
        pc.segment(c_->num_lengthscales(), own(*c_)), 0.0, pd(pd.size() - 1);
    set_log_params(p);
  }
  ResidualMixtureKernel(const ResidualMixtureKernel& o)
      : d_(o.d_->clone()), c_(o.c_->clone()), offset_(o.offset_), log_params_(o.log_params_), share_(o.share_) {}

  std::unique_ptr<Kernel> clone() const override { return std::make_unique<ResidualMixtureKernel>(*this); }
  std::string name() const override { return d_->name() + "_with_" + c_->name(); }
  Eigen::Index num_params() const override { return d_->num_params() + c_->num_params(); }
  Eigen::Index num_lengthscales() const override { return d_->num_lengthscales() + c_->num_lengthscales(); }
  Eigen::VectorXd log_params() const override { return log_params_; }
  void set_log_params(const Eigen::VectorXd& p) override {
    if (p.size() != num_params()) throw PlannerError(fmt::format("residual mixture kernel: {} parameters given, {} expected", p.size(), num_params()));
    log_params_ = p;
    share_ = 1.0 / (1.0 + std::exp(-(p(eta()) + offset_)));
    d_->set_log_params(part(p, Part::described));
    c_->set_log_params(part(p, Part::choices));
  }
  double prior_variance() const override { return d_->prior_variance(); }

  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override {
    return share_ * d_->covariance(a, b) + (1.0 - share_) * c_->covariance(a, b);
  }

  Eigen::MatrixXd covariance_grad(const Eigen::MatrixXd& a, Eigen::Index param) const override {
    // ∂K/∂η = ρ(1 − ρ)(K_D − K_C)
    if (param == eta()) return share_ * (1.0 - share_) * (d_->covariance(a, a) - c_->covariance(a, a));
    if (param == num_params() - 1)
      return share_ * d_->covariance_grad(a, d_->num_params() - 1) + (1.0 - share_) * c_->covariance_grad(a, c_->num_params() - 1);
    const auto [which, local] = locate(param);
    return which == Part::described ? Eigen::MatrixXd(share_ * d_->covariance_grad(a, local))
                                    : Eigen::MatrixXd((1.0 - share_) * c_->covariance_grad(a, local));
  }

  Eigen::VectorXd weighted_param_grad(const Eigen::MatrixXd& a, const Eigen::MatrixXd& weights) const override {
    const Eigen::VectorXd gd = d_->weighted_param_grad(a, weights), gc = c_->weighted_param_grad(a, weights);
    Eigen::VectorXd grad(num_params());
    for (Eigen::Index p = 0; p < eta(); ++p) {
      const auto [which, local] = locate(p);
      grad(p) = which == Part::described ? share_ * gd(local) : (1.0 - share_) * gc(local);
    }
    // A kernel is proportional to its signal variance, so Σ W ⊙ K is its weighted gradient in
    // log s²: ∂/∂η = ρ(1 − ρ)(Σ W ⊙ K_D − Σ W ⊙ K_C) without another covariance.
    const double sd = gd(gd.size() - 1), sc = gc(gc.size() - 1);
    grad(eta()) = share_ * (1.0 - share_) * (sd - sc);
    grad(num_params() - 1) = share_ * sd + (1.0 - share_) * sc;
    return grad;
  }

  Eigen::MatrixXd covariance_grad_x(const Eigen::RowVectorXd& x, const Eigen::MatrixXd& b) const override {
    return share_ * d_->covariance_grad_x(x, b) + (1.0 - share_) * c_->covariance_grad_x(x, b);
  }

 private:
  enum class Part { described, choices };
  static Eigen::Index own(const Kernel& k) { return k.num_params() - 1 - k.num_lengthscales(); }
  Eigen::Index eta() const { return num_params() - 2; }
  // Where parameter p (a lengthscale or a part's own, not η or s²) lives: which part, and its index there.
  std::pair<Part, Eigen::Index> locate(Eigen::Index p) const {
    const Eigen::Index ld = d_->num_lengthscales(), lc = c_->num_lengthscales(), od = own(*d_);
    if (p < ld) return {Part::described, p};
    if (p < ld + lc) return {Part::choices, p - ld};
    if (p < ld + lc + od) return {Part::described, ld + (p - ld - lc)};
    return {Part::choices, lc + (p - ld - lc - od)};
  }
  // A part's own parameter vector: its lengthscales, its own parameters, the shared log s².
  Eigen::VectorXd part(const Eigen::VectorXd& p, Part which) const {
    const Eigen::Index ld = d_->num_lengthscales(), lc = c_->num_lengthscales(), od = own(*d_), oc = own(*c_);
    Eigen::VectorXd q(which == Part::described ? ld + od + 1 : lc + oc + 1);
    if (which == Part::described) q << p.head(ld), p.segment(ld + lc, od), p(p.size() - 1);
    else q << p.segment(ld, lc), p.segment(ld + lc + od, oc), p(p.size() - 1);
    return q;
  }

  std::unique_ptr<Kernel> d_, c_;
  double offset_;  // logit of the initial share: ρ = σ(η + offset_), so η = 0 is the initial share
  Eigen::VectorXd log_params_;
  double share_ = 0.5;  // ρ, the descriptor kernel's share
};

}  // namespace

std::unique_ptr<Kernel> make_residual_mixture_kernel(std::unique_ptr<Kernel> described, std::unique_ptr<Kernel> choices, double initial_share) {
  return std::make_unique<ResidualMixtureKernel>(std::move(described), std::move(choices), initial_share);
}

}  // namespace labloop::detail
