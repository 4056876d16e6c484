// labloop-bench-speed: how long the Bayesian-optimization planner takes to propose one point, and
// how much memory it needs, on Hartmann-6 (d = 6, the unit cube).
//
// 1. Proposal time against the number of observations n. For each n a fresh `bayesian` planner is
//    told n observations at scrambled-Sobol points, then asked for one point at a time, each ask
//    followed by `tell` of the proposed point (so every ask sees new data, as in a campaign):
//    - "refit every ask" (refit_every = 1): the first ask after the n tells is reported apart as
//      "cold" (its hyperparameter fit starts from scratch, which a running campaign never does);
//      then `reps` asks are timed: median and max.
//    - "refit every k" (refit_every = k): after the cold ask, max(reps, k) consecutive asks are
//      timed, so the window holds the periodic refit(s) in their real proportion: median (typical
//      ask), max (the ask that refits) and mean (the amortized cost per proposal).
// 2. A whole campaign as the CLI runs it: 50 evaluations (10 initial + 40 BO) for several seeds;
//    time per BO iteration (ask + evaluate + tell) and total.
// 3. Peak RSS (getrusage ru_maxrss) of a forked child that builds the planner, tells it n
//    observations and asks 5 times, against a baseline child that does nothing. Both are forked
//    before anything else runs, so they inherit only the startup footprint: on Linux a child's
//    ru_maxrss counts the pages it shares with its parent at fork.
//
// 4. Goals: a proposal with two objectives (Hartmann-6 and the squared distance to the cube's
//    centre) and one outcome constraint (x1 + … + x6 ≤ 3) at n = 100, against the one-objective
//    proposal on the same points in the same run.
//
// 5. Feasible sampler: hit-and-run draws (FeasibleSampler) in mixtures, with and without a thin
//    cap, in the same run with isotropic directions (what journals without "constraint_sampling"
//    replay with) and rounded ones (a new campaign's): the first draw (burn-in included) and the
//    median time per later draw, over kSamplerRuns samplers of kSamplerDraws draws, and the range
//    the first component's draws covered (a thin cap's chain creeping near its start shows there).
//
// Timings are wall-clock (steady_clock) on an otherwise idle machine; nothing here tunes the
// planner, every option not named above keeps its default.
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/linear_constraints.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/sobol.hpp"
#include "labloop/model/space.hpp"
#include "test_functions.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using labloop::Point;

constexpr int kCampaignEvaluations = 50;
constexpr int kCampaignInitial = 10;
constexpr int kCampaignSeeds = 5;
constexpr int kInitial = 10;     // initial design size given to every planner here
constexpr int kMemoryN = 300;
constexpr int kMemoryAsks = 5;

