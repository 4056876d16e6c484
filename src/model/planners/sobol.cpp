// Scrambled Sobol points: space-filling, so a fixed budget covers the space evenly.
//
// With linear constraints a Sobol point is kept when its setting meets them (the first of up to
// kSobolTries that does); a thin feasible set (a mixture's simplex has no volume in its box)
// rejects them all, and the point is then the farthest from the previous proposals (the last
// kRemembered) among kPool feasible draws (FeasibleSampler): greedy maximin, still space-filling.
//
// With a candidate pool each Sobol point becomes the open row nearest it (PoolChoice): the rows
// proposed then cover the pool as evenly as the Sobol points cover the cube.
#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <random>

#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/sobol.hpp"
#include "planners.hpp"
#include "pool_choice.hpp"

namespace labloop::detail {

namespace {

constexpr int kSobolTries = 8, kPool = 32;
constexpr size_t kRemembered = 512;

class SobolPlanner final : public Planner {
 public:
  SobolPlanner(const Space& space, std::uint64_t seed, std::optional<PoolChoice> pool)
      : space_(space), sequence_(space.cube_dim(), seed + 1), rng_(seed), pool_(std::move(pool)) {  // +1: seed 0 would mean unscrambled
    if (space.constrained() && !pool_) sampler_.emplace(space);
  }

  std::vector<Point> ask(int q, std::span<const Point> pending) override {
    std::vector<Point> out;
    if (pool_) {
      for (int i = 0, n = pool_->begin(q, pending); i < n; ++i) out.push_back(pool_->take_nearest(sequence_.next()));
      return out;
    }
    for (int i = 0; i < q; ++i) out.push_back(sampler_ ? feasible_next() : sequence_.next());
    return out;
  }
  void tell(const Observation& observation) override {  // proposals ignore results, but a pool's row is used
    if (pool_) pool_->told(observation.x);
  }

 private:
  Point feasible_next() {
    Point x;
    for (int tries = 0; tries < kSobolTries && x.size() == 0; ++tries)
      if (Point s = space_.canonical(sequence_.next()); space_.feasible(s)) x = std::move(s);
    if (x.size() == 0) {
      double far = -1;
      for (int k = 0; k < kPool; ++k) {
        Point candidate = sampler_->next(rng_);
        double nearest = std::numeric_limits<double>::infinity();
        for (const Point& p : previous_) nearest = std::min(nearest, (p - candidate).squaredNorm());
        if (nearest > far) far = nearest, x = std::move(candidate);
      }
    }
    previous_.push_back(x);
    if (previous_.size() > kRemembered) previous_.pop_front();
    return x;
  }

  Space space_;
  SobolSequence sequence_;
  std::mt19937_64 rng_;                     // the sampler's draws (constraints only)
  std::optional<FeasibleSampler> sampler_;  // with constraints only
  std::deque<Point> previous_;
  std::optional<PoolChoice> pool_;
};

}  // namespace

std::unique_ptr<Planner> make_sobol_planner(const PlannerContext& context) {
  check_planner_options(context, {});
  if (context.space.cube_dim() > SobolSequence::kMaxDim)
    throw ConfigError(context.source, "/planner/kind",
                      fmt::format("sobol supports at most {} cube dimensions (this space has {}); use \"random\"",
                                  SobolSequence::kMaxDim, context.space.cube_dim()));
  return std::make_unique<SobolPlanner>(context.space, context.seed, pool_choice(context));
}

}  // namespace labloop::detail
