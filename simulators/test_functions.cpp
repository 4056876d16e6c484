// Standard optimization test functions served by the simulated instrument.
//
// Definitions, bounds and known optima follow the forms collected in
//   S. Surjanovic & D. Bingham, "Virtual Library of Simulation Experiments:
//   Test Functions and Datasets", https://www.sfu.ca/~ssurjano/ (VLSE),
// which in turn credit the original authors:
//   Branin     F. H. Branin (1972), "Widely convergent method for finding
//              multiple solutions of simultaneous nonlinear equations",
//              IBM J. Res. Dev. 16(5):504-522; popularised in
//              L. C. W. Dixon & G. P. Szego (eds., 1978), "Towards Global
//              Optimisation 2", North-Holland.
//   Hartmann   J. K. Hartman (1973), "Some experiments in global
//              optimization", Naval Research Logistics Quarterly
//              20(3):569-576; the 3-D and 6-D coefficient sets are those of
//              Dixon & Szego (1978).
//   Ackley     D. H. Ackley (1987), "A Connectionist Machine for Genetic
//              Hillclimbing", Kluwer.
//   Levy       A. V. Levy & A. Montalvo (1985), "The tunneling algorithm for
//              the global minimization of functions", SIAM J. Sci. Stat.
//              Comput. 6(1):15-29 (VLSE form with w_i = 1 + (x_i - 1)/4).
//   Rosenbrock H. H. Rosenbrock (1960), "An automatic method for finding the
//              greatest or least value of a function", Computer Journal
//              3(3):175-184 (VLSE's chained d-dimensional extension).
//   Styblinski-Tang
//              M. A. Styblinski & T.-S. Tang (1990), "Experiments in
//              nonconvex optimization: stochastic approximation with function
//              smoothing and simulated annealing", Neural Networks
//              3(4):467-483.
//   Michalewicz
//              Z. Michalewicz (1992), "Genetic Algorithms + Data Structures =
//              Evolution Programs", Springer (steepness m = 10).
// The shifted variants are ours: they move the minimizer away from the centre
// / the all-ones point so an optimizer biased towards "nice" points (box centre,
// origin, integer lattice) gets no free win.
//
// Functions with several outputs, for multi-objective and constrained benchmarks:
//   BraninCurrin  Branin rescaled to [0,1]^2 and the Currin exponential function
//              (C. Currin, T. Mitchell, M. Morris & D. Ylvisaker (1991), "Bayesian
//              prediction of deterministic functions, with applications to the
//              design and analysis of computer experiments", JASA 86(416):953-963),
//              as paired in BoTorch's BraninCurrin (both minimized; reference
//              point (18, 6), maximum hypervolume 59.36011874867746).
//   DTLZ2      K. Deb, L. Thiele, M. Laumanns & E. Zitzler (2005), "Scalable test
//              problems for evolutionary multiobjective optimization", in
//              Evolutionary Multiobjective Optimization, Springer, pp. 105-145.
//              Its Pareto front is the unit sphere's positive orthant, so with
//              reference point 1.1 in every objective the maximum hypervolume is
//              1.1^M minus the orthant's volume: 1.21 - pi/4, 1.331 - pi/6,
//              1.4641 - pi^2/32 for M = 2, 3, 4.
//   hartmann6_constrained and branin_failing are ours: Hartmann-6 with the
//              linear constraint sum(x) <= 3, and Branin whose experiments fail in
//              a half-plane holding one of its three minima.
//
// A mechanistic model, in a file of its own with its sources (snar_kinetic.cpp):
//   snar_kinetic  the SnAr continuous-flow kinetic model of Summit's SnarBenchmark
//              (Hone et al. 2017, React. Chem. Eng. 2:103-108; Schweidtmann et al. 2018,
//              Chem. Eng. J. 352:277-282): named inputs, E-factor (minimized, the first
//              output) and space-time yield (maximized).

#include "test_functions.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <sstream>

#include "snar_kinetic.hpp"