double elapsed_ms(Clock::time_point since) { return std::chrono::duration<double, std::milli>(Clock::now() - since).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}
double max_of(const std::vector<double>& v) { return v.empty() ? std::nan("") : *std::max_element(v.begin(), v.end()); }
double mean_of(const std::vector<double>& v) {
  return v.empty() ? std::nan("") : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Hartmann-6 as the planner sees it: a Space of x1..x6 over the function's box, values minimized.
class Problem {
 public:
  Problem() : function_(labloop::sim::find_test_function("hartmann6")) {
    if (function_ == nullptr) throw labloop::Error("test function 'hartmann6' is not registered in simulators/test_functions.cpp");
    const int dim = function_->default_dim;
    std::vector<labloop::Parameter> parameters;
    const auto bounds = function_->bounds(dim);
    for (int i = 0; i < dim; ++i) {
      labloop::Parameter p;
      p.name = fmt::format("x{}", i + 1);
      p.low = bounds[static_cast<size_t>(i)].first;
      p.high = bounds[static_cast<size_t>(i)].second;
      parameters.push_back(p);
    }
    space_ = labloop::Space(std::move(parameters));
  }

  const labloop::Space& space() const { return space_; }
  int dim() const { return space_.cube_dim(); }
  double optimum() const { return function_->optimum(function_->default_dim); }

  // Value at a unit-cube point, through the Space's decoding (what the campaign would run).
  double evaluate(const Point& u) const {
    const labloop::Params params = space_.decode(u);
    std::vector<double> x;
    for (const auto& p : space_.parameters()) x.push_back(params.at(p.name).get<double>());
    return function_->evaluate(x);
  }

 private:
  const labloop::sim::TestFunction* function_;
  labloop::Space space_;
};

std::unique_ptr<labloop::Planner> make_bayesian(const Problem& problem, std::uint64_t seed, nlohmann::json options) {
  const labloop::PlannerConfig config{"bayesian", std::move(options)};
  const std::string source = "labloop-bench-speed";
  return labloop::make_planner(labloop::PlannerContext{problem.space(), seed, config, source});
}

// A planner holding n observations at scrambled-Sobol points (seeded), with its Hartmann-6 values.
std::unique_ptr<labloop::Planner> planner_with_data(const Problem& problem, int n, int refit_every, std::uint64_t seed) {
  auto planner = make_bayesian(problem, seed, {{"initial", std::min(kInitial, n)}, {"refit_every", refit_every}});
  labloop::SobolSequence design(problem.dim(), seed * 2654435761ULL + 17);
  for (int i = 0; i < n; ++i) {
    const Point x = design.next();
    planner->tell(labloop::Observation::succeeded(x, problem.evaluate(x)));
  }
  return planner;
}

// One ask for a single point, then tell its value; returns the ask's wall time in ms.
double timed_ask(labloop::Planner& planner, const Problem& problem) {
  const auto started = Clock::now();
  const std::vector<Point> proposed = planner.ask(1, {});
  const double ms = elapsed_ms(started);
  planner.tell(labloop::Observation::succeeded(proposed.at(0), problem.evaluate(proposed.at(0))));
  return ms;
}

struct AskTimes {
  double cold_ms = std::nan("");  // first ask after the n tells: hyperparameters fitted from scratch
  std::vector<double> ms;         // the timed asks that follow
};

AskTimes time_asks(const Problem& problem, int n, int refit_every, int asks, std::uint64_t seed) {
  auto planner = planner_with_data(problem, n, refit_every, seed);
  AskTimes t;
  t.cold_ms = timed_ask(*planner, problem);
  for (int i = 0; i < asks; ++i) t.ms.push_back(timed_ask(*planner, problem));
  return t;
}

// ru_maxrss (KiB) of a forked child after running `work`; nullopt if the child failed.
std::optional<long> child_peak_rss_kib(const std::function<void()>& work) {
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(fds[0]);
    long result = -1;
    try {  // process boundary: report failure through the pipe, never unwind into the parent's code
      work();
      rusage usage{};
      if (getrusage(RUSAGE_SELF, &usage) == 0) result = usage.ru_maxrss;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "memory child: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "memory child: unknown exception\n");
    }
    [[maybe_unused]] const ssize_t written = write(fds[1], &result, sizeof result);
    _exit(result < 0 ? 1 : 0);  // no atexit handlers or stdio flushes of the parent's state
  }
  close(fds[1]);
  long result = -1;
  const ssize_t got = read(fds[0], &result, sizeof result);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != static_cast<ssize_t>(sizeof result) || result < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return result;
}

std::string ms_cell(double ms) {
  if (std::isnan(ms)) return "-";
  return ms < 10 ? fmt::format("{:.2f}", ms) : ms < 1000 ? fmt::format("{:.1f}", ms) : fmt::format("{:.0f}", ms);
}

std::string verdict(bool ok) { return ok ? "PASS" : "FAIL"; }

