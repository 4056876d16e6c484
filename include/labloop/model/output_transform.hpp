#pragma once
// Warping of observed objective values before the Gaussian process sees them. Lab objectives and
// test functions alike are often heavy-tailed (Rosenbrock spans 0 to 10⁵; yields pile up near a
// ceiling); a GP with a stationary kernel fits such data badly. A Yeo–Johnson power transform,
// with λ chosen by maximum likelihood, makes the data closer to Gaussian while keeping its order
// (the transform is strictly increasing), so "best observed" means the same before and after.
#include <Eigen/Core>
#include <cmath>
#include <vector>

namespace labloop {

// Values too large in magnitude for the model (an instrument may report any finite double,
// ±1.8e308 included): squares and spreads of such values overflow, and a Gaussian process in y
// units cannot even hold their variance. When some |y| exceeds kThreshold, every value is
// compressed by sign(y)·log1p(|y|/s), with s a robust scale of the data (their median absolute
// deviation, not moved by the extremes): strictly increasing, so the order of all values — the
// extreme ones included — is kept, and at most about 1.4e3 in magnitude. Below the threshold the
// compression is the identity, so ordinary data are modelled exactly as without it.
class MagnitudeCompression {
 public:
  static constexpr double kThreshold = 1e100;
  // Chooses identity or compression (and s) for these values; all must be finite.
  void fit(const Eigen::VectorXd& y);
  double transform(double y) const;
  Eigen::VectorXd transform(const Eigen::VectorXd& y) const;
  bool active() const { return active_; }
  double scale() const { return scale_; }
  static bool extreme(double y) { return !(std::abs(y) <= kThreshold); }

 private:
  bool active_ = false;
  double scale_ = 1;
};

// Box–Cox when all values are positive, Yeo–Johnson otherwise (the class is named after the
// general case).
class YeoJohnson {
 public:
  // Divides y by its standard deviation (no centring), then picks λ in [−3, 3] maximizing the
  // log-likelihood of the power transform. The transform is kept only when it beats the identity
  // (λ = 1) in a likelihood-ratio test at the 1 % level: a warp that barely helps the fit costs
  // resolution elsewhere. Needs at least 3 distinct values; otherwise it stays the identity.
  // Any finite values are safe (the scaling cannot overflow), but values beyond
  // MagnitudeCompression::kThreshold are best compressed first: the power transform cannot
  // separate ordinary values from an extreme one once both are divided by the extreme's spread.
  void fit(const Eigen::VectorXd& y);
  // Transformed values of y (same standardization and λ as fitted), re-standardized.
  Eigen::VectorXd transform(const Eigen::VectorXd& y) const;
  double transform(double y) const;
  // d transform(y) / dy (> 0): the Jacobian that puts the likelihood of transformed data back in
  // y units, so a model of transformed values can be compared with one of the raw values.
  double derivative(double y) const;
  double lambda() const { return lambda_; }

  // The raw transform and the log-likelihood of λ for standardized data (exposed for tests).
  static double apply(double x, double lambda);
  static double apply_box_cox(double x, double lambda);
  static double log_likelihood(const Eigen::VectorXd& x, double lambda, bool box_cox = false);
  bool box_cox() const { return box_cox_; }

 private:
  double raw(double x) const;
  double scale_ = 1;                     // scaling before the power transform
  bool box_cox_ = false;
  double lambda_ = 1;                    // λ = 1 is the identity
  double out_mean_ = 0, out_scale_ = 1;  // standardization after it
};

// Half-rank warp (as Google Vizier's): the values worse than the median (larger: the planner
// minimizes) are replaced by median + σ·Φ⁻¹(q), q their rank quantile and σ the root mean square
// deviation of the better half from the median; the better half is kept as it is. The worse half's
// spread is then set by its order alone: a long tail of poor results is drawn in to a Gaussian
// tail, and a plateau of near-equal ones (yields near 0 %) is spread out by rank, while the
// region near the optimum keeps its shape and units. Increasing (ties share a value). Values
// between the fitted ones are interpolated linearly; beyond the worst fitted one, continued with
// the slope of the last segment.
class HalfRankWarp {
 public:
  // Needs at least 3 distinct values and a better half with some spread; otherwise the identity.
  void fit(const Eigen::VectorXd& y);
  double transform(double y) const;
  Eigen::VectorXd transform(const Eigen::VectorXd& y) const;
  bool identity() const { return from_.empty(); }

 private:
  std::vector<double> from_, to_;  // the warped part: sorted fitted values ≥ the median and their images
};

}  // namespace labloop
