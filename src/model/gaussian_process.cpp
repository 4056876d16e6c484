// Gaussian-process regression (Rasmussen & Williams 2006, ch. 2 and 5).
//
// Standardized targets ỹ = (y − ȳ)/s_y. With K = k(X, X) + σ²I = LLᵀ, r = ỹ − m and α = K⁻¹r:
//   log p(ỹ|θ) = −½ rᵀα − Σ log L_ii − (n/2) log 2π,
//   ∂/∂θ_k   = ½ tr(W ∂K/∂θ_k) with W = ααᵀ − K⁻¹   (kernel parameters, via weighted_param_grad;
//              for log σ², ∂K/∂log σ² = σ²I, so the term is ½σ² tr W),
//   ∂/∂m     = Σ α_i.
// Posterior of f at x*: mean m + k*ᵀα, variance k** − ‖L⁻¹k*‖².
//
// Priors (weak, on θ itself; all gradients analytic):
//   lengthscale ℓ ~ Gamma(3, rate 6) (mode 1/3, mean 0.5 in the unit cube) written as a density
//     over log ℓ, i.e. with the Jacobian ℓ: log p(log ℓ) = 3 log ℓ − 6ℓ + c;
//   signal variance: log s² ~ N(0, 2²) (log-normal around 1: y is standardized);
//   noise variance: Gamma(1.1, rate 0.05) evaluated at σ² (BoTorch's convention — the density of
//     σ² used as a penalty on log σ², no Jacobian): 0.1 log σ² − 0.05σ² + c, almost flat, so the
//     noise floor and the likelihood decide;
//   constant mean: none.
//
// K⁻¹ for the gradient costs ~n³ flops (Cholesky n³/3, triangular inverse n³/3, LᵀL-product n³/3,
// each blocked so Eigen's GEMM kernels do the work); everything else is O(n² d).
#include "labloop/model/gaussian_process.hpp"

#include <fmt/format.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <nlopt.hpp>
#include <vector>

#include "labloop/core/error.hpp"
#include "kernels/kernels.hpp"

namespace labloop {

namespace {

constexpr double kLog2Pi = 1.8378770664093454836;
constexpr double kLengthscaleShape = 3.0, kLengthscaleRate = 6.0;
constexpr double kSignalLogSd = 2.0;
constexpr double kNoiseShape = 1.1, kNoiseRate = 0.05;
const double kMinLogLengthscale = std::log(0.01), kMaxLogLengthscale = std::log(20.0);
const double kMinLogSignal = std::log(0.01), kMaxLogSignal = std::log(100.0);
constexpr double kMaxLogNoise = 0.0;
constexpr double kMeanBound = 3.0;
// The kernel's own parameters (the additive kernel's share, as a logit): a N(0, 1) prior keeps
// them near their start unless the data say otherwise, and they are fitted only from this many
// results on: with fewer, the evidence sent the additive share to its bound (w = 0.05 on
// dye_lasers from 6 results) and the search did worse (docs/decisions/0013).
constexpr double kOwnParamSd = 1.0;
constexpr Eigen::Index kOwnParamsMinResults = 15;
// With an input residual: the descriptor kernel's share before it is fitted, and the centre of
// its prior. Descriptors someone supplied get most of the signal; the rest keeps each choice an
// effect of its own (docs/decisions/0016: ½ cost 3 % on the shipped tables, 0.8 nothing).
constexpr double kInitialDescriptorShare = 0.8;
constexpr Eigen::Index kBlock = 48;

// Cholesky of `k` (lower), adding jitter 1e-8·s², 1e-7·s², … 1e-2·s² to the diagonal when the plain
// factorization fails. Returns false when all attempts fail; `jitter` is the amount that was added.
bool cholesky_with_jitter(Eigen::MatrixXd& k, double signal_variance, Eigen::LLT<Eigen::MatrixXd>& llt, double& jitter) {
  jitter = 0.0;
  llt.compute(k);
  if (llt.info() == Eigen::Success) return true;
  double added = 0.0;
  for (double scale = 1e-8; scale <= 1.01e-2; scale *= 10.0) {
    const double target = scale * signal_variance;
    k.diagonal().array() += target - added;
    added = target;
    llt.compute(k);
    if (llt.info() == Eigen::Success) {
      jitter = added;
      return true;
    }
  }
  k.diagonal().array() -= added;
  return false;
}

// inv = L⁻¹ for lower-triangular L, in ~n³/3 flops: column block J of L⁻¹ is zero above the block,
// and below it solves L[J:, J:] X = I[J:, J].
void lower_inverse(const Eigen::MatrixXd& l, Eigen::MatrixXd& inv) {
  const Eigen::Index n = l.rows();
  inv.setZero(n, n);
  for (Eigen::Index j0 = 0; j0 < n; j0 += kBlock) {
    const Eigen::Index b = std::min(kBlock, n - j0), rows = n - j0;
    auto x = inv.block(j0, j0, rows, b);
    x.topRows(b).setIdentity();
    l.block(j0, j0, rows, rows).triangularView<Eigen::Lower>().solveInPlace(x);
  }
}

// Lower triangle of K⁻¹ = L⁻ᵀL⁻¹ from inv = L⁻¹, in ~n³/3 flops: row block R of L⁻¹ is zero right of
// the block, so it contributes inv[R, :r1]ᵀ inv[R, :r1] to the top-left r1×r1 corner only.
void inverse_from_lower_inverse(const Eigen::MatrixXd& inv, Eigen::MatrixXd& out) {
  const Eigen::Index n = inv.rows();
  out.setZero(n, n);
  for (Eigen::Index r0 = 0; r0 < n; r0 += kBlock) {
    const Eigen::Index b = std::min(kBlock, n - r0), r1 = r0 + b;
    out.topLeftCorner(r1, r1).selfadjointView<Eigen::Lower>().rankUpdate(inv.block(r0, 0, b, r1).transpose());
  }
}

[[noreturn]] void throw_cholesky_failed(Eigen::Index n) {
  throw PlannerError(fmt::format(
      "Gaussian process with {} observations: Cholesky failed even with jitter 1e-2: are there duplicate inputs "
      "with very different results? (check the data, or let the model learn the noise)",
      n));
}

}  // namespace

struct GaussianProcess::State {
  int dim;
  GaussianProcessOptions options;
  std::unique_ptr<Kernel> kernel;
  double log_noise;  // log σ², standardized units
  double mean = 0.0;  // constant mean, standardized units