// A planner with two objectives and one outcome constraint (see the header comment), told n
// observations at scrambled-Sobol points.
struct GoalValues {
  double y, distance, constraint;
};
GoalValues goal_values(const Problem& problem, const Point& x) {
  return {problem.evaluate(x), (x.array() - 0.5).square().sum(), x.sum() - 3.0};
}
labloop::Observation goal_observation(const Point& x, const GoalValues& v) {
  labloop::Observation o = labloop::Observation::succeeded(x, v.y);
  o.objectives = {v.y, v.distance};
  o.constraints = {v.constraint};
  return o;
}
std::vector<double> time_goal_asks(const Problem& problem, int n, int asks, std::uint64_t seed) {
  labloop::PlannerGoals goals;
  goals.objectives = 2;
  goals.outcome_constraints = 1;
  const labloop::PlannerConfig config{"bayesian", {{"initial", kInitial}}};
  const std::string source = "labloop-bench-speed";
  auto planner = labloop::make_planner(labloop::PlannerContext{problem.space(), seed, config, source, goals});
  labloop::SobolSequence design(problem.dim(), seed * 2654435761ULL + 17);
  for (int i = 0; i < n; ++i) {
    const Point x = design.next();
    planner->tell(goal_observation(x, goal_values(problem, x)));
  }
  std::vector<double> ms;
  for (int i = 0; i <= asks; ++i) {
    const auto started = Clock::now();
    const Point x = planner->ask(1, {}).at(0);
    if (i > 0) ms.push_back(elapsed_ms(started));  // the first ask fits from scratch (cold)
    planner->tell(goal_observation(x, goal_values(problem, x)));
  }
  return ms;
}

constexpr int kSamplerRuns = 5;
constexpr int kSamplerDraws = 200;

// n components c0 … in [0, 1] summing to 1, and "c0 <= cap" when cap > 0.
labloop::Space mixture_space(int n, double cap, labloop::ConstraintSampling sampling) {
  std::vector<labloop::Parameter> parameters;
  // Built as parsed: 300 terms are longer than a campaign file's constraint may be.
  labloop::LinearConstraint sum{.text = fmt::format("c0 + … + c{} == 1", n - 1), .relation = labloop::ConstraintRelation::equal, .rhs = 1};
  for (int i = 0; i < n; ++i) {
    parameters.push_back(labloop::Parameter{.name = fmt::format("c{}", i), .low = 0, .high = 1});
    sum.terms.emplace_back(parameters.back().name, 1.0);
  }
  std::vector<labloop::LinearConstraint> constraints{sum};
  // The cap on the last component, so the first one's range shows how far the chain travels.
  if (cap > 0) constraints.push_back(*labloop::parse_linear_constraint(fmt::format("c{} <= {}", n - 1, cap), parameters).constraint);
  return labloop::Space(std::move(parameters), std::move(constraints), sampling);
}

struct SamplerTimes {
  std::vector<double> first_ms, draw_ms;
  double low = 1, high = 0;  // the first component's range over every draw
};

SamplerTimes time_sampler(const labloop::Space& space, std::uint64_t seed) {
  SamplerTimes out;
  for (int run = 0; run < kSamplerRuns; ++run) {
    labloop::FeasibleSampler sampler(space);
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(run));
    for (int i = 0; i < kSamplerDraws; ++i) {
      const auto started = Clock::now();
      const Eigen::VectorXd x = sampler.next(rng);
      (i == 0 ? out.first_ms : out.draw_ms).push_back(elapsed_ms(started));
      out.low = std::min(out.low, x[0]), out.high = std::max(out.high, x[0]);
    }
  }
  return out;
}

struct SizeRow {
  int n = 0;
  bool full = false;
  AskTimes every_ask, every_k;
};

