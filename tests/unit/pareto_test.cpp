#include "labloop/model/pareto.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "labloop/core/error.hpp"

namespace {

constexpr double kParetoTestNaN = std::numeric_limits<double>::quiet_NaN();

// The definition, O(n²): row i is kept if no complete row dominates it and no identical row comes
// before it.
std::vector<Eigen::Index> pareto_test_brute_force(const Eigen::MatrixXd& Y) {
  std::vector<Eigen::Index> out;
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    if (Y.row(i).array().isNaN().any()) continue;
    bool beaten = false;
    for (Eigen::Index k = 0; k < Y.rows() && !beaten; ++k) {
      if (k == i || Y.row(k).array().isNaN().any()) continue;
      const bool weakly = (Y.row(k).array() <= Y.row(i).array()).all();
      const bool strictly = (Y.row(k).array() < Y.row(i).array()).any();
      beaten = weakly && (strictly || k < i);
    }
    if (!beaten) out.push_back(i);
  }
  return out;
}

}  // namespace

TEST_CASE("Pareto: non_dominated keeps the first of duplicates and never a row with NaN", "[pareto]") {
  Eigen::MatrixXd Y(7, 2);
  Y << 1, 4,  //
      2, 2,   //
      4, 1,   //
      3, 3,   // dominated by (2, 2)
      2, 2,   // duplicate of row 1
      kParetoTestNaN, 0,  //
      5, 5;
  CHECK(labloop::non_dominated(Y) == std::vector<Eigen::Index>{0, 1, 2});
  const Eigen::MatrixXd front = labloop::pareto_front(Y);
  REQUIRE(front.rows() == 3);
  CHECK(front.row(2) == Y.row(2));
  CHECK(labloop::non_dominated(Eigen::MatrixXd(0, 3)).empty());
  CHECK(labloop::non_dominated(Eigen::MatrixXd::Constant(3, 2, kParetoTestNaN)).empty());
  Eigen::MatrixXd same = Eigen::MatrixXd::Ones(3, 2);
  CHECK(labloop::non_dominated(same) == std::vector<Eigen::Index>{0});
}

TEST_CASE("Pareto: non_dominated agrees with the definition on random sets with ties", "[pareto]") {
  std::mt19937_64 rng(17);
  std::uniform_int_distribution<int> small(0, 5);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 200; ++trial) {
    const Eigen::Index M = 1 + trial % 4;
    const Eigen::Index n = 1 + trial % 23;
    Eigen::MatrixXd Y(n, M);
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < M; ++j) Y(i, j) = trial % 2 ? small(rng) : normal(rng);
    if (n > 3) Y(2, 0) = kParetoTestNaN;
    CHECK(labloop::non_dominated(Y) == pareto_test_brute_force(Y));
  }
}

