#pragma once
// A parameter as people declare it: a name, a type, bounds or choices in user units. Shared by the
// campaign (its search space), the protocol (an instrument's declared limits) and the driver SDK,
// which is why it lives in core and needs no linear algebra; the cube encoding is in model/space.hpp.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labloop {

// User-unit parameter values by name: {"x1": 0.3, "cycles": 4, "solvent": "THF"}.
using Params = nlohmann::json;

enum class ParameterType { continuous, integer, categorical };

const char* to_string(ParameterType type);

struct Parameter {
  std::string name;
  ParameterType type = ParameterType::continuous;
  double low = 0.0;   // continuous and integer: inclusive bounds in user units
  double high = 1.0;
  bool log = false;   // continuous and integer: encode log(value) (requires low > 0)
  std::string unit;   // free text shown to people, e.g. "mL/min"
  std::vector<std::string> choices;  // categorical only

  // Coordinates this parameter occupies in the cube.
  int cube_width() const { return type == ParameterType::categorical ? static_cast<int>(choices.size()) : 1; }
  // "x1 in [-5, 10]", "solvent in {THF, DMF}" — for messages.
  std::string describe_domain() const;
  // JSON form used in configs and in the protocol's `welcome.inputs`.
  nlohmann::json to_json() const;
};

// Empty string when `params` has exactly the names of `parameters` with in-bounds values (integers
// integral, categoricals among their choices); otherwise a message naming the first offender.
// Drivers use it on their declared inputs; Space::check uses it on the campaign's parameters.
std::string check_params(const std::vector<Parameter>& parameters, const Params& params);

}  // namespace labloop
