// Scrambled Sobol points: space-filling, so a fixed budget covers the space evenly.
#include "labloop/model/sobol.hpp"

#include "planners.hpp"

namespace labloop::detail {

namespace {

class SobolPlanner final : public Planner {
 public:
  SobolPlanner(int dim, std::uint64_t seed) : sequence_(dim, seed + 1) {}  // +1: seed 0 would mean unscrambled

  std::vector<Point> ask(int q, std::span<const Point>) override {
    std::vector<Point> out;
    for (int i = 0; i < q; ++i) out.push_back(sequence_.next());
    return out;
  }
  void tell(const Observation&) override {}  // proposals ignore results

 private:
  SobolSequence sequence_;
};

}  // namespace

std::unique_ptr<Planner> make_sobol_planner(const PlannerContext& context) {
  check_planner_options(context, {});
  if (context.space.cube_dim() > SobolSequence::kMaxDim)
    throw ConfigError(context.source, "/planner/kind",
                      fmt::format("sobol supports at most {} cube dimensions (this space has {}); use \"random\"",
                                  SobolSequence::kMaxDim, context.space.cube_dim()));
  return std::make_unique<SobolPlanner>(context.space.cube_dim(), context.seed);
}

}  // namespace labloop::detail
