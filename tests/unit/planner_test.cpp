#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "planner_benchmark.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/output_transform.hpp"
#include "labloop/model/planner.hpp"
#include "extending.hpp"  // examples/extending/

using namespace labloop;

namespace {

Space mixed_space() {
  return Space({Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0.1, .high = 10, .log = true},
                Parameter{.name = "n", .type = ParameterType::integer, .low = 1, .high = 5},
                Parameter{.name = "c", .type = ParameterType::categorical, .choices = {"x", "y", "z"}}});
}

std::unique_ptr<Planner> planner_for(const Space& space, const std::string& kind, nlohmann::json options = nlohmann::json::object()) {
  static const std::string source = "test.json";
  PlannerConfig config{kind, options};
  return make_planner(PlannerContext{space, 3, config, source});
}

double toy_objective(const Space& space, const Point& x) {
  const Params p = space.decode(x);
  return std::pow(p["a"].get<double>() - 0.3, 2) + std::pow(std::log10(p["b"].get<double>()), 2) + 0.1 * p["n"].get<double>() +
         (p["c"] == "y" ? 0.0 : 0.5);
}

}  // namespace

TEST_CASE("Planners: every registered planner proposes q distinct points inside the cube", "[planner]") {
  const Space space = mixed_space();
  std::vector<std::pair<std::string, std::unique_ptr<Planner>>> planners;
  for (const auto& kind : planner_kinds()) planners.emplace_back(kind, planner_for(space, kind));
  // The worked example of docs/extending.md, with an option.
  static const std::string source = "test.json";
  const PlannerConfig example{"local_random", {{"radius", 0.1}}};
  planners.emplace_back("local_random", detail::make_local_random_planner(PlannerContext{space, 3, example, source}));
  for (auto& [kind, planner] : planners) {
    INFO(kind);
    std::vector<Point> pending;
    for (int round = 0; round < 6; ++round) {
      const auto points = planner->ask(3, pending);
      REQUIRE(points.size() == 3);
      for (const auto& x : points) {
        REQUIRE(x.size() == space.cube_dim());
        CHECK(x.minCoeff() >= 0.0);
        CHECK(x.maxCoeff() <= 1.0);
        CHECK(space.check(space.decode(x)).empty());
      }
      for (size_t i = 0; i < points.size(); ++i)
        for (size_t j = i + 1; j < points.size(); ++j) CHECK((points[i] - points[j]).norm() > 1e-9);
      // Results of the previous round arrive; this round stays pending.
      for (const auto& x : pending) planner->tell(Observation::succeeded(space.canonical(x), toy_objective(space, x)));
      pending = points;
    }
  }
}

TEST_CASE("Planners: a one-level discrete parameter and a one-choice categorical are held at their value by every planner", "[planner][discrete]") {
  const Space space({Parameter{.name = "x", .low = 0, .high = 1}, Parameter{.name = "conc", .type = ParameterType::discrete, .values = {0.25}},
                     Parameter{.name = "solvent", .type = ParameterType::categorical, .choices = {"water"}}});
  for (const auto& kind : planner_kinds()) {
    INFO(kind);
    auto planner = planner_for(space, kind, kind == "bayesian" ? nlohmann::json{{"initial", 4}} : nlohmann::json::object());
    double best = 1e9;
    for (int round = 0; round < 12; ++round) {
      const auto points = planner->ask(round % 4 == 0 ? 2 : 1, {});
      REQUIRE(!points.empty());
      for (const auto& x : points) {
        REQUIRE(x.allFinite());
        const Params p = space.decode(x);
        INFO(p.dump());
        CHECK(space.check(p).empty());
        CHECK(p["conc"].get<double>() == 0.25);
        CHECK(p["solvent"] == "water");
        const double y = std::pow(p["x"].get<double>() - 0.3, 2);
        best = std::min(best, y);
        planner->tell(Observation::succeeded(space.canonical(x), y));
      }
    }
    if (kind == "bayesian") CHECK(best < 1e-4);  // the constants do not get in the way of the model
  }
}

