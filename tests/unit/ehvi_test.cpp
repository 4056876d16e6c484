#include "labloop/model/ehvi.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/model/acquisition.hpp"  // log_h
#include "labloop/model/hypervolume.hpp"

namespace {

// h(z) = φ(z) + zΦ(z) in long double, from the definition (fine for |z| ≲ 30).
long double ehvi_test_h(long double z) {
  const long double pi = 3.141592653589793238462643383279502884L;
  return std::exp(-0.5L * z * z) / std::sqrt(2.0L * pi) + z * 0.5L * std::erfc(-z / std::sqrt(2.0L));
}

// EHVI from the boxes in long double, T = σ(h(z_u) − h(z_l)), directly: an independent check of
// the log-space evaluation where the direct formula is accurate.
double ehvi_test_direct(const labloop::BoxDecomposition& boxes, const Eigen::VectorXd& mean, const Eigen::VectorXd& sd) {
  long double total = 0.0L;
  for (Eigen::Index k = 0; k < boxes.size(); ++k) {
    long double product = 1.0L;
    for (Eigen::Index j = 0; j < mean.size(); ++j) {
      const long double zu = (boxes.upper(k, j) - (long double)mean(j)) / sd(j);
      const long double hl =
          std::isinf(boxes.lower(k, j)) ? 0.0L : ehvi_test_h((boxes.lower(k, j) - (long double)mean(j)) / sd(j));
      product *= sd(j) * (ehvi_test_h(zu) - hl);
    }
    total += product;
  }
  return static_cast<double>(total);
}

struct EhviTestEstimate {
  double mean;
  double standard_error;
};

EhviTestEstimate ehvi_test_monte_carlo(const labloop::BoxDecomposition& boxes, const Eigen::VectorXd& mean,
                                       const Eigen::VectorXd& sd, int samples, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  double sum = 0.0, sum_sq = 0.0;
  Eigen::VectorXd y(mean.size());
  for (int s = 0; s < samples; ++s) {
    for (Eigen::Index j = 0; j < y.size(); ++j) y(j) = mean(j) + sd(j) * normal(rng);
    const double v = labloop::hypervolume_improvement(boxes, y);
    sum += v;
    sum_sq += v * v;
  }
  const double m = sum / samples;
  return {m, std::sqrt(std::max(0.0, sum_sq / samples - m * m) / samples)};
}

// Fronts on the curve Σ y_j^2 = 1 (mutually non-dominated), plus one dominated point.
Eigen::MatrixXd ehvi_test_front(Eigen::Index n, Eigen::Index M, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Eigen::MatrixXd Y(n + 1, M);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < M; ++j) Y(i, j) = std::abs(normal(rng));
    Y.row(i) /= Y.row(i).norm();
  }
  Y.row(n) = Eigen::RowVectorXd::Constant(M, 0.9);
  return Y;
}

}  // namespace

TEST_CASE("EHVI: matches a Monte Carlo estimate with 2e5 samples in 2 and 3 objectives", "[ehvi]") {
  std::mt19937_64 rng(1234);
  for (Eigen::Index M = 2; M <= 3; ++M) {
    const Eigen::VectorXd r = Eigen::VectorXd::Constant(M, 1.2);
    for (int f = 0; f < 2; ++f) {
      const Eigen::MatrixXd front = ehvi_test_front(f == 0 ? 4 : 9, M, rng);
      const labloop::LogExpectedHypervolumeImprovement log_ehvi(front, r);
      // Near the front, ahead of it, behind it (only the tail improves), and very uncertain.
      const std::vector<std::pair<double, double>> cases = {{0.6, 0.2}, {0.2, 0.1}, {1.0, 0.15}, {0.8, 1.0}};
      for (const auto& [centre, spread] : cases) {
        Eigen::VectorXd mean = Eigen::VectorXd::Constant(M, centre);
        mean(0) -= 0.1;
        const Eigen::VectorXd sd = Eigen::VectorXd::LinSpaced(M, spread, 1.5 * spread);
        const EhviTestEstimate mc = ehvi_test_monte_carlo(log_ehvi.boxes(), mean, sd, 200000, rng);
        const double value = std::exp(log_ehvi(mean, sd));
        INFO("M = " << M << ", front " << f << ", centre " << centre << ", sd " << spread << ": EHVI " << value
                    << ", MC " << mc.mean << " ± " << mc.standard_error);
        CHECK(std::abs(value - mc.mean) <= 3.0 * mc.standard_error);
        CHECK(value == Approx(ehvi_test_direct(log_ehvi.boxes(), mean, sd)).epsilon(1e-10));
      }
    }
  }
}

