// Uniform random search: the baseline every other planner must beat. With linear constraints,
// uniform over the feasible set instead (hit-and-run: FeasibleSampler), drawn from the same
// generator; without them the draws are exactly those of before constraints existed.
#include <optional>
#include <random>

#include "labloop/model/feasible_sampler.hpp"
#include "planners.hpp"

namespace labloop::detail {

namespace {

class RandomPlanner final : public Planner {
 public:
  RandomPlanner(const Space& space, std::uint64_t seed) : dim_(space.cube_dim()), rng_(seed) {
    if (space.constrained()) sampler_.emplace(space);
  }

  std::vector<Point> ask(int q, std::span<const Point>) override {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<Point> out;
    for (int i = 0; i < q; ++i) {
      if (sampler_) {
        out.push_back(sampler_->next(rng_));
        continue;
      }
      Point x(dim_);
      for (int d = 0; d < dim_; ++d) x[d] = u(rng_);
      out.push_back(std::move(x));
    }
    return out;
  }
  void tell(const Observation&) override {}  // proposals ignore results

 private:
  int dim_;
  std::mt19937_64 rng_;
  std::optional<FeasibleSampler> sampler_;  // with constraints only
};

}  // namespace

std::unique_ptr<Planner> make_random_planner(const PlannerContext& context) {
  check_planner_options(context, {});
  return std::make_unique<RandomPlanner>(context.space, context.seed);
}

}  // namespace labloop::detail
