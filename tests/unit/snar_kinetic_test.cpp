// The SnAr kinetic model (simulators/snar_kinetic.cpp): Summit's values reproduced, the rate
// equations' invariants, the integrator's convergence, trends the chemistry must show, and what
// happens to inputs with no physical meaning. The registry-wide checks of test_functions_test.cpp
// (optimum at the argmin, never beaten by random points, outputs and facts) cover it as well.
#include "snar_kinetic.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "catalogue.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "planner_benchmark.hpp"
#include "standard_inputs.hpp"
#include "test_functions.hpp"

namespace {

using labloop::sim::SnarConcentrations;
using labloop::sim::SnarConditions;

constexpr double snar_test_nan = std::numeric_limits<double>::quiet_NaN();

// (e_factor, sty) as the registry entry serves them.
std::vector<double> snar_values(const SnarConditions& c) {
  const std::array<double, 4> x = {c.tau_min, c.equiv_pldn, c.conc_dfnb, c.temperature_c};
  return labloop::sim::snar_kinetic_values(x, {});
}

SnarConcentrations snar_outlet_of(const SnarConditions& c, double rtol = labloop::sim::kSnarTolerance) {
  const auto outlet = labloop::sim::snar_outlet(c, rtol);
  REQUIRE(outlet.has_value());
  return outlet->concentrations;
}

// Classical fixed-step Runge-Kutta 4 over the same rate equations: an integrator independent of
// the model's own, for the step-halving check.
SnarConcentrations snar_rk4(const SnarConditions& c, int steps) {
  const auto k = labloop::sim::snar_rate_constants(c.temperature_c);
  SnarConcentrations y{c.conc_dfnb, c.equiv_pldn * c.conc_dfnb, 0, 0, 0};
  const double h = c.tau_min / steps;
  auto shifted = [](const SnarConcentrations& base, double f, const SnarConcentrations& d) {
    SnarConcentrations out = base;
    for (size_t i = 0; i < out.size(); ++i) out[i] += f * d[i];
    return out;
  };
  for (int s = 0; s < steps; ++s) {
    const auto k1 = labloop::sim::snar_rates(y, k);
    const auto k2 = labloop::sim::snar_rates(shifted(y, h / 2, k1), k);
    const auto k3 = labloop::sim::snar_rates(shifted(y, h / 2, k2), k);
    const auto k4 = labloop::sim::snar_rates(shifted(y, h, k3), k);
    for (size_t i = 0; i < y.size(); ++i) y[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  }
  return y;
}

double snar_conversion(const SnarConditions& c) { return 1.0 - snar_outlet_of(c)[labloop::sim::kSnarDfnb] / c.conc_dfnb; }

}  // namespace

TEST_CASE("SnAr kinetic: reproduces Summit's SnarBenchmark outputs", "[sim][snar]") {
  // Source: Summit's own code, summit/benchmarks/snar.py (github.com/sustainable-processes/summit,
  // commit 1de682d, unmodified), SnarBenchmark._integrate_equations run with scipy 1.10.1 and noise
  // level 0. `summit_*` at Summit's own solve_ivp defaults (RK45, rtol 1e-3, atol 1e-6): what a
  // Summit user sees, off the exact solution by up to 5e-4. `tight_*` with solve_ivp(method DOP853,
  // rtol 1e-12, atol 1e-14): the same model converged; the only remaining difference is Summit's
  // zeroing of a reactant below 1e-6 of its inlet value in the rates (under 2e-6 here).
  struct Reference {
    SnarConditions at;
    double summit_sty, summit_e_factor, tight_sty, tight_e_factor;
  };
  const std::vector<Reference> references = {
      // Summit's docstring example: every input at lower + 0.1 (upper - lower).
      {{0.65, 1.4, 0.14, 39.0}, 1196.8203477337859, 62.546651049510366, 1197.3009187879409, 62.52110595224022},
      {{1.25, 3.0, 0.3, 75.0}, 2358.8579086711884, 17.183572395645584, 2358.862785644027, 17.18353387963924},  // the centre
      {{0.5, 5.0, 0.5, 120.0}, 3556.0432331465345, 33.73064198831001, 3555.9043794611293, 33.731986717847164},
      {{2.0, 1.0, 0.1, 30.0}, 272.00891793364, 88.45851207532675, 272.14202463701616, 88.41471000510076},
      {{0.5, 1.0, 0.5, 120.0}, 10938.297984808698, 8.811969688565071, 10940.778174346058, 8.809735957485744},
      {{2.0, 5.0, 0.1, 120.0}, 223.7157872160799, 111.26601200720113, 223.70111370473174, 111.27336319582955},
      {{1.0, 2.0, 0.2, 90.0}, 2191.347395415594, 22.13354946185429, 2191.4485188043004, 22.132479074082028},
      {{0.5, 1.0, 0.1, 30.0}, 412.3495839287657, 235.2112331970266, 412.35002180025566, 235.21098226272306},
      // Summit's unit test point (tests/test_benchmarks.py): 0.5 equivalents, below the published box.
      {{1.5, 0.5, 0.1, 30.0}, 169.00137556300794, 190.2518267504785, 169.0027916897811, 190.2502233781761},
  };
  for (const auto& r : references) {
    INFO("tau " << r.at.tau_min << ", equiv " << r.at.equiv_pldn << ", conc " << r.at.conc_dfnb << ", T " << r.at.temperature_c);
    const auto y = snar_values(r.at);
    REQUIRE(y.size() == 2);
    CHECK(y[0] == Approx(r.tight_e_factor).epsilon(5e-6));
    CHECK(y[1] == Approx(r.tight_sty).epsilon(5e-6));
    CHECK(y[0] == Approx(r.summit_e_factor).epsilon(1e-3));
    CHECK(y[1] == Approx(r.summit_sty).epsilon(1e-3));
  }
}

TEST_CASE("SnAr kinetic: rate constants are the published ones at 90 °C and grow with temperature as Arrhenius says", "[sim][snar]") {
  // At T_ref the exponential is 1: k = k_ref (1e-2 L/mol/s) * 0.6 = per minute.
  const auto at_ref = labloop::sim::snar_rate_constants(90.0);
  CHECK(at_ref.a == Approx(57.9 * 0.6).epsilon(1e-14));
  CHECK(at_ref.b == Approx(2.70 * 0.6).epsilon(1e-14));
  CHECK(at_ref.c == Approx(0.865 * 0.6).epsilon(1e-14));
  CHECK(at_ref.d == Approx(1.63 * 0.6).epsilon(1e-14));
  // ln(k(T2)/k(T1)) = E_a/R (1/T1 - 1/T2), with Summit's 273.71 K offset.
  const auto cold = labloop::sim::snar_rate_constants(30.0), hot = labloop::sim::snar_rate_constants(120.0);
  const double inverse = 1.0 / (30.0 + 273.71) - 1.0 / (120.0 + 273.71);
  CHECK(std::log(hot.a / cold.a) == Approx(33.3 / 8.314e-3 * inverse).epsilon(1e-12));
  CHECK(std::log(hot.d / cold.d) == Approx(44.8 / 8.314e-3 * inverse).epsilon(1e-12));
  // The para route has the larger activation energy, so heat costs ortho selectivity.
  CHECK(hot.a / hot.b < cold.a / cold.b);
}

TEST_CASE("SnAr kinetic: the outlet conserves aryl rings, pyrrolidine units and mass", "[sim][snar]") {
  std::mt19937_64 rng(18);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto& m = labloop::sim::kSnarMolarMass;
  // Each substitution releases HF, which the model does not track: 159.09 + 71.12 = 210.21 + 20.00
  // and 210.21 + 71.12 = 261.33 + 20.00, so mass balances with 20.00 g/mol per substitution.
  constexpr double hf = 20.00;
  for (int s = 0; s < 40; ++s) {
    const SnarConditions c{0.5 + 1.5 * unit(rng), 1.0 + 4.0 * unit(rng), 0.1 + 0.4 * unit(rng), 30.0 + 90.0 * unit(rng)};
    INFO("tau " << c.tau_min << ", equiv " << c.equiv_pldn << ", conc " << c.conc_dfnb << ", T " << c.temperature_c);
    const auto y = snar_outlet_of(c);
    const double rings = y[0] + y[2] + y[3] + y[4];
    const double pyrrolidine = y[1] + y[2] + y[3] + 2 * y[4];
    CHECK(rings == Approx(c.conc_dfnb).epsilon(1e-12));
    CHECK(pyrrolidine == Approx(c.equiv_pldn * c.conc_dfnb).epsilon(1e-12));
    double mass = hf * (y[2] + y[3] + 2 * y[4]);
    for (size_t i = 0; i < y.size(); ++i) mass += m[i] * y[i];
    CHECK(mass == Approx(m[0] * c.conc_dfnb + m[1] * c.equiv_pldn * c.conc_dfnb).epsilon(1e-12));
    for (double v : y) CHECK(v >= -1e-12 * c.conc_dfnb);
  }
}

TEST_CASE("SnAr kinetic: halving a fixed RK4 step changes the outlet by under 1e-6 and agrees with the adaptive integrator", "[sim][snar]") {
  // The stiffest corner (120 °C, 5 equivalents, 0.5 M, 2 min: DFNB decays ~200 per minute, 400
  // time constants over the reactor), the centre and a slow corner.
  for (const SnarConditions c : {SnarConditions{2.0, 5.0, 0.5, 120.0}, SnarConditions{1.25, 3.0, 0.3, 75.0}, SnarConditions{0.5, 1.0, 0.1, 30.0}}) {
    INFO("tau " << c.tau_min << ", equiv " << c.equiv_pldn << ", conc " << c.conc_dfnb << ", T " << c.temperature_c);
    const auto coarse = snar_rk4(c, 4000), fine = snar_rk4(c, 8000);
    const auto adaptive = snar_outlet_of(c);
    // The products and pyrrolidine (DFNB can be all but gone: compared against its inlet value).
    for (size_t i = 1; i < fine.size(); ++i) {
      INFO("species " << i);
      const double scale = std::max(std::abs(fine[i]), 1e-3 * c.conc_dfnb);
      CHECK(std::abs(coarse[i] - fine[i]) < 1e-6 * scale);
      CHECK(std::abs(adaptive[i] - fine[i]) < 1e-6 * scale);
    }
    CHECK(std::abs(adaptive[0] - fine[0]) < 1e-6 * c.conc_dfnb);
    // Tightening the adaptive tolerance a thousandfold moves the outputs by under 1e-7.
    const auto tight = snar_outlet_of(c, 1e-11);
    CHECK(labloop::sim::snar_e_factor(tight) == Approx(labloop::sim::snar_e_factor(adaptive)).epsilon(1e-7));
    CHECK(labloop::sim::snar_space_time_yield(c.tau_min, tight) ==
          Approx(labloop::sim::snar_space_time_yield(c.tau_min, adaptive)).epsilon(1e-7));
  }
}

TEST_CASE("SnAr kinetic: conversion rises with temperature, residence time and equivalents, and so does the bis adduct", "[sim][snar]") {
  for (const SnarConditions base : {SnarConditions{0.5, 1.0, 0.1, 30.0}, SnarConditions{1.0, 2.0, 0.3, 30.0}, SnarConditions{2.0, 1.5, 0.5, 30.0}}) {
    INFO("tau " << base.tau_min << ", equiv " << base.equiv_pldn << ", conc " << base.conc_dfnb);
    double previous = -1.0, previous_bis = -1.0;
    for (double t = 30.0; t <= 120.0; t += 10.0) {
      SnarConditions c = base;
      c.temperature_c = t;
      const double conversion = snar_conversion(c);
      CHECK(conversion > previous);
      CHECK(conversion <= 1.0);
      previous = conversion;
      const double bis = snar_outlet_of(c)[labloop::sim::kSnarBis];
      CHECK(bis > previous_bis);
      previous_bis = bis;
    }
    // Conversion rises with residence time and with equivalents of pyrrolidine.
    const auto rises_along = [&](double SnarConditions::*field, double from, double to, double step) {
      double before = -1.0;
      for (double v = from; v <= to; v += step) {
        SnarConditions c = base;
        c.*field = v;
        const double conversion = snar_conversion(c);
        CHECK(conversion > before);
        before = conversion;
      }
    };
    rises_along(&SnarConditions::tau_min, 0.5, 2.0, 0.25);
    rises_along(&SnarConditions::equiv_pldn, 1.0, 5.0, 0.5);
  }
  // More pyrrolidine, longer and hotter: the ortho product goes on to the bis adduct, so the
  // space-time yield falls past a point (Summit's corner values: 223.7 at 2 min, 5 eq., 120 °C
  // against 272.1 at 2 min, 1 eq., 30 °C).
  CHECK(snar_values({2.0, 5.0, 0.1, 120.0})[1] < snar_values({2.0, 1.0, 0.1, 30.0})[1]);
}

TEST_CASE("SnAr kinetic: the least E-factor is where the table says, with nothing lower nearby", "[sim][snar]") {
  const labloop::sim::TestFunction* f = labloop::sim::find_test_function("snar_kinetic");
  REQUIRE(f != nullptr);
  const auto x = f->argmin(4);
  REQUIRE(x.size() == 4);
  const double best = f->evaluate(x);
  CHECK(best == Approx(f->optimum(4)).epsilon(1e-9));
  const auto box = f->bounds(4);
  for (size_t i = 0; i < 4; ++i)
    for (double step : {-1e-3, 1e-3, -1e-2, 1e-2}) {
      std::vector<double> y = x;
      y[i] = std::clamp(y[i] + step * (box[i].second - box[i].first), box[i].first, box[i].second);
      INFO("coordinate " << i << ", step " << step);
      CHECK(f->evaluate(y) >= best - 1e-9);
    }
}

TEST_CASE("SnAr kinetic: inputs with no physical meaning give NaN, no product gives Summit's stand-in values", "[sim][snar]") {
  for (const SnarConditions c : {SnarConditions{snar_test_nan, 2, 0.2, 60}, SnarConditions{1, snar_test_nan, 0.2, 60},
                                 SnarConditions{1, 2, std::numeric_limits<double>::infinity(), 60}, SnarConditions{1, 2, 0.2, snar_test_nan},
                                 SnarConditions{0, 2, 0.2, 60}, SnarConditions{-1, 2, 0.2, 60}, SnarConditions{1, -0.5, 0.2, 60},
                                 SnarConditions{1, 2, -0.1, 60}, SnarConditions{1, 2, 0.2, -273.71}, SnarConditions{1, 2, 0.2, -400}}) {
    INFO("tau " << c.tau_min << ", equiv " << c.equiv_pldn << ", conc " << c.conc_dfnb << ", T " << c.temperature_c);
    CHECK_FALSE(labloop::sim::snar_outlet(c).has_value());
    for (double v : snar_values(c)) CHECK(std::isnan(v));
  }
  // Far beyond the fitted range the kinetics outrun the step budget: NaN rather than a long wait.
  CHECK_FALSE(labloop::sim::snar_outlet({2.0, 5.0, 0.5, 1000.0}).has_value());
  // No DFNB or no pyrrolidine: no product; Summit reports STY 1e-6 and E-factor 1000.
  for (const SnarConditions c : {SnarConditions{1, 2, 0.0, 60}, SnarConditions{1, 0.0, 0.2, 60}}) {
    const auto y = snar_values(c);
    CHECK(y[0] == 1e3);
    CHECK(y[1] == 1e-6);
  }
  // The wrong number of inputs.
  const labloop::sim::TestFunction* f = labloop::sim::find_test_function("snar_kinetic");
  REQUIRE(f != nullptr);
  CHECK(std::isnan(f->evaluate(std::vector<double>{1.0, 2.0, 0.2})));
  CHECK(f->values(std::vector<double>{1.0, 2.0, 0.2, 60.0, 1.0}, {}).size() == 2);
  CHECK(std::isnan(f->values(std::vector<double>{1.0, 2.0, 0.2, 60.0, 1.0}, {})[1]));
}

TEST_CASE("SnAr kinetic: its inputs carry their names to labloop-sim, the catalogue and campaign files", "[sim][snar][config]") {
  const labloop::sim::TestFunction* f = labloop::sim::find_test_function("snar_kinetic");
  REQUIRE(f != nullptr);
  const std::vector<std::string> names = {"tau", "equiv_pldn", "conc_dfnb", "temperature"};
  CHECK(f->input_names(4) == names);
  const auto inputs = labloop::sim::standard_inputs(*f, 4);
  REQUIRE(inputs.size() == 4);
  CHECK(inputs[0].name == "tau");
  CHECK(inputs[0].low == 0.5);
  CHECK(inputs[0].high == 2.0);
  CHECK(inputs[3].name == "temperature");
  CHECK(inputs[3].low == 30.0);
  CHECK(inputs[3].high == 120.0);
  // Functions that do not name theirs keep x1…xd.
  const auto branin = labloop::sim::standard_inputs(*labloop::sim::find_test_function("branin"), 2);
  CHECK(branin[0].name == "x1");
  CHECK(branin[1].name == "x2");
  CHECK(f->output_names(4, {}) == std::vector<std::string>{"e_factor", "sty"});
  const auto facts = f->benchmark_facts(4, {});
  CHECK(facts.maximized == std::vector<std::string>{"sty"});
  CHECK(facts.reference_point == std::vector<double>{10.0, 2000.0});

  // A campaign over the named inputs loads; one over x1…x4 is told which parameters the
  // instrument takes.
  auto campaign = [](const std::vector<std::string>& parameters) {
    nlohmann::json p = nlohmann::json::array();
    const std::vector<std::pair<double, double>> box = {{0.5, 2.0}, {1.0, 5.0}, {0.1, 0.5}, {30.0, 120.0}};
    for (size_t i = 0; i < parameters.size(); ++i)
      p.push_back({{"name", parameters[i]}, {"type", "continuous"}, {"low", box[i].first}, {"high", box[i].second}});
    return nlohmann::json{{"name", "snar"},
                          {"parameters", p},
                          {"objectives", {{{"name", "sty"}, {"goal", "maximize"}}, {{"name", "e_factor"}, {"goal", "minimize"}}}},
                          {"planner", {{"kind", "sobol"}}},
                          {"instruments", {{{"name", "reactor"}, {"simulator", "snar_kinetic"}}}},
                          {"budget", {{"experiments", 5}}}}
        .dump();
  };
  CHECK_NOTHROW(labloop::parse_campaign_config(campaign(names), "c.json", labloop::sim::catalogue()));
  CHECK_THROWS_AS(labloop::parse_campaign_config(campaign({"x1", "x2", "x3", "x4"}), "c.json", labloop::sim::catalogue()), labloop::ConfigError);
}

TEST_CASE("SnAr kinetic: the benchmark maximizes sty (negated) and minimizes e_factor against the reference point", "[sim][snar][bench]") {
  labloop::BenchmarkOptions options;
  options.problems = {{"snar_kinetic", 0, 60}};
  options.planners = {{"random", {{"kind", "random"}}}};
  options.seeds = 1;
  options.jobs = 1;
  const auto runs = labloop::run_benchmark(options);
  REQUIRE(runs.size() == 1);
  REQUIRE(runs[0].hypervolume.size() == 60);
  // Hypervolume only grows. About 4 % of the box has STY above 2000 with E-factor below 10, so 60
  // random points find some (had sty not been negated, none would count); and nothing exceeds
  // the box (10 - 8.4516) * (11562.3 - 2000) between the front's extremes and the reference.
  CHECK(std::is_sorted(runs[0].hypervolume.begin(), runs[0].hypervolume.end()));
  CHECK(runs[0].hypervolume.back() > 0);
  CHECK(runs[0].hypervolume.back() < (10 - 8.4516) * (11562.3 - 2000));
}
