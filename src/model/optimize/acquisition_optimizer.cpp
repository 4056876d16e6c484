// Maximizing the acquisition. Candidates: a fresh scrambled Sobol set, the same number inside the
// trust region (TuRBO: Eriksson et al., NeurIPS 2019), and Gaussian perturbations of the best
// points; the best few are polished with bounded L-BFGS using the analytic gradient, snapped to
// the space (integers, discrete levels, one-hot categoricals) and re-scored with their categorical
// choices settled. Discrete parameters follow the integer path: relaxed, then snapped by
// Space::canonical to the nearest level.
//
// The random draws (candidate sets, perturbations, the acquisition's own) come from the planner's
// generator in a fixed order, so a seed still reproduces a campaign's proposals exactly.
#include "acquisition_optimizer.hpp"

#include <nlopt.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "labloop/model/planner.hpp"
#include "labloop/model/sobol.hpp"
#include "model_selection.hpp"

namespace labloop::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Up to this many combinations of categorical choices are enumerated for each candidate; beyond,
// a local search changes one choice at a time, at most this many times.
constexpr long long kMaxCombinations = 4096;
// Candidates scored for a proposal asked past the time limit (a batch's later points).
constexpr int kCandidatesPastLimit = 64;
constexpr int kMaxLocalSearchSteps = 50;
// Candidates drawn inside the constraints whatever the time limit says.
constexpr int kTimedCandidatesFloor = 64;

}  // namespace

// The best point offered so far that is not near a point to avoid (taken, observed or failed):
// a proposal must not repeat an experiment while another point scores at all.
// With `tie_rng` (Ties::random), among offers tied with the best one is kept with equal chance
// (reservoir sampling: the k-th tied offer replaces the kept one with probability 1/k).
class BestProposal {
 public:
  BestProposal(const std::vector<Point>& avoid, const Observations& observations, std::mt19937_64* tie_rng, double score_unit)
      : avoid_(avoid), observations_(observations), tie_rng_(tie_rng), score_unit_(score_unit) {}

  void offer(const Point& x, double score) {
    if (!x.allFinite()) return;
    if (!std::isfinite(score)) score = -std::numeric_limits<double>::infinity();  // NaN would stick as the best
    if (tie_rng_ && point_.size() != 0 && tied(score, score_, score_unit_)) {
      if (observations_.near_any(x, avoid_)) return;
      ++ties_;
      if (std::uniform_int_distribution<long long>(0, ties_ - 1)(*tie_rng_) == 0) point_ = x;
      score_ = std::max(score_, score);
      return;
    }
    if ((score > score_ || point_.size() == 0) && !observations_.near_any(x, avoid_)) point_ = x, score_ = score, ties_ = 1;
  }
  bool empty() const { return point_.size() == 0; }
  const Point& point() const { return point_; }

 private:
  const std::vector<Point>& avoid_;
  const Observations& observations_;
  std::mt19937_64* tie_rng_;
  double score_unit_;
  Point point_;
  double score_ = -std::numeric_limits<double>::infinity();
  long long ties_ = 0;  // offers tied with the kept one, itself included
};

AcquisitionOptimizer::AcquisitionOptimizer(const Space& space, AcquisitionOptimizerOptions options)
    : space_(space), dim_(space.cube_dim()), options_(options) {
  for (int i = 0; i < space.size(); ++i) {
    const Parameter& p = space.parameters()[static_cast<size_t>(i)];
    const bool is_categorical = p.type == ParameterType::categorical;
    if (is_categorical) combinations_ = std::min(combinations_ * static_cast<long long>(p.choices.size()), kMaxCombinations + 1);
    discrete_ = discrete_ || p.type != ParameterType::continuous;
    polishable_ = polishable_ || !is_categorical;
    for (int c = 0; c < p.cube_width(); ++c) categorical_coordinate_.push_back(is_categorical);
  }
  if (space.constrained()) {
    sampler_.emplace(space);
    const FeasibleRegion& region = space.region();
    const std::vector<int>& coords = region.coordinates();
    inequality_rows_ = Eigen::MatrixXd::Zero(region.inequality_rows().rows(), dim_);
    equality_rows_ = Eigen::MatrixXd::Zero(region.independent_equality_rows().rows(), dim_);
    for (size_t j = 0; j < coords.size(); ++j) {
      inequality_rows_.col(coords[j]) = region.inequality_rows().col(static_cast<Eigen::Index>(j));
      equality_rows_.col(coords[j]) = region.independent_equality_rows().col(static_cast<Eigen::Index>(j));
    }
    inequality_bounds_ = region.inequality_bounds();
    equality_values_ = region.independent_equality_values();
  }
}

