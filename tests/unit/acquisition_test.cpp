#include "labloop/model/acquisition.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "labloop/core/error.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/linear_constraints.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "extending.hpp"  // examples/extending/
#include "../../src/model/acquisitions/acquisitions.hpp"  // detail::erfcx, log_ndtr: the shared special functions
#include "../../src/model/optimize/acquisition_optimizer.hpp"

using labloop::AcquisitionContext;
using labloop::GaussianProcess;
using labloop::log_h;
using labloop::log_h_derivative;

namespace {

// Every registered acquisition, and the worked example of docs/extending.md with a non-default
// option: what the conformance checks below run on.
std::vector<std::pair<std::string, std::unique_ptr<labloop::Acquisition>>> conformance_acquisitions() {
  std::vector<std::pair<std::string, std::unique_ptr<labloop::Acquisition>>> out;
  for (const auto& name : labloop::acquisition_names()) out.emplace_back(name, labloop::make_acquisition(name));
  static const nlohmann::json example_options{{"xi", 0.3}};
  static const std::string source = "test";
  out.emplace_back("log_ei_margin", labloop::detail::make_log_ei_margin(labloop::JsonNode(example_options, "", source)));
  return out;
}

constexpr long double kPiL = 3.141592653589793238462643383279502884L;

// h(z) = φ(z) + zΦ(z) in long double, straight from the definition. Accurate to ~1e-15 relative for
// z ≥ −30: the cancellation in φ + zΦ costs a factor z² on long double's 1e-19 precision.
long double naive_log_h(long double z) {
  const long double phi = std::exp(-0.5L * z * z) / std::sqrt(2.0L * kPiL);
  const long double cdf = 0.5L * std::erfc(-z / std::sqrt(2.0L));
  return std::log(phi + z * cdf);
}

// Asymptotic series for z ≪ 0 (u = −z): h = φ(u)·u⁻²·(1 − 3/u² + 15/u⁴ − 105/u⁶ + 945/u⁸ − …).
long double asymptotic_log_h(long double z) {
  const long double u = -z, v = 1.0L / (u * u);
  const long double series = 1.0L - 3.0L * v + 15.0L * v * v - 105.0L * v * v * v + 945.0L * v * v * v * v;
  return -0.5L * u * u - 0.5L * std::log(2.0L * kPiL) + std::log(v) + std::log(series);
}

double relative_error(double value, long double reference) {
  return static_cast<double>(std::fabs((static_cast<long double>(value) - reference) / reference));
}

// A smooth test function on the unit cube and a GP fitted to `n` points of it.
double smooth_function(const Eigen::VectorXd& x) {
  double f = 0.0;
  for (Eigen::Index i = 0; i < x.size(); ++i) f += std::sin(3.0 * x[i] + static_cast<double>(i)) + 0.5 * x[i] * x[i];
  return f + x[0] * x[x.size() - 1];
}

GaussianProcess fitted_gp(int dim, int n, std::uint64_t seed, labloop::GaussianProcessOptions options = {}) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd x(n, dim);
  Eigen::VectorXd y(n);
  for (int i = 0; i < n; ++i) {
    for (int d = 0; d < dim; ++d) x(i, d) = u(rng);
    y[i] = smooth_function(x.row(i).transpose());
  }
  GaussianProcess gp(dim, options);
  gp.set_data(x, y);
  gp.fit();
  return gp;
}

Eigen::MatrixXd random_points(int n, int dim, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.02, 0.98);
  Eigen::MatrixXd x(n, dim);
  for (int i = 0; i < n; ++i)
    for (int d = 0; d < dim; ++d) x(i, d) = u(rng);
  return x;
}

// Plain EI = σ·h(z) in double, the way a naive implementation computes it.
double plain_ei(const GaussianProcess& gp, double incumbent, const Eigen::VectorXd& x) {
  Eigen::VectorXd mean, variance;
  gp.predict(Eigen::MatrixXd(x.transpose()), mean, variance);
  const double sigma = std::sqrt(std::max(variance[0], 0.0));
  const double z = (incumbent - mean[0]) / sigma;
  const double phi = std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
  const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  return sigma * (phi + z * cdf);
}

