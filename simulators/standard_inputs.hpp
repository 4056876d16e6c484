#pragma once
// The inputs a simulated test function declares: its input names (x1…x<dim> unless the function
// names them, as snar_kinetic does) with its standard bounds. One definition for labloop-sim (what
// it declares at hello), its catalogue (what config checking expects) and the planner benchmark
// (the space it searches).
#include <string>
#include <vector>

#include "labloop/core/parameter.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

inline std::vector<Parameter> standard_inputs(const TestFunction& function, int dim) {
  const auto bounds = function.bounds(dim);
  const auto names = function.input_names(dim);
  std::vector<Parameter> inputs;
  for (size_t d = 0; d < static_cast<size_t>(dim); ++d)
    inputs.push_back(Parameter{.name = names[d], .low = bounds[d].first, .high = bounds[d].second});
  return inputs;
}

}  // namespace labloop::sim
