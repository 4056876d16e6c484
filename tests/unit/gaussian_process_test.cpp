// GaussianProcess against closed forms on tiny cases, gradients against finite differences, the
// O(n²) update against a full refactorization, and the failure modes.
#include "labloop/model/gaussian_process.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

#include "labloop/core/error.hpp"

namespace {

using labloop::GaussianProcess;
using labloop::GaussianProcessOptions;

Eigen::MatrixXd gp_random_points(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Eigen::MatrixXd x(n, d);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index k = 0; k < d; ++k) x(i, k) = unit(rng);
  return x;
}

Eigen::VectorXd smooth(const Eigen::MatrixXd& x) {
  Eigen::VectorXd y(x.rows());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    y(i) = 3.0;
    for (Eigen::Index k = 0; k < x.cols(); ++k) y(i) += std::sin(4.0 * x(i, k) + static_cast<double>(k)) / static_cast<double>(k + 1);
  }
  return y;
}

// θ for a d-dimensional GP: all lengthscales ℓ, signal variance s², noise σ², mean m (standardized units).
Eigen::VectorXd theta(int d, double l, double s2, double noise, double m) {
  Eigen::VectorXd t(d + 3);
  t.head(d).setConstant(std::log(l));
  t(d) = std::log(s2);
  t(d + 1) = std::log(noise);
  t(d + 2) = m;
  return t;
}

// The log posterior's gradient at θ = t against central finite differences, component by component.
void check_log_posterior_gradient(const GaussianProcess& gp, const Eigen::VectorXd& t) {
  Eigen::VectorXd grad;
  const double value = gp.log_posterior(t, &grad);
  REQUIRE(std::isfinite(value));
  REQUIRE(grad.size() == t.size());
  CHECK(gp.log_posterior(t, nullptr) == Approx(value));
  const double h = 1e-5;
  for (Eigen::Index i = 0; i < t.size(); ++i) {
    INFO("θ component " << i);
    Eigen::VectorXd tp = t, tm = t;
    tp(i) += h;
    tm(i) -= h;
    const double fd = (gp.log_posterior(tp, nullptr) - gp.log_posterior(tm, nullptr)) / (2 * h);
    CHECK(grad(i) == Approx(fd).epsilon(1e-5).margin(1e-6));
  }
}

double matern52(double r) { return (1 + std::sqrt(5.0) * r + 5 * r * r / 3) * std::exp(-std::sqrt(5.0) * r); }

}  // namespace

TEST_CASE("GaussianProcess: the posterior of two points matches the closed form", "[gp]") {
  GaussianProcess gp(1);
  Eigen::MatrixXd x(2, 1);
  x << 0.2, 0.7;
  Eigen::VectorXd y(2);
  y << 1.0, 3.0;
  gp.set_data(x, y);
  const double l = 0.4, s2 = 1.5, noise = 0.01, m = 0.1;
  gp.set_hyperparameters(theta(1, l, s2, noise, m));

  // By hand: standardization ȳ = 2, s_y = √2 (sample standard deviation), ỹ = ∓1/√2.
  const double ybar = 2.0, sy = std::sqrt(2.0);
  const double r1 = -1.0 / sy - m, r2 = 1.0 / sy - m;
  const double a = s2 + noise, b = s2 * matern52(0.5 / l), det = a * a - b * b;
  const double xs = 0.5;
  const double k1 = s2 * matern52(std::abs(xs - 0.2) / l), k2 = s2 * matern52(std::abs(xs - 0.7) / l);
  // K⁻¹ = [a −b; −b a]/det
  const double alpha1 = (a * r1 - b * r2) / det, alpha2 = (-b * r1 + a * r2) / det;
  const double mean_s = m + k1 * alpha1 + k2 * alpha2;
  const double var_s = s2 - (a * k1 * k1 - 2 * b * k1 * k2 + a * k2 * k2) / det;

  Eigen::MatrixXd q(1, 1);
  q << xs;
  Eigen::VectorXd mean, var;
  gp.predict(q, mean, var);
  CHECK(mean(0) == Approx(ybar + sy * mean_s).epsilon(1e-10));
  CHECK(var(0) == Approx(sy * sy * var_s).epsilon(1e-10));
  CHECK(gp.noise_variance() == Approx(noise * sy * sy));

  // The log marginal likelihood by hand (priors off).
  GaussianProcessOptions no_priors;
  no_priors.priors = false;
  GaussianProcess plain(1, no_priors);
  plain.set_data(x, y);
  const double quad = (a * r1 * r1 - 2 * b * r1 * r2 + a * r2 * r2) / det;
  CHECK(plain.log_posterior(theta(1, l, s2, noise, m), nullptr) ==
        Approx(-0.5 * quad - 0.5 * std::log(det) - std::log(2 * M_PI)).epsilon(1e-10));
}

