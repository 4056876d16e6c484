// Results of every magnitude: values near the largest double, denormals, ties, and whole
// campaigns recorded in tiny units. Apart from planner_test.cpp so that ctest runs the two in
// parallel (together they were the sanitizer build's longest unit test).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "labloop/model/planner.hpp"

using namespace labloop;

namespace {

std::unique_ptr<Planner> bayesian_planner(const Space& space, nlohmann::json options = nlohmann::json::object()) {
  static const std::string source = "test.json";
  PlannerConfig config{"bayesian", std::move(options)};
  return make_planner(PlannerContext{space, 3, config, source});
}

// Tells a 2-d bayesian planner the initial design's results (values[i] for the i-th point, the
// objective x0² + x1² past the list), then asks `asks` more times, telling each answer; returns
// every proposal after the initial design. Proposals must be finite and inside the cube.
std::vector<Point> extreme_run(const std::vector<double>& values, int asks = 4, nlohmann::json options = {{"initial", 6}}) {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  auto planner = bayesian_planner(space, std::move(options));
  const int initial = 6;
  size_t told = 0;
  for (const auto& x : planner->ask(initial, {})) {
    planner->tell(Observation::succeeded(x, told < values.size() ? values[told] : x.squaredNorm()));
    ++told;
  }
  std::vector<Point> proposals;
  for (int i = 0; i < asks; ++i) {
    const auto points = planner->ask(1, {});
    REQUIRE(points.size() == 1);
    const Point& x = points.front();
    INFO("ask " << i << ": " << x.transpose());
    REQUIRE(x.size() == 2);
    REQUIRE(x.allFinite());
    REQUIRE(x.minCoeff() >= 0.0);
    REQUIRE(x.maxCoeff() <= 1.0);
    proposals.push_back(x);
    // The model takes such values as they come: no fallback to space-filling points.
    const std::string note = planner->take_note();
    CHECK(note.find("not finite") == std::string::npos);
    planner->tell(Observation::succeeded(x, told < values.size() ? values[told] : x.squaredNorm()));
    ++told;
  }
  return proposals;
}

}  // namespace

TEST_CASE("Bayesian planner: one extreme but finite value in the initial design does not crash it (issue 14)", "[planner][bayesian]") {
  // 1e200 and beyond used to overflow the standardization (y² > DBL_MAX) and end in a SIGSEGV.
  for (double huge : {1e20, 1e150, 1e155, 1e200, 1e300, -1e300, 1.797e308, -1.797e308, DBL_MAX, -DBL_MAX}) {
    INFO("value " << huge);
    for (int position : {0, 3, 5}) {
      std::vector<double> values{0.5, 0.2, 0.9, 0.4, 0.7, 0.3};
      values[static_cast<size_t>(position)] = huge;
      extreme_run(values);
    }
  }
}

TEST_CASE("Bayesian planner: mixtures of extreme, equal, tiny and nearly equal values never crash it", "[planner][bayesian]") {
  const double denormal = std::numeric_limits<double>::denorm_min();
  const double next = std::nextafter(1.0, 2.0);
  const std::vector<std::vector<double>> cases{
      {1e300, -1e300, 1e250, -1e280, DBL_MAX, -DBL_MAX},         // several huge values of both signs
      {1e300, 1.0, 2.0, 3.0, 1e-3, -7.0},                         // one huge value among ordinary ones
      {-1e300, 1.0, 2.0, 3.0, 1e-3, -7.0},                        // the best value by far (a maximized 1e300)
      {1e300, 1e300, 1e300, 1e300, 1e300, 1e300},                 // all equal and huge
      {-DBL_MAX, -DBL_MAX, -DBL_MAX, -DBL_MAX, -DBL_MAX, -DBL_MAX},
      {DBL_MAX, -DBL_MAX, DBL_MAX, -DBL_MAX, DBL_MAX, -DBL_MAX},  // spread beyond the double range
      {DBL_MAX, std::nextafter(DBL_MAX, 0.0), DBL_MAX, 1.0, 0.0, -1.0},
      {denormal, 2 * denormal, -denormal, 0.0, 5 * denormal, 3 * denormal},  // denormals
      {1.0, next, 1.0, std::nextafter(next, 2.0), next, 1.0},                // differing only in the last bits
      {1e300, next, 1.0, denormal, -denormal, -1e300},
  };
  for (const auto& values : cases) {
    INFO("values " << values[0] << " " << values[1] << " " << values[2] << " " << values[3] << " " << values[4] << " " << values[5]);
    extreme_run(values, 4);
    // Every value extreme (not only the initial design's), with every output-transform choice.
    for (const char* transform : {"select", "yeo_johnson", "none", "half_rank"}) {
      INFO(transform);
      std::vector<double> all = values;
      for (int i = 0; i < 4; ++i) all.push_back(values[static_cast<size_t>(i)]);
      extreme_run(all, 4, {{"initial", 6}, {"output_transform", transform}});
    }
  }
}

