// Bayesian optimization: a Gaussian-process surrogate of the (minimized) objective and an
// acquisition function that trades predicted value against uncertainty.
//
// Defaults (chosen on the bench problems and checked on five others: docs/benchmarks.md): UCB with
// β = 3 (LogEI for points proposed while others are in flight), Matérn-5/2 or -3/2 and raw or
// power-transformed outputs chosen by evidence at every tenth fit up to 200 observations, and
// TuRBO-style trust-region candidates (Eriksson et al., NeurIPS 2019) added to the global pool.
//
// One proposal: (1) an initial space-filling design until enough points exist; (2) fit the GP
// (hyperparameters refit every `refit_every` observations, otherwise reused); (3) condition on
// everything still running with the Kriging believer (each pending point is added as an
// observation of its own posterior mean, an O(n²) Cholesky extension), so the batch spreads out
// instead of collapsing onto one point; (4) maximize the acquisition: score quasi-random Sobol
// candidates, trust-region candidates and perturbations of the best points, polish the best few with bounded L-BFGS
// using the analytic gradient, snap to the space (integers, one-hot categoricals) and re-score;
// (5) for the next point of a batch, believe this one too and repeat.
//
// The planner (ask/tell, the initial design, the batch's beliefs) is here; the options are parsed
// in bayesian_options.cpp, the model is chosen and fitted in ../optimize/model_selection.cpp and
// the acquisition maximized in ../optimize/acquisition_optimizer.cpp.
//
// Failed experiments are taught as the worst value seen so far: the model then steers away from
// them without the objective's scale being distorted.
//
// Any finite value is accepted (docs/reliability.md): values beyond MagnitudeCompression::kThreshold
// (1e100) in magnitude are compressed, order kept, before the output warp and the model see them,
// so an extreme result still counts as the best or worst seen. In depth, nothing non-finite the
// model might still produce (posterior, scores, polished points) reaches a proposal: such a
// proposal is replaced by the next space-filling point, and a planner note says so.
//
// Linear constraints (Space::constrained): the initial design is a greedy maximin subset of
// feasible hit-and-run draws (FeasibleSampler::design, both "sobol" and "lhs"), space-filling
// fallbacks are feasible draws, and the acquisition optimizer searches the feasible set only.
// The design's draws use their own generator (seeded from the seed), so the model's draws from
// rng_ keep their order. A proposal whose setting violates a constraint is never returned: it is
// replaced by a feasible space-filling point, with a note. None of this runs without constraints,
// so those proposals are bit-identical to what they were before constraints existed.
//
// A candidate pool (PlannerContext::candidates) replaces the search of the space by a choice of
// rows, everything else (models, believers, notes) unchanged: every point the planner would
// have proposed is taken from the ask's open rows (PoolChoice). The initial design and the
// space-filling fallbacks take the open row nearest their point; the acquisition is maximized by
// scoring every open row when there are at most kExhaustiveRows, otherwise a random
// kExhaustiveRows of them plus the kNearOptimum rows nearest the continuous optimum (the
// optimizer's answer over the whole space). Without a pool none of this runs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <utility>

#include "../acquisitions/feasibility_weighted.hpp"
#include "../optimize/acquisition_optimizer.hpp"
#include "../optimize/goal_acquisition.hpp"
#include "../optimize/model_selection.hpp"
#include "../optimize/observations.hpp"
#include "bayesian_options.hpp"
#include "labloop/model/acquisition.hpp"
#include "labloop/model/ehvi.hpp"
#include "labloop/model/feasibility_model.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/pareto.hpp"
#include "labloop/model/sobol.hpp"
#include "planners.hpp"
#include "pool_choice.hpp"

namespace labloop::detail {

namespace {

using Clock = std::chrono::steady_clock;

// The share of planner.time_limit_s the model fit may use.
constexpr double kFitShare = 0.6;

// A candidate pool's rows scored per ask: all of them up to kExhaustiveRows (100,000 rows score
// in about a second with 100 results), else a random kExhaustiveRows plus the kNearOptimum
// nearest the continuous optimum; scored in blocks of kScoreBlock rows to bound memory.
constexpr size_t kExhaustiveRows = 100000, kNearOptimum = 64;
constexpr Eigen::Index kScoreBlock = 2048;

// Latin hypercube: one point per stratum in every coordinate, strata paired at random.
Eigen::MatrixXd latin_hypercube(int n, int d, std::mt19937_64& rng) {
  Eigen::MatrixXd x(n, d);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int> order(static_cast<size_t>(n));
  for (int j = 0; j < d; ++j) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int i = 0; i < n; ++i) x(i, j) = (order[static_cast<size_t>(i)] + u(rng)) / n;
  }
  return x;
}

