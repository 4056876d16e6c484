// The Bayesian planner's surrogate: kernel and output warp chosen by evidence (MacKay 1992;
// Snelson et al., NIPS 2003) at every tenth fit up to kSelectMax observations (defaults chosen on
// the bench problems: docs/benchmarks.md); hyperparameters on a subset past kFitSubset.
#include "model_selection.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "labloop/core/error.hpp"

namespace labloop::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Kernel and output-warp selection (when asked for) runs at fresh fits up to this many observations;
// beyond, the last choice is kept.
constexpr Eigen::Index kSelectMax = 200;

}  // namespace

ModelSelection::ModelSelection(const Space& space, std::uint64_t seed, ModelSelectionOptions options)
    : dim_(space.cube_dim()), options_(std::move(options)) {
  gp_options_.kernel = options_.kernel;
  gp_options_.noise_sd = options_.noise_sd;
  if (options_.noise_sd > 0 && always_warps(options_.output_transform))
    throw PlannerError(
        "an objective's stated \"noise\" is in result units, which a warp of the results (\"output_transform\") would change: "
        "leave \"output_transform\" at \"select\" or \"none\", or remove the objective's \"noise\"");
  gp_options_.kernel_options = options_.kernel_options;
  gp_options_.seed = seed;
  bool categorical = false;
  for (int i = 0; i < space.size(); ++i) {
    const Parameter& p = space.parameters()[static_cast<size_t>(i)];
    // Integer and discrete parameters are one numeric coordinate each, like continuous ones.
    categorical = categorical || p.type == ParameterType::categorical;
    for (int c = 0; c < p.cube_width(); ++c)
      // One lengthscale per parameter, not per choice: with a handful of results a lengthscale
      // per choice is mostly unidentified, and many choices would swamp the others.
      if (options_.categorical_lengthscale == CategoricalLengthscale::shared) gp_options_.lengthscale_groups.push_back(i);
  }
  // Categorical effects are mostly main effects ("this ligand is good"): the additive half of the
  // kernel carries them across combinations (docs/benchmarks.md, pool-based lookup tables).
  gp_options_.additive = options_.additive == AdditiveKernel::on || (options_.additive == AdditiveKernel::automatic && categorical);
  gp_options_.fit_kernel_own_params = options_.additive_share == AdditiveShare::fitted;
  one_hot_options_ = gp_options_;
  // Descriptors (descriptors.hpp): the same model over the choices' descriptor features, one
  // lengthscale per parameter (shared) or per feature (per_choice), chosen against one-hot by evidence.
  if (std::optional<FeatureMap> map = descriptor_feature_map(space)) {
    GaussianProcessOptions o = gp_options_;
    o.input_map = std::move(map->matrix);
    o.lengthscale_groups.clear();
    if (options_.categorical_lengthscale == CategoricalLengthscale::shared) o.lengthscale_groups = std::move(map->groups);
    o.input_residual = options_.one_hot_residual;
    o.residual_lengthscale_groups = gp_options_.lengthscale_groups;
    if (options_.one_hot_residual) {
      // The model over descriptors holds one over the choices, whose share the fit sets: no
      // choice between the two by evidence (their hyperparameter counts differ, and the MAP
      // objective is no evidence across those).
      gp_options_ = std::move(o);
      descriptors_ = true;
    } else {
      descriptor_options_ = std::move(o);
    }
  }
  model_ = std::make_unique<GaussianProcess>(dim_, gp_options_);
}

