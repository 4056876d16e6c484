// Conformance checks for every kernel in the registry: symmetry, positive semi-definiteness, the
// prior variance, and every gradient against central finite differences (also at coincident points).
#include <Eigen/Cholesky>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/model/kernel.hpp"
#include "extending.hpp"  // examples/extending/
#include "../../src/model/kernels/kernels.hpp"

namespace {

using labloop::Kernel;

Eigen::MatrixXd random_points(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Eigen::MatrixXd x(n, d);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index k = 0; k < d; ++k) x(i, k) = unit(rng);
  return x;
}

// Non-default parameters, so that a mix-up between lengthscales would show.
std::unique_ptr<Kernel> configured(std::unique_ptr<Kernel> k, int d) {
  Eigen::VectorXd p(d + 1);
  for (int i = 0; i < d; ++i) p(i) = std::log(0.3 + 0.25 * i);
  p(d) = std::log(1.7);
  k->set_log_params(p);
  return k;
}

std::unique_ptr<Kernel> configured(const std::string& name, int d) { return configured(labloop::make_kernel(name, d), d); }

// Every registered kernel in 3-D, and each as the additive mixture over the groups {0}, {1, 2};
// and the worked example of docs/extending.md with a non-default option.
std::vector<std::pair<std::string, std::unique_ptr<Kernel>>> configured_kernels() {
  std::vector<std::pair<std::string, std::unique_ptr<Kernel>>> kernels;
  static const nlohmann::json example_options{{"alpha", 0.7}};
  static const std::string source = "test";
  kernels.emplace_back("rational_quadratic",
                       configured(labloop::detail::make_rational_quadratic_kernel(3, labloop::JsonNode(example_options, "", source)), 3));
  for (const auto& name : labloop::kernel_names()) {
    kernels.emplace_back(name, configured(name, 3));
    auto additive = labloop::make_additive_kernel(name, 3, {0, 1, 1});
    const Eigen::VectorXd p = kernels.back().second->log_params();
    Eigen::VectorXd q(5);
    q << p.head(3), -0.4, p(3);  // a full-kernel share w of 0.40
    additive->set_log_params(q);
    kernels.emplace_back(additive->name(), std::move(additive));
  }
  // Descriptors with a residual per choice: an additive kernel over two features of the inputs
  // beside one over the inputs themselves, sharing s² = 1.7, with the descriptor share ρ = 0.6.
  Eigen::MatrixXd map(2, 3);
  map << 0.7, -0.2, 0.4, 0.1, 0.9, -0.5;
  auto residual = labloop::detail::make_residual_mixture_kernel(
      labloop::detail::make_mapped_kernel(labloop::make_additive_kernel("matern52", 2, {0, 1}), map),
      labloop::make_additive_kernel("matern32", 3, {0, 1, 1}), 0.8);
  Eigen::VectorXd r(residual->num_params());
  r << std::log(0.4), std::log(0.8), std::log(0.3), std::log(0.55), std::log(0.9), 0.5, -0.7, std::log(1.5), std::log(1.7);
  residual->set_log_params(r);
  kernels.emplace_back(residual->name(), std::move(residual));
  return kernels;
}