class BayesianPlanner final : public Planner {
 public:
  // One generator, rng_, serves the Latin hypercube, the model's fitting subset and the
  // acquisition search, always in the same order: a seed reproduces every proposal, which
  // replaying a journal relies on.
  BayesianPlanner(const Space& space, std::uint64_t seed, BayesianOptions options, PlannerGoals goals, std::optional<PoolChoice> pool)
      : space_(space), options_(std::move(options)), goals_(std::move(goals)), pool_(std::move(pool)), rng_(seed), sobol_(space.cube_dim(), seed + 1),
        acquisition_(make_acquisition(options_.acquisition, options_.acquisition_options)),
        model_selection_(space, seed, objective_model_options(0)), optimizer_(space, options_.optimizer),
        goal_optimizer_(space, AcquisitionOptimizerOptions{options_.optimizer.candidates, options_.optimizer.local_starts, TrustRegion::off}) {
    if (options_.acquisition == "ucb") in_flight_ = make_acquisition("log_ei");
    if (space.constrained()) {
      sampler_.emplace(space);
      design_rng_.seed(seed ^ 0x9e3779b97f4a7c15ULL);
    } else if (options_.initial_design == InitialDesign::lhs) {
      initial_points_ = latin_hypercube(options_.initial, space.cube_dim(), rng_);
    }
    extra_objectives_.resize(static_cast<size_t>(std::max(0, goals_.objectives - 1)));
    constraints_.resize(static_cast<size_t>(goals_.outcome_constraints));
    for (int k = 0; k + 1 < goals_.objectives; ++k)
      extra_models_.push_back(std::make_unique<ModelSelection>(space, seed + 100 + k, objective_model_options(k + 1)));
    for (int c = 0; c < goals_.outcome_constraints; ++c)
      constraint_models_.push_back(std::make_unique<ModelSelection>(space, seed + 200 + c, options_.model));
  }

  std::vector<Point> ask(int q, std::span<const Point> pending) override {
    const auto started = Clock::now();
    std::vector<Point> out;
    // A pool gives at most its open rows; none left: return before any draw, so the planner is
    // as it was (the campaign does not journal an empty ask, and replay does not repeat it).
    if (pool_ && (q = pool_->begin(q, pending)) == 0) return out;
    // Initial design: count what is already observed, failed or running.
    const int have = static_cast<int>(observations_.ys.size() + observations_.failed.size() + pending.size());
    while (static_cast<int>(out.size()) < q && have + static_cast<int>(out.size()) < options_.initial) {
      Point x = initial_point();
      // Snapped to choices and levels, a design point can fall on a setting already run, running
      // or just proposed (asks 2 and 5 of a 4 × 4 × 4 categorical space were the same): the next
      // space-filling point instead. A pool never offers a taken row.
      if (!pool_ && options_.design_repeats == DesignRepeats::avoid) {
        std::vector<Point> taken(pending.begin(), pending.end());
        taken.insert(taken.end(), out.begin(), out.end());
        if (observations_.near_any(x, taken)) x = space_filling(pending, out);
      }
      out.push_back(on_pool(std::move(x)));
    }
    if (static_cast<int>(out.size()) == q) return out;
    if (observations_.ys.size() < 2) {  // nothing to model yet (e.g. every early experiment failed)
      while (static_cast<int>(out.size()) < q) out.push_back(on_pool(sampler_ ? sampler_->next(design_rng_) : space_.canonical(sobol_.next())));
      return out;
    }
    if (goals_.several_objectives() || goals_.outcome_constraints > 0) return ask_for_goals(q, pending, std::move(out), started);

    optimizer_.update_trust_region(observations_);
    // The fit gets most of the time limit; what it leaves goes to the acquisition search.
    if (!model_selection_.fit(observations_, rng_, kFitShare * time_limit_s()))
      add_note(fmt::format("time limit of {:g} s reached while fitting the model: hyperparameters are the best found by then", time_limit_s()));
    GaussianProcess believer = model_selection_.model();
    double incumbent = best_posterior_mean(believer);
    if (!std::isfinite(incumbent)) {
      // The model is unusable (it cannot even reproduce its own data): space-filling points.
      add_note("the model's posterior mean is not finite: proposing space-filling points instead");
      while (static_cast<int>(out.size()) < q) out.push_back(space_filling(pending, out));
      return out;
    }
    const bool dominated = options_.noise_dominated == NoiseDominated::space_filling && !pool_ && noise_dominated(believer);
    if (dominated) {
      // Its posterior mean is nearly flat and its uncertainty largest at the box's faces, where
      // the acquisition then sends most proposals; spread evenly instead, until results show more.
      // Said when it begins, not at every proposal.
      if (!design_continued_)
        add_note(fmt::format("the model puts more than {:g} % of the results' variation down to noise: continuing the space-filling design",
                             100 * kNoiseDominated));
      design_continued_ = true;
      while (static_cast<int>(out.size()) < q) out.push_back(space_filling(pending, out));
      return out;
    }
    design_continued_ = false;
    fit_feasibility(model_selection_.model());
    std::unique_ptr<Acquisition> weighted, weighted_in_flight;
    if (feasibility_.fitted()) {
      const bool log_space = acquisition_->name().rfind("log_", 0) == 0;
      const Eigen::VectorXd& y = believer.y();
      const double spread = std::sqrt((y.array() - y.mean()).square().mean());
      // Results in small units have a small spread: only equal ones (no spread) take the floor.
      const double scale = spread > 0 ? spread : 1e-12;
      weighted = std::make_unique<FeasibilityWeighted>(*acquisition_, feasibility_, log_space ? 1.0 : scale);
      weighted_in_flight = std::make_unique<FeasibilityWeighted>(in_flight_ ? *in_flight_ : *acquisition_, feasibility_,
                                                                 in_flight_ || log_space ? 1.0 : scale);
    }
    for (const Point& p : pending) believe(believer, p, incumbent);
    for (const Point& p : out) believe(believer, p, incumbent);
    const std::vector<Point> taken = [&] {
      std::vector<Point> t(pending.begin(), pending.end());
      t.insert(t.end(), out.begin(), out.end());
      return t;
    }();
    std::vector<Point> avoid = taken;
    while (static_cast<int>(out.size()) < q) {
      const double budget_s = time_limit_s() - std::chrono::duration<double>(Clock::now() - started).count();
      if (budget_s <= 0) note_unpolished();
      // While other experiments are in flight, LogEI with the believed incumbent spreads a batch
      // out better than the configured UCB does (measured on Hartmann-6, q = 4).
      const Acquisition& active = weighted ? (!avoid.empty() ? *weighted_in_flight : *weighted)
                                           : !avoid.empty() && in_flight_ ? *in_flight_ : *acquisition_;
      Point x = pool_ ? best_row(active, believer, incumbent, avoid, observations_, optimizer_, budget_s)
                      : optimizer_.maximize(active, believer, incumbent, avoid, observations_, rng_, budget_s);
      if (!pool_) note_cut_short(optimizer_);
      if (x.size() != space_.cube_dim() || !x.allFinite() || x.minCoeff() < 0.0 || x.maxCoeff() > 1.0) {
        add_note("no finite acquisition score (or a proposal outside the cube): proposing a space-filling point instead");
        x = space_filling(avoid, {});
      } else if (sampler_ && !space_.feasible(x)) {
        // Defence in depth: the optimizer keeps to the constraints; should rounding have broken them, never propose it.
        add_note("the best acquisition point violated a constraint: proposing a feasible space-filling point instead");
        x = space_filling(avoid, {});
      }
      believe(believer, x, incumbent);
      avoid.push_back(x);
      out.push_back(std::move(x));
    }
    return out;
  }

