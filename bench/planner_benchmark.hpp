#pragma once
// Simulator-only benchmarking of planners: planners × problems × seeds, each run in-process
// against a standard test function (no sockets: the planner is what is measured), in parallel
// over the available cores. Regret is simple regret: best value found minus the known optimum.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace labloop {

struct BenchmarkProblem {
  std::string function;  // a labloop-sim function name, e.g. "hartmann6"
  int dim = 0;           // 0 = the function's default
  int budget = 50;       // evaluations, initial design included
  double noise = -1;     // standard deviation of noise on every output; < 0: BenchmarkOptions::noise
  int initial = 0;       // the bayesian planner's initial design here; 0: as the planner is configured
  int batch = 0;         // experiments proposed together after the initial design; 0: BenchmarkOptions::batch
  // "hartmann6", "ackley-5", "hartmann6 noise 0.1", "hartmann6 batch 4": the noise and batch set
  // here (BenchmarkOptions' defaults are not in it: the CLI sets --noise and --batch here).
  std::string label() const;
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
  // Points per ask(): q experiments proposed together, then all told. With q > 1 the initial
  // design is one ask of its own, so "10 + 10 rounds of 4" is what the reference runs did.
  int batch = 1;
  // Tell the planners each objective's noise (as an objective's "noise" in a campaign file does)
  // instead of leaving them to estimate it.
  bool declare_noise = false;
  // Once this is true (a first Ctrl-C), no further run starts; the runs under way finish. Null:
  // every run.
  const std::atomic<bool>* stop = nullptr;
  // Counts the runs as they finish, from the worker threads (for a progress display). Null: none.
  std::atomic<std::size_t>* finished_runs = nullptr;
};

// One run: the noise-free best-so-far regret after each evaluation (among points whose outcome
// constraints hold; +inf before the first), and seconds per ask() (one entry per ask, which
// proposes `batch` points). Problems with several objectives have no regret: the hypervolume of
// the evaluated points (true values, feasible ones) against the problem's reference point instead.
struct BenchmarkRun {
  std::string problem, planner;
  int seed = 0;
  std::vector<double> regret;
  std::vector<double> hypervolume;
  std::vector<double> ask_seconds;
  std::vector<size_t> evaluation_ask;  // per evaluation: the index of the ask that proposed it
  size_t design_asks = 0;              // the first asks, made without a model (every ask of a planner without one)
  int infeasible = 0;  // evaluations after the initial design that broke an outcome constraint
  int failed = 0;      // evaluations after the initial design that failed
  // One objective: the true regret of the setting the planner recommends at the end (its model's
  // best among those run; the best measured value for planners without a model). NaN otherwise.
  double recommended_regret = std::numeric_limits<double>::quiet_NaN();
};

// Throws ConfigError for an unknown function, a dimension it does not allow, or a planner config
// that does not load (for any of the problems), without running anything.
void check_benchmark(const BenchmarkOptions& options);
// check_benchmark, then every run (when options.stop ends it early: those of the seeds every
// planner finished, runs_of_paired_seeds). Runs
// start seed by seed, every planner's run of seed 1 first, so that a benchmark stopped early has
// each planner's runs of the same seeds; each run's draws depend on its seed only, so the results
// do not depend on the order or on `jobs`. They are returned problem by problem, then planner by
// planner, then seed by seed.
std::vector<BenchmarkRun> run_benchmark(const BenchmarkOptions& options);

// A benchmark's runs (run i finished when finished[i]): all of them when every one finished; else
// (it was stopped) those of the seeds every one of `planners` planners finished, problem by
// problem (`problem_of(run)`), so that planners are still compared on the same seeds.
template <class Run, class ProblemOf>
std::vector<Run> runs_of_paired_seeds(std::vector<Run> runs, const std::vector<char>& finished, std::size_t planners, ProblemOf problem_of) {
  if (std::find(finished.begin(), finished.end(), 0) == finished.end()) return runs;
  std::vector<Run> done;
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (finished[i]) done.push_back(std::move(runs[i]));
  std::map<std::pair<std::string, int>, std::size_t> count;
  for (const auto& r : done) ++count[{problem_of(r), r.seed}];
  std::erase_if(done, [&](const Run& r) { return count[{problem_of(r), r.seed}] < planners; });
  return done;
}

// The standard problem set of the planner issue (Branin, Hartmann-6, shifted Ackley-5,
// Rosenbrock-4, shifted Levy-10), with its budgets.
std::vector<BenchmarkProblem> standard_problems();
// The objectives issue's set (docs/benchmarks.md, "Objectives, constraints, noise"): BraninCurrin
// and DTLZ2 by hypervolume, constrained Hartmann-6, noisy Hartmann-6 and Branin, Hartmann-6 in
// batches of 4, with the reference runs' budgets and initial designs.
std::vector<BenchmarkProblem> goal_problems();

}  // namespace labloop
