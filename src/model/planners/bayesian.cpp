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
// Failed experiments are taught as the worst value seen so far: the model then steers away from
// them without the objective's scale being distorted.
//
// Any finite value is accepted (docs/reliability.md): values beyond MagnitudeCompression::kThreshold
// (1e100) in magnitude are compressed, order kept, before the output warp and the model see them,
// so an extreme result still counts as the best or worst seen. In depth, nothing non-finite the
// model might still produce (posterior, scores, polished points) reaches a proposal: such a
// proposal is replaced by the next space-filling point, and a planner note says so.
#include <nlopt.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <utility>

#include "labloop/model/acquisition.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/output_transform.hpp"
#include "labloop/model/sobol.hpp"
#include "planners.hpp"

namespace labloop::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Above this many observations, hyperparameters are fitted on a subset of this size.
constexpr Eigen::Index kFitSubset = 300;
// Up to this many combinations of categorical choices are enumerated for each candidate; beyond,
// a local search changes one choice at a time, at most this many times.
constexpr long long kMaxCombinations = 4096;
constexpr int kMaxLocalSearchSteps = 50;
// Kernel and output-warp selection (when asked for) runs at fresh fits up to this many observations;
// beyond, the last choice is kept.
constexpr Eigen::Index kSelectMax = 200;
// The share of planner.time_limit_s the model fit may use.
constexpr double kFitShare = 0.6;