TEST_CASE("EHVI: wide and thin boxes (relative to sd) both match the closed form in long double", "[ehvi]") {
  // One front point: the box [0, 1) x [-inf, 0) has width 1, so as sd grows from 2 to 40 the
  // box side passes from the log(1 - e^a) evaluation to the Gauss-Legendre one (near sd ~ 12).
  const labloop::LogExpectedHypervolumeImprovement log_ehvi(Eigen::MatrixXd::Zero(1, 2), Eigen::Vector2d(1, 1));
  for (double spread = 2.0; spread <= 40.0; spread *= 1.1) {
    for (const double centre : {-3.0, 0.5, 4.0}) {
      const Eigen::Vector2d mean(centre, -0.2);
      const Eigen::Vector2d sd(spread, 0.3);
      INFO("sd " << spread << ", mean " << centre);
      CHECK(std::exp(log_ehvi(mean, sd)) == Approx(ehvi_test_direct(log_ehvi.boxes(), mean, sd)).epsilon(1e-12));
    }
  }
}

TEST_CASE("EHVI: matches a Monte Carlo estimate with 2e5 samples in 4 objectives", "[ehvi]") {
  std::mt19937_64 rng(4321);
  const Eigen::MatrixXd front = ehvi_test_front(6, 4, rng);
  const labloop::LogExpectedHypervolumeImprovement log_ehvi(front, Eigen::VectorXd::Constant(4, 1.2));
  Eigen::Vector4d mean(0.45, 0.5, 0.55, 0.6);
  const Eigen::Vector4d sd(0.2, 0.25, 0.3, 0.2);
  const EhviTestEstimate mc = ehvi_test_monte_carlo(log_ehvi.boxes(), mean, sd, 200000, rng);
  const double value = std::exp(log_ehvi(mean, sd));
  INFO("EHVI " << value << ", MC " << mc.mean << " ± " << mc.standard_error);
  CHECK(std::abs(value - mc.mean) <= 3.0 * mc.standard_error);
}

TEST_CASE("EHVI: with an empty front it is the product of the 1-D expected improvements over the reference", "[ehvi]") {
  const Eigen::Vector3d r(1.0, 2.0, 0.5);
  const Eigen::Vector3d mean(0.3, 2.5, -1.0);
  const Eigen::Vector3d sd(0.4, 1.0, 0.2);
  double log_expected = 0.0;
  for (int j = 0; j < 3; ++j) log_expected += std::log(sd(j)) + labloop::log_h((r(j) - mean(j)) / sd(j));
  for (const Eigen::MatrixXd& empty : std::vector<Eigen::MatrixXd>{Eigen::MatrixXd(0, 3), Eigen::MatrixXd::Constant(2, 3, 5.0)}) {
    const labloop::LogExpectedHypervolumeImprovement log_ehvi(empty, r);
    CHECK(log_ehvi.boxes().size() == 1);
    CHECK(log_ehvi(mean, sd) == Approx(log_expected).epsilon(1e-13));
  }
}

TEST_CASE("EHVI: the gradient with respect to means and deviations matches central differences", "[ehvi]") {
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> unit;
  for (Eigen::Index M = 1; M <= 4; ++M) {
    const Eigen::MatrixXd front = ehvi_test_front(M == 4 ? 6 : 8, M, rng);
    const Eigen::VectorXd r = Eigen::VectorXd::Constant(M, 1.3);
    const labloop::LogExpectedHypervolumeImprovement log_ehvi(front, r);
    // Ordinary points, thin boxes (σ ≫ the spacing of the front), and far behind the front.
    const std::vector<std::pair<double, double>> cases = {{0.5, 0.2}, {0.7, 0.05}, {0.6, 30.0}, {3.0, 0.1}, {0.2, 1e-3}};
    for (const auto& [centre, spread] : cases) {
      Eigen::VectorXd mean(M), sd(M);
      for (Eigen::Index j = 0; j < M; ++j) {
        mean(j) = centre + 0.2 * (unit(rng) - 0.5);
        sd(j) = spread * (0.7 + 0.6 * unit(rng));
      }
      Eigen::VectorXd grad_mean, grad_sd;
      const double value = log_ehvi(mean, sd, grad_mean, grad_sd);
      REQUIRE(std::isfinite(value));
      CHECK(value == Approx(log_ehvi(mean, sd)));
      CHECK(std::exp(value) == Approx(ehvi_test_direct(log_ehvi.boxes(), mean, sd)).epsilon(1e-9));
      REQUIRE(grad_mean.size() == M);
      REQUIRE(grad_sd.size() == M);
      for (Eigen::Index j = 0; j < M; ++j) {
        const double step_mean = 1e-6 * std::max(1.0, std::abs(mean(j))) * std::min(1.0, 10 * sd(j));
        Eigen::VectorXd up = mean, down = mean;
        up(j) += step_mean;
        down(j) -= step_mean;
        const double fd_mean = (log_ehvi(up, sd) - log_ehvi(down, sd)) / (2 * step_mean);
        const double step_sd = 1e-6 * sd(j);
        Eigen::VectorXd wide = sd, narrow = sd;
        wide(j) += step_sd;
        narrow(j) -= step_sd;
        const double fd_sd = (log_ehvi(mean, wide) - log_ehvi(mean, narrow)) / (2 * step_sd);
        INFO("M = " << M << ", centre " << centre << ", sd " << spread << ", objective " << j);
        CHECK(grad_mean(j) == Approx(fd_mean).epsilon(1e-5).margin(1e-6 * std::max(1.0, std::abs(grad_mean(j)))));
        CHECK(grad_sd(j) == Approx(fd_sd).epsilon(1e-5).margin(1e-6 * std::max(1.0, std::abs(grad_sd(j)))));
      }
    }
  }
}