TEST_CASE("GaussianProcess: a single observation gives the prior shrunk towards it", "[gp]") {
  GaussianProcess gp(2);
  Eigen::MatrixXd x(1, 2);
  x << 0.3, 0.6;
  gp.set_data(x, Eigen::VectorXd::Constant(1, 5.0));
  gp.set_hyperparameters(theta(2, 0.5, 1.0, 0.25, 0.0));
  Eigen::VectorXd mean, var;
  gp.predict(x, mean, var);  // s_y = 1 for one point; ỹ = 0 = m, so the mean stays 5
  CHECK(mean(0) == Approx(5.0));
  CHECK(var(0) == Approx(1.0 - 1.0 / 1.25));
}

TEST_CASE("GaussianProcess: with negligible noise the mean interpolates the data", "[gp]") {
  GaussianProcessOptions options;
  options.learn_noise = false;
  options.noise_variance = 1e-9;
  GaussianProcess gp(2, options);
  const Eigen::MatrixXd x = gp_random_points(12, 2, 3);
  const Eigen::VectorXd y = smooth(x);
  gp.set_data(x, y);
  Eigen::VectorXd mean, var;
  gp.predict(x, mean, var);
  CHECK((mean - y).cwiseAbs().maxCoeff() < 1e-5);
  CHECK(var.maxCoeff() < 1e-6);
  CHECK(var.minCoeff() > 0.0);
}

TEST_CASE("GaussianProcess: the log posterior gradient matches finite differences", "[gp]") {
  const Eigen::MatrixXd x = gp_random_points(15, 2, 5);
  const Eigen::VectorXd y = smooth(x);
  for (const bool priors : {true, false})
    for (const bool learn_noise : {true, false})
      for (const auto& kernel : labloop::kernel_names()) {
        INFO("priors " << priors << " learn_noise " << learn_noise << " kernel " << kernel);
        GaussianProcessOptions options;
        options.priors = priors;
        options.learn_noise = learn_noise;
        options.kernel = kernel;
        GaussianProcess gp(2, options);
        gp.set_data(x, y);
        Eigen::VectorXd t = theta(2, 0.3, 0.8, 0.05, 0.2);
        t(1) = std::log(0.6);
        check_log_posterior_gradient(gp, t);
      }
}

TEST_CASE("GaussianProcess: fit increases the log posterior and finds a sensible lengthscale", "[gp]") {
  Eigen::MatrixXd x(20, 1);
  for (int i = 0; i < 20; ++i) x(i, 0) = (i + 0.5) / 20.0;
  Eigen::VectorXd y(20);
  for (int i = 0; i < 20; ++i) y(i) = std::sin(2 * M_PI * x(i, 0));  // one period: lengthscale ~0.1–0.5
  for (const bool learn_noise : {true, false}) {
    INFO("learn_noise " << learn_noise);
    GaussianProcessOptions options;
    options.learn_noise = learn_noise;
    GaussianProcess gp(1, options);
    gp.set_data(x, y);
    const Eigen::VectorXd before = gp.hyperparameters();
    const double lp_before = gp.log_posterior(before, nullptr);
    gp.fit();
    const Eigen::VectorXd after = gp.hyperparameters();
    CHECK(gp.log_posterior(after, nullptr) > lp_before);
    const double lengthscale = std::exp(after(0));
    CHECK(lengthscale > 0.08);
    CHECK(lengthscale < 1.5);  // Matérn-5/2 with a larger signal variance fits one period with ℓ ≈ 0.9
    if (!learn_noise) CHECK(after(2) == before(2));
    else CHECK(std::exp(after(2)) < 0.01);  // noise-free data
    Eigen::MatrixXd q(1, 1);
    q << 0.33;
    Eigen::VectorXd mean, var;
    gp.predict(q, mean, var);
    CHECK(mean(0) == Approx(std::sin(2 * M_PI * 0.33)).margin(0.02));
  }
}