TEST_CASE("Bayesian planner: extreme values arriving between refits and failures next to them never crash it", "[planner][bayesian]") {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  for (double huge : {1e300, -1e300, DBL_MAX, -DBL_MAX})
   for (const char* transform : {"select", "half_rank"}) {
    INFO("value " << huge << ", " << transform);
    auto planner = bayesian_planner(space, {{"initial", 5}, {"refit_every", 5}, {"output_transform", transform}});
    for (int i = 0; i < 14; ++i) {
      const Point x = planner->ask(1, {}).front();
      REQUIRE(x.allFinite());
      REQUIRE(x.minCoeff() >= 0.0);
      REQUIRE(x.maxCoeff() <= 1.0);
      if (i % 4 == 2) planner->tell(Observation::failed(x));  // taught as the worst value seen, which may be huge
      else planner->tell(Observation::succeeded(x, i == 6 || i == 9 ? huge : x.squaredNorm()));
    }
  }
}

TEST_CASE("Bayesian planner: two planners told the same extreme history propose the same points", "[planner][bayesian]") {
  for (const std::vector<double>& values : {std::vector<double>{1e300, 0.5, 0.2, 0.9, 0.4, 0.7}, std::vector<double>{-DBL_MAX, 1.0, DBL_MAX, 2.0, -1e200, 0.1}}) {
    const auto a = extreme_run(values, 4);
    const auto b = extreme_run(values, 4);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);
  }
}

TEST_CASE("Bayesian planner: a huge best value (a maximized 1e300) still steers the search towards it", "[planner][bayesian]") {
  // The campaign negates maximized objectives: 1e300 for "maximize" arrives as −1e300. The other
  // initial results are flat (1, 1.01, …: no hint where the optimum is) and later ones grow with
  // the distance from the extreme point; the next proposals should stay nearer the extreme point
  // than random points would be (mean distance of two uniform points in the square: about 0.52).
  // Deterministic (fixed seed); measured 0.15–0.24 per position, the same as for −1e20, which
  // needs no compression.
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  for (double best : {-1e300, -DBL_MAX}) {
    double total = 0;
    int asks = 0;
    for (size_t position : {0, 3, 5, 7}) {
      auto planner = bayesian_planner(space, {{"initial", 8}});
      const auto design = planner->ask(8, {});
      const Point extreme = design[position];
      for (size_t i = 0; i < design.size(); ++i) planner->tell(Observation::succeeded(design[i], i == position ? best : 1.0 + 0.01 * static_cast<double>(i)));
      for (int i = 0; i < 6; ++i, ++asks) {
        const Point x = planner->ask(1, {}).front();
        REQUIRE(x.allFinite());
        total += (x - extreme).norm();
        planner->tell(Observation::succeeded(x, 1.0 + (x - extreme).norm()));
      }
    }
    INFO("best value " << best << ": mean distance of the proposals from it " << total / asks);
    CHECK(total / asks < 0.3);
  }
}