// Constraints only: `count` feasible candidates near `centre`, in the box [lower, upper] (cube
// coordinates): a hit-and-run walk inside the constraints and the box, started at centre (or at
// its projection when centre itself, e.g. a prior result, is outside the constraints); the
// coordinates no constraint names are drawn uniformly in the box.
void AcquisitionOptimizer::add_feasible_near(Eigen::MatrixXd& candidates, const Point& centre, const Eigen::VectorXd& lower,
                                             const Eigen::VectorXd& upper, int count, std::mt19937_64& rng) const {
  const FeasibleRegion& region = space_.region();
  Eigen::VectorXd y = region.reduce(centre);
  if (!region.contains(y)) {
    const auto p = region.project(y);
    if (!p) return;
    y = *p;
  }
  const Eigen::VectorXd lo = region.lower().cwiseMax(region.reduce(lower).cwiseMin(y));
  const Eigen::VectorXd hi = region.upper().cwiseMin(region.reduce(upper).cwiseMax(y));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const Eigen::Index base = candidates.rows();
  candidates.conservativeResize(base + count, Eigen::NoChange);
  for (int k = 0; k < count; ++k) {
    region.hit_and_run(y, lo, hi, 3, rng);
    Point x(dim_);
    for (int d = 0; d < dim_; ++d) x[d] = lower[d] + (upper[d] - lower[d]) * u(rng);
    candidates.row(base + k) = region.expand(y, std::move(x)).transpose();
  }
}

