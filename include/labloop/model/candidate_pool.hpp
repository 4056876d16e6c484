#pragma once
// A fixed list of feasible settings ("candidates": "plate.csv"), as planners see it: each row a
// canonical point of the unit cube (Space::canonical(Space::encode(params))), plus which rows have
// already been tried. With a pool a planner proposes only its rows, never one twice
// (docs/decisions/0009-candidate-pools.md).
//
// A point is matched to a row when every coordinate lies within kMatchTolerance of it (the
// nearest such row); rows are hashed on a grid of kCell, so a match costs a few hash look-ups,
// not a scan, even for a million rows. Reading and checking the file is the campaign's business
// (campaign/candidates.hpp); this is only the typed value.
//
// Not thread-safe; a value (copying it copies the rows and the marks).
#include <Eigen/Core>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace labloop {

class CandidatePool {
 public:
  // Largest coordinate difference at which a point still is a row: a user-unit round trip
  // (decode, then encode) moves a point by ~1e-16, distinct rows differ by far more than this.
  static constexpr double kMatchTolerance = 1e-9;

  CandidatePool() = default;
  // `rows`: n × cube_dim, one canonical point per row (the caller snaps them). Rows closer than
  // kMatchTolerance are the same row to find(); callers refuse such duplicates (duplicates()).
  explicit CandidatePool(Eigen::MatrixXd rows);

  Eigen::Index size() const { return rows_.rows(); }
  bool empty() const { return rows_.rows() == 0; }
  Eigen::Index dim() const { return rows_.cols(); }
  const Eigen::MatrixXd& rows() const { return rows_; }
  Eigen::VectorXd row(Eigen::Index i) const { return rows_.row(i).transpose(); }

  // The row `x` is (the nearest within kMatchTolerance in every coordinate; the first of equals),
  // or nothing when x is no row.
  std::optional<Eigen::Index> find(const Eigen::VectorXd& x) const;
  // Every row within kMatchTolerance of x, ascending.
  std::vector<Eigen::Index> matches(const Eigen::VectorXd& x) const;
  // Pairs (first, later) of rows that are the same point (each later row once, with the first
  // row it repeats), ascending by the later row; empty for a usable pool.
  std::vector<std::pair<Eigen::Index, Eigen::Index>> duplicates() const;

  // A result was told at `x`: its row (if any) is used from now on. Returns the row.
  std::optional<Eigen::Index> mark_used(const Eigen::VectorXd& x);
  bool used(Eigen::Index i) const { return used_[static_cast<size_t>(i)]; }
  Eigen::Index used_count() const { return used_count_; }
  // The rows neither used nor one of `pending` (points dispatched, no result yet), ascending.
  std::vector<Eigen::Index> untested(std::span<const Eigen::VectorXd> pending) const;
  // Of `among` (row indices, not empty), the position of the row nearest x (Euclidean in the
  // cube; the first of equals).
  size_t nearest(const Eigen::VectorXd& x, const std::vector<Eigen::Index>& among) const;

 private:
  static constexpr double kCell = 1e-6;
  std::uint64_t cell_hash(const Eigen::VectorXd& x, const std::vector<int>* bump) const;

  Eigen::MatrixXd rows_;
  std::vector<std::pair<std::uint64_t, Eigen::Index>> index_;  // (cell hash, row), sorted
  std::vector<bool> used_;
  Eigen::Index used_count_ = 0;
};

}  // namespace labloop