void check_gradient(const labloop::Acquisition& acquisition, const AcquisitionContext& ctx, const Eigen::VectorXd& x) {
  Eigen::VectorXd grad;
  const double value = acquisition.score(ctx, x, grad);
  REQUIRE(std::isfinite(value));
  REQUIRE(grad.size() == x.size());
  REQUIRE(grad.allFinite());

  const Eigen::VectorXd batch = acquisition.score(ctx, Eigen::MatrixXd(x.transpose()));
  CHECK(value == Approx(batch[0]).epsilon(1e-9).margin(1e-9));

  const double step = 1e-6;
  for (Eigen::Index d = 0; d < x.size(); ++d) {
    Eigen::VectorXd plus = x, minus = x;
    plus[d] += step;
    minus[d] -= step;
    Eigen::VectorXd ignored;
    const double fd = (acquisition.score(ctx, plus, ignored) - acquisition.score(ctx, minus, ignored)) / (2.0 * step);
    INFO(acquisition.name() << " at x = " << x.transpose() << ", coordinate " << d << ", incumbent " << ctx.incumbent);
    CHECK(grad[d] == Approx(fd).epsilon(1e-5).margin(1e-5 * (1.0 + grad.cwiseAbs().maxCoeff())));
  }
}

}  // namespace

TEST_CASE("log_h matches a long double reference wherever the direct formula is accurate", "[acquisition]") {
  double worst = 0.0;
  for (double z = -30.0; z <= 30.0; z += 0.0125) worst = std::max(worst, relative_error(log_h(z), naive_log_h(z)));
  for (double z : {-1.0, -1.0 + 1e-12, -1.0 - 1e-12, -4.0, -4.0 + 1e-12, -4.0 - 1e-12, 0.0, 1e-300, 100.0, 1e6})
    worst = std::max(worst, relative_error(log_h(z), naive_log_h(z)));
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-12);
}

TEST_CASE("log_h matches its asymptotic series for very negative z", "[acquisition]") {
  for (double z : {-1e2, -3e2, -1e3, -1e4, -1e5, -1e7}) {
    INFO("z = " << z);
    CHECK(relative_error(log_h(z), asymptotic_log_h(z)) < 1e-14);
  }
}

TEST_CASE("log_h is finite and strictly increasing from z = -1e4 to z = 1e4", "[acquisition]") {
  std::vector<double> zs;
  for (double z = -1e4; z < -10.0; z *= 0.999) zs.push_back(z);
  for (double z = -10.0; z < 10.0; z += 1e-3) zs.push_back(z);
  for (double z = 10.0; z < 1e4; z *= 1.001) zs.push_back(z);
  double previous = -std::numeric_limits<double>::infinity();
  for (double z : zs) {
    INFO("z = " << z);
    const double value = log_h(z);
    REQUIRE(std::isfinite(value));
    REQUIRE(value > previous);
    REQUIRE(std::isfinite(log_h_derivative(z)));
    REQUIRE(log_h_derivative(z) > 0.0);
    previous = value;
  }
  CHECK(log_h(-1e4) == Approx(-5e7).epsilon(1e-6));
}

TEST_CASE("log_h_derivative matches central finite differences of log_h on z in -50 to 10", "[acquisition]") {
  for (double z = -50.0; z <= 10.0; z += 0.0137) {
    const double step = 1e-6 * std::max(1.0, std::fabs(z));
    const double fd = (log_h(z + step) - log_h(z - step)) / (2.0 * step);
    INFO("z = " << z);
    CHECK(log_h_derivative(z) == Approx(fd).epsilon(1e-6));
  }
}

TEST_CASE("log_h_derivative approaches -z for very negative z and 1/z for large z", "[acquisition]") {
  // Φ/h = 1/K(u) = u + 2/u + O(u⁻³) for u = −z → ∞, and Φ/h → 1/z for z → ∞.
  CHECK(log_h_derivative(-1e4) == Approx(1e4 + 2e-4).epsilon(1e-14));
  CHECK(log_h_derivative(-1e8) == Approx(1e8).epsilon(1e-15));
  CHECK(log_h_derivative(1e3) == Approx(1e-3).epsilon(1e-14));
  CHECK(std::isfinite(log_h_derivative(-1e150)));
}

