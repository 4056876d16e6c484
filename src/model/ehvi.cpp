// Log expected hypervolume improvement over a box decomposition, with its gradient.
//
// Maths. Let B_k = Π_j [l_kj, u_kj) be the disjoint boxes of the region the front leaves
// (hypervolume.hpp). The improvement of an outcome y is HVI(y) = Σ_k Π_j (u_kj − max(y_j, l_kj))⁺,
// and for independent Y_j ~ N(μ_j, σ_j²) the expectation of each product factorizes:
//   EHVI = Σ_k Π_j T(μ_j, σ_j; l_kj, u_kj),   T = E[(u − max(Y, l))⁺].
// (Yang, Emmerich, Deutz, Bäck, "Efficient computation of expected hypervolume improvement using
// box decomposition algorithms", J Glob Optim 75, 2019; their ψ-functions give the same T.)
// Since (u − max(Y, l))⁺ = (u − Y)⁺ − (l − Y)⁺ for l < u, and E[(c − Y)⁺] = σ·h((c − μ)/σ) with
// h(z) = φ(z) + zΦ(z) (the expected-improvement function, log_h.cpp),
//   T = σ·(h(z_u) − h(z_l)) = σ·∫_{z_l}^{z_u} Φ(t) dt,   z_c = (c − μ)/σ,   (h(−∞) = 0),
//   ∂T/∂μ = −(Φ(z_u) − Φ(z_l)),   ∂T/∂σ = φ(z_u) − φ(z_l).
// Everything is kept in logs: log EHVI = logsumexp_k Σ_j log T_kj, and
//   ∂ log EHVI/∂θ_j = Σ_k softmax_k · ∂ log T_kj/∂θ_j.
// log T is computed two ways, by how close h(z_l) is to h(z_u) (a = log h(z_l) − log h(z_u) ≤ 0):
//  - a < −0.1 ("thick" in units of σ): log T = log σ + log h(z_u) + log(1 − e^a), no
//    cancellation beyond the 1/(1 − e^a) ≤ 10.5 factor; with g = Φ/h (log_h_derivative) and
//    ρ = φ/h = exp(log φ − log h), ∂ log T/∂μ = −(g_u − g_l e^a)/(σ(1 − e^a)) and
//    ∂ log T/∂σ = (ρ_u − ρ_l e^a)/(σ(1 − e^a)).
//  - a ≥ −0.1 (thin box): h(z_u) − h(z_l) would cancel, so integrate Φ over [z_l, z_u] by 8-point
//    Gauss–Legendre in log space; there log Φ varies by at most about |a| over the interval (its
//    slope φ/Φ is at most that of log h, Φ/h, in the lower tail and smaller elsewhere), so the rule
//    is accurate to rounding (tested against long double). The gradient uses ∫φ and ∫tφ by the
//    same rule: ∂T/∂μ = −∫φ, ∂T/∂σ = −∫tφ (from φ' = −tφ).
// The per-objective pieces log h(z), g(z), ρ(z) depend only on a bound value, and boxes share
// bounds, so they are computed once per distinct bound per call.
#include "labloop/model/ehvi.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <vector>

#include "acquisitions/acquisitions.hpp"  // detail::log_ndtr
#include "labloop/core/error.hpp"
#include "labloop/model/acquisition.hpp"  // log_h, log_h_derivative