namespace labloop::sim {
namespace {

constexpr double pi = std::numbers::pi;
constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// Same box for every coordinate; the common case for the scalable functions.
std::vector<std::pair<double, double>> uniform_box(int dim, double lo, double hi) {
  return std::vector<std::pair<double, double>>(
      static_cast<std::size_t>(dim > 0 ? dim : 0), {lo, hi});
}

std::vector<double> filled(int dim, double value) {
  return std::vector<double>(static_cast<std::size_t>(dim > 0 ? dim : 0), value);
}

// ---------------------------------------------------------------- Branin ----

double branin(std::span<const double> x) {
  if (x.size() != 2) return nan;
  // Standard constants; chosen by Branin so that the three minima are equal.
  constexpr double a = 1.0;
  constexpr double b = 5.1 / (4.0 * pi * pi);
  constexpr double c = 5.0 / pi;
  constexpr double r = 6.0;
  constexpr double s = 10.0;
  constexpr double t = 1.0 / (8.0 * pi);
  const double x1 = x[0];
  const double x2 = x[1];
  const double q = x2 - b * x1 * x1 + c * x1 - r;
  return a * q * q + s * (1.0 - t) * std::cos(x1) + s;
}

// At each minimizer the quadratic term vanishes and cos(x1) = -1, so the
// minimum is exactly s * t = 10 / (8 pi) = 0.397887...
double branin_optimum(int dim) { return dim == 2 ? 10.0 / (8.0 * pi) : nan; }

// --------------------------------------------------------------- Hartmann ---

// Both Hartmann variants share the form -sum_i alpha_i exp(-sum_j A_ij (x_j - P_ij)^2).
constexpr std::array<double, 4> hartmann_alpha = {1.0, 1.2, 3.0, 3.2};

constexpr std::array<std::array<double, 3>, 4> hartmann3_a = {{
    {3.0, 10.0, 30.0},
    {0.1, 10.0, 35.0},
    {3.0, 10.0, 30.0},
    {0.1, 10.0, 35.0},
}};

// Stored in units of 1e-4 as in the literature, so the table can be checked by eye.
constexpr std::array<std::array<double, 3>, 4> hartmann3_p = {{
    {3689.0, 1170.0, 2673.0},
    {4699.0, 4387.0, 7470.0},
    {1091.0, 8732.0, 5547.0},
    {381.0, 5743.0, 8828.0},
}};

constexpr std::array<std::array<double, 6>, 4> hartmann6_a = {{
    {10.0, 3.0, 17.0, 3.5, 1.7, 8.0},
    {0.05, 10.0, 17.0, 0.1, 8.0, 14.0},
    {3.0, 3.5, 1.7, 10.0, 17.0, 8.0},
    {17.0, 8.0, 0.05, 10.0, 0.1, 14.0},
}};

constexpr std::array<std::array<double, 6>, 4> hartmann6_p = {{
    {1312.0, 1696.0, 5569.0, 124.0, 8283.0, 5886.0},
    {2329.0, 4135.0, 8307.0, 3736.0, 1004.0, 9991.0},
    {2348.0, 1451.0, 3522.0, 2883.0, 3047.0, 6650.0},
    {4047.0, 8828.0, 8732.0, 5743.0, 1091.0, 381.0},
}};

double hartmann3(std::span<const double> x) {
  if (x.size() != 3) return nan;
  double outer = 0.0;
  for (std::size_t i = 0; i < 4; ++i) {
    double inner = 0.0;
    for (std::size_t j = 0; j < 3; ++j) {
      const double d = x[j] - 1e-4 * hartmann3_p[i][j];
      inner += hartmann3_a[i][j] * d * d;
    }
    outer += hartmann_alpha[i] * std::exp(-inner);
  }
  return -outer;
}

double hartmann6(std::span<const double> x) {
  if (x.size() != 6) return nan;
  double outer = 0.0;
  for (std::size_t i = 0; i < 4; ++i) {
    double inner = 0.0;
    for (std::size_t j = 0; j < 6; ++j) {
      const double d = x[j] - 1e-4 * hartmann6_p[i][j];
      inner += hartmann6_a[i][j] * d * d;
    }
    outer += hartmann_alpha[i] * std::exp(-inner);
  }
  return -outer;
}

// The Hartmann optima are only known numerically; these are the commonly
// quoted values (VLSE: -3.86278 and -3.32237) to the digits given in the
// literature, so the known argmins evaluate to them within ~1e-6.
double hartmann3_optimum(int dim) { return dim == 3 ? -3.86278214782076 : nan; }
double hartmann6_optimum(int dim) { return dim == 6 ? -3.32236801141551 : nan; }

// ------------------------------------------------------------------ Ackley --

constexpr int any_dim_max = 1000;

double ackley(std::span<const double> x) {
  if (x.empty() || x.size() > static_cast<std::size_t>(any_dim_max)) return nan;
  constexpr double a = 20.0;
  constexpr double b = 0.2;
  constexpr double c = 2.0 * pi;
  double sum_sq = 0.0;
  double sum_cos = 0.0;
  for (double xi : x) {
    sum_sq += xi * xi;
    sum_cos += std::cos(c * xi);
  }
  const double n = static_cast<double>(x.size());
  // At the origin the four terms cancel only up to rounding (~4e-16).
  return -a * std::exp(-b * std::sqrt(sum_sq / n)) - std::exp(sum_cos / n) + a + std::numbers::e;
}

// -------------------------------------------------------------------- Levy --

double levy(std::span<const double> x) {
  if (x.empty() || x.size() > static_cast<std::size_t>(any_dim_max)) return nan;
  // The change of variable w = 1 + (x - 1)/4 puts the minimizer at x = 1
  // (w = 1), where every sine term below vanishes.
  auto w = [&](std::size_t i) { return 1.0 + (x[i] - 1.0) / 4.0; };
  const std::size_t d = x.size();
  const double s0 = std::sin(pi * w(0));
  double value = s0 * s0;
  for (std::size_t i = 0; i + 1 < d; ++i) {
    const double wi = w(i);
    const double si = std::sin(pi * wi + 1.0);
    value += (wi - 1.0) * (wi - 1.0) * (1.0 + 10.0 * si * si);
  }
  const double wd = w(d - 1);
  const double sd = std::sin(2.0 * pi * wd);
  value += (wd - 1.0) * (wd - 1.0) * (1.0 + sd * sd);
  return value;
}

// -------------------------------------------------------------- Rosenbrock --

double rosenbrock(std::span<const double> x) {
  // The chained form needs at least one (x_i, x_{i+1}) pair.
  if (x.size() < 2 || x.size() > static_cast<std::size_t>(any_dim_max)) return nan;
  double value = 0.0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double valley = x[i + 1] - x[i] * x[i];
    const double off = x[i] - 1.0;
    value += 100.0 * valley * valley + off * off;
  }
  return value;
}

// --------------------------------------------------------- Styblinski-Tang --

// Separable: the per-coordinate minimum of 0.5 (t^4 - 16 t^2 + 5 t) is the
// smaller root of 4 t^3 - 32 t + 5 = 0, so the d-dim optimum is d times it.
constexpr double styblinski_tang_x = -2.903534027771177;
constexpr double styblinski_tang_f = -39.16616570377142;

double styblinski_tang(std::span<const double> x) {
  if (x.empty() || x.size() > static_cast<std::size_t>(any_dim_max)) return nan;
  double value = 0.0;
  for (double xi : x) {
    const double x2 = xi * xi;
    value += x2 * x2 - 16.0 * x2 + 5.0 * xi;
  }
  return 0.5 * value;
}

// ------------------------------------------------------------- Michalewicz --

double michalewicz(std::span<const double> x) {
  if (x.empty() || x.size() > static_cast<std::size_t>(any_dim_max)) return nan;
  // m controls the steepness of the valleys; 10 is the usual benchmark value.
  constexpr int m = 10;
  double value = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double idx = static_cast<double>(i + 1);
    const double s = std::sin(idx * x[i] * x[i] / pi);
    value -= std::sin(x[i]) * std::pow(s, 2 * m);
  }
  return value;
}