double max_abs(const Eigen::MatrixXd& m) { return m.cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("Kernels: the registry has the documented kernels and rejects unknown names", "[kernel]") {
  const auto names = labloop::kernel_names();
  REQUIRE(names.size() >= 3);
  CHECK(names.front() == "matern52");
  for (const auto& name : names) CHECK(labloop::make_kernel(name, 2)->name() == name);
  CHECK_THROWS_AS(labloop::make_kernel("no_such_kernel", 2), labloop::PlannerError);
  CHECK_THROWS_WITH(labloop::make_kernel("matern_52", 2),
                    "unknown kernel \"matern_52\"; did you mean \"matern52\"? (available: matern52, matern32, squared_exponential)");
  CHECK_THROWS_WITH(labloop::make_kernel("matern52", 2, nlohmann::json{{"nu", 2.5}}), "kernel matern52: /nu: unknown option for the matern52 kernel (it takes none)");
  static const nlohmann::json bad_alpha{{"alpha", -1}}, typo{{"alpah", 1}};
  static const std::string source = "c.json";
  CHECK_THROWS_WITH(labloop::detail::make_rational_quadratic_kernel(2, labloop::JsonNode(bad_alpha, "/planner/kernel", source)),
                    "c.json: /planner/kernel/alpha: must be a number > 0 and at most 1e6 (got -1)");
  CHECK_THROWS_WITH(labloop::detail::make_rational_quadratic_kernel(2, labloop::JsonNode(typo, "/planner/kernel", source)),
                    "c.json: /planner/kernel/alpah: unknown option for the rational_quadratic kernel; did you mean \"alpha\"? (allowed: alpha)");
  const auto k = labloop::make_kernel("matern52", 3);
  CHECK(k->num_params() == 4);
  CHECK(k->log_params().head(3).isApproxToConstant(std::log(0.5)));
  CHECK(k->prior_variance() == Approx(1.0));
}

TEST_CASE("Kernels: covariance is symmetric and positive semi-definite with k(x x) equal to the prior variance", "[kernel]") {
  for (const auto& [name, k] : configured_kernels()) {
    INFO("kernel " << name);
    const int d = 3;
    const Eigen::MatrixXd x = random_points(30, d, 7);
    const Eigen::MatrixXd c = k->covariance(x, x);
    const Eigen::MatrixXd x_copy = x;  // the general (a ≠ b) path must agree with the symmetric one
    CHECK(max_abs(c - k->covariance(x, x_copy)) < 1e-14);
    CHECK(max_abs(c - c.transpose()) < 1e-14);
    CHECK(c.diagonal().isApproxToConstant(k->prior_variance()));
    CHECK(k->prior_variance() == Approx(1.7));
    // Smallest eigenvalue ≥ −1e-9  ⇔  C + 1e-9·I has a Cholesky factor.
    const Eigen::MatrixXd shifted = c + 1e-9 * Eigen::MatrixXd::Identity(c.rows(), c.cols());
    CHECK(Eigen::LLT<Eigen::MatrixXd>(shifted).info() == Eigen::Success);
    const Eigen::MatrixXd y = random_points(5, d, 8);
    CHECK(max_abs(k->covariance(x, y) - k->covariance(y, x).transpose()) < 1e-14);
  }
}

TEST_CASE("Kernels: the profiles match their formulas", "[kernel]") {
  const double r = 0.8;  // one dimension, lengthscale 0.5: points 0.4 apart
  Eigen::MatrixXd a(1, 1), b(1, 1);
  a << 0.1;
  b << 0.5;
  const double s5 = std::sqrt(5.0), s3 = std::sqrt(3.0);
  CHECK(labloop::make_kernel("matern52", 1)->covariance(a, b)(0, 0) ==
        Approx((1 + s5 * r + 5 * r * r / 3) * std::exp(-s5 * r)));
  CHECK(labloop::make_kernel("matern32", 1)->covariance(a, b)(0, 0) == Approx((1 + s3 * r) * std::exp(-s3 * r)));
  CHECK(labloop::make_kernel("squared_exponential", 1)->covariance(a, b)(0, 0) == Approx(std::exp(-r * r / 2)));
}

TEST_CASE("Kernels: the additive mixture is w times the full kernel plus 1-w times the mean of the group kernels", "[kernel]") {
  const auto full = configured("matern52", 3);
  const auto additive = labloop::make_additive_kernel("matern52", 3, {0, 1, 1});
  CHECK(additive->name() == "matern52_additive");
  CHECK(additive->num_params() == 5);
  CHECK(additive->num_lengthscales() == 3);
  CHECK(additive->log_params()(3) == 0.0);  // w starts at one half
  const Eigen::VectorXd p = full->log_params();
  auto first = labloop::make_kernel("matern52", 1), rest = labloop::make_kernel("matern52", 2);
  first->set_log_params(Eigen::Vector2d(p(0), p(3)));
  rest->set_log_params(Eigen::Vector3d(p(1), p(2), p(3)));
  const Eigen::MatrixXd a = random_points(4, 3, 31), b = random_points(5, 3, 32);
  for (const double eta : {0.0, 1.2, -2.0}) {
    INFO("eta " << eta);
    Eigen::VectorXd q(5);
    q << p.head(3), eta, p(3);
    additive->set_log_params(q);
    const double w = 1.0 / (1.0 + std::exp(-eta));
    const Eigen::MatrixXd expected = w * full->covariance(a, b) + (1 - w) / 2 * first->covariance(a.leftCols(1), b.leftCols(1)) +
                                     (1 - w) / 2 * rest->covariance(a.rightCols(2), b.rightCols(2));
    CHECK(max_abs(additive->covariance(a, b) - expected) < 1e-14);
  }
  CHECK_THROWS_AS(labloop::make_additive_kernel("matern52", 3, {0, 2, 2}), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::make_additive_kernel("matern52", 3, {0, 1}), labloop::PlannerError);
  CHECK_THROWS_AS(additive->set_log_params(p), labloop::PlannerError);
}

TEST_CASE("Kernels: descriptors with a residual per choice are rho times the descriptor kernel plus 1-rho times the one-hot one", "[kernel]") {
  Eigen::MatrixXd map(2, 3);
  map << 0.7, -0.2, 0.4, 0.1, 0.9, -0.5;
  auto described = labloop::detail::make_mapped_kernel(labloop::make_additive_kernel("matern52", 2, {0, 1}), map);
  auto choices = labloop::make_additive_kernel("matern52", 3, {0, 1, 1});
  const auto residual = labloop::detail::make_residual_mixture_kernel(described->clone(), choices->clone(), 0.8);
  CHECK(residual->num_params() == 4 + 5);
  CHECK(residual->num_lengthscales() == 2 + 3);
  CHECK(residual->log_params()(7) == 0.0);  // η = 0: ρ is the initial share
  // [ℓ_D (2), ℓ_C (3), η_D, η_C, η, log s²]
  Eigen::VectorXd p(9);
  p << std::log(0.4), std::log(0.8), std::log(0.3), std::log(0.55), std::log(0.9), 0.5, -0.7, 0.0, std::log(1.7);
  Eigen::VectorXd pd(4), pc(5);
  pd << p(0), p(1), p(5), p(8);
  pc << p(2), p(3), p(4), p(6), p(8);
  described->set_log_params(pd);
  choices->set_log_params(pc);
  const Eigen::MatrixXd a = random_points(4, 3, 41), b = random_points(5, 3, 42);
  for (const double eta : {0.0, 1.2, -2.0}) {
    INFO("eta " << eta);
    p(7) = eta;
    residual->set_log_params(p);
    const double rho = 1.0 / (1.0 + std::exp(-eta) / 4.0);  // σ(η + logit 0.8)
    CHECK(max_abs(residual->covariance(a, b) - (rho * described->covariance(a, b) + (1 - rho) * choices->covariance(a, b))) < 1e-14);
    CHECK(residual->prior_variance() == Approx(1.7));
  }
  CHECK_THROWS_AS(residual->set_log_params(pd), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::detail::make_residual_mixture_kernel(described->clone(), choices->clone(), 1.0), labloop::PlannerError);
}

TEST_CASE("Kernels: parameter gradients match finite differences including at coincident points", "[kernel]") {
  for (const auto& [name, k] : configured_kernels()) {
    INFO("kernel " << name);
    const int d = 3;
    Eigen::MatrixXd x = random_points(12, d, 11);
    x.row(5) = x.row(2);  // a coincident pair: r = 0 off the diagonal
    const Eigen::VectorXd p0 = k->log_params();
    const Eigen::MatrixXd w = random_points(12, 12, 12).array() - 0.5;  // not symmetric on purpose
    const Eigen::VectorXd weighted = k->weighted_param_grad(x, w);
    REQUIRE(weighted.size() == k->num_params());
    REQUIRE(weighted.allFinite());
    const double h = 1e-5;
    for (Eigen::Index p = 0; p < k->num_params(); ++p) {
      INFO("parameter " << p);
      auto kp = k->clone(), km = k->clone();
      Eigen::VectorXd pp = p0, pm = p0;
      pp(p) += h;
      pm(p) -= h;
      kp->set_log_params(pp);
      km->set_log_params(pm);
      const Eigen::MatrixXd fd = (kp->covariance(x, x) - km->covariance(x, x)) / (2 * h);
      const Eigen::MatrixXd analytic = k->covariance_grad(x, p);
      REQUIRE(analytic.allFinite());
      CHECK(max_abs(analytic - fd) <= 1e-5 * std::max(1.0, max_abs(fd)));
      const double fd_weighted = (w.array() * fd.array()).sum();
      CHECK(weighted(p) == Approx(fd_weighted).epsilon(1e-5).margin(1e-7));
    }
  }
}

TEST_CASE("Kernels: the input gradient matches finite differences including at coincident points", "[kernel]") {
  for (const auto& [name, k] : configured_kernels()) {
    INFO("kernel " << name);
    const int d = 3;
    Eigen::MatrixXd b = random_points(8, d, 21);
    const Eigen::RowVectorXd x = random_points(1, d, 22).row(0);
    b.row(3) = x;  // r = 0: the gradient is zero there and must not be NaN
    const Eigen::MatrixXd g = k->covariance_grad_x(x, b);
    REQUIRE(g.rows() == b.rows());
    REQUIRE(g.cols() == d);
    REQUIRE(g.allFinite());
    CHECK(g.row(3).cwiseAbs().maxCoeff() < 1e-12);
    const double h = 1e-6;
    for (int i = 0; i < d; ++i) {
      Eigen::RowVectorXd xp = x, xm = x;
      xp(i) += h;
      xm(i) -= h;
      const Eigen::VectorXd fd = (k->covariance(xp, b) - k->covariance(xm, b)).row(0).transpose() / (2 * h);
      for (Eigen::Index j = 0; j < b.rows(); ++j) CHECK(g(j, i) == Approx(fd(j)).epsilon(1e-5).margin(1e-6));
    }
  }
}