TEST_CASE("Bayesian planner: a batch spreads out instead of collapsing onto one point", "[planner][bayesian]") {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  auto planner = planner_for(space, "bayesian", {{"initial", 6}});
  for (const auto& x : planner->ask(6, {})) planner->tell(Observation::succeeded(x, std::sin(6 * x[0]) + std::cos(5 * x[1])));
  const auto batch = planner->ask(4, {});
  REQUIRE(batch.size() == 4);
  double closest = 1e9;
  for (size_t i = 0; i < batch.size(); ++i)
    for (size_t j = i + 1; j < batch.size(); ++j) closest = std::min(closest, (batch[i] - batch[j]).norm());
  for (const auto& x : batch) INFO(x.transpose());
  CHECK(closest > 0.01);
}

TEST_CASE("Bayesian planner: it does not propose a point that failed again", "[planner][bayesian]") {
  // Six possible experiments; the best one (n = 1 and c = y) fails every time.
  const Space space({Parameter{.name = "n", .type = ParameterType::integer, .low = 1, .high = 2},
                     Parameter{.name = "c", .type = ParameterType::categorical, .choices = {"x", "y", "z"}}});
  auto planner = planner_for(space, "bayesian", {{"initial", 2}});
  int failures = 0;
  for (int i = 0; i < 10; ++i) {
    const Point x = space.canonical(planner->ask(1, {}).front());
    const Params p = space.decode(x);
    if (p["n"] == 1 && p["c"] == "y") {
      ++failures;
      planner->tell(Observation::failed(x));
    } else {
      planner->tell(Observation::succeeded(x, p["n"].get<double>() + (p["c"] == "y" ? 0.0 : 1.0)));
    }
  }
  CHECK(failures <= 1);
}

TEST_CASE("Bayesian planner: a failure amended into a result is as if the result had been told in its place", "[planner][bayesian]") {
  // `labloop enter --correct` on a failure a person entered by mistake: replay and resume amend it.
  const Space space = mixed_space();
  auto source = planner_for(space, "random");
  std::vector<Point> points;
  for (int i = 0; i < 8; ++i) points.push_back(space.canonical(source->ask(1, {}).front()));
  const auto mistaken = [](size_t i) { return i == 2 || i == 5; };
  auto amended = planner_for(space, "bayesian", {{"initial", 4}});
  auto told_right = planner_for(space, "bayesian", {{"initial", 4}});
  auto unamended = planner_for(space, "bayesian", {{"initial", 4}});
  for (size_t i = 0; i < points.size(); ++i) {
    const Observation result = Observation::succeeded(points[i], toy_objective(space, points[i]));
    amended->tell(mistaken(i) ? Observation::failed(points[i]) : result);
    unamended->tell(mistaken(i) ? Observation::failed(points[i]) : result);
    told_right->tell(result);
  }
  for (const size_t i : {size_t{5}, size_t{2}})
    amended->amend(Observation::failed(points[i]), Observation::succeeded(points[i], toy_objective(space, points[i])));
  const Point next = told_right->ask(2, {}).back();
  CHECK((amended->ask(2, {}).back() - next).norm() == 0.0);
  CHECK((unamended->ask(2, {}).back() - next).norm() > 0.0);  // the failures did make a difference
}

TEST_CASE("Bayesian planner: bad options are config errors naming the option", "[planner][bayesian]") {
  const Space space = mixed_space();
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"acquisition", "ei"}}),
                    "test.json: /planner/acquisition: must be one of: log_ei, ucb, log_pi, thompson");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"initial", 0}}), "test.json: /planner/initial: must be an integer from 1 to 100000");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"time_limit_s", -1}}), "test.json: /planner/time_limit_s: must be a number of seconds > 0 and at most 86400");
  // Fuzzed files that used to load: a wrapped int and an unbounded time limit.
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"refit_every", 4294967297LL}}), "test.json: /planner/refit_every: must be an integer from 1 to 1000000");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"candidates", 18446744073709551615ULL}}), "test.json: /planner/candidates: must be an integer from 16 to 100000");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"time_limit_s", 1e308}}), "test.json: /planner/time_limit_s: must be a number of seconds > 0 and at most 86400");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"beta", 1e300}}), "test.json: /planner/beta: must be a number > 0 and at most 1e6");
}

