#pragma once
// An emulator: a scattered dataset (spec "lookup_table": false) as a function of its parameters,
// through one Gaussian process per objective fitted to the rows (labloop's own GaussianProcess,
// Matérn 5/2, noise learned, MAP hyperparameters; the objective warped by Yeo–Johnson/Box–Cox
// when its likelihood-ratio test says the values are skewed). An experiment returns the
// posterior mean plus Gaussian noise of the dataset's own size, clamped to the objective's range.
// The rules, all fixed here so an emulator is deterministic for a given data.csv:
//
// - Fitting rows: at most kMaxEmulatorRows; a larger dataset is fitted to a random subset of that
//   many rows drawn with kEmulatorSeed (labloop-sim --list says so). Rows whose objective is
//   censored (a text such as "≥90%") are left out of that objective's fit.
// - Inputs: at most kMaxEmulatorInputWidth columns; continuous parameters are scaled to the box the rows span (each column's observed
//   minimum and maximum: inputs() declares that box, not the spec's wider one); discrete ones by
//   their levels; categorical ones one-hot, the choices of one parameter sharing a lengthscale.
//   A continuous column the rows hold at one value, or rows that all share their inputs, are
//   refused (Error naming the column): the emulator could accept that one setting only.
//   Simplex datasets (spec "parameter_constraint": "simplex") are fitted on the rows' fractions
//   normalized to sum 1 (colors_bob's rows are relative amounts summing to 0.64–4.4).
// - Refusals (an Error, which the instrument reports as a failed experiment): a value outside the
//   rows' box, a categorical choice no row has, a discrete value that is not a level, and for a
//   simplex dataset fractions whose sum differs from 1 by more than kSimplexTolerance. Nothing is
//   extrapolated.
// - Noise: the pooled standard deviation of replicate rows (equal inputs) when they give at least
//   kMinReplicateDof degrees of freedom and do not all agree exactly, added in the objective's
//   units; otherwise the fitted GP's noise, drawn after the warp (so it grows with the value where
//   the warp says so) and stated in the objective's units as the root mean square over the rows
//   of σ_warped / warp'(y).
// - Range: [0, 100] for an objective named yield or conversion whose values all lie there (a
//   percentage); otherwise the observed range widened by kRangeMargin of its span each side, with
//   the lower end no lower than 0 when no value is negative. An ordinal objective is emulated as
//   its level's index (0 = worst) and returned rounded to a level index.
// - Cross-validation: kFolds-fold over the fitting rows (folds drawn with kEmulatorSeed), each
//   fold's GP fitted afresh on the other folds; RMSE and R² (1 − SSE/SST over all held-out rows)
//   in the objective's units. Fewer fitting rows than kFolds: leave-one-out. A fold is fitted on
//   3 rows or more, so with 3 numeric rows no figures are given, and cv_note says why.
//
// Fitting costs seconds to minutes (about O(rows³) per hyperparameter step), so the fitted
// hyperparameters are kept in the dataset's emulator.json (written by `labloop-sim
// --emulator-report NAME`) with the CV figures, and reused when its data fingerprint matches
// data.csv; a stale or missing file means fitting afresh. An Emulator is read-only after
// construction: safe to share between threads (sample() takes the caller's generator).
#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dataset.hpp"

namespace labloop::sim {

constexpr std::size_t kMaxEmulatorRows = 1000;
constexpr std::uint64_t kEmulatorSeed = 20261202;
constexpr int kFolds = 5;
// Stated limit (docs/datasets.md): the GP's input width, one column per option of a categorical
// parameter (one-hot) and one per other parameter. Every kernel evaluation and gradient costs in
// proportion, so a categorical of thousands of options (kMaxDatasetOptions allows 10,000) took
// minutes to start; the widest shipped emulated set, vapdiff_crystal, has 28. A wider set is
// refused where it is read for emulation (emulated_inputs, the Emulator), naming the parameter.
constexpr std::size_t kMaxEmulatorInputWidth = 256;
constexpr double kSimplexTolerance = 1e-3;  // |Σ fractions − 1|
constexpr int kMinReplicateDof = 5;
constexpr double kRangeMargin = 0.1;
// Bumped when a rule above changes, so older emulator.json files count as stale.
constexpr int kEmulatorVersion = 1;

// What emulating one objective gives: the fit, the noise, the range and (after
// cross_validate) the CV figures. All in the objective's units.
struct EmulatedObjective {
  std::string name;
  bool ordinal = false;
  std::size_t fit_rows = 0;        // rows its GP was fitted to
  bool warped = false;             // Yeo–Johnson/Box–Cox kept by its likelihood-ratio test
  double lambda = 1.0;             // the warp's λ
  Eigen::VectorXd theta;           // GaussianProcess::hyperparameters()
  double noise_sd = 0.0;
  std::string noise_source;        // "replicates (… groups, … dof)" or "model"
  double low = 0.0, high = 0.0;    // clamp range
  std::string range_rule;          // "percentage", "observed ± 10 %", "observed ± 10 %, ≥ 0"
  std::optional<double> cv_rmse, cv_r2;
  std::string cv_note;             // why there are no CV figures after cross_validate ("" when there are)
};

class Emulator {
 public:
  // Fits to `data` (Error when it is a lookup table, an objective has fewer than 3 numeric rows,
  // or the rows hold a continuous input constant or share all their inputs). `stored`: an
  // emulator.json; when stored_fit_problem finds nothing wrong, its hyperparameters are used
  // instead of fitting (and its CV figures kept); otherwise it is ignored (stored_problem() says why).
  explicit Emulator(const Dataset& data, const nlohmann::json* stored = nullptr);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  const DatasetSpec& spec() const { return spec_; }
  // The parameters as the instrument declares them: continuous ones narrowed to the rows' box.
  // Categorical ones keep every choice of the spec, measured or not: a campaign folder written
  // when `labloop new` listed them all (suzuki_i's ligand L7) must still be welcomed.
  const std::vector<Parameter>& inputs() const { return inputs_; }
  // What a new campaign and a benchmark search: inputs() less the categorical choices no row holds
  // (the emulator refuses them: suzuki_i–iv's specs list ligand L7, no row has it, and a campaign
  // proposing it lost each such experiment).
  const std::vector<Parameter>& offered_inputs() const { return offered_inputs_; }
  const std::vector<EmulatedObjective>& objectives() const { return objectives_; }
  std::size_t rows() const { return rows_; }            // data.csv's rows
  std::size_t fit_rows() const { return fit_index_.size(); }  // after the subset (≤ kMaxEmulatorRows)
  bool from_stored() const { return from_stored_; }
  // Why the stored fit given to the constructor was not used (stored_fit_problem), "" when it was
  // or none was given.
  const std::string& stored_problem() const { return stored_problem_; }

