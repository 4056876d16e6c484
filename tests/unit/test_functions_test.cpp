// Unit tests for the simulated instrument's optimization test functions.
//
// Most checks iterate over the registry, so a new entry is covered the moment
// it is added to the table; the spot values at the end pin the formulas down
// against hand calculation so a systematic error cannot hide behind a
// self-consistent optimum/argmin pair.

#include "test_functions.hpp"
#include "extending.hpp"  // examples/extending/

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using labloop::sim::find_test_function;
using labloop::sim::test_functions;
using labloop::sim::TestFunction;

// The registry and the worked example of docs/extending.md: what the conformance checks run on.
const std::vector<TestFunction>& checked_functions() {
  static const std::vector<TestFunction> all = [] {
    std::vector<TestFunction> functions = test_functions();
    functions.push_back(labloop::sim::example_sphere_function());
    return functions;
  }();
  return all;
}

constexpr double pi = std::numbers::pi;

// Optima are quoted to ~6 significant digits in the literature, so compare
// with an absolute margin of 1e-4 plus a small relative part for the
// scalable functions whose optimum grows with the dimension.
Approx near_optimum(double value) { return Approx(value).margin(1e-4).epsilon(1e-6); }

bool is_any_dim(const TestFunction& f) { return f.min_dim != f.max_dim; }

// Dimensions worth exercising: the fixed one, or for scalable functions the
// smallest allowed, the default, and a few larger ones.
std::vector<int> dims_to_check(const TestFunction& f) {
  std::vector<int> dims = {f.min_dim, f.default_dim};
  if (is_any_dim(f)) {
    for (int d : {1, 3, 5, 10}) {
      if (d >= f.min_dim && d <= f.max_dim) dims.push_back(d);
    }
  }
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());
  return dims;
}

bool inside(const std::vector<double>& x, const std::vector<std::pair<double, double>>& box) {
  if (x.size() != box.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] < box[i].first || x[i] > box[i].second) return false;
  }
  return true;
}

std::vector<double> box_centre(const std::vector<std::pair<double, double>>& box) {
  std::vector<double> x;
  for (const auto& [lo, hi] : box) x.push_back(0.5 * (lo + hi));
  return x;
}

double eval(const char* name, const std::vector<double>& x) {
  const TestFunction* f = find_test_function(name);
  REQUIRE(f != nullptr);
  return f->evaluate(x);
}

}  // namespace

TEST_CASE("Test functions: the registry is a well-formed table", "[sim]") {
  const auto& table = checked_functions();
  REQUIRE_FALSE(table.empty());

  std::set<std::string> names;
  for (const TestFunction& f : table) {
    INFO("function: " << f.name);
    CHECK_FALSE(f.name.empty());
    CHECK(std::all_of(f.name.begin(), f.name.end(), [](char c) {
      return std::islower(static_cast<unsigned char>(c)) ||
             std::isdigit(static_cast<unsigned char>(c)) || c == '_';
    }));
    CHECK(names.insert(f.name).second);  // unique
    CHECK_FALSE(f.description.empty());
    CHECK(f.description.find('\n') == std::string::npos);
    CHECK(f.min_dim >= 1);
    CHECK(f.min_dim <= f.default_dim);
    CHECK(f.default_dim <= f.max_dim);
    if (is_any_dim(f)) CHECK(f.max_dim == 1000);
    CHECK(f.bounds != nullptr);
    CHECK(f.evaluate != nullptr);
    CHECK(f.optimum != nullptr);
    CHECK(f.argmin != nullptr);
  }

  for (const char* required :
       {"branin", "hartmann3", "hartmann6", "ackley", "levy", "rosenbrock", "styblinski_tang",
        "michalewicz", "ackley_shifted", "levy_shifted"}) {
    INFO("required: " << required);
    CHECK(names.count(required) == 1);
  }
}

TEST_CASE("Test functions: find_test_function returns the entry or nullptr", "[sim]") {
  for (const TestFunction& f : test_functions()) {
    INFO("function: " << f.name);
    CHECK(find_test_function(f.name) == &f);
  }
  CHECK(find_test_function("") == nullptr);
  CHECK(find_test_function("no_such_function") == nullptr);
  CHECK(find_test_function("Branin") == nullptr);   // ids are exact, lower-case
  CHECK(find_test_function("branin ") == nullptr);  // no trimming either
  CHECK(find_test_function("hartmann") == nullptr);  // no prefix matching
}