// Trust region (Eriksson et al., NeurIPS 2019, "TuRBO"): a box around the best point whose
// side grows after a run of improving proposals and shrinks after a run of failures; when it
// collapses it restarts at its initial size.
void AcquisitionOptimizer::update_trust_region(const Observations& observations) {
  const double best = observations.ys[observations.best()];
  const size_t n = observations.ys.size();
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
void AcquisitionOptimizer::trust_region_box(const GaussianProcess& gp, const Observations& observations, Eigen::VectorXd& lower,
                                            Eigen::VectorXd& upper) const {
  const Point& centre = observations.xs[observations.best()];
  // A kernel over descriptor features (descriptors.hpp) has no lengthscale per coordinate: a cube.
  const Eigen::VectorXd log_params = gp.kernel().log_params();
  Eigen::ArrayXd w = gp.kernel().num_lengthscales() == dim_ ? Eigen::ArrayXd(log_params.head(dim_).array()) : Eigen::ArrayXd::Zero(dim_);
  w = (w - w.mean()).exp();
  lower = (centre.array() - 0.5 * tr_length_ * w).max(0.0).matrix();
  upper = (centre.array() + 0.5 * tr_length_ * w).min(1.0).matrix();
}

Point AcquisitionOptimizer::maximize(const Acquisition& acquisition, const GaussianProcess& gp, double incumbent, const std::vector<Point>& avoid,
                                     const Observations& observations, std::mt19937_64& rng, double budget_s) const {
  const auto started = Clock::now();
  const AcquisitionContext ctx{gp, incumbent, rng};

  // Candidates: a fresh scrambled Sobol set, the same number inside the trust region, and
  // Gaussian perturbations of the best points. Scoring costs O(n²) per candidate (the posterior
  // variance): with many observations, score fewer and rely on the local polishing.
  // Past the time limit (a batch's later points) a small set: each point still costs one scoring.
  const bool late = !(budget_s > 0);
  const int count = late ? std::min(options_.candidates, kCandidatesPastLimit)
                         : std::clamp(static_cast<int>(options_.candidates * 300.0 / std::max<Eigen::Index>(gp.size(), 300)),
                                      std::min(options_.candidates, 256), options_.candidates);
  Eigen::MatrixXd candidates;
  cut_short_ = false;
  ran_out_of_time_ = late;
  if (sampler_) {
    // Each draw walks 3k + 5 hit-and-run steps over the k constrained coordinates: with hundreds
    // of them a full set takes longer than the time limit (300 parameters in 61 constraints: 6 s
    // of a 5 s limit before any scoring). Drawing stops at half the budget, past a floor.
    candidates.resize(count, dim_);
    int drawn = 0;
    for (; drawn < count; ++drawn) {
      if (drawn >= kTimedCandidatesFloor && drawn % 16 == 0 && std::chrono::duration<double>(Clock::now() - started).count() > 0.5 * budget_s)
        break;
      candidates.row(drawn) = sampler_->next(rng).transpose();
    }
    if (drawn < count) {
      candidates.conservativeResize(drawn, Eigen::NoChange);
      cut_short_ = true;
    }
  } else {
    SobolSequence candidates_sequence(dim_, rng() | 1);
    candidates = candidates_sequence.next(count);
  }
  if (options_.trust_region == TrustRegion::candidates && sampler_) {
    Eigen::VectorXd lower, upper;
    trust_region_box(gp, observations, lower, upper);
    add_feasible_near(candidates, observations.xs[observations.best()], lower, upper, gp.size() > kFitSubset ? count / 2 : count, rng);
  } else if (options_.trust_region == TrustRegion::candidates) {
    // TuRBO's candidates: Sobol points in the box, each moving a random subset of about
    // kTrPerturbed coordinates (all of them up to that dimension) away from the best point.
    Eigen::VectorXd lower, upper;
    trust_region_box(gp, observations, lower, upper);
    const Point& centre = observations.xs[observations.best()];
    // Past the fitting subset the model is local enough for half as many (keeps n = 2000 fast).
    const int tr_count = gp.size() > kFitSubset ? count / 2 : count;
    SobolSequence tr_sequence(dim_, rng() | 1);
    const Eigen::MatrixXd raw = tr_sequence.next(tr_count);
    const double p = std::min(1.0, kTrPerturbed / dim_);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::uniform_int_distribution<int> pick(0, dim_ - 1);
    const Eigen::Index base = candidates.rows();
    candidates.conservativeResize(base + tr_count, Eigen::NoChange);
    for (int k = 0; k < tr_count; ++k) {
      bool any = false;
      for (int d = 0; d < dim_; ++d) {
        const bool perturb = p >= 1.0 || u(rng) < p;
        any = any || perturb;
        candidates(base + k, d) = perturb ? lower[d] + (upper[d] - lower[d]) * raw(k, d) : centre[d];
      }
      if (!any) {
        const int d = pick(rng);
        candidates(base + k, d) = lower[d] + (upper[d] - lower[d]) * raw(k, d);
      }
    }
  }
  const std::vector<double>& ys = observations.ys;
  const int per_best = late ? 4 : 20;
  const int local = std::min<int>(static_cast<int>(ys.size()), 5) * per_best;
  if (local > 0 && sampler_) {
    // Perturbations inside the constraints: short walks within ±0.1 of each of the best points.
    std::vector<size_t> order(ys.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + std::min<size_t>(5, order.size()), order.end(),
                      [&](size_t a, size_t b) { return ys[a] < ys[b]; });
    for (int k = 0; k < local / per_best; ++k) {
      const Point& centre = observations.xs[order[static_cast<size_t>(k)]];
      add_feasible_near(candidates, centre, (centre.array() - 0.1).max(0.0).matrix(), (centre.array() + 0.1).min(1.0).matrix(), per_best, rng);
    }
  } else if (local > 0) {
    std::vector<size_t> order(ys.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + std::min<size_t>(5, order.size()), order.end(),
                      [&](size_t a, size_t b) { return ys[a] < ys[b]; });
    std::normal_distribution<double> step(0.0, 0.05);
    const Eigen::Index base = candidates.rows();
    candidates.conservativeResize(base + local, Eigen::NoChange);
    for (int k = 0; k < local; ++k) {
      const Point& centre = observations.xs[order[static_cast<size_t>(k / per_best)]];
      for (int d = 0; d < dim_; ++d) candidates(base + k, d) = std::clamp(centre[d] + step(rng), 0.0, 1.0);
    }
  }
  // Score where experiments could really run: a relaxed one-hot point between choices is far
  // from every observation, and its score says nothing about any choice.
  if (discrete_ || sampler_)
    for (Eigen::Index k = 0; k < candidates.rows(); ++k) candidates.row(k) = space_.canonical(candidates.row(k).transpose()).transpose();
  // With constraints, a candidate whose setting violates them (integers rounded out) is dropped
  // below: its score becomes -inf.
  std::vector<bool> dropped(static_cast<size_t>(candidates.rows()), false);
  if (sampler_)
    for (Eigen::Index k = 0; k < candidates.rows(); ++k) dropped[static_cast<size_t>(k)] = !space_.feasible(candidates.row(k).transpose());
  // A non-finite score (NaN or ±inf from a broken posterior) is no information: it ranks last.
  // Sorting NaNs would break std::sort's ordering contract (undefined behaviour: a crash).
  Eigen::VectorXd scores = acquisition.score(ctx, candidates);
  bool any_finite = false;
  for (Eigen::Index k = 0; k < scores.size(); ++k) {
    if (!std::isfinite(scores[k]) || dropped[static_cast<size_t>(k)]) scores[k] = -std::numeric_limits<double>::infinity();
    any_finite = any_finite || std::isfinite(scores[k]);
  }
  if (!any_finite) return Point();  // the caller proposes a space-filling point

  std::vector<Eigen::Index> order(static_cast<size_t>(candidates.rows()));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) { return scores[a] > scores[b]; });

  BestProposal best(avoid, observations, options_.ties == Ties::random ? &rng : nullptr, acquisition.score_unit(ctx));
  // Snap to the space, then settle the categorical choices for that numeric part: the relaxed
  // one-hot optimum is only a hint. With few combinations try them all (once per numeric part:
  // in a purely categorical space that is once per proposal); with more, climb by changing one
  // choice at a time.
  std::vector<Point> enumerated;
  bool out_of_time = false;
  auto consider = [&](const Point& raw, double score) {
    if (out_of_time) {
      // Past the time limit a candidate is taken as scored: enumerating a categorical
      // neighbourhood costs as much again as the whole candidate set (a batch of 8 in a space of
      // 3458 combinations took 50 times its limit).
      const Point x = space_.canonical(raw);
      if (!sampler_ || space_.feasible(x)) best.offer(x, score);
      return;
    }
    Point x = space_.canonical(raw);
    if (sampler_ && !space_.feasible(x)) {
      const auto repaired = space_.repair(raw);
      if (!repaired) return;
      x = *repaired;
    }
    if (combinations_ > kMaxCombinations) {
      categorical_local_search(acquisition, ctx, x, best);
      return;
    }
    const Point numeric = numeric_part(x);
    for (const Point& e : enumerated)
      if ((e - numeric).squaredNorm() < 1e-24) return;
    enumerated.push_back(numeric);
    const std::vector<Point> variants = categorical_variants(x);
    Eigen::MatrixXd rows(static_cast<Eigen::Index>(variants.size()), dim_);
    for (size_t k = 0; k < variants.size(); ++k) rows.row(static_cast<Eigen::Index>(k)) = variants[k].transpose();
    const Eigen::VectorXd s = acquisition.score(ctx, rows);
    for (size_t k = 0; k < variants.size(); ++k) best.offer(variants[k], s[static_cast<Eigen::Index>(k)]);
  };

  const bool polish = acquisition.has_gradient();
  int polished = 0;
  // Each polishing step costs O(n²) like the scoring: with many results, fewer starts.
  const int local_starts = gp.size() > 1000 ? std::min(options_.local_starts, 2) : options_.local_starts;
  for (Eigen::Index idx : order) {
    if (polished >= local_starts) break;
    out_of_time = std::chrono::duration<double>(Clock::now() - started).count() > budget_s;
    ran_out_of_time_ = ran_out_of_time_ || out_of_time;
    if (out_of_time && !best.empty()) break;
    Point start = candidates.row(idx).transpose();
    if (polish && !out_of_time && polishable_) start = sampler_ ? constrained_local_maximum(acquisition, ctx, start) : local_maximum(acquisition, ctx, start);
    consider(start, scores[idx]);
    ++polished;
  }
  // Everything near taken points (tiny discrete spaces): take the best unused candidate.
  // (With constraints, not the dropped ones: repairing each of thousands would cost seconds.)
  for (size_t k = 0; best.empty() && k < order.size(); ++k)
    if (!dropped[static_cast<size_t>(order[k])]) consider(candidates.row(order[k]).transpose(), scores[order[k]]);
  if (best.empty() && sampler_) {
    // Only feasible candidates kept a finite score; order puts them first.
    return std::isfinite(scores[order.front()]) ? Point(candidates.row(order.front()).transpose()) : Point();
  }
  if (best.empty()) return space_.canonical(candidates.row(order.front()).transpose());
  return best.point();
}

