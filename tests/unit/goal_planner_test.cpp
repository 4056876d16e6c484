// The Bayesian planner on real goals: several objectives (EHVI, ParEGO), outcome constraints, and
// failures learned by the feasibility model — and the maths those rest on, against finite
// differences.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "labloop/model/feasibility_model.hpp"
#include "labloop/model/hypervolume.hpp"
#include "labloop/model/kernel.hpp"
#include "labloop/model/pareto.hpp"
#include "labloop/model/planner.hpp"
#include "../../src/model/optimize/goal_acquisition.hpp"

using namespace labloop;

namespace {

// BraninCurrin on [0,1]² (both minimized), as in BoTorch's test problem.
Eigen::Vector2d goal_branin_currin(const Eigen::VectorXd& x) {
  const double a = 15 * x[0] - 5, b = 15 * x[1];
  const double branin = std::pow(b - 5.1 / (4 * std::numbers::pi * std::numbers::pi) * a * a + 5 / std::numbers::pi * a - 6, 2) +
                        10 * (1 - 1 / (8 * std::numbers::pi)) * std::cos(a) + 10;
  const double u = x[0], v = std::max(x[1], 1e-12);
  const double currin = (1 - std::exp(-1 / (2 * v))) * (2300 * u * u * u + 1900 * u * u + 2092 * u + 60) / (100 * u * u * u + 500 * u * u + 4 * u + 20);
  return {branin, currin};
}

Space goal_unit_square() { return Space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}}); }

std::unique_ptr<Planner> goal_planner(const Space& space, const std::string& kind, std::uint64_t seed, PlannerGoals goals,
                                      nlohmann::json options = nlohmann::json::object()) {
  static const std::string source = "goals.json";
  static std::vector<std::unique_ptr<PlannerConfig>> configs;  // PlannerContext holds a reference
  configs.push_back(std::make_unique<PlannerConfig>(PlannerConfig{kind, std::move(options)}));
  return make_planner(PlannerContext{space, seed, *configs.back(), source, std::move(goals)});
}

double branin_currin_hypervolume(const std::string& kind, std::uint64_t seed, nlohmann::json options = nlohmann::json::object()) {
  PlannerGoals goals;
  goals.objectives = 2;
  goals.thresholds = {18, 6};
  const Space space = goal_unit_square();
  auto planner = goal_planner(space, kind, seed, goals, std::move(options));
  Eigen::MatrixXd ys(0, 2);
  for (int i = 0; i < 30; ++i) {
    const Point x = planner->ask(1, {}).front();
    const Eigen::Vector2d y = goal_branin_currin(x);
    Observation o = Observation::succeeded(x, y[0]);
    o.objectives = {y[0], y[1]};
    planner->tell(o);
    ys.conservativeResize(ys.rows() + 1, Eigen::NoChange);
    ys.row(ys.rows() - 1) = y.transpose();
  }
  return hypervolume(ys, Eigen::Vector2d(18, 6));
}

}  // namespace