  Eigen::MatrixXd x;  // n×d
  Eigen::VectorXd y;  // y units
  double y_mean = 0.0, y_std = 1.0;
  Eigen::VectorXd ys;  // standardized

  Eigen::MatrixXd chol;  // L (lower; the strict upper part is garbage), n×n
  Eigen::VectorXd z;     // L⁻¹(ỹ − m)
  Eigen::VectorXd alpha;  // K⁻¹(ỹ − m)
  double jitter = 0.0;
  Eigen::VectorXd diagonal;  // what K + σ²I adds to k(xᵢ, xᵢ) at each point: noise and jitter
  Eigen::VectorXd prior_weight;  // per lengthscale: 1 / size of its group (empty: all 1)
  std::vector<int> groups;        // each kernel lengthscale's group (empty: one each)

  State(int d, GaussianProcessOptions o)
      : dim(d), options(std::move(o)), log_noise(std::log(options.noise_variance)), x(0, d) {
    if (options.input_map.size() > 0 && options.input_map.cols() != d)
      throw PlannerError(fmt::format("Gaussian process: input_map has {} columns for {} inputs", options.input_map.cols(), d));
    // With an input map the kernel, its lengthscale groups and its additive parts are over the features.
    const int inputs = d;
    d = options.input_map.size() > 0 ? static_cast<int>(options.input_map.rows()) : d;
    kernel = build_kernel(d, options.lengthscale_groups);
    groups = options.lengthscale_groups;
    if (options.input_map.size() > 0) {
      kernel = detail::make_mapped_kernel(std::move(kernel), options.input_map);
      if (options.input_residual) {
        // The residual part's lengthscales come after the features' and are grouped after theirs.
        kernel = detail::make_residual_mixture_kernel(std::move(kernel), build_kernel(inputs, options.residual_lengthscale_groups),
                                                             kInitialDescriptorShare);
        const int first = groups.empty() ? d : *std::max_element(groups.begin(), groups.end()) + 1;
        if (groups.empty()) groups.resize(static_cast<size_t>(d)), std::iota(groups.begin(), groups.end(), 0);
        for (int i = 0; i < inputs; ++i)
          groups.push_back(first + (options.residual_lengthscale_groups.empty() ? i : options.residual_lengthscale_groups[static_cast<size_t>(i)]));
      }
    }
    if (!groups.empty()) {
      std::vector<int> size(groups.size(), 0);
      for (int g : groups) ++size[static_cast<size_t>(g)];
      prior_weight.resize(static_cast<Eigen::Index>(groups.size()));
      for (size_t i = 0; i < groups.size(); ++i) prior_weight(static_cast<Eigen::Index>(i)) = 1.0 / size[static_cast<size_t>(groups[i])];
    }
  }
  // The kernel over `d` inputs with these lengthscale groups (checked), additive when asked.
  std::unique_ptr<Kernel> build_kernel(int d, const std::vector<int>& g) const {
    if (!g.empty()) {
      if (static_cast<int>(g.size()) != d)
        throw PlannerError(fmt::format("Gaussian process: lengthscale_groups has {} entries for {} inputs", g.size(), d));
      std::vector<int> size(g.size(), 0);
      for (int v : g) {
        if (v < 0 || v >= d) throw PlannerError(fmt::format("Gaussian process: lengthscale group {} is not in [0, {})", v, d));
        ++size[static_cast<size_t>(v)];
      }
      const int count = *std::max_element(g.begin(), g.end()) + 1;
      if (std::find(size.begin(), size.begin() + count, 0) != size.begin() + count)
        throw PlannerError("Gaussian process: lengthscale groups must be numbered 0, 1, … without gaps");
    }
    if (!options.additive) return make_kernel(options.kernel, d, options.kernel_options);
    std::vector<int> own(static_cast<size_t>(d));
    std::iota(own.begin(), own.end(), 0);
    return make_additive_kernel(options.kernel, d, g.empty() ? own : g, options.kernel_options);
  }
  State(const State& o)
      : dim(o.dim), options(o.options), kernel(o.kernel->clone()), log_noise(o.log_noise), mean(o.mean), x(o.x), y(o.y),
        y_mean(o.y_mean), y_std(o.y_std), ys(o.ys), chol(o.chol), z(o.z), alpha(o.alpha), jitter(o.jitter),
        diagonal(o.diagonal), prior_weight(o.prior_weight), groups(o.groups) {}

