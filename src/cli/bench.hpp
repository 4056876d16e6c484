#pragma once
// `labloop bench`: planners × problems × seeds on simulated test functions; prints a table of
// regret statistics and writes bench.csv and regret.svg. With datasets, the lookup-table
// benchmark (labloop-bench-pool) instead.
#include <string>
#include <vector>

namespace labloop::cli {

struct BenchCommand {
  std::vector<std::string> problems;   // "branin", "rosenbrock:4", …; empty = the standard set
  std::string suite;                   // "standard" or "goals" (the objectives issue's set), added to `problems`
  std::vector<std::string> planners;   // "random", "sobol", "bayesian", or JSON planner sections
  int seeds = 10;
  int budget = 0;                      // 0 = each problem's own budget
  int initial = 10;                    // initial design of the bayesian planner (as the reference runs)
  int jobs = 0;
  double noise = 0;
  int batch = 1;
  std::string output = "bench-results";
  std::vector<std::string> datasets;   // lookup-table dataset folders: run labloop-bench-pool on them instead
  double subset = 1.0;                 // with datasets: the fraction of rows in each run's pool
  bool seeds_given = false, initial_given = false;  // else labloop-bench-pool's own defaults (40 seeds, 5 initial)
};

int run_bench(const BenchCommand& command);

}  // namespace labloop::cli
