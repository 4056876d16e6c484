#pragma once
// Simulator-only benchmarking of planners: planners × problems × seeds, each run in-process
// against a standard test function (no sockets: the planner is what is measured), in parallel
// over the available cores. Regret is simple regret: best value found minus the known optimum.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace labloop {

struct BenchmarkProblem {
  std::string function;  // a labloop-sim function name, e.g. "hartmann6"
  int dim = 0;           // 0 = the function's default
  int budget = 50;       // evaluations, initial design included
  std::string label() const;  // "hartmann6" or "ackley-5"
};

struct BenchmarkPlanner {
  std::string label;          // shown in tables, e.g. "bayesian"
  nlohmann::json config;      // the "planner" section of a campaign file
};

struct BenchmarkOptions {
  std::vector<BenchmarkProblem> problems;
  std::vector<BenchmarkPlanner> planners;
  int seeds = 10;
  int jobs = 0;  // 0 = hardware concurrency
  double noise = 0;  // Gaussian noise added to observations (regret is measured noise-free)
  int batch = 1;     // points per ask(): q experiments proposed together, then all told
};

// One run: the noise-free best-so-far regret after each evaluation, and seconds per ask() (one
// entry per ask, which proposes `batch` points).
struct BenchmarkRun {
  std::string problem, planner;
  int seed = 0;
  std::vector<double> regret;
  std::vector<double> ask_seconds;
};

// Throws ConfigError for an unknown function or a planner config that does not load.
std::vector<BenchmarkRun> run_benchmark(const BenchmarkOptions& options);

// The standard problem set of the planner issue (Branin, Hartmann-6, shifted Ackley-5,
// Rosenbrock-4, shifted Levy-10), with its budgets.
std::vector<BenchmarkProblem> standard_problems();

}  // namespace labloop