TEST_CASE("Bayesian planner: model-selection and trust-region options are accepted, and checked", "[planner][bayesian]") {
  const Space space = mixed_space();
  for (const nlohmann::json& options : {nlohmann::json{{"kernel", "select"}, {"output_transform", "select"}, {"trust_region", "off"}},
                                        nlohmann::json{{"kernel", "matern32"}, {"output_transform", "yeo_johnson"}, {"acquisition", "log_ei"}},
                                        nlohmann::json{{"output_transform", "half_rank"}, {"refit_every", 3}},
                                        nlohmann::json{{"output_transform", "auto"}, {"refit_every", 2}}}) {
    auto planner = planner_for(space, "bayesian", options);
    for (int i = 0; i < 12; ++i) {
      const Point x = planner->ask(1, {}).front();
      planner->tell(Observation::succeeded(x, toy_objective(space, x)));
    }
  }
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"trust_region", "on"}}), "test.json: /planner/trust_region: must be one of: candidates, off");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"output_transform", "box_cox"}}),
                    "test.json: /planner/output_transform: must be one of: select, yeo_johnson, none, half_rank, auto");
}

TEST_CASE("Planner options: a kernel's or an acquisition's own options are checked where they were written", "[planner][bayesian]") {
  const Space space = mixed_space();
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"acquisition", {{"kind", "ucb"}, {"bta", 2}}}}),
                    "test.json: /planner/acquisition/bta: unknown option for the ucb acquisition; did you mean \"beta\"? (allowed: beta)");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"acquisition", {{"kind", "ucb"}, {"beta", -2}}}}),
                    "test.json: /planner/acquisition/beta: must be finite and >= 0 (got -2)");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"acquisition", {{"kind", "ei"}}}}),
                    "test.json: /planner/acquisition/kind: must be one of: log_ei, ucb, log_pi, thompson");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"acquisition", {{"kind", "ucb"}, {"beta", 2}}}, {"beta", 2}}),
                    "test.json: /planner/beta: is given twice: here and in \"acquisition\" (keep one)");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"kernel", {{"kind", "matern52"}, {"nu", 1.5}}}}),
                    "test.json: /planner/kernel/nu: unknown option for the matern52 kernel (it takes none)");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"kernel", {{"kind", "matern_52"}}}}),
                    "test.json: /planner/kernel/kind: must be one of: matern52, matern32, squared_exponential, select");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"kernel", {{"kind", "select"}, {"nu", 1.5}}}}),
                    "test.json: /planner/kernel: select chooses between matern52 and matern32 with their defaults: it takes no options");
  CHECK_THROWS_WITH(planner_for(space, "bayesian", {{"bta", 2}}),
                    Catch::StartsWith("test.json: /planner/bta: unknown option for the bayesian planner; did you mean \"beta\"? (allowed: initial,"));
  CHECK_THROWS_WITH(planner_for(space, "sobl"), "test.json: /planner/kind: unknown planner \"sobl\"; did you mean \"sobol\"? (available: random, sobol, bayesian)");

  // The object forms mean what the short forms mean: the same proposals.
  auto proposals = [&](const nlohmann::json& options) {
    auto planner = planner_for(space, "bayesian", options);
    std::vector<Point> out;
    for (int i = 0; i < 9; ++i) {
      const Point x = planner->ask(1, {}).front();
      planner->tell(Observation::succeeded(x, toy_objective(space, x)));
      out.push_back(x);
    }
    return out;
  };
  CHECK(proposals({{"acquisition", "ucb"}, {"beta", 2}, {"kernel", "matern32"}, {"initial", 5}}) ==
        proposals({{"acquisition", {{"kind", "ucb"}, {"beta", 2}}}, {"kernel", {{"kind", "matern32"}}}, {"initial", 5}}));
}

TEST_CASE("Output transform: derivative() matches finite differences of transform()", "[planner][output_transform]") {
  // The planner compares a model of warped values with one of raw values through this Jacobian.
  const Eigen::VectorXd positive = (Eigen::VectorXd(8) << 0.01, 0.1, 0.3, 1, 2, 5, 40, 900).finished();  // Box–Cox
  const Eigen::VectorXd mixed = (Eigen::VectorXd(8) << -50, -3, -0.2, 0.1, 1, 4, 30, 2000).finished();   // Yeo–Johnson
  for (const Eigen::VectorXd& y : {positive, mixed}) {
    YeoJohnson warp;
    warp.fit(y);
    REQUIRE(warp.lambda() != 1.0);
    for (double v : {-10.0, -0.5, 0.05, 0.7, 3.0, 60.0}) {
      if (warp.box_cox() && v <= 0.01) continue;
      const double h = 1e-6 * std::max(1.0, std::abs(v));
      const double fd = (warp.transform(v + h) - warp.transform(v - h)) / (2 * h);
      CHECK(warp.derivative(v) > 0);
      CHECK(warp.derivative(v) == Approx(fd).epsilon(1e-5));
    }
  }
}

