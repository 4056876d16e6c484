// Exact hypervolume and the box decomposition of the non-dominated region, M ≤ 4 (minimization).
//
// Preparation, shared by both: drop rows with a NaN and rows not strictly below the reference in
// every objective (they dominate nothing below it), then keep the Pareto set.
//
// Hypervolume.
//   M = 1: r − min y.
//   M = 2: sort by y₁; on the front y₂ decreases, so HV = Σ_i (x_{i+1} − x_i)(r₂ − y₂ᵢ) with
//          x_{n+1} = r₁. O(n log n).
//   M = 3: dimension sweep along y₃ (Fonseca, Paquete, López-Ibáñez, "An improved dimension-sweep
//          algorithm for the hypervolume indicator", CEC 2006; Beume et al., "On the complexity of
//          computing the hypervolume indicator", IEEE TEC 2009): points enter in increasing y₃; a
//          balanced tree holds the 2-D staircase of the (y₁, y₂) projections and its area A, which
//          each insertion updates by the new point's exclusive area (walking over the staircase
//          points it removes, each removed once). HV = Σ A·(next y₃ − y₃). O(n log n).
//   M = 4: slicing along y₄ (HSO, While et al., "A faster algorithm for calculating hypervolume",
//          IEEE TEC 2006): between consecutive y₄ values the dominated set is the 3-D one of the
//          points already passed, so HV = Σ_k (s_{k+1} − s_k)·HV₃(points with y₄ ≤ s_k).
//          O(n² log n): 200 points take milliseconds.
//
// Box decomposition of {z < r : no y in Y with y ≤ z}, the same slicing with merging:
//   M = 1: [−∞, min(min y, r)).
//   M = 2: with the staircase p₁…p_k sorted by y₁, the k+1 boxes [−∞, p₁₁)×[−∞, r₂) and
//          [p_i1, p_{i+1,1})×[−∞, p_i2) (p_{k+1,1} = r₁).
//   M ≥ 3: along the last objective the region is, between consecutive breakpoints s_k (the
//          distinct values of y_M), the (M−1)-D region of the points with y_M ≤ s_k times the
//          slab [s_k, s_{k+1}). The (M−1)-D decomposition of a point set is canonical (a function
//          of the set), so a box that appears in consecutive slabs is extended instead of split:
//          a box opens at the slab where it appears and closes where it disappears. Adding one
//          point to a 2-D staircase replaces O(1 + points it removes) boxes, hence O(n) boxes for
//          M = 3; for M = 4 the count is measured (docs/decisions/0006-multi-objective.md).
// The boxes are disjoint because the slabs are and each slab's (M−1)-D boxes are. Yang, Emmerich,
// Deutz, Bäck, "Efficient computation of expected hypervolume improvement using box decomposition
// algorithms", J Glob Optim 75, 2019, compute EHVI over such a decomposition; Lacour, Klamroth,
// Fonseca (2017) give smaller decompositions for M ≥ 4, not needed at our front sizes.
//
// The improvement of a point y is then exact and free of cancellation:
//   HVI(y) = Σ_boxes Π_j max(0, u_j − max(y_j, l_j)).
#include "labloop/model/hypervolume.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <map>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/model/pareto.hpp"

namespace labloop {

namespace {

constexpr double kHvInf = std::numeric_limits<double>::infinity();

using HvPoint = std::array<double, kMaxHypervolumeObjectives>;

struct HvBox {
  HvPoint lower;
  HvPoint upper;
};

void hv_check_reference(const Eigen::VectorXd& reference, Eigen::Index M, const char* where) {
  if (M < 1 || M > kMaxHypervolumeObjectives)
    throw PlannerError(fmt::format("{}: {} objectives; hypervolumes are computed exactly for 1 to {} "
                                   "(use ParEGO's scalarization beyond that)",
                                   where, M, kMaxHypervolumeObjectives));
  if (reference.size() != M)
    throw PlannerError(fmt::format("{}: the reference point has {} entries for {} objectives", where, reference.size(), M));
  if (!reference.allFinite()) throw PlannerError(fmt::format("{}: the reference point must be finite", where));
}

// The Pareto set of the rows strictly below the reference, as fixed-size points.
std::vector<HvPoint> hv_prepare(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference, const char* where) {
  const Eigen::Index M = Y.cols();
  hv_check_reference(reference, M, where);
  std::vector<Eigen::Index> inside;
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    if (Y.row(i).array().isNaN().any()) continue;
    if (!(Y.row(i).transpose().array() < reference.array()).all()) continue;
    if (!Y.row(i).allFinite())
      throw PlannerError(fmt::format("{}: row {} has an objective value of -inf (infinite hypervolume)", where, i));
    inside.push_back(i);
  }
  Eigen::MatrixXd kept(static_cast<Eigen::Index>(inside.size()), M);
  for (size_t k = 0; k < inside.size(); ++k) kept.row(static_cast<Eigen::Index>(k)) = Y.row(inside[k]);
  std::vector<HvPoint> out;
  for (const Eigen::Index i : non_dominated(kept)) {
    HvPoint p{};
    for (Eigen::Index j = 0; j < M; ++j) p[static_cast<size_t>(j)] = kept(i, j);
    out.push_back(p);
  }
  return out;
}

// --- hypervolume -----------------------------------------------------------------------------

// The 2-D staircase of a 3-D sweep: key y₁ → y₂ (y₂ strictly decreasing in y₁), with its area
// relative to (r₁, r₂).
class HvStaircase {
 public:
  HvStaircase(double r1, double r2) : r1_(r1), r2_(r2) {}