struct BayesianOptions {
  int initial = 0;  // 0 = max(5, 2·d) with d the number of parameters
  std::string initial_design = "sobol";
  std::string acquisition = "ucb";
  double beta = 3.0;
  std::string kernel = "select";  // "select": Matérn-5/2 or Matérn-3/2, whichever the evidence favours
  int candidates = 1024;
  int local_starts = 4;
  int refit_every = 1;
  double time_limit_s = 5.0;
  std::string output_transform = "select";
  std::string trust_region = "candidates";  // "candidates": trust-region candidates join the pool; "off"
  std::string categorical_lengthscale = "shared";  // "shared" by a parameter's choices, or "per_choice"
  std::string additive = "auto";  // "auto": on when some parameter is categorical; "on"; "off"
};

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
  BayesianPlanner(const Space& space, std::uint64_t seed, BayesianOptions options)
      : space_(space), dim_(space.cube_dim()), options_(std::move(options)), rng_(seed), sobol_(space.cube_dim(), seed + 1),
        acquisition_(make_acquisition(options_.acquisition, options_.beta)) {
    if (options_.acquisition == "ucb") in_flight_ = make_acquisition("log_ei");
    if (options_.initial == 0) options_.initial = std::max(5, 2 * space.size());
    if (options_.initial_design == "lhs") initial_points_ = latin_hypercube(options_.initial, dim_, rng_);
    gp_options_.kernel = options_.kernel == "select" ? "matern52" : options_.kernel;
    gp_options_.seed = seed;
    bool categorical = false;
    for (int i = 0; i < space.size(); ++i) {
      const Parameter& p = space.parameters()[static_cast<size_t>(i)];
      const bool is_categorical = p.type == ParameterType::categorical;
      categorical = categorical || is_categorical;
      if (is_categorical) combinations_ = std::min(combinations_ * static_cast<long long>(p.choices.size()), kMaxCombinations + 1);
      discrete_ = discrete_ || p.type != ParameterType::continuous;
      polishable_ = polishable_ || !is_categorical;
      for (int c = 0; c < p.cube_width(); ++c) {
        categorical_coordinate_.push_back(is_categorical);
        // One lengthscale per parameter, not per choice: with a handful of results a lengthscale
        // per choice is mostly unidentified, and many choices would swamp the others.
        if (options_.categorical_lengthscale == "shared") gp_options_.lengthscale_groups.push_back(i);
      }
    }
    // Categorical effects are mostly main effects ("this ligand is good"): the additive half of the
    // kernel carries them across combinations (docs/benchmarks.md, pool-based lookup tables).
    gp_options_.additive = options_.additive == "on" || (options_.additive == "auto" && categorical);
    model_ = std::make_unique<GaussianProcess>(dim_, gp_options_);
  }

  std::vector<Point> ask(int q, std::span<const Point> pending) override {
    const auto started = Clock::now();
    std::vector<Point> out;
    // Initial design: count what is already observed, failed or running.
    const int have = static_cast<int>(ys_.size() + failed_.size() + pending.size());
    while (static_cast<int>(out.size()) < q && have + static_cast<int>(out.size()) < options_.initial) out.push_back(initial_point());
    if (static_cast<int>(out.size()) == q) return out;
    if (ys_.size() < 2) {  // nothing to model yet (e.g. every early experiment failed)
      while (static_cast<int>(out.size()) < q) out.push_back(space_.canonical(sobol_.next()));
      return out;
    }

    update_trust_region();
    // The fit gets most of the time limit; what it leaves goes to the acquisition search.
    if (!fit_model(kFitShare * options_.time_limit_s) && note_.empty())
      note_ = fmt::format("time limit of {:g} s reached while fitting the model: hyperparameters are the best found by then",
                          options_.time_limit_s);
    GaussianProcess believer = *model_;
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
      active_ = !avoid.empty() && in_flight_ ? in_flight_.get() : acquisition_.get();
      Point x = maximize_acquisition(believer, incumbent, avoid, budget_s);
      if (x.size() != dim_ || !x.allFinite() || x.minCoeff() < 0.0 || x.maxCoeff() > 1.0) {
        add_note("no finite acquisition score (or a proposal outside the cube): proposing a space-filling point instead");
        x = space_filling(avoid, {});
      }
      believe(believer, x, incumbent);
      avoid.push_back(x);
      out.push_back(std::move(x));
    }
    return out;
  }

  void tell(const Point& x, double y) override {
    if (!std::isfinite(y)) {
      // Not a result a model can hold (the campaign never sends one): a failure, as for a crash.
      note_ = fmt::format("a result of {} was taught as a failed experiment", y);
      tell_failed(x);
      return;
    }
    arrivals_.push_back({xs_.size(), false});
    xs_.push_back(x);
    ys_.push_back(y);
  }
  void tell_failed(const Point& x) override {
    arrivals_.push_back({failed_.size(), true});
    failed_.push_back(x);
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
    Point x = space_.canonical(sobol_.next());
    for (int tries = 0; tries < 64 && near_any(x, avoid); ++tries) x = space_.canonical(sobol_.next());
    return x;
  }

  Point initial_point() {
    const int i = next_initial_++;
    if (i < initial_points_.rows()) return space_.canonical(initial_points_.row(i).transpose());
    return space_.canonical(sobol_.next());
  }

  // The data the model sees: observations plus failures taught as the worst value so far, in
  // the order they arrived. Between hyperparameter refits the output transform is frozen too, so
  // each new result extends the Cholesky factor by one row (O(n²)) instead of refactorizing.
  // Returns false when the fit stopped at `max_seconds`.
  bool fit_model(double max_seconds) {
    const auto started = Clock::now();
    auto remaining = [&] { return max_seconds - std::chrono::duration<double>(Clock::now() - started).count(); };
    const Eigen::Index n = static_cast<Eigen::Index>(arrivals_.size());
    const double worst = *std::max_element(ys_.begin(), ys_.end());
    auto point = [&](const Arrival& a) -> const Point& { return a.failed ? failed_[a.index] : xs_[a.index]; };
    auto value = [&](const Arrival& a) { return a.failed ? worst : ys_[a.index]; };
    bool refit = n - last_fit_n_ >= options_.refit_every || last_fit_n_ == 0;
    if (!refit) {
      // The frozen transforms must take every new value to a finite, representable one; an
      // extreme value the compression was not fitted for (or one the warp overflows) refits.
      std::vector<double> t;
      for (Eigen::Index k = modelled_; k < n && !refit; ++k) {
        const double v = value(arrivals_[static_cast<size_t>(k)]);
        t.push_back(warp_.transform(compression_.transform(v)));
        refit = (!compression_.active() && MagnitudeCompression::extreme(v)) || !std::isfinite(t.back()) ||
                std::abs(t.back()) > MagnitudeCompression::kThreshold;
      }
      if (!refit) {
        for (Eigen::Index k = modelled_; k < n; ++k)
          model_->add_observation(point(arrivals_[static_cast<size_t>(k)]), t[static_cast<size_t>(k - modelled_)]);
        modelled_ = n;
        return true;
      }
    }
    Eigen::MatrixXd x(n, dim_);
    Eigen::VectorXd y(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      const Arrival& a = arrivals_[static_cast<size_t>(k)];
      x.row(k) = point(a).transpose();
      y[k] = value(a);
    }
    // Everything below sees compressed values (the identity unless some value is extreme).
    compression_.fit(Eigen::Map<const Eigen::VectorXd>(ys_.data(), static_cast<Eigen::Index>(ys_.size())));
    const Eigen::VectorXd observed =
        compression_.transform(Eigen::Map<const Eigen::VectorXd>(ys_.data(), static_cast<Eigen::Index>(ys_.size())));
    y = compression_.transform(y);
    last_fit_n_ = modelled_ = n;
    // Between iterations θ barely moves: polish it, and only now and then search afresh.
    // Past the fitting subset, 25 new results among hundreds barely move θ, and a multi-start
    // search there would cost more than a proposal may take: only the first fit searches afresh.
    const bool fresh = n > kFitSubset ? fits_++ == 0 : fits_++ % 10 == 0;
    const int restarts = fresh ? 2 : 0;
    const bool select_kernel = options_.kernel == "select", select_warp = options_.output_transform == "select";
    if ((select_kernel || select_warp) && fresh && n <= kSelectMax) {
      // Model choice by evidence (MacKay 1992; for the output warp, Snelson et al., NIPS 2003):
      // fit each candidate kernel to the raw values and to their power transform, and keep the
      // model whose MAP objective, taken back to y units by the warp's Jacobian, is highest.
      YeoJohnson warp;
      warp.fit(observed);
      std::vector<YeoJohnson> warps;
      if (select_warp) {
        warps.emplace_back();
        if (warp.lambda() != 1.0) warps.push_back(warp);
      } else {
        warps.push_back(options_.output_transform == "yeo_johnson" ? warp : YeoJohnson{});
      }
      const std::vector<std::string> kernels = select_kernel ? std::vector<std::string>{"matern52", "matern32"} : std::vector<std::string>{gp_options_.kernel};
      double best = -std::numeric_limits<double>::infinity();
      bool first = true, chosen = false;
      for (const std::string& kernel : kernels)
        for (const YeoJohnson& w : warps) {
          if (!first && remaining() <= 0) break;
          first = false;
          if (!w.transform(y).allFinite()) continue;  // the identity warp always qualifies
          GaussianProcessOptions o = gp_options_;
          o.kernel = kernel;
          GaussianProcess candidate(dim_, o);
          if (kernel == gp_options_.kernel) candidate.set_hyperparameters(model_->hyperparameters());
          candidate.set_data(x, w.transform(y));
          candidate.fit(restarts, std::max(1e-6, remaining()));
          const double e = evidence(candidate, y, &w);
          if (e > best || !chosen) {
            // The first model stands even when its evidence is not finite: a model without
            // this fit's data would be stale, or empty.
            chosen = true;
            best = std::isfinite(e) ? e : best;
            *model_ = std::move(candidate);
            warp_ = w;
            warped_ = w.lambda() != 1.0;
            gp_options_.kernel = kernel;
          }
        }
      if (!chosen) {  // only a warp that overflowed was on offer: the identity instead
        warp_ = YeoJohnson{};
        warped_ = false;
        model_->set_data(x, y);
        model_->fit(restarts, std::max(1e-6, remaining()));
      }
      return remaining() > 0;
    }
    if (options_.output_transform == "yeo_johnson" || (select_warp && warped_)) warp_.fit(observed);
    if (!warp_.transform(y).allFinite()) warp_ = YeoJohnson{};  // the identity keeps them finite
    y = warp_.transform(y);
    if (n <= kFitSubset) {
      model_->set_data(x, y);
      model_->fit(restarts, max_seconds);
      return remaining() > 0;
    }
    // Each step of the hyperparameter search costs O(n³): with many results, fit θ on a subset
    // (the best points, where the model matters most, and a random sample of the rest), then
    // condition a model on everything with that θ — one full factorization, not two.
    std::vector<Eigen::Index> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + kFitSubset / 4, order.end(), [&](Eigen::Index a, Eigen::Index b) { return y[a] < y[b]; });
    std::shuffle(order.begin() + kFitSubset / 4, order.end(), rng_);
    Eigen::MatrixXd xs(kFitSubset, dim_);
    Eigen::VectorXd ys(kFitSubset);
    for (Eigen::Index k = 0; k < kFitSubset; ++k) xs.row(k) = x.row(order[static_cast<size_t>(k)]), ys[k] = y[order[static_cast<size_t>(k)]];
    GaussianProcess subset(dim_, gp_options_);
    subset.set_hyperparameters(model_->hyperparameters());
    subset.set_data(xs, ys);
    subset.fit(restarts, max_seconds);
    GaussianProcess full(dim_, gp_options_);
    full.set_hyperparameters(subset.hyperparameters());
    full.set_data(x, y);
    *model_ = std::move(full);
    return remaining() > 0;
  }

  // Trust region (Eriksson et al., NeurIPS 2019, "TuRBO"): a box around the best point whose
  // side grows after a run of improving proposals and shrinks after a run of failures; when it
  // collapses it restarts at its initial size.
  void update_trust_region() {
    const double best = *std::min_element(ys_.begin(), ys_.end());
    const size_t n = ys_.size();
    if (tr_seen_ == 0) {
      tr_best_ = best;
      tr_seen_ = n;
      return;
    }
    if (n == tr_seen_) return;
    if (best < tr_best_ - 1e-3 * std::abs(tr_best_)) {
      ++tr_success_;
      tr_failure_ = 0;
    } else {
      tr_success_ = 0;
      ++tr_failure_;
    }
    tr_best_ = std::min(best, tr_best_);
    tr_seen_ = n;
    if (tr_success_ >= kTrSuccessTolerance) tr_length_ = std::min(2.0 * tr_length_, kTrMaxLength), tr_success_ = 0;
    if (tr_failure_ >= std::max(4, dim_)) tr_length_ /= 2.0, tr_failure_ = 0;
    if (tr_length_ < kTrMinLength) tr_length_ = kTrInitialLength;
  }

  // The trust-region box: side tr_length_ scaled per coordinate by the lengthscales (geometric
  // mean 1), centred on the best observation, clipped to the cube.
  void trust_region_box(const GaussianProcess& gp, Eigen::VectorXd& lower, Eigen::VectorXd& upper) const {
    const size_t best = static_cast<size_t>(std::min_element(ys_.begin(), ys_.end()) - ys_.begin());
    const Point& centre = xs_[best];
    Eigen::ArrayXd w = gp.kernel().log_params().head(dim_).array();
    w = (w - w.mean()).exp();
    lower = (centre.array() - 0.5 * tr_length_ * w).max(0.0).matrix();
    upper = (centre.array() + 0.5 * tr_length_ * w).min(1.0).matrix();
  }

  // log p(y | θ̂) + log p(θ̂) in y units: the model's objective (standardized units) minus the
  // log of its standardization scale per point, plus the warp's log Jacobian.
  static double evidence(const GaussianProcess& gp, const Eigen::VectorXd& y, const YeoJohnson* warp) {
    const Eigen::VectorXd& t = gp.y();
    const double n = static_cast<double>(t.size());
    const double sd = std::sqrt((t.array() - t.mean()).square().sum() / std::max(1.0, n - 1));
    double value = gp.log_posterior(gp.hyperparameters(), nullptr) - n * std::log(sd > 0 ? sd : 1.0);
    if (warp)
      for (Eigen::Index i = 0; i < y.size(); ++i) value += std::log(warp->derivative(y[i]));
    return value;
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

  bool near_any(const Point& x, const std::vector<Point>& points) const {
    for (const auto& p : points)
      if ((p - x).squaredNorm() < 1e-12) return true;
    for (const auto* list : {&xs_, &failed_})
      for (const auto& p : *list)
        if ((p - x).squaredNorm() < 1e-12) return true;
    return false;
  }

  Point maximize_acquisition(const GaussianProcess& gp, double incumbent, const std::vector<Point>& avoid, double budget_s) {
    const auto started = Clock::now();
    const AcquisitionContext ctx{gp, incumbent, rng_};

    // Candidates: a fresh scrambled Sobol set, the same number inside the trust region, and
    // Gaussian perturbations of the best points. Scoring costs O(n²) per candidate (the posterior
    // variance): with many observations, score fewer and rely on the local polishing.
    const int count = std::clamp(static_cast<int>(options_.candidates * 300.0 / std::max<Eigen::Index>(gp.size(), 300)),
                                 std::min(options_.candidates, 256), options_.candidates);
    SobolSequence candidates_sequence(dim_, rng_() | 1);
    Eigen::MatrixXd candidates = candidates_sequence.next(count);
    if (options_.trust_region == "candidates") {
      // TuRBO's candidates: Sobol points in the box, each moving a random subset of about
      // kTrPerturbed coordinates (all of them up to that dimension) away from the best point.
      Eigen::VectorXd lower, upper;
      trust_region_box(gp, lower, upper);
      const size_t best = static_cast<size_t>(std::min_element(ys_.begin(), ys_.end()) - ys_.begin());
      const Point& centre = xs_[best];
      // Past the fitting subset the model is local enough for half as many (keeps n = 2000 fast).
      const int tr_count = gp.size() > kFitSubset ? count / 2 : count;
      SobolSequence tr_sequence(dim_, rng_() | 1);
      const Eigen::MatrixXd raw = tr_sequence.next(tr_count);
      const double p = std::min(1.0, kTrPerturbed / dim_);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      std::uniform_int_distribution<int> pick(0, dim_ - 1);
      const Eigen::Index base = candidates.rows();
      candidates.conservativeResize(base + tr_count, Eigen::NoChange);
      for (int k = 0; k < tr_count; ++k) {
        bool any = false;
        for (int d = 0; d < dim_; ++d) {
          const bool perturb = p >= 1.0 || u(rng_) < p;
          any = any || perturb;
          candidates(base + k, d) = perturb ? lower[d] + (upper[d] - lower[d]) * raw(k, d) : centre[d];
        }
        if (!any) {
          const int d = pick(rng_);
          candidates(base + k, d) = lower[d] + (upper[d] - lower[d]) * raw(k, d);
        }
      }
    }
    const int local = std::min<int>(static_cast<int>(ys_.size()), 5) * 20;
    if (local > 0) {
      std::vector<size_t> order(ys_.size());
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + std::min<size_t>(5, order.size()), order.end(),
                        [&](size_t a, size_t b) { return ys_[a] < ys_[b]; });
      std::normal_distribution<double> step(0.0, 0.05);
      const Eigen::Index base = candidates.rows();
      candidates.conservativeResize(base + local, Eigen::NoChange);
      for (int k = 0; k < local; ++k) {
        const Point& centre = xs_[order[static_cast<size_t>(k / 20)]];
        for (int d = 0; d < dim_; ++d) candidates(base + k, d) = std::clamp(centre[d] + step(rng_), 0.0, 1.0);
      }
    }
    // Score where experiments could really run: a relaxed one-hot point between choices is far
    // from every observation, and its score says nothing about any choice.
    if (discrete_)
      for (Eigen::Index k = 0; k < candidates.rows(); ++k) candidates.row(k) = space_.canonical(candidates.row(k).transpose()).transpose();
    // A non-finite score (NaN or ±inf from a broken posterior) is no information: it ranks last.
    // Sorting NaNs would break std::sort's ordering contract (undefined behaviour: a crash).
    Eigen::VectorXd scores = active_->score(ctx, candidates);
    bool any_finite = false;
    for (Eigen::Index k = 0; k < scores.size(); ++k) {
      if (!std::isfinite(scores[k])) scores[k] = -std::numeric_limits<double>::infinity();
      any_finite = any_finite || std::isfinite(scores[k]);
    }
    if (!any_finite) return Point();  // the caller proposes a space-filling point

    std::vector<Eigen::Index> order(static_cast<size_t>(candidates.rows()));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return scores[a] > scores[b]; });

    Point best;
    double best_score = -std::numeric_limits<double>::infinity();
    auto offer = [&](const Point& x, double score) {
      if (!x.allFinite()) return;
      if (!std::isfinite(score)) score = -std::numeric_limits<double>::infinity();  // NaN would stick as the best
      if ((score > best_score || best.size() == 0) && !near_any(x, avoid)) best = x, best_score = score;
    };
    // Snap to the space, then settle the categorical choices for that numeric part: the relaxed
    // one-hot optimum is only a hint. With few combinations try them all (once per numeric part:
    // in a purely categorical space that is once per proposal); with more, climb by changing one
    // choice at a time.
    std::vector<Point> enumerated;
    auto consider = [&](const Point& raw) {
      const Point x = space_.canonical(raw);
      if (combinations_ > kMaxCombinations) {
        categorical_local_search(ctx, x, offer);
        return;
      }
      const Point numeric = numeric_part(x);
      for (const Point& e : enumerated)
        if ((e - numeric).squaredNorm() < 1e-24) return;
      enumerated.push_back(numeric);
      const std::vector<Point> variants = categorical_variants(x);
      Eigen::MatrixXd rows(static_cast<Eigen::Index>(variants.size()), dim_);
      for (size_t k = 0; k < variants.size(); ++k) rows.row(static_cast<Eigen::Index>(k)) = variants[k].transpose();
      const Eigen::VectorXd s = active_->score(ctx, rows);
      for (size_t k = 0; k < variants.size(); ++k) offer(variants[k], s[static_cast<Eigen::Index>(k)]);
    };

    const bool polish = active_->has_gradient();
    int polished = 0;
    // Each polishing step costs O(n²) like the scoring: with many results, fewer starts.
    const int local_starts = gp.size() > 1000 ? std::min(options_.local_starts, 2) : options_.local_starts;
    for (Eigen::Index idx : order) {
      if (polished >= local_starts) break;
      const bool out_of_time = std::chrono::duration<double>(Clock::now() - started).count() > budget_s;
      Point start = candidates.row(idx).transpose();
      if (polish && !out_of_time && polishable_) start = local_maximum(ctx, start);
      consider(start);
      ++polished;
    }
    // Everything near taken points (tiny discrete spaces): take the best unused candidate.
    for (size_t k = 0; best.size() == 0 && k < order.size(); ++k) consider(candidates.row(order[k]).transpose());
    if (best.size() == 0) best = space_.canonical(candidates.row(order.front()).transpose());
    return best;
  }

  // x with each combination of categorical choices (x itself when there are none).
  std::vector<Point> categorical_variants(const Point& x) const {
    std::vector<Point> variants{x};
    for (int i = 0; i < space_.size(); ++i) {
      const Parameter& p = space_.parameters()[static_cast<size_t>(i)];
      if (p.type != ParameterType::categorical) continue;
      std::vector<Point> next;
      for (const Point& v : variants)
        for (int c = 0; c < p.cube_width(); ++c) next.push_back(with_choice(v, i, c));
      variants = std::move(next);
    }
    return variants;
  }

  Point with_choice(const Point& x, int parameter, int choice) const {
    Point w = x;
    w.segment(space_.offset(parameter), space_.parameters()[static_cast<size_t>(parameter)].cube_width()).setZero();
    w[space_.offset(parameter) + choice] = 1.0;
    return w;
  }

  // x with every categorical coordinate zeroed: what the enumerated variants of x share.
  Point numeric_part(const Point& x) const {
    Point w = x;
    for (int d = 0; d < dim_; ++d)
      if (categorical_coordinate_[static_cast<size_t>(d)]) w[d] = 0.0;
    return w;
  }

  // Too many combinations to enumerate: from x, move to the best point that differs in one
  // categorical choice while that improves the acquisition (a local search in the Hamming
  // neighbourhood). Every point scored on the way is offered, so the best one not yet taken wins
  // even when the climb ends on an observed point.
  template <typename Offer>
  void categorical_local_search(const AcquisitionContext& ctx, Point x, Offer& offer) const {
    Eigen::MatrixXd one(1, dim_);
    one.row(0) = x.transpose();
    double current = active_->score(ctx, one)[0];
    offer(x, current);
    for (int step = 0; step < kMaxLocalSearchSteps; ++step) {
      std::vector<Point> neighbours;
      for (int i = 0; i < space_.size(); ++i) {
        const Parameter& p = space_.parameters()[static_cast<size_t>(i)];
        if (p.type != ParameterType::categorical) continue;
        for (int c = 0; c < p.cube_width(); ++c)
          if (x[space_.offset(i) + c] != 1.0) neighbours.push_back(with_choice(x, i, c));
      }
      Eigen::MatrixXd rows(static_cast<Eigen::Index>(neighbours.size()), dim_);
      for (size_t k = 0; k < neighbours.size(); ++k) rows.row(static_cast<Eigen::Index>(k)) = neighbours[k].transpose();
      const Eigen::VectorXd s = active_->score(ctx, rows);
      Eigen::Index top = 0;
      for (Eigen::Index k = 0; k < s.size(); ++k) {
        offer(neighbours[static_cast<size_t>(k)], s[k]);
        if (s[k] > s[top]) top = k;
      }
      if (s.size() == 0 || !(s[top] > current)) return;
      current = s[top];
      x = neighbours[static_cast<size_t>(top)];
    }
  }

  Point local_maximum(const AcquisitionContext& ctx, const Point& start) {
    nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(dim_));
    // Categorical coordinates stay where they are (their choices are settled by enumeration or
    // local search); the others move within the cube, integers relaxed.
    std::vector<double> lower(static_cast<size_t>(dim_)), upper(static_cast<size_t>(dim_));
    for (int d = 0; d < dim_; ++d) {
      lower[static_cast<size_t>(d)] = categorical_coordinate_[static_cast<size_t>(d)] ? start[d] : 0.0;
      upper[static_cast<size_t>(d)] = categorical_coordinate_[static_cast<size_t>(d)] ? start[d] : 1.0;
    }
    opt.set_lower_bounds(lower);
    opt.set_upper_bounds(upper);
    opt.set_maxeval(60);
    opt.set_xtol_rel(1e-6);
    struct Data {
      const Acquisition* acquisition;
      const AcquisitionContext* ctx;
      const std::vector<bool>* fixed;
    } data{active_, &ctx, &categorical_coordinate_};
    opt.set_max_objective(
        [](const std::vector<double>& v, std::vector<double>& grad, void* raw) {
          auto* d = static_cast<Data*>(raw);
          const Eigen::Map<const Eigen::VectorXd> x(v.data(), static_cast<Eigen::Index>(v.size()));
          Eigen::VectorXd g;
          const double s = d->acquisition->score(*d->ctx, Eigen::VectorXd(x), g);
          if (!grad.empty())
            for (size_t k = 0; k < grad.size(); ++k) grad[k] = (*d->fixed)[k] ? 0.0 : g[static_cast<Eigen::Index>(k)];
          return std::isfinite(s) ? s : -1e300;
        },
        &data);
    std::vector<double> v(start.data(), start.data() + start.size());
    double value = 0;
    try {
      opt.optimize(v, value);
    } catch (const std::exception&) {
      // NLopt gives up on rounding trouble near the optimum; v holds its best point so far.
    }
    const Point polished = Eigen::Map<Eigen::VectorXd>(v.data(), dim_);
    return polished.allFinite() ? polished : start;  // NaN gradients can lead L-BFGS astray
  }

  Space space_;
  int dim_;
  long long combinations_ = 1;  // of categorical choices (capped at kMaxCombinations + 1)
  bool discrete_ = false;        // some parameter is integer or categorical
  bool polishable_ = false;      // some parameter is not categorical (gradient polishing applies)
  std::vector<bool> categorical_coordinate_;  // per cube coordinate
  BayesianOptions options_;
  std::mt19937_64 rng_;
  SobolSequence sobol_;
  Eigen::MatrixXd initial_points_;
  int next_initial_ = 0;
  std::unique_ptr<Acquisition> acquisition_;
  std::unique_ptr<Acquisition> in_flight_;  // for points proposed while others are pending (null: acquisition_)
  const Acquisition* active_ = nullptr;      // the one maximize_acquisition uses
  GaussianProcessOptions gp_options_;
  std::unique_ptr<GaussianProcess> model_;
  Eigen::Index last_fit_n_ = 0;
  int fits_ = 0;
  std::string note_;
  std::vector<Point> xs_;
  std::vector<double> ys_;
  std::vector<Point> failed_;
  struct Arrival {
    size_t index;  // into xs_/ys_, or into failed_
    bool failed;
  };
  std::vector<Arrival> arrivals_;  // every result in the order it was told
  Eigen::Index modelled_ = 0;      // how many of them model_ holds
  MagnitudeCompression compression_;  // frozen between refits, like the warp; before it
  YeoJohnson warp_;                // frozen between refits; the identity until fitted
  bool warped_ = false;            // "select": whether the last model choice kept the warp
  static constexpr double kTrInitialLength = 0.8, kTrMinLength = 0.0078125, kTrMaxLength = 1.6;
  static constexpr int kTrSuccessTolerance = 3;
  static constexpr double kTrPerturbed = 20.0;
  double tr_length_ = kTrInitialLength;
  double tr_best_ = 0;
  size_t tr_seen_ = 0;
  int tr_success_ = 0, tr_failure_ = 0;
};

}  // namespace

