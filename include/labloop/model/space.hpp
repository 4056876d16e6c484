#pragma once
// The search space: named parameters in user units, and their encoding into the unit cube that
// planners work in. Bounds are enforced here: nothing decoded from the cube can leave them, and
// `check` rejects user-unit values that do.
//
// Cube layout: one coordinate per continuous or integer parameter (log-scaled ones are linear in
// log(value)); one per discrete parameter, linear in the value (or its log) from the first of n
// levels at 1/(2n) to the last at 1 − 1/(2n), decoded to the nearest level (equally spaced levels
// encode exactly as an integer parameter's cell centres); and one coordinate per choice for a categorical parameter (one-hot; decoding takes
// the largest coordinate, so a uniform point in the cube picks each choice with equal odds).
//
// Linear constraints (linear_constraints.hpp) narrow the space: `check` refuses settings that
// violate them, `feasible` says whether a cube point's setting meets them, and `repair` finds a
// canonical point that does. A space without constraints behaves exactly as before they existed.
#include <Eigen/Core>
#include <optional>
#include <string>
#include <vector>

#include "labloop/core/parameter.hpp"
#include "labloop/model/linear_constraints.hpp"

namespace labloop {

class Space {
 public:
  Space() = default;
  // Throws PlannerError on inconsistent parameters; sorts discrete levels and sets their low and
  // high to the first and last level. Campaign files are validated (ConfigError)
  // before a Space is built, so this guards other callers (bench tables, embedding programs).
  explicit Space(std::vector<Parameter> parameters);
  // With linear constraints parsed against `parameters` (parse_linear_constraint). Throws
  // PlannerError for a constraint naming what is not a numeric (continuous, integer or discrete),
  // linear-scaled parameter, or when
  // no setting satisfies the constraints (naming a minimal set of them).
  Space(std::vector<Parameter> parameters, std::vector<LinearConstraint> constraints);
  // The same, with how feasible points are drawn (FeasibleSampler) and thin regions made flat
  // (FeasibleRegion): a campaign's "constraint_sampling", isotropic (what the two-argument
  // constructor keeps) for journals that do not name one.
  Space(std::vector<Parameter> parameters, std::vector<LinearConstraint> constraints, ConstraintSampling sampling);

  const std::vector<Parameter>& parameters() const { return parameters_; }
  int size() const { return static_cast<int>(parameters_.size()); }
  int cube_dim() const { return cube_dim_; }
  int offset(int parameter_index) const { return offsets_[parameter_index]; }
  const Parameter* find(const std::string& name) const;

  const std::vector<LinearConstraint>& constraints() const { return constraints_; }
  bool constrained() const { return !constraints_.empty(); }
  // The constraints in cube coordinates (empty without constraints).
  const FeasibleRegion& region() const { return region_; }
  ConstraintSampling sampling() const { return region_.sampling(); }

  // User units → cube. Throws PlannerError when `params` fail `check_bounds` (a point outside
  // the constraints still has coordinates: prior results and retries of old settings need them).
  Eigen::VectorXd encode(const Params& params) const;
  // Cube → user units. Coordinates are clamped to [0,1] first, integers rounded, discrete
  // parameters snapped to the nearest level, so the result always lies within the declared
  // bounds and levels (whole-number levels as JSON integers); a continuous value within the
  // constraint tolerance of a one-parameter constraint's bound ("a >= 0.2") becomes that bound. Throws PlannerError for a point of the wrong size
  // or with a non-finite coordinate.
  Params decode(const Eigen::VectorXd& x) const;
  // Snap a cube point to the point that represents what `decode` returns (integer rounding,
  // discrete levels, one-hot categoricals), so planners can see where an experiment really was run.
  Eigen::VectorXd canonical(const Eigen::VectorXd& x) const;
  // Empty string when `params` has exactly the declared names with in-bounds values and meets
  // every constraint (within kConstraintTolerance of its scale); otherwise a message naming the
  // first offending parameter or constraint.
  std::string check(const Params& params) const;
  // The same without the constraints.
  std::string check_bounds(const Params& params) const;
  // Whether the setting `decode(x)` meets every constraint (true without constraints).
  bool feasible(const Eigen::VectorXd& x) const;
  // A canonical point whose setting meets the constraints, near x: canonical(x) when that
  // already does; else the projection of x onto the constraints (integers relaxed), snapped;
  // else, for integers the rounding broke, neighbouring whole values (for discrete parameters,
  // the levels either side) tried with the continuous
  // coordinates projected again. Nothing when none of that meets them (integers in equalities
  // may have no whole-number solution near x, or none at all).
  std::optional<Eigen::VectorXd> repair(const Eigen::VectorXd& x) const;

 private:
  std::string check_constraints(const Params& params) const;

  std::vector<Parameter> parameters_;
  std::vector<int> offsets_;
  int cube_dim_ = 0;
  std::vector<LinearConstraint> constraints_;
  std::vector<std::vector<int>> term_parameters_;  // per constraint: parameter index of each term
  std::vector<double> scales_;                      // per constraint: LinearConstraint::scale
  // One-parameter constraints on continuous parameters ("a >= 0.2"): decode snaps a value within
  // `slack` of `value` onto it.
  struct ConstraintBound {
    int parameter;
    double value;
    double slack;
  };
  std::vector<ConstraintBound> bounds_;
  FeasibleRegion region_;
};

}  // namespace labloop
