#pragma once
// The inputs a simulated test function declares: x1…x<dim> with its standard bounds. One
// definition for labloop-sim (what it declares at hello), its catalogue (what config checking
// expects) and the planner benchmark (the space it searches).
#include <string>
#include <vector>

#include "labloop/core/parameter.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

inline std::vector<Parameter> standard_inputs(const TestFunction& function, int dim) {
  const auto bounds = function.bounds(dim);
  std::vector<Parameter> inputs;
  for (int d = 0; d < dim; ++d)
    inputs.push_back(Parameter{.name = "x" + std::to_string(d + 1), .low = bounds[static_cast<size_t>(d)].first,
                               .high = bounds[static_cast<size_t>(d)].second});
  return inputs;
}

}  // namespace labloop::sim