TEST_CASE("Bayesian planner: every acquisition and batches with pending points take extreme values", "[planner][bayesian]") {
  const Space space({Parameter{.name = "x1", .low = 0, .high = 1}, Parameter{.name = "x2", .low = 0, .high = 1}});
  for (const std::string acquisition : {"ucb", "log_ei", "log_pi", "thompson"})
    for (const std::vector<double>& values : {std::vector<double>{1e300, 0.5, -DBL_MAX, 0.9, 0.4, 0.7}, std::vector<double>{-1e300, 1.0, 1.0, 1.0, 1.0, 1.0}}) {
      INFO(acquisition << ", first value " << values[0]);
      // (Thompson sampling draws jointly over all candidates, O(m³): 64 keep the test fast.)
      auto planner = bayesian_planner(space, {{"initial", 6}, {"acquisition", acquisition}, {"candidates", 64}});
      const auto design = planner->ask(6, {});
      for (size_t i = 0; i < design.size(); ++i) planner->tell(Observation::succeeded(design[i], values[i]));
      std::vector<Point> pending = planner->ask(2, {});
      for (int round = 0; round < 3; ++round) {
        const auto batch = planner->ask(3, pending);
        REQUIRE(batch.size() == 3);
        for (const auto& x : batch) {
          REQUIRE(x.allFinite());
          REQUIRE(x.minCoeff() >= 0.0);
          REQUIRE(x.maxCoeff() <= 1.0);
        }
        CHECK(planner->take_note().find("not finite") == std::string::npos);
        for (const auto& x : pending) planner->tell(Observation::succeeded(x, round == 1 ? DBL_MAX : x.squaredNorm()));
        pending = batch;
      }
    }
}

// The same experiments for results in any unit: a person recording amounts in mol (1e-15) gets
// the planner one recording them in fmol gets. Absolute floors and tolerances in y units (a σ of
// 1e-12, scores equal to 1e-9, an identity warp computing (y + 1) − 1, L-BFGS's gradient
// tolerance) made every score alike at 1e-15: the planner proposed at random from the first
// model on (it differed from the ordinary one by 0.03 of the box at its first model-based step).
TEST_CASE("Bayesian planner: results in tiny units get the proposals the same results get in ordinary units", "[planner]") {
  const Space space({Parameter{.name = "a", .low = -5, .high = 10}, Parameter{.name = "b", .low = 0, .high = 15}});
  auto branin = [&](const Point& x) {
    const Params p = space.decode(x);
    const double a = p["a"].get<double>(), b = p["b"].get<double>(), pi = 3.141592653589793;
    return std::pow(b - 5.1 / (4 * pi * pi) * a * a + 5 / pi * a - 6, 2) + 10 * (1 - 1 / (8 * pi)) * std::cos(a) + 10;
  };
  auto proposals = [&](double unit) {
    auto planner = bayesian_planner(space);
    std::vector<Point> out;
    for (int i = 0; i < 16; ++i) {
      out.push_back(planner->ask(1, {}).front());
      planner->tell(Observation::succeeded(out.back(), branin(out.back()) * unit));
    }
    return out;
  };
  const std::vector<Point> reference = proposals(1.0);
  for (const double unit : {std::ldexp(1.0, -50), 1e-15, 1e-10}) {
    INFO("unit " << unit);
    const std::vector<Point> tiny = proposals(unit);
    // Each proposal has its twin among the other run's (two far apart can swap places where the
    // model scores them alike: rounding decides).
    auto furthest = [](const std::vector<Point>& from, const std::vector<Point>& to) {
      double out = 0;
      for (const Point& p : from) {
        double nearest = HUGE_VAL;
        for (const Point& q : to) nearest = std::min(nearest, (p - q).cwiseAbs().maxCoeff());
        out = std::max(out, nearest);
      }
      return out;
    };
    CHECK(furthest(tiny, reference) < 0.01);
    CHECK(furthest(reference, tiny) < 0.01);
    CHECK((tiny[5] - reference[5]).cwiseAbs().maxCoeff() < 1e-6);  // the first model's proposal
  }
}
