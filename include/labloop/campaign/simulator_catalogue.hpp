#pragma once
// The simulated instruments a campaign may start itself ("simulator": "branin"), as far as
// checking a campaign file needs to know them: names, allowed dimensions and the inputs each
// declares. The simulators live outside the library (simulators/); the program that loads
// campaign files passes their catalogue in (labloop's CLI passes labloop-sim's,
// `labloop::sim::catalogue()`), so loading a config links no simulator code.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "labloop/core/parameter.hpp"

namespace labloop {

struct SimulatorSpec {
  std::string name;  // as written in a campaign file, e.g. "hartmann6"
  int default_dim = 1;
  int min_dim = 1;   // min_dim == max_dim for a function of fixed dimension
  int max_dim = 1;
  // The inputs x1…x<dim> with the function's standard bounds: what the simulator declares at hello.
  std::function<std::vector<Parameter>(int dim)> inputs;
};

class SimulatorCatalogue {
 public:
  SimulatorCatalogue() = default;  // none: a campaign naming a simulator is refused
  explicit SimulatorCatalogue(std::vector<SimulatorSpec> specs) : specs_(std::move(specs)) {}

  const SimulatorSpec* find(std::string_view name) const {
    for (const auto& s : specs_)
      if (s.name == name) return &s;
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& s : specs_) out.push_back(s.name);
    return out;
  }

 private:
  std::vector<SimulatorSpec> specs_;
};

}  // namespace labloop
