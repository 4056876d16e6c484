// Worked example of docs/extending.md: a simulated test function. In the tree it would be one
// more entry in the table of simulators/test_functions.cpp (the function itself above the table);
// here the unit tests run the test-function conformance checks on it.
//
// Sphere shifted to the all-ones point: f(x) = Σ (x_i − 1)², any dimension, global minimum 0.
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

double sphere(std::span<const double> x) {
  if (x.empty() || x.size() > static_cast<std::size_t>(kMaxDim)) return kNan;  // the dimension contract
  double sum = 0.0;
  for (const double v : x) sum += (v - 1.0) * (v - 1.0);
  return sum;
}

bool allowed(int dim) { return dim >= 1 && dim <= kMaxDim; }

}  // namespace

const TestFunction& example_sphere_function() {
  static const TestFunction entry{
      "sphere", "Sphere shifted to ones, any-D, one minimum 0 at ones", 2, 1, kMaxDim,
      [](int dim) { return std::vector<std::pair<double, double>>(allowed(dim) ? static_cast<std::size_t>(dim) : 0, {-5.0, 5.0}); },
      sphere,
      [](int dim) { return allowed(dim) ? 0.0 : kNan; },
      [](int dim) { return allowed(dim) ? std::vector<double>(static_cast<std::size_t>(dim), 1.0) : std::vector<double>{}; }};
  return entry;
}

}  // namespace labloop::sim