TEST_CASE("Pareto: infer_reference_point is the front's nadir plus 10% of its range", "[pareto]") {
  Eigen::MatrixXd Y(4, 2);
  Y << 0, 10,  //
      10, 0,   //
      20, 20,  // dominated: does not move the nadir
      kParetoTestNaN, 50;
  const Eigen::VectorXd r = labloop::infer_reference_point(Y);
  CHECK(r(0) == Approx(11.0));
  CHECK(r(1) == Approx(11.0));

  Eigen::MatrixXd one(1, 3);
  one << 2, -3, 0;
  const Eigen::VectorXd r1 = labloop::infer_reference_point(one);
  CHECK(r1(0) == Approx(2.2));
  CHECK(r1(1) == Approx(-2.7));
  CHECK(r1(2) == Approx(1e-8).epsilon(1e-12));
  CHECK((r1.array() > one.row(0).transpose().array()).all());

  CHECK(labloop::infer_reference_point(Y, 0.5)(0) == Approx(15.0));
  CHECK_THROWS_AS(labloop::infer_reference_point(Eigen::MatrixXd::Constant(2, 2, kParetoTestNaN)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::infer_reference_point(Eigen::MatrixXd(0, 2)), labloop::PlannerError);
  Eigen::MatrixXd infinite(1, 2);
  infinite << 1, -std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(labloop::infer_reference_point(infinite), labloop::PlannerError);
}

TEST_CASE("ParEGO: objectives are normalized to [0, 1] by the observed minimum and maximum", "[pareto]") {
  Eigen::MatrixXd Y(4, 3);
  Y << 1, 5, 7,  //
      3, 5, 7,   //
      2, 5, 7,   //
      kParetoTestNaN, 100, 7;
  const Eigen::MatrixXd N = labloop::normalize_objectives(Y);
  CHECK(N(0, 0) == 0.0);
  CHECK(N(1, 0) == 1.0);
  CHECK(N(2, 0) == Approx(0.5));
  CHECK(N(1, 1) == 0.0);  // a constant column carries no preference
  CHECK(std::isnan(N(3, 0)));
  CHECK(N(3, 1) == 100.0);  // an incomplete row is left as it was
}

TEST_CASE("ParEGO: the augmented Chebyshev scalarization has its closed form", "[pareto]") {
  Eigen::MatrixXd Y(3, 2);
  Y << 0.2, 0.8,  //
      1.0, 0.0,   //
      kParetoTestNaN, 0.1;
  Eigen::VectorXd w(2);
  w << 0.5, 0.5;
  const Eigen::VectorXd s = labloop::chebyshev(Y, w);
  CHECK(s(0) == Approx(0.4 + 0.05 * 0.5));
  CHECK(s(1) == Approx(0.5 + 0.05 * 0.5));
  CHECK(std::isnan(s(2)));
  CHECK(labloop::chebyshev(Y, w, 0.0)(0) == Approx(0.4));
  w << 1.0, 0.0;
  CHECK(labloop::chebyshev(Y, w)(1) == Approx(1.05));

  CHECK_THROWS_AS(labloop::chebyshev(Y, Eigen::VectorXd::Ones(3)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::chebyshev(Y, -Eigen::VectorXd::Ones(2)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::chebyshev(Y, Eigen::VectorXd::Ones(2), -1.0), labloop::PlannerError);
}

TEST_CASE("ParEGO: the minimizer of a Chebyshev scalarization is on the Pareto front", "[pareto]") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit;
  Eigen::MatrixXd Y(60, 3);
  for (Eigen::Index i = 0; i < Y.rows(); ++i)
    for (Eigen::Index j = 0; j < Y.cols(); ++j) Y(i, j) = unit(rng);
  const auto front = labloop::non_dominated(Y);
  const Eigen::MatrixXd N = labloop::normalize_objectives(Y);
  for (int k = 0; k < 50; ++k) {
    Eigen::Index best = 0;
    labloop::chebyshev(N, labloop::sample_simplex_weights(3, rng)).minCoeff(&best);
    CHECK(std::find(front.begin(), front.end(), best) != front.end());
  }
}

TEST_CASE("ParEGO: simplex weights are uniform on the simplex", "[pareto]") {
  std::mt19937_64 rng(11);
  constexpr int kDraws = 20000;
  const Eigen::Index M = 3;
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(M);
  int below = 0;
  for (int k = 0; k < kDraws; ++k) {
    const Eigen::VectorXd w = labloop::sample_simplex_weights(M, rng);
    REQUIRE(w.size() == M);
    REQUIRE((w.array() >= 0.0).all());
    REQUIRE(w.sum() == Approx(1.0).epsilon(1e-14));
    mean += w / kDraws;
    below += w(0) < 0.2;
  }
  // Each weight of a flat Dirichlet is Beta(1, M − 1): mean 1/M, P(w < t) = 1 − (1 − t)^(M − 1).
  for (Eigen::Index j = 0; j < M; ++j) CHECK(std::abs(mean(j) - 1.0 / 3.0) < 4.0 * std::sqrt(1.0 / 18.0 / kDraws));
  const double p = 1.0 - std::pow(0.8, 2);
  CHECK(std::abs(below / double(kDraws) - p) < 4.0 * std::sqrt(p * (1 - p) / kDraws));
  CHECK(labloop::sample_simplex_weights(1, rng)(0) == 1.0);
  CHECK_THROWS_AS(labloop::sample_simplex_weights(0, rng), labloop::PlannerError);
}
