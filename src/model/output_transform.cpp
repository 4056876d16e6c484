// Box & Cox (1964), J. R. Stat. Soc. B 26(2); Yeo & Johnson (2000), "A new family of power
// transformations to improve normality or symmetry", Biometrika 87(4). Data are divided by their
// standard deviation but NOT centred first: centring would squeeze the region near the minimum —
// where a minimizer needs resolution — into a sliver around one value (HEBO scales the same way).
// All-positive data get Box–Cox ((x^λ − 1)/λ, log x at λ = 0), others Yeo–Johnson: ψ(x, λ) is ((x+1)^λ − 1)/λ for x ≥ 0 (log(x+1) at λ = 0) and
// −((1−x)^(2−λ) − 1)/(2−λ) for x < 0 (−log(1−x) at λ = 2). The profile log-likelihood of λ for
// Gaussian transformed data is −n/2·log σ̂²(λ) + (λ−1)·Σ sign(x)·log(|x|+1).
#include "labloop/model/output_transform.hpp"

#include "labloop/model/gaussian_process.hpp"  // kSmallOutputScale

#include <algorithm>
#include <cmath>
#include <vector>

namespace labloop {

namespace {
const double kLikelihoodRatioThreshold = 6.63;

// Sample standard deviation (n − 1) that cannot overflow: beyond ~1e154 the squares do, and the
// mean of values near ±DBL_MAX may too. Then the values are divided by their largest magnitude
// first, and when even the spread exceeds the double range, that magnitude stands in for it.
// Ordinary data take the plain formula, so their results stay bit for bit what they were.
double spread(const Eigen::VectorXd& y) {
  const double n = static_cast<double>(y.size());
  const double plain = std::sqrt((y.array() - y.mean()).square().sum() / (n - 1));
  if (std::isfinite(plain)) return plain;
  const double m = y.cwiseAbs().maxCoeff();
  const Eigen::ArrayXd u = y.array() / m;
  const double sd = m * std::sqrt((u - u.mean()).square().sum() / (n - 1));
  return std::isfinite(sd) ? sd : m;
}

// Φ⁻¹(q) for 0 < q < 1: bisection on erfc to double precision (a few dozen steps; the warp is
// fitted once per model fit).
double normal_quantile(double q) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < q ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

// The upper median (the middle value, or the larger of the two middle ones): enough for a scale.
double upper_median(std::vector<double> v) {
  const auto middle = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), middle, v.end());
  return *middle;
}
}  // namespace

void MagnitudeCompression::fit(const Eigen::VectorXd& y) {
  *this = MagnitudeCompression{};
  if (y.size() == 0 || y.cwiseAbs().maxCoeff() <= kThreshold) return;
  active_ = true;
  // The median absolute deviation, computed on halves so that no difference can overflow (the
  // factor 2 does not matter to a scale). It follows the bulk of the data, not the extremes, so
  // ordinary values stay spread over units of order 1 after the compression.
  std::vector<double> half(static_cast<size_t>(y.size()));
  for (Eigen::Index i = 0; i < y.size(); ++i) half[static_cast<size_t>(i)] = y[i] / 2;
  const double centre = upper_median(half);
  std::vector<double> deviation(half.size()), magnitude(half.size());
  for (size_t i = 0; i < half.size(); ++i) deviation[i] = std::abs(half[i] - centre), magnitude[i] = std::abs(half[i]);
  double s = upper_median(deviation);
  if (!(s > 0)) s = upper_median(magnitude);  // most values equal: their magnitude
  scale_ = s > 0 && std::isfinite(s) ? s : 1.0;
}

double MagnitudeCompression::transform(double y) const {
  if (!active_) return y;
  const double a = std::abs(y), r = a / scale_;
  // log1p(|y|/s), written as log|y| − log s where |y|/s overflows (a tiny s).
  return std::copysign(std::isfinite(r) ? std::log1p(r) : std::log(a) - std::log(scale_), y);
}