  // Every objective and outcome constraint the goals name; failures taught as the worst value
  // seen (and, once any, to the feasibility model). A constraint's value is learned whenever it
  // was measured, even for an experiment that failed by the campaign's failure condition.
  void tell(const Observation& observation) override {
    const std::vector<double> objectives = observation.objective_values();
    bool ok = observation.status == ObservationStatus::ok;
    if (ok && !std::all_of(objectives.begin(), objectives.end(), [](double v) { return std::isfinite(v); })) {
      // Not a result a model can hold (the campaign never sends one): a failure, as for a crash.
      note_ = fmt::format("a result of {} was taught as a failed experiment", observation.objective);
      ok = false;
    }
    if (ok && objectives.size() != 1 + extra_objectives_.size()) {
      note_ = fmt::format("a result with {} objectives (expected {}) was taught as a failed experiment", objectives.size(), 1 + extra_objectives_.size());
      ok = false;
    }
    Told told{observation.x, ok, ok ? objectives : std::vector<double>{}, {}};
    if (ok) {
      observations_.add(observation.x, objectives[0]);
      for (size_t k = 0; k < extra_objectives_.size(); ++k) extra_objectives_[k].add(observation.x, objectives[k + 1]);
    } else {
      observations_.add_failed(observation.x);
      for (auto& extra : extra_objectives_) extra.add_failed(observation.x);
    }
    for (size_t c = 0; c < constraints_.size(); ++c) {
      const double v = c < observation.constraints.size() ? observation.constraints[c] : std::numeric_limits<double>::quiet_NaN();
      told.constraints.push_back(v);
      if (std::isfinite(v)) constraints_[c].add(observation.x, v);
    }
    told_.push_back(std::move(told));
    if (pool_) pool_->told(observation.x);
  }
  void amend(const Observation& told, const Observation& corrected) override {
    if (!std::isfinite(corrected.objective)) return;
    const std::vector<double> now = corrected.objective_values();
    if (told.status == ObservationStatus::failed) return amend_failure(told.x, corrected);
    for (size_t i = 0; i < observations_.xs.size(); ++i)
      if (observations_.ys[i] == told.objective && (observations_.xs[i] - told.x).squaredNorm() < 1e-24) {
        observations_.ys[i] = corrected.objective;
        for (size_t k = 0; k < extra_objectives_.size() && k + 1 < now.size(); ++k) extra_objectives_[k].ys[i] = now[k + 1];
        for (Told& t : told_)
          if (t.ok && (t.x - told.x).squaredNorm() < 1e-24 && t.objectives.front() == told.objective) {
            t.objectives = now;
            break;
          }
        return;
      }
  }
  std::string take_note() override { return std::exchange(note_, {}); }
  void stretch_time_limit(double factor) override { time_factor_ = factor; }

