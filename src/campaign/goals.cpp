#include "labloop/campaign/goals.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace labloop {

namespace {

// The finite number `values` holds for `name` (missing_outputs checked it is there).
double value_of(const nlohmann::json& values, const std::string& name) {
  const auto it = values.find(name);
  return it != values.end() && it->is_number() ? it->get<double>() : std::nan("");
}

}  // namespace

std::string missing_outputs(const CampaignConfig& config, const nlohmann::json& values) {
  for (const std::string& name : config.required_outputs()) {
    const double v = values.is_object() ? value_of(values, name) : std::nan("");
    if (std::isfinite(v)) continue;
    const bool objective = std::any_of(config.objectives.begin(), config.objectives.end(), [&](const Objective& o) { return o.name == name; });
    return fmt::format("no finite value for the {} \"{}\"", objective ? "objective" : "output", name);
  }
  return {};
}

std::string outputs_out_of_range(const CampaignConfig& config, const nlohmann::json& values) {
  if (!values.is_object()) return {};
  // A named output's value is a number (protocol §4.3). "7" or true was recorded as a good result
  // past a declared range of [0, 1], shown in results.csv as the number it spells; null stays
  // "not measured", as an absent value.
  const auto not_a_number = [&](const std::string& name) -> std::string {
    const auto it = values.find(name);
    if (it == values.end() || it->is_number() || it->is_null()) return {};
    return fmt::format("{} = {} is not a number (an output's value is a JSON number)", name, it->dump().substr(0, 100));
  };
  for (const OutputSpec& o : config.outputs)
    if (std::string why = not_a_number(o.name); !why.empty()) return why;
  for (const auto* conditions : {&config.outcome_constraints, &config.failure_when})
    for (const OutcomeCondition& c : *conditions)
      if (std::string why = not_a_number(c.output); !why.empty()) return why;
  for (const OutputSpec& o : config.outputs) {
    const auto it = values.find(o.name);
    if (it == values.end() || !it->is_number()) continue;
    const double v = it->get<double>();
    if ((o.low && v < *o.low) || (o.high && v > *o.high))
      return fmt::format("{} = {} is outside its declared range [{}, {}]", o.name, it->dump(), o.low ? fmt::format("{}", *o.low) : "-inf",
                         o.high ? fmt::format("{}", *o.high) : "inf");
  }
  return {};
}

std::optional<OutcomeCondition> failure_met(const CampaignConfig& config, const nlohmann::json& values) {
  for (const OutcomeCondition& c : config.failure_when)
    if (c.holds_in(values).value_or(false)) return c;
  return std::nullopt;
}

bool counts(const CampaignConfig& config, const nlohmann::json& values) {
  if (failure_met(config, values)) return false;
  for (const OutcomeCondition& c : config.outcome_constraints)
    if (!c.holds_in(values).value_or(false)) return false;
  return true;
}

Observation observe(const CampaignConfig& config, const Point& x, const nlohmann::json& values) {
  Observation o = Observation::succeeded(x, config.objective.sign() * value_of(values, config.objective.name), numeric_values(values));
  if (config.objectives.size() > 1)
    for (const Objective& objective : config.objectives) o.objectives.push_back(objective.sign() * value_of(values, objective.name));
  for (const OutcomeCondition& c : config.outcome_constraints) o.constraints.push_back(c.excess(value_of(values, c.output)));
  if (failure_met(config, values)) {
    o.status = ObservationStatus::failed;
    o.objective = std::nan("");
    o.objectives.clear();
  }
  return o;
}

}  // namespace labloop