// The data the model sees: observations plus failures taught as the worst value so far, in
// the order they arrived. Between hyperparameter refits the output transform is frozen too, so
// each new result extends the Cholesky factor by one row (O(n²)) instead of refactorizing.
bool ModelSelection::fit(const Observations& observations, std::mt19937_64& rng, double max_seconds) {
  const auto started = Clock::now();
  auto remaining = [&] { return max_seconds - std::chrono::duration<double>(Clock::now() - started).count(); };
  const std::vector<double>& ys = observations.ys;
  const Eigen::Index n = static_cast<Eigen::Index>(observations.arrivals.size());
  const double worst = *std::max_element(ys.begin(), ys.end());
  auto value = [&](const Observations::Arrival& a) { return a.failed ? worst : ys[a.index]; };
  bool refit = n - last_fit_n_ >= options_.refit_every || last_fit_n_ == 0;
  if (!refit) {
    // The frozen transforms must take every new value to a finite, representable one; an
    // extreme value the compression was not fitted for (or one the warp overflows) refits.
    std::vector<double> t;
    for (Eigen::Index k = modelled_; k < n && !refit; ++k) {
      const double v = value(observations.arrivals[static_cast<size_t>(k)]);
      t.push_back(warp_.transform(half_rank_.transform(compression_.transform(v))));
      refit = (!compression_.active() && MagnitudeCompression::extreme(v)) || !std::isfinite(t.back()) ||
              std::abs(t.back()) > MagnitudeCompression::kThreshold;
    }
    if (!refit) {
      for (Eigen::Index k = modelled_; k < n; ++k)
        model_->add_observation(observations.point(observations.arrivals[static_cast<size_t>(k)]), t[static_cast<size_t>(k - modelled_)]);
      modelled_ = n;
      return true;
    }
  }
  Eigen::MatrixXd x(n, dim_);
  Eigen::VectorXd y(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    const Observations::Arrival& a = observations.arrivals[static_cast<size_t>(k)];
    x.row(k) = observations.point(a).transpose();
    y[k] = value(a);
  }
  // Everything below sees compressed values (the identity unless some value is extreme).
  compression_.fit(Eigen::Map<const Eigen::VectorXd>(ys.data(), static_cast<Eigen::Index>(ys.size())));
  const Eigen::VectorXd observed =
      compression_.transform(Eigen::Map<const Eigen::VectorXd>(ys.data(), static_cast<Eigen::Index>(ys.size())));
  y = compression_.transform(y);
  // A floor — the worst value shared by several results (no product, a detection limit) — says
  // "this bad or worse", not how bad: under "auto" the worse half then goes by rank instead of
  // by value (docs/decisions/0017). Not with a stated noise, which is in result units.
  bool at_floor = false;
  if (options_.output_transform == OutputTransform::automatic && !(options_.noise_sd > 0) && observed.size() > 0)
    at_floor = (observed.array() == observed.maxCoeff()).count() >= 2;
  const bool half_ranked = options_.output_transform == OutputTransform::half_rank || at_floor;
  half_rank_ = HalfRankWarp{};
  if (at_floor) warp_ = YeoJohnson{}, warped_ = false;
  if (half_ranked) {
    // Warped before anything else sees the values: the kernel choice below compares models of the
    // same warped values, and the power warp stays the identity.
    half_rank_.fit(observed);
    y = half_rank_.transform(y);
  }
  last_fit_n_ = modelled_ = n;
  // Between iterations θ barely moves: polish it, and only now and then search afresh.
  // Past the fitting subset, 25 new results among hundreds barely move θ, and a multi-start
  // search there would cost more than a proposal may take: only the first fit searches afresh.
  const bool fresh = n > kFitSubset ? fits_++ == 0 : fits_++ % 10 == 0;
  const int restarts = fresh ? 2 : 0;
  const bool select_kernel = options_.kernel_choice == KernelChoice::select, select_warp =
      options_.output_transform == OutputTransform::select || (options_.output_transform == OutputTransform::automatic && !at_floor);
  const bool select_encoding = descriptor_options_.has_value();
  if ((select_kernel || select_warp || select_encoding) && fresh && n <= kSelectMax) {
    // Model choice by evidence (MacKay 1992; for the output warp, Snelson et al., NIPS 2003):
    // fit each candidate kernel to the raw values and to their power transform, and keep the
    // model whose MAP objective, taken back to y units by the warp's Jacobian, is highest.
    YeoJohnson warp;
    warp.fit(observed);
    std::vector<YeoJohnson> warps;
    if (select_warp) {
      warps.emplace_back();
      if (warp.lambda() != 1.0 && !(options_.noise_sd > 0)) warps.push_back(warp);
    } else {
      warps.push_back(options_.output_transform == OutputTransform::yeo_johnson ? warp : YeoJohnson{});
    }
    const std::vector<std::string> kernels = select_kernel ? std::vector<std::string>{"matern52", "matern32"} : std::vector<std::string>{gp_options_.kernel};
    double best = -std::numeric_limits<double>::infinity();
    bool first = true, chosen = false;
    // One-hot first (the only encoding without descriptors), then descriptor features.
    const std::vector<bool> encodings = select_encoding ? std::vector<bool>{false, true} : std::vector<bool>{descriptors_};
    for (const bool use_descriptors : encodings)
      for (const std::string& kernel : kernels)
        for (const YeoJohnson& w : warps) {
          if (!first && remaining() <= 0) break;
          first = false;
          if (!w.transform(y).allFinite()) continue;  // the identity warp always qualifies
          GaussianProcessOptions o = !select_encoding ? gp_options_ : use_descriptors ? *descriptor_options_ : one_hot_options_;
          o.kernel = kernel;
          GaussianProcess candidate(dim_, o);
          // Start from the model chosen so far when it has the same form (as before, within this loop too).
          if (kernel == gp_options_.kernel && use_descriptors == descriptors_) candidate.set_hyperparameters(model_->hyperparameters());
          candidate.set_data(x, w.transform(y));
          candidate.fit(restarts, std::max(1e-6, remaining()));
          // Descriptors say which untried choices resemble tried ones, which the evidence of a few
          // results cannot judge: one-hot replaces them only when clearly better (decision 0015).
          const double e = evidence(candidate, y, &w) - (select_encoding && !use_descriptors ? options_.one_hot_margin : 0.0);
          if (e > best || !chosen) {
            // The first model stands even when its evidence is not finite: a model without
            // this fit's data would be stale, or empty.
            chosen = true;
            best = std::isfinite(e) ? e : best;
            *model_ = std::move(candidate);
            warp_ = w;
            warped_ = w.lambda() != 1.0;
            gp_options_ = o;
            descriptors_ = use_descriptors;
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
  if (options_.output_transform == OutputTransform::yeo_johnson || (select_warp && warped_)) warp_.fit(observed);
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
  std::shuffle(order.begin() + kFitSubset / 4, order.end(), rng);
  Eigen::MatrixXd subset_x(kFitSubset, dim_);
  Eigen::VectorXd subset_y(kFitSubset);
  for (Eigen::Index k = 0; k < kFitSubset; ++k) subset_x.row(k) = x.row(order[static_cast<size_t>(k)]), subset_y[k] = y[order[static_cast<size_t>(k)]];
  GaussianProcess subset(dim_, gp_options_);
  subset.set_hyperparameters(model_->hyperparameters());
  subset.set_data(subset_x, subset_y);
  subset.fit(restarts, max_seconds);
  GaussianProcess full(dim_, gp_options_);
  full.set_hyperparameters(subset.hyperparameters());
  full.set_data(x, y);
  *model_ = std::move(full);
  return remaining() > 0;
}

// log p(y | θ̂) + log p(θ̂) in y units: the model's objective (standardized units) minus the
// log of its standardization scale per point, plus the warp's log Jacobian.
double ModelSelection::evidence(const GaussianProcess& gp, const Eigen::VectorXd& y, const YeoJohnson* warp) {
  const Eigen::VectorXd& t = gp.y();
  const double n = static_cast<double>(t.size());
  const double sd = std::sqrt((t.array() - t.mean()).square().sum() / std::max(1.0, n - 1));
  double value = gp.log_posterior(gp.hyperparameters(), nullptr) - n * std::log(sd > 0 ? sd : 1.0);
  if (warp)
    for (Eigen::Index i = 0; i < y.size(); ++i) value += std::log(warp->derivative(y[i]));
  return value;
}

}  // namespace labloop::detail
