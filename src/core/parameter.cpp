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
    case ParameterType::discrete: return "discrete";
  }
  return "?";
}

// Neither needs the levels sorted: a driver's describe() may list them in any order (the config
// and protocol parsers and Space sort theirs). A thousand levels at most make a scan cheap.
double Parameter::level_tolerance() const {
  if (values.empty()) return 0.0;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  // The spread overflows for levels near ±1.8e308 (inf: every level matched every other, and a
  // welcome listing -1e308, 0.5 and 1e308 was refused for "0.5 twice"); the largest magnitude,
  // which is at least half of it, stands in then.
  double scale = std::isfinite(*hi - *lo) ? *hi - *lo : 0.0;
  for (double v : values) scale = std::max(scale, std::fabs(v));
  return 1e-9 * scale;
}

int Parameter::level_index(double v) const {
  if (values.empty() || !std::isfinite(v)) return -1;
  size_t nearest = 0;
  for (size_t k = 1; k < values.size(); ++k)
    if (std::fabs(values[k] - v) < std::fabs(values[nearest] - v)) nearest = k;
  return std::fabs(values[nearest] - v) <= level_tolerance() ? static_cast<int>(nearest) : -1;
}

std::string Parameter::describe_domain() const {
  if (type == ParameterType::categorical) return fmt::format("{} in {{{}}}", name, fmt::join(choices, ", "));
  if (type == ParameterType::discrete) return fmt::format("{} in {{{}}}{}", name, fmt::join(values, ", "), unit.empty() ? "" : " " + unit);
  return fmt::format("{} in [{}, {}]{}", name, low, high, unit.empty() ? "" : " " + unit);
}

nlohmann::json Parameter::to_json() const {
  nlohmann::json j{{"name", name}, {"type", to_string(type)}};
  if (type == ParameterType::categorical) {
    j["choices"] = choices;
    if (!descriptors.empty()) j["descriptors"] = descriptors;
    else if (one_hot_only) j["descriptors"] = false;
  } else if (type == ParameterType::discrete) {
    j["values"] = values;
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
    if (p.type == ParameterType::discrete) {
      if (p.level_index(v) < 0) return fmt::format("{} = {} is not one of the levels {{{}}}", p.name, it->dump(), fmt::join(p.values, ", "));
      continue;
    }
    if (!std::isfinite(v) || v < p.low || v > p.high)
      return fmt::format("{} = {} is outside its bounds [{}, {}]", p.name, it->dump(), p.low, p.high);
    if (p.type == ParameterType::integer && v != std::round(v))
      return fmt::format("{} = {} is not an integer", p.name, it->dump());
  }
  return {};
}

Params at_declared_levels(const std::vector<Parameter>& parameters, Params params) {
  for (const Parameter& p : parameters) {
    if (p.type != ParameterType::discrete || !params.contains(p.name) || !params[p.name].is_number()) continue;
    if (const int level = p.level_index(params[p.name].get<double>()); level >= 0) params[p.name] = p.values[static_cast<size_t>(level)];
  }
  return params;
}

}  // namespace labloop