TEST_CASE("erfcx matches exp of x squared times erfc in long double", "[acquisition]") {
  double worst = 0.0;
  for (double x = -5.0; x <= 100.0; x += 0.01) {
    const long double xl = x;
    worst = std::max(worst, relative_error(labloop::detail::erfcx(x), std::exp(xl * xl) * std::erfc(xl)));
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-14);
  // erfcx(x) ~ 1/(x√π) for large x.
  CHECK(labloop::detail::erfcx(1e10) == Approx(1.0 / (1e10 * std::sqrt(M_PI))).epsilon(1e-15));
  CHECK(labloop::detail::erfcx(0.0) == 1.0);
}

TEST_CASE("log_ndtr matches a long double reference and stays finite far in the lower tail", "[acquisition]") {
  double worst = 0.0;
  for (double z = -35.0; z <= 8.0; z += 0.0125) {
    const long double zl = z;
    // Above 0, log Φ = log1p(−Φ(−z)) keeps the relative accuracy of the tiny upper tail.
    const long double reference = z > 0.0 ? std::log1p(-0.5L * std::erfc(zl / std::sqrt(2.0L)))
                                          : std::log(0.5L * std::erfc(-zl / std::sqrt(2.0L)));
    worst = std::max(worst, relative_error(labloop::detail::log_ndtr(z), reference));
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-12);
  CHECK(labloop::detail::log_ndtr(-1e4) == Approx(-5e7).epsilon(1e-6));
  for (double z = -50.0; z <= 10.0; z += 0.0137) {
    const double step = 1e-6 * std::max(1.0, std::fabs(z));
    const double fd = (labloop::detail::log_ndtr(z + step) - labloop::detail::log_ndtr(z - step)) / (2.0 * step);
    INFO("z = " << z);
    CHECK(labloop::detail::log_ndtr_derivative(z) == Approx(fd).epsilon(1e-6).margin(1e-12));
  }
}

TEST_CASE("make_acquisition builds every registered name and rejects unknown names and bad beta", "[acquisition]") {
  const auto names = labloop::acquisition_names();
  for (const std::string expected : {"log_ei", "ucb", "log_pi", "thompson"})
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  for (const auto& name : names) CHECK(labloop::make_acquisition(name)->name() == name);
  CHECK_THROWS_AS(labloop::make_acquisition("expected_improvement"), labloop::PlannerError);
  CHECK_THROWS_AS(labloop::make_acquisition(""), labloop::PlannerError);
  CHECK_THROWS_WITH(labloop::make_acquisition("ucb", nlohmann::json{{"beta", -1.0}}), "acquisition ucb: /beta: must be finite and >= 0 (got -1)");
  CHECK_THROWS_AS(labloop::make_acquisition("ucb", nlohmann::json{{"beta", "2"}}), labloop::ConfigError);
  CHECK_THROWS_WITH(labloop::make_acquisition("ucb", nlohmann::json{{"bta", 2}}),
                    "acquisition ucb: /bta: unknown option for the ucb acquisition; did you mean \"beta\"? (allowed: beta)");
  CHECK_THROWS_WITH(labloop::make_acquisition("log_ei", nlohmann::json{{"beta", 2}}), "acquisition log_ei: /beta: unknown option for the log_ei acquisition (it takes none)");
  CHECK_THROWS_WITH(labloop::make_acquisition("logei"), "unknown acquisition \"logei\"; did you mean \"log_ei\"? (available: log_ei, ucb, log_pi, thompson)");
}

TEST_CASE("Every acquisition with a gradient agrees between single and batch scores and with finite differences", "[acquisition]") {
  std::mt19937_64 rng(7);
  for (int dim : {2, 3}) {
    const GaussianProcess gp = fitted_gp(dim, 10, 100 + static_cast<std::uint64_t>(dim));
    const double best = gp.y().minCoeff();
    for (const auto& [name, acquisition] : conformance_acquisitions()) {
      INFO(name);
      if (!acquisition->has_gradient()) continue;
      for (double incumbent : {best, best - 0.5, best - 5.0}) {
        const AcquisitionContext ctx{gp, incumbent, rng};
        const Eigen::MatrixXd points = random_points(8, dim, rng);
        for (Eigen::Index i = 0; i < points.rows(); ++i) check_gradient(*acquisition, ctx, points.row(i).transpose());
      }
    }
  }
}

