// Uniform random search: the baseline every other planner must beat. With linear constraints,
// uniform over the feasible set instead (hit-and-run: FeasibleSampler), drawn from the same
// generator; without them the draws are exactly those of before constraints existed. With a
// candidate pool, uniform over the rows not yet told or pending (PoolChoice).
#include <optional>
#include <random>

#include "labloop/model/feasible_sampler.hpp"
#include "planners.hpp"
#include "pool_choice.hpp"

namespace labloop::detail {

namespace {

class RandomPlanner final : public Planner {
 public:
  RandomPlanner(const Space& space, std::uint64_t seed, std::optional<PoolChoice> pool)
      : dim_(space.cube_dim()), rng_(seed), pool_(std::move(pool)) {
    if (space.constrained() && !pool_) sampler_.emplace(space);
  }

  std::vector<Point> ask(int q, std::span<const Point> pending) override {
    std::vector<Point> out;
    if (pool_) {
      for (int i = 0, n = pool_->begin(q, pending); i < n; ++i) out.push_back(pool_->take_random(rng_));
      return out;
    }
    std::uniform_real_distribution<double> u(0.0, 1.0);
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
  void tell(const Observation& observation) override {  // proposals ignore results, but a pool's row is used
    if (pool_) pool_->told(observation.x);
  }

 private:
  int dim_;
  std::mt19937_64 rng_;
  std::optional<FeasibleSampler> sampler_;  // with constraints only (and no pool)
  std::optional<PoolChoice> pool_;
};

}  // namespace

std::unique_ptr<Planner> make_random_planner(const PlannerContext& context) {
  check_planner_options(context, {});
  return std::make_unique<RandomPlanner>(context.space, context.seed, pool_choice(context));
}

}  // namespace labloop::detail
