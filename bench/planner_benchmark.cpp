#include "planner_benchmark.hpp"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "labloop/model/space.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/planner.hpp"
#include "standard_inputs.hpp"
#include "test_functions.hpp"

namespace labloop {

std::string BenchmarkProblem::label() const { return dim > 0 ? fmt::format("{}-{}", function, dim) : function; }

std::vector<BenchmarkProblem> standard_problems() {
  return {{"branin", 0, 50}, {"hartmann6", 0, 50}, {"ackley_shifted", 0, 50}, {"rosenbrock", 4, 50}, {"levy_shifted", 0, 100}};
}

namespace {

struct Job {
  const BenchmarkProblem* problem;
  const BenchmarkPlanner* planner;
  int seed;
};

BenchmarkRun run_one(const Job& job, double noise, int batch) {
  const auto* f = sim::find_test_function(job.problem->function);
  const int dim = job.problem->dim > 0 ? job.problem->dim : f->default_dim;
  const Space space(sim::standard_inputs(*f, dim));
  PlannerConfig config;
  config.kind = job.planner->config.value("kind", "random");
  for (const auto& [k, v] : job.planner->config.items())
    if (k != "kind") config.options[k] = v;
  const std::string source = "bench";
  auto planner = make_planner(PlannerContext{space, static_cast<std::uint64_t>(job.seed), config, source});
  const double optimum = f->optimum(dim);
  std::mt19937_64 noise_rng(static_cast<std::uint64_t>(job.seed) * 7919 + 17);
  std::normal_distribution<double> gauss(0.0, noise);

  BenchmarkRun run{job.problem->label(), job.planner->label, job.seed, {}, {}};
  double best = std::numeric_limits<double>::infinity();
  std::vector<double> x(static_cast<size_t>(dim));
  for (int done = 0; done < job.problem->budget;) {
    const int q = std::min(batch, job.problem->budget - done);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Point> points = planner->ask(q, {});
    run.ask_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (const Point& point : points) {
      const Params params = space.decode(point);
      for (int d = 0; d < dim; ++d) x[static_cast<size_t>(d)] = params["x" + std::to_string(d + 1)].get<double>();
      const double value = f->evaluate(x);
      best = std::min(best, value);
      run.regret.push_back(std::max(best - optimum, 0.0));
      const double y = noise > 0 ? value + gauss(noise_rng) : value;
      planner->tell(Observation::succeeded(space.encode(params), y, {{"y", y}}));
      ++done;
    }
  }
  return run;
}

}  // namespace

std::vector<BenchmarkRun> run_benchmark(const BenchmarkOptions& options) {
  for (const auto& p : options.problems) {
    const auto* f = sim::find_test_function(p.function);
    if (!f) throw ConfigError("bench", "/problems", fmt::format("unknown function \"{}\" (labloop-sim --list shows them)", p.function));
    const int dim = p.dim > 0 ? p.dim : f->default_dim;
    if (dim < f->min_dim || dim > f->max_dim) throw ConfigError("bench", "/problems", fmt::format("{} does not allow dimension {}", p.function, dim));
    if (std::isnan(f->optimum(dim))) throw ConfigError("bench", "/problems", fmt::format("{} has no known optimum in dimension {}: regret is undefined", p.function, dim));
  }
  std::vector<Job> jobs;
  for (const auto& problem : options.problems)
    for (const auto& planner : options.planners)
      for (int seed = 1; seed <= options.seeds; ++seed) jobs.push_back({&problem, &planner, seed});
  std::vector<BenchmarkRun> runs(jobs.size());
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  const unsigned workers = options.jobs > 0 ? static_cast<unsigned>(options.jobs) : std::max(1u, std::thread::hardware_concurrency());
  {
    std::vector<std::jthread> pool;
    for (unsigned w = 0; w < workers; ++w)
      pool.emplace_back([&] {
        for (size_t i = next++; i < jobs.size(); i = next++) {
          try {
            runs[i] = run_one(jobs[i], options.noise, std::max(1, options.batch));
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
          }
        }
      });
  }
  if (error) std::rethrow_exception(error);
  return runs;
}

}  // namespace labloop