int run(int argc, char** argv) {
  CLI::App app{"labloop-bench-speed: time and memory of one Bayesian-optimization proposal on Hartmann-6 (d = 6)"};
  std::vector<int> sizes{25, 50, 100, 200, 300, 500, 1000, 2000};
  int reps = 5;
  int refit_every = 25;
  int max_n_full_refit = 1000;
  std::uint64_t seed = 1;
  bool skip_campaign = false, skip_memory = false, skip_sampler = false;
  app.add_option("--sizes", sizes, "Numbers of observations n to time a proposal at")->capture_default_str()->check(CLI::Range(2, 100000));
  app.add_option("--reps", reps, "Timed asks per n (the refit-every-k column times max(reps, k))")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--refit-every", refit_every, "k for the 'refit every k observations' column")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-n-full-refit", max_n_full_refit, "Larger n skip the refit-every-ask column (printed as -)")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the designs and planners")->capture_default_str();
  app.add_flag("--no-campaign", skip_campaign, "Skip the 50-evaluation campaign table");
  app.add_flag("--no-memory", skip_memory, "Skip the peak-memory measurement");
  app.add_flag("--no-sampler", skip_sampler, "Skip the feasible-sampler table");
  CLI11_PARSE(app, argc, argv);

  const Problem problem;

  // Memory first, while this process is still small (see the header comment).
  std::optional<long> baseline_kib, planner_kib;
  if (!skip_memory) {
    baseline_kib = child_peak_rss_kib([] {});
    planner_kib = child_peak_rss_kib([&] {
      auto planner = planner_with_data(problem, kMemoryN, 1, seed);
      for (int i = 0; i < kMemoryAsks; ++i) timed_ask(*planner, problem);
    });
  }

  fmt::print("labloop-bench-speed: bayesian planner on Hartmann-6 (d = {}), planner defaults except initial = {}\n", problem.dim(), kInitial);
  fmt::print("machine: {} hardware threads (std::thread::hardware_concurrency), Eigen threads: {}, assertions: {}\n",
             std::thread::hardware_concurrency(), Eigen::nbThreads(),
#ifdef NDEBUG
             "off (NDEBUG)"
#else
             "ON (not a release build: timings are pessimistic)"
#endif
  );
  fmt::print("data: n scrambled-Sobol points with their Hartmann-6 values; every ask is ask(1, {{}}) then tell(proposal); seed {}\n\n", seed);

  // 1. Proposal time against n.
  fmt::print("== Proposal time (ms per ask) ==\n");
  fmt::print("cold  = first ask after the n tells (hyperparameters fitted from scratch; once per planner)\n");
  fmt::print("every ask: refit_every = 1, {} timed asks after the cold one\n", reps);
  fmt::print("every {}: refit_every = {}, {} consecutive timed asks after the cold one (holds the periodic refit); mean = amortized\n",
             refit_every, refit_every, std::max(reps, refit_every));
  fmt::print("{:>6} | {:>9} | {:>10} {:>9} | {:>9} | {:>10} {:>9} {:>9}\n", "n", "cold", "median", "max", "cold", "median", "max", "mean");
  fmt::print("{:>6} | {:^32} | {:^42}\n", "", "refit every ask", fmt::format("refit every {}", refit_every));
  std::vector<SizeRow> rows;
  for (const int n : sizes) {
    SizeRow row;
    row.n = n;
    row.full = n <= max_n_full_refit;
    if (row.full) row.every_ask = time_asks(problem, n, 1, reps, seed);
    row.every_k = time_asks(problem, n, refit_every, std::max(reps, refit_every), seed);
    fmt::print("{:>6} | {:>9} | {:>10} {:>9} | {:>9} | {:>10} {:>9} {:>9}\n", n, ms_cell(row.every_ask.cold_ms),
               ms_cell(median(row.every_ask.ms)), ms_cell(max_of(row.every_ask.ms)), ms_cell(row.every_k.cold_ms),
               ms_cell(median(row.every_k.ms)), ms_cell(max_of(row.every_k.ms)), ms_cell(mean_of(row.every_k.ms)));
    std::fflush(stdout);
    rows.push_back(std::move(row));
  }
  // Growth: the exponent b in time ∝ n^b between consecutive sizes, from the medians.
  fmt::print("growth exponent of the median (log t / log n between consecutive sizes):");
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto slope = [&](auto pick) {
      const double a = pick(rows[i - 1]), b = pick(rows[i]);
      return std::isnan(a) || std::isnan(b) || a <= 0 || b <= 0 ? std::string("-")
                                                                  : fmt::format("{:.2f}", std::log(b / a) / std::log(double(rows[i].n) / rows[i - 1].n));
    };
    fmt::print(" {}→{}: {}/{}", rows[i - 1].n, rows[i].n, slope([](const SizeRow& r) { return median(r.every_ask.ms); }),
               slope([](const SizeRow& r) { return median(r.every_k.ms); }));
  }
  fmt::print("  (every ask/every {})\n\n", refit_every);

  // 2. A whole campaign.
  std::vector<double> all_iterations;
  if (!skip_campaign) {
    fmt::print("== Campaign: Hartmann-6, {} evaluations ({} initial + {} BO), refit every ask, ask+evaluate+tell per iteration ==\n",
               kCampaignEvaluations, kCampaignInitial, kCampaignEvaluations - kCampaignInitial);
    fmt::print("{:>6} | {:>16} {:>10} | {:>9} | {:>10} {:>10}\n", "seed", "median ms/BO it", "max ms", "total s", "best", "regret");
    for (int s = 0; s < kCampaignSeeds; ++s) {
      const std::uint64_t run_seed = seed + static_cast<std::uint64_t>(s);
      auto planner = make_bayesian(problem, run_seed, {{"initial", kCampaignInitial}});
      std::vector<double> iterations;
      double best = std::numeric_limits<double>::infinity();
      const auto started = Clock::now();
      for (int i = 0; i < kCampaignEvaluations; ++i) {
        const auto t0 = Clock::now();
        const Point x = planner->ask(1, {}).at(0);
        const double y = problem.evaluate(x);
        planner->tell(labloop::Observation::succeeded(x, y));
        if (i >= kCampaignInitial) iterations.push_back(elapsed_ms(t0));
        best = std::min(best, y);
      }
      const double total_s = elapsed_ms(started) / 1000.0;
      fmt::print("{:>6} | {:>16} {:>10} | {:>9.3f} | {:>10.4f} {:>10.3g}\n", run_seed, ms_cell(median(iterations)), ms_cell(max_of(iterations)),
                 total_s, best, best - problem.optimum());
      std::fflush(stdout);
      all_iterations.insert(all_iterations.end(), iterations.begin(), iterations.end());
    }
    fmt::print("all seeds: median {} ms per BO iteration, max {} ms ({} iterations)\n\n", ms_cell(median(all_iterations)),
               ms_cell(max_of(all_iterations)), all_iterations.size());
  }

  // 4. Goals.
  constexpr int kGoalN = 100;
  const std::vector<double> goal_ms = time_goal_asks(problem, kGoalN, reps, seed);
  const std::vector<double> single_ms = time_asks(problem, kGoalN, 1, reps, seed).ms;
  fmt::print("== Goals: two objectives + one outcome constraint, n = {}, refit every ask ({} timed asks after the cold one) ==\n", kGoalN, reps);
  fmt::print("one objective (baseline, same points): median {} ms, max {} ms\n", ms_cell(median(single_ms)), ms_cell(max_of(single_ms)));
  fmt::print("two objectives + one constraint:       median {} ms, max {} ms\n\n", ms_cell(median(goal_ms)), ms_cell(max_of(goal_ms)));

  // 3. Memory.
  if (!skip_memory) {
    fmt::print("== Peak memory (ru_maxrss of forked children, forked before any benchmark ran) ==\n");
    auto mib = [](std::optional<long> kib) { return kib ? fmt::format("{:.1f} MiB", static_cast<double>(*kib) / 1024.0) : std::string("failed"); };
    fmt::print("baseline child (startup only):                    {}\n", mib(baseline_kib));
    fmt::print("planner child (n = {} tells + {} asks, refit every ask): {}\n", kMemoryN, kMemoryAsks, mib(planner_kib));
    if (baseline_kib && planner_kib) fmt::print("planner footprint (difference):                   {}\n\n", mib(*planner_kib - *baseline_kib));
  }

  // 5. Feasible sampler.
  if (!skip_sampler) {
    fmt::print("== Feasible sampler: hit-and-run draws in a mixture, {} samplers x {} draws, isotropic | rounded ==\n", kSamplerRuns, kSamplerDraws);
    fmt::print("{:<34} | {:>9} {:>9} {:>11} | {:>9} {:>9} {:>11}\n", "space", "first ms", "ms/draw", "c0 range", "first ms", "ms/draw",
               "c0 range");
    struct Case {
      const char* name;
      int n;
      double cap;
    };
    for (const Case& c : {Case{"3 components, c2 <= 0.0003", 3, 0.0003}, Case{"20 components", 20, 0},
                          Case{"60 components, c59 <= 0.0003", 60, 0.0003}, Case{"300 components", 300, 0}}) {
      const SamplerTimes iso = time_sampler(mixture_space(c.n, c.cap, labloop::ConstraintSampling::isotropic), seed);
      const SamplerTimes rounded = time_sampler(mixture_space(c.n, c.cap, labloop::ConstraintSampling::rounded), seed);
      auto range = [](const SamplerTimes& t) { return fmt::format("{:.2f}-{:.2f}", t.low, t.high); };
      fmt::print("{:<34} | {:>9.3f} {:>9.4f} {:>11} | {:>9.3f} {:>9.4f} {:>11}\n", c.name, median(iso.first_ms), median(iso.draw_ms), range(iso),
                 median(rounded.first_ms), median(rounded.draw_ms), range(rounded));
    }
    fmt::print("(medians; 300 components draw directions by projection, where rounding does not apply)\n\n");
  }

  // The targets, checked against what was measured above.
  fmt::print("== Targets ==\n");
  auto find = [&](int n) -> const SizeRow* {
    for (const auto& r : rows)
      if (r.n == n) return &r;
    return nullptr;
  };
  auto check_median = [&](int n, double limit_ms) {
    const SizeRow* r = find(n);
    if (r == nullptr || r->every_ask.ms.empty()) return fmt::print("n = {:>4}, refit every ask: median <= {} ms: not measured\n", n, limit_ms);
    const double m = median(r->every_ask.ms);
    fmt::print("n = {:>4}, refit every ask: median <= {} ms: {} ms  {}\n", n, limit_ms, ms_cell(m), verdict(m <= limit_ms));
  };
  check_median(100, 50);
  check_median(300, 300);
  if (const SizeRow* r = find(2000); r != nullptr) {
    const double worst = max_of(r->every_k.ms);
    fmt::print("n = 2000, refit every {}: every timed proposal < 1000 ms: max {} ms (median {}, mean {})  {}\n", refit_every, ms_cell(worst),
               ms_cell(median(r->every_k.ms)), ms_cell(mean_of(r->every_k.ms)), verdict(worst < 1000));
  } else {
    fmt::print("n = 2000, refit every {}: < 1000 ms per proposal: not measured\n", refit_every);
  }
  if (baseline_kib && planner_kib) {
    const double d = static_cast<double>(*planner_kib - *baseline_kib) / 1024.0;
    fmt::print("n = {}, peak planner memory < 20 MiB: {:.1f} MiB  {}\n", kMemoryN, d, verdict(d < 20));
  } else {
    fmt::print("n = {}, peak planner memory < 20 MiB: not measured\n", kMemoryN);
  }
  fmt::print("n = {}, two objectives + one outcome constraint: median <= 100 ms: {} ms  {}\n", kGoalN, ms_cell(median(goal_ms)),
             verdict(median(goal_ms) <= 100));
  if (!all_iterations.empty()) {
    const double m = median(all_iterations);
    fmt::print("campaign: median <= 20 ms per BO iteration: {} ms  {}\n", ms_cell(m), verdict(m <= 20));
  } else {
    fmt::print("campaign: median <= 20 ms per BO iteration: not measured\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const labloop::ConfigError& e) {
    fmt::print(stderr, "labloop-bench-speed: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "labloop-bench-speed: {}\n", e.what());
    return 1;
  }
}
