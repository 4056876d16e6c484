#pragma once
// Internal: what the Bayesian planner has been told, shared by its model selection (which fits
// to it) and its acquisition optimizer (which centres the trust region on it and keeps proposals
// away from it). Points are in the unit cube; values are "smaller is better".
#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace labloop::detail {

struct Observations {
  struct Arrival {
    size_t index;  // into xs/ys, or into failed
    bool failed;
  };

  std::vector<Eigen::VectorXd> xs;
  std::vector<double> ys;
  std::vector<Eigen::VectorXd> failed;
  std::vector<Arrival> arrivals;  // every result in the order it was told

  void add(const Eigen::VectorXd& x, double y) {
    arrivals.push_back({xs.size(), false});
    xs.push_back(x);
    ys.push_back(y);
  }
  void add_failed(const Eigen::VectorXd& x) {
    arrivals.push_back({failed.size(), true});
    failed.push_back(x);
  }

  const Eigen::VectorXd& point(const Arrival& a) const { return a.failed ? failed[a.index] : xs[a.index]; }
  // Index into xs/ys of the best (smallest) value; the first of equals. Needs at least one value.
  size_t best() const { return static_cast<size_t>(std::min_element(ys.begin(), ys.end()) - ys.begin()); }

  // Whether x (all but) coincides with one of `points` or with a point observed or failed: such
  // a proposal would repeat an experiment.
  bool near_any(const Eigen::VectorXd& x, const std::vector<Eigen::VectorXd>& points) const {
    for (const auto& p : points)
      if ((p - x).squaredNorm() < 1e-12) return true;
    for (const auto* list : {&xs, &failed})
      for (const auto& p : *list)
        if ((p - x).squaredNorm() < 1e-12) return true;
    return false;
  }
};

}  // namespace labloop::detail
