#include "labloop/model/hypervolume.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "labloop/core/error.hpp"

namespace {

constexpr double kHvTestInf = std::numeric_limits<double>::infinity();

// The hypervolume by brute force on the grid of all coordinates: a grid cell is dominated iff
// some point is ≤ its lower corner. O(n^M·n), independent of the sweep and the slicing.
double hv_test_grid(const Eigen::MatrixXd& Y, const Eigen::VectorXd& r) {
  const Eigen::Index M = Y.cols();
  std::vector<Eigen::Index> rows;
  for (Eigen::Index i = 0; i < Y.rows(); ++i)
    if (!Y.row(i).array().isNaN().any() && (Y.row(i).transpose().array() < r.array()).all()) rows.push_back(i);
  if (rows.empty()) return 0.0;
  std::vector<std::vector<double>> grid(static_cast<size_t>(M));
  for (Eigen::Index j = 0; j < M; ++j) {
    auto& g = grid[static_cast<size_t>(j)];
    for (const auto i : rows) g.push_back(Y(i, j));
    g.push_back(r(j));
    std::sort(g.begin(), g.end());
    g.erase(std::unique(g.begin(), g.end()), g.end());
  }
  double volume = 0.0;
  std::vector<size_t> at(static_cast<size_t>(M), 0);
  while (true) {
    bool valid = true;
    for (Eigen::Index j = 0; j < M; ++j) valid = valid && at[static_cast<size_t>(j)] + 1 < grid[static_cast<size_t>(j)].size();
    if (valid) {
      bool dominated = false;
      for (const auto i : rows) {
        bool below = true;
        for (Eigen::Index j = 0; j < M && below; ++j) below = Y(i, j) <= grid[static_cast<size_t>(j)][at[static_cast<size_t>(j)]];
        if (below) {
          dominated = true;
          break;
        }
      }
      if (dominated) {
        double cell = 1.0;
        for (Eigen::Index j = 0; j < M; ++j) {
          const auto& g = grid[static_cast<size_t>(j)];
          cell *= g[at[static_cast<size_t>(j)] + 1] - g[at[static_cast<size_t>(j)]];
        }
        volume += cell;
      }
    }
    Eigen::Index j = 0;
    while (j < M && ++at[static_cast<size_t>(j)] >= grid[static_cast<size_t>(j)].size()) at[static_cast<size_t>(j++)] = 0;
    if (j == M) break;
  }
  return volume;
}

// Random point sets with the awkward cases: ties (integer grids), duplicates, dominated rows,
// rows outside the reference, a NaN row.
Eigen::MatrixXd hv_test_points(std::mt19937_64& rng, Eigen::Index n, Eigen::Index M, bool integers) {
  std::uniform_int_distribution<int> small(0, 6);
  std::uniform_real_distribution<double> unit(0.0, 6.5);
  Eigen::MatrixXd Y(n, M);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < M; ++j) Y(i, j) = integers ? small(rng) : unit(rng);
  if (n > 4) {
    Y.row(3) = Y.row(1);
    Y(4, 0) = std::numeric_limits<double>::quiet_NaN();
  }
  return Y;
}

double hv_test_box_volume(const labloop::BoxDecomposition& boxes, Eigen::Index k, const Eigen::VectorXd& floor) {
  double v = 1.0;
  for (Eigen::Index j = 0; j < boxes.lower.cols(); ++j)
    v *= std::max(0.0, boxes.upper(k, j) - std::max(boxes.lower(k, j), floor(j)));
  return v;
}

}  // namespace

