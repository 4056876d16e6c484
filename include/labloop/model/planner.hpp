#pragma once
// Planners propose experiments as points in the unit cube (see Space). They never see units,
// ids or instruments: the Campaign owns those (ask/tell, as in Ax). Objective values given to
// `tell` are always "smaller is better": the Campaign negates maximized objectives.
#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "labloop/model/space.hpp"

namespace labloop {

using Point = Eigen::VectorXd;

// The "planner" section of a campaign file. Planners see this and the space, never the rest of
// the campaign (the dependency runs one way: campaign → planner).
struct PlannerConfig {
  std::string kind = "random";
  nlohmann::json options = nlohmann::json::object();  // every key of "planner" except "kind"
};

class Planner {
 public:
  virtual ~Planner() = default;
  // q new points, distinct from each other and aware of `pending` (dispatched, no result yet).
  virtual std::vector<Point> ask(int q, std::span<const Point> pending) = 0;
  virtual void tell(const Point& x, double y) = 0;
  virtual void tell_failed(const Point& x) { (void)x; }
  // Something about the last ask() worth journaling (e.g. "time limit reached"), then cleared.
  virtual std::string take_note() { return {}; }
};

// What a planner factory gets: the space, the seed and the "planner" section of the config.
struct PlannerContext {
  const Space& space;
  std::uint64_t seed;
  const PlannerConfig& config;
  const std::string& source;  // config file name, for ConfigError messages
};

// Builds the planner named by config.kind; throws ConfigError (path /planner/...) for an unknown
// kind or options it does not accept.
std::unique_ptr<Planner> make_planner(const PlannerContext& context);

// Registered kinds, for messages and --help.
std::vector<std::string> planner_kinds();

}  // namespace labloop