TEST_CASE("Feasibility model: likely success near successes, likely failure near failures, gradient exact", "[goals][feasibility]") {
  // Experiments fail where x1 > 0.6.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd x(30, 2);
  std::vector<bool> ok;
  for (int i = 0; i < 30; ++i) {
    x(i, 0) = u(rng), x(i, 1) = u(rng);
    ok.push_back(x(i, 0) <= 0.6);
  }
  auto kernel = make_kernel("matern52", 2);
  FeasibilityModel model;
  model.fit(*kernel, x, ok);
  REQUIRE(model.fitted());
  Eigen::MatrixXd probe(2, 2);
  probe << 0.2, 0.5, 0.95, 0.5;
  const Eigen::VectorXd logp = model.log_probability(probe);
  CHECK(std::exp(logp[0]) > 0.8);
  CHECK(std::exp(logp[1]) < 0.2);
  CHECK((logp.array() <= 0).all());
  for (const Eigen::Vector2d& at : {Eigen::Vector2d(0.3, 0.4), Eigen::Vector2d(0.62, 0.7), Eigen::Vector2d(0.9, 0.1)}) {
    Eigen::VectorXd grad;
    const double value = model.log_probability(Eigen::VectorXd(at), grad);
    CHECK(value == Approx(model.log_probability(Eigen::MatrixXd(at.transpose()))[0]).epsilon(1e-10));
    for (int d = 0; d < 2; ++d) {
      const double h = 1e-6;
      Eigen::VectorXd plus = at, minus = at, ignored;
      plus[d] += h, minus[d] -= h;
      const double fd = (model.log_probability(plus, ignored) - model.log_probability(minus, ignored)) / (2 * h);
      CHECK(grad[d] == Approx(fd).margin(1e-5).epsilon(1e-4));
    }
  }
  // Copies predict alike, and assigning an empty model (what the planner does when a fit fails)
  // leaves it unfitted.
  FeasibilityModel copy(model);
  CHECK(copy.log_probability(probe).isApprox(logp));
  FeasibilityModel assigned;
  assigned = copy;
  CHECK(assigned.log_probability(probe).isApprox(logp));
  assigned = FeasibilityModel();
  CHECK_FALSE(assigned.fitted());
  // Every experiment succeeded or every one failed: still a finite, sensible model.
  model.fit(*kernel, x, std::vector<bool>(30, true));
  CHECK(std::exp(model.log_probability(probe).minCoeff()) > 0.5);
  model.fit(*kernel, x, std::vector<bool>(30, false));
  CHECK(std::exp(model.log_probability(probe).maxCoeff()) < 0.5);
}

TEST_CASE("Goal acquisition: gradients match finite differences for every combination of parts", "[goals]") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd x(12, 2);
  Eigen::VectorXd y1(12), y2(12), c(12);
  std::vector<bool> ok;
  for (int i = 0; i < 12; ++i) {
    x(i, 0) = u(rng), x(i, 1) = u(rng);
    const Eigen::Vector2d y = goal_branin_currin(x.row(i).transpose());
    y1[i] = y[0], y2[i] = y[1], c[i] = x(i, 0) + x(i, 1) - 1.0;
    ok.push_back(x(i, 1) < 0.8);
  }
  GaussianProcess g1(2), g2(2), gc(2);
  g1.set_data(x, y1), g2.set_data(x, y2), gc.set_data(x, c);
  g1.fit(), g2.fit(), gc.fit();
  FeasibilityModel feasibility;
  feasibility.fit(g1.kernel(), x, ok);
  Eigen::MatrixXd front(12, 2);
  front << y1, y2;
  const LogExpectedHypervolumeImprovement ehvi(pareto_front(front), infer_reference_point(front));
  std::vector<detail::GoalParts> cases;
  cases.push_back(detail::GoalParts{{&g1}, {&gc}, {}, nullptr, y1.minCoeff(), nullptr});
  cases.push_back(detail::GoalParts{{&g1}, {&gc}, {0.1}, &feasibility, std::nan(""), nullptr});  // nothing feasible yet
  cases.push_back(detail::GoalParts{{&g1, &g2}, {}, {}, nullptr, std::nan(""), &ehvi});
  cases.push_back(detail::GoalParts{{&g1, &g2}, {&gc}, {-0.2}, &feasibility, std::nan(""), &ehvi});
  std::mt19937_64 ctx_rng(1);
  const AcquisitionContext ctx{g1, 0.0, ctx_rng};
  for (size_t k = 0; k < cases.size(); ++k) {
    INFO("case " << k);
    const detail::GoalAcquisition a(cases[k]);
    for (const Eigen::Vector2d& at : {Eigen::Vector2d(0.31, 0.42), Eigen::Vector2d(0.77, 0.13)}) {
      Eigen::VectorXd grad, ignored;
      const double value = a.score(ctx, Eigen::VectorXd(at), grad);
      CHECK(value == Approx(a.score(ctx, Eigen::MatrixXd(at.transpose()))[0]).epsilon(1e-8));
      for (int d = 0; d < 2; ++d) {
        const double h = 1e-6;
        Eigen::VectorXd plus = at, minus = at;
        plus[d] += h, minus[d] -= h;
        const double fd = (a.score(ctx, plus, ignored) - a.score(ctx, minus, ignored)) / (2 * h);
        CHECK(grad[d] == Approx(fd).margin(1e-4).epsilon(1e-3));
      }
    }
  }
}