TEST_CASE("Hypervolume: closed forms in 1 to 4 objectives", "[hypervolume]") {
  Eigen::MatrixXd Y1(2, 1);
  Y1 << 3, 1;
  CHECK(labloop::hypervolume(Y1, Eigen::VectorXd::Constant(1, 4.0)) == 3.0);

  Eigen::MatrixXd Y2(3, 2);
  Y2 << 1, 3,  //
      2, 2,    //
      3, 1;
  CHECK(labloop::hypervolume(Y2, Eigen::Vector2d(4, 4)) == Approx(6.0));

  Eigen::MatrixXd Y3(2, 3);
  Y3 << 0, 0, 1,  //
      1, 1, 0;
  CHECK(labloop::hypervolume(Y3, Eigen::Vector3d(2, 2, 2)) == Approx(4.0 + 2.0 - 1.0));

  Eigen::MatrixXd Y4 = Eigen::MatrixXd::Zero(1, 4);
  CHECK(labloop::hypervolume(Y4, Eigen::Vector4d(1, 2, 3, 4)) == Approx(24.0));

  // Points not strictly better than the reference everywhere contribute nothing.
  Eigen::MatrixXd outside(2, 2);
  outside << 4, 0,  //
      0, 5;
  CHECK(labloop::hypervolume(outside, Eigen::Vector2d(4, 4)) == 0.0);
  CHECK(labloop::hypervolume(Eigen::MatrixXd(0, 3), Eigen::Vector3d(1, 1, 1)) == 0.0);
}

TEST_CASE("Hypervolume: agrees with a brute-force grid count in 2, 3 and 4 objectives", "[hypervolume]") {
  std::mt19937_64 rng(3);
  for (Eigen::Index M = 2; M <= 4; ++M)
    for (int trial = 0; trial < 40; ++trial) {
      const Eigen::Index n = 1 + trial % (M == 4 ? 9 : 14);
      const Eigen::MatrixXd Y = hv_test_points(rng, n, M, trial % 2 == 0);
      const Eigen::VectorXd r = Eigen::VectorXd::Constant(M, 6.0);
      INFO("M = " << M << ", trial " << trial);
      CHECK(labloop::hypervolume(Y, r) == Approx(hv_test_grid(Y, r)).margin(1e-12));
    }
}

TEST_CASE("Hypervolume: the boxes are disjoint, not dominated, and fill the rest of the reference box", "[hypervolume]") {
  std::mt19937_64 rng(8);
  for (Eigen::Index M = 1; M <= 4; ++M)
    for (int trial = 0; trial < 30; ++trial) {
      const Eigen::Index n = trial % (M == 4 ? 9 : 14);
      const Eigen::MatrixXd Y = hv_test_points(rng, n, M, trial % 2 == 1);
      const Eigen::VectorXd r = Eigen::VectorXd::Constant(M, 6.0);
      const labloop::BoxDecomposition boxes = labloop::non_dominated_boxes(Y, r);
      INFO("M = " << M << ", trial " << trial);
      REQUIRE(boxes.size() >= 1);
      REQUIRE(boxes.upper.cols() == M);
      CHECK(boxes.upper.allFinite());
      CHECK((boxes.lower.array() < boxes.upper.array()).all());
      CHECK((boxes.upper.array() <= r.transpose().replicate(boxes.size(), 1).array()).all());
      // Not dominated: no complete point is strictly below a box's upper corner.
      for (Eigen::Index k = 0; k < boxes.size(); ++k)
        for (Eigen::Index i = 0; i < Y.rows(); ++i)
          CHECK_FALSE((Y.row(i).array() < boxes.upper.row(k).array()).all());
      // Disjoint, and with the hypervolume they fill [floor, r].
      const Eigen::VectorXd floor = Eigen::VectorXd::Constant(M, -1.0);
      double total = 0.0;
      for (Eigen::Index k = 0; k < boxes.size(); ++k) {
        total += hv_test_box_volume(boxes, k, floor);
        for (Eigen::Index k2 = k + 1; k2 < boxes.size(); ++k2) {
          double overlap = 1.0;
          for (Eigen::Index j = 0; j < M; ++j)
            overlap *= std::max(0.0, std::min(boxes.upper(k, j), boxes.upper(k2, j)) -
                                         std::max({boxes.lower(k, j), boxes.lower(k2, j), floor(j)}));
          CHECK(overlap == 0.0);
        }
      }
      CHECK(total + labloop::hypervolume(Y, r) == Approx(std::pow(7.0, double(M))));
    }
}