TEST_CASE("Bayesian planner: beats random search on Branin and Hartmann-6 over fixed seeds", "[planner][bayesian]") {
  BenchmarkOptions options;
  options.problems = {{"branin", 0, 30}, {"hartmann6", 0, 30}};
  options.planners = {{"random", {{"kind", "random"}}}, {"bayesian", {{"kind", "bayesian"}, {"initial", 8}}}};
  options.seeds = 5;
  const auto runs = run_benchmark(options);
  for (const std::string problem : {"branin", "hartmann6"}) {
    std::map<int, double> random, bayesian;
    for (const auto& r : runs)
      if (r.problem == problem) (r.planner == "random" ? random : bayesian)[r.seed] = r.regret.back();
    int wins = 0;
    std::vector<double> rb, bb;
    for (const auto& [seed, regret] : bayesian) {
      wins += regret < random[seed];
      rb.push_back(random[seed]);
      bb.push_back(regret);
    }
    std::sort(rb.begin(), rb.end());
    std::sort(bb.begin(), bb.end());
    INFO(problem << ": median regret random " << rb[2] << " bayesian " << bb[2]);
    CHECK(wins >= 4);                // paired by seed: BO ahead on at least 4 of 5
    CHECK(bb[2] < rb[2] / 4);        // and by a clear margin on the median
  }
}

TEST_CASE("Bayesian planner: with noise_dominated space_filling, results that are mostly noise continue the design and a clear signal changes nothing", "[planner][bayesian]") {
  const Space space({Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0, .high = 1},
                     Parameter{.name = "c", .low = 0, .high = 1}});
  const nlohmann::json rule = {{"initial", 5}, {"noise_dominated", "space_filling"}};
  auto on_face = [](const Point& x) { return (x.array() == 0.0).any() || (x.array() == 1.0).any(); };
  // Pure noise: the values say nothing about the settings. The rule applies at each ask whose
  // fitted noise is over 80 % of the variance (most of them here), and the journal is told when
  // that begins, not at every ask; the acquisition alone sends most proposals to the box's faces.
  int faces[2] = {0, 0}, notes = 0;
  for (const bool with : {true, false}) {
    auto planner = planner_for(space, "bayesian", with ? rule : nlohmann::json{{"initial", 5}});
    std::mt19937_64 rng(11);
    std::normal_distribution<double> noise(0.0, 1.0);
    for (int i = 0; i < 25; ++i) {
      const Point x = planner->ask(1, {}).front();
      const bool noted = planner->take_note().find("down to noise: continuing the space-filling design") != std::string::npos;
      CHECK((with || !noted));
      notes += noted;
      faces[with ? 0 : 1] += i >= 5 && on_face(x);
      planner->tell(Observation::succeeded(x, noise(rng)));
    }
  }
  INFO("proposals on a face with the rule " << faces[0] << ", without " << faces[1] << "; notes " << notes);
  CHECK(notes >= 1);
  CHECK(notes <= 5);
  CHECK(3 * faces[0] < faces[1]);
  // A clean signal: the rule never applies, and the proposals are those of the acquisition.
  auto with_rule = planner_for(space, "bayesian", rule), without = planner_for(space, "bayesian", {{"initial", 5}});
  auto bowl = [](const Point& x) { return (x.array() - 0.3).square().sum(); };
  for (int i = 0; i < 15; ++i) {
    const Point x = with_rule->ask(1, {}).front(), y = without->ask(1, {}).front();
    REQUIRE(x.isApprox(y, 0.0));
    CHECK(with_rule->take_note().find("noise") == std::string::npos);
    with_rule->tell(Observation::succeeded(x, bowl(x)));
    without->tell(Observation::succeeded(y, bowl(y)));
  }
}

