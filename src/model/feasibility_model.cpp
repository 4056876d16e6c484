// Laplace approximation for GP classification with the probit likelihood p(y|f) = Φ(y·f),
// y ∈ {−1, +1}, latent f = m + g, g ~ GP(0, K) (Rasmussen & Williams 2006, Alg. 3.1 and 3.2).
//
// Newton's method finds the mode ĝ of log p(y|m+g) − ½ gᵀK⁻¹g without inverting K:
//   W = −∇∇ log p(y|f) (diagonal, ≥ 0 for the log-concave probit), B = I + W½ K W½ = LLᵀ,
//   b = W g + ∇log p,  a = b − W½ L⁻ᵀ L⁻¹ W½ K b,  g ← K a.
// For the probit, with z = y·f and r = φ(z)/Φ(z) (log_ndtr_derivative: no underflow for z ≪ 0),
//   ∇log p = y·r,  W = r² + z·r.
// Prediction at x: μ = m + k(x)ᵀ ∇log p(ĝ), σ² = k(x,x) − vᵀv with v = L⁻¹ W½ k(x), and
// P(y = +1) = Φ(μ / √(1 + σ²)). Its log is log_ndtr of that ratio (finite for every finite input);
// the gradient chains dμ/dx = (∂k/∂x)ᵀ ∇log p and dσ²/dx = −2 (∂k/∂x)ᵀ W½ L⁻ᵀ v.
// Approximate log evidence, for choosing the signal variance:
//   log q(y) = −½ aᵀ ĝ + Σ log Φ(zᵢ) − Σ log Lᵢᵢ.
#include "labloop/model/feasibility_model.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "acquisitions/acquisitions.hpp"
#include "labloop/core/error.hpp"

namespace labloop {

namespace {

// Signal variances (latent units) and lengthscale multipliers the evidence chooses among: from a
// gentle slope to a near-step between success and failure, and from the objective's own
// lengthscales to ones long enough to carry a simple boundary ("fails above 120 °C") into corners
// nobody has tried yet. Past kFullGridMax points only the middle of the grid is tried (each
// candidate costs a few O(n³) Newton steps).
constexpr double kSignalVariances[] = {1.0, 4.0, 16.0};
constexpr double kLengthscaleMultipliers[] = {1.0, 2.0, 4.0};
constexpr Eigen::Index kFullGridMax = 150;
constexpr int kMaxNewtonSteps = 50;

// Φ⁻¹(p) for p in (0, 1) by Newton on log Φ (a few steps from a logistic start are plenty for
// the base-rate prior mean, which needs no more than 1e-10).
double probit(double p) {
  double z = std::log(p / (1 - p)) / 1.7;
  for (int i = 0; i < 60; ++i) {
    const double step = (std::exp(detail::log_ndtr(z)) - p) / std::max(1e-300, std::exp(-0.5 * z * z) * 0.3989422804014327);
    z -= step;
    if (std::abs(step) < 1e-12) break;
  }
  return z;
}

}  // namespace

struct FeasibilityModel::State {
  std::unique_ptr<Kernel> kernel;
  Eigen::MatrixXd x;
  double mean = 0.0;
  Eigen::VectorXd dlog;     // ∇log p(y|f) at the mode
  Eigen::VectorXd sqrt_w;   // W½
  Eigen::MatrixXd l;        // Cholesky factor of B (lower)
  double variance = 1.0;
};

FeasibilityModel::FeasibilityModel() = default;
FeasibilityModel::FeasibilityModel(const FeasibilityModel& other)
    : s_(other.s_ ? std::make_unique<State>(State{other.s_->kernel->clone(), other.s_->x, other.s_->mean, other.s_->dlog, other.s_->sqrt_w,
                                                  other.s_->l, other.s_->variance})
                  : nullptr) {}
// Copy, then move in: with a move assignment of its own, the temporary is not copied again.
FeasibilityModel& FeasibilityModel::operator=(const FeasibilityModel& other) {
  if (this != &other) *this = FeasibilityModel(other);
  return *this;
}
FeasibilityModel::FeasibilityModel(FeasibilityModel&&) noexcept = default;
FeasibilityModel& FeasibilityModel::operator=(FeasibilityModel&&) noexcept = default;
FeasibilityModel::~FeasibilityModel() = default;

bool FeasibilityModel::fitted() const { return s_ != nullptr; }
double FeasibilityModel::signal_variance() const { return s_ ? s_->variance : std::nan(""); }
double FeasibilityModel::prior_mean() const { return s_ ? s_->mean : std::nan(""); }

void FeasibilityModel::fit(const Kernel& kernel, const Eigen::MatrixXd& x, const std::vector<bool>& succeeded) {
  const Eigen::Index n = x.rows();
  if (n < 1 || static_cast<size_t>(n) != succeeded.size())
    throw PlannerError(fmt::format("feasibility model: {} points but {} outcomes", n, succeeded.size()));
  Eigen::VectorXd y(n);
  double successes = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    y[i] = succeeded[static_cast<size_t>(i)] ? 1.0 : -1.0;
    successes += succeeded[static_cast<size_t>(i)] ? 1 : 0;
  }
  const double mean = probit((successes + 1) / (static_cast<double>(n) + 2));
  double best_evidence = -std::numeric_limits<double>::infinity();
  std::unique_ptr<State> best;
  const bool full = n <= kFullGridMax;
  for (double multiplier : kLengthscaleMultipliers) {
  if (!full && multiplier != 2.0) continue;
  std::unique_ptr<Kernel> k = kernel.clone();
  Eigen::VectorXd p = k->log_params();
  p.head(k->num_lengthscales()).array() += std::log(multiplier);
  p[p.size() - 1] = 0.0;  // unit signal variance: K1 scales with the variance below
  k->set_log_params(p);
  const Eigen::MatrixXd k1 = k->covariance(x, x);
  for (double variance : kSignalVariances) {
    if (!full && variance != 4.0) continue;
    const Eigen::MatrixXd kk = variance * k1;
    Eigen::VectorXd g = Eigen::VectorXd::Zero(n), a = Eigen::VectorXd::Zero(n), dlog(n), w(n);
    Eigen::LLT<Eigen::MatrixXd> llt;
    // ∇log p, W and log p(y|f) at the latent g.
    auto likelihood_at = [&] {
      double loglik = 0;
      for (Eigen::Index i = 0; i < n; ++i) {
        const double z = y[i] * (mean + g[i]);
        const double r = detail::log_ndtr_derivative(z);
        dlog[i] = y[i] * r;
        w[i] = std::max(0.0, r * r + z * r);
        loglik += detail::log_ndtr(z);
      }
      return loglik;
    };
    double previous = -std::numeric_limits<double>::infinity(), psi = 0;
    for (int step = 0; step < kMaxNewtonSteps; ++step) {
      psi = -0.5 * a.dot(g) + likelihood_at();
      if (step > 0 && std::abs(psi - previous) < 1e-10 * (1 + std::abs(psi))) break;
      previous = psi;
      const Eigen::VectorXd sw = w.cwiseSqrt();
      Eigen::MatrixXd b = sw.asDiagonal() * kk * sw.asDiagonal();
      b.diagonal().array() += 1.0;
      llt.compute(b);
      if (llt.info() != Eigen::Success) throw PlannerError("feasibility model: I + W½KW½ is not positive definite (a kernel that is not PSD?)");
      const Eigen::VectorXd rhs = w.cwiseProduct(g) + dlog;
      const Eigen::VectorXd t = llt.solve(sw.cwiseProduct(kk * rhs));
      a = rhs - sw.cwiseProduct(t);
      g = kk * a;
    }
    // Quantities at the final mode (recomputed so they match g exactly).
    const double loglik = likelihood_at();
    const Eigen::VectorXd sw = w.cwiseSqrt();
    Eigen::MatrixXd b = sw.asDiagonal() * kk * sw.asDiagonal();
    b.diagonal().array() += 1.0;
    llt.compute(b);
    if (llt.info() != Eigen::Success) continue;
    const Eigen::MatrixXd l = llt.matrixL();
    const double evidence = -0.5 * dlog.dot(g) + loglik - l.diagonal().array().log().sum();  // at the mode, a = ∇log p
    if (!std::isfinite(evidence) || evidence <= best_evidence) continue;
    best_evidence = evidence;
    auto kernel_copy = k->clone();
    Eigen::VectorXd q = kernel_copy->log_params();
    q[q.size() - 1] = std::log(variance);
    kernel_copy->set_log_params(q);
    best = std::make_unique<State>(State{std::move(kernel_copy), x, mean, dlog, sw, l, variance});
  }
  }
  if (!best) throw PlannerError("feasibility model: no signal variance gave a finite evidence");
  s_ = std::move(best);
}

