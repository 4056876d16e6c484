#include "pool_choice.hpp"

#include <algorithm>

namespace labloop::detail {

int PoolChoice::begin(int q, std::span<const Point> pending) {
  open_ = pool_.untested(pending);
  return static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(q, 0)), open_.size()));
}

Point PoolChoice::take(size_t position) {
  Point x = pool_.row(open_[position]);
  // Kept in order (not swapped out) so "the first of equals" means the lowest row.
  open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(position));
  return x;
}

Point PoolChoice::take_random(std::mt19937_64& rng) {
  std::uniform_int_distribution<size_t> pick(0, open_.size() - 1);
  return take(pick(rng));
}

}  // namespace labloop::detail
