#pragma once
// Internal: the Bayesian planner's surrogate. Fits a Gaussian process to what the planner was
// told (failures as the worst value seen), choosing the kernel and the output warp by evidence
// when asked to, refitting hyperparameters every `refit_every` results and extending the
// Cholesky factor in between.
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "labloop/model/descriptors.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/output_transform.hpp"
#include "labloop/model/space.hpp"
#include "observations.hpp"

namespace labloop::detail {

// Above this many observations, hyperparameters are fitted on a subset of this size.
inline constexpr Eigen::Index kFitSubset = 300;

enum class KernelChoice { select, fixed };
// automatic: half_rank while the worst value is a floor (shared by two or more results),
// otherwise select (docs/decisions/0017).
enum class OutputTransform { select, yeo_johnson, none, half_rank, automatic };
// Whether the transform always warps the results, so that a noise stated in result units no
// longer describes them (select and automatic leave them unwarped when a noise is stated).
inline bool always_warps(OutputTransform t) { return t == OutputTransform::yeo_johnson || t == OutputTransform::half_rank; }
enum class CategoricalLengthscale { shared, per_choice };
enum class AdditiveKernel { automatic, on, off };
enum class AdditiveShare { half, fitted };

struct ModelSelectionOptions {
  // select: Matérn-5/2 or Matérn-3/2, whichever the evidence favours; fixed: `kernel` always.
  KernelChoice kernel_choice = KernelChoice::select;
  std::string kernel = "matern52";  // a kernel registry name; with select, the one fitted first
  nlohmann::json kernel_options = nlohmann::json::object();  // for a fixed kernel (select uses the defaults)
  OutputTransform output_transform = OutputTransform::select;
  int refit_every = 1;
  // shared: one lengthscale per categorical parameter; per_choice: one per choice.
  CategoricalLengthscale categorical_lengthscale = CategoricalLengthscale::shared;
  AdditiveKernel additive = AdditiveKernel::automatic;  // automatic: on when some parameter is categorical
  // The additive kernel's share of the full kernel: half (as campaigns before "additive_share"
  // existed ran), or fitted with the other hyperparameters (new campaigns; docs/decisions/0013).
  AdditiveShare additive_share = AdditiveShare::half;
  // With descriptors: how much higher (natural log) the one-hot model's evidence must be than the
  // descriptor model's for the planner to set the descriptors aside. 0: a plain evidence choice
  // (as campaigns before "one_hot_margin" existed ran); campaigns started under decision 0015
  // journaled 3. Unused with one_hot_residual.
  double one_hot_margin = 0.0;
  // With descriptors: the model over them adds to each choice an effect of its own that the
  // descriptors do not explain (a one-hot part with a fitted share) and is always used, so
  // one_hot_margin plays no part. Off as campaigns before "one_hot_residual" existed ran; new
  // campaigns on (docs/decisions/0016).
  bool one_hot_residual = false;
  // The measurement's standard deviation in the observations' units, when the campaign states it
  // (an objective's "noise"): the model's noise is then fixed there, and when it is above 0
  // `select` keeps the results unwarped — a warp would make a noise that is the same everywhere in
  // result units unequal across the range, which one noise variance cannot describe. NaN: learned.
  double noise_sd = std::numeric_limits<double>::quiet_NaN();
};

class ModelSelection {
 public:
  ModelSelection(const Space& space, std::uint64_t seed, ModelSelectionOptions options);

  // Brings the model up to date with `observations` (at least one value, told in order; the
  // same object at every call). `rng` picks the fitting subset past kFitSubset results.
  // Returns false when the fit stopped at `max_seconds`.
  bool fit(const Observations& observations, std::mt19937_64& rng, double max_seconds);

  const GaussianProcess& model() const { return *model_; }
  // A value in the observations' units taken to the model's (the magnitude compression, then the
  // output warp, as fitted last; both increasing): where a threshold in user units lies for the
  // model, e.g. an outcome constraint's bound or a hypervolume reference point.
  double to_model_units(double y) const { return warp_.transform(half_rank_.transform(compression_.transform(y))); }
  // Whether the model last chosen sees categorical choices through their descriptors (only
  // possible when some parameter has descriptors; chosen by evidence against one-hot).
  bool uses_descriptors() const { return descriptors_; }

 private:
  static double evidence(const GaussianProcess& gp, const Eigen::VectorXd& y, const YeoJohnson* warp);

  int dim_;
  ModelSelectionOptions options_;
  GaussianProcessOptions gp_options_;  // its kernel is the one chosen last
  std::unique_ptr<GaussianProcess> model_;
  Eigen::Index last_fit_n_ = 0;
  int fits_ = 0;
  Eigen::Index modelled_ = 0;         // how many of the observations model_ holds
  MagnitudeCompression compression_;  // frozen between refits, like the warp; before it
  YeoJohnson warp_;                   // frozen between refits; the identity until fitted
  bool warped_ = false;               // OutputTransform::select: whether the last model choice kept the warp
  HalfRankWarp half_rank_;            // OutputTransform::half_rank (warp_ is then the identity); frozen between refits
  // With descriptors: the model's options for their features (gp_options_ holds the chosen ones).
  std::optional<GaussianProcessOptions> descriptor_options_;
  GaussianProcessOptions one_hot_options_;
  bool descriptors_ = false;  // gp_options_ is descriptor_options_ (but for the kernel name)
};

}  // namespace labloop::detail