  Eigen::Index n() const { return x.rows(); }
  Eigen::Index num_kernel() const { return kernel->num_params(); }
  bool stated_noise() const { return std::isfinite(options.noise_sd); }
  bool learns_noise() const { return options.learn_noise && !stated_noise(); }
  // A stated noise in standardized units, which change with every set_data.
  void apply_stated_noise() {
    if (!stated_noise()) return;
    const double v = options.noise_sd * options.noise_sd / (y_std * y_std);
    log_noise = std::clamp(std::log(v), std::log(options.noise_floor), std::max(kMaxLogNoise, std::log(options.noise_floor)));
  }
  Eigen::Index num_theta() const { return num_kernel() + 2; }

  Eigen::VectorXd theta() const {
    Eigen::VectorXd t(num_theta());
    t.head(num_kernel()) = kernel->log_params();
    t(num_kernel()) = log_noise;
    t(num_kernel() + 1) = mean;
    return t;
  }

  void check_theta(const Eigen::VectorXd& t) const {
    if (t.size() != num_theta())
      throw PlannerError(fmt::format("Gaussian process: expected {} hyperparameters (kernel {}, log noise, mean), got {}",
                                     num_theta(), num_kernel(), t.size()));
    if (!t.allFinite()) throw PlannerError("Gaussian process: hyperparameters must be finite");
  }

  // Factorizes K + σ²I with the current θ and solves for α. Throws PlannerError.
  void factorize() {
    if (n() == 0) {
      chol.resize(0, 0);
      z.resize(0);
      alpha.resize(0);
      return;
    }
    Eigen::MatrixXd k = kernel->covariance(x, x);
    k.diagonal().array() += std::exp(log_noise);
    Eigen::LLT<Eigen::MatrixXd> llt;
    if (!cholesky_with_jitter(k, kernel->prior_variance(), llt, jitter)) throw_cholesky_failed(n());
    diagonal = Eigen::VectorXd::Constant(n(), std::exp(log_noise) + jitter);
    chol = llt.matrixLLT();
    z = ys.array() - mean;
    chol.triangularView<Eigen::Lower>().solveInPlace(z);
    alpha = chol.triangularView<Eigen::Lower>().transpose().solve(z);
  }

