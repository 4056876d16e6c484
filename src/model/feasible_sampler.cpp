// Feasible points by hit-and-run: uniform on box ∩ constraints in the limit, with no rejection
// step, so its cost does not grow with how small the feasible set is (a 10-component simplex is
// 1/10! of its box: rejection would need millions of draws per point).
//
// Rounding (ConstraintSampling::rounded): isotropic hit-and-run mixes in a time that grows with
// the square of the region's aspect ratio (Lovász 1999), since most directions cross a thin region
// in a chord as short as its width: in a mixture with x3 <= 0.0003, 40 draws had x1 between 0.50
// and 0.63, where it ranges over [0, 1]. The cure is to move along directions
// shaped like the region (Lovász & Vempala 2006 round the body first; Haraldsdóttir et al. 2017,
// "CHRR", do it for metabolic polytopes): during burn-in the chain's covariance C is estimated in
// the moving basis N in a few rounds, each round's moves shaped by the previous round's estimate,
// so each round sees the region at a better aspect ratio; afterwards the shaped directions
// N·V·Λ^½ z (C = V Λ Vᵀ) are fixed, alternating with isotropic ones (FeasibleRegion::hit_and_run
// with directions), and both kinds leave the uniform distribution invariant.
#include "labloop/model/feasible_sampler.hpp"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "labloop/core/error.hpp"

namespace labloop {

namespace {

// Moves before the first draw, from the interior point.
constexpr int kBurnIn = 200;
constexpr int kMaxRepairs = 100;
// Rounding's burn-in: rounds of max(kBurnIn, kRoundingStepsPerDim × m) moves each (m = the
// dimension the chain moves in), the first along isotropic directions. Three shaped rounds take
// an aspect ratio of thousands (a cap of 0.0003 on a unit range) to nearly round: each round's
// estimate is limited by how far its chain got, which the previous round's shape multiplied.
constexpr int kRoundingRounds = 4;
constexpr int kRoundingStepsPerDim = 10;
// The estimate's smallest eigenvalue relative to its largest: a direction the chain never
// varied in keeps a little weight (regions thinner than 1e-4 of a constraint's scale are made
// flat before sampling: FeasibleRegion::find_centre), and no slope of a direction falls below
// hit-and-run's 1e-14 cut-off.
constexpr double kRoundingFloor = 1e-10;

// The shaped directions N·V·Λ^½ (largest weight 1) for the covariance of `samples` (one row per
// position, moving-basis coordinates); nothing when the chain did not move.
std::optional<Eigen::MatrixXd> shape_of_samples(const Eigen::MatrixXd& basis, const Eigen::MatrixXd& samples) {
  const Eigen::MatrixXd centred = samples.rowwise() - samples.colwise().mean();
  const Eigen::MatrixXd covariance = centred.transpose() * centred / static_cast<double>(std::max<Eigen::Index>(samples.rows() - 1, 1));
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(covariance);
  if (eigen.info() != Eigen::Success) return std::nullopt;
  const double largest = eigen.eigenvalues().maxCoeff();
  if (!(largest > 0) || !std::isfinite(largest)) return std::nullopt;
  const Eigen::VectorXd weight = (eigen.eigenvalues() / largest).cwiseMax(kRoundingFloor).cwiseSqrt();
  return Eigen::MatrixXd(basis * eigen.eigenvectors() * weight.asDiagonal());
}

}  // namespace

FeasibleSampler::FeasibleSampler(const Space& space) : space_(space) {
  // Mixing of hit-and-run grows about with the square of the dimension; points a few times the
  // dimension apart are close enough to independent for candidate pools and designs.
  thinning_ = 3 * space_.region().reduced_dim() + 5;
  // Shaped directions cost k·m flops each, as the isotropic ones do except where those are drawn
  // by projection (64 constrained coordinates and more, few equalities: 300 parameters in one
  // mixture), which is where rounding stops, so no draw costs more than before. With one
  // direction to move along there is nothing to shape.
  const FeasibleRegion& region = space_.region();
  rounded_ = space_.sampling() == ConstraintSampling::rounded && region.moving_basis().cols() > 1 && !region.directions_by_projection();
}

void FeasibleSampler::burn_in(std::mt19937_64& rng) {
  const FeasibleRegion& region = space_.region();
  y_ = region.centre();
  if (!rounded_) return region.hit_and_run(y_, region.lower(), region.upper(), kBurnIn, rng);
  const Eigen::MatrixXd& basis = region.moving_basis();
  // A position every two moves: a shaped one and an isotropic one (hit_and_run alternates them
  // from the start of each call).
  const Eigen::Index positions = std::max<Eigen::Index>(kBurnIn, kRoundingStepsPerDim * basis.cols()) / 2;
  Eigen::MatrixXd samples(positions, basis.cols());
  for (int round = 0; round < kRoundingRounds; ++round) {
    for (Eigen::Index i = 0; i < positions; ++i) {
      region.hit_and_run(y_, region.lower(), region.upper(), 2, rng, directions_);
      samples.row(i) = (basis.transpose() * y_).transpose();
    }
    if (auto shape = shape_of_samples(basis, samples)) directions_ = std::move(*shape);
  }
}

Eigen::VectorXd FeasibleSampler::next(std::mt19937_64& rng) {
  const FeasibleRegion& region = space_.region();
  if (!started_) {
    burn_in(rng);
    started_ = true;
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int attempt = 0; attempt < kMaxRepairs; ++attempt) {
    if (rounded_) region.hit_and_run(y_, region.lower(), region.upper(), thinning_, rng, directions_);
    else region.hit_and_run(y_, region.lower(), region.upper(), thinning_, rng);
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
