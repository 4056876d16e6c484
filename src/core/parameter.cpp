#include "labloop/core/parameter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace labloop {

const char* to_string(ParameterType type) {
  switch (type) {
    case ParameterType::continuous: return "continuous";
    case ParameterType::integer: return "integer";
    case ParameterType::categorical: return "categorical";
  }
  return "?";
}

std::string Parameter::describe_domain() const {
  if (type == ParameterType::categorical) return fmt::format("{} in {{{}}}", name, fmt::join(choices, ", "));
  return fmt::format("{} in [{}, {}]{}", name, low, high, unit.empty() ? "" : " " + unit);
}

nlohmann::json Parameter::to_json() const {
  nlohmann::json j{{"name", name}, {"type", to_string(type)}};
  if (type == ParameterType::categorical) {
    j["choices"] = choices;
  } else if (type == ParameterType::integer) {
    j["low"] = static_cast<long long>(low);
    j["high"] = static_cast<long long>(high);
  } else {
    j["low"] = low;
    j["high"] = high;
  }
  if (log) j["log"] = true;
  if (!unit.empty()) j["unit"] = unit;
  return j;
}

std::string check_params(const std::vector<Parameter>& parameters, const Params& params) {
  if (!params.is_object()) return "parameters must be a JSON object";
  for (const auto& [name, value] : params.items())
    // Named capture: clang 14 (Debian 12, the fuzz build) cannot capture a structured binding.
    if (std::none_of(parameters.begin(), parameters.end(), [&key = name](const Parameter& p) { return p.name == key; }))
      return fmt::format("unknown parameter '{}'", name);
  for (const auto& p : parameters) {
    auto it = params.find(p.name);
    if (it == params.end()) return fmt::format("parameter '{}' is missing", p.name);
    if (p.type == ParameterType::categorical) {
      if (!it->is_string() || std::find(p.choices.begin(), p.choices.end(), it->get<std::string>()) == p.choices.end())
        return fmt::format("{} = {} is not one of the choices {{{}}}", p.name, it->dump(), fmt::join(p.choices, ", "));
      continue;
    }
    if (!it->is_number()) return fmt::format("{} = {} is not a number", p.name, it->dump());
    const double v = it->get<double>();
    if (!std::isfinite(v) || v < p.low || v > p.high)
      return fmt::format("{} = {} is outside its bounds [{}, {}]", p.name, it->dump(), p.low, p.high);
    if (p.type == ParameterType::integer && v != std::round(v))
      return fmt::format("{} = {} is not an integer", p.name, it->dump());
  }
  return {};
}

}  // namespace labloop