  // The best posterior mean of the objective among the results that count, from the model as of
  // the last ask (refitted here when results arrived since; deterministic, so replay is unaffected
  // — recommend() is never called while replaying).
  std::optional<Point> recommend() override {
    if (goals_.several_objectives() || observations_.ys.size() < 2) return std::nullopt;
    std::vector<const Told*> candidates;
    for (const Told& t : told_)
      if (observed_feasible(t)) candidates.push_back(&t);
    if (candidates.empty()) return std::nullopt;
    std::mt19937_64 scratch(0);  // the planner's own generator stays untouched
    ModelSelection fresh(space_, 0, objective_model_options(0));
    fresh.fit(observations_, scratch, time_limit_s());
    Eigen::MatrixXd x(static_cast<Eigen::Index>(candidates.size()), space_.cube_dim());
    for (size_t i = 0; i < candidates.size(); ++i) x.row(static_cast<Eigen::Index>(i)) = candidates[i]->x.transpose();
    const Eigen::VectorXd mean = fresh.model().predict_mean(x);
    Eigen::Index best = 0;
    for (Eigen::Index i = 1; i < mean.size(); ++i)
      if (mean[i] < mean[best]) best = i;
    if (!std::isfinite(mean[best])) return std::nullopt;
    return candidates[static_cast<size_t>(best)]->x;
  }

 private:
  // The limit this ask keeps to: the option's, stretched while a journal is replayed.
  double time_limit_s() const { return options_.time_limit_s * time_factor_; }

  // The surrogate's options for objective j: the planner's, with the noise the campaign states for it.
  ModelSelectionOptions objective_model_options(int j) const {
    ModelSelectionOptions o = options_.model;
    if (static_cast<size_t>(j) < goals_.noise.size()) o.noise_sd = goals_.noise[static_cast<size_t>(j)];
    return o;
  }

  // Defence in depth: the model gave something non-finite. Each such note once per ask.
  void add_note(const std::string& text) {
    if (note_.find(text) != std::string::npos) return;
    if (!note_.empty()) note_ += "; ";
    note_ += text;
  }

  // Replay tells a time-limited ask by its note ("time limit"): the candidates drawn by then
  // depend on the machine's speed.
  void note_cut_short(const AcquisitionOptimizer& optimizer) {
    if (optimizer.cut_short())
      add_note(fmt::format("time limit of {:g} s: half of it went to drawing candidates inside the constraints, and the proposal is "
                           "the best of those drawn by then",
                           time_limit_s()));
    if (optimizer.ran_out_of_time()) note_unpolished();
  }
  void note_unpolished() {
    add_note(fmt::format("time limit of {:g} s reached: proposals use the best candidates scored so far, without local polishing", time_limit_s()));
  }

  // The next Sobol point not too close to a point taken, observed or failed (a few tries: in a
  // tiny discrete space every point may be taken, and then a repeat is better than none).
  Point space_filling(std::span<const Point> taken, std::span<const Point> more) {
    if (pool_) return on_pool(sampler_ ? sampler_->next(design_rng_) : space_.canonical(sobol_.next()));  // open rows are never taken ones
    std::vector<Point> avoid(taken.begin(), taken.end());
    avoid.insert(avoid.end(), more.begin(), more.end());
    if (sampler_) {
      Point x = sampler_->next(design_rng_);
      for (int tries = 0; tries < 64 && observations_.near_any(x, avoid); ++tries) x = sampler_->next(design_rng_);
      return x;
    }
    Point x = space_.canonical(sobol_.next());
    for (int tries = 0; tries < 64 && observations_.near_any(x, avoid); ++tries) x = space_.canonical(sobol_.next());
    return x;
  }

  // With a pool, the open row nearest x (taken); x itself without one.
  Point on_pool(Point x) { return pool_ ? pool_->take_nearest(x) : x; }

