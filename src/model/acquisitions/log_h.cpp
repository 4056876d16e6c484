// log h(z) with h(z) = φ(z) + z·Φ(z), the expected improvement of a unit normal over z, plus the
// Mills-ratio machinery it shares with log PI.
//
// Maths. h'(z) = Φ(z) (the φ' = −zφ terms cancel), so d/dz log h = Φ(z)/h(z).
// For z > −1 nothing cancels badly (h(−1) ≈ 0.083 = 0.242 − 0.159) and h is computed directly,
// with Φ(z) = ½·erfc(−z/√2) so that the lower tail keeps its relative accuracy.
// For z ≤ −1 write u = −z and R(u) = Φ(−u)/φ(u) (Mills' ratio). Then
//     h(z) = φ(u)·(1 − u·R(u)),  and 1 − u·R(u) ≈ 1/u² cancels catastrophically for large u.
// Laplace's continued fraction R(u) = 1/(u + 1/(u + 2/(u + 3/(u + …)))) gives the remainder
// K(u) = 1/R(u) − u = 1/(u + 2/(u + 3/(u + …))) without cancellation, and
//     1 − u·R = K/(u + K),   so   log h(z) = −u²/2 − log √(2π) + log K − log(u + K),
//     d/dz log h(z) = R/(1 − uR) = 1/K.
// The fraction converges quickly for u ≥ 4 (40 terms give < 1e-16, checked against a long-double
// reference); for 1 ≤ u < 4 the cancellation costs at most a factor ~20 and we use 1 − u·R with
// R from erfcx. This is the same idea as LogEI in Ament et al., "Unexpected Improvements to
// Expected Improvement for Bayesian Optimization", NeurIPS 2023 (there via log1mexp and erfcx).
//
// erfcx(x) = exp(x²)·erfc(x): for x < 4/√2 as exp(x²)·erfc(x), with x² split exactly by an fma
// so exp(x²) does not inherit the rounding error of x² (which is relative x²·ε before exp);
// beyond that from the continued fraction, erfcx(x) = √(2/π)·R(√2·x).
#include <cmath>
#include <numbers>

#include "acquisitions.hpp"

namespace labloop {

namespace {

constexpr double kSqrt2 = std::numbers::sqrt2;
constexpr double kInvSqrt2Pi = 0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2;  // 1/√(2π)
constexpr double kLogSqrt2Pi = 0.91893853320467274178;                                // log √(2π)
constexpr double kSqrtHalfPi = 1.25331413731550025121;                                // √(π/2)
constexpr double kSqrt2OverPi = 0.79788456080286535588;                               // √(2/π)

// Below this u the continued fraction would need hundreds of terms; above it 40 suffice.
constexpr double kContinuedFractionStart = 4.0;
constexpr int kContinuedFractionTerms = 40;

// exp(x²) without the error of rounding x² first: x² = hi + lo exactly.
double exp_square(double x) {
  const double hi = x * x;
  const double lo = std::fma(x, x, -hi);
  return std::exp(hi) * std::exp(lo);
}

// K(u) = 1/R(u) − u for u ≥ kContinuedFractionStart, evaluated backwards (stable, no cancellation).
double mills_remainder(double u) {
  double w = 0.0;
  for (int k = kContinuedFractionTerms; k >= 1; --k) w = k / (u + w);
  return w;
}

double normal_pdf(double z) { return kInvSqrt2Pi * std::exp(-0.5 * z * z); }
double normal_cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

}  // namespace

namespace detail {

double erfcx(double x) {
  if (std::isnan(x)) return x;
  if (x < 0.0) return 2.0 * exp_square(x) - erfcx(-x);  // erfc(−x) = 2 − erfc(x)
  const double u = kSqrt2 * x;
  if (u < kContinuedFractionStart) return exp_square(x) * std::erfc(x);
  return kSqrt2OverPi / (u + mills_remainder(u));
}

double mills_ratio(double u) {
  if (u >= kContinuedFractionStart) return 1.0 / (u + mills_remainder(u));
  return kSqrtHalfPi * erfcx(u / kSqrt2);
}

double log_ndtr(double z) {
  if (z > 0.0) return std::log1p(-0.5 * std::erfc(z / kSqrt2));  // Φ(z) = 1 − Φ(−z), keep the tiny tail
  if (z > -1.0) return std::log(normal_cdf(z));
  const double u = -z;
  return std::log(mills_ratio(u)) - 0.5 * u * u - kLogSqrt2Pi;  // Φ(−u) = R(u)·φ(u)
}

double log_ndtr_derivative(double z) {
  if (z > -1.0) return normal_pdf(z) / normal_cdf(z);
  return 1.0 / mills_ratio(-z);
}

}  // namespace detail

double log_h(double z) {
  if (z > -1.0) return std::log(normal_pdf(z) + z * normal_cdf(z));
  const double u = -z;
  const double log_phi = -0.5 * u * u - kLogSqrt2Pi;
  if (u < kContinuedFractionStart) return log_phi + std::log1p(-u * detail::mills_ratio(u));
  const double k = mills_remainder(u);
  return log_phi + std::log(k) - std::log(u + k);
}

double log_h_derivative(double z) {
  if (z > -1.0) return normal_cdf(z) / (normal_pdf(z) + z * normal_cdf(z));
  const double u = -z;
  if (u < kContinuedFractionStart) {
    const double r = detail::mills_ratio(u);
    return r / (1.0 - u * r);
  }
  return 1.0 / mills_remainder(u);
}

}  // namespace labloop