  double log_prior(const Eigen::VectorXd& t, Eigen::VectorXd* grad) const {
    const Eigen::Index nl = num_kernel() - 1, nls = kernel->num_lengthscales();
    double lp = 0.0;
    for (Eigen::Index i = 0; i < nls; ++i) {
      // A group of tied lengthscales is one quantity: its prior counts once, spread over members.
      const double w = prior_weight.size() ? prior_weight(i) : 1.0;
      const double l = std::exp(t(i));
      lp += w * (kLengthscaleShape * t(i) - kLengthscaleRate * l);
      if (grad) (*grad)(i) += w * (kLengthscaleShape - kLengthscaleRate * l);
    }
    for (Eigen::Index i = nls; i < nl; ++i) {  // the kernel's own: centred on their start, 0
      lp += -0.5 * t(i) * t(i) / (kOwnParamSd * kOwnParamSd);
      if (grad) (*grad)(i) += -t(i) / (kOwnParamSd * kOwnParamSd);
    }
    const double u = t(nl);
    lp += -0.5 * u * u / (kSignalLogSd * kSignalLogSd);
    if (grad) (*grad)(nl) += -u / (kSignalLogSd * kSignalLogSd);
    const double v = t(nl + 1), noise = std::exp(v);
    lp += (kNoiseShape - 1.0) * v - kNoiseRate * noise;
    if (grad) (*grad)(nl + 1) += (kNoiseShape - 1.0) - kNoiseRate * noise;
    return lp;
  }
};

GaussianProcess::GaussianProcess(int dim, GaussianProcessOptions options) {
  if (dim < 1) throw PlannerError(fmt::format("Gaussian process: dimension must be at least 1 (got {})", dim));
  if (!(options.noise_variance > 0.0) || !(options.noise_floor > 0.0))
    throw PlannerError("Gaussian process: noise_variance and noise_floor must be positive");
  if (!std::isnan(options.noise_sd) && !(options.noise_sd >= 0.0 && std::isfinite(options.noise_sd)))
    throw PlannerError(fmt::format("Gaussian process: a stated noise must be a finite standard deviation >= 0 (got {})", options.noise_sd));
  s_ = std::make_unique<State>(dim, std::move(options));
}
GaussianProcess::GaussianProcess(const GaussianProcess& other) : s_(std::make_unique<State>(*other.s_)) {}
GaussianProcess& GaussianProcess::operator=(const GaussianProcess& other) {
  if (this != &other) s_ = std::make_unique<State>(*other.s_);
  return *this;
}
GaussianProcess::GaussianProcess(GaussianProcess&&) noexcept = default;
GaussianProcess& GaussianProcess::operator=(GaussianProcess&&) noexcept = default;
GaussianProcess::~GaussianProcess() = default;

void GaussianProcess::set_data(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  State& s = *s_;
  if (x.rows() < 1) throw PlannerError("Gaussian process: set_data needs at least one observation");
  if (x.cols() != s.dim)
    throw PlannerError(fmt::format("Gaussian process: inputs have {} columns, expected {}", x.cols(), s.dim));
  if (x.rows() != y.size())
    throw PlannerError(fmt::format("Gaussian process: {} input rows but {} results", x.rows(), y.size()));
  if (!x.allFinite()) throw PlannerError("Gaussian process: inputs contain NaN or infinity");
  for (Eigen::Index i = 0; i < y.size(); ++i)
    if (!std::isfinite(y(i)))
      throw PlannerError(fmt::format("Gaussian process: result {} is {} — record failed experiments as failed observations "
                                     "instead of passing a non-finite value",
                                     i, y(i)));
  double y_mean = y.mean();
  const double var = y.size() > 1 ? (y.array() - y_mean).square().sum() / static_cast<double>(y.size() - 1) : 0.0;
  double sd = std::sqrt(var);
  const double magnitude = y.cwiseAbs().maxCoeff();
  if (!std::isfinite(y_mean) || !std::isfinite(var) || (magnitude > 0 && magnitude < 1e-100)) {
    // Squares overflow beyond ~1e154 (and sums near ±DBL_MAX), and lose their digits below
    // ~1e-154: divide by the largest magnitude first. Ordinary data never come here, so their
    // standardization is unchanged.
    const double m = magnitude;
    const Eigen::ArrayXd u = y.array() / m;
    const double u_mean = u.mean();
    y_mean = m * u_mean;
    sd = y.size() > 1 ? m * std::sqrt((u - u_mean).square().sum() / static_cast<double>(y.size() - 1)) : 0.0;
  }
  // Constant results (equal, or equal but for rounding: a spread within 1e-12 of their mean)
  // carry no trend to standardize, and dividing by that spread would blow rounding up into one;
  // they keep unit scale. The test is relative, so results in large units (joules for 1e-18 J
  // energies) are standardized exactly as the same results in small units: an absolute floor
  // took them for constant and the model learned nothing from them.
  // A spread whose square underflows (denormal results, ~1e-160 and below) cannot scale the
  // posterior variances, held in y units (σ² · y_std²): such results are modelled as constant,
  // as they always were (a planner that learns nothing from them, not one that stops).
  const double y_std = (sd > 1e-12 * std::abs(y_mean)) && sd * sd >= std::numeric_limits<double>::min() ? sd : 1.0;
  // Posterior variances must stay representable.
  if (!std::isfinite(y_mean) || !std::isfinite(y_std * y_std))
    throw PlannerError(fmt::format("Gaussian process: results spread over {:g} in magnitude, too wide for the model to represent "
                                   "(compress them first, e.g. with MagnitudeCompression)",
                                   y.cwiseAbs().maxCoeff()));
  s.x = x;
  s.y = y;
  s.y_mean = y_mean;
  s.y_std = y_std;
  s.ys = (y.array() - s.y_mean) / s.y_std;
  s.apply_stated_noise();
  s.factorize();
}

void GaussianProcess::add_observation(const Eigen::VectorXd& x, double y, bool exact) {
  State& s = *s_;
  if (x.size() != s.dim)
    throw PlannerError(fmt::format("Gaussian process: observation has {} inputs, expected {}", x.size(), s.dim));
  if (!x.allFinite()) throw PlannerError("Gaussian process: observation inputs contain NaN or infinity");
  if (!std::isfinite(y)) throw PlannerError(fmt::format("Gaussian process: result {} is not finite", y));
  if (s.n() == 0) {
    set_data(x.transpose(), Eigen::VectorXd::Constant(1, y));
    return;
  }
  const Eigen::Index n = s.n();
  // The standardization stays as fitted: a value far outside it (y − ȳ overflowing) would turn
  // the whole posterior into infinities, so it is refused before anything changes.
  // (Squares of standardized values must stay finite too: hence the bound, far beyond any fit.)
  if (!(std::abs((y - s.y_mean) / s.y_std) <= 1e150))
    throw PlannerError(fmt::format("Gaussian process: result {:g} is too far outside the fitted data to add without refitting "
                                   "(call set_data)",
                                   y));
  const Eigen::VectorXd kx = s.kernel->covariance(s.x, x.transpose()).col(0);
  // New row of L: L l = k, d = √(k** + σ² + jitter − lᵀl).
  const Eigen::VectorXd l = s.chol.triangularView<Eigen::Lower>().solve(kx);
  const double signal = s.kernel->prior_variance();
  double added = (exact ? 1e-8 * signal : std::exp(s.log_noise)) + s.jitter;
  double d2 = signal + added - l.squaredNorm();
  if (!(d2 > 1e-10 * signal)) {
    // The new point is (numerically) a copy of the data: the smallest jitter that keeps L valid.
    double j = 1e-8 * signal;
    while (d2 + j <= 1e-10 * signal && j < 1.01e-2 * signal) j *= 10.0;
    if (!(d2 + j > 0.0)) throw_cholesky_failed(n + 1);
    d2 += j;
    added += j;
  }
  s.diagonal.conservativeResize(n + 1);
  s.diagonal(n) = added;
  const double d = std::sqrt(d2);
  s.chol.conservativeResize(n + 1, n + 1);
  s.chol.row(n).head(n) = l.transpose();
  s.chol.col(n).head(n).setZero();
  s.chol(n, n) = d;
  s.x.conservativeResize(n + 1, Eigen::NoChange);
  s.x.row(n) = x.transpose();
  s.y.conservativeResize(n + 1);
  s.y(n) = y;
  s.ys.conservativeResize(n + 1);
  s.ys(n) = (y - s.y_mean) / s.y_std;
  s.z.conservativeResize(n + 1);
  s.z(n) = (s.ys(n) - s.mean - l.dot(s.z.head(n))) / d;
  s.alpha = s.chol.triangularView<Eigen::Lower>().transpose().solve(s.z);
}

double GaussianProcess::log_posterior(const Eigen::VectorXd& theta, Eigen::VectorXd* grad) const {
  const State& s = *s_;
  s.check_theta(theta);
  if (s.n() == 0) throw PlannerError("Gaussian process: log_posterior needs data (call set_data first)");
  const Eigen::Index n = s.n(), nk = s.num_kernel();
  std::unique_ptr<Kernel> kernel = s.kernel->clone();
  kernel->set_log_params(theta.head(nk));
  const double noise = std::exp(theta(nk)), mean = theta(nk + 1);

  Eigen::MatrixXd k = kernel->covariance(s.x, s.x);
  k.diagonal().array() += noise;
  Eigen::LLT<Eigen::MatrixXd> llt;
  double jitter = 0.0;
  if (!cholesky_with_jitter(k, kernel->prior_variance(), llt, jitter)) {
    if (grad) grad->setZero(theta.size());
    return -std::numeric_limits<double>::infinity();
  }
  const Eigen::MatrixXd& l = llt.matrixLLT();
  Eigen::VectorXd zz = s.ys.array() - mean;
  l.triangularView<Eigen::Lower>().solveInPlace(zz);
  double lp = -0.5 * zz.squaredNorm() - l.diagonal().array().log().sum() - 0.5 * static_cast<double>(n) * kLog2Pi;

  if (grad) {
    const Eigen::VectorXd alpha = l.triangularView<Eigen::Lower>().transpose().solve(zz);
    Eigen::MatrixXd inv, w;
    lower_inverse(l, inv);
    inverse_from_lower_inverse(inv, w);  // lower triangle of K⁻¹
    // W = ααᵀ − K⁻¹, lower triangle only, mirrored: weighted_param_grad sums W_ij + W_ji.
    for (Eigen::Index j = 0; j < n; ++j) {
      w(j, j) = alpha(j) * alpha(j) - w(j, j);
      for (Eigen::Index i = j + 1; i < n; ++i) {
        const double v = alpha(i) * alpha(j) - w(i, j);
        w(i, j) = v;
        w(j, i) = v;
      }
    }
    grad->resize(theta.size());
    grad->head(nk) = 0.5 * kernel->weighted_param_grad(s.x, w);
    (*grad)(nk) = 0.5 * noise * w.trace();
    (*grad)(nk + 1) = alpha.sum();
  }
  if (s.options.priors) lp += s.log_prior(theta, grad);
  return lp;
}

void GaussianProcess::hyperparameter_bounds(Eigen::VectorXd& lower, Eigen::VectorXd& upper) const {
  const State& s = *s_;
  const Eigen::Index nt = s.num_theta(), nk = s.num_kernel(), nl = s.kernel->num_lengthscales();
  lower.resize(nt);
  upper.resize(nt);
  lower.head(nl).setConstant(kMinLogLengthscale);
  upper.head(nl).setConstant(kMaxLogLengthscale);
  lower.segment(nl, nk - 1 - nl).setConstant(-kKernelOwnParamBound);
  upper.segment(nl, nk - 1 - nl).setConstant(kKernelOwnParamBound);
  lower(nk - 1) = kMinLogSignal;
  upper(nk - 1) = kMaxLogSignal;
  lower(nk) = std::log(s.options.noise_floor);
  upper(nk) = std::max(kMaxLogNoise, lower(nk));
  lower(nk + 1) = -kMeanBound;
  upper(nk + 1) = kMeanBound;
}

void GaussianProcess::fit() { fit(s_->options.restarts); }

void GaussianProcess::fit(int restarts, double max_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto remaining = [&] { return max_seconds - std::chrono::duration<double>(Clock::now() - started).count(); };
  State& s = *s_;
  if (s.n() == 0) throw PlannerError("Gaussian process: fit needs data (call set_data first)");
  const Eigen::Index nt = s.num_theta(), nk = s.num_kernel(), nl = s.kernel->num_lengthscales();
  Eigen::VectorXd lower, upper;
  hyperparameter_bounds(lower, upper);
  // The kernel's own parameters are fitted only when asked and with enough results; otherwise
  // they stay at 0 and are no variables of the search (which then runs as it did before they
  // existed: the same starts from the same draws).
  const bool fit_own = s.options.fit_kernel_own_params && s.n() >= kOwnParamsMinResults;

  // The optimized variables, each a set of θ coordinates that move together: one per lengthscale
  // group (inputs of a one-hot categorical share one), the kernel's own, signal, noise unless
  // fixed, and mean.
  std::vector<std::vector<Eigen::Index>> vars;
  const std::vector<int>& groups = s.groups;
  if (groups.empty()) {
    for (Eigen::Index i = 0; i < nl; ++i) vars.push_back({i});
  } else {
    vars.resize(static_cast<size_t>(*std::max_element(groups.begin(), groups.end()) + 1));
    for (Eigen::Index i = 0; i < nl; ++i) vars[static_cast<size_t>(groups[static_cast<size_t>(i)])].push_back(i);
  }
  const size_t num_lengthscales = vars.size();
  if (fit_own)
    for (Eigen::Index i = nl; i < nk - 1; ++i) vars.push_back({i});
  vars.push_back({nk - 1});
  if (s.learns_noise()) vars.push_back({nk});
  vars.push_back({nk + 1});
  Eigen::VectorXd current = s.theta();
  if (!fit_own) current.segment(nl, nk - 1 - nl).setZero();
  if (!s.learns_noise()) lower(nk) = upper(nk) = current(nk);
  // A θ set from outside may differ within a group: start from the group's mean.
  for (const auto& members : vars) {
    double mean = 0.0;
    for (Eigen::Index i : members) mean += current(i);
    for (Eigen::Index i : members) current(i) = mean / static_cast<double>(members.size());
  }

  struct Context {
    const GaussianProcess* gp;
    const std::vector<std::vector<Eigen::Index>>* vars;
    Eigen::VectorXd theta, grad;
    Eigen::VectorXd best;
    double best_value = -std::numeric_limits<double>::infinity();
  };

  auto objective = [](unsigned m, const double* v, double* g, void* data) -> double {
    auto& c = *static_cast<Context*>(data);
    for (unsigned i = 0; i < m; ++i)
      for (Eigen::Index k : (*c.vars)[i]) c.theta(k) = v[i];
    const double value = c.gp->log_posterior(c.theta, g ? &c.grad : nullptr);
    if (!std::isfinite(value)) {
      if (g) std::fill(g, g + m, 0.0);
      return -1e100;
    }
    if (g)
      for (unsigned i = 0; i < m; ++i) {
        g[i] = 0.0;
        for (Eigen::Index k : (*c.vars)[i]) g[i] += c.grad(k);
      }
    if (value > c.best_value) {
      c.best_value = value;
      c.best = c.theta;
    }
    return value;
  };

  const auto nf = static_cast<unsigned>(vars.size());
  std::vector<double> lb(nf), ub(nf);
  for (unsigned i = 0; i < nf; ++i) {
    lb[i] = lower(vars[i].front());
    ub[i] = upper(vars[i].front());
  }

  // Starts: the current θ, then random ones (deterministic in the seed and n).
  std::mt19937_64 rng(s.options.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(s.n()));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto uniform = [&](double a, double b) { return a + (b - a) * unit(rng); };
  std::vector<Context> runs;
  for (int run = 0; run <= std::max(0, restarts); ++run) {
    Eigen::VectorXd start = current;
    if (run > 0) {
      for (size_t g = 0; g < num_lengthscales; ++g) {
        const double l = uniform(std::log(0.05), std::log(2.0));
        for (Eigen::Index i : vars[g]) start(i) = l;
      }
      if (fit_own)
        for (Eigen::Index i = nl; i < nk - 1; ++i) start(i) = uniform(-1.5, 1.5);
      start(nk - 1) = uniform(std::log(0.3), std::log(3.0));
      if (s.learns_noise()) start(nk) = uniform(std::max(lower(nk), std::log(1e-6)), std::log(0.1));
      start(nk + 1) = uniform(-0.5, 0.5);
    }
    start = start.cwiseMax(lower).cwiseMin(upper);
    runs.push_back(Context{this, &vars, start, Eigen::VectorXd(nt), start});
  }

  auto optimize = [&](Context& ctx) {
    std::vector<double> v(nf);
    for (unsigned i = 0; i < nf; ++i) v[i] = ctx.theta(vars[i].front());
    nlopt::opt opt(nlopt::LD_LBFGS, nf);
    opt.set_lower_bounds(lb);
    opt.set_upper_bounds(ub);
    opt.set_max_objective(+objective, &ctx);
    opt.set_maxeval(std::max(1, s.options.max_evaluations));
    // 1e-3 nats of log posterior, or θ steps below 1e-3 in log space, make no difference to the
    // planner's decisions, and every evaluation costs ~n³ flops.
    opt.set_ftol_abs(1e-3);
    opt.set_xtol_abs(1e-3);
    if (max_seconds > 0) opt.set_maxtime(std::max(1e-6, remaining()));
    double value = 0.0;
    try {
      opt.optimize(v, value);
    } catch (const std::exception&) {
      // Round-off or a failed line search: the best point seen so far is kept in ctx.best.
    }
  };
  for (size_t run = 0; run < runs.size(); ++run)
    if (run == 0 || max_seconds <= 0 || remaining() > 0) optimize(runs[run]);
  const Context* best = &runs[0];
  for (const auto& ctx : runs)
    if (ctx.best_value > best->best_value) best = &ctx;
  if (std::isfinite(best->best_value)) set_hyperparameters(best->best);
}

Eigen::VectorXd GaussianProcess::fitted_mean() const {
  // With K + D = K_f + D factorized and α = (K_f + D)⁻¹(ỹ − m): m + K_f α = ỹ − D α.
  const State& s = *s_;
  if (s.n() == 0) return Eigen::VectorXd();
  return s.y_mean + s.y_std * (s.ys.array() - s.diagonal.array() * s.alpha.array());
}

void GaussianProcess::predict(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const {
  const State& s = *s_;
  if (x.cols() != s.dim)
    throw PlannerError(fmt::format("Gaussian process: prediction points have {} columns, expected {}", x.cols(), s.dim));
  const double signal = s.kernel->prior_variance();
  const double var_scale = s.y_std * s.y_std;
  if (s.n() == 0) {
    mean = Eigen::VectorXd::Constant(x.rows(), s.y_mean + s.y_std * s.mean);
    variance = Eigen::VectorXd::Constant(x.rows(), signal * var_scale);
    return;
  }
  Eigen::MatrixXd ks = s.kernel->covariance(s.x, x);  // n×m
  mean = (ks.transpose() * s.alpha).array() + s.mean;
  mean = mean.array() * s.y_std + s.y_mean;
  s.chol.triangularView<Eigen::Lower>().solveInPlace(ks);
  variance = (signal - ks.colwise().squaredNorm().transpose().array()).max(1e-12 * signal) * var_scale;
}

Eigen::VectorXd GaussianProcess::predict_mean(const Eigen::MatrixXd& x) const {
  const State& s = *s_;
  if (x.cols() != s.dim)
    throw PlannerError(fmt::format("Gaussian process: prediction points have {} columns, expected {}", x.cols(), s.dim));
  if (s.n() == 0) return Eigen::VectorXd::Constant(x.rows(), s.y_mean + s.y_std * s.mean);
  const Eigen::MatrixXd ks = s.kernel->covariance(s.x, x);  // n×m
  return ((ks.transpose() * s.alpha).array() + s.mean) * s.y_std + s.y_mean;
}

void GaussianProcess::predict(const Eigen::VectorXd& x, double& mean, double& variance, Eigen::VectorXd& mean_grad,
                              Eigen::VectorXd& variance_grad) const {
  const State& s = *s_;
  if (x.size() != s.dim)
    throw PlannerError(fmt::format("Gaussian process: prediction point has {} inputs, expected {}", x.size(), s.dim));
  const double signal = s.kernel->prior_variance();
  const double var_scale = s.y_std * s.y_std;
  if (s.n() == 0) {
    mean = s.y_mean + s.y_std * s.mean;
    variance = signal * var_scale;
    mean_grad = Eigen::VectorXd::Zero(s.dim);
    variance_grad = Eigen::VectorXd::Zero(s.dim);
    return;
  }
  const Eigen::RowVectorXd xr = x.transpose();
  const Eigen::VectorXd ks = s.kernel->covariance(s.x, xr).col(0);
  const Eigen::MatrixXd dk = s.kernel->covariance_grad_x(xr, s.x);  // n×d, row i = ∇ₓ k(x, x_i)
  mean = (s.mean + ks.dot(s.alpha)) * s.y_std + s.y_mean;
  mean_grad = dk.transpose() * s.alpha * s.y_std;
  const Eigen::VectorXd v = s.chol.triangularView<Eigen::Lower>().solve(ks);
  const double var = signal - v.squaredNorm();
  if (var > 1e-12 * signal) {
    variance = var * var_scale;
    // ∂(k** − kᵀK⁻¹k)/∂x = −2 (∂k/∂x)ᵀ K⁻¹k, and K⁻¹k = L⁻ᵀv.
    const Eigen::VectorXd kinv_k = s.chol.triangularView<Eigen::Lower>().transpose().solve(v);
    variance_grad = -2.0 * var_scale * (dk.transpose() * kinv_k);
  } else {
    variance = 1e-12 * signal * var_scale;
    variance_grad = Eigen::VectorXd::Zero(s.dim);
  }
}

Eigen::VectorXd GaussianProcess::sample(const Eigen::MatrixXd& x, std::mt19937_64& rng) const {
  const State& s = *s_;
  if (x.cols() != s.dim)
    throw PlannerError(fmt::format("Gaussian process: sample points have {} columns, expected {}", x.cols(), s.dim));
  const Eigen::Index m = x.rows();
  const double signal = s.kernel->prior_variance();
  Eigen::MatrixXd cov = s.kernel->covariance(x, x);
  Eigen::VectorXd mean = Eigen::VectorXd::Constant(m, s.mean);
  if (s.n() > 0) {
    Eigen::MatrixXd ks = s.kernel->covariance(s.x, x);
    mean += ks.transpose() * s.alpha;
    s.chol.triangularView<Eigen::Lower>().solveInPlace(ks);
    cov.selfadjointView<Eigen::Lower>().rankUpdate(ks.transpose(), -1.0);
  }
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::VectorXd draw(m);
  for (Eigen::Index i = 0; i < m; ++i) draw(i) = normal(rng);
  Eigen::LLT<Eigen::MatrixXd> llt;
  double jitter = 0.0;
  Eigen::MatrixXd c = cov.selfadjointView<Eigen::Lower>();
  Eigen::VectorXd f;
  if (cholesky_with_jitter(c, signal, llt, jitter)) {
    f = mean + llt.matrixL() * draw;
  } else {
    // Numerically indefinite (many near-identical points): a pivoted LDLᵀ with the negative
    // pivots clipped is still a valid draw from a nearby PSD covariance.
    Eigen::LDLT<Eigen::MatrixXd> ldlt(cov.selfadjointView<Eigen::Lower>());
    const Eigen::VectorXd root = ldlt.vectorD().cwiseMax(0.0).cwiseSqrt();
    Eigen::VectorXd scaled = ldlt.matrixL() * root.cwiseProduct(draw);
    const auto& p = ldlt.transpositionsP();  // cov = Pᵀ L D Lᵀ P: apply Pᵀ (the swaps in reverse order)
    for (Eigen::Index i = p.size() - 1; i >= 0; --i) std::swap(scaled(i), scaled(p.coeff(i)));
    f = mean + scaled;
  }
  return (f.array() * s.y_std + s.y_mean).matrix();
}

Eigen::VectorXd GaussianProcess::hyperparameters() const { return s_->theta(); }

void GaussianProcess::set_hyperparameters(const Eigen::VectorXd& theta) {
  State& s = *s_;
  s.check_theta(theta);
  const Eigen::Index nk = s.num_kernel();
  s.kernel->set_log_params(theta.head(nk));
  s.log_noise = theta(nk);
  s.apply_stated_noise();  // a stated noise is no hyperparameter to take from elsewhere
  s.mean = theta(nk + 1);
  s.factorize();
}

int GaussianProcess::dim() const { return s_->dim; }
int GaussianProcess::size() const { return static_cast<int>(s_->n()); }
const Eigen::MatrixXd& GaussianProcess::x() const { return s_->x; }
const Eigen::VectorXd& GaussianProcess::y() const { return s_->y; }
double GaussianProcess::noise_variance() const { return std::exp(s_->log_noise) * s_->y_std * s_->y_std; }
double GaussianProcess::output_scale() const { return s_->y_std; }
double GaussianProcess::output_unit() const { return s_->y_std < kSmallOutputScale ? s_->y_std : 1.0; }
const Kernel& GaussianProcess::kernel() const { return *s_->kernel; }

}  // namespace labloop
