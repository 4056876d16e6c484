// Worked example of docs/extending.md: a planner with an option. In the tree it would be
// src/model/planners/local_random.cpp, declared in planners.hpp and listed in that folder's
// registry.cpp; here the unit tests build it and run the planner conformance checks on it.
//
// Random points in a box of half-width `radius` (option, default 0.2, in cube units) around the
// best point observed so far; uniform in the whole cube until something has been observed.
#include <algorithm>
#include <optional>
#include <random>

#include "../registry.hpp"  // number_option
#include "planners.hpp"

namespace labloop::detail {

namespace {

class LocalRandomPlanner final : public Planner {
 public:
  LocalRandomPlanner(int dim, std::uint64_t seed, double radius) : dim_(dim), rng_(seed), radius_(radius) {}

  std::vector<Point> ask(int q, std::span<const Point>) override {
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<Point> out;
    for (int i = 0; i < q; ++i) {
      const Point centre = best_ ? best_->x : Point::Constant(dim_, 0.5);
      const double half_width = best_ ? radius_ : 0.5;
      Point x(dim_);
      for (int d = 0; d < dim_; ++d) x[d] = std::clamp(centre[d] + half_width * u(rng_), 0.0, 1.0);
      out.push_back(std::move(x));
    }
    return out;
  }

  // Only the objective of successful experiments matters here; a planner that models failures,
  // or more than one value, reads the other fields of the Observation.
  void tell(const Observation& observation) override {
    if (observation.status != ObservationStatus::ok) return;
    if (!best_ || observation.objective < best_->objective) best_ = observation;
  }

 private:
  int dim_;
  std::mt19937_64 rng_;
  double radius_;
  std::optional<Observation> best_;
};

}  // namespace

std::unique_ptr<Planner> make_local_random_planner(const PlannerContext& context) {
  check_planner_options(context, {"radius"});  // unknown options: ConfigError at /planner/<option>
  const double radius = number_option(context.options(), "radius", 0.2, [](double r) { return r > 0 && r <= 1; }, "must be a number > 0 and at most 1");
  return std::make_unique<LocalRandomPlanner>(context.space.cube_dim(), context.seed, radius);
}

}  // namespace labloop::detail
