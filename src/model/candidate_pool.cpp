// Matching points to rows: every row is filed under the hash of its grid cell (floor(x / kCell +
// kGridShift) per coordinate). A point within kMatchTolerance of a row shares its cell in every coordinate
// except where the row lies within the tolerance of a cell boundary; look-ups therefore also try
// the neighbouring cell in those coordinates (usually none, so one hash look-up), then compare
// the candidates exactly. With more than kMaxAmbiguous such coordinates (a point built to sit on
// boundaries) it scans every row instead: slower, same answer.
#include "labloop/model/candidate_pool.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace labloop {

namespace {

constexpr int kMaxAmbiguous = 10;
// The grid is shifted by this fraction of a cell (1 - 1/φ): unshifted, round values (0.1, 0.25,
// six decimals) sat on cell boundaries in every coordinate, so each look-up of a plate of round
// settings in 11 or more columns scanned every row (100,000 rows: over a minute). Shifted by an
// irrational fraction, no decimal grid meets a boundary.
constexpr double kGridShift = 0.3819660112501051;

double cell_of(double v, double cell) { return std::floor(v / cell + kGridShift); }

std::uint64_t mix(std::uint64_t h, std::int64_t v) {
  // splitmix64 finalizer over the running hash: cells of neighbouring rows spread out.
  std::uint64_t z = h ^ (static_cast<std::uint64_t>(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double max_difference(const Eigen::MatrixXd& rows, Eigen::Index i, const Eigen::VectorXd& x) {
  return (rows.row(i).transpose() - x).cwiseAbs().maxCoeff();
}

}  // namespace

CandidatePool::CandidatePool(Eigen::MatrixXd rows) : rows_(std::move(rows)), used_(static_cast<size_t>(rows_.rows()), false) {
  index_.reserve(static_cast<size_t>(rows_.rows()));
  for (Eigen::Index i = 0; i < rows_.rows(); ++i) index_.emplace_back(cell_hash(rows_.row(i).transpose(), nullptr), i);
  std::sort(index_.begin(), index_.end());
}

std::uint64_t CandidatePool::cell_hash(const Eigen::VectorXd& x, const std::vector<int>* bump) const {
  std::uint64_t h = 0x84222325cbf29ce4ULL;
  for (Eigen::Index j = 0; j < x.size(); ++j) {
    const auto cell = static_cast<std::int64_t>(cell_of(x[j], kCell));
    h = mix(h, cell + (bump ? (*bump)[static_cast<size_t>(j)] : 0));
  }
  return h;
}

std::vector<Eigen::Index> CandidatePool::matches(const Eigen::VectorXd& x) const {
  std::vector<Eigen::Index> out;
  if (x.size() != dim() || rows_.rows() == 0 || !x.allFinite()) return out;
  auto consider = [&](Eigen::Index i) {
    if (max_difference(rows_, i, x) <= kMatchTolerance) out.push_back(i);
  };
  // Coordinates whose tolerance interval crosses a cell boundary, and which way.
  std::vector<std::pair<Eigen::Index, int>> ambiguous;
  for (Eigen::Index j = 0; j < x.size(); ++j) {
    const double cell = cell_of(x[j], kCell);
    if (cell_of(x[j] - kMatchTolerance, kCell) < cell) ambiguous.emplace_back(j, -1);
    if (cell_of(x[j] + kMatchTolerance, kCell) > cell) ambiguous.emplace_back(j, +1);
  }
  if (static_cast<int>(ambiguous.size()) > kMaxAmbiguous) {
    for (Eigen::Index i = 0; i < rows_.rows(); ++i) consider(i);
    return out;
  }
  std::vector<int> bump(static_cast<size_t>(x.size()), 0);
  for (std::uint32_t mask = 0; mask < (1u << ambiguous.size()); ++mask) {
    std::fill(bump.begin(), bump.end(), 0);
    bool valid = true;
    for (size_t b = 0; b < ambiguous.size(); ++b) {
      if (!((mask >> b) & 1u)) continue;
      int& slot = bump[static_cast<size_t>(ambiguous[b].first)];
      if (slot != 0) valid = false;  // one coordinate cannot move both ways at once
      slot = ambiguous[b].second;
    }
    if (!valid) continue;
    const std::uint64_t h = cell_hash(x, &bump);
    auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(h, Eigen::Index{0}));
    for (; it != index_.end() && it->first == h; ++it) consider(it->second);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());  // hash collisions between cells may list a row twice
  return out;
}

std::optional<Eigen::Index> CandidatePool::find(const Eigen::VectorXd& x) const {
  std::optional<Eigen::Index> best;
  double best_difference = std::numeric_limits<double>::infinity();
  for (Eigen::Index i : matches(x))  // ascending: the first of equals wins
    if (const double d = max_difference(rows_, i, x); d < best_difference) best = i, best_difference = d;
  return best;
}

std::vector<std::pair<Eigen::Index, Eigen::Index>> CandidatePool::duplicates() const {
  std::vector<std::pair<Eigen::Index, Eigen::Index>> out;
  for (Eigen::Index i = 0; i < rows_.rows(); ++i)
    if (const auto same = matches(rows_.row(i).transpose()); !same.empty() && same.front() < i) out.emplace_back(same.front(), i);
  return out;
}

std::optional<Eigen::Index> CandidatePool::mark_used(const Eigen::VectorXd& x) {
  const auto i = find(x);
  if (i && !used_[static_cast<size_t>(*i)]) {
    used_[static_cast<size_t>(*i)] = true;
    ++used_count_;
  }
  return i;
}

std::vector<Eigen::Index> CandidatePool::untested(std::span<const Eigen::VectorXd> pending) const {
  std::vector<bool> taken = used_;
  for (const Eigen::VectorXd& p : pending)
    if (const auto i = find(p)) taken[static_cast<size_t>(*i)] = true;
  std::vector<Eigen::Index> out;
  for (Eigen::Index i = 0; i < rows_.rows(); ++i)
    if (!taken[static_cast<size_t>(i)]) out.push_back(i);
  return out;
}

size_t CandidatePool::nearest(const Eigen::VectorXd& x, const std::vector<Eigen::Index>& among) const {
  size_t best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < among.size(); ++k) {
    const double d = (rows_.row(among[k]).transpose() - x).squaredNorm();
    if (d < best_distance) best = k, best_distance = d;
  }
  return best;
}

}  // namespace labloop
