// Uniform random search: the baseline every other planner must beat.
#include <random>

#include "planners.hpp"

namespace labloop::detail {

namespace {

class RandomPlanner final : public Planner {
 public:
  RandomPlanner(int dim, std::uint64_t seed) : dim_(dim), rng_(seed) {}

  std::vector<Point> ask(int q, std::span<const Point>) override {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<Point> out;
    for (int i = 0; i < q; ++i) {
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
};

}  // namespace

std::unique_ptr<Planner> make_random_planner(const PlannerContext& context) {
  check_planner_options(context, {});
  return std::make_unique<RandomPlanner>(context.space.cube_dim(), context.seed);
}

}  // namespace labloop::detail