Eigen::VectorXd FeasibilityModel::log_probability(const Eigen::MatrixXd& x) const {
  if (!s_) throw PlannerError("feasibility model: predict before fit");
  const Eigen::MatrixXd ks = s_->kernel->covariance(s_->x, x);  // n×m
  const Eigen::VectorXd mu = (ks.transpose() * s_->dlog).array() + s_->mean;
  const Eigen::MatrixXd v = s_->l.triangularView<Eigen::Lower>().solve(s_->sqrt_w.asDiagonal() * ks);
  const double prior = s_->kernel->prior_variance();
  Eigen::VectorXd out(x.rows());
  for (Eigen::Index j = 0; j < x.rows(); ++j) {
    const double var = std::max(0.0, prior - v.col(j).squaredNorm());
    out[j] = detail::log_ndtr(mu[j] / std::sqrt(1.0 + var));
  }
  return out;
}

double FeasibilityModel::log_probability(const Eigen::VectorXd& x, Eigen::VectorXd& grad) const {
  if (!s_) throw PlannerError("feasibility model: predict before fit");
  const Eigen::VectorXd ks = s_->kernel->covariance(s_->x, x.transpose()).col(0);     // n
  const Eigen::MatrixXd dk = s_->kernel->covariance_grad_x(x.transpose(), s_->x);     // n×d
  const double mu = s_->mean + ks.dot(s_->dlog);
  const Eigen::VectorXd v = s_->l.triangularView<Eigen::Lower>().solve(s_->sqrt_w.cwiseProduct(ks));
  const double var = s_->kernel->prior_variance() - v.squaredNorm();
  const Eigen::VectorXd dmu = dk.transpose() * s_->dlog;
  Eigen::VectorXd dvar = Eigen::VectorXd::Zero(x.size());
  if (var > 0) dvar = -2.0 * dk.transpose() * s_->sqrt_w.cwiseProduct(s_->l.transpose().triangularView<Eigen::Upper>().solve(v));
  const double s = std::sqrt(1.0 + std::max(0.0, var));
  const double u = mu / s;
  const Eigen::VectorXd du = dmu / s - (mu / (2.0 * s * s * s)) * dvar;
  grad = detail::log_ndtr_derivative(u) * du;
  return detail::log_ndtr(u);
}

}  // namespace labloop
