#pragma once
// Internal: one factory per planner file, listed in registry.cpp.
#include <fmt/format.h>

#include "labloop/core/error.hpp"
#include "labloop/model/planner.hpp"

namespace labloop::detail {

// Throws ConfigError at /planner/<option> for an option not in `allowed` (with a did-you-mean).
// A factory calls it first, then reads the options it takes from context.options().
void check_planner_options(const PlannerContext& context, const std::vector<std::string>& allowed);

std::unique_ptr<Planner> make_random_planner(const PlannerContext& context);
std::unique_ptr<Planner> make_sobol_planner(const PlannerContext& context);
std::unique_ptr<Planner> make_bayesian_planner(const PlannerContext& context);

}  // namespace labloop::detail