  void insert(double x, double y) {
    auto after = steps_.upper_bound(x);
    double level = r2_;  // the staircase's height just right of x
    if (after != steps_.begin()) {
      level = std::prev(after)->second;
      if (level <= y) return;  // weakly dominated: nothing changes
    }
    // Exclusive area of (x, y): ∫_x^{r₁} max(0, level(t) − y) dt over the old staircase.
    double at = x;
    bool closed = false;
    for (auto it = after; it != steps_.end(); ++it) {
      area_ += (it->first - at) * (level - y);
      at = it->first;
      level = it->second;
      if (level <= y) {
        closed = true;
        break;
      }
    }
    if (!closed) area_ += (r1_ - at) * (level - y);
    // Steps at or right of x with y₂ ≥ y are now dominated; they are contiguous.
    auto first = steps_.lower_bound(x);
    auto last = first;
    while (last != steps_.end() && last->second >= y) ++last;
    steps_.erase(first, last);
    steps_.emplace(x, y);
  }

  double area() const { return area_; }

 private:
  double r1_, r2_;
  double area_ = 0.0;
  std::map<double, double> steps_;
};

double hv_1d(const std::vector<HvPoint>& points, const Eigen::VectorXd& r) {
  double best = r(0);
  for (const auto& p : points) best = std::min(best, p[0]);
  return r(0) - best;
}

double hv_2d(std::vector<HvPoint> points, const Eigen::VectorXd& r) {
  std::sort(points.begin(), points.end(), [](const HvPoint& a, const HvPoint& b) { return a[0] < b[0]; });
  double volume = 0.0;
  double level = r(1);
  for (size_t i = 0; i < points.size(); ++i) {
    level = std::min(level, points[i][1]);
    const double next = i + 1 < points.size() ? points[i + 1][0] : r(0);
    volume += (next - points[i][0]) * (r(1) - level);
  }
  return volume;
}

double hv_3d(std::vector<HvPoint> points, const Eigen::VectorXd& r) {
  std::sort(points.begin(), points.end(), [](const HvPoint& a, const HvPoint& b) { return a[2] < b[2]; });
  HvStaircase staircase(r(0), r(1));
  double volume = 0.0;
  for (size_t i = 0; i < points.size(); ++i) {
    staircase.insert(points[i][0], points[i][1]);
    const double next = i + 1 < points.size() ? points[i + 1][2] : r(2);
    volume += staircase.area() * (next - points[i][2]);
  }
  return volume;
}

double hv_4d(std::vector<HvPoint> points, const Eigen::VectorXd& r) {
  std::sort(points.begin(), points.end(), [](const HvPoint& a, const HvPoint& b) { return a[3] < b[3]; });
  const Eigen::VectorXd r3 = r.head(3);
  double volume = 0.0;
  std::vector<HvPoint> passed;
  for (size_t i = 0; i < points.size(); ++i) {
    passed.push_back(points[i]);
    const double next = i + 1 < points.size() ? points[i + 1][3] : r(3);
    if (next > points[i][3]) volume += hv_3d(passed, r3) * (next - points[i][3]);
  }
  return volume;
}

// --- box decomposition -----------------------------------------------------------------------

std::vector<HvBox> hv_boxes(const std::vector<HvPoint>& points, const Eigen::VectorXd& r, size_t m);

std::vector<HvBox> hv_boxes_1d(const std::vector<HvPoint>& points, const Eigen::VectorXd& r) {
  HvBox box{};
  box.lower[0] = -kHvInf;
  box.upper[0] = r(0);
  for (const auto& p : points) box.upper[0] = std::min(box.upper[0], p[0]);
  return {box};
}

std::vector<HvBox> hv_boxes_2d(std::vector<HvPoint> points, const Eigen::VectorXd& r) {
  std::sort(points.begin(), points.end(),
            [](const HvPoint& a, const HvPoint& b) { return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]); });
  // The staircase: y₁ strictly increasing, y₂ strictly decreasing (projections may be dominated).
  std::vector<HvPoint> steps;
  for (const auto& p : points)
    if (steps.empty() || p[1] < steps.back()[1]) steps.push_back(p);
  std::vector<HvBox> boxes;
  HvBox first{};
  first.lower[0] = -kHvInf;
  first.upper[0] = steps.empty() ? r(0) : steps.front()[0];
  first.lower[1] = -kHvInf;
  first.upper[1] = r(1);
  boxes.push_back(first);
  for (size_t i = 0; i < steps.size(); ++i) {
    HvBox box{};
    box.lower[0] = steps[i][0];
    box.upper[0] = i + 1 < steps.size() ? steps[i + 1][0] : r(0);
    box.lower[1] = -kHvInf;
    box.upper[1] = steps[i][1];
    boxes.push_back(box);
  }
  return boxes;
}

