#pragma once
// Internal: how every planner keeps to a candidate pool (labloop/model/candidate_pool.hpp). One
// helper, so that "never leave the pool, never repeat a row" is decided in one place: an ask
// starts with the rows neither told nor pending (begin), and every point it proposes is taken
// from those, so a batch never holds a row twice. Planners differ only in which open row they
// take: random a uniform one, sobol the nearest to each Sobol point, bayesian the best by the
// acquisition.
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "labloop/model/candidate_pool.hpp"
#include "labloop/model/planner.hpp"

namespace labloop::detail {

class PoolChoice {
 public:
  explicit PoolChoice(CandidatePool pool) : pool_(std::move(pool)) {}

  // Starts an ask for q points with `pending` still running: how many the ask can give,
  // min(q, open rows). 0 means the pool is exhausted (every row told or pending).
  int begin(int q, std::span<const Point> pending);
  // The open rows (indices into the pool), ascending, less those taken since begin().
  const std::vector<Eigen::Index>& open() const { return open_; }
  const CandidatePool& pool() const { return pool_; }

  // Takes the open row at `position` of open(): its point, no longer open.
  Point take(size_t position);
  // Takes the open row nearest x (Euclidean in the cube; needs an open row).
  Point take_nearest(const Point& x) { return take(pool_.nearest(x, open_)); }
  // Takes an open row chosen uniformly (needs an open row).
  Point take_random(std::mt19937_64& rng);
  // A result arrived at x: its row is never open again.
  void told(const Point& x) { pool_.mark_used(x); }

 private:
  CandidatePool pool_;
  std::vector<Eigen::Index> open_;
};

// The planner's copy of the context's pool, or nothing without one.
inline std::optional<PoolChoice> pool_choice(const PlannerContext& context) {
  if (!context.candidates) return std::nullopt;
  return PoolChoice(*context.candidates);
}

}  // namespace labloop::detail
