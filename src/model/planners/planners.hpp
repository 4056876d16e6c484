#pragma once
// Internal: one factory per planner file, listed in registry.cpp.
#include <fmt/format.h>

#include "labloop/core/error.hpp"
#include "labloop/model/planner.hpp"

namespace labloop::detail {

// Throws ConfigError for a planner option not in `allowed`.
void check_planner_options(const PlannerContext& context, const std::vector<std::string>& allowed);

std::unique_ptr<Planner> make_random_planner(const PlannerContext& context);
std::unique_ptr<Planner> make_sobol_planner(const PlannerContext& context);
std::unique_ptr<Planner> make_bayesian_planner(const PlannerContext& context);

}  // namespace labloop::detail