Eigen::VectorXd MagnitudeCompression::transform(const Eigen::VectorXd& y) const {
  Eigen::VectorXd t(y.size());
  for (Eigen::Index i = 0; i < y.size(); ++i) t[i] = transform(y[i]);
  return t;
}

double YeoJohnson::apply(double x, double lambda) {
  // The identity exactly where ((x+1) − 1) would lose more than 20 bits of x: an unfitted warp
  // (λ = 1, scale 1) saw results in small units (1e-13) with 8 bits left. Elsewhere the formula
  // as it always was, so earlier campaigns' models (and replays) are unchanged.
  if (lambda == 1 && std::abs(x) < kSmallOutputScale) return x;
  if (x >= 0) return std::abs(lambda) < 1e-12 ? std::log1p(x) : (std::pow(x + 1, lambda) - 1) / lambda;
  return std::abs(lambda - 2) < 1e-12 ? -std::log1p(-x) : -(std::pow(1 - x, 2 - lambda) - 1) / (2 - lambda);
}

double YeoJohnson::apply_box_cox(double x, double lambda) {
  return std::abs(lambda) < 1e-12 ? std::log(x) : (std::pow(x, lambda) - 1) / lambda;
}

double YeoJohnson::log_likelihood(const Eigen::VectorXd& x, double lambda, bool box_cox) {
  const Eigen::Index n = x.size();
  Eigen::VectorXd t(n);
  double jacobian = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    t[i] = box_cox ? apply_box_cox(x[i], lambda) : apply(x[i], lambda);
    jacobian += box_cox ? std::log(x[i]) : (x[i] >= 0 ? 1.0 : -1.0) * std::log1p(std::abs(x[i]));
  }
  const double variance = (t.array() - t.mean()).square().mean();
  if (!(variance > 0) || !std::isfinite(variance)) return -std::numeric_limits<double>::infinity();
  return -0.5 * static_cast<double>(n) * std::log(variance) + (lambda - 1) * jacobian;
}

void YeoJohnson::fit(const Eigen::VectorXd& y) {
  *this = YeoJohnson{};
  const Eigen::Index n = y.size();
  if (n < 3) return;
  scale_ = spread(y);
  if (!(scale_ > 0) || !std::isfinite(scale_)) {
    scale_ = 1;
    return;
  }
  const Eigen::VectorXd x = y / scale_;
  box_cox_ = x.minCoeff() > 0;
  // The likelihood is unimodal in practice: a coarse grid, then golden-section refinement.
  auto ll = [&](double l) { return log_likelihood(x, l, box_cox_); };
  double best = 1, best_value = ll(1);
  for (double l = -3; l <= 3.0001; l += 0.25) {
    const double v = ll(l);
    if (v > best_value) best = l, best_value = v;
  }
  double a = std::max(-3.0, best - 0.25), b = std::min(3.0, best + 0.25);
  const double g = (std::sqrt(5.0) - 1) / 2;
  for (int i = 0; i < 40; ++i) {
    const double c = b - g * (b - a), d = a + g * (b - a);
    if (ll(c) > ll(d)) b = d;
    else a = c;
  }
  lambda_ = 0.5 * (a + b);
  // Keep the data as they are unless a power transform explains them clearly better: the
  // likelihood-ratio test of λ = 1 at the 1 % level (χ²₁ quantile 6.63).
  if (2 * (ll(lambda_) - ll(1.0)) < kLikelihoodRatioThreshold) lambda_ = 1;
  Eigen::VectorXd t(n);
  for (Eigen::Index i = 0; i < n; ++i) t[i] = raw(x[i]);
  // A power transform of data whose magnitudes differ wildly can itself overflow: then the
  // identity (λ = 1), which after the scaling above always stays finite.
  if (!t.allFinite()) {
    lambda_ = 1;
    for (Eigen::Index i = 0; i < n; ++i) t[i] = raw(x[i]);
  }
  out_mean_ = t.mean();
  out_scale_ = spread(t);
  if (!(out_scale_ > 0) || !std::isfinite(out_scale_)) out_scale_ = 1;
}