// The global minimum has no closed form; only these dimensions have
// published numerical values (VLSE), everything else is honestly "unknown".
// d = 2 carries the extra digits of f(2.20290552, 1.57079633) (= -1.8013034
// as usually quoted) so that the known minimizer never shows a negative regret.
double michalewicz_optimum(int dim) {
  switch (dim) {
    case 2: return -1.80130341009855;
    case 5: return -4.687658;
    case 10: return -9.66015;
    default: return nan;
  }
}

std::vector<double> michalewicz_argmin(int dim) {
  if (dim == 2) return {2.20290552, 1.57079633};
  return {};
}

// ---------------------------------------------------------------- Shifted ---

// Shifts chosen off-grid and asymmetric; every shifted minimizer stays well
// inside the original box (checked by the unit tests).
constexpr std::array<double, 5> ackley_shift = {7.5, -12.3, 3.1, 17.9, -6.4};
constexpr std::array<double, 10> levy_shift = {3.3, -4.1, 2.2, -6.5, 5.7,
                                               -2.9, 0.8, 4.6, -5.3, 1.9};

double ackley_shifted(std::span<const double> x) {
  if (x.size() != ackley_shift.size()) return nan;
  std::array<double, ackley_shift.size()> z{};
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = x[i] - ackley_shift[i];
  return ackley(z);
}