// x with each combination of categorical choices (x itself when there are none).
std::vector<Point> AcquisitionOptimizer::categorical_variants(const Point& x) const {
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

Point AcquisitionOptimizer::with_choice(const Point& x, int parameter, int choice) const {
  Point w = x;
  w.segment(space_.offset(parameter), space_.parameters()[static_cast<size_t>(parameter)].cube_width()).setZero();
  w[space_.offset(parameter) + choice] = 1.0;
  return w;
}

// x with every categorical coordinate zeroed: what the enumerated variants of x share.
Point AcquisitionOptimizer::numeric_part(const Point& x) const {
  Point w = x;
  for (int d = 0; d < dim_; ++d)
    if (categorical_coordinate_[static_cast<size_t>(d)]) w[d] = 0.0;
  return w;
}

// Too many combinations to enumerate: from x, move to the best point that differs in one
// categorical choice while that improves the acquisition (a local search in the Hamming
// neighbourhood). Every point scored on the way is offered, so the best one not yet taken wins
// even when the climb ends on an observed point.
void AcquisitionOptimizer::categorical_local_search(const Acquisition& acquisition, const AcquisitionContext& ctx, Point x,
                                                    BestProposal& best) const {
  Eigen::MatrixXd one(1, dim_);
  one.row(0) = x.transpose();
  double current = acquisition.score(ctx, one)[0];
  best.offer(x, current);
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
    const Eigen::VectorXd s = acquisition.score(ctx, rows);
    Eigen::Index top = 0;
    for (Eigen::Index k = 0; k < s.size(); ++k) {
      best.offer(neighbours[static_cast<size_t>(k)], s[k]);
      if (s[k] > s[top]) top = k;
    }
    if (s.size() == 0 || !(s[top] > current)) return;
    current = s[top];
    x = neighbours[static_cast<size_t>(top)];
  }
}