std::unique_ptr<Planner> make_bayesian_planner(const PlannerContext& context) {
  check_planner_options(context, {"initial", "initial_design", "acquisition", "beta", "kernel", "candidates", "local_starts", "refit_every", "time_limit_s", "output_transform", "trust_region", "categorical_lengthscale", "additive"});
  const nlohmann::json& o = context.config.options;
  BayesianOptions options;
  auto fail = [&](const std::string& key, const std::string& reason) -> void { throw ConfigError(context.source, "/planner/" + key, reason); };
  // Upper limits keep memory and time per proposal bounded and every value inside an int
  // (docs/config.md lists them).
  auto integer = [&](const char* key, int low, int high, int& out) {
    if (!o.contains(key)) return;
    const bool integral = o[key].is_number_integer() && !(o[key].is_number_unsigned() && o[key].get<unsigned long long>() > static_cast<unsigned long long>(high));
    if (!integral || o[key].get<long long>() < low || o[key].get<long long>() > high)
      fail(key, fmt::format("must be an integer from {} to {}", low, high));
    out = static_cast<int>(o[key].get<long long>());
  };
  auto choice = [&](const char* key, const std::vector<std::string>& allowed, std::string& out) {
    if (!o.contains(key)) return;
    if (!o[key].is_string() || std::find(allowed.begin(), allowed.end(), o[key].get<std::string>()) == allowed.end())
      fail(key, fmt::format("must be one of: {}", fmt::join(allowed, ", ")));
    out = o[key].get<std::string>();
  };
  integer("initial", 1, 100000, options.initial);
  integer("candidates", 16, 100000, options.candidates);
  integer("local_starts", 0, 1000, options.local_starts);
  integer("refit_every", 1, 1000000, options.refit_every);
  choice("initial_design", {"sobol", "lhs"}, options.initial_design);
  choice("acquisition", acquisition_names(), options.acquisition);
  std::vector<std::string> kernels = kernel_names();
  kernels.push_back("select");
  choice("kernel", kernels, options.kernel);
  choice("output_transform", {"select", "yeo_johnson", "none"}, options.output_transform);
  choice("trust_region", {"candidates", "off"}, options.trust_region);
  choice("categorical_lengthscale", {"shared", "per_choice"}, options.categorical_lengthscale);
  choice("additive", {"auto", "on", "off"}, options.additive);
  if (o.contains("beta")) {
    if (!o["beta"].is_number() || !(o["beta"].get<double>() > 0 && o["beta"].get<double>() <= 1e6)) fail("beta", "must be a number > 0 and at most 1e6");
    options.beta = o["beta"];
  }
  if (o.contains("time_limit_s")) {
    if (!o["time_limit_s"].is_number() || !(o["time_limit_s"].get<double>() > 0 && o["time_limit_s"].get<double>() <= 86400))
      fail("time_limit_s", "must be a number of seconds > 0 and at most 86400");
    options.time_limit_s = o["time_limit_s"];
  }
  if (context.space.cube_dim() > SobolSequence::kMaxDim)
    fail("kind", fmt::format("bayesian supports at most {} cube dimensions (this space has {})", SobolSequence::kMaxDim, context.space.cube_dim()));
  return std::make_unique<BayesianPlanner>(context.space, context.seed, options);
}

}  // namespace labloop::detail