double levy_shifted(std::span<const double> x) {
  if (x.size() != levy_shift.size()) return nan;
  std::array<double, levy_shift.size()> z{};
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = x[i] - levy_shift[i];
  return levy(z);
}

// ----------------------------------------------------------- BraninCurrin ---

// Branin on [0,1]^2: x1' = 15 x1 - 5 in [-5, 10], x2' = 15 x2 in [0, 15].
double branin_rescaled(std::span<const double> x) {
  if (x.size() != 2) return nan;
  const std::array<double, 2> z = {15.0 * x[0] - 5.0, 15.0 * x[1]};
  return branin(z);
}

double currin(std::span<const double> x) {
  if (x.size() != 2) return nan;
  const double x1 = x[0];
  const double x2 = x[1];
  // At x2 = 0 the factor is its limit 1 - exp(-inf) = 1, written out rather than left to
  // IEEE division by zero.
  const double factor = x2 > 0.0 ? 1.0 - std::exp(-1.0 / (2.0 * x2)) : 1.0;
  const double numerator = ((2300.0 * x1 + 1900.0) * x1 + 2092.0) * x1 + 60.0;
  const double denominator = ((100.0 * x1 + 500.0) * x1 + 4.0) * x1 + 20.0;
  return factor * numerator / denominator;
}

std::vector<std::string> branin_currin_outputs(int, const OptionValues&) { return {"branin", "currin"}; }

std::vector<double> branin_currin_values(std::span<const double> x, const OptionValues&) {
  return {branin_rescaled(x), currin(x)};
}

BenchmarkFacts branin_currin_facts(int, const OptionValues&) {
  return {.objectives = {"branin", "currin"}, .reference_point = {18.0, 6.0}, .max_hypervolume = 59.36011874867746};
}

// ------------------------------------------------------------------ DTLZ2 ---

constexpr int dtlz2_max_dim = 20;

int objectives_option(const OptionValues& options) { return static_cast<int>(options.at("objectives")); }

// f_m = (1 + g) prod_{i < M-m} cos(x_i pi/2) * (m > 1 ? sin(x_{M-m} pi/2) : 1), 0-based x, with
// g = sum over the last k = d - M + 1 inputs of (x_i - 0.5)^2.
std::vector<double> dtlz2(std::span<const double> x, int objectives) {
  const auto m = static_cast<std::size_t>(objectives);
  if (x.size() < 2 || x.size() > static_cast<std::size_t>(dtlz2_max_dim) || m < 2 || m > x.size())
    return std::vector<double>(m, nan);
  double g = 0.0;
  for (std::size_t i = m - 1; i < x.size(); ++i) g += (x[i] - 0.5) * (x[i] - 0.5);
  std::vector<double> f(m, 1.0 + g);
  for (std::size_t j = 0; j < m; ++j) {
    // Objective j+1 takes the cosines of the first m-1-j angles, then one sine (except f1).
    const std::size_t cosines = m - 1 - j;
    for (std::size_t i = 0; i < cosines; ++i) f[j] *= std::cos(x[i] * pi / 2.0);
    if (j > 0) f[j] *= std::sin(x[cosines] * pi / 2.0);
  }
  return f;
}

std::optional<OptionProblem> dtlz2_check(int dim, const OptionValues& options) {
  const int m = objectives_option(options);
  if (m > dim)
    return OptionProblem{"objectives", "is " + std::to_string(m) + " but dtlz2 with " + std::to_string(dim) +
                                           " inputs allows at most " + std::to_string(dim) +
                                           " objectives (it needs dim >= objectives); raise \"dim\" or lower \"objectives\""};
  return std::nullopt;
}