TEST_CASE("Bayesian planner: past its time limit it still answers and says so once", "[planner][bayesian]") {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  auto planner = planner_for(space, "bayesian", {{"initial", 5}, {"time_limit_s", 1e-6}});
  for (const auto& x : planner->ask(5, {})) planner->tell(Observation::succeeded(x, x.squaredNorm()));
  CHECK(planner->take_note().empty());  // the initial design takes no time worth noting
  const auto points = planner->ask(2, {});
  CHECK(points.size() == 2);
  CHECK(planner->take_note().find("time limit of 1e-06 s reached") == 0);
  CHECK(planner->take_note().empty());
  // Stretched (as replay stretches an ask that was not cut when first made): not cut now.
  planner->stretch_time_limit(1e9);
  CHECK(planner->ask(1, {}).size() == 1);
  CHECK(planner->take_note().empty());
  planner->stretch_time_limit(1.0);
  CHECK(planner->ask(1, {}).size() == 1);
  CHECK(planner->take_note().find("time limit of 1e-06 s reached") == 0);
}

TEST_CASE("Bayesian planner: batches of four on Hartmann-6 stay far ahead of random points", "[planner][bayesian]") {
  BenchmarkOptions options;
  options.problems = {{"hartmann6", 0, 32}};
  options.planners = {{"random", {{"kind", "random"}}}, {"bayesian", {{"kind", "bayesian"}, {"initial", 8}}}};
  options.seeds = 5;
  options.batch = 4;  // the initial design in one round, then six model rounds of 4
  const auto runs = run_benchmark(options);
  std::map<int, double> random, bayesian;
  for (const auto& r : runs) {
    REQUIRE(r.regret.size() == 32);
    CHECK(r.ask_seconds.size() == (r.planner == "random" ? 8u : 7u));
    CHECK(r.design_asks == (r.planner == "random" ? 8u : 1u));
    (r.planner == "random" ? random : bayesian)[r.seed] = r.regret.back();
  }
  CHECK(options.problems.front().label() == "hartmann6");
  CHECK(BenchmarkProblem{"hartmann6", 0, 50, -1, 10, 4}.label() == "hartmann6 batch 4");
  int wins = 0;
  std::vector<double> bb;
  for (const auto& [seed, regret] : bayesian) {
    wins += regret < random[seed];
    bb.push_back(regret);
  }
  std::sort(bb.begin(), bb.end());
  CHECK(wins >= 4);
  CHECK(bb[2] < 0.5);  // random search's median regret here is about 1.6
}

TEST_CASE("Bayesian planner: between refits new results extend the model and it still converges", "[planner][bayesian]") {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  auto planner = planner_for(space, "bayesian", {{"initial", 5}, {"refit_every", 6}});
  double best = 1e9;
  for (int i = 0; i < 25; ++i) {
    const Point x = planner->ask(1, {}).front();
    const double y = (x - Eigen::Vector2d(0.3, 0.7)).squaredNorm();
    best = std::min(best, y);
    if (x[0] > 0.8) planner->tell(Observation::failed(x));  // a region where the instrument fails: failures arrive between refits too
    else planner->tell(Observation::succeeded(x, y));
  }
  CHECK(best < 1e-3);
}

TEST_CASE("Bayesian planner: in a purely categorical space it never proposes a combination twice", "[planner][bayesian]") {
  const Space space({Parameter{.name = "solvent", .type = ParameterType::categorical, .choices = {"THF", "DMF", "MeCN"}},
                     Parameter{.name = "base", .type = ParameterType::categorical, .choices = {"K2CO3", "Cs2CO3", "DBU", "Et3N"}}});
  auto planner = planner_for(space, "bayesian", {{"initial", 3}});
  std::set<std::string> seen;
  for (int i = 0; i < 12; ++i) {
    const Point x = space.canonical(planner->ask(1, {}).front());
    const Params p = space.decode(x);
    const std::string combination = p["solvent"].get<std::string>() + "/" + p["base"].get<std::string>();
    INFO(combination);
    CHECK(seen.insert(combination).second);
    planner->tell(Observation::succeeded(x, static_cast<double>(combination.size()) + (p["base"] == "DBU" ? -5.0 : 0.0)));
  }
  CHECK(seen.size() == 12);
}

