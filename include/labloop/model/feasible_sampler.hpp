#pragma once
// Points of a constrained space, drawn so that mixtures and simplices are never starved: a
// hit-and-run chain (FeasibleRegion::hit_and_run) over the constrained coordinates, started at
// the region's interior point, thinned between draws; other coordinates (categorical choices,
// parameters no constraint names) are drawn uniformly. Every point returned is canonical and
// meets the constraints (Space::repair after rounding integers).
//
// With Space::sampling() rounded, the chain's directions follow the region's shape, estimated
// during burn-in (a long thin region is sampled across its length, not near its centre): where
// the chain moves in 2 or more dimensions and isotropic directions are not drawn by projection
// (FeasibleRegion::directions_by_projection: from 64 constrained coordinates with few
// equalities). Burn-in is then 4 rounds of max(200, 10 m) moves instead of 200 (m the dimension
// moved in, below 64), each draw costs what it did. Otherwise, and for isotropic spaces, the
// draws are exactly those of before rounding existed.
#include <Eigen/Core>
#include <limits>
#include <random>
#include <vector>

#include "labloop/model/space.hpp"

namespace labloop {

class FeasibleSampler {
 public:
  // `space` must be constrained; it is copied.
  explicit FeasibleSampler(const Space& space);

  // The next point; `rng` drives the chain. Throws PlannerError when 100 draws in a row give
  // no setting meeting the constraints after rounding (integers in equalities with no
  // whole-number solution).
  Eigen::VectorXd next(std::mt19937_64& rng);
  // n points spread over the feasible set: greedy maximin (each the pool point farthest from
  // those chosen, starting from a random one) out of a pool of max(10 n, 64) draws, at most 4096.
  // With `max_draws` below that pool, the pool is max(max_draws, 1) draws and at most that many
  // points are returned (the caller draws the rest with next()).
  std::vector<Eigen::VectorXd> design(int n, std::mt19937_64& rng, int max_draws = std::numeric_limits<int>::max());
  // The pool design(n) draws without a max_draws.
  static int design_pool(int n);
  // Floating-point operations one draw's hit-and-run takes, about (thinning × the work of a step:
  // a direction, then every inequality row and box side against it): what a draw costs, counted
  // the same on every machine.
  double draw_flops() const;

  // Hit-and-run moves between draws: enough for the chain to forget where it was (a few times
  // the dimension it moves in).
  int thinning() const { return thinning_; }
  // Draws whose rounding no repair could make meet the constraints, so far (each one is thrown
  // away and drawn again): how rare whole-number solutions are, for the config's check.
  long long misses() const { return misses_; }

 private:
  void burn_in(std::mt19937_64& rng);

  Space space_;
  Eigen::VectorXd y_;  // the chain's position (reduced coordinates)
  bool rounded_ = false;
  Eigen::MatrixXd directions_;  // rounded: the shaped directions (k × m), fixed after burn-in
  bool started_ = false;
  int thinning_ = 1;
  long long misses_ = 0;
};

}  // namespace labloop