std::vector<std::string> dtlz2_outputs(int, const OptionValues& options) {
  std::vector<std::string> names;
  for (int j = 1; j <= objectives_option(options); ++j) names.push_back("f" + std::to_string(j));
  return names;
}

std::vector<double> dtlz2_values(std::span<const double> x, const OptionValues& options) {
  return dtlz2(x, objectives_option(options));
}

BenchmarkFacts dtlz2_facts(int dim, const OptionValues& options) {
  const int m = objectives_option(options);
  BenchmarkFacts facts{.objectives = dtlz2_outputs(dim, options), .reference_point = std::vector<double>(static_cast<std::size_t>(m), 1.1)};
  // 1.1^M minus the volume of the unit ball's positive orthant (see the top of this file).
  if (m == 2) facts.max_hypervolume = 1.21 - pi / 4.0;
  if (m == 3) facts.max_hypervolume = 1.331 - pi / 6.0;
  if (m == 4) facts.max_hypervolume = 1.4641 - pi * pi / 32.0;
  return facts;
}

bool dtlz2_dim(int dim) { return dim >= 2 && dim <= dtlz2_max_dim; }

// ------------------------------------------------------ Hartmann-6, constrained ---

std::vector<std::string> hartmann6_constrained_outputs(int, const OptionValues&) { return {"y", "c"}; }

// c = sum(x) - 3: feasible when c <= 0. The unconstrained argmin has sum 2.07, so it is feasible
// and the feasible optimum is Hartmann-6's own.
std::vector<double> hartmann6_constrained_values(std::span<const double> x, const OptionValues&) {
  if (x.size() != 6) return {nan, nan};
  double sum = 0.0;
  for (double v : x) sum += v;
  return {hartmann6(x), sum - 3.0};
}

BenchmarkFacts hartmann6_constrained_facts(int, const OptionValues&) { return {.objectives = {"y"}, .constraints = {"c"}}; }

// --------------------------------------------- Gramacy et al.'s toy problem ---

// Gramacy et al., "Modeling an augmented Lagrangian for blackbox constrained optimization",
// Technometrics 58 (2016): minimize x1 + x2 on [0,1]^2 subject to
//   c1 = 3/2 - x1 - 2 x2 - 1/2 sin(2 pi (x1^2 - 2 x2)) <= 0,   c2 = x1^2 + x2^2 - 3/2 <= 0.
// Both constraints are active somewhere and c1 splits the feasible set into pieces; the optimum
// lies on c1's boundary, so a planner must learn that boundary to get close. The paper quotes
// 0.5998 at (0.1954, 0.4044); the figures below come from a 1e-3 grid refined along c1 = 0
// (the minimizer rounded to the feasible side).
// Its outputs and facts serve ackley_constrained too: an objective y and two constraints.
std::vector<std::string> two_constraint_outputs(int, const OptionValues&) { return {"y", "c1", "c2"}; }

std::vector<double> gramacy_values(std::span<const double> x, const OptionValues&) {
  if (x.size() != 2) return {nan, nan, nan};
  const double a = x[0], b = x[1];
  return {a + b, 1.5 - a - 2.0 * b - 0.5 * std::sin(2.0 * pi * (a * a - 2.0 * b)), a * a + b * b - 1.5};
}

double gramacy_objective(std::span<const double> x) { return x.size() == 2 ? x[0] + x[1] : nan; }

constexpr double gramacy_optimum_value = 0.59978805201;

BenchmarkFacts two_constraint_facts(int, const OptionValues&) { return {.objectives = {"y"}, .constraints = {"c1", "c2"}}; }

// ------------------------------------------------ Ackley-10, constrained (SCBO) ---

// Eriksson and Poloczek, "Scalable constrained Bayesian optimization", AISTATS 2021: Ackley-10 on
// [-5, 10]^10 subject to c1 = sum(x) <= 0 and c2 = |x|_2 - 5 <= 0. The optimum 0 at the origin
// lies on c1's boundary, and the box is almost all infeasible: sum(x) <= 0 holds in about 3 % of
// it, both constraints in about 2e-5 (half the ball of radius 5 over the box).
std::vector<double> ackley_constrained_values(std::span<const double> x, const OptionValues&) {
  if (x.size() != 10) return {nan, nan, nan};
  double sum = 0.0, squares = 0.0;
  for (double v : x) {
    sum += v;
    squares += v * v;
  }
  return {ackley(x), sum, std::sqrt(squares) - 5.0};
}