  // With a pool: the open row the acquisition scores best (taken), or an empty point when no
  // score is finite. Beyond kExhaustiveRows open rows: a random kExhaustiveRows of them, plus the
  // kNearOptimum nearest the continuous optimum, so a narrow peak between sampled rows is not missed.
  Point best_row(const Acquisition& acquisition, const GaussianProcess& gp, double incumbent, const std::vector<Point>& avoid,
                 const Observations& guide, const AcquisitionOptimizer& optimizer, double budget_s) {
    const std::vector<Eigen::Index>& open = pool_->open();
    std::vector<size_t> positions(open.size());
    std::iota(positions.begin(), positions.end(), size_t{0});
    if (open.size() > kExhaustiveRows) {
      for (size_t k = 0; k < kExhaustiveRows; ++k)  // partial Fisher–Yates: a uniform subset
        std::swap(positions[k], positions[std::uniform_int_distribution<size_t>(k, positions.size() - 1)(rng_)]);
      positions.resize(kExhaustiveRows);
      const Point optimum = optimizer.maximize(acquisition, gp, incumbent, avoid, guide, rng_, budget_s);
      note_cut_short(optimizer);
      if (optimum.size() == space_.cube_dim() && optimum.allFinite()) {
        std::vector<std::pair<double, size_t>> distance(open.size());
        for (size_t k = 0; k < open.size(); ++k) distance[k] = {(pool_->pool().rows().row(open[k]).transpose() - optimum).squaredNorm(), k};
        std::partial_sort(distance.begin(), distance.begin() + static_cast<std::ptrdiff_t>(kNearOptimum), distance.end());
        for (size_t k = 0; k < kNearOptimum; ++k) positions.push_back(distance[k].second);
      }
      std::sort(positions.begin(), positions.end());
      positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
    }
    const AcquisitionContext ctx{gp, incumbent, rng_};
    size_t best = positions.size();
    double best_score = -std::numeric_limits<double>::infinity();
    const bool random_ties = options_.optimizer.ties == Ties::random;
    std::vector<double> all(random_ties ? positions.size() : 0);  // every score, to find the ties
    Eigen::MatrixXd block;
    for (size_t start = 0; start < positions.size(); start += static_cast<size_t>(kScoreBlock)) {
      const size_t n = std::min(positions.size() - start, static_cast<size_t>(kScoreBlock));
      block.resize(static_cast<Eigen::Index>(n), space_.cube_dim());
      for (size_t k = 0; k < n; ++k) block.row(static_cast<Eigen::Index>(k)) = pool_->pool().rows().row(open[positions[start + k]]);
      const Eigen::VectorXd scores = acquisition.score(ctx, block);
      for (size_t k = 0; k < n; ++k) {
        if (random_ties) all[start + k] = scores[static_cast<Eigen::Index>(k)];
        if (std::isfinite(scores[static_cast<Eigen::Index>(k)]) && scores[static_cast<Eigen::Index>(k)] > best_score)
          best_score = scores[static_cast<Eigen::Index>(k)], best = start + k;
      }
    }
    if (best == positions.size()) return Point();
    if (random_ties) {
      // Rows the model cannot tell apart (say, untried options of a one-hot parameter): one at
      // random, not the first in the file, so the proposal does not depend on the rows' order.
      std::vector<size_t> ties;
      const double unit = acquisition.score_unit(ctx);  // once, not per row of the pool
      for (size_t k = 0; k < all.size(); ++k)
        if (tied(all[k], best_score, unit)) ties.push_back(k);
      if (ties.size() > 1) best = ties[std::uniform_int_distribution<size_t>(0, ties.size() - 1)(rng_)];
    }
    return pool_->take(positions[best]);
  }

  Point initial_point() {
    const int i = next_initial_++;
    if (sampler_) {
      // Made at the first use (building a planner, e.g. to check a config, should stay cheap),
      // at most kMaxFeasibleDesign points; later ones are plain feasible draws.
      if (i == 0) {
        // The design's draws are bounded by the time limit in counted work, not by the clock: the
        // design serves every initial ask after this one too, and replay (which stretches the
        // limit) must draw the same pool. A pool that fits is drawn as before; 300 parameters with
        // 64 long constraints drew 2560 draws of 905 steps, 38 s before the first proposal with
        // time_limit_s 1. The option, not time_limit_s(): replay's stretch must not change it.
        const int n = std::min(options_.initial, kMaxFeasibleDesign);
        const double affordable = options_.time_limit_s * kDesignFlopsPerSecond / sampler_->draw_flops();
        const int pool = FeasibleSampler::design_pool(n);
        const int draws = affordable < pool ? static_cast<int>(affordable) : pool;
        feasible_design_ = sampler_->design(n, design_rng_, draws);
        // Worded without "time limit": replay takes that for a clock-cut ask, which this is not.
        if (draws < pool)
          add_note(fmt::format("the initial design was chosen among {} feasible draws instead of {}, as many as time_limit_s ({:g} s) "
                               "affords for constraints this size (counted in work, the same on every machine); its other points are "
                               "single feasible draws",
                               std::max(draws, 1), pool, options_.time_limit_s));
      }
      if (i < static_cast<int>(feasible_design_.size())) return feasible_design_[static_cast<size_t>(i)];
      return sampler_->next(design_rng_);
    }
    if (i < initial_points_.rows()) return space_.canonical(initial_points_.row(i).transpose());
    return space_.canonical(sobol_.next());
  }

  // Kriging believer: the pending point is taken to yield its posterior mean, exactly. The
  // incumbent must follow (a believed value below it is "already found"), or the point itself
  // would keep its expected improvement and the batch would pile up on it.
  void believe(GaussianProcess& gp, const Point& x, double& incumbent) {
    Eigen::VectorXd mean, variance;
    gp.predict(x.transpose(), mean, variance);
    if (!std::isfinite(mean[0])) {
      // Believing it would poison the model: the batch then spreads by `avoid` alone.
      add_note("the posterior mean at a pending point is not finite: the point is avoided but not believed");
      return;
    }
    gp.add_observation(x, mean[0], /*exact=*/true);
    incumbent = std::min(incumbent, mean[0]);
  }

  // Whether the model's noise is more than kNoiseDominated of its results' variance (both in its
  // own units, warped or not).
  static bool noise_dominated(const GaussianProcess& gp) {
    const Eigen::VectorXd& y = gp.y();
    const double variance = y.size() > 1 ? (y.array() - y.mean()).square().mean() : 0.0;
    return variance > 0 && gp.noise_variance() > kNoiseDominated * variance;
  }

  // For noisy objectives the best noisy observation is optimistic; the best posterior mean at
  // the observed points is the incumbent that does not chase noise.
  // NaN (then the caller falls back) for a model without data: minCoeff of nothing reads nothing.
  double best_posterior_mean(const GaussianProcess& gp) const {
    return gp.size() > 0 ? gp.fitted_mean().minCoeff() : std::numeric_limits<double>::quiet_NaN();
  }

