#include "catalogue.hpp"

#include "standard_inputs.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

const SimulatorCatalogue& catalogue() {
  static const SimulatorCatalogue instance = [] {
    std::vector<SimulatorSpec> specs;
    for (const TestFunction& f : test_functions())
      specs.push_back(SimulatorSpec{.name = f.name, .default_dim = f.default_dim, .min_dim = f.min_dim, .max_dim = f.max_dim,
                                    .inputs = [&f](int dim) { return standard_inputs(f, dim); }});
    return SimulatorCatalogue(std::move(specs));
  }();
  return instance;
}

}  // namespace labloop::sim
