#include "planner_benchmark.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "labloop/model/hypervolume.hpp"
#include "labloop/model/space.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/planner.hpp"
#include "standard_inputs.hpp"
#include "test_functions.hpp"

namespace labloop {

std::string BenchmarkProblem::label() const {
  const std::string base = dim > 0 ? fmt::format("{}-{}", function, dim) : function;
  const std::string noisy = noise > 0 ? fmt::format("{} noise {:g}", base, noise) : base;
  return batch > 1 ? fmt::format("{} batch {}", noisy, batch) : noisy;
}

std::vector<BenchmarkProblem> standard_problems() {
  return {{"branin", 0, 50}, {"hartmann6", 0, 50}, {"ackley_shifted", 0, 50}, {"rosenbrock", 4, 50}, {"levy_shifted", 0, 100}};
}

std::vector<BenchmarkProblem> goal_problems() {
  return {{"branin_currin", 0, 46, -1, 6}, {"dtlz2", 6, 60, -1, 14}, {"hartmann6_constrained", 0, 50, -1, 10},
          {"gramacy", 0, 50, -1, 10}, {"ackley_constrained", 0, 100, -1, 10},
          {"hartmann6", 0, 50, 0.1, 10}, {"branin", 0, 50, 0.5, 10}, {"hartmann6", 0, 50, -1, 10, 4}};
}

namespace {

struct Job {
  const BenchmarkProblem* problem;
  const BenchmarkPlanner* planner;
  int seed;
};

// The planner a job runs: what a campaign file with its planner section would run (as the real
// suite does). Throws ConfigError for a kind or an option the planner refuses; `config` is set.
std::unique_ptr<Planner> job_planner(const Job& job, const Space& space, size_t objectives, size_t constraints, const std::vector<double>& thresholds,
                                     std::optional<double> declared_noise, PlannerConfig& config) {
  config.kind = job.planner->config.value("kind", "random");
  for (const auto& [k, v] : job.planner->config.items())
    if (k != "kind") config.options[k] = v;
  if (config.kind == "bayesian" && job.problem->initial > 0) config.options["initial"] = job.problem->initial;
  set_new_campaign_defaults(config, space.parameters(), /*candidate_pool=*/false);
  PlannerGoals goals;
  goals.objectives = static_cast<int>(objectives);
  goals.thresholds = thresholds;
  if (declared_noise) goals.noise.assign(objectives, *declared_noise);
  goals.outcome_constraints = static_cast<int>(constraints);
  const std::string source = "bench";
  return make_planner(PlannerContext{space, static_cast<std::uint64_t>(job.seed), config, source, goals});
}

BenchmarkRun run_one(const Job& job, double default_noise, int batch, bool declare_noise) {
  const auto* f = sim::find_test_function(job.problem->function);
  const int dim = job.problem->dim > 0 ? job.problem->dim : f->default_dim;
  const double noise = job.problem->noise >= 0 ? job.problem->noise : default_noise;
  const Space space(sim::standard_inputs(*f, dim));
  const sim::OptionValues function_options = f->default_options();
  const std::vector<std::string> outputs = f->output_names(dim, function_options);
  const sim::BenchmarkFacts facts = f->benchmark_facts(dim, function_options);
  auto index_of = [&](const std::string& name) { return static_cast<size_t>(std::find(outputs.begin(), outputs.end(), name) - outputs.begin()); };
  std::vector<size_t> objectives, constraints;
  for (const auto& name : facts.objectives.empty() ? outputs : facts.objectives) objectives.push_back(index_of(name));
  for (const auto& name : facts.constraints) constraints.push_back(index_of(name));
  const bool several = objectives.size() > 1;
  // Planners and hypervolumes minimize: a maximized objective (snar_kinetic's sty) goes in negated,
  // its reference coordinate too.
  std::vector<double> sign;
  for (size_t j : objectives)
    sign.push_back(std::find(facts.maximized.begin(), facts.maximized.end(), outputs[j]) != facts.maximized.end() ? -1.0 : 1.0);
  std::vector<double> reference_point = facts.reference_point;
  for (size_t j = 0; j < reference_point.size() && j < sign.size(); ++j) reference_point[j] *= sign[j];

  PlannerConfig config;
  auto planner = job_planner(job, space, objectives.size(), constraints.size(), several ? reference_point : std::vector<double>{},
                             declare_noise ? std::optional<double>(std::max(noise, 0.0)) : std::nullopt, config);
  const double optimum = f->optimum(dim);
  const bool modelled = config.kind == "bayesian";
  int initial = modelled ? config.options.value("initial", 0) : 0;
  if (modelled && initial <= 0) initial = std::max(5, 2 * dim);  // the planner's own default
  const int q_after_design = job.problem->batch > 0 ? job.problem->batch : batch;
  std::mt19937_64 noise_rng(static_cast<std::uint64_t>(job.seed) * 7919 + 17);
  std::normal_distribution<double> gauss(0.0, std::max(noise, 0.0));

  BenchmarkRun run{job.problem->label(), job.planner->label, job.seed, {}, {}, {}};
  double best = std::numeric_limits<double>::infinity();
  Eigen::MatrixXd front(0, static_cast<Eigen::Index>(objectives.size()));  // true values of feasible points
  std::vector<std::pair<Point, double>> measured;  // one objective: (point, noisy value) of feasible results
  std::vector<double> x(static_cast<size_t>(dim));
  auto true_value = [&](const Point& point) {
    const Params params = space.decode(point);
    for (size_t d = 0; d < x.size(); ++d) x[d] = params[space.parameters()[d].name].get<double>();
    return f->values(x, function_options);
  };
  for (int done = 0; done < job.problem->budget;) {
    // In batches the design is one round of its own, then rounds of q; one at a time, one by one.
    const int q = std::min(q_after_design > 1 && done < initial ? initial - done : q_after_design, job.problem->budget - done);
    if (!modelled || done < initial) ++run.design_asks;
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<Point> points = planner->ask(q, {});
    run.ask_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (const Point& point : points) {
      run.evaluation_ask.push_back(run.ask_seconds.size() - 1);
      const bool after_design = done >= initial;
      const Params params = space.decode(point);
      const Point at = space.encode(params);
      const std::vector<double> values = true_value(point);
      const bool fails = f->failure && f->failure(x) != nullptr;
      bool feasible = !fails;
      for (size_t c : constraints) feasible = feasible && values[c] <= 0.0;
      if (fails) {
        run.failed += after_design ? 1 : 0;
        planner->tell(Observation::failed(at));
      } else {
        std::vector<double> noisy = values;
        if (noise > 0)
          for (double& v : noisy) v += gauss(noise_rng);
        Observation o = Observation::succeeded(at, sign[0] * noisy[objectives[0]]);
        if (several)
          for (size_t j = 0; j < objectives.size(); ++j) o.objectives.push_back(sign[j] * noisy[objectives[j]]);
        for (size_t c : constraints) o.constraints.push_back(noisy[c]);
        for (size_t k = 0; k < outputs.size(); ++k) o.values[outputs[k]] = noisy[k];
        planner->tell(o);
        if (!feasible) run.infeasible += after_design ? 1 : 0;
        if (feasible && !several) measured.emplace_back(at, sign[0] * noisy[objectives[0]]);
      }
      if (feasible && several) {
        front.conservativeResize(front.rows() + 1, Eigen::NoChange);
        for (size_t j = 0; j < objectives.size(); ++j) front(front.rows() - 1, static_cast<Eigen::Index>(j)) = sign[j] * values[objectives[j]];
      }
      if (several) {
        const Eigen::Map<const Eigen::VectorXd> reference(reference_point.data(), static_cast<Eigen::Index>(reference_point.size()));
        run.hypervolume.push_back(front.rows() > 0 ? hypervolume(front, reference) : 0.0);
      } else {
        if (feasible) best = std::min(best, sign[0] * values[objectives[0]]);
        run.regret.push_back(std::max(best - optimum, 0.0));
      }
      ++done;
    }
  }
  if (!several && !measured.empty()) {
    std::optional<Point> recommended = planner->recommend();
    if (!recommended)
      recommended = std::min_element(measured.begin(), measured.end(), [](const auto& a, const auto& b) { return a.second < b.second; })->first;
    run.recommended_regret = std::max(sign[0] * true_value(*recommended)[objectives[0]] - optimum, 0.0);
  }
  return run;
}

}  // namespace

void check_benchmark(const BenchmarkOptions& options) {
  for (const auto& p : options.problems) {
    const auto* f = sim::find_test_function(p.function);
    if (!f) throw ConfigError("bench", "/problems", fmt::format("unknown function \"{}\" (labloop-sim --list shows them)", p.function));
    const int dim = p.dim > 0 ? p.dim : f->default_dim;
    if (dim < f->min_dim || dim > f->max_dim) throw ConfigError("bench", "/problems", fmt::format("{} does not allow dimension {}", p.function, dim));
    const sim::BenchmarkFacts facts = f->benchmark_facts(dim, f->default_options());
    if (facts.objectives.size() > 1) {
      if (facts.reference_point.size() != facts.objectives.size())
        throw ConfigError("bench", "/problems", fmt::format("{} has no reference point in dimension {}: hypervolume is undefined", p.function, dim));
    } else if (std::isnan(f->optimum(dim))) {
      throw ConfigError("bench", "/problems", fmt::format("{} has no known optimum in dimension {}: regret is undefined", p.function, dim));
    }
    // Each planner made once for the problem's space and goals, so a kind or an option it refuses
    // is said before any run (and before a caller's table header), not from a worker thread.
    const Space space(sim::standard_inputs(*f, dim));
    const std::vector<std::string> outputs = f->output_names(dim, f->default_options());
    const size_t objectives = facts.objectives.empty() ? outputs.size() : facts.objectives.size();
    for (const auto& planner : options.planners) {
      PlannerConfig config;
      (void)job_planner(Job{&p, &planner, 1}, space, objectives, facts.constraints.size(),
                        objectives > 1 ? facts.reference_point : std::vector<double>{},
                        options.declare_noise ? std::optional<double>(std::max(options.noise, 0.0)) : std::nullopt, config);
    }
  }
}

std::vector<BenchmarkRun> run_benchmark(const BenchmarkOptions& options) {
  check_benchmark(options);
  std::vector<Job> jobs;
  for (const auto& problem : options.problems)
    for (const auto& planner : options.planners)
      for (int seed = 1; seed <= options.seeds; ++seed) jobs.push_back({&problem, &planner, seed});
  std::vector<BenchmarkRun> runs(jobs.size());
  std::vector<char> finished(jobs.size(), 0);
  // The k-th run started (seed-major within a problem) is stored where the problem-major order of
  // `jobs` puts it. Only called with jobs to run, so there is a planner and a seed.
  const size_t planners = options.planners.size(), seeds = static_cast<size_t>(options.seeds);
  const auto job_index = [&](size_t k) {
    const size_t problem = k / (planners * seeds), within = k % (planners * seeds);
    return problem * planners * seeds + within % planners * seeds + within / planners;
  };
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  const unsigned workers = options.jobs > 0 ? static_cast<unsigned>(options.jobs) : std::max(1u, std::thread::hardware_concurrency());
  {
    std::vector<std::jthread> pool;
    for (unsigned w = 0; w < workers; ++w)
      pool.emplace_back([&] {
        for (size_t k = next++; k < jobs.size(); k = next++) {
          if (options.stop && options.stop->load()) break;
          const size_t i = job_index(k);
          try {
            runs[i] = run_one(jobs[i], options.noise, std::max(1, options.batch), options.declare_noise);
            finished[i] = 1;
            if (options.finished_runs) ++*options.finished_runs;
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
          }
        }
      });
  }
  if (error) std::rethrow_exception(error);
  return runs_of_paired_seeds(std::move(runs), finished, planners, [](const BenchmarkRun& r) { return r.problem; });
}

}  // namespace labloop