TEST_CASE("Hypervolume: the sweep and the box decomposition agree on larger fronts", "[hypervolume]") {
  // Two different algorithms: hypervolume + the volume of the boxes = the volume below the
  // reference (boxes clipped at a floor under every point).
  std::mt19937_64 rng(13);
  std::exponential_distribution<double> exponential;
  for (Eigen::Index M = 2; M <= 4; ++M) {
    const Eigen::Index n = M == 4 ? 60 : 200;
    Eigen::MatrixXd Y(n, M);
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < M; ++j) Y(i, j) = exponential(rng);
      Y.row(i) /= Y.row(i).sum();
    }
    const Eigen::VectorXd r = Eigen::VectorXd::Constant(M, 1.0);
    const Eigen::VectorXd floor = Eigen::VectorXd::Zero(M);
    const labloop::BoxDecomposition boxes = labloop::non_dominated_boxes(Y, r);
    double total = 0.0;
    for (Eigen::Index k = 0; k < boxes.size(); ++k) total += hv_test_box_volume(boxes, k, floor);
    INFO("M = " << M << ", " << boxes.size() << " boxes");
    CHECK(total + labloop::hypervolume(Y, r) == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("Hypervolume: the improvement of a point is the growth of the hypervolume", "[hypervolume]") {
  std::mt19937_64 rng(21);
  std::uniform_real_distribution<double> unit(-0.5, 7.0);
  for (Eigen::Index M = 1; M <= 4; ++M)
    for (int trial = 0; trial < 20; ++trial) {
      const Eigen::MatrixXd Y = hv_test_points(rng, 1 + trial % 10, M, trial % 2 == 0);
      const Eigen::VectorXd r = Eigen::VectorXd::Constant(M, 6.0);
      const labloop::BoxDecomposition boxes = labloop::non_dominated_boxes(Y, r);
      for (int k = 0; k < 5; ++k) {
        Eigen::VectorXd y(M);
        for (Eigen::Index j = 0; j < M; ++j) y(j) = unit(rng);
        Eigen::MatrixXd joined(Y.rows() + 1, M);
        joined << Y, y.transpose();
        const double growth = labloop::hypervolume(joined, r) - labloop::hypervolume(Y, r);
        CHECK(labloop::hypervolume_improvement(boxes, y) == Approx(growth).margin(1e-10));
        CHECK(labloop::hypervolume_improvement(Y, r, y) == Approx(growth).margin(1e-10));
      }
    }
  // Empty front: the improvement is the box between the point and the reference.
  CHECK(labloop::hypervolume_improvement(Eigen::MatrixXd(0, 2), Eigen::Vector2d(1, 1), Eigen::Vector2d(0, -1)) == 2.0);
}

TEST_CASE("Hypervolume: bad inputs are PlannerErrors", "[hypervolume]") {
  const Eigen::MatrixXd Y = Eigen::MatrixXd::Zero(2, 5);
  CHECK_THROWS_AS(labloop::hypervolume(Y, Eigen::VectorXd::Ones(5)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::non_dominated_boxes(Y, Eigen::VectorXd::Ones(5)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::hypervolume(Eigen::MatrixXd::Zero(2, 2), Eigen::VectorXd::Ones(3)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::hypervolume(Eigen::MatrixXd::Zero(2, 2), Eigen::Vector2d(1, kHvTestInf)), labloop::PlannerError);
  Eigen::MatrixXd infinite(1, 2);
  infinite << -kHvTestInf, 0;
  CHECK_THROWS_AS(labloop::hypervolume(infinite, Eigen::Vector2d(1, 1)), labloop::PlannerError);
  const auto boxes = labloop::non_dominated_boxes(Eigen::MatrixXd::Zero(1, 2), Eigen::Vector2d(1, 1));
  CHECK_THROWS_AS(labloop::hypervolume_improvement(boxes, Eigen::Vector3d(0, 0, 0)), labloop::PlannerError);
}

TEST_CASE("Hypervolume: a 3-objective front of n points has at most 2n + 1 boxes", "[hypervolume]") {
  // Points on the simplex x + y + z = 1 are mutually non-dominated.
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> exponential;
  Eigen::MatrixXd Y(100, 3);
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    for (Eigen::Index j = 0; j < 3; ++j) Y(i, j) = exponential(rng);
    Y.row(i) /= Y.row(i).sum();
  }
  const auto boxes = labloop::non_dominated_boxes(Y, Eigen::Vector3d(1.1, 1.1, 1.1));
  CHECK(boxes.size() <= 2 * Y.rows() + 1);  // each point opens at most two boxes
}