TEST_CASE("Bayesian planner: its initial design never repeats a setting either, run or still running, over several seeds", "[planner][bayesian]") {
  // 64 settings; a design of 20 snapped to choices fell on a setting twice for some seeds.
  std::vector<Parameter> parameters;
  for (const char* name : {"c0", "c1", "c2"})
    parameters.push_back(Parameter{.name = name, .type = ParameterType::categorical, .choices = {"a", "b", "c", "d"}});
  const Space space(parameters);
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    static const std::string source = "test.json";
    const PlannerConfig config{"bayesian", {{"initial", 20}, {"design_repeats", "avoid"}}};
    auto planner = make_planner(PlannerContext{space, seed, config, source});
    std::set<std::string> seen;
    std::vector<Point> running;
    for (int i = 0; i < 20; ++i) {
      const Point x = space.canonical(planner->ask(1, running).front());
      const Params p = space.decode(x);
      const std::string setting = p["c0"].get<std::string>() + p["c1"].get<std::string>() + p["c2"].get<std::string>();
      INFO("seed " << seed << ", ask " << i + 1 << ": " << setting);
      CHECK(seen.insert(setting).second);
      // Every third stays running (pending), the others are told.
      if (i % 3 == 0) running.push_back(x);
      else planner->tell(Observation::succeeded(x, static_cast<double>(i)));
    }
  }
}

TEST_CASE("Bayesian planner: it finds the one good choice of a categorical parameter", "[planner][bayesian]") {
  const Space space({Parameter{.name = "x", .low = 0, .high = 1},
                     Parameter{.name = "c", .type = ParameterType::categorical, .choices = {"a", "b", "c", "d", "e", "f"}}});
  auto planner = planner_for(space, "bayesian", {{"initial", 4}});
  double best = 1e9;
  for (int i = 0; i < 20; ++i) {
    const Point x = space.canonical(planner->ask(1, {}).front());
    const Params p = space.decode(x);
    const double y = std::pow(p["x"].get<double>() - 0.5, 2) + (p["c"] == "f" ? 0.0 : 1.0);
    best = std::min(best, y);
    planner->tell(Observation::succeeded(x, y));
  }
  CHECK(best < 0.01);
}

TEST_CASE("Bayesian planner: with too many combinations to enumerate it still finds good choices, never twice", "[planner][bayesian]") {
  // 20 × 20 × 20 = 8000 combinations (beyond enumeration) and a continuous parameter; the
  // objective adds one effect per choice: 0 for one good choice per parameter, 0.5–1 for the
  // others. A model that learns which choices are good can combine them; random search cannot.
  std::vector<std::string> choices;
  for (int c = 0; c < 20; ++c) choices.push_back("c" + std::to_string(c));
  std::vector<Parameter> parameters{Parameter{.name = "x", .low = 0, .high = 1}};
  for (const char* name : {"a", "b", "c"}) parameters.push_back(Parameter{.name = name, .type = ParameterType::categorical, .choices = choices});
  const Space space(parameters);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::map<std::string, std::vector<double>> effect;
  for (const char* name : {"a", "b", "c"})
    for (int c = 0; c < 20; ++c) effect[name].push_back(c == 7 ? 0.0 : 0.5 + 0.5 * unit(rng));
  const double optimum = *std::min_element(effect["a"].begin(), effect["a"].end()) +
                         *std::min_element(effect["b"].begin(), effect["b"].end()) + *std::min_element(effect["c"].begin(), effect["c"].end());
  auto objective = [&](const Point& x) {
    const Params p = space.decode(x);
    double y = std::pow(p["x"].get<double>() - 0.4, 2);
    for (const char* name : {"a", "b", "c"}) y += effect[name][static_cast<size_t>(std::stoi(p[name].get<std::string>().substr(1)))];
    return y;
  };
  std::vector<double> bayesian, random;
  int wins = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    for (const std::string kind : {"bayesian", "random"}) {
      // Fewer candidates than the default 1024 keep this test quick under the sanitizers; the
      // local search over choices is what is under test.
      PlannerConfig config{kind, kind == "bayesian" ? nlohmann::json{{"initial", 10}, {"candidates", 256}} : nlohmann::json::object()};
      static const std::string source = "test.json";
      auto planner = make_planner(PlannerContext{space, seed, config, source});
      std::set<std::vector<double>> seen;
      double best = 1e9;
      for (int i = 0; i < 40; ++i) {
        const Point x = space.canonical(planner->ask(1, {}).front());
        if (kind == "bayesian") CHECK(seen.insert(std::vector<double>(x.data(), x.data() + x.size())).second);
        const double y = objective(x);
        best = std::min(best, y);
        planner->tell(Observation::succeeded(x, y));
      }
      (kind == "bayesian" ? bayesian : random).push_back(best - optimum);
    }
    wins += bayesian.back() < random.back();
  }
  std::sort(bayesian.begin(), bayesian.end());
  std::sort(random.begin(), random.end());
  INFO("median regret bayesian " << bayesian[2] << " random " << random[2]);
  CHECK(wins >= 4);  // paired by seed
  CHECK(bayesian[2] < 0.7 * random[2]);
}

