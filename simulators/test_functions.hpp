#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labloop::sim {

// One standard test function (all are MINIMIZATION problems, values noise-free).
//
// The callbacks are plain function pointers so the registry is a constant table
// that can be copied and compared without any lifetime concerns.
//
// Dimension contract: callers pass a `dim` in [min_dim, max_dim]. Fixed-dimension
// functions ignore `dim` in `bounds` (they always return their fixed box), but
// report NaN / empty from `optimum` / `argmin` for any other dim, so a caller that
// gets the dimension wrong sees it instead of silently using the wrong answer.
// `evaluate` returns NaN when x.size() is outside [min_dim, max_dim] (or differs
// from the fixed dimension) rather than reading out of range.
struct TestFunction {
  std::string name;         // lower-case id used on the command line and in configs: "branin", "hartmann6", ...
  std::string description;  // one line for `labloop-sim --list`, e.g. "Branin-Hoo, 2-D, 3 global minima"
  int default_dim;
  int min_dim;              // fixed-dimension functions have min_dim == max_dim == default_dim
  int max_dim;
  // Standard box bounds per coordinate for dimension `dim` (size == dim).
  std::vector<std::pair<double, double>> (*bounds)(int dim);
  // Noise-free value at x (x.size() == dim, x inside bounds).
  double (*evaluate)(std::span<const double> x);
  // Known global minimum value for dimension `dim`, or NaN when not known for that dimension.
  double (*optimum)(int dim);
  // One known global minimizer for `dim` (empty when unknown) — used by tests.
  std::vector<double> (*argmin)(int dim);
};

// The registry: an explicit table (not self-registering statics). Adding a function = one entry.
const std::vector<TestFunction>& test_functions();

// nullptr when unknown.
const TestFunction* find_test_function(std::string_view name);

}  // namespace labloop::sim