// --------------------------------------------------------- Branin, failing ---

// Experiments fail where x1 + x2 > 10.5: the half-plane holds the minimum (9.42478, 2.475)
// (x1 + x2 = 11.90) but not (-pi, 12.275) (9.13) or (pi, 2.275) (5.42), so the feasible optimum
// stays 10/(8 pi) while a planner that ignores failures keeps losing experiments to the corner.
constexpr double branin_failing_line = 10.5;

const char* branin_failing_failure(std::span<const double> x) {
  return x.size() == 2 && x[0] + x[1] > branin_failing_line ? "no product" : nullptr;
}

std::string format_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

std::vector<std::string> TestFunction::option_names() const {
  std::vector<std::string> names;
  for (const FunctionOption& o : options) names.push_back(o.name);
  return names;
}

OptionValues TestFunction::default_options() const {
  OptionValues values;
  for (const FunctionOption& o : options) values[o.name] = o.default_value;
  return values;
}

std::optional<OptionProblem> TestFunction::complete_options(int dim, OptionValues& given) const {
  for (const FunctionOption& o : options) {
    const auto it = given.find(o.name);
    if (it == given.end()) {
      given[o.name] = o.default_value;
      continue;
    }
    const double v = it->second;
    if (!(v >= o.low && v <= o.high) || (o.integer && v != std::floor(v)))
      return OptionProblem{o.name, "must be " + std::string(o.integer ? "a whole number" : "a number") + " from " + format_number(o.low) +
                                       " to " + format_number(o.high) + " (" + o.description + "; got " + format_number(v) + ")"};
  }
  if (check_options) return check_options(dim, given);
  return std::nullopt;
}

std::vector<std::string> TestFunction::output_names(int dim, const OptionValues& values) const {
  return outputs ? outputs(dim, values) : std::vector<std::string>{"y"};
}

std::vector<double> TestFunction::values(std::span<const double> x, const OptionValues& option_values) const {
  return evaluate_outputs ? evaluate_outputs(x, option_values) : std::vector<double>{evaluate(x)};
}

BenchmarkFacts TestFunction::benchmark_facts(int dim, const OptionValues& values) const {
  return facts ? facts(dim, values) : BenchmarkFacts{};
}

std::vector<std::string> TestFunction::input_names(int dim) const {
  if (inputs) return inputs(dim);
  std::vector<std::string> names;
  for (int d = 1; d <= dim; ++d) names.push_back("x" + std::to_string(d));
  return names;
}

namespace {

}  // namespace