  // What one experiment taught, for the goal path's fronts and incumbents.
  // A failure told at `x` becomes `corrected`'s result: what the models fit is rebuilt from
  // everything told, in the order told, as tell() built it (the failure model's arrivals too).
  // A result a model cannot hold (as tell() refuses it) leaves the failure as it was.
  void amend_failure(const Point& x, const Observation& corrected) {
    const std::vector<double> now = corrected.objective_values();
    if (now.size() != 1 + extra_objectives_.size() || !std::all_of(now.begin(), now.end(), [](double v) { return std::isfinite(v); })) return;
    const auto it = std::find_if(told_.begin(), told_.end(), [&](const Told& t) { return !t.ok && (t.x - x).squaredNorm() < 1e-24; });
    if (it == told_.end()) return;
    it->ok = true;
    it->objectives = now;
    for (size_t c = 0; c < it->constraints.size(); ++c)
      it->constraints[c] = c < corrected.constraints.size() ? corrected.constraints[c] : std::numeric_limits<double>::quiet_NaN();
    observations_ = {};
    for (auto& extra : extra_objectives_) extra = {};
    for (auto& constraint : constraints_) constraint = {};
    for (const Told& t : told_) {
      if (t.ok) {
        observations_.add(t.x, t.objectives[0]);
        for (size_t k = 0; k < extra_objectives_.size(); ++k) extra_objectives_[k].add(t.x, t.objectives[k + 1]);
      } else {
        observations_.add_failed(t.x);
        for (auto& extra : extra_objectives_) extra.add_failed(t.x);
      }
      for (size_t c = 0; c < constraints_.size(); ++c)
        if (std::isfinite(t.constraints[c])) constraints_[c].add(t.x, t.constraints[c]);
    }
  }

  struct Told {
    Point x;
    bool ok;                         // an objective value for every objective
    std::vector<double> objectives;  // oriented; empty unless ok
    std::vector<double> constraints; // excess per outcome constraint (≤ 0 holds); NaN where unmeasured
  };

  bool observed_feasible(const Told& t) const {
    return t.ok && std::all_of(t.constraints.begin(), t.constraints.end(), [](double c) { return c <= 0.0; });
  }

  // Once something has failed (and the option is on), fit the classifier of where experiments
  // succeed, with the objective model's lengthscales. Deterministic: replay fits the same.
  void fit_feasibility(const GaussianProcess& objective_model) {
    if (options_.failure_model == FailureModel::off || observations_.failed.empty()) return;
    Eigen::MatrixXd x(static_cast<Eigen::Index>(observations_.arrivals.size()), space_.cube_dim());
    std::vector<bool> succeeded;
    for (size_t i = 0; i < observations_.arrivals.size(); ++i) {
      x.row(static_cast<Eigen::Index>(i)) = observations_.point(observations_.arrivals[i]).transpose();
      succeeded.push_back(!observations_.arrivals[i].failed);
    }
    try {
      feasibility_.fit(objective_model.kernel(), x, succeeded);
    } catch (const PlannerError& e) {
      add_note(std::string("failures are not modelled this time: ") + e.what());
      feasibility_ = FeasibilityModel();
    }
  }

