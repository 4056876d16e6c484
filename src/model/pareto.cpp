// Pareto dominance, the inferred reference point and ParEGO's scalarization.
//
// non_dominated: sort the rows lexicographically (ties by index). A row can only be weakly
// dominated (a ≤ b everywhere, which includes an identical earlier row) by a row that sorts
// before it, so one pass that compares each row with the rows kept so far is exact:
// O(n log n + n·|front|·M). Weak dominance by a *removed* row implies weak dominance by the kept
// row that removed it (transitivity), so comparing with kept rows suffices.
//
// infer_reference_point: BoTorch's rule (botorch.utils.multi_objective.hypervolume.
// infer_reference_point, there for maximization: nadir − 0.1·range with the range floored at
// 1e-7, and y − 0.1·|y| for a single point), mirrored for minimization. Ishibuchi, Akedo, Nojima,
// "A many-objective test problem for visually examining diversity maintenance behavior in a
// decision space", GECCO 2011, motivate the 0.1.
//
// ParEGO: J. Knowles, "ParEGO: a hybrid algorithm with on-line landscape approximation for
// expensive multiobjective optimization problems", IEEE TEC 10(1), 2006: objectives normalized to
// [0, 1], augmented Chebyshev s(y) = max_j w_j y_j + ρ Σ_j w_j y_j with ρ = 0.05. Knowles draws
// w from a fixed simplex lattice; a uniform draw on the simplex (as BoTorch's sample_simplex)
// needs no lattice size and covers the same set.
#include "labloop/model/pareto.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "labloop/core/error.hpp"

namespace labloop {

namespace {

bool pareto_row_has_nan(const Eigen::MatrixXd& Y, Eigen::Index i) { return Y.row(i).array().isNaN().any(); }

// a ≤ b in every objective.
bool pareto_weakly_dominates(const Eigen::MatrixXd& Y, Eigen::Index a, Eigen::Index b) {
  return (Y.row(a).array() <= Y.row(b).array()).all();
}

}  // namespace

std::vector<Eigen::Index> non_dominated(const Eigen::MatrixXd& Y) {
  std::vector<Eigen::Index> order;
  order.reserve(static_cast<size_t>(Y.rows()));
  for (Eigen::Index i = 0; i < Y.rows(); ++i)
    if (!pareto_row_has_nan(Y, i)) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) {
    for (Eigen::Index j = 0; j < Y.cols(); ++j) {
      if (Y(a, j) < Y(b, j)) return true;
      if (Y(b, j) < Y(a, j)) return false;
    }
    return false;
  });
  std::vector<Eigen::Index> kept;
  for (const Eigen::Index i : order) {
    const bool dominated =
        std::any_of(kept.begin(), kept.end(), [&](Eigen::Index k) { return pareto_weakly_dominates(Y, k, i); });
    if (!dominated) kept.push_back(i);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

Eigen::MatrixXd pareto_front(const Eigen::MatrixXd& Y) {
  const auto rows = non_dominated(Y);
  Eigen::MatrixXd front(static_cast<Eigen::Index>(rows.size()), Y.cols());
  for (size_t k = 0; k < rows.size(); ++k) front.row(static_cast<Eigen::Index>(k)) = Y.row(rows[k]);
  return front;
}

Eigen::VectorXd infer_reference_point(const Eigen::MatrixXd& Y, double scale) {
  if (!std::isfinite(scale) || scale < 0.0)
    throw PlannerError(fmt::format("infer_reference_point: scale must be finite and ≥ 0 (got {})", scale));
  const Eigen::MatrixXd front = pareto_front(Y);
  if (front.rows() == 0 || front.cols() == 0)
    throw PlannerError("infer_reference_point: no observation has a value for every objective; "
                       "state the reference point (thresholds) or wait for a complete result");
  if (!front.allFinite())
    throw PlannerError("infer_reference_point: an objective value is infinite; "
                       "state the reference point (thresholds) explicitly");
  constexpr double kMinRange = 1e-7;
  const Eigen::VectorXd nadir = front.colwise().maxCoeff().transpose();
  Eigen::VectorXd range;
  if (front.rows() == 1)
    range = nadir.cwiseAbs().cwiseMax(kMinRange);
  else
    range = (nadir - front.colwise().minCoeff().transpose()).cwiseMax(kMinRange);
  return nadir + scale * range;
}

Eigen::MatrixXd normalize_objectives(const Eigen::MatrixXd& Y) {
  Eigen::MatrixXd out = Y;
  for (Eigen::Index j = 0; j < Y.cols(); ++j) {
    double low = std::numeric_limits<double>::infinity();
    double high = -std::numeric_limits<double>::infinity();
    for (Eigen::Index i = 0; i < Y.rows(); ++i) {
      if (pareto_row_has_nan(Y, i)) continue;
      low = std::min(low, Y(i, j));
      high = std::max(high, Y(i, j));
    }
    // A constant column (or no complete row) carries no preference: map it to 0.
    const double span = high - low;
    for (Eigen::Index i = 0; i < Y.rows(); ++i) {
      if (pareto_row_has_nan(Y, i)) continue;
      out(i, j) = span > 0.0 && std::isfinite(span) ? (Y(i, j) - low) / span : 0.0;
    }
  }
  return out;
}

Eigen::VectorXd chebyshev(const Eigen::MatrixXd& Y_normalized, const Eigen::VectorXd& weights, double rho) {
  if (weights.size() != Y_normalized.cols())
    throw PlannerError(fmt::format("chebyshev: {} weights for {} objectives", weights.size(), Y_normalized.cols()));
  if (!weights.allFinite() || (weights.array() < 0.0).any())
    throw PlannerError("chebyshev: weights must be finite and ≥ 0");
  if (!std::isfinite(rho) || rho < 0.0) throw PlannerError(fmt::format("chebyshev: rho must be finite and ≥ 0 (got {})", rho));
  Eigen::VectorXd out(Y_normalized.rows());
  for (Eigen::Index i = 0; i < Y_normalized.rows(); ++i) {
    const Eigen::ArrayXd weighted = Y_normalized.row(i).transpose().array() * weights.array();
    // maxCoeff would silently skip a NaN; a missing objective must make the score missing.
    out(i) = weighted.isNaN().any() ? std::numeric_limits<double>::quiet_NaN()
                                    : (weighted.size() == 0 ? 0.0 : weighted.maxCoeff()) + rho * weighted.sum();
  }
  return out;
}

Eigen::VectorXd sample_simplex_weights(Eigen::Index M, std::mt19937_64& rng) {
  if (M < 1) throw PlannerError(fmt::format("sample_simplex_weights: need at least one objective (got {})", M));
  std::exponential_distribution<double> exponential(1.0);
  Eigen::VectorXd w(M);
  for (Eigen::Index j = 0; j < M; ++j) w(j) = exponential(rng);
  return w / w.sum();
}

}  // namespace labloop