const std::vector<TestFunction>& test_functions() {
  // Function-local static: built once on first use, so there is no
  // static-initialization-order dependence on other translation units.
  static const std::vector<TestFunction> table = {
      {"branin", "Branin-Hoo, 2-D, 3 global minima", 2, 2, 2,
       [](int) { return std::vector<std::pair<double, double>>{{-5.0, 10.0}, {0.0, 15.0}}; },
       branin, branin_optimum,
       [](int dim) { return dim == 2 ? std::vector<double>{-pi, 12.275} : std::vector<double>{}; }},

      {"hartmann3", "Hartmann, 3-D, 4 local minima", 3, 3, 3,
       [](int) { return uniform_box(3, 0.0, 1.0); },
       hartmann3, hartmann3_optimum,
       [](int dim) {
         return dim == 3 ? std::vector<double>{0.114614, 0.555649, 0.852547}
                         : std::vector<double>{};
       }},

      {"hartmann6", "Hartmann, 6-D, 6 local minima", 6, 6, 6,
       [](int) { return uniform_box(6, 0.0, 1.0); },
       hartmann6, hartmann6_optimum,
       [](int dim) {
         return dim == 6 ? std::vector<double>{0.20169, 0.150011, 0.476874, 0.275332, 0.311652,
                                               0.6573}
                         : std::vector<double>{};
       }},

      {"ackley", "Ackley, any-D, many local minima, global minimum 0 at origin", 2, 1, any_dim_max,
       [](int dim) { return uniform_box(dim, -32.768, 32.768); },
       ackley,
       [](int dim) { return dim >= 1 ? 0.0 : nan; },
       [](int dim) { return filled(dim, 0.0); }},

      {"levy", "Levy, any-D, many local minima, global minimum 0 at ones", 2, 1, any_dim_max,
       [](int dim) { return uniform_box(dim, -10.0, 10.0); },
       levy,
       [](int dim) { return dim >= 1 ? 0.0 : nan; },
       [](int dim) { return filled(dim, 1.0); }},

      {"rosenbrock", "Rosenbrock, any-D (>=2), curved valley, global minimum 0 at ones", 2, 2,
       any_dim_max,
       [](int dim) { return uniform_box(dim, -5.0, 10.0); },
       rosenbrock,
       [](int dim) { return dim >= 2 ? 0.0 : nan; },
       [](int dim) { return dim >= 2 ? filled(dim, 1.0) : std::vector<double>{}; }},

      {"styblinski_tang", "Styblinski-Tang, any-D, separable, 2^d local minima", 2, 1, any_dim_max,
       [](int dim) { return uniform_box(dim, -5.0, 5.0); },
       styblinski_tang,
       [](int dim) { return dim >= 1 ? styblinski_tang_f * static_cast<double>(dim) : nan; },
       [](int dim) { return filled(dim, styblinski_tang_x); }},

      {"michalewicz", "Michalewicz (m=10), any-D, steep valleys, d! local minima", 2, 1,
       any_dim_max,
       [](int dim) { return uniform_box(dim, 0.0, pi); },
       michalewicz, michalewicz_optimum, michalewicz_argmin},

      {"ackley_shifted", "Ackley shifted off-centre, 5-D, global minimum 0", 5, 5, 5,
       [](int) { return uniform_box(5, -32.768, 32.768); },
       ackley_shifted,
       [](int dim) { return dim == 5 ? 0.0 : nan; },
       [](int dim) {
         return dim == 5 ? std::vector<double>(ackley_shift.begin(), ackley_shift.end())
                         : std::vector<double>{};
       }},

      {"levy_shifted", "Levy shifted off the all-ones point, 10-D, global minimum 0", 10, 10, 10,
       [](int) { return uniform_box(10, -10.0, 10.0); },
       levy_shifted,
       [](int dim) { return dim == 10 ? 0.0 : nan; },
       [](int dim) {
         // Levy's minimizer is at ones, so the shifted one is s + 1.
         std::vector<double> x;
         if (dim != 10) return x;
         for (double s : levy_shift) x.push_back(s + 1.0);
         return x;
       }},

      // ---- several outputs, options, failures: for multi-objective and constrained benchmarks ----

      {.name = "branin_currin",
       .description = "Branin (rescaled to [0,1]^2) and Currin, 2 objectives, ref (18, 6), max hypervolume 59.36",
       .default_dim = 2, .min_dim = 2, .max_dim = 2,
       .bounds = [](int) { return uniform_box(2, 0.0, 1.0); },
       .evaluate = branin_rescaled,
       .optimum = branin_optimum,
       .argmin = [](int dim) { return dim == 2 ? std::vector<double>{(pi + 5.0) / 15.0, 2.275 / 15.0} : std::vector<double>{}; },
       .outputs = branin_currin_outputs,
       .evaluate_outputs = branin_currin_values,
       .facts = branin_currin_facts},

      {.name = "dtlz2",
       .description = "DTLZ2 on [0,1]^d, objectives f1..fM (option objectives: 2-4), front sum f^2 = 1, ref 1.1",
       .default_dim = 6, .min_dim = 2, .max_dim = dtlz2_max_dim,
       .bounds = [](int dim) { return uniform_box(dim, 0.0, 1.0); },
       .evaluate = [](std::span<const double> x) { return dtlz2(x, 2)[0]; },
       .optimum = [](int dim) { return dtlz2_dim(dim) ? 0.0 : nan; },  // f1 = 0 wherever x1 = 1
       .argmin = [](int dim) {
         std::vector<double> x = dtlz2_dim(dim) ? filled(dim, 0.5) : std::vector<double>{};
         if (!x.empty()) x[0] = 1.0;
         return x;
       },
       .options = {{.name = "objectives", .description = "number of objectives f1..fM", .default_value = 2, .low = 2, .high = 4}},
       .check_options = dtlz2_check,
       .outputs = dtlz2_outputs,
       .evaluate_outputs = dtlz2_values,
       .facts = dtlz2_facts},

      {.name = "hartmann6_constrained",
       .description = "Hartmann-6 y with constraint c = sum(x) - 3 <= 0, feasible optimum -3.32237",
       .default_dim = 6, .min_dim = 6, .max_dim = 6,
       .bounds = [](int) { return uniform_box(6, 0.0, 1.0); },
       .evaluate = hartmann6,
       .optimum = hartmann6_optimum,
       .argmin = [](int dim) {
         return dim == 6 ? std::vector<double>{0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573} : std::vector<double>{};
       },
       .outputs = hartmann6_constrained_outputs,
       .evaluate_outputs = hartmann6_constrained_values,
       .facts = hartmann6_constrained_facts},

      {.name = "gramacy",
       .description = "Gramacy et al.'s toy problem: y = x1 + x2 with constraints c1, c2 <= 0 (c1 active at the optimum, c2 slack), feasible optimum 0.5998",
       .default_dim = 2, .min_dim = 2, .max_dim = 2,
       .bounds = [](int) { return uniform_box(2, 0.0, 1.0); },
       .evaluate = gramacy_objective,
       .optimum = [](int dim) { return dim == 2 ? gramacy_optimum_value : nan; },
       .argmin = [](int dim) { return dim == 2 ? std::vector<double>{0.19512268451, 0.4046653676} : std::vector<double>{}; },
       .outputs = two_constraint_outputs,
       .evaluate_outputs = gramacy_values,
       .facts = two_constraint_facts},

      {.name = "ackley_constrained",
       .description = "Ackley-10 on [-5,10]^10 with constraints c1 = sum(x) <= 0, c2 = |x| - 5 <= 0 (SCBO's), optimum 0 on c1's boundary",
       .default_dim = 10, .min_dim = 10, .max_dim = 10,
       .bounds = [](int) { return uniform_box(10, -5.0, 10.0); },
       .evaluate = [](std::span<const double> x) { return x.size() == 10 ? ackley(x) : nan; },
       .optimum = [](int dim) { return dim == 10 ? 0.0 : nan; },
       .argmin = [](int dim) { return dim == 10 ? std::vector<double>(10, 0.0) : std::vector<double>{}; },
       .outputs = two_constraint_outputs,
       .evaluate_outputs = ackley_constrained_values,
       .facts = two_constraint_facts},

      {.name = "branin_failing",
       .description = "Branin whose experiments fail (\"no product\") where x1 + x2 > 10.5; 2 of its 3 minima remain",
       .default_dim = 2, .min_dim = 2, .max_dim = 2,
       .bounds = [](int) { return std::vector<std::pair<double, double>>{{-5.0, 10.0}, {0.0, 15.0}}; },
       .evaluate = branin,
       .optimum = branin_optimum,
       .argmin = [](int dim) { return dim == 2 ? std::vector<double>{-pi, 12.275} : std::vector<double>{}; },
       .failure = branin_failing_failure},

      // ---- mechanistic: a chemical reactor's kinetics (snar_kinetic.cpp) ----

      {.name = "snar_kinetic",
       .description = "SnAr flow reactor kinetics (Summit's SnarBenchmark): tau, equiv_pldn, conc_dfnb, temperature; "
                      "e_factor (min 8.4516), sty (maximize)",
       .default_dim = 4, .min_dim = 4, .max_dim = 4,
       .bounds = snar_kinetic_bounds,
       .evaluate = snar_kinetic_e_factor,
       .optimum = snar_kinetic_optimum,
       .argmin = snar_kinetic_argmin,
       .outputs = snar_kinetic_outputs,
       .evaluate_outputs = snar_kinetic_values,
       .facts = snar_kinetic_facts,
       .inputs = snar_kinetic_input_names},
  };
  return table;
}

const TestFunction* find_test_function(std::string_view name) {
  for (const TestFunction& f : test_functions()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace labloop::sim