  // Several objectives or outcome constraints (goal_acquisition.hpp): one model per objective and
  // per constraint, the acquisition over all of them, Kriging believers for the batch. The
  // optimizer's perturbations centre on the points best by a random Chebyshev scalarization
  // (ParEGO's weights, drawn per ask), so they visit the whole front.
  std::vector<Point> ask_for_goals(int q, std::span<const Point> pending, std::vector<Point> out, Clock::time_point started) {
    const int models = 1 + static_cast<int>(extra_models_.size() + constraint_models_.size());
    const double fit_s = kFitShare * time_limit_s() / models;
    bool in_time = model_selection_.fit(observations_, rng_, fit_s);
    for (size_t k = 0; k < extra_models_.size(); ++k) in_time = extra_models_[k]->fit(extra_objectives_[k], rng_, fit_s) && in_time;
    std::vector<bool> constraint_modelled;
    for (size_t c = 0; c < constraint_models_.size(); ++c) {
      const bool enough = constraints_[c].ys.size() >= 2;
      constraint_modelled.push_back(enough);
      if (enough) in_time = constraint_models_[c]->fit(constraints_[c], rng_, fit_s) && in_time;
    }
    if (!in_time)
      add_note(fmt::format("time limit of {:g} s reached while fitting the models: hyperparameters are the best found by then", time_limit_s()));
    fit_feasibility(model_selection_.model());

    std::vector<GaussianProcess> objective_gps{model_selection_.model()};
    for (const auto& m : extra_models_) objective_gps.push_back(m->model());
    // Each model sees its outputs compressed and warped (model_selection.hpp): bounds and the
    // reference point are taken to its units, or they would sit in the wrong place.
    std::vector<GaussianProcess> constraint_gps;
    std::vector<double> constraint_bounds;
    for (size_t c = 0; c < constraint_models_.size(); ++c)
      if (constraint_modelled[c]) {
        constraint_gps.push_back(constraint_models_[c]->model());
        constraint_bounds.push_back(constraint_models_[c]->to_model_units(0.0));
      }
    auto objective_model = [&](Eigen::Index j) -> const ModelSelection& {
      return j == 0 ? model_selection_ : *extra_models_[static_cast<size_t>(j - 1)];
    };
    const bool parego = goals_.several_objectives() && options_.multi_objective == MultiObjective::parego;

    // The feasible observed points and their objectives (as measured, and the models' belief).
    std::vector<const Told*> feasible;
    for (const Told& t : told_)
      if (observed_feasible(t)) feasible.push_back(&t);
    const Eigen::Index m_objectives = static_cast<Eigen::Index>(objective_gps.size());
    Eigen::MatrixXd measured(static_cast<Eigen::Index>(feasible.size()), m_objectives);
    Eigen::MatrixXd feasible_x(static_cast<Eigen::Index>(feasible.size()), space_.cube_dim());
    for (size_t i = 0; i < feasible.size(); ++i) {
      feasible_x.row(static_cast<Eigen::Index>(i)) = feasible[i]->x.transpose();
      for (Eigen::Index j = 0; j < m_objectives; ++j) measured(static_cast<Eigen::Index>(i), j) = feasible[i]->objectives[static_cast<size_t>(j)];
    }

    // ParEGO: this ask's weights scalarize the objectives (normalized by what was observed); one
    // GP of the scalarized values stands in for the objectives.
    Eigen::VectorXd weights;
    if (goals_.several_objectives()) weights = sample_simplex_weights(m_objectives, rng_);
    std::optional<GaussianProcess> scalarized;
    if (parego) {
      std::vector<const Told*> ok;
      for (const Told& t : told_)
        if (t.ok) ok.push_back(&t);
      Eigen::MatrixXd y(static_cast<Eigen::Index>(ok.size()), m_objectives), x(static_cast<Eigen::Index>(ok.size()), space_.cube_dim());
      for (size_t i = 0; i < ok.size(); ++i) {
        x.row(static_cast<Eigen::Index>(i)) = ok[i]->x.transpose();
        for (Eigen::Index j = 0; j < m_objectives; ++j) y(static_cast<Eigen::Index>(i), j) = ok[i]->objectives[static_cast<size_t>(j)];
      }
      GaussianProcessOptions o;
      o.seed = rng_();
      scalarized.emplace(space_.cube_dim(), o);
      scalarized->set_data(x, chebyshev(normalize_objectives(y), weights));
      scalarized->fit(1, std::max(1e-3, fit_s));
    }

    // Believers: every model is conditioned on its own mean at each pending (then each new) point.
    auto believe_all = [&](const Point& p) {
      auto believe_one = [&](GaussianProcess& gp) {
        Eigen::VectorXd mean, variance;
        gp.predict(p.transpose(), mean, variance);
        if (std::isfinite(mean[0])) gp.add_observation(p, mean[0], /*exact=*/true);
        return std::isfinite(mean[0]) ? mean[0] : std::numeric_limits<double>::quiet_NaN();
      };
      std::vector<double> means;
      for (GaussianProcess& gp : objective_gps) means.push_back(believe_one(gp));
      bool believed_feasible = true;
      for (size_t c = 0; c < constraint_gps.size(); ++c) believed_feasible = believe_one(constraint_gps[c]) <= constraint_bounds[c] && believed_feasible;
      if (scalarized) believe_one(*scalarized);
      return std::make_pair(means, believed_feasible);
    };

    // The front of the models' belief at the feasible points, plus believed batch points.
    Eigen::MatrixXd front(0, m_objectives);
    if (feasible.size() > 0) {
      front.resize(static_cast<Eigen::Index>(feasible.size()), m_objectives);
      for (Eigen::Index j = 0; j < m_objectives; ++j) front.col(j) = objective_gps[static_cast<size_t>(j)].predict_mean(feasible_x);
    }
    Eigen::VectorXd reference;
    if (goals_.several_objectives() && feasible.size() > 0) {
      reference = infer_reference_point(measured);
      for (Eigen::Index j = 0; j < m_objectives && static_cast<size_t>(j) < goals_.thresholds.size(); ++j)
        if (std::isfinite(goals_.thresholds[static_cast<size_t>(j)])) reference[j] = goals_.thresholds[static_cast<size_t>(j)];
      for (Eigen::Index j = 0; j < m_objectives; ++j) reference[j] = objective_model(j).to_model_units(reference[j]);
    }
    std::vector<Point> avoid(pending.begin(), pending.end());
    avoid.insert(avoid.end(), out.begin(), out.end());
    for (const Point& p : avoid) {
      const auto [means, ok] = believe_all(p);
      if (ok && front.rows() > 0 && std::all_of(means.begin(), means.end(), [](double v) { return std::isfinite(v); })) {
        front.conservativeResize(front.rows() + 1, Eigen::NoChange);
        for (Eigen::Index j = 0; j < m_objectives; ++j) front(front.rows() - 1, j) = means[static_cast<size_t>(j)];
      }
    }

    // What the optimizer perturbs and avoids: the observed points, ranked by a scalarization of
    // their objectives (infeasible ones behind every feasible one).
    Observations guide;
    guide.failed = observations_.failed;
    {
      Eigen::MatrixXd y(static_cast<Eigen::Index>(told_.size()), m_objectives);
      std::vector<size_t> rows;
      for (size_t i = 0; i < told_.size(); ++i)
        if (told_[i].ok) {
          for (Eigen::Index j = 0; j < m_objectives; ++j) y(static_cast<Eigen::Index>(rows.size()), j) = told_[i].objectives[static_cast<size_t>(j)];
          rows.push_back(i);
        }
      y.conservativeResize(static_cast<Eigen::Index>(rows.size()), Eigen::NoChange);
      const Eigen::VectorXd score = goals_.several_objectives() ? chebyshev(normalize_objectives(y), weights) : Eigen::VectorXd(y.col(0));
      const double penalty = score.size() > 0 ? score.maxCoeff() - score.minCoeff() + 1.0 : 1.0;
      for (size_t r = 0; r < rows.size(); ++r)
        guide.add(told_[rows[r]].x, score[static_cast<Eigen::Index>(r)] + (observed_feasible(told_[rows[r]]) ? 0.0 : penalty));
    }

    while (static_cast<int>(out.size()) < q) {
      const double budget_s = time_limit_s() - std::chrono::duration<double>(Clock::now() - started).count();
      GoalParts parts;
      std::optional<LogExpectedHypervolumeImprovement> ehvi;
      if (scalarized) {
        parts.objectives = {&*scalarized};
        if (!feasible.empty()) parts.incumbent = scalarized->predict_mean(feasible_x).minCoeff();
      } else {
        for (const GaussianProcess& gp : objective_gps) parts.objectives.push_back(&gp);
        if (goals_.several_objectives()) {
          if (front.rows() > 0) {
            ehvi.emplace(front, reference);
            parts.ehvi = &*ehvi;
          }
        } else if (front.rows() > 0) {
          parts.incumbent = front.col(0).minCoeff();
        }
      }
      for (const GaussianProcess& gp : constraint_gps) parts.constraints.push_back(&gp);
      parts.constraint_bounds = constraint_bounds;
      if (feasibility_.fitted()) parts.feasibility = &feasibility_;
      const GoalAcquisition acquisition(std::move(parts));
      Point x = pool_ ? best_row(acquisition, objective_gps.front(), 0.0, avoid, guide, goal_optimizer_, budget_s)
                      : goal_optimizer_.maximize(acquisition, objective_gps.front(), 0.0, avoid, guide, rng_, budget_s);
      if (!pool_) note_cut_short(goal_optimizer_);
      if (x.size() != space_.cube_dim() || !x.allFinite() || x.minCoeff() < 0.0 || x.maxCoeff() > 1.0) {
        add_note("no finite acquisition score (or a proposal outside the cube): proposing a space-filling point instead");
        x = space_filling(avoid, {});
      }
      const auto [means, ok] = believe_all(x);
      if (ok && front.rows() > 0 && std::all_of(means.begin(), means.end(), [](double v) { return std::isfinite(v); })) {
        front.conservativeResize(front.rows() + 1, Eigen::NoChange);
        for (Eigen::Index j = 0; j < m_objectives; ++j) front(front.rows() - 1, j) = means[static_cast<size_t>(j)];
      }
      avoid.push_back(x);
      out.push_back(std::move(x));
    }
    return out;
  }