Point AcquisitionOptimizer::local_maximum(const Acquisition& acquisition, const AcquisitionContext& ctx, const Point& start) const {
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
    double unit;
  } data{&acquisition, &ctx, &categorical_coordinate_, acquisition.score_unit(ctx)};
  opt.set_max_objective(
      [](const std::vector<double>& v, std::vector<double>& grad, void* raw) {
        auto* d = static_cast<Data*>(raw);
        const Eigen::Map<const Eigen::VectorXd> x(v.data(), static_cast<Eigen::Index>(v.size()));
        Eigen::VectorXd g;
        // In the score's unit: L-BFGS stops where gradients of y in small units (1e-15) are.
        const double s = d->acquisition->score(*d->ctx, Eigen::VectorXd(x), g) / d->unit;
        if (!grad.empty())
          for (size_t k = 0; k < grad.size(); ++k) grad[k] = (*d->fixed)[k] ? 0.0 : g[static_cast<Eigen::Index>(k)] / d->unit;
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

namespace {

struct AcquisitionPolish {
  const Acquisition* acquisition;
  const AcquisitionContext* ctx;
  double unit;  // the acquisition's score_unit()
};
struct AcquisitionRows {
  const Eigen::MatrixXd* rows;
  const Eigen::VectorXd* values;
};

// Linear constraints rows·x − values (≤ 0 or = 0) for NLopt, gradient rows (m × n, row-major).
void acquisition_constraint_rows(unsigned m, double* result, unsigned n, const double* x, double* grad, void* raw) {
  const auto* r = static_cast<const AcquisitionRows*>(raw);
  Eigen::Map<Eigen::VectorXd>(result, m) = (*r->rows) * Eigen::Map<const Eigen::VectorXd>(x, n) - *r->values;
  if (grad) Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(grad, m, n) = *r->rows;
}

}  // namespace

// With linear constraints: SLSQP (L-BFGS takes bounds only), the constraints' rows normalized as
// in FeasibleRegion; categorical coordinates held, integers relaxed to their value range.
Point AcquisitionOptimizer::constrained_local_maximum(const Acquisition& acquisition, const AcquisitionContext& ctx, const Point& start) const {
  nlopt::opt opt(nlopt::LD_SLSQP, static_cast<unsigned>(dim_));
  std::vector<double> lower(static_cast<size_t>(dim_), 0.0), upper(static_cast<size_t>(dim_), 1.0);
  for (int d = 0; d < dim_; ++d)
    if (categorical_coordinate_[static_cast<size_t>(d)]) lower[static_cast<size_t>(d)] = upper[static_cast<size_t>(d)] = start[d];
  const FeasibleRegion& region = space_.region();
  for (size_t j = 0; j < region.coordinates().size(); ++j) {
    lower[static_cast<size_t>(region.coordinates()[j])] = region.lower()[static_cast<Eigen::Index>(j)];
    upper[static_cast<size_t>(region.coordinates()[j])] = region.upper()[static_cast<Eigen::Index>(j)];
  }
  opt.set_lower_bounds(lower);
  opt.set_upper_bounds(upper);
  opt.set_maxeval(60);
  opt.set_xtol_rel(1e-6);
  AcquisitionPolish data{&acquisition, &ctx, acquisition.score_unit(ctx)};
  opt.set_max_objective(
      [](const std::vector<double>& v, std::vector<double>& grad, void* raw) {
        auto* d = static_cast<AcquisitionPolish*>(raw);
        const Eigen::Map<const Eigen::VectorXd> x(v.data(), static_cast<Eigen::Index>(v.size()));
        Eigen::VectorXd g;
        const double s = d->acquisition->score(*d->ctx, Eigen::VectorXd(x), g) / d->unit;  // as in local_maximum
        if (!grad.empty())
          for (size_t k = 0; k < grad.size(); ++k)
            grad[k] = std::isfinite(g[static_cast<Eigen::Index>(k)]) ? g[static_cast<Eigen::Index>(k)] / d->unit : 0.0;
        return std::isfinite(s) ? s : -1e300;
      },
      &data);
  AcquisitionRows inequalities{&inequality_rows_, &inequality_bounds_}, equalities{&equality_rows_, &equality_values_};
  if (inequality_rows_.rows() > 0)
    opt.add_inequality_mconstraint(acquisition_constraint_rows, &inequalities, std::vector<double>(static_cast<size_t>(inequality_rows_.rows()), 1e-12));
  if (equality_rows_.rows() > 0)
    opt.add_equality_mconstraint(acquisition_constraint_rows, &equalities, std::vector<double>(static_cast<size_t>(equality_rows_.rows()), 1e-12));
  std::vector<double> v(start.data(), start.data() + start.size());
  for (size_t d = 0; d < v.size(); ++d) v[d] = std::clamp(v[d], lower[d], upper[d]);
  double value = 0;
  try {
    opt.optimize(v, value);
  } catch (const std::exception&) {
    // As for L-BFGS: v holds the best point so far; consider() repairs or drops it.
  }
  const Point polished = Eigen::Map<Eigen::VectorXd>(v.data(), dim_);
  return polished.allFinite() ? polished : start;
}

}  // namespace labloop::detail
