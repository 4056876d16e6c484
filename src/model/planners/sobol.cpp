// Scrambled Sobol points: space-filling, so a fixed budget covers the space evenly.
//
// With linear constraints a Sobol point is kept when its setting meets them (the first of up to
// kSobolTries that does); a thin feasible set (a mixture's simplex has no volume in its box)
// rejects them all, and the point is then the farthest from the previous proposals (the last
// kRemembered) among kPool feasible draws (FeasibleSampler): greedy maximin, still space-filling.
#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <random>

#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/sobol.hpp"
#include "planners.hpp"

namespace labloop::detail {

namespace {

constexpr int kSobolTries = 8, kPool = 32;
constexpr size_t kRemembered = 512;

class SobolPlanner final : public Planner {
 public:
  SobolPlanner(const Space& space, std::uint64_t seed) : space_(space), sequence_(space.cube_dim(), seed + 1), rng_(seed) {  // +1: seed 0 would mean unscrambled
    if (space.constrained()) sampler_.emplace(space);
  }

  std::vector<Point> ask(int q, std::span<const Point>) override {
    std::vector<Point> out;
    for (int i = 0; i < q; ++i) out.push_back(sampler_ ? feasible_next() : sequence_.next());
    return out;
  }
  void tell(const Observation&) override {}  // proposals ignore results

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
};

}  // namespace

std::unique_ptr<Planner> make_sobol_planner(const PlannerContext& context) {
  check_planner_options(context, {});
  if (context.space.cube_dim() > SobolSequence::kMaxDim)
    throw ConfigError(context.source, "/planner/kind",
                      fmt::format("sobol supports at most {} cube dimensions (this space has {}); use \"random\"",
                                  SobolSequence::kMaxDim, context.space.cube_dim()));
  return std::make_unique<SobolPlanner>(context.space, context.seed);
}

}  // namespace labloop::detail
