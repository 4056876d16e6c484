#pragma once

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labloop::sim {

// One option of a test function's own (besides labloop-sim's generic noise, delay, dim, …), e.g.
// DTLZ2's "objectives". Options are numbers: a campaign writes them in the instrument's
// "options" beside the generic ones, and labloop-sim receives them as `--options '{"objectives": 3}'`.
struct FunctionOption {
  std::string name;         // as written in a campaign file; a valid identifier
  std::string description;  // what it changes, for `labloop-sim --list` and messages
  double default_value = 0;
  double low = 0;           // allowed values, inclusive
  double high = 0;
  bool integer = true;      // only whole numbers
};

// A function's option values by name. Where a TestFunction callback takes one, every option the
// function declares is present (the defaults filled in) and within its bounds.
using OptionValues = std::map<std::string, double, std::less<>>;

// A refused combination of option values: which option to name in the message, and why.
struct OptionProblem {
  std::string option;
  std::string message;
};

// What benchmarks need to know of a function's outputs for one dimension and option values.
// Defaults describe a plain single-objective function.
struct BenchmarkFacts {
  std::vector<std::string> objectives;   // outputs to minimize; empty = every output
  std::vector<std::string> constraints;  // outputs a feasible point keeps <= 0
  // Among `objectives`, those where larger is better (snar_kinetic's space-time yield): benchmarks
  // minimize their negation. Empty for every other function: all objectives are minimized.
  std::vector<std::string> maximized;
  // Multi-objective: the hypervolume reference point (one coordinate per objective, in the order
  // of `objectives`, in the outputs' own units and direction: a maximized objective's worst value
  // counted), and the hypervolume of the true Pareto front against it; NaN when unknown.
  std::vector<double> reference_point;
  double max_hypervolume = std::numeric_limits<double>::quiet_NaN();
};

// One standard test function (all are MINIMIZATION problems, values noise-free).
//
// The callbacks are plain function pointers so the registry is a constant table
// that can be copied and compared without any lifetime concerns.
//
// Dimension contract: callers pass a `dim` in [min_dim, max_dim]. Fixed-dimension
// functions ignore `dim` in `bounds` (they always return their fixed box), but
// report NaN / empty from `optimum` / `argmin` for any other dim, so a caller that
// gets the dimension wrong sees it instead of silently using the wrong answer.
// `evaluate` returns NaN when x.size() is outside [min_dim, max_dim] (or differs
// from the fixed dimension) rather than reading out of range.
//
// Most functions have one output, "y", and no options: they fill in the first nine members and
// stop. A function with options of its own, several outputs, or a region where experiments fail
// also fills in the members after `argmin` it needs (each defaults to "none").
struct TestFunction {
  std::string name;         // lower-case id used on the command line and in configs: "branin", "hartmann6", ...
  std::string description;  // one line for `labloop-sim --list`, e.g. "Branin-Hoo, 2-D, 3 global minima"
  int default_dim;
  int min_dim;              // fixed-dimension functions have min_dim == max_dim == default_dim
  int max_dim;
  // Standard box bounds per coordinate for dimension `dim` (size == dim).
  std::vector<std::pair<double, double>> (*bounds)(int dim);
  // Noise-free value of the first output at x (x.size() == dim, x inside bounds), with the options
  // at their defaults: the only output of most functions, and what single-objective benchmarks use.
  double (*evaluate)(std::span<const double> x);
  // Known global minimum of `evaluate` for dimension `dim`, or NaN when not known for that
  // dimension. For a function with constraints or a failing region: the minimum over the feasible
  // points where experiments succeed (the feasible optimum).
  double (*optimum)(int dim);
  // One known global minimizer for `dim` (empty when unknown), feasible — used by tests.
  std::vector<double> (*argmin)(int dim);

  // ---- optional ----
  // Its own options (none for most).
  std::vector<FunctionOption> options = {};
  // Checks option values against each other and the dimension (each value already lies within
  // its option's bounds); nullptr when any combination is fine.
  std::optional<OptionProblem> (*check_options)(int dim, const OptionValues& options) = nullptr;
  // Output names for `dim` and option values; nullptr: the single output "y".
  std::vector<std::string> (*outputs)(int dim, const OptionValues& options) = nullptr;
  // Noise-free values of every output at x, in the order of `outputs`; nullptr: {evaluate(x)}.
  std::vector<double> (*evaluate_outputs)(std::span<const double> x, const OptionValues& options) = nullptr;
  // Where the experiment fails instead of giving values (the instrument reports status "failed"):
  // the error message at x, or nullptr where it succeeds. nullptr: experiments never fail.
  const char* (*failure)(std::span<const double> x) = nullptr;
  // Objectives, constraints, hypervolume reference for `dim` and option values; nullptr: one
  // objective (every output), no constraints, nothing known of a front.
  BenchmarkFacts (*facts)(int dim, const OptionValues& options) = nullptr;
  // Names of the `dim` inputs, in the order of `bounds` and of x (valid identifiers, unique);
  // nullptr: x1…x<dim>. What labloop-sim declares, campaign files name, and benchmarks search.
  std::vector<std::string> (*inputs)(int dim) = nullptr;

  // The names of its own options, for messages ("did you mean").
  std::vector<std::string> option_names() const;
  // Every option at its default.
  OptionValues default_options() const;
  // `given` (names among option_names()) completed with defaults and checked: each value within
  // its option's bounds (and whole where it must be), then check_options. The first problem found.
  std::optional<OptionProblem> complete_options(int dim, OptionValues& given) const;
  // outputs(dim, options), or {"y"}.
  std::vector<std::string> output_names(int dim, const OptionValues& options) const;
  // evaluate_outputs(x, options), or {evaluate(x)}.
  std::vector<double> values(std::span<const double> x, const OptionValues& options) const;
  // facts(dim, options), or the single-objective default.
  BenchmarkFacts benchmark_facts(int dim, const OptionValues& options) const;
  // inputs(dim), or x1…x<dim>.
  std::vector<std::string> input_names(int dim) const;
};

// The registry: an explicit table (not self-registering statics). Adding a function = one entry.
const std::vector<TestFunction>& test_functions();

// nullptr when unknown.
const TestFunction* find_test_function(std::string_view name);

}  // namespace labloop::sim
