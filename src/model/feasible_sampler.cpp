// Feasible points by hit-and-run: uniform on box ∩ constraints in the limit, with no rejection
// step, so its cost does not grow with how small the feasible set is (a 10-component simplex is
// 1/10! of its box: rejection would need millions of draws per point).
#include "labloop/model/feasible_sampler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "labloop/core/error.hpp"

namespace labloop {

namespace {

// Moves before the first draw, from the interior point.
constexpr int kBurnIn = 200;
constexpr int kMaxRepairs = 100;

}  // namespace

FeasibleSampler::FeasibleSampler(const Space& space) : space_(space) {
  // Mixing of hit-and-run grows about with the square of the dimension; points a few times the
  // dimension apart are close enough to independent for candidate pools and designs.
  thinning_ = 3 * space_.region().reduced_dim() + 5;
}

Eigen::VectorXd FeasibleSampler::next(std::mt19937_64& rng) {
  const FeasibleRegion& region = space_.region();
  if (!started_) {
    y_ = region.centre();
    region.hit_and_run(y_, region.lower(), region.upper(), kBurnIn, rng);
    started_ = true;
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int attempt = 0; attempt < kMaxRepairs; ++attempt) {
    region.hit_and_run(y_, region.lower(), region.upper(), thinning_, rng);
    Eigen::VectorXd x(space_.cube_dim());
    for (Eigen::Index d = 0; d < x.size(); ++d) x[d] = uniform(rng);
    x = region.expand(y_, std::move(x));
    if (auto repaired = space_.repair(x)) return *repaired;
    ++misses_;
  }
  throw PlannerError(fmt::format("no setting meeting the constraints was found in {} draws: integer or discrete parameters in "
                                 "equalities may have no solution among their whole values or levels; make them continuous or loosen the "
                                 "constraints",
                                 kMaxRepairs));
}

int FeasibleSampler::design_pool(int n) { return std::min(std::max(10 * n, 64), 4096); }

double FeasibleSampler::draw_flops() const {
  const FeasibleRegion& region = space_.region();
  const double k = region.reduced_dim();
  const double rows = static_cast<double>(region.inequality_rows().rows() + region.equality_rows().rows());
  return thinning_ * k * (4 * rows + 10);
}

std::vector<Eigen::VectorXd> FeasibleSampler::design(int n, std::mt19937_64& rng, int max_draws) {
  std::vector<Eigen::VectorXd> pool;
  int size = design_pool(n);
  if (max_draws < size) size = std::max(max_draws, 1), n = std::min(n, size);
  for (int i = 0; i < size; ++i) pool.push_back(next(rng));
  std::vector<Eigen::VectorXd> chosen;
  std::vector<double> nearest(pool.size(), std::numeric_limits<double>::infinity());
  std::vector<bool> taken(pool.size(), false);
  size_t pick = std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng);
  while (static_cast<int>(chosen.size()) < n) {
    chosen.push_back(pool[pick]);
    taken[pick] = true;
    double far = -1;
    for (size_t i = 0; i < pool.size(); ++i) {
      if (taken[i]) continue;
      nearest[i] = std::min(nearest[i], (pool[i] - pool[pick]).squaredNorm());
      if (nearest[i] > far) far = nearest[i], pick = i;
    }
    if (far < 0) break;  // pool used up (n larger than the pool): stop; callers draw more
  }
  while (static_cast<int>(chosen.size()) < n) chosen.push_back(next(rng));
  return chosen;
}

}  // namespace labloop
