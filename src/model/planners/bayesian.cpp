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
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <utility>

#include "../optimize/acquisition_optimizer.hpp"
#include "../optimize/model_selection.hpp"
#include "../optimize/observations.hpp"
#include "bayesian_options.hpp"
#include "labloop/model/acquisition.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/sobol.hpp"
#include "planners.hpp"

namespace labloop::detail {

namespace {

using Clock = std::chrono::steady_clock;

// The share of planner.time_limit_s the model fit may use.
constexpr double kFitShare = 0.6;

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
  BayesianPlanner(const Space& space, std::uint64_t seed, BayesianOptions options)
      : space_(space), options_(std::move(options)), rng_(seed), sobol_(space.cube_dim(), seed + 1),
        acquisition_(make_acquisition(options_.acquisition, options_.acquisition_options)),
        model_selection_(space, seed, options_.model), optimizer_(space, options_.optimizer) {
    if (options_.acquisition == "ucb") in_flight_ = make_acquisition("log_ei");
    if (space.constrained()) {
      sampler_.emplace(space);
      design_rng_.seed(seed ^ 0x9e3779b97f4a7c15ULL);
    } else if (options_.initial_design == InitialDesign::lhs) {
      initial_points_ = latin_hypercube(options_.initial, space.cube_dim(), rng_);
    }
  }

  std::vector<Point> ask(int q, std::span<const Point> pending) override {
    const auto started = Clock::now();
    std::vector<Point> out;
    // Initial design: count what is already observed, failed or running.
    const int have = static_cast<int>(observations_.ys.size() + observations_.failed.size() + pending.size());
    while (static_cast<int>(out.size()) < q && have + static_cast<int>(out.size()) < options_.initial) out.push_back(initial_point());
    if (static_cast<int>(out.size()) == q) return out;
    if (observations_.ys.size() < 2) {  // nothing to model yet (e.g. every early experiment failed)
      while (static_cast<int>(out.size()) < q) out.push_back(sampler_ ? sampler_->next(design_rng_) : space_.canonical(sobol_.next()));
      return out;
    }

    optimizer_.update_trust_region(observations_);
    // The fit gets most of the time limit; what it leaves goes to the acquisition search.
    if (!model_selection_.fit(observations_, rng_, kFitShare * options_.time_limit_s) && note_.empty())
      note_ = fmt::format("time limit of {:g} s reached while fitting the model: hyperparameters are the best found by then",
                          options_.time_limit_s);
    GaussianProcess believer = model_selection_.model();
    double incumbent = best_posterior_mean(believer);
    if (!std::isfinite(incumbent)) {
      // The model is unusable (it cannot even reproduce its own data): space-filling points.
      add_note("the model's posterior mean is not finite: proposing space-filling points instead");
      while (static_cast<int>(out.size()) < q) out.push_back(space_filling(pending, out));
      return out;
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
      const double budget_s = options_.time_limit_s - std::chrono::duration<double>(Clock::now() - started).count();
      if (budget_s <= 0 && note_.empty())
        note_ = fmt::format("time limit of {:g} s reached: proposals use the best candidates scored so far, without local polishing",
                            options_.time_limit_s);
      // While other experiments are in flight, LogEI with the believed incumbent spreads a batch
      // out better than the configured UCB does (measured on Hartmann-6, q = 4).
      const Acquisition& active = !avoid.empty() && in_flight_ ? *in_flight_ : *acquisition_;
      Point x = optimizer_.maximize(active, believer, incumbent, avoid, observations_, rng_, budget_s);
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

  // The objective alone: other values are for planners that model them (none yet).
  void tell(const Observation& observation) override {
    if (observation.status == ObservationStatus::failed) {
      observations_.add_failed(observation.x);
      return;
    }
    if (!std::isfinite(observation.objective)) {
      // Not a result a model can hold (the campaign never sends one): a failure, as for a crash.
      note_ = fmt::format("a result of {} was taught as a failed experiment", observation.objective);
      observations_.add_failed(observation.x);
      return;
    }
    observations_.add(observation.x, observation.objective);
  }
  void amend(const Observation& told, const Observation& corrected) override {
    if (!std::isfinite(corrected.objective)) return;
    for (size_t i = 0; i < observations_.xs.size(); ++i)
      if (observations_.ys[i] == told.objective && (observations_.xs[i] - told.x).squaredNorm() < 1e-24) {
        observations_.ys[i] = corrected.objective;
        return;
      }
  }
  std::string take_note() override { return std::exchange(note_, {}); }

 private:
  // Defence in depth: the model gave something non-finite. Each such note once per ask.
  void add_note(const std::string& text) {
    if (note_.find(text) != std::string::npos) return;
    if (!note_.empty()) note_ += "; ";
    note_ += text;
  }

  // The next Sobol point not too close to a point taken, observed or failed (a few tries: in a
  // tiny discrete space every point may be taken, and then a repeat is better than none).
  Point space_filling(std::span<const Point> taken, std::span<const Point> more) {
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

  Point initial_point() {
    const int i = next_initial_++;
    if (sampler_) {
      // Made at the first use (building a planner, e.g. to check a config, should stay cheap),
      // at most kMaxFeasibleDesign points; later ones are plain feasible draws.
      if (i == 0) feasible_design_ = sampler_->design(std::min(options_.initial, kMaxFeasibleDesign), design_rng_);
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

  // For noisy objectives the best noisy observation is optimistic; the best posterior mean at
  // the observed points is the incumbent that does not chase noise.
  // NaN (then the caller falls back) for a model without data: minCoeff of nothing reads nothing.
  double best_posterior_mean(const GaussianProcess& gp) const {
    return gp.size() > 0 ? gp.fitted_mean().minCoeff() : std::numeric_limits<double>::quiet_NaN();
  }

  Space space_;
  BayesianOptions options_;
  std::mt19937_64 rng_;
  SobolSequence sobol_;
  Eigen::MatrixXd initial_points_;
  int next_initial_ = 0;
  static constexpr int kMaxFeasibleDesign = 256;
  std::optional<FeasibleSampler> sampler_;  // with constraints only
  std::mt19937_64 design_rng_;              // the sampler's draws (constraints only)
  std::vector<Point> feasible_design_;
  std::unique_ptr<Acquisition> acquisition_;
  std::unique_ptr<Acquisition> in_flight_;  // for points proposed while others are pending (null: acquisition_)
  ModelSelection model_selection_;
  AcquisitionOptimizer optimizer_;
  Observations observations_;
  std::string note_;
};

}  // namespace

std::unique_ptr<Planner> make_bayesian_planner(const PlannerContext& context) {
  return std::make_unique<BayesianPlanner>(context.space, context.seed, parse_bayesian_options(context));
}

}  // namespace labloop::detail