// m ≥ 3: slabs along objective m−1, boxes of consecutive slabs merged (see the top of the file).
std::vector<HvBox> hv_boxes_sliced(std::vector<HvPoint> points, const Eigen::VectorXd& r, size_t m) {
  const size_t last = m - 1;
  std::sort(points.begin(), points.end(), [&](const HvPoint& a, const HvPoint& b) { return a[last] < b[last]; });
  const Eigen::VectorXd r_head = r.head(static_cast<Eigen::Index>(last));
  // Open boxes of the (m−1)-D decomposition, keyed by their bounds, → where their slab run began.
  std::map<std::vector<double>, double> open;
  std::vector<HvBox> out;
  auto key_of = [&](const HvBox& box) {
    std::vector<double> key(2 * last);
    for (size_t j = 0; j < last; ++j) {
      key[j] = box.lower[j];
      key[last + j] = box.upper[j];
    }
    return key;
  };
  auto close = [&](const std::vector<double>& key, double start, double end) {
    HvBox box{};
    for (size_t j = 0; j < last; ++j) {
      box.lower[j] = key[j];
      box.upper[j] = key[last + j];
    }
    box.lower[last] = start;
    box.upper[last] = end;
    out.push_back(box);
  };
  std::vector<HvPoint> passed;
  double slab_start = -kHvInf;
  size_t next = 0;
  while (true) {
    std::map<std::vector<double>, double> now;
    for (const auto& box : hv_boxes(passed, r_head, last)) {
      auto key = key_of(box);
      const auto found = open.find(key);
      now.emplace(std::move(key), found == open.end() ? slab_start : found->second);
    }
    for (const auto& [key, start] : open)
      if (now.find(key) == now.end()) close(key, start, slab_start);
    open = std::move(now);
    if (next == points.size()) break;
    slab_start = points[next][last];
    while (next < points.size() && points[next][last] == slab_start) passed.push_back(points[next++]);
  }
  for (const auto& [key, start] : open) close(key, start, r(static_cast<Eigen::Index>(last)));
  return out;
}

std::vector<HvBox> hv_boxes(const std::vector<HvPoint>& points, const Eigen::VectorXd& r, size_t m) {
  if (m == 1) return hv_boxes_1d(points, r);
  if (m == 2) return hv_boxes_2d(points, r);
  return hv_boxes_sliced(points, r, m);
}

}  // namespace

double hypervolume(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference) {
  const auto points = hv_prepare(Y, reference, "hypervolume");
  if (points.empty()) return 0.0;
  switch (Y.cols()) {
    case 1: return hv_1d(points, reference);
    case 2: return hv_2d(points, reference);
    case 3: return hv_3d(points, reference);
    default: return hv_4d(points, reference);
  }
}

BoxDecomposition non_dominated_boxes(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference) {
  const auto points = hv_prepare(Y, reference, "non_dominated_boxes");
  const size_t m = static_cast<size_t>(Y.cols());
  const auto boxes = hv_boxes(points, reference, m);
  BoxDecomposition out;
  out.lower.resize(static_cast<Eigen::Index>(boxes.size()), Y.cols());
  out.upper.resize(static_cast<Eigen::Index>(boxes.size()), Y.cols());
  for (size_t k = 0; k < boxes.size(); ++k)
    for (size_t j = 0; j < m; ++j) {
      out.lower(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) = boxes[k].lower[j];
      out.upper(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) = boxes[k].upper[j];
    }
  return out;
}

double hypervolume_improvement(const BoxDecomposition& boxes, const Eigen::VectorXd& y) {
  if (y.size() != boxes.lower.cols())
    throw PlannerError(fmt::format("hypervolume_improvement: the point has {} entries for {} objectives", y.size(),
                                   boxes.lower.cols()));
  if (y.array().isNaN().any()) throw PlannerError("hypervolume_improvement: the point has a NaN objective");
  double total = 0.0;
  for (Eigen::Index k = 0; k < boxes.size(); ++k) {
    double volume = 1.0;
    for (Eigen::Index j = 0; j < y.size() && volume > 0.0; ++j)
      volume *= std::max(0.0, boxes.upper(k, j) - std::max(y(j), boxes.lower(k, j)));
    total += volume;
  }
  return total;
}

double hypervolume_improvement(const Eigen::MatrixXd& Y, const Eigen::VectorXd& reference, const Eigen::VectorXd& y) {
  return hypervolume_improvement(non_dominated_boxes(Y, reference), y);
}

}  // namespace labloop