TEST_CASE("Test functions: bounds give one non-empty interval per coordinate", "[sim]") {
  for (const TestFunction& f : checked_functions()) {
    for (int dim : dims_to_check(f)) {
      INFO("function: " << f.name << ", dim " << dim);
      const auto box = f.bounds(dim);
      REQUIRE(box.size() == static_cast<std::size_t>(dim));
      for (const auto& [lo, hi] : box) {
        CHECK(std::isfinite(lo));
        CHECK(std::isfinite(hi));
        CHECK(lo < hi);
      }
    }
  }
}

TEST_CASE("Test functions: each reaches its known optimum at its known minimizer", "[sim]") {
  for (const TestFunction& f : checked_functions()) {
    // Every function must have at least its default dimension fully known.
    INFO("function: " << f.name);
    CHECK_FALSE(std::isnan(f.optimum(f.default_dim)));
    CHECK_FALSE(f.argmin(f.default_dim).empty());

    for (int dim : dims_to_check(f)) {
      INFO("dim " << dim);
      const std::vector<double> x = f.argmin(dim);
      if (x.empty()) continue;  // minimizer unknown for this dimension
      const double opt = f.optimum(dim);
      REQUIRE_FALSE(std::isnan(opt));
      REQUIRE(x.size() == static_cast<std::size_t>(dim));
      CHECK(inside(x, f.bounds(dim)));
      CHECK(f.evaluate(x) == near_optimum(opt));
    }
  }
}

TEST_CASE("Test functions: random points inside the bounds never beat the known optimum",
          "[sim]") {
  std::mt19937_64 rng(20240611);
  constexpr int samples = 2000;
  for (const TestFunction& f : checked_functions()) {
    for (int dim : dims_to_check(f)) {
      INFO("function: " << f.name << ", dim " << dim);
      const auto box = f.bounds(dim);
      const double opt = f.optimum(dim);
      std::vector<double> x(box.size());
      double best = std::numeric_limits<double>::infinity();
      for (int s = 0; s < samples; ++s) {
        for (std::size_t i = 0; i < box.size(); ++i) {
          x[i] = std::uniform_real_distribution<double>(box[i].first, box[i].second)(rng);
        }
        const double y = f.evaluate(x);
        REQUIRE(std::isfinite(y));
        best = std::min(best, y);
      }
      if (!std::isnan(opt)) CHECK(best >= opt - 1e-4);
    }
  }
}

TEST_CASE("Test functions: scalable functions work at dimensions 1 (or min) 3 10 and max",
          "[sim]") {
  int scalable = 0;
  for (const TestFunction& f : checked_functions()) {
    if (!is_any_dim(f)) continue;
    ++scalable;
    for (int dim : {std::max(1, f.min_dim), 3, 10, f.max_dim}) {
      INFO("function: " << f.name << ", dim " << dim);
      const auto box = f.bounds(dim);
      REQUIRE(box.size() == static_cast<std::size_t>(dim));
      CHECK(std::isfinite(f.evaluate(box_centre(box))));
      const std::vector<double> x = f.argmin(dim);
      if (!x.empty()) {
        REQUIRE(x.size() == static_cast<std::size_t>(dim));
        CHECK(f.evaluate(x) == near_optimum(f.optimum(dim)));
      }
    }
  }
  CHECK(scalable >= 5);  // ackley, levy, rosenbrock, styblinski_tang, michalewicz
}

TEST_CASE("Test functions: a wrong-sized input gives NaN instead of a bogus value", "[sim]") {
  for (const TestFunction& f : checked_functions()) {
    INFO("function: " << f.name);
    const std::vector<double> too_short(static_cast<std::size_t>(f.min_dim - 1), 0.5);
    CHECK(std::isnan(f.evaluate(too_short)));
    const std::vector<double> too_long(static_cast<std::size_t>(f.max_dim + 1), 0.5);
    CHECK(std::isnan(f.evaluate(too_long)));
  }
}

TEST_CASE("Test functions: optimum and argmin are unknown outside the allowed dimensions",
          "[sim]") {
  for (const TestFunction& f : checked_functions()) {
    INFO("function: " << f.name);
    CHECK(std::isnan(f.optimum(f.min_dim - 1)));
    CHECK(f.argmin(f.min_dim - 1).empty());
    if (!is_any_dim(f)) {
      CHECK(std::isnan(f.optimum(f.max_dim + 1)));
      CHECK(f.argmin(f.max_dim + 1).empty());
    }
  }
  // Michalewicz's optimum is only published for a few dimensions.
  const TestFunction* m = find_test_function("michalewicz");
  REQUIRE(m != nullptr);
  CHECK(m->optimum(2) == Approx(-1.8013034));
  CHECK(m->optimum(5) == Approx(-4.687658));
  CHECK(m->optimum(10) == Approx(-9.66015));
  CHECK(std::isnan(m->optimum(3)));
  CHECK(m->argmin(5).empty());
}