  // "" when `params` can be emulated; otherwise why not, naming the parameter and constraint.
  std::string refusal(const Params& params) const;
  // Posterior means clamped to each range (spec order). Error carrying refusal() when refused.
  std::vector<double> predict(const Params& params) const;
  // predict() plus each objective's noise drawn from `rng` (one normal draw per objective, in
  // order; see "Noise" above), clamped again; ordinal objectives rounded to a level index.
  std::vector<double> sample(const Params& params, std::mt19937_64& rng) const;
  // `y` (one value per objective, as sample() gives) back in each objective's range, an ordinal
  // one rounded: what sample() does, for noise added afterwards (labloop-sim's `noise` option).
  void keep_in_range(std::vector<double>& y) const;

  // kFolds-fold cross-validation (refits kFolds GPs per objective: the expensive part), leave-one-out
  // when fewer rows are fitted; stores the figures in objectives(), or for an objective too few
  // rows to hold any out (3 or 4 numeric rows, each fold fits on at least 3) none, with cv_note.
  void cross_validate();
  // The folds cross_validate() used: kFolds, or the fitted rows when fewer; kFolds before it runs.
  int folds() const { return folds_; }
  // emulator.json: fingerprint, rules, box, per objective fit, noise, range and CV figures.
  nlohmann::json to_json() const;

 private:
  struct Fit;
  Eigen::RowVectorXd encode(const Params& params) const;  // assumes refusal() == ""
  double predict_one(std::size_t objective, const Eigen::RowVectorXd& x) const;

  DatasetSpec spec_;
  std::vector<Parameter> inputs_, offered_inputs_;
  std::vector<double> box_low_, box_high_;  // per parameter (continuous: rows' box; discrete: levels)
  std::vector<std::vector<bool>> seen_choice_;  // categorical: choices some row has
  std::size_t rows_ = 0;
  std::string fingerprint_;
  std::vector<std::size_t> fit_index_;  // rows fitted
  Eigen::MatrixXd x_;                   // encoded fitting rows
  std::vector<EmulatedObjective> objectives_;
  std::vector<std::unique_ptr<Fit>> fits_;
  std::vector<std::vector<double>> raw_;  // per objective: its fitted rows' values, in Fit::rows order
  bool from_stored_ = false;
  std::string stored_problem_;
  int folds_ = kFolds;
};

// The instrument's inputs for a scattered dataset without fitting: `declared` as
// Emulator::inputs() (what the catalogue checks a campaign file against), `offered` as
// Emulator::offered_inputs() (what `labloop new` writes). Reads data.csv. Error as the Emulator's
// for a constant continuous column or rows that all share their inputs.
struct EmulatedInputs {
  std::vector<Parameter> declared, offered;
};
EmulatedInputs emulated_inputs(const Dataset& data);

// data.csv's fingerprint (FNV-1a 64 of its bytes and kEmulatorVersion, hex): emulator.json is
// used only when its "fingerprint" equals this.
std::string emulator_fingerprint(const std::filesystem::path& dir);

// Why `stored` (spec.dir/emulator.json, parsed) cannot give the emulator's fit, naming the file,
// the JSON path and the value; "" when it can: its fingerprint matches spec.json and data.csv,
// it has one entry per objective, named as spec.json names it, whose hyperparameters are finite
// numbers within GaussianProcess::hyperparameter_bounds, and CV figures that are null or finite
// (RMSE ≥ 0, R² ≤ 1). `fingerprint`: emulator_fingerprint(spec.dir) when the caller has it
// already; read from spec.json and data.csv otherwise.
std::string stored_fit_problem(const DatasetSpec& spec, const nlohmann::json& stored, const std::string& fingerprint = {});

// `dir`/emulator.json parsed, or nullopt when missing or unreadable (then the emulator fits).
std::optional<nlohmann::json> read_emulator_json(const std::filesystem::path& dir);

// The README section written by --emulator-report (between <!-- labloop:emulator --> markers).
std::string emulator_readme_section(const nlohmann::json& report);

}  // namespace labloop::sim
