#pragma once
// Pareto dominance, the default hypervolume reference point, and ParEGO's scalarization: the
// multi-objective vocabulary the Bayesian planner builds on (docs/decisions/0006-multi-objective.md).
//
// Convention: Y is n×M, one row per point, one column per objective, and every objective is
// MINIMIZED (the campaign orients maximized objectives before the planner sees them, as for a
// single objective). A row with a NaN is a point without a usable result: it is never in the
// Pareto set and never dominates anything.
//
// Noisy objectives: the planner passes posterior means at the observed points as "the front",
// not the noisy measurements, so that one lucky measurement does not define the front; these
// functions accept any matrix and need nothing special for that.
//
// All functions are pure and thread-safe.
#include <Eigen/Core>
#include <random>
#include <vector>

namespace labloop {

// Indices (ascending) of the non-dominated rows of Y. Row a dominates row b when a ≤ b in every
// objective and a < b in at least one. Of identical rows only the first is kept. Rows with a NaN
// are never returned; ±inf compare as usual. An empty Y gives an empty result.
std::vector<Eigen::Index> non_dominated(const Eigen::MatrixXd& Y);

// The rows non_dominated(Y) names, in that order (an M-column matrix, possibly with no rows).
Eigen::MatrixXd pareto_front(const Eigen::MatrixXd& Y);

// The reference point used when the user states no thresholds. Rule (BoTorch's
// infer_reference_point, here for minimization): with F the Pareto front of Y (NaN rows ignored),
//   nadir_j = max_i F_ij,  range_j = max(max_i F_ij − min_i F_ij, 1e-7),  r_j = nadir_j + 0.1·range_j;
// for a front of one point y, r_j = y_j + 0.1·max(|y_j|, 1e-7). The 10% margin (Ishibuchi et al.
// 2011 found 0.1 robust) keeps the boundary points of the front contributing hypervolume.
// Throws PlannerError when Y has no row without NaN, or a non-finite value in such a row.
Eigen::VectorXd infer_reference_point(const Eigen::MatrixXd& Y, double scale = 0.1);

// ParEGO (Knowles 2006) -----------------------------------------------------------------------

// Y scaled column by column to [0, 1] by the observed minimum and maximum (rows with a NaN are
// ignored for the bounds and stay NaN). A column with a single value maps to 0.
Eigen::MatrixXd normalize_objectives(const Eigen::MatrixXd& Y);

// Augmented Chebyshev scalarization of each row y of Y (normalized, see above), to minimize:
//   s(y) = max_j w_j·y_j + rho·Σ_j w_j·y_j.
// The max term reaches every Pareto-optimal point, including those on concave parts of the front;
// the small sum term (rho, default 0.05 as in ParEGO) breaks ties in favour of non-weakly-dominated
// points. Throws PlannerError if weights has not M entries, has a negative or non-finite entry,
// or rho is negative or non-finite. A row with a NaN gives NaN.
Eigen::VectorXd chebyshev(const Eigen::MatrixXd& Y_normalized, const Eigen::VectorXd& weights, double rho = 0.05);

// Weights drawn uniformly on the simplex {w ≥ 0, Σ w = 1} in M dimensions (normalized independent
// exponentials, i.e. a flat Dirichlet). Throws PlannerError for M < 1.
Eigen::VectorXd sample_simplex_weights(Eigen::Index M, std::mt19937_64& rng);

}  // namespace labloop
