#pragma once
// The hypervolume indicator and the box decomposition of the region a front leaves to improve,
// for 1 to 4 minimized objectives (docs/decisions/0006-multi-objective.md).
//
// Y is n×M (rows = points, minimization) and `reference` has M finite entries. The hypervolume
// of Y is the volume of {z : z < reference, some row y of Y has y ≤ z}. Rows that are not
// strictly better than the reference in every objective contribute nothing, and rows with a NaN
// are ignored, so Y need not be a Pareto front. A row with −inf (infinite volume) is a
// PlannerError, as are M outside [1, kMaxHypervolumeObjectives], a reference of another length or
// a non-finite reference.
//
// Cost, exact in every case: M = 1, 2 O(n log n); M = 3 dimension sweep O(n log n); M = 4
// slicing along the 4th objective over the 3-D sweep, O(n² log n). The box decomposition has
// n + 1 boxes for M = 2, at most 2n + 1 for M = 3, and for M = 4 about n²/7 on typical fronts
// (186 for 30 points, 346 for 50; docs/decisions/0006-multi-objective.md has timings).
//
// All functions are pure and thread-safe.
#include <Eigen/Core>

namespace labloop {

inline constexpr Eigen::Index kMaxHypervolumeObjectives = 4;

double hypervolume(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference);

// Disjoint axis-aligned boxes whose union is the region below the reference not dominated by
// any row of Y: {z : z < reference, no row y of Y has y ≤ z} (up to box boundaries). Box k is
// [lower(k, j), upper(k, j)) in objective j; lower entries may be −inf, upper entries are finite
// and lower < upper. There is always at least one box. Both matrices are boxes×M.
struct BoxDecomposition {
  Eigen::MatrixXd lower;
  Eigen::MatrixXd upper;
  Eigen::Index size() const { return lower.rows(); }
};

BoxDecomposition non_dominated_boxes(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference);

// How much the hypervolume grows when y (M entries) joins Y: HV(Y ∪ {y}) − HV(Y), computed from
// the boxes (no cancellation; 0 when y is dominated or not better than the reference). The
// overload taking boxes is for many y against one front.
double hypervolume_improvement(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference, const Eigen::VectorXd& y);
double hypervolume_improvement(const BoxDecomposition& boxes, const Eigen::VectorXd& y);

}  // namespace labloop
