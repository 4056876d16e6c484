#include <nlohmann/json.hpp>

#include "labloop/model/planner.hpp"

namespace labloop {

std::map<std::string, double> numeric_values(const nlohmann::json& values) {
  std::map<std::string, double> out;
  if (!values.is_object()) return out;
  for (const auto& [name, value] : values.items())
    if (value.is_number()) out.emplace(name, value.get<double>());
  return out;
}

}  // namespace labloop