TEST_CASE("Test functions: spot values match hand calculation", "[sim]") {
  // Branin at the origin: (-6)^2 + 10 (1 - 1/(8 pi)) + 10 = 56 - 10/(8 pi).
  CHECK(eval("branin", {0.0, 0.0}) == Approx(55.602112642270262).epsilon(1e-14));
  // All three Branin minima have the same value 10/(8 pi).
  for (const auto& x : std::vector<std::vector<double>>{
           {-pi, 12.275}, {pi, 2.275}, {9.42478, 2.475}}) {
    CHECK(eval("branin", x) == Approx(10.0 / (8.0 * pi)).margin(1e-5));
  }
  CHECK(eval("rosenbrock", {0.0, 0.0}) == Approx(1.0).epsilon(1e-15));
  CHECK(eval("rosenbrock", {0.0, 0.0, 0.0}) == Approx(2.0).epsilon(1e-15));
  CHECK(eval("rosenbrock", {-1.0, 1.0}) == Approx(4.0).epsilon(1e-15));
  CHECK(eval("ackley", {0.0}) == Approx(0.0).margin(1e-12));
  CHECK(eval("ackley", {0.0, 0.0, 0.0}) == Approx(0.0).margin(1e-12));
  // Ackley at (1, 1): -20 exp(-0.2) - exp(cos 2pi) + 20 + e = 20 - 20 exp(-0.2).
  CHECK(eval("ackley", {1.0, 1.0}) == Approx(20.0 - 20.0 * std::exp(-0.2)).epsilon(1e-12));
  // Levy in 1-D at 0: w = 0.75, sin^2(0.75 pi) + 0.0625 (1 + sin^2(1.5 pi)) = 0.5 + 0.125.
  CHECK(eval("levy", {0.0}) == Approx(0.625).epsilon(1e-12));
  CHECK(eval("levy", {1.0, 1.0, 1.0}) == Approx(0.0).margin(1e-15));
  CHECK(eval("styblinski_tang", {0.0, 0.0}) == Approx(0.0).margin(1e-15));
  CHECK(eval("styblinski_tang", {1.0}) == Approx(-5.0).epsilon(1e-15));  // 0.5 (1 - 16 + 5)
  // Michalewicz at (pi/2, pi/2): sin(pi/4)^20 = 2^-10 and sin(pi/2)^20 = 1.
  CHECK(eval("michalewicz", {pi / 2.0, pi / 2.0}) == Approx(-(1.0 + 1.0 / 1024.0)).epsilon(1e-12));
}

TEST_CASE("Test functions: shifted variants are the base function moved by the shift", "[sim]") {
  const std::array<double, 5> ackley_shift = {7.5, -12.3, 3.1, 17.9, -6.4};
  const std::array<double, 10> levy_shift = {3.3, -4.1, 2.2, -6.5, 5.7,
                                             -2.9, 0.8, 4.6, -5.3, 1.9};
  std::mt19937_64 rng(7);

  struct Case {
    const char* shifted;
    const char* base;
    std::vector<double> shift;
  };
  const std::vector<Case> cases = {
      {"ackley_shifted", "ackley", {ackley_shift.begin(), ackley_shift.end()}},
      {"levy_shifted", "levy", {levy_shift.begin(), levy_shift.end()}},
  };
  for (const Case& c : cases) {
    INFO("function: " << c.shifted);
    const TestFunction* shifted = find_test_function(c.shifted);
    REQUIRE(shifted != nullptr);
    const auto box = shifted->bounds(shifted->default_dim);
    REQUIRE(box.size() == c.shift.size());
    for (int s = 0; s < 200; ++s) {
      std::vector<double> x(box.size());
      std::vector<double> z(box.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = std::uniform_real_distribution<double>(box[i].first, box[i].second)(rng);
        z[i] = x[i] - c.shift[i];
      }
      CHECK(shifted->evaluate(x) == Approx(eval(c.base, z)).epsilon(1e-12).margin(1e-12));
    }
  }

  // The shifted minimizers must stay strictly inside the original boxes,
  // otherwise the "known optimum" would be unreachable.
  for (double s : ackley_shift) CHECK(std::abs(s) < 32.768);
  for (double s : levy_shift) CHECK(std::abs(s + 1.0) < 10.0);
}