namespace labloop {

namespace {

constexpr double kEhviLogSqrt2Pi = 0.91893853320467274178;  // log √(2π)
constexpr double kEhviThinBox = -0.1;                        // see the top of the file
constexpr double kEhviNegInf = -std::numeric_limits<double>::infinity();

// 8-point Gauss–Legendre on [−1, 1] (symmetric pairs ±x).
constexpr double kEhviGaussNodes[4] = {0.1834346424956498049394761, 0.5255324099163289858177390,
                                       0.7966664774136267395915539, 0.9602898564975362316835609};
constexpr double kEhviGaussWeights[4] = {0.3626837833783619829651504, 0.3137066458778872873379622,
                                         0.2223810344533744705443560, 0.1012285362903762591525314};

double ehvi_log_pdf(double z) { return -0.5 * z * z - kEhviLogSqrt2Pi; }

// What one bound value contributes, for one objective's μ and σ.
struct EhviBoundTerms {
  double z = 0.0;
  double log_h = kEhviNegInf;  // log h(z); −inf for the bound −∞
  double g = 0.0;              // Φ(z)/h(z)
  double rho = 0.0;            // φ(z)/h(z)
};

EhviBoundTerms ehvi_bound_terms(double bound, double mean, double sd) {
  EhviBoundTerms t;
  t.z = (bound - mean) / sd;
  t.log_h = log_h(t.z);
  t.g = log_h_derivative(t.z);
  t.rho = std::exp(ehvi_log_pdf(t.z) - t.log_h);
  return t;
}

// log T and its derivatives for one box side [lower, upper) of one objective.
struct EhviSide {
  double log_value;
  double d_mean;
  double d_sd;
};

EhviSide ehvi_side(const EhviBoundTerms& lower, bool lower_infinite, const EhviBoundTerms& upper, double width,
                   double sd) {
  const double log_sd = std::log(sd);
  if (lower_infinite) return {log_sd + upper.log_h, -upper.g / sd, upper.rho / sd};
  const double a = lower.log_h - upper.log_h;
  if (a < kEhviThinBox) {
    const double e = std::exp(a);
    const double one_minus = -std::expm1(a);
    return {log_sd + upper.log_h + std::log(one_minus), -(upper.g - lower.g * e) / (sd * one_minus),
            (upper.rho - lower.rho * e) / (sd * one_minus)};
  }
  // Thin: nodes measured from z_u so that a box far from μ keeps its width exactly.
  const double half = 0.5 * width / sd;
  const double mid = upper.z - half;
  double log_cdf[8], nodes[8], weights[8];
  for (int k = 0; k < 4; ++k) {
    nodes[2 * k] = mid - half * kEhviGaussNodes[k];
    nodes[2 * k + 1] = mid + half * kEhviGaussNodes[k];
    weights[2 * k] = weights[2 * k + 1] = kEhviGaussWeights[k];
  }
  double top = kEhviNegInf;
  for (int k = 0; k < 8; ++k) {
    log_cdf[k] = detail::log_ndtr(nodes[k]);
    top = std::max(top, log_cdf[k]);
  }
  double s_cdf = 0.0, s_pdf = 0.0, s_tpdf = 0.0;
  for (int k = 0; k < 8; ++k) {
    s_cdf += weights[k] * std::exp(log_cdf[k] - top);
    const double pdf = weights[k] * std::exp(ehvi_log_pdf(nodes[k]) - top);
    s_pdf += pdf;
    s_tpdf += nodes[k] * pdf;
  }
  return {log_sd + std::log(half) + top + std::log(s_cdf), -s_pdf / (sd * s_cdf), -s_tpdf / (sd * s_cdf)};
}

}  // namespace

LogExpectedHypervolumeImprovement::LogExpectedHypervolumeImprovement(const Eigen::MatrixXd& front,
                                                                     const Eigen::VectorXd& reference)
    : boxes_(non_dominated_boxes(front, reference)) {
  const Eigen::Index M = boxes_.lower.cols();
  bounds_.resize(static_cast<size_t>(M));
  lower_at_.resize(boxes_.size(), M);
  upper_at_.resize(boxes_.size(), M);
  for (Eigen::Index j = 0; j < M; ++j) {
    std::vector<double> values;
    for (Eigen::Index k = 0; k < boxes_.size(); ++k) {
      if (std::isfinite(boxes_.lower(k, j))) values.push_back(boxes_.lower(k, j));
      values.push_back(boxes_.upper(k, j));
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    auto index_of = [&](double v) {
      if (!std::isfinite(v)) return -1;
      return static_cast<int>(std::lower_bound(values.begin(), values.end(), v) - values.begin());
    };
    for (Eigen::Index k = 0; k < boxes_.size(); ++k) {
      lower_at_(k, j) = index_of(boxes_.lower(k, j));
      upper_at_(k, j) = index_of(boxes_.upper(k, j));
    }
    bounds_[static_cast<size_t>(j)] = Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
  }
}

double LogExpectedHypervolumeImprovement::operator()(const Eigen::VectorXd& mean, const Eigen::VectorXd& sd) const {
  return evaluate(mean, sd, nullptr, nullptr);
}

double LogExpectedHypervolumeImprovement::operator()(const Eigen::VectorXd& mean, const Eigen::VectorXd& sd,
                                                     Eigen::VectorXd& grad_mean, Eigen::VectorXd& grad_sd) const {
  return evaluate(mean, sd, &grad_mean, &grad_sd);
}

double LogExpectedHypervolumeImprovement::evaluate(const Eigen::VectorXd& mean, const Eigen::VectorXd& sd,
                                                   Eigen::VectorXd* grad_mean, Eigen::VectorXd* grad_sd) const {
  const Eigen::Index M = objectives();
  if (mean.size() != M || sd.size() != M)
    throw PlannerError(fmt::format("expected hypervolume improvement: {} means and {} standard deviations for {} objectives",
                                   mean.size(), sd.size(), M));
  if (!mean.allFinite()) throw PlannerError("expected hypervolume improvement: the posterior means must be finite");
  if (!sd.allFinite() || (sd.array() <= 0.0).any())
    throw PlannerError("expected hypervolume improvement: the posterior standard deviations must be finite and > 0");

  std::vector<std::vector<EhviBoundTerms>> terms(static_cast<size_t>(M));
  for (Eigen::Index j = 0; j < M; ++j) {
    const Eigen::VectorXd& values = bounds_[static_cast<size_t>(j)];
    auto& row = terms[static_cast<size_t>(j)];
    row.reserve(static_cast<size_t>(values.size()));
    for (Eigen::Index v = 0; v < values.size(); ++v) row.push_back(ehvi_bound_terms(values(v), mean(j), sd(j)));
  }

  const Eigen::Index K = boxes_.size();
  Eigen::VectorXd log_box(K);
  Eigen::MatrixXd d_mean(K, M), d_sd(K, M);
  const EhviBoundTerms unused;
  for (Eigen::Index k = 0; k < K; ++k) {
    double total = 0.0;
    for (Eigen::Index j = 0; j < M; ++j) {
      const auto& row = terms[static_cast<size_t>(j)];
      const int lo = lower_at_(k, j);
      const EhviSide side = ehvi_side(lo < 0 ? unused : row[static_cast<size_t>(lo)], lo < 0,
                                      row[static_cast<size_t>(upper_at_(k, j))],
                                      boxes_.upper(k, j) - boxes_.lower(k, j), sd(j));
      total += side.log_value;
      d_mean(k, j) = side.d_mean;
      d_sd(k, j) = side.d_sd;
    }
    log_box(k) = total;
  }
  const double top = log_box.maxCoeff();
  if (!std::isfinite(top)) {
    // Every box's term underflowed even in logs (|z| beyond ~1e154): no usable gradient.
    if (grad_mean) *grad_mean = Eigen::VectorXd::Zero(M);
    if (grad_sd) *grad_sd = Eigen::VectorXd::Zero(M);
    return top;
  }
  const Eigen::ArrayXd weight = (log_box.array() - top).exp();
  const double sum = weight.sum();
  if (grad_mean) *grad_mean = (d_mean.transpose() * weight.matrix()) / sum;
  if (grad_sd) *grad_sd = (d_sd.transpose() * weight.matrix()) / sum;
  return top + std::log(sum);
}

}  // namespace labloop