TEST_CASE("Acquisition scores and gradients stay finite at the training points of a noise-free model", "[acquisition]") {
  // The latent variance at a training point of a (nearly) noise-free model is ~0 or slightly
  // negative from rounding: the σ floor must keep every score and gradient finite.
  using labloop::detail::kMinSigma;
  CHECK(labloop::detail::clamped_sigma(-1e-18, kMinSigma) == kMinSigma);
  CHECK(labloop::detail::clamped_sigma(0.0, kMinSigma) == kMinSigma);
  CHECK(labloop::detail::clamped_sigma(4.0, kMinSigma) == 2.0);

  std::mt19937_64 rng(3);
  labloop::GaussianProcessOptions options;
  options.learn_noise = false;
  options.noise_variance = 1e-12;
  const GaussianProcess gp = fitted_gp(2, 10, 11, options);
  const AcquisitionContext ctx{gp, gp.y().minCoeff(), rng};
  for (const auto& [name, acquisition] : conformance_acquisitions()) {
    const Eigen::VectorXd batch = acquisition->score(ctx, gp.x());
    INFO(name);
    CHECK(batch.allFinite());
    if (!acquisition->has_gradient()) continue;
    for (Eigen::Index i = 0; i < gp.x().rows(); ++i) {
      Eigen::VectorXd grad;
      CHECK(std::isfinite(acquisition->score(ctx, gp.x().row(i).transpose(), grad)));
      CHECK(grad.allFinite());
    }
  }
}

TEST_CASE("LogEI stays finite with a useful gradient where plain EI underflows to zero", "[acquisition]") {
  std::mt19937_64 rng(5);
  const GaussianProcess gp = fitted_gp(2, 10, 21);
  const double spread = gp.y().maxCoeff() - gp.y().minCoeff();
  const double incumbent = gp.y().minCoeff() - 1e3 * spread;  // far below every posterior mean
  const AcquisitionContext ctx{gp, incumbent, rng};
  const auto log_ei = labloop::make_acquisition("log_ei");
  const Eigen::MatrixXd points = random_points(20, 2, rng);
  const Eigen::VectorXd scores = log_ei->score(ctx, points);
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    const Eigen::VectorXd x = points.row(i).transpose();
    REQUIRE(plain_ei(gp, incumbent, x) == 0.0);  // the construction really is out of EI's range
    CHECK(std::isfinite(scores[i]));
    Eigen::VectorXd grad;
    log_ei->score(ctx, x, grad);
    CHECK(grad.allFinite());
    CHECK(grad.norm() > 0.0);
  }
  for (Eigen::Index i = 0; i < 4; ++i) check_gradient(*log_ei, ctx, points.row(i).transpose());
}

TEST_CASE("LogEI ranks points the same way as plain EI where EI is representable", "[acquisition]") {
  std::mt19937_64 rng(9);
  const GaussianProcess gp = fitted_gp(2, 10, 31);
  const auto log_ei = labloop::make_acquisition("log_ei");
  for (double shift : {0.0, 0.3, 1.0}) {
    const double incumbent = gp.y().minCoeff() - shift;
    const AcquisitionContext ctx{gp, incumbent, rng};
    const Eigen::MatrixXd points = random_points(200, 2, rng);
    const Eigen::VectorXd scores = log_ei->score(ctx, points);
    std::vector<double> ei;
    for (Eigen::Index i = 0; i < points.rows(); ++i) ei.push_back(plain_ei(gp, incumbent, points.row(i).transpose()));
    int compared = 0;
    for (std::size_t i = 0; i < ei.size(); ++i) {
      // Plain EI is accurate to ~1e-12 relative only well inside its range.
      if (ei[i] < 1e-100) continue;
      CHECK(std::exp(scores[static_cast<Eigen::Index>(i)]) == Approx(ei[i]).epsilon(1e-8));
      for (std::size_t j = 0; j < i; ++j) {
        if (ei[j] < 1e-100 || std::fabs(ei[i] - ei[j]) < 1e-6 * std::max(ei[i], ei[j])) continue;
        ++compared;
        CHECK((ei[i] > ei[j]) == (scores[static_cast<Eigen::Index>(i)] > scores[static_cast<Eigen::Index>(j)]));
      }
    }
    CHECK(compared > 100);
  }
}

