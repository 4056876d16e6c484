// The planner table. A new planner is one .cpp with a factory, plus one line below; the planner
// conformance tests (tests/unit/planner_test.cpp) iterate this table.
#include "../registry.hpp"
#include "planners.hpp"

namespace labloop {

namespace {

const detail::RegistryEntry<PlannerFactory> kPlanners[] = {
    {"random", detail::make_random_planner},
    {"sobol", detail::make_sobol_planner},
    {"bayesian", detail::make_bayesian_planner},
};

}  // namespace

std::vector<std::string> planner_kinds() { return detail::entry_names<PlannerFactory>(kPlanners); }

std::unique_ptr<Planner> make_planner(const PlannerContext& context) {
  if (const auto* entry = detail::find_entry<PlannerFactory>(kPlanners, context.config.kind)) return entry->make(context);
  throw ConfigError(context.source, "/planner/kind", detail::unknown_name_message("planner", context.config.kind, planner_kinds()));
}

namespace detail {

void check_planner_options(const PlannerContext& context, const std::vector<std::string>& allowed) {
  check_options(context.options(), context.config.kind + " planner", allowed);
}

}  // namespace detail
}  // namespace labloop
