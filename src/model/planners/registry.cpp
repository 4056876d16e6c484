// The planner table. A new planner is one .cpp with a factory, plus one line below.
#include <algorithm>

#include "planners.hpp"

namespace labloop {

namespace {

struct PlannerEntry {
  const char* kind;
  std::unique_ptr<Planner> (*make)(const PlannerContext&);
};

const PlannerEntry kPlanners[] = {
    {"random", detail::make_random_planner},
    {"sobol", detail::make_sobol_planner},
    {"bayesian", detail::make_bayesian_planner},
};

}  // namespace

std::vector<std::string> planner_kinds() {
  std::vector<std::string> kinds;
  for (const auto& e : kPlanners) kinds.emplace_back(e.kind);
  return kinds;
}

std::unique_ptr<Planner> make_planner(const PlannerContext& context) {
  for (const auto& e : kPlanners)
    if (context.config.kind == e.kind) return e.make(context);
  throw ConfigError(context.source, "/planner/kind",
                    fmt::format("unknown planner \"{}\" (available: {})", context.config.kind, fmt::join(planner_kinds(), ", ")));
}

namespace detail {

void check_planner_options(const PlannerContext& context, const std::vector<std::string>& allowed) {
  for (const auto& [key, value] : context.config.options.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw ConfigError(context.source, "/planner/" + key,
                        fmt::format("unknown option for the {} planner{}", context.config.kind,
                                    allowed.empty() ? std::string(" (it takes none)") : fmt::format(" (allowed: {})", fmt::join(allowed, ", "))));
}

}  // namespace detail
}  // namespace labloop
