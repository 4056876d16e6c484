#pragma once
// `labloop bench`: planners × problems × seeds on simulated test functions; prints a table of
// regret statistics and writes bench.csv and regret.svg. The real suite (or --datasets) runs
// planners on the datasets instead (bench/real_benchmark.hpp) and writes real.csv.
#include <string>
#include <vector>

namespace labloop::cli {

// standard: the planner issue's test functions; goals: several objectives, an outcome constraint
// and noise; real: the datasets (lookup tables as pool campaigns, scattered ones emulated).
enum class BenchSuite { standard, goals, real };

struct BenchCommand {
  std::vector<std::string> problems;   // "branin", "rosenbrock:4", …; empty = the standard set
  BenchSuite suite = BenchSuite::standard;  // goals: `problems` selects among its rows (select_goal_problems)
  bool suite_given = false;
  std::vector<std::string> planners;   // "random", "sobol", "bayesian", or JSON planner sections
  int seeds = 10;
  int budget = 0;                      // 0 = each problem's own budget
  int initial = 10;                    // initial design of the bayesian planner (as the reference runs)
  int jobs = 0;
  double noise = 0;
  bool declare_noise = false;
  int batch = 1;
  std::string output = "bench-results";
  // The real suite: datasets (names or folders; empty = real_suite_datasets()); giving them
  // implies the real suite.
  std::vector<std::string> datasets;
  double subset = 1.0;                 // lookup tables: the fraction of rows in each run's pool
  int max_experiments = 200;           // lookup tables: experiments per run at most
  bool one_hot = false;                // lookup tables: ignore descriptors.csv
  bool whole_space = false;            // lookup tables: search the whole space, no candidates
  std::string objective;               // the objective scored in every dataset; empty: each one's first
  // The real suite's own defaults when not given: 40 seeds and 5 initial experiments (the
  // reference runs'), a budget of kEmulatedBudget for emulated datasets.
  bool seeds_given = false, initial_given = false, max_given = false;
};

int run_bench(const BenchCommand& command);

}  // namespace labloop::cli
