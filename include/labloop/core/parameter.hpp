#pragma once
// A parameter as people declare it: a name, a type, bounds, levels or choices in user units.
// Shared by the campaign (its search space), the protocol (an instrument's declared limits) and
// the driver SDK, which is why it lives in core and needs no linear algebra; the cube encoding is
// in model/space.hpp.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace labloop {

// User-unit parameter values by name: {"x1": 0.3, "cycles": 4, "solvent": "THF"}.
using Params = nlohmann::json;

// discrete: a few numeric levels (concentrations run at 0.057, 0.1 and 0.153 M) whose order and
// distances the model uses, unlike a categorical's unrelated choices.
enum class ParameterType { continuous, integer, categorical, discrete };

const char* to_string(ParameterType type);

// Stated limit (docs/config.md, docs/protocol.md): levels of a discrete parameter or input. Past
// a thousand levels a continuous or integer parameter says the same more cheaply.
constexpr std::size_t kMaxDiscreteLevels = 1000;
// An integer parameter's bounds: 2^53, beyond which doubles (the model, the journal, JSON readers
// in other languages) no longer hold every integer.
constexpr long long kMostExactInteger = 1LL << 53;

struct Parameter {
  std::string name;
  ParameterType type = ParameterType::continuous;
  double low = 0.0;   // continuous and integer: inclusive bounds in user units; discrete: the
  double high = 1.0;  // smallest and largest level (the config and protocol parsers and Space set them)
  bool log = false;   // continuous, integer and discrete: encode log(value) (requires low > 0)
  std::string unit;   // free text shown to people, e.g. "mL/min"
  std::vector<std::string> choices;  // categorical only
  std::vector<double> values;  // discrete only: the levels, ascending, distinct
  // Categorical only, optional: numeric descriptors of each choice (model/descriptors.hpp reads
  // and checks them; the planner may model the choices through them instead of one-hot).
  std::string descriptors;                              // the table's file, as resolved ("" = none)
  bool one_hot_only = false;                            // "descriptors": false — none, not even a dataset's own
  std::vector<std::string> descriptor_names;            // one per descriptor column
  std::vector<std::vector<double>> descriptor_values;   // one row per choice (the choices' order), one value per name

  // Coordinates this parameter occupies in the cube.
  int cube_width() const { return type == ParameterType::categorical ? static_cast<int>(choices.size()) : 1; }
  // How many values it takes when they are listed (categorical choices, discrete levels); 0 for a
  // continuous or integer range (a wide integer range behaves like a continuous one).
  size_t listed_values() const {
    return type == ParameterType::categorical ? choices.size() : type == ParameterType::discrete ? values.size() : 0;
  }
  // Discrete only: the index of the level `v` equals to within level_tolerance(), or -1. Levels
  // closer than that are duplicates (the config refuses them), so at most one matches.
  int level_index(double v) const;
  // Discrete only: 1e-9 of the levels' scale (the largest magnitude or the spread, whichever is
  // larger), so a level written back from JSON or a CSV with a rounding error still matches.
  double level_tolerance() const;
  // "x1 in [-5, 10]", "solvent in {THF, DMF}", "conc in {0.057, 0.1, 0.153}" — for messages.
  std::string describe_domain() const;
  // JSON form used in configs and in the protocol's `welcome.inputs`.
  nlohmann::json to_json() const;
};

// Empty string when `params` has exactly the names of `parameters` with in-bounds values (integers
// integral, categoricals among their choices, discrete values equal to a level); otherwise a message naming the first offender.
// Drivers use it on their declared inputs; Space::check uses it on the campaign's parameters.
std::string check_params(const std::vector<Parameter>& parameters, const Params& params);

// `params` (which check_params accepted) with each discrete value replaced by the level it
// matched: what an instrument runs is the level it declared, never a value written near it
// (104.99999999 for 105). Everything else as given.
Params at_declared_levels(const std::vector<Parameter>& parameters, Params params);

}  // namespace labloop