TEST_CASE("UCB is the negated lower confidence bound with the given beta", "[acquisition]") {
  std::mt19937_64 rng(1);
  const GaussianProcess gp = fitted_gp(2, 10, 41);
  const AcquisitionContext ctx{gp, gp.y().minCoeff(), rng};
  const Eigen::MatrixXd points = random_points(10, 2, rng);
  Eigen::VectorXd mean, variance;
  gp.predict(points, mean, variance);
  const Eigen::VectorXd scores = labloop::make_acquisition("ucb", nlohmann::json{{"beta", 4.0}})->score(ctx, points);
  const Eigen::VectorXd greedy = labloop::make_acquisition("ucb", nlohmann::json{{"beta", 0.0}})->score(ctx, points);
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    CHECK(scores[i] == Approx(-(mean[i] - 2.0 * std::sqrt(variance[i]))).epsilon(1e-12));
    CHECK(greedy[i] == Approx(-mean[i]).epsilon(1e-12));
  }
}

TEST_CASE("Thompson sampling has no gradient and draws a new joint sample on every call", "[acquisition]") {
  std::mt19937_64 rng(13);
  const GaussianProcess gp = fitted_gp(2, 10, 51);
  const AcquisitionContext ctx{gp, gp.y().minCoeff(), rng};
  const auto thompson = labloop::make_acquisition("thompson");
  CHECK_FALSE(thompson->has_gradient());
  const Eigen::MatrixXd points = random_points(20, 2, rng);
  const Eigen::VectorXd first = thompson->score(ctx, points);
  const Eigen::VectorXd second = thompson->score(ctx, points);
  REQUIRE(first.size() == 20);
  CHECK(first.allFinite());
  CHECK((first - second).norm() > 1e-6);

  // Same seed, same draw: the randomness comes only from ctx.rng.
  std::mt19937_64 a(99), b(99);
  CHECK(thompson->score(AcquisitionContext{gp, 0.0, a}, points) == thompson->score(AcquisitionContext{gp, 0.0, b}, points));

  Eigen::VectorXd grad;
  CHECK_THROWS_AS(thompson->score(ctx, Eigen::VectorXd(points.row(0).transpose()), grad), std::logic_error);
}

TEST_CASE("Thompson sampling draws jointly over at most 2048 rows, the others scoring lowest", "[acquisition]") {
  std::mt19937_64 rng(17);
  const GaussianProcess gp = fitted_gp(2, 10, 53);
  const AcquisitionContext ctx{gp, gp.y().minCoeff(), rng};
  const Eigen::MatrixXd points = random_points(5000, 2, rng);  // a joint draw over all would factor 5000 × 5000
  const Eigen::VectorXd scores = labloop::make_acquisition("thompson")->score(ctx, points);
  REQUIRE(scores.size() == 5000);
  int drawn = 0;
  for (Eigen::Index i = 0; i < scores.size(); ++i) {
    CHECK(std::isfinite(scores[i]));
    drawn += scores[i] > std::numeric_limits<double>::lowest();
  }
  CHECK(drawn == 2048);
}

namespace {

// Counts the points it scores: how much work the optimizer did.
class ScoreCountingAcquisition : public labloop::Acquisition {
 public:
  std::string name() const override { return "counting"; }
  Eigen::VectorXd score(const AcquisitionContext& ctx, const Eigen::MatrixXd& x) const override {
    scored += x.rows();
    return inner_->score(ctx, x);
  }
  double score(const AcquisitionContext& ctx, const Eigen::VectorXd& x, Eigen::VectorXd& grad) const override {
    ++scored;
    return inner_->score(ctx, x, grad);
  }
  mutable long long scored = 0;

 private:
  std::unique_ptr<labloop::Acquisition> inner_ = labloop::make_acquisition("ucb");
};

}  // namespace

