// Unit tests for the simulated instrument's optimization test functions.
//
// Most checks iterate over the registry, so a new entry is covered the moment
// it is added to the table; the spot values at the end pin the formulas down
// against hand calculation so a systematic error cannot hide behind a
// self-consistent optimum/argmin pair.

#include "test_functions.hpp"
#include "catalogue.hpp"
#include "extending.hpp"  // examples/extending/
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"

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
    // Scalable single-objective functions go to 1000; multi-objective ones state their own limit.
    if (is_any_dim(f) && f.outputs == nullptr) CHECK(f.max_dim == 1000);
    CHECK(f.max_dim <= 1000);
    CHECK(f.bounds != nullptr);
    CHECK(f.evaluate != nullptr);
    CHECK(f.optimum != nullptr);
    CHECK(f.argmin != nullptr);
  }

  for (const char* required :
       {"branin", "hartmann3", "hartmann6", "ackley", "levy", "rosenbrock", "styblinski_tang",
        "michalewicz", "ackley_shifted", "levy_shifted", "branin_currin", "dtlz2", "hartmann6_constrained",
        "gramacy", "ackley_constrained", "branin_failing", "snar_kinetic"}) {
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
      // With outcome constraints the optimum is the feasible one: only feasible points count.
      const auto options = f.default_options();
      const auto facts = f.benchmark_facts(dim, options);
      const auto outputs = f.output_names(dim, options);
      std::vector<std::size_t> constraints;
      for (const auto& c : facts.constraints)
        constraints.push_back(static_cast<std::size_t>(std::find(outputs.begin(), outputs.end(), c) - outputs.begin()));
      std::vector<double> x(box.size());
      double best = std::numeric_limits<double>::infinity();
      for (int s = 0; s < samples; ++s) {
        for (std::size_t i = 0; i < box.size(); ++i) {
          x[i] = std::uniform_real_distribution<double>(box[i].first, box[i].second)(rng);
        }
        const double y = f.evaluate(x);
        REQUIRE(std::isfinite(y));
        bool feasible = true;
        if (!constraints.empty()) {
          const auto values = f.values(x, options);
          for (std::size_t c : constraints) feasible = feasible && values.at(c) <= 0.0;
        }
        if (feasible) best = std::min(best, y);
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

// ---- options, several outputs, failing regions ----

namespace {

using labloop::sim::OptionValues;

bool tf_is_identifier(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool tf_contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const TestFunction& tf_function(const char* name) {
  const TestFunction* f = find_test_function(name);
  REQUIRE(f != nullptr);
  return *f;
}

// A campaign over every input of `function` at its default dimension, served by labloop-sim
// with `options`; `objective` is the output it optimizes.
nlohmann::json tf_campaign(const std::string& function, const nlohmann::json& options, const std::string& objective, int dim) {
  nlohmann::json parameters = nlohmann::json::array();
  for (int d = 1; d <= dim; ++d) parameters.push_back({{"name", "x" + std::to_string(d)}, {"type", "continuous"}, {"low", 0}, {"high", 1}});
  return {{"name", "mo"},
          {"parameters", parameters},
          {"objective", {{"name", objective}, {"goal", "minimize"}}},
          {"planner", {{"kind", "sobol"}}},
          {"instruments", {{{"name", "sim"}, {"simulator", function}, {"options", options}}}},
          {"budget", {{"experiments", 5}}}};
}

// The loader's message for `config` ("" when it loads).
std::string tf_config_error(const nlohmann::json& config) {
  try {
    labloop::parse_campaign_config(config.dump(), "c.json", labloop::sim::catalogue());
    return "";
  } catch (const labloop::ConfigError& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("Test functions: outputs, options and benchmark facts are consistent for every entry", "[sim]") {
  for (const TestFunction& f : checked_functions()) {
    INFO("function: " << f.name);
    for (const auto& o : f.options) {
      INFO("option: " << o.name);
      CHECK(tf_is_identifier(o.name));
      // A campaign writes it beside labloop-sim's own options, and the campaign tells them apart by name.
      CHECK_FALSE(tf_contains(labloop::simulator_options(), o.name));
      CHECK_FALSE(o.description.empty());
      CHECK(o.low <= o.default_value);
      CHECK(o.default_value <= o.high);
      // Values beyond the bounds are refused, naming the option.
      for (double beyond : {o.low - 1, o.high + 1}) {
        OptionValues given{{o.name, beyond}};
        const auto problem = f.complete_options(f.default_dim, given);
        REQUIRE(problem.has_value());
        CHECK(problem->option == o.name);
      }
    }
    const OptionValues defaults = f.default_options();
    CHECK(defaults.size() == f.options.size());
    OptionValues completed;
    CHECK_FALSE(f.complete_options(f.default_dim, completed).has_value());
    CHECK(completed == defaults);

    const auto names = f.output_names(f.default_dim, defaults);
    REQUIRE_FALSE(names.empty());
    CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
    for (const auto& n : names) CHECK(tf_is_identifier(n));
    // Several outputs need a function giving them all; one output is "y" unless named otherwise.
    if (names.size() > 1) CHECK(f.evaluate_outputs != nullptr);
    // Inputs: one name per coordinate, identifiers, unique, and never an output's name.
    for (int dim : dims_to_check(f)) {
      const auto inputs = f.input_names(dim);
      REQUIRE(inputs.size() == static_cast<size_t>(dim));
      CHECK(std::set<std::string>(inputs.begin(), inputs.end()).size() == inputs.size());
      for (const auto& n : inputs) {
        CHECK(tf_is_identifier(n));
        CHECK_FALSE(tf_contains(names, n));
      }
    }

    const auto box = f.bounds(f.default_dim);
    const std::vector<double> centre = box_centre(box);
    const std::vector<double> values = f.values(centre, defaults);
    REQUIRE(values.size() == names.size());
    for (double v : values) CHECK(std::isfinite(v));
    CHECK(values.front() == Approx(f.evaluate(centre)).epsilon(1e-12));  // evaluate is the first output at the defaults

    const auto facts = f.benchmark_facts(f.default_dim, defaults);
    for (const auto& o : facts.objectives) CHECK(tf_contains(names, o));
    for (const auto& m : facts.maximized) CHECK(tf_contains(facts.objectives, m));
    for (const auto& c : facts.constraints) CHECK(tf_contains(names, c));
    const size_t objectives = facts.objectives.empty() ? names.size() : facts.objectives.size();
    if (!facts.reference_point.empty()) CHECK(facts.reference_point.size() == objectives);
    if (!std::isnan(facts.max_hypervolume)) {
      CHECK_FALSE(facts.reference_point.empty());
      CHECK(facts.max_hypervolume > 0);
    }

    // The known minimizer is feasible: its experiment succeeds and its constraints hold.
    const std::vector<double> x = f.argmin(f.default_dim);
    if (x.empty()) continue;
    if (f.failure) CHECK(f.failure(x) == nullptr);
    const std::vector<double> at_argmin = f.values(x, defaults);
    for (const auto& c : facts.constraints) {
      const auto i = static_cast<size_t>(std::find(names.begin(), names.end(), c) - names.begin());
      CHECK(at_argmin.at(i) <= 0);
    }
  }
}

TEST_CASE("Test functions: DTLZ2 points with g = 0 lie on the unit sphere, others outside it", "[sim]") {
  const TestFunction& f = tf_function("dtlz2");
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int m : {2, 3, 4}) {
    for (int dim : {m, 6, 12}) {
      INFO("objectives " << m << ", dim " << dim);
      OptionValues options{{"objectives", m}};
      REQUIRE_FALSE(f.complete_options(dim, options).has_value());
      REQUIRE(f.output_names(dim, options).size() == static_cast<size_t>(m));
      for (int s = 0; s < 50; ++s) {
        std::vector<double> x(static_cast<size_t>(dim), 0.5);  // g = 0: the last k inputs at 0.5
        for (int i = 0; i < m - 1; ++i) x[static_cast<size_t>(i)] = unit(rng);
        const auto y = f.values(x, options);
        REQUIRE(y.size() == static_cast<size_t>(m));
        double sum = 0;
        for (double v : y) {
          CHECK(v >= -1e-15);
          sum += v * v;
        }
        CHECK(sum == Approx(1.0).epsilon(1e-12));
        x.back() = 0.9;  // g = 0.16: the front scaled by 1 + g
        double off = 0;
        for (double v : f.values(x, options)) off += v * v;
        CHECK(off == Approx(1.16 * 1.16).epsilon(1e-12));
      }
    }
  }
  // f1 at the corner x1 = 0 is 1 + g, fM at x1 = 1 is 1 + g (M = 2: f = (cos, sin)).
  const auto y = f.values(std::vector<double>{0.0, 0.5, 0.5, 0.5, 0.5, 0.5}, OptionValues{{"objectives", 2}});
  CHECK(y.at(0) == Approx(1.0));
  CHECK(y.at(1) == Approx(0.0).margin(1e-15));
}

TEST_CASE("Test functions: DTLZ2 states its reference point and the known maximum hypervolume", "[sim]") {
  const TestFunction& f = tf_function("dtlz2");
  const auto two = f.benchmark_facts(6, OptionValues{{"objectives", 2}});
  CHECK(two.reference_point == std::vector<double>{1.1, 1.1});
  CHECK(two.max_hypervolume == Approx(1.21 - pi / 4));
  CHECK(two.objectives == std::vector<std::string>{"f1", "f2"});
  const auto three = f.benchmark_facts(6, OptionValues{{"objectives", 3}});
  CHECK(three.reference_point.size() == 3);
  CHECK(three.objectives == std::vector<std::string>{"f1", "f2", "f3"});
}

TEST_CASE("Test functions: the option objectives sets how many outputs DTLZ2 has", "[sim]") {
  const TestFunction& f = tf_function("dtlz2");
  for (int m : {2, 3, 4}) {
    OptionValues options{{"objectives", m}};
    REQUIRE_FALSE(f.complete_options(6, options).has_value());
    const auto names = f.output_names(6, options);
    REQUIRE(names.size() == static_cast<size_t>(m));
    CHECK(names.front() == "f1");
    CHECK(names.back() == "f" + std::to_string(m));
    CHECK(f.values(std::vector<double>(6, 0.3), options).size() == static_cast<size_t>(m));
  }
  OptionValues none;
  REQUIRE_FALSE(f.complete_options(6, none).has_value());
  CHECK(none.at("objectives") == 2);  // the default
}

TEST_CASE("Test functions: option values outside their bounds or against the dimension are refused", "[sim]") {
  const TestFunction& f = tf_function("dtlz2");
  for (double bad : {1.0, 5.0, 2.5, -3.0}) {
    INFO("objectives " << bad);
    OptionValues options{{"objectives", bad}};
    const auto problem = f.complete_options(6, options);
    REQUIRE(problem.has_value());
    CHECK(problem->option == "objectives");
    CHECK_THAT(problem->message, Catch::Contains("from 2 to 4"));
  }
  OptionValues too_many{{"objectives", 4}};
  const auto problem = f.complete_options(3, too_many);
  REQUIRE(problem.has_value());
  CHECK_THAT(problem->message, Catch::Contains("at most 3 objectives"));
}

TEST_CASE("Test functions: BraninCurrin matches hand calculation", "[sim]") {
  const TestFunction& f = tf_function("branin_currin");
  const OptionValues none;
  // (0, 0): Branin at (-5, 0) = 308.129096…; Currin's factor is its limit 1, so 60/20 = 3.
  auto y = f.values(std::vector<double>{0.0, 0.0}, none);
  REQUIRE(y.size() == 2);
  CHECK(y[0] == Approx(308.12909601160663).epsilon(1e-12));
  CHECK(y[1] == Approx(3.0).epsilon(1e-14));
  // (0.5, 0.5): Branin at (2.5, 7.5); Currin (1 - e^-1) * 1868.5 / 159.5.
  y = f.values(std::vector<double>{0.5, 0.5}, none);
  CHECK(y[0] == Approx(24.129964413622268).epsilon(1e-12));
  CHECK(y[1] == Approx((1 - std::exp(-1.0)) * 1868.5 / 159.5).epsilon(1e-14));
  // (1, 1): Branin at (10, 15); Currin (1 - e^-1/2) * 6352 / 624.
  y = f.values(std::vector<double>{1.0, 1.0}, none);
  CHECK(y[0] == Approx(145.87219087939556).epsilon(1e-12));
  CHECK(y[1] == Approx((1 - std::exp(-0.5)) * 6352.0 / 624.0).epsilon(1e-14));
  CHECK(f.output_names(2, none) == std::vector<std::string>{"branin", "currin"});
  const auto facts = f.benchmark_facts(2, none);
  CHECK(facts.reference_point == std::vector<double>{18.0, 6.0});
  CHECK(facts.max_hypervolume == Approx(59.36).margin(0.01));
}

TEST_CASE("Test functions: constrained Hartmann-6 has c = sum(x) - 3, feasible at its argmin", "[sim]") {
  const TestFunction& f = tf_function("hartmann6_constrained");
  const OptionValues none;
  const auto x = f.argmin(6);
  const auto y = f.values(x, none);
  REQUIRE(y.size() == 2);
  CHECK(y[0] == near_optimum(-3.32237));
  CHECK(y[1] == Approx(2.072869 - 3.0).margin(1e-9));
  CHECK(f.values(std::vector<double>(6, 1.0), none).at(1) == Approx(3.0));
  const auto facts = f.benchmark_facts(6, none);
  CHECK(facts.objectives == std::vector<std::string>{"y"});
  CHECK(facts.constraints == std::vector<std::string>{"c"});
}

TEST_CASE("Test functions: Gramacy's toy problem has both constraints active and its optimum on c1's boundary", "[sim]") {
  const TestFunction& f = tf_function("gramacy");
  const OptionValues none;
  const auto x = f.argmin(2);
  const auto y = f.values(x, none);
  REQUIRE(y.size() == 3);
  CHECK(y[0] == near_optimum(0.5998));  // the paper's figure
  CHECK(y[1] == Approx(0.0).margin(1e-9));  // on c1's boundary
  CHECK(y[2] < 0.0);
  // Hand values: at (0, 0) c1 = 3/2 (infeasible), c2 = -3/2; at (1, 1) c1 = 3/2 - 3 - sin(-2 pi)/2 = -3/2, c2 = 1/2.
  auto v = f.values(std::vector<double>{0.0, 0.0}, none);
  CHECK(v[1] == Approx(1.5));
  CHECK(v[2] == Approx(-1.5));
  v = f.values(std::vector<double>{1.0, 1.0}, none);
  CHECK(v[1] == Approx(-1.5));
  CHECK(v[2] == Approx(0.5));
  // Each constraint binds somewhere in the box: neither is redundant.
  CHECK(f.values(std::vector<double>{0.1, 0.1}, none)[1] > 0.0);
  CHECK(f.values(std::vector<double>{1.0, 0.9}, none)[2] > 0.0);
  // Dense grid: no feasible point beats the stated optimum, and one within 1e-3 of it exists.
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= 1000; ++i)
    for (int j = 0; j <= 1000; ++j) {
      const std::vector<double> p{i / 1000.0, j / 1000.0};
      const auto w = f.values(p, none);
      if (w[1] <= 0.0 && w[2] <= 0.0) best = std::min(best, w[0]);
    }
  CHECK(best >= f.optimum(2) - 1e-12);
  CHECK(best <= f.optimum(2) + 1e-3);
  const auto facts = f.benchmark_facts(2, none);
  CHECK(facts.objectives == std::vector<std::string>{"y"});
  CHECK(facts.constraints == std::vector<std::string>{"c1", "c2"});
}

TEST_CASE("Test functions: SCBO's constrained Ackley-10 has c1 = sum(x), c2 = |x| - 5, its optimum on c1's boundary", "[sim]") {
  const TestFunction& f = tf_function("ackley_constrained");
  const OptionValues none;
  auto y = f.values(f.argmin(10), none);
  REQUIRE(y.size() == 3);
  CHECK(y[0] == near_optimum(0.0));
  CHECK(y[1] == 0.0);  // on the boundary
  CHECK(y[2] == -5.0);
  std::vector<double> x(10, 1.0);
  x[0] = -4.0;  // sum 5, norm sqrt(25)
  y = f.values(x, none);
  CHECK(y[0] == Approx(eval("ackley", x)));
  CHECK(y[1] == Approx(5.0));
  CHECK(y[2] == Approx(0.0).margin(1e-12));
  CHECK(f.bounds(10).front() == std::pair<double, double>{-5.0, 10.0});
  CHECK(f.benchmark_facts(10, none).constraints == std::vector<std::string>{"c1", "c2"});
}

TEST_CASE("Test functions: failing Branin fails beyond x1 + x2 = 10.5, at one of its three minima only", "[sim]") {
  const TestFunction& f = tf_function("branin_failing");
  REQUIRE(f.failure != nullptr);
  CHECK(f.failure(std::vector<double>{-pi, 12.275}) == nullptr);
  CHECK(f.failure(std::vector<double>{pi, 2.275}) == nullptr);
  REQUIRE(f.failure(std::vector<double>{9.42478, 2.475}) != nullptr);
  CHECK(std::string(f.failure(std::vector<double>{9.42478, 2.475})) == "no product");
  CHECK(f.failure(std::vector<double>{10.0, 0.4}) == nullptr);
  CHECK(f.failure(std::vector<double>{10.0, 0.6}) != nullptr);
  CHECK(f.evaluate(std::vector<double>{9.42478, 2.475}) == Approx(10.0 / (8.0 * pi)).margin(1e-5));  // the value is Branin's
}

TEST_CASE("Test functions: a campaign file's instrument options take the function's own options", "[sim][config]") {
  const auto config = labloop::parse_campaign_config(tf_campaign("dtlz2", {{"objectives", 3}, {"noise", 0.1}}, "f3", 6).dump(), "c.json",
                                                     labloop::sim::catalogue());
  CHECK(labloop::simulator_info(config, 0).outputs == std::vector<std::string>{"f1", "f2", "f3"});
  CHECK(tf_config_error(tf_campaign("dtlz2", nlohmann::json::object(), "f2", 6)).empty());
  CHECK(tf_config_error(tf_campaign("branin_currin", nlohmann::json::object(), "currin", 2)).empty());
  CHECK(tf_config_error(tf_campaign("hartmann6_constrained", nlohmann::json::object(), "y", 6)).empty());
  // The objective must be among the function's outputs.
  CHECK_THAT(tf_config_error(tf_campaign("dtlz2", nlohmann::json::object(), "f3", 6)),
             Catch::Contains("/instruments/0") && Catch::Contains("does not measure the objective \"f3\"") && Catch::Contains("f1, f2"));
  CHECK_THAT(tf_config_error(tf_campaign("branin_currin", nlohmann::json::object(), "y", 2)), Catch::Contains("its outputs: branin, currin"));
}

TEST_CASE("Test functions: bad or unknown function options in a campaign file are refused where they are", "[sim][config]") {
  for (const nlohmann::json& bad : {nlohmann::json(5), nlohmann::json(1), nlohmann::json(2.5), nlohmann::json("3")}) {
    INFO("objectives " << bad.dump());
    CHECK_THAT(tf_config_error(tf_campaign("dtlz2", {{"objectives", bad}}, "f1", 6)), Catch::Contains("c.json: /instruments/0/options/objectives: "));
  }
  CHECK(tf_config_error(tf_campaign("dtlz2", {{"objectives", 4}}, "f4", 6)).empty());
  // Against the dimension: dtlz2 needs dim >= objectives.
  CHECK_THAT(tf_config_error(tf_campaign("dtlz2", {{"objectives", 3}, {"dim", 2}}, "f1", 2)),
             Catch::Contains("/instruments/0/options/objectives: ") && Catch::Contains("raise \"dim\""));
  // A typo: did-you-mean, naming labloop-sim's options and the function's own.
  const std::string typo = tf_config_error(tf_campaign("dtlz2", {{"objectivs", 3}}, "f1", 6));
  CHECK_THAT(typo, Catch::Contains("/instruments/0/options/objectivs: unknown key; did you mean \"objectives\"?") &&
                       Catch::Contains("noise") && Catch::Contains("oversize_rate, objectives"));
  // A function without options of its own takes only labloop-sim's.
  CHECK_THAT(tf_config_error(tf_campaign("branin_currin", {{"objectives", 3}}, "branin", 2)),
             Catch::Contains("/instruments/0/options/objectives: unknown key") && !Catch::Contains("did you mean"));
}

TEST_CASE("Test functions: the worked example's option centre moves its minimum", "[sim]") {
  const TestFunction& f = labloop::sim::example_sphere_function();
  OptionValues options{{"centre", -2.5}};
  REQUIRE_FALSE(f.complete_options(3, options).has_value());
  CHECK(f.values(std::vector<double>(3, -2.5), options).at(0) == 0.0);
  CHECK(f.values(std::vector<double>(3, 1.0), options).at(0) == Approx(3 * 3.5 * 3.5));
  CHECK(f.values(std::vector<double>(3, 1.0), f.default_options()).at(0) == 0.0);
}