TEST_CASE("GaussianProcess: a fit with a time limit stops early and never makes the fit worse", "[gp]") {
  const Eigen::MatrixXd x = gp_random_points(120, 6, 11);
  const Eigen::VectorXd y = smooth(x);
  GaussianProcess limited(6), full(6);
  limited.set_data(x, y);
  full.set_data(x, y);
  const double before = limited.log_posterior(limited.hyperparameters(), nullptr);
  limited.fit(3, 1e-9);  // one evaluation takes far longer than that: the limit cuts the first run short
  full.fit(0);
  const double cut = limited.log_posterior(limited.hyperparameters(), nullptr);
  const double done = full.log_posterior(full.hyperparameters(), nullptr);
  CHECK(cut >= before);
  CHECK(done > cut + 1.0);
}

TEST_CASE("GaussianProcess: inputs of a lengthscale group share one fitted lengthscale", "[gp]") {
  // Input 0 continuous, inputs 1–3 a one-hot choice among three.
  Eigen::MatrixXd x(12, 4);
  Eigen::VectorXd y(12);
  for (int i = 0; i < 12; ++i) {
    const int choice = i % 3;
    x.row(i) << (i + 0.5) / 12.0, choice == 0, choice == 1, choice == 2;
    y(i) = std::sin(3.0 * x(i, 0)) + 0.7 * choice;
  }
  GaussianProcessOptions options;
  options.lengthscale_groups = {0, 1, 1, 1};
  GaussianProcess gp(4, options);
  gp.set_data(x, y);
  const double before = gp.log_posterior(gp.hyperparameters(), nullptr);
  gp.fit();
  const Eigen::VectorXd theta = gp.hyperparameters();
  CHECK(gp.log_posterior(theta, nullptr) > before);
  CHECK(theta(2) == theta(1));
  CHECK(theta(3) == theta(1));
  CHECK(theta(0) != theta(1));

  for (const std::vector<int>& bad : {std::vector<int>{0, 1, 1}, std::vector<int>{0, 2, 2, 2}, std::vector<int>{0, -1, 1, 1}}) {
    GaussianProcessOptions o;
    o.lengthscale_groups = bad;
    CHECK_THROWS_AS(GaussianProcess(4, o), labloop::PlannerError);
  }
}

TEST_CASE("GaussianProcess: the additive kernel's share is fitted from 15 results on when asked and held at one half otherwise", "[gp]") {
  // Three inputs, a sum of effects of one input each: the evidence favours the additive part.
  auto additive_data = [](Eigen::Index n) {
    const Eigen::MatrixXd x = gp_random_points(n, 3, 21);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) y(i) = std::sin(5 * x(i, 0)) + std::cos(4 * x(i, 1)) + 2 * x(i, 2);
    return std::pair{x, y};
  };
  auto fitted_share = [&](Eigen::Index n, bool fit_own) {
    GaussianProcessOptions options;
    options.additive = true;
    options.fit_kernel_own_params = fit_own;
    GaussianProcess gp(3, options);
    const auto [x, y] = additive_data(n);
    gp.set_data(x, y);
    gp.fit();
    REQUIRE(gp.kernel().num_lengthscales() == 3);
    REQUIRE(gp.kernel().num_params() == 5);
    const double eta = gp.hyperparameters()(3);
    return 1.0 / (1.0 + std::exp(-eta));  // the full kernel's share w
  };
  CHECK(fitted_share(40, true) < 0.3);
  CHECK(fitted_share(40, false) == 0.5);
  CHECK(fitted_share(14, true) == 0.5);

  // The log posterior's gradient in the share (and everything else) against finite differences.
  GaussianProcessOptions options;
  options.additive = true;
  GaussianProcess gp(3, options);
  const auto [x, y] = additive_data(15);
  gp.set_data(x, y);
  Eigen::VectorXd t(7);
  t << std::log(0.3), std::log(0.5), std::log(0.8), 0.4, std::log(0.8), std::log(0.05), 0.2;
  check_log_posterior_gradient(gp, t);
}