TEST_CASE("Acquisition optimizer: past its time budget it takes the best scored candidate, without enumerating the choices", "[acquisition]") {
  using labloop::Parameter;
  using labloop::ParameterType;
  auto options = [](int k) {
    std::vector<std::string> v;
    for (int i = 0; i < k; ++i) v.push_back("o" + std::to_string(i));
    return v;
  };
  // 14 × 13 × 19 = 3458 combinations: few enough that, in time, each start enumerates them all.
  const labloop::Space space({Parameter{.name = "a", .type = ParameterType::categorical, .choices = options(14)},
                              Parameter{.name = "b", .type = ParameterType::categorical, .choices = options(13)},
                              Parameter{.name = "c", .type = ParameterType::categorical, .choices = options(19)},
                              Parameter{.name = "x", .low = 0, .high = 1}});
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  labloop::detail::Observations observations;
  Eigen::MatrixXd x(30, space.cube_dim());
  Eigen::VectorXd y(30);
  for (int i = 0; i < 30; ++i) {
    Eigen::VectorXd p(space.cube_dim());
    for (Eigen::Index d = 0; d < p.size(); ++d) p[d] = u(rng);
    p = space.canonical(p);
    x.row(i) = p.transpose();
    y[i] = smooth_function(p);
    observations.add(p, y[i]);
  }
  GaussianProcess gp(space.cube_dim(), {});
  gp.set_data(x, y);
  gp.fit();
  const labloop::detail::AcquisitionOptimizer optimizer(space, {});
  for (const double budget_s : {1e9, 0.0}) {
    INFO("budget " << budget_s);
    const ScoreCountingAcquisition counting;
    const Eigen::VectorXd best = optimizer.maximize(counting, gp, y.minCoeff(), {}, observations, rng, budget_s);
    REQUIRE(best.size() == space.cube_dim());
    CHECK(space.canonical(best).isApprox(best, 0.0));
    CHECK_FALSE(observations.near_any(best, {}));
    if (budget_s > 0)
      CHECK(counting.scored >= 3458);  // every combination, at least once
    else
      CHECK(counting.scored <= 200);   // a small candidate set, scored once
  }
}

TEST_CASE("Acquisition optimizer: with many constrained parameters it draws fewer candidates when the budget runs out, all feasible",
          "[acquisition][constraints]") {
  using labloop::Parameter;
  // 70 fractions, three in a mixture and the rest under caps on sums of five: each candidate drawn
  // inside them walks 215 hit-and-run steps (directions by projection from 64 coordinates on).
  std::vector<Parameter> parameters;
  for (int i = 1; i <= 70; ++i) parameters.push_back(Parameter{.name = "x" + std::to_string(i), .low = 0, .high = 1});
  std::vector<labloop::LinearConstraint> constraints{*labloop::parse_linear_constraint("x1 + x2 + x3 == 1", parameters).constraint};
  for (int first = 4; first + 4 <= 70; first += 5)
    constraints.push_back(*labloop::parse_linear_constraint(fmt::format("x{} + x{} + x{} + x{} + x{} <= 3", first, first + 1, first + 2,
                                                                        first + 3, first + 4), parameters).constraint);
  const labloop::Space space(parameters, constraints);
  labloop::FeasibleSampler sampler(space);
  std::mt19937_64 rng(11);
  labloop::detail::Observations observations;
  Eigen::MatrixXd x(8, space.cube_dim());
  Eigen::VectorXd y(8);
  for (int i = 0; i < 8; ++i) {
    const Eigen::VectorXd p = sampler.next(rng);
    x.row(i) = p.transpose();
    y[i] = p.head(10).squaredNorm();
    observations.add(p, y[i]);
  }
  GaussianProcess gp(space.cube_dim(), {});
  gp.set_data(x, y);
  gp.fit();
  const labloop::detail::AcquisitionOptimizer optimizer(space, {.candidates = 256});
  const ScoreCountingAcquisition counting;
  // 1 µs: spent before the first draw, so only the floor of candidates is drawn.
  const Eigen::VectorXd hurried = optimizer.maximize(counting, gp, y.minCoeff(), {}, observations, rng, 1e-6);
  CHECK(optimizer.cut_short());
  CHECK(optimizer.ran_out_of_time());  // nor polished: the planner notes the time limit for replay
  REQUIRE(hurried.size() == space.cube_dim());
  CHECK(space.check(space.decode(hurried)).empty());
  const long long hurried_scored = counting.scored;
  const Eigen::VectorXd patient = optimizer.maximize(counting, gp, y.minCoeff(), {}, observations, rng, 1e9);
  CHECK_FALSE(optimizer.cut_short());
  CHECK_FALSE(optimizer.ran_out_of_time());
  CHECK(space.check(space.decode(patient)).empty());
  CHECK(counting.scored - hurried_scored > hurried_scored);  // the full set: more candidates scored
}