TEST_CASE("Bayesian planner: on BraninCurrin it covers the front far better than random search", "[goals][planner][bayesian]") {
  // 30 experiments, reference (18, 6); the maximum hypervolume is 59.36.
  std::vector<double> bayes, parego, random;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    bayes.push_back(branin_currin_hypervolume("bayesian", seed));
    random.push_back(branin_currin_hypervolume("random", seed));
  }
  parego.push_back(branin_currin_hypervolume("bayesian", 1, {{"multi_objective", "parego"}}));
  std::sort(bayes.begin(), bayes.end());
  std::sort(random.begin(), random.end());
  INFO("bayesian " << bayes[0] << " " << bayes[1] << " " << bayes[2] << "; random " << random[1] << "; parego " << parego[0]);
  CHECK(bayes[1] > 55.0);
  CHECK(bayes[0] > random[2]);
  CHECK(parego[0] > random[1]);
}

TEST_CASE("Bayesian planner: an outcome constraint keeps proposals feasible once the model knows it", "[goals][planner][bayesian]") {
  // Minimize (x1 − 0.8)² + (x2 − 0.8)² subject to x1 + x2 ≤ 1: the optimum is on the line, at (0.5, 0.5).
  PlannerGoals goals;
  goals.outcome_constraints = 1;
  const Space space = goal_unit_square();
  auto planner = goal_planner(space, "bayesian", 4, goals);
  int infeasible_late = 0;
  double best_feasible = 1e9;
  for (int i = 0; i < 30; ++i) {
    const Point x = planner->ask(1, {}).front();
    const double y = std::pow(x[0] - 0.8, 2) + std::pow(x[1] - 0.8, 2), c = x[0] + x[1] - 1.0;
    Observation o = Observation::succeeded(x, y);
    o.constraints = {c};
    planner->tell(o);
    if (c <= 0) best_feasible = std::min(best_feasible, y);
    if (i >= 15 && c > 1e-3) ++infeasible_late;
  }
  CHECK(best_feasible < 0.18 + 0.01);  // 0.18 at (0.5, 0.5)
  CHECK(infeasible_late <= 3);
}

TEST_CASE("Bayesian planner: with the feasibility model fewer experiments fail", "[goals][planner][bayesian]") {
  // Minimize the squared distance to (0.7, 0.7), where experiments fail within 0.25 of that point:
  // the failures hide the unconstrained optimum, and the best results lie on the rim of the disc
  // (a cliff, where teaching failures as the worst value alone keeps sending experiments over it).
  auto failures = [](const std::string& model, std::uint64_t seed) {
    const Space space = goal_unit_square();
    auto planner = goal_planner(space, "bayesian", seed, PlannerGoals{}, {{"failure_model", model}});
    int failed = 0;
    for (int i = 0; i < 30; ++i) {
      const Point x = planner->ask(1, {}).front();
      const double r2 = std::pow(x[0] - 0.7, 2) + std::pow(x[1] - 0.7, 2);
      if (r2 < 0.25 * 0.25) {
        failed += i >= 5 ? 1 : 0;  // the initial design is the same either way
        planner->tell(Observation::failed(x));
      } else {
        planner->tell(Observation::succeeded(x, r2));
      }
    }
    return failed;
  };
  int with = 0, without = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) with += failures("on", seed), without += failures("off", seed);
  INFO("failed with the model " << with << ", without " << without);
  CHECK(with < without);
}
