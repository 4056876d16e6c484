#pragma once
// The SnAr continuous-flow kinetic model served by labloop-sim as `snar_kinetic`: the reaction of
// 2,4-difluoronitrobenzene (DFNB) with pyrrolidine in ethanol in a 5 mL plug-flow reactor, as in
// Summit's SnarBenchmark. Inputs: residence time tau (min), pyrrolidine equivalents, DFNB inlet
// concentration (mol/L) and temperature (°C); outputs: E-factor (minimized) and space-time yield
// (kg m^-3 h^-1, maximized). Sources and equations: the top of snar_kinetic.cpp and docs/config.md.
//
// All functions are pure and thread-safe. Concentrations are mol/L, times minutes.
#include <array>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "test_functions.hpp"

namespace labloop::sim {

// The five species, in the order of SnarConcentrations.
enum SnarSpecies : std::size_t { kSnarDfnb = 0, kSnarPyrrolidine = 1, kSnarOrtho = 2, kSnarPara = 3, kSnarBis = 4 };
using SnarConcentrations = std::array<double, 5>;

// Molar masses (g/mol) in species order, as Summit uses them; 2-(pyrrolidin-1-yl)-4-fluoro-
// nitrobenzene (ortho, the product), its para isomer, and the 2,4-bis(pyrrolidinyl) adduct.
inline constexpr SnarConcentrations kSnarMolarMass = {159.09, 71.12, 210.21, 210.21, 261.33};

// The reactor's conditions: the four inputs.
struct SnarConditions {
  double tau_min = 0;        // residence time, minutes (published range 0.5–2)
  double equiv_pldn = 0;     // pyrrolidine : DFNB at the inlet (1–5)
  double conc_dfnb = 0;      // DFNB at the inlet after mixing, mol/L (0.1–0.5)
  double temperature_c = 0;  // °C (30–120)
};

// Second-order rate constants at one temperature, L mol^-1 min^-1: a, b form the ortho and para
// products from DFNB; c, d turn ortho and para into the bis adduct.
struct SnarRateConstants {
  double a = 0, b = 0, c = 0, d = 0;
};
SnarRateConstants snar_rate_constants(double temperature_c);

// d(concentration)/dt in mol L^-1 min^-1 at concentrations `c`.
SnarConcentrations snar_rates(const SnarConcentrations& c, const SnarRateConstants& k);

// Relative tolerance of the integrator by default: outputs within about 1e-8 of the exact solution
// (2e-9 at worst over 2000 random points of the box against a 1e-13 run).
inline constexpr double kSnarTolerance = 1e-8;

// The reactor outlet: every species' concentration after integrating the rate equations over
// tau from the inlet (DFNB conc_dfnb, pyrrolidine equiv_pldn * conc_dfnb, nothing else), with an
// embedded Runge-Kutta 5(4) method at relative tolerance `rtol`. nullopt for inputs with no
// physical meaning (not finite, tau <= 0, equivalents or concentration < 0, temperature at or
// below the model's absolute zero) and when the step budget runs out (far outside the published
// ranges, where the kinetics are too fast to follow).
struct SnarOutlet {
  SnarConcentrations concentrations{};
  int steps = 0;  // accepted steps
};
std::optional<SnarOutlet> snar_outlet(const SnarConditions& conditions, double rtol = kSnarTolerance);

// Summit's two objectives from outlet concentrations. Space-time yield of the ortho product,
// kg m^-3 h^-1, at least 1e-6; E-factor (kg of waste, the ethanol stream and every species but
// the product, per kg of product), at most 1000 and 1000 when no product is formed.
double snar_space_time_yield(double tau_min, const SnarConcentrations& outlet);
double snar_e_factor(const SnarConcentrations& outlet);

// The registry entry's parts (test_functions.cpp). Inputs in this order: tau, equiv_pldn,
// conc_dfnb, temperature; outputs e_factor (the first, `evaluate`), sty.
std::vector<std::pair<double, double>> snar_kinetic_bounds(int dim);
std::vector<std::string> snar_kinetic_input_names(int dim);
std::vector<std::string> snar_kinetic_outputs(int dim, const OptionValues& options);
std::vector<double> snar_kinetic_values(std::span<const double> x, const OptionValues& options);
double snar_kinetic_e_factor(std::span<const double> x);
double snar_kinetic_optimum(int dim);             // the least E-factor inside the bounds
std::vector<double> snar_kinetic_argmin(int dim);  // where it is
BenchmarkFacts snar_kinetic_facts(int dim, const OptionValues& options);

}  // namespace labloop::sim