namespace {

// Seven unequally spaced levels each: the objective's optimum sits between levels in value, so
// the planner has to use the distances, not just the order.
const std::vector<double> kPlannerTestLevelsA{0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0};
const std::vector<double> kPlannerTestLevelsB{1, 1.5, 2, 3, 5, 8, 13};

double planner_test_discrete_objective(double a, double b, double x) {
  return std::pow((a - 0.37) / 0.3, 2) + std::pow((b - 2.2) / 3, 2) + std::pow(x - 0.4, 2);
}

bool planner_test_is_level(const std::vector<double>& levels, const nlohmann::json& v) {
  return std::find(levels.begin(), levels.end(), v.get<double>()) != levels.end();
}

}  // namespace

TEST_CASE("Bayesian planner: over discrete levels it proposes only levels, never a combination twice, and finds the best one", "[planner][bayesian][discrete]") {
  const Space space({Parameter{.name = "a", .type = ParameterType::discrete, .values = kPlannerTestLevelsA},
                     Parameter{.name = "b", .type = ParameterType::discrete, .values = kPlannerTestLevelsB}});
  auto planner = planner_for(space, "bayesian", {{"initial", 5}});
  std::set<std::pair<double, double>> seen;
  double best = 1e9;
  for (int i = 0; i < 20; ++i) {
    const Point x = planner->ask(1, {}).front();
    CHECK(space.canonical(x).isApprox(x, 1e-12));  // already snapped to levels
    const Params p = space.decode(x);
    CHECK(planner_test_is_level(kPlannerTestLevelsA, p["a"]));
    CHECK(planner_test_is_level(kPlannerTestLevelsB, p["b"]));
    INFO(p.dump());
    CHECK(seen.emplace(p["a"].get<double>(), p["b"].get<double>()).second);
    const double y = planner_test_discrete_objective(p["a"].get<double>(), p["b"].get<double>(), 0.4);
    best = std::min(best, y);
    planner->tell(Observation::succeeded(x, y));
  }
  CHECK(best == planner_test_discrete_objective(0.4, 2, 0.4));
}

TEST_CASE("Bayesian planner: with two discrete parameters and a continuous one it finds the best levels and the continuous optimum", "[planner][bayesian][discrete]") {
  const Space space({Parameter{.name = "a", .type = ParameterType::discrete, .values = kPlannerTestLevelsA},
                     Parameter{.name = "x", .low = 0, .high = 1},
                     Parameter{.name = "b", .type = ParameterType::discrete, .values = kPlannerTestLevelsB}});
  auto planner = planner_for(space, "bayesian", {{"initial", 6}});
  double best = 1e9;
  Params best_params;
  for (int i = 0; i < 30; ++i) {
    const std::vector<Point> batch = planner->ask(i % 3 == 0 ? 2 : 1, {});
    for (const Point& x : batch) {
      const Params p = space.decode(x);
      CHECK(planner_test_is_level(kPlannerTestLevelsA, p["a"]));
      CHECK(planner_test_is_level(kPlannerTestLevelsB, p["b"]));
      CHECK(space.check(p).empty());
      const double y = planner_test_discrete_objective(p["a"].get<double>(), p["b"].get<double>(), p["x"].get<double>());
      if (y < best) best = y, best_params = p;
      planner->tell(Observation::succeeded(x, y));
    }
  }
  INFO(best_params.dump());
  CHECK(best_params["a"].get<double>() == 0.4);
  CHECK(best_params["b"].get<double>() == 2);
  CHECK(best - planner_test_discrete_objective(0.4, 2, 0.4) < 0.005);
}
