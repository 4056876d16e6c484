#pragma once
// The search space: named parameters in user units, and their encoding into the unit cube that
// planners work in. Bounds are enforced here: nothing decoded from the cube can leave them, and
// `check` rejects user-unit values that do.
//
// Cube layout: one coordinate per continuous or integer parameter (log-scaled ones are linear in
// log(value)), and one coordinate per choice for a categorical parameter (one-hot; decoding takes
// the largest coordinate, so a uniform point in the cube picks each choice with equal odds).
#include <Eigen/Core>
#include <string>
#include <vector>

#include "labloop/core/parameter.hpp"

namespace labloop {

class Space {
 public:
  Space() = default;
  // Throws PlannerError on inconsistent parameters; campaign files are validated (ConfigError)
  // before a Space is built, so this guards other callers (bench tables, embedding programs).
  explicit Space(std::vector<Parameter> parameters);

  const std::vector<Parameter>& parameters() const { return parameters_; }
  int size() const { return static_cast<int>(parameters_.size()); }
  int cube_dim() const { return cube_dim_; }
  int offset(int parameter_index) const { return offsets_[parameter_index]; }
  const Parameter* find(const std::string& name) const;

  // User units → cube. Throws PlannerError when `params` fail `check`.
  Eigen::VectorXd encode(const Params& params) const;
  // Cube → user units. Coordinates are clamped to [0,1] first, integers rounded, so the result
  // always lies within the declared bounds. Throws PlannerError for a point of the wrong size
  // or with a non-finite coordinate.
  Params decode(const Eigen::VectorXd& x) const;
  // Snap a cube point to the point that represents what `decode` returns (integer rounding,
  // one-hot categoricals), so planners can see where an experiment really was run.
  Eigen::VectorXd canonical(const Eigen::VectorXd& x) const;
  // Empty string when `params` has exactly the declared names with in-bounds values; otherwise a
  // message naming the first offending parameter.
  std::string check(const Params& params) const;

 private:
  std::vector<Parameter> parameters_;
  std::vector<int> offsets_;
  int cube_dim_ = 0;
};

}  // namespace labloop