TEST_CASE("GaussianProcess: fitted_mean is the posterior mean at the data, also after add_observation", "[gp]") {
  const Eigen::MatrixXd x = gp_random_points(30, 3, 41);
  Eigen::VectorXd y = smooth(x);
  y(4) += 0.3;  // something for the noise to smooth
  GaussianProcess gp(3);
  gp.set_data(x, y);
  gp.fit();
  CHECK((gp.fitted_mean() - gp.predict_mean(gp.x())).cwiseAbs().maxCoeff() < 1e-8);
  const Eigen::MatrixXd more = gp_random_points(3, 3, 42);
  gp.add_observation(more.row(0).transpose(), 3.1);
  gp.add_observation(more.row(1).transpose(), 2.9, /*exact=*/true);
  gp.add_observation(x.row(7).transpose(), y(7) + 0.1);  // a repeat: needs its own jitter
  REQUIRE(gp.size() == 33);
  CHECK((gp.fitted_mean() - gp.predict_mean(gp.x())).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("GaussianProcess: add_observation predicts like a refactorization of the same model", "[gp]") {
  const int d = 2;
  const Eigen::MatrixXd x = gp_random_points(10, d, 9);
  const Eigen::VectorXd y = smooth(x);
  const double l = 0.35, s2 = 1.3, noise = 0.02, m = 0.3;

  GaussianProcess updated(d);
  updated.set_data(x.topRows(7), y.head(7));
  updated.set_hyperparameters(theta(d, l, s2, noise, m));
  for (int i = 7; i < 10; ++i) updated.add_observation(x.row(i).transpose(), y(i));
  REQUIRE(updated.size() == 10);
  CHECK(updated.x() == x);
  CHECK(updated.y() == y);
  CHECK(updated.hyperparameters() == theta(d, l, s2, noise, m));

  // add_observation keeps the standardization of the first 7 points (ȳ₇, s₇), so the reference is
  // the same model in y units expressed in the standardization of all 10: the signal and noise
  // variances scale by (s₇/s₁₀)² and the mean becomes (ȳ₇ + s₇m − ȳ₁₀)/s₁₀.
  const double ybar7 = y.head(7).mean(), ybar10 = y.mean();
  const double s7_sq = updated.noise_variance() / noise;  // noise_variance() is in y units
  const double s10_sq = (y.array() - ybar10).square().sum() / 9.0;
  GaussianProcess full(d);
  full.set_data(x, y);
  full.set_hyperparameters(
      theta(d, l, s2 * s7_sq / s10_sq, noise * s7_sq / s10_sq, (ybar7 + std::sqrt(s7_sq) * m - ybar10) / std::sqrt(s10_sq)));
  REQUIRE(full.noise_variance() == Approx(updated.noise_variance()));

  const Eigen::MatrixXd q = gp_random_points(25, d, 10);
  Eigen::VectorXd mu, var, mu_full, var_full;
  updated.predict(q, mu, var);
  full.predict(q, mu_full, var_full);
  CHECK((mu - mu_full).cwiseAbs().maxCoeff() < 1e-9);
  CHECK((var - var_full).cwiseAbs().maxCoeff() < 1e-9);

  // Adding to an empty model is set_data.
  GaussianProcess empty(d);
  empty.add_observation(x.row(0).transpose(), y(0));
  CHECK(empty.size() == 1);
}

TEST_CASE("GaussianProcess: single-point predictions and their gradients match the batch and finite differences", "[gp]") {
  for (const auto& kernel : labloop::kernel_names()) {
    INFO("kernel " << kernel);
    GaussianProcessOptions options;
    options.kernel = kernel;
    GaussianProcess gp(3, options);
    const Eigen::MatrixXd x = gp_random_points(20, 3, 13);
    gp.set_data(x, smooth(x));
    gp.set_hyperparameters(theta(3, 0.4, 1.2, 0.01, 0.1));
    const Eigen::MatrixXd q = gp_random_points(4, 3, 14);
    for (Eigen::Index j = 0; j < q.rows(); ++j) {
      const Eigen::VectorXd p = q.row(j).transpose();
      double mean = 0, var = 0;
      Eigen::VectorXd mg, vg, bm, bv;
      gp.predict(p, mean, var, mg, vg);
      gp.predict(q.row(j), bm, bv);
      CHECK(mean == Approx(bm(0)));
      CHECK(var == Approx(bv(0)));
      const double h = 1e-6;
      for (int i = 0; i < 3; ++i) {
        Eigen::VectorXd pp = p, pm = p, g1, g2;
        pp(i) += h;
        pm(i) -= h;
        double mp, vp, mm, vm;
        gp.predict(pp, mp, vp, g1, g2);
        gp.predict(pm, mm, vm, g1, g2);
        CHECK(mg(i) == Approx((mp - mm) / (2 * h)).epsilon(1e-5).margin(1e-6));
        CHECK(vg(i) == Approx((vp - vm) / (2 * h)).epsilon(1e-5).margin(1e-6));
      }
    }
  }
}

TEST_CASE("GaussianProcess: samples have the posterior mean and variance", "[gp]") {
  GaussianProcess gp(1);
  Eigen::MatrixXd x(2, 1);
  x << 0.25, 0.75;
  Eigen::VectorXd y(2);
  y << -1.0, 2.0;
  gp.set_data(x, y);
  gp.set_hyperparameters(theta(1, 0.3, 1.0, 0.05, 0.0));
  Eigen::MatrixXd q(3, 1);
  q << 0.1, 0.5, 0.5;  // a repeated point: the joint covariance is singular, the draws must agree
  Eigen::VectorXd mean, var;
  gp.predict(q, mean, var);
  std::mt19937_64 rng(2024);
  const int draws = 20000;
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(3), sum_sq = Eigen::VectorXd::Zero(3);
  for (int i = 0; i < draws; ++i) {
    const Eigen::VectorXd f = gp.sample(q, rng);
    REQUIRE(f.allFinite());
    CHECK(std::abs(f(1) - f(2)) < 1e-3 * std::sqrt(var(1)));
    sum += f;
    sum_sq += f.cwiseAbs2();
  }
  for (int j = 0; j < 3; ++j) {
    const double m = sum(j) / draws, v = sum_sq(j) / draws - m * m;
    CHECK(std::abs(m - mean(j)) < 5 * std::sqrt(var(j) / draws));  // 5 standard errors
    CHECK(v == Approx(var(j)).epsilon(0.05));
  }
}

TEST_CASE("GaussianProcess: duplicate inputs with different results do not break the model", "[gp]") {
  Eigen::MatrixXd x(4, 2);
  x << 0.5, 0.5, 0.5, 0.5, 0.2, 0.8, 0.5, 0.5;
  Eigen::VectorXd y(4);
  y << 1.0, 2.0, 0.0, 1.5;
  SECTION("learned noise") {
    GaussianProcess gp(2);
    gp.set_data(x, y);
    gp.fit();
    Eigen::VectorXd mean, var;
    gp.predict(x, mean, var);
    CHECK(mean.allFinite());
    CHECK(var.allFinite());
    CHECK(mean(0) == Approx(1.5).margin(0.3));  // near the average of the repeats
  }
  SECTION("negligible fixed noise is rescued by jitter") {
    GaussianProcessOptions options;
    options.learn_noise = false;
    options.noise_variance = 1e-14;
    GaussianProcess gp(2, options);
    gp.set_data(x, y);
    gp.add_observation(x.row(0).transpose(), 3.0);
    Eigen::VectorXd mean, var;
    gp.predict(x, mean, var);
    CHECK(mean.allFinite());
    CHECK(var.allFinite());
    std::mt19937_64 rng(1);
    CHECK(gp.sample(x, rng).allFinite());
  }
}

TEST_CASE("GaussianProcess: invalid data and hyperparameters are rejected with PlannerError", "[gp]") {
  GaussianProcess gp(2);
  Eigen::MatrixXd x = gp_random_points(3, 2, 1);
  Eigen::VectorXd y(3);
  y << 1.0, std::nan(""), 2.0;
  CHECK_THROWS_AS(gp.set_data(x, y), labloop::PlannerError);
  y(1) = INFINITY;
  CHECK_THROWS_AS(gp.set_data(x, y), labloop::PlannerError);
  y(1) = 0.0;
  CHECK_THROWS_AS(gp.set_data(x, y.head(2)), labloop::PlannerError);
  CHECK_THROWS_AS(gp.set_data(gp_random_points(3, 3, 1), y), labloop::PlannerError);
  CHECK_THROWS_AS(gp.fit(), labloop::PlannerError);  // no data yet
  gp.set_data(x, y);
  CHECK_THROWS_AS(gp.add_observation(Eigen::VectorXd::Zero(2), std::nan("")), labloop::PlannerError);
  CHECK_THROWS_AS(gp.set_hyperparameters(Eigen::VectorXd::Zero(2)), labloop::PlannerError);
  CHECK(gp.size() == 3);
}

TEST_CASE("GaussianProcess: copies are independent", "[gp]") {
  GaussianProcess a(1);
  Eigen::MatrixXd x(2, 1);
  x << 0.1, 0.9;
  a.set_data(x, Eigen::Vector2d(0.0, 1.0));
  GaussianProcess b = a;
  b.add_observation(Eigen::VectorXd::Constant(1, 0.5), 4.0);
  CHECK(a.size() == 2);
  CHECK(b.size() == 3);
  GaussianProcess c(1);
  c = b;
  CHECK(c.size() == 3);
  CHECK(&c.kernel() != &b.kernel());
}

TEST_CASE("GaussianProcess: values beyond 1e154 standardize without overflow, or are refused with a message", "[gp]") {
  Eigen::MatrixXd x(4, 1);
  x << 0.1, 0.4, 0.6, 0.9;
  GaussianProcess gp(1);
  // Large values whose spread is still representable: a finite posterior.
  Eigen::VectorXd y(4);
  y << 1e140, 2e140, 3e140, 4e140;  // squares fine: the plain formula
  gp.set_data(x, y);
  // The sum overflows, the spread is zero: still a model (of a constant).
  const double max = std::numeric_limits<double>::max();
  y << max, max, max, max;
  gp.set_data(x, y);
  Eigen::VectorXd mean, variance;
  gp.predict(x, mean, variance);
  CHECK(mean.allFinite());
  CHECK(variance.allFinite());
  // Variances in y units would overflow: a PlannerError naming the problem, never a crash.
  y << 1e300, -1e300, 1.0, 2.0;
  CHECK_THROWS_AS(gp.set_data(x, y), labloop::PlannerError);
  y << 1.0, 2.0, 3.0, 4.0;
  gp.set_data(x, y);
  Eigen::VectorXd x1(1);
  x1 << 0.5;
  CHECK_THROWS_AS(gp.add_observation(x1, std::numeric_limits<double>::max()), labloop::PlannerError);
  CHECK(gp.size() == 4);  // refused before anything changed
}

TEST_CASE("GaussianProcess: results in tiny units standardize and fit as the same results in ordinary units", "[gp]") {
  const Eigen::MatrixXd x = gp_random_points(15, 2, 11);
  const Eigen::VectorXd y = smooth(x) - Eigen::VectorXd::Constant(x.rows(), 3.0);  // mean near 0, spread ~0.5
  GaussianProcess reference(2);
  reference.set_data(x, y);
  reference.fit();
  const Eigen::MatrixXd q = gp_random_points(5, 2, 12);
  Eigen::VectorXd ref_mean, ref_var;
  reference.predict(q, ref_mean, ref_var);
  // 1e-15: below the absolute floor of 1e-12 that took such results for constant (the model
  // then learned nothing); 1e-120: squares near underflow; 2^-60: exact, so the same fit.
  for (const double unit : {1e-15, 1e-120, std::ldexp(1.0, -60)}) {
    INFO("unit " << unit);
    GaussianProcess gp(2);
    gp.set_data(x, y * unit);
    CHECK(gp.log_posterior(reference.hyperparameters(), nullptr) == Approx(reference.log_posterior(reference.hyperparameters(), nullptr)));
    gp.fit();
    CHECK((gp.hyperparameters() - reference.hyperparameters()).cwiseAbs().maxCoeff() < 1e-4);
    Eigen::VectorXd mean, var;
    gp.predict(q, mean, var);
    for (Eigen::Index i = 0; i < q.rows(); ++i) {
      CHECK(mean(i) / unit == Approx(ref_mean(i)).epsilon(1e-4).margin(1e-6));
      CHECK(var(i) / (unit * unit) == Approx(ref_var(i)).epsilon(1e-4));
    }
  }
  // Equal results stay a constant, however small; a spread whose square underflows is refused.
  GaussianProcess constant(2);
  constant.set_data(x, Eigen::VectorXd::Constant(x.rows(), 3e-19));
  Eigen::VectorXd mean, var;
  constant.predict(q, mean, var);
  CHECK(mean.isApprox(Eigen::VectorXd::Constant(q.rows(), 3e-19)));
  CHECK(var.allFinite());
  // A spread whose square underflows cannot scale variances: modelled as constant, predictions finite.
  GaussianProcess underflow(2);
  underflow.set_data(x, y * 1e-200);
  CHECK(underflow.output_scale() == 1.0);
  underflow.predict(q, mean, var);
  CHECK(mean.allFinite());
  CHECK(var.allFinite());
}

TEST_CASE("GaussianProcess: a stated noise is used as it is, not learned, within the noise bounds", "[gp]") {
  const Eigen::MatrixXd x = gp_random_points(12, 2, 3);
  Eigen::VectorXd y = 10.0 * smooth(x);
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(0.0, 0.5);
  for (Eigen::Index i = 0; i < y.size(); ++i) y(i) += noise(rng);
  const double y_var = (y.array() - y.mean()).square().sum() / static_cast<double>(y.size() - 1);

  GaussianProcess learned(2);
  learned.set_data(x, y);
  learned.fit();
  GaussianProcessOptions options;
  options.noise_sd = 0.5;
  GaussianProcess stated(2, options);
  stated.set_data(x, y);
  stated.fit();
  CHECK(stated.noise_variance() == Approx(0.25));
  CHECK(learned.noise_variance() != Approx(0.25).epsilon(0.05));  // the learned one is something else
  // Not taken from another model's θ, and kept by new results (whose standardization is frozen).
  stated.set_hyperparameters(learned.hyperparameters());
  CHECK(stated.noise_variance() == Approx(0.25));
  stated.add_observation(Eigen::Vector2d(0.5, 0.5), 30.0);
  stated.fit();
  CHECK(stated.noise_variance() == Approx(0.25));

  SECTION("0 is the noise floor; beyond the results' own spread, their variance") {
    options.noise_sd = 0.0;
    GaussianProcess exact(2, options);
    exact.set_data(x, y);
    exact.fit();
    CHECK(exact.noise_variance() == Approx(options.noise_floor * y_var));
    options.noise_sd = 1e6;
    GaussianProcess huge(2, options);
    huge.set_data(x, y);
    huge.fit();
    CHECK(huge.noise_variance() == Approx(y_var));
  }
  SECTION("a stated noise that is not a standard deviation is refused") {
    for (double bad : {-1.0, std::numeric_limits<double>::infinity()}) {
      options.noise_sd = bad;
      CHECK_THROWS_AS(GaussianProcess(2, options), labloop::PlannerError);
    }
  }
}