// Values outside the fitted range (a fantasy or a failure below the smallest positive value)
// fall back to Yeo–Johnson's form so the transform stays defined and increasing.
double YeoJohnson::raw(double x) const {
  if (box_cox_ && x > 0) return apply_box_cox(x, lambda_);
  if (box_cox_) return apply_box_cox(1e-12, lambda_) + x;
  return apply(x, lambda_);
}

double YeoJohnson::derivative(double y) const {
  const double x = y / scale_;
  double d = 1;
  if (box_cox_) d = x > 0 ? std::pow(x, lambda_ - 1) : 1.0;
  else d = x >= 0 ? std::pow(x + 1, lambda_ - 1) : std::pow(1 - x, 1 - lambda_);
  return d / (scale_ * out_scale_);
}

double YeoJohnson::transform(double y) const { return (raw(y / scale_) - out_mean_) / out_scale_; }

Eigen::VectorXd YeoJohnson::transform(const Eigen::VectorXd& y) const {
  Eigen::VectorXd t(y.size());
  for (Eigen::Index i = 0; i < y.size(); ++i) t[i] = transform(y[i]);
  return t;
}

void HalfRankWarp::fit(const Eigen::VectorXd& y) {
  *this = HalfRankWarp{};
  const Eigen::Index n = y.size();
  std::vector<double> sorted(y.data(), y.data() + n);
  std::sort(sorted.begin(), sorted.end());
  size_t distinct = sorted.empty() ? 0 : 1;
  for (size_t i = 1; i < sorted.size(); ++i) distinct += sorted[i] != sorted[i - 1];
  if (distinct < 3) return;
  const double median = sorted[static_cast<size_t>(n - 1) / 2];  // the lower median: on the better side
  double ss = 0;
  size_t better = 0;
  for (const double v : sorted)
    if (v <= median) ss += (v - median) * (v - median), ++better;
  const double sigma = std::sqrt(ss / static_cast<double>(better));
  if (!(sigma > 0) || !std::isfinite(sigma)) return;
  // Each distinct value above the median at its mid-rank quantile.
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    if (sorted[i] > median) {
      const double q = (static_cast<double>(i + j) / 2.0) / static_cast<double>(n);  // mid-rank (0-based i..j−1) + 0.5, over n
      from_.push_back(sorted[i]);
      to_.push_back(median + sigma * normal_quantile(q));
    }
    i = j;
  }
  if (from_.empty()) return;
  from_.insert(from_.begin(), median);
  to_.insert(to_.begin(), median);
  // Strictly increasing: every quantile here exceeds ½ and grows with the rank, so this only
  // guards against rounding in the bisection.
  for (size_t i = 1; i < to_.size(); ++i) to_[i] = std::max(to_[i], std::nextafter(to_[i - 1], INFINITY));
}

double HalfRankWarp::transform(double y) const {
  if (from_.empty() || !(y > from_.front())) return y;
  const auto hi = std::upper_bound(from_.begin(), from_.end(), y);
  size_t k = static_cast<size_t>(hi - from_.begin());
  if (k >= from_.size()) k = from_.size() - 1;  // beyond the worst: the last segment's slope
  const double x0 = from_[k - 1], x1 = from_[k], t0 = to_[k - 1], t1 = to_[k];
  return t0 + (t1 - t0) * (y - x0) / (x1 - x0);
}

Eigen::VectorXd HalfRankWarp::transform(const Eigen::VectorXd& y) const {
  Eigen::VectorXd t(y.size());
  for (Eigen::Index i = 0; i < y.size(); ++i) t[i] = transform(y[i]);
  return t;
}

}  // namespace labloop
