// Worked example of docs/extending.md: a simulated test function with an option of its own. In
// the tree it would be one more entry in the table of simulators/test_functions.cpp (the function
// itself above the table); here the unit tests run the test-function conformance checks on it.
//
// Sphere shifted to c·(1, …, 1): f(x) = Σ (x_i − c)², any dimension, global minimum 0. The centre c
// is the option "centre" (default 1), so a campaign can move the minimizer:
//   {"name": "sim", "simulator": "sphere", "options": {"dim": 4, "centre": -2.5}}
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "test_functions.hpp"

namespace labloop::sim {

namespace {

constexpr int kMaxDim = 1000;  // the table's limit for functions of any dimension
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

double sphere_around(std::span<const double> x, double centre) {
  if (x.empty() || x.size() > static_cast<std::size_t>(kMaxDim)) return kNan;  // the dimension contract
  double sum = 0.0;
  for (const double v : x) sum += (v - centre) * (v - centre);
  return sum;
}

bool allowed(int dim) { return dim >= 1 && dim <= kMaxDim; }

}  // namespace

const TestFunction& example_sphere_function() {
  static const TestFunction entry{
      .name = "sphere",
      .description = "Sphere around centre*ones (option centre, default 1), any-D, one minimum 0",
      .default_dim = 2, .min_dim = 1, .max_dim = kMaxDim,
      .bounds = [](int dim) { return std::vector<std::pair<double, double>>(allowed(dim) ? static_cast<std::size_t>(dim) : 0, {-5.0, 5.0}); },
      // evaluate, optimum and argmin are for the options' defaults: what benchmarks and tests use.
      .evaluate = [](std::span<const double> x) { return sphere_around(x, 1.0); },
      .optimum = [](int dim) { return allowed(dim) ? 0.0 : kNan; },
      .argmin = [](int dim) { return allowed(dim) ? std::vector<double>(static_cast<std::size_t>(dim), 1.0) : std::vector<double>{}; },
      // Inside the bounds, so the minimum stays reachable wherever the centre is put.
      .options = {{.name = "centre", .description = "every coordinate of the minimizer", .default_value = 1.0, .low = -5.0, .high = 5.0,
                   .integer = false}},
      // What labloop-sim serves: every output (here the one "y") for the options a campaign gave.
      .evaluate_outputs = [](std::span<const double> x, const OptionValues& options) {
        return std::vector<double>{sphere_around(x, options.at("centre"))};
      }};
  return entry;
}

}  // namespace labloop::sim