  Space space_;
  BayesianOptions options_;
  PlannerGoals goals_;
  std::optional<PoolChoice> pool_;  // with a candidate pool only
  std::mt19937_64 rng_;
  SobolSequence sobol_;
  Eigen::MatrixXd initial_points_;
  int next_initial_ = 0;
  static constexpr int kMaxFeasibleDesign = 256;
  // Hit-and-run work (FeasibleSampler::draw_flops) per second of time_limit_s the initial design
  // may take: about what one core did in the red-team's 300-parameter case (4.8e9 counted a
  // second), so only a design that overran its limit there is cut.
  static constexpr double kDesignFlopsPerSecond = 4e9;
  std::optional<FeasibleSampler> sampler_;  // with constraints only
  std::mt19937_64 design_rng_;              // the sampler's draws (constraints only)
  std::vector<Point> feasible_design_;
  std::unique_ptr<Acquisition> acquisition_;
  std::unique_ptr<Acquisition> in_flight_;  // for points proposed while others are pending (null: acquisition_)
  ModelSelection model_selection_;
  AcquisitionOptimizer optimizer_;
  AcquisitionOptimizer goal_optimizer_;  // several objectives or outcome constraints: no trust region
  Observations observations_;            // the first objective (failures as its worst value)
  std::vector<Observations> extra_objectives_;  // the others, in the goals' order
  std::vector<Observations> constraints_;       // each outcome constraint's measured excesses
  std::vector<std::unique_ptr<ModelSelection>> extra_models_, constraint_models_;
  std::vector<Told> told_;
  FeasibilityModel feasibility_;
  std::string note_;
  double time_factor_ = 1.0;  // stretch_time_limit()
  bool design_continued_ = false;  // the last proposal continued the design (noise_dominated)
};

}  // namespace

std::unique_ptr<Planner> make_bayesian_planner(const PlannerContext& context) {
  return std::make_unique<BayesianPlanner>(context.space, context.seed, parse_bayesian_options(context), context.goals, pool_choice(context));
}

}  // namespace labloop::detail