TEST_CASE("EHVI: log EHVI stays finite and decreasing far behind the front, where EHVI underflows", "[ehvi]") {
  std::mt19937_64 rng(7);
  const Eigen::MatrixXd front = ehvi_test_front(10, 2, rng);
  const Eigen::Vector2d r(1.1, 1.1);
  const labloop::LogExpectedHypervolumeImprovement log_ehvi(front, r);
  const Eigen::Vector2d sd(0.05, 0.05);
  double previous = std::numeric_limits<double>::infinity();
  for (const double behind : {0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 50.0, 200.0}) {
    const Eigen::Vector2d mean = r + Eigen::Vector2d::Constant(behind);
    Eigen::VectorXd grad_mean, grad_sd;
    const double value = log_ehvi(mean, sd, grad_mean, grad_sd);
    INFO("behind the reference by " << behind << ": log EHVI " << value);
    CHECK(std::isfinite(value));
    CHECK(value < previous);
    CHECK(grad_mean.allFinite());
    CHECK((grad_mean.array() < 0.0).all());  // moving towards the front helps
    CHECK((grad_sd.array() > 0.0).all());    // more uncertainty helps when only the tail improves
    if (behind >= 3.0) CHECK(std::exp(value) == 0.0);
    previous = value;
  }
}

TEST_CASE("EHVI: as the deviations vanish it tends to the hypervolume improvement of the mean", "[ehvi]") {
  std::mt19937_64 rng(31);
  for (Eigen::Index M = 2; M <= 4; ++M) {
    const Eigen::MatrixXd front = ehvi_test_front(8, M, rng);
    const labloop::LogExpectedHypervolumeImprovement log_ehvi(front, Eigen::VectorXd::Constant(M, 1.1));
    const Eigen::VectorXd ahead = Eigen::VectorXd::Constant(M, 0.45);
    const double improvement = labloop::hypervolume_improvement(log_ehvi.boxes(), ahead);
    REQUIRE(improvement > 0.0);
    Eigen::VectorXd grad_mean, grad_sd;
    const double value = log_ehvi(ahead, Eigen::VectorXd::Constant(M, 1e-9), grad_mean, grad_sd);
    CHECK(std::exp(value) == Approx(improvement).epsilon(1e-6));
    CHECK(grad_mean.allFinite());
    CHECK((grad_mean.array() < 0.0).all());
    // At the planner's floor (1e-12) behind the front: finite, with a finite gradient.
    const double behind = log_ehvi(Eigen::VectorXd::Constant(M, 2.0), Eigen::VectorXd::Constant(M, 1e-12), grad_mean, grad_sd);
    CHECK(std::isfinite(behind));
    CHECK(grad_mean.allFinite());
    CHECK(grad_sd.allFinite());
  }
}

TEST_CASE("EHVI: bad means or deviations are PlannerErrors", "[ehvi]") {
  const labloop::LogExpectedHypervolumeImprovement log_ehvi(Eigen::MatrixXd::Zero(1, 2), Eigen::Vector2d(1, 1));
  CHECK(log_ehvi.objectives() == 2);
  CHECK_THROWS_AS(log_ehvi(Eigen::Vector2d(0, 0), Eigen::Vector2d(0, 1)), labloop::PlannerError);
  CHECK_THROWS_AS(log_ehvi(Eigen::Vector2d(0, 0), Eigen::Vector2d(-1, 1)), labloop::PlannerError);
  CHECK_THROWS_AS(log_ehvi(Eigen::Vector3d(0, 0, 0), Eigen::Vector3d(1, 1, 1)), labloop::PlannerError);
  CHECK_THROWS_AS(log_ehvi(Eigen::Vector2d(std::nan(""), 0), Eigen::Vector2d(1, 1)), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::LogExpectedHypervolumeImprovement(Eigen::MatrixXd::Zero(1, 5), Eigen::VectorXd::Ones(5)),
                  labloop::PlannerError);
}
