// Emulators of scattered datasets: the rules are stated in emulator.hpp; this file says why.
//
// Why a GP per objective: the sets are small (39 to 2121 rows, 3 to 10 inputs) and smooth at the
// scale of their sampling, the regime where a GP with learned lengthscales and noise is as good
// an interpolator as any, and labloop already has one (gaussian_process.hpp), so the emulator and
// the planner share their numerics. Skewed objectives (thin_film's instability index spans 2.7e4
// to 1.5e6, hplc's peak area piles up at 0) are modelled after the YeoJohnson warp the planner
// uses, kept only where its likelihood-ratio test says it helps; predictions are mapped back by
// bisection (the warp is strictly increasing), which also clamps them to the range.
//
// Why the noise is homoscedastic and in the objective's units: replicates are few per setting
// (two or three mostly), too few to say how the noise varies; a pooled
// estimate is the honest figure. Without replicates the GP's own noise is the estimate, moved
// from warped to raw units by the delta method (σ_y ≈ σ_z / T'(y)), averaged over the rows.
#include "emulator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>

#include "labloop/core/error.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/output_transform.hpp"

namespace labloop::sim {

namespace fs = std::filesystem;

namespace {

// The rows as numbers: continuous and discrete values (simplex rows normalized), categorical
// option indexes; each objective's value or NaN where censored.
struct EmulatorRows {
  std::vector<std::vector<double>> params;      // row → parameter → value (categorical: option index)
  std::vector<std::vector<double>> objectives;  // row → objective → value (NaN: censored)
  std::vector<std::string> keys;                // row → its parameter fields joined: replicates share one
};

bool emulator_simplex(const DatasetSpec& spec) { return spec.constraint == "simplex"; }

EmulatorRows emulator_read_rows(const Dataset& data) {
  const DatasetSpec& spec = data.spec;
  const std::size_t np = spec.parameters.size(), no = spec.objectives.size();
  if (emulator_simplex(spec))
    for (const Parameter& p : spec.parameters)
      if (p.type != ParameterType::continuous)
        throw Error(fmt::format("{}: spec.json says \"parameter_constraint\": \"simplex\", but {} is not continuous; a simplex's "
                                "parameters are fractions (fix the spec)",
                                spec.name, p.name));
  EmulatorRows out;
  for (const CsvRow& row : data.rows) {
    std::vector<double> x(np);
    std::string key;
    for (std::size_t i = 0; i < np; ++i) {
      const Parameter& p = spec.parameters[i];
      const std::string& cell = row.fields[i];
      key += cell;
      key += '\x1f';
      // Every cell was checked when the dataset was read.
      if (p.type == ParameterType::categorical) x[i] = find_option(p, cell);
      else if (p.type == ParameterType::discrete) x[i] = p.values[static_cast<std::size_t>(find_option(p, cell))];
      else x[i] = *parse_number(cell);
    }
    if (emulator_simplex(spec)) {
      const double sum = std::accumulate(x.begin(), x.end(), 0.0);
      if (!(sum > 0))
        throw Error(fmt::format("{}/data.csv: line {}: the fractions sum to {}; a simplex row needs a positive sum", spec.dir.string(), row.line, sum));
      for (double& v : x) v /= sum;
    }
    std::vector<double> y(no);
    for (std::size_t j = 0; j < no; ++j) {
      const DatasetObjective& o = spec.objectives[j];
      const std::string& cell = row.fields[np + j];
      if (o.type == "ordinal") y[j] = static_cast<double>(std::find(o.levels.begin(), o.levels.end(), cell) - o.levels.begin());
      else y[j] = parse_number(cell).value_or(std::nan(""));  // censored: left out of the fit
    }
    out.params.push_back(std::move(x));
    out.objectives.push_back(std::move(y));
    out.keys.push_back(std::move(key));
  }
  return out;
}

// The declared inputs: the spec's parameters, continuous ones narrowed to the rows' box. Error for
// rows that all share their inputs, or a continuous column they hold constant: the emulator
// refuses every value but that one (it does not extrapolate), and no continuous parameter spans a
// single value, so a campaign on it had every experiment fail.
std::vector<Parameter> emulator_inputs_from(const DatasetSpec& spec, const EmulatorRows& rows, std::vector<double>& low,
                                            std::vector<double>& high) {
  // Checked here, where labloop new, validate and the instrument all read the set for emulation,
  // so a campaign naming it is refused rather than started with an instrument that never starts.
  std::size_t width = 0, widest = 0;
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    width += static_cast<std::size_t>(spec.parameters[i].cube_width());
    if (spec.parameters[i].cube_width() > spec.parameters[widest].cube_width()) widest = i;
  }
  if (width > kMaxEmulatorInputWidth) {
    const Parameter& p = spec.parameters[widest];
    throw Error(fmt::format("{}: /parameters/{}/options: {} lists {} options, which makes the emulator's input {} columns wide (one per option "
                            "of a categorical parameter, one per other parameter); an emulated dataset may have at most {}, past which "
                            "fitting takes minutes: merge rare options into fewer, or leave the parameter out",
                            (spec.dir / "spec.json").string(), widest, p.name, p.choices.size(), width, kMaxEmulatorInputWidth));
  }
  if (rows.params.size() > 1 && std::all_of(rows.params.begin(), rows.params.end(), [&](const auto& x) { return x == rows.params.front(); }))
    throw Error(fmt::format("{}: every row of data.csv has the same inputs, so an emulator would know the objectives at that one setting "
                            "only and refuse every other; it needs rows measured at different settings",
                            spec.name));
  std::vector<Parameter> inputs = spec.parameters;
  low.assign(inputs.size(), 0.0);
  high.assign(inputs.size(), 0.0);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Parameter& p = inputs[i];
    if (p.type == ParameterType::categorical) continue;
    if (p.type == ParameterType::discrete) {
      low[i] = p.values.front();
      high[i] = p.values.back();
      continue;
    }
    if (rows.params.empty()) continue;  // refused where the objectives are fitted (fewer than 3 rows)
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (const auto& x : rows.params) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    if (!(lo < hi))
      throw Error(fmt::format("{}: {} is {:g}{} in every row of data.csv, so the emulator would refuse any other value and every "
                              "experiment would fail; it needs rows that vary {} (or leave the column out of data.csv and spec.json)",
                              spec.name, p.name, lo, emulator_simplex(spec) ? " (as a fraction of the sum)" : "", p.name));
    low[i] = lo;
    high[i] = hi;
    p.low = lo, p.high = hi;
  }
  return inputs;
}

// The declared inputs less the categorical choices no row holds (seen_choice), in the spec's order.
std::vector<Parameter> emulator_offered_from(std::vector<Parameter> inputs, const std::vector<std::vector<bool>>& seen_choice) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Parameter& p = inputs[i];
    if (p.type != ParameterType::categorical || seen_choice[i].empty()) continue;
    std::vector<std::string> held;
    for (std::size_t c = 0; c < p.choices.size(); ++c)
      if (seen_choice[i][c]) held.push_back(p.choices[c]);
    p.choices = std::move(held);
  }
  return inputs;
}

std::vector<std::vector<bool>> emulator_seen_choices(const DatasetSpec& spec, const EmulatorRows& rows) {
  std::vector<std::vector<bool>> seen(spec.parameters.size());
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const Parameter& p = spec.parameters[i];
    if (p.type != ParameterType::categorical || rows.params.empty()) continue;
    seen[i].assign(p.choices.size(), false);
    for (const auto& x : rows.params) seen[i][static_cast<std::size_t>(x[i])] = true;
  }
  return seen;
}

// FNV-1a 64, for a fingerprint (not for security: it detects an edited or replaced file).
std::uint64_t emulator_fnv1a(const std::string& bytes, std::uint64_t h) {
  for (const unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string emulator_read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", file.string()));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A permutation of 0…n−1 from `seed`: our own Fisher–Yates on mt19937_64's raw output (whose
// sequence the standard fixes), so the subset and the folds are the same with every library.
std::vector<std::size_t> emulator_permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[static_cast<std::size_t>(rng() % i)]);
  return order;
}

std::string emulator_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The inverse of the strictly increasing warp on [lo, hi] by bisection; values beyond map to the
// ends (that is the clamp). Ends where the warp is undefined (Box–Cox at 0 or below) move in to
// the smallest or largest fitted value.
double emulator_unwarp(const YeoJohnson& warp, double z, double lo, double hi, double y_min, double y_max) {
  double a = lo, b = hi;
  if (!std::isfinite(warp.transform(a))) a = std::max(lo, y_min);
  if (!std::isfinite(warp.transform(b))) b = std::min(hi, y_max);
  if (!(a < b)) return a;
  if (!(z > warp.transform(a))) return a;
  if (!(z < warp.transform(b))) return b;
  for (int i = 0; i < 200 && b - a > 1e-12 * (std::abs(a) + std::abs(b) + 1e-300); ++i) {
    const double m = 0.5 * (a + b);
    (warp.transform(m) < z ? a : b) = m;
  }
  return 0.5 * (a + b);
}

}  // namespace

struct Emulator::Fit {
  std::vector<std::size_t> rows;  // fitting rows with a number for this objective (indexes into data)
  YeoJohnson warp;
  std::unique_ptr<GaussianProcess> gp;
  double y_min = 0, y_max = 0;
  bool noise_in_warp = false;  // the noise is the model's: drawn after the warp, with sd noise_z
  double noise_z = 0;
};

namespace {

GaussianProcessOptions emulator_gp_options(const DatasetSpec& spec) {
  GaussianProcessOptions o;
  o.seed = kEmulatorSeed;
  bool categorical = false;
  for (const Parameter& p : spec.parameters) categorical = categorical || p.type == ParameterType::categorical;
  if (categorical) {
    // One lengthscale per parameter: a categorical's one-hot columns share theirs.
    for (std::size_t i = 0; i < spec.parameters.size(); ++i)
      for (int k = 0; k < spec.parameters[i].cube_width(); ++k) o.lengthscale_groups.push_back(static_cast<int>(i));
  }
  return o;
}

int emulator_width(const DatasetSpec& spec) {
  int d = 0;
  for (const Parameter& p : spec.parameters) d += p.cube_width();
  return d;
}

// Row i of the parameters in the cube the GP sees.
Eigen::RowVectorXd emulator_encode(const DatasetSpec& spec, const std::vector<double>& x, const std::vector<double>& low,
                                   const std::vector<double>& high) {
  Eigen::RowVectorXd out = Eigen::RowVectorXd::Zero(emulator_width(spec));
  Eigen::Index c = 0;
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const Parameter& p = spec.parameters[i];
    if (p.type == ParameterType::categorical) {
      out[c + static_cast<Eigen::Index>(x[i])] = 1.0;
      c += p.cube_width();
    } else {
      out[c++] = high[i] > low[i] ? (x[i] - low[i]) / (high[i] - low[i]) : 0.5;
    }
  }
  return out;
}

}  // namespace

EmulatedInputs emulated_inputs(const Dataset& data) {
  std::vector<double> low, high;
  const EmulatorRows rows = emulator_read_rows(data);
  EmulatedInputs out;
  out.declared = emulator_inputs_from(data.spec, rows, low, high);
  out.offered = emulator_offered_from(out.declared, emulator_seen_choices(data.spec, rows));
  return out;
}

std::string emulator_fingerprint(const fs::path& dir) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  h = emulator_fnv1a(emulator_read_file(dir / "spec.json"), h);
  h = emulator_fnv1a(emulator_read_file(dir / "data.csv"), h);
  h = emulator_fnv1a(fmt::format("labloop emulator {}", kEmulatorVersion), h);
  return fmt::format("{:016x}", h);
}

std::optional<nlohmann::json> read_emulator_json(const fs::path& dir) {
  std::error_code error;
  const fs::path file = dir / "emulator.json";
  if (!fs::is_regular_file(file, error) || fs::file_size(file, error) > kMaxSpecBytes) return std::nullopt;
  try {
    auto json = nlohmann::json::parse(emulator_read_file(file));
    if (json.is_object()) return json;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string stored_fit_problem(const DatasetSpec& spec, const nlohmann::json& stored, const std::string& fingerprint) {
  const std::string file = (spec.dir / "emulator.json").string();
  if (!stored.is_object()) return fmt::format("{}: is not a JSON object", file);
  if (!stored.contains("fingerprint") || !stored["fingerprint"].is_string() ||
      stored["fingerprint"] != (fingerprint.empty() ? emulator_fingerprint(spec.dir) : fingerprint))
    return fmt::format("{}: /fingerprint: is stale (spec.json, data.csv or the emulator's rules changed since it was written)", file);
  const auto& objectives = stored.contains("objectives") ? stored["objectives"] : nlohmann::json();
  if (!objectives.is_array() || objectives.size() != spec.objectives.size())
    return fmt::format("{}: /objectives: must be an array of {} entries, one per objective of spec.json", file, spec.objectives.size());
  // The bounds the fit searches: a θ beyond them (every coordinate 700) is no fit this program
  // made, and gave an emulator answering only its clamp's ends while --list showed the stored R².
  const GaussianProcess gp(emulator_width(spec), emulator_gp_options(spec));
  Eigen::VectorXd lower, upper;
  gp.hyperparameter_bounds(lower, upper);
  for (std::size_t j = 0; j < objectives.size(); ++j) {
    const auto& o = objectives[j];
    const std::string at = fmt::format("{}: /objectives/{}", file, j);
    if (!o.is_object()) return fmt::format("{}: must be an object, got {}", at, o.dump());
    if (!o.contains("name") || o["name"] != spec.objectives[j].name)
      return fmt::format("{}/name: must be \"{}\" (spec.json's objective {}), got {}", at, spec.objectives[j].name, j + 1,
                         o.contains("name") ? o["name"].dump() : "nothing");
    const auto& theta = o.contains("hyperparameters") ? o["hyperparameters"] : nlohmann::json();
    if (!theta.is_array() || static_cast<Eigen::Index>(theta.size()) != lower.size())
      return fmt::format("{}/hyperparameters: must be an array of {} numbers", at, lower.size());
    for (std::size_t k = 0; k < theta.size(); ++k) {
      const auto i = static_cast<Eigen::Index>(k);
      if (!theta[k].is_number() || !std::isfinite(theta[k].get<double>()))
        return fmt::format("{}/hyperparameters/{}: {} is not a finite number", at, k, theta[k].dump());
      const double v = theta[k].get<double>(), slack = 1e-9 * std::max(1.0, upper[i] - lower[i]);
      if (v < lower[i] - slack || v > upper[i] + slack)
        return fmt::format("{}/hyperparameters/{}: {:g} lies outside [{:.4g}, {:.4g}], the bounds the fit searches", at, k, v, lower[i], upper[i]);
    }
    for (const char* key : {"cv_rmse", "cv_r2"}) {
      if (!o.contains(key) || o[key].is_null()) continue;
      const bool ok = o[key].is_number() && std::isfinite(o[key].get<double>()) &&
                      (std::string(key) == "cv_rmse" ? o[key].get<double>() >= 0 : o[key].get<double>() <= 1);
      if (!ok) return fmt::format("{}/{}: {} must be null or a finite number {}", at, key, o[key].dump(), std::string(key) == "cv_rmse" ? "≥ 0" : "≤ 1");
    }
  }
  return {};
}

Emulator::~Emulator() = default;

Emulator::Emulator(const Dataset& data, const nlohmann::json* stored) : spec_(data.spec), rows_(data.rows.size()) {
  if (spec_.lookup_table)
    throw Error(fmt::format("{} is a lookup table: labloop-sim serves it from its rows, not through an emulator", spec_.name));
  const EmulatorRows rows = emulator_read_rows(data);
  inputs_ = emulator_inputs_from(spec_, rows, box_low_, box_high_);
  seen_choice_ = emulator_seen_choices(spec_, rows);
  offered_inputs_ = emulator_offered_from(inputs_, seen_choice_);
  fingerprint_ = emulator_fingerprint(spec_.dir);

  // The fitting rows: all, or a seeded subset of kMaxEmulatorRows.
  std::vector<std::size_t> order = emulator_permutation(rows_, kEmulatorSeed);
  if (order.size() > kMaxEmulatorRows) order.resize(kMaxEmulatorRows);
  std::sort(order.begin(), order.end());
  fit_index_ = order;
  x_.resize(static_cast<Eigen::Index>(fit_index_.size()), emulator_width(spec_));
  for (std::size_t r = 0; r < fit_index_.size(); ++r)
    x_.row(static_cast<Eigen::Index>(r)) = emulator_encode(spec_, rows.params[fit_index_[r]], box_low_, box_high_);

  // A stored fit that fails its checks is refitted, not refused: emulator.json is a cache of what
  // fitting data.csv gives (a stale one is refitted too), so a damaged copy costs time, never the
  // dataset; the caller says why on stderr (stored_problem()).
  if (stored) stored_problem_ = stored_fit_problem(spec_, *stored, fingerprint_);
  const bool use_stored = stored && stored_problem_.empty();
  from_stored_ = use_stored;
  for (std::size_t j = 0; j < spec_.objectives.size(); ++j) {
    const DatasetObjective& o = spec_.objectives[j];
    EmulatedObjective e;
    e.name = o.name;
    e.ordinal = o.type == "ordinal";
    auto fit = std::make_unique<Fit>();
    for (std::size_t r = 0; r < fit_index_.size(); ++r)
      if (std::isfinite(rows.objectives[fit_index_[r]][j])) fit->rows.push_back(r);
    if (fit->rows.size() < 3)
      throw Error(fmt::format("{}: objective {} has {} numeric rows; an emulator needs at least 3", spec_.name, o.name, fit->rows.size()));
    const auto n = static_cast<Eigen::Index>(fit->rows.size());
    Eigen::MatrixXd x(n, x_.cols());
    Eigen::VectorXd y(n);
    for (Eigen::Index r = 0; r < n; ++r) {
      x.row(r) = x_.row(static_cast<Eigen::Index>(fit->rows[static_cast<std::size_t>(r)]));
      y[r] = rows.objectives[fit_index_[fit->rows[static_cast<std::size_t>(r)]]][j];
    }
    e.fit_rows = fit->rows.size();
    raw_.emplace_back(y.data(), y.data() + y.size());
    fit->y_min = y.minCoeff();
    fit->y_max = y.maxCoeff();
    fit->warp.fit(y);
    e.lambda = fit->warp.lambda();
    e.warped = e.lambda != 1.0;
    fit->gp = std::make_unique<GaussianProcess>(static_cast<int>(x.cols()), emulator_gp_options(spec_));
    fit->gp->set_data(x, fit->warp.transform(y));
    const nlohmann::json* saved = use_stored ? &(*stored)["objectives"][j] : nullptr;
    if (saved) {  // checked by stored_fit_problem
      const auto theta = (*saved)["hyperparameters"].get<std::vector<double>>();
      fit->gp->set_hyperparameters(Eigen::Map<const Eigen::VectorXd>(theta.data(), static_cast<Eigen::Index>(theta.size())));
      if (saved->contains("cv_rmse") && (*saved)["cv_rmse"].is_number()) e.cv_rmse = (*saved)["cv_rmse"].get<double>();
      if (saved->contains("cv_r2") && (*saved)["cv_r2"].is_number()) e.cv_r2 = (*saved)["cv_r2"].get<double>();
    } else {
      from_stored_ = false;
      fit->gp->fit();
    }
    e.theta = fit->gp->hyperparameters();

    // The range.
    const std::string lname = emulator_lower(o.name);
    if (e.ordinal) {
      e.low = 0;
      e.high = static_cast<double>(o.levels.size() - 1);
      e.range_rule = "ordinal levels";
    } else if ((lname == "yield" || lname == "conversion") && fit->y_min >= 0 && fit->y_max <= 100) {
      e.low = 0;
      e.high = 100;
      e.range_rule = "percentage";
    } else {
      // Values of both signs near the largest double span more than it: the margin is then taken
      // on each end's tenth, and the range held to the doubles (an infinite bound let a sample
      // of inf through, which the campaign records as a driver's failure).
      const double span = fit->y_max - fit->y_min;
      const double margin = std::isfinite(span) ? kRangeMargin * span : kRangeMargin * fit->y_max - kRangeMargin * fit->y_min;
      e.low = std::max(fit->y_min - margin, -std::numeric_limits<double>::max());
      e.high = std::min(fit->y_max + margin, std::numeric_limits<double>::max());
      e.range_rule = fmt::format("observed ± {:g} %", 100 * kRangeMargin);
      if (fit->y_min >= 0 && e.low < 0) e.low = 0, e.range_rule += ", ≥ 0";
    }

    // The noise: replicates over all rows (not only the fitted ones), else the model's.
    std::map<std::string, std::vector<double>> groups;
    for (std::size_t r = 0; r < rows.keys.size(); ++r)
      if (std::isfinite(rows.objectives[r][j])) groups[rows.keys[r]].push_back(rows.objectives[r][j]);
    // The sum of squared deviations of the replicates divided by `scale` from their settings' means.
    // Scale 1 is the plain sum (every shipped dataset's noise, to the last bit); where that
    // overflows (replicates 1e200 and 1.5e200), it is taken again on the values over their largest
    // magnitude, which cannot, and the SD scaled back.
    std::size_t dof = 0, replicated = 0;
    double largest = 0;
    auto squares = [&](double scale) {
      double ss = 0;
      dof = 0, replicated = 0;
      for (const auto& [key, values] : groups) {
        if (values.size() < 2) continue;
        double sum = 0;
        for (double v : values) sum += v / scale, largest = std::max(largest, std::fabs(v));
        const double mean = sum / static_cast<double>(values.size());
        for (double v : values) ss += (v / scale - mean) * (v / scale - mean);
        dof += values.size() - 1;
        ++replicated;
      }
      return ss;
    };
    double ss = squares(1.0), scale = 1.0;
    if (!std::isfinite(ss)) scale = largest, ss = squares(scale);
    // Replicates that agree exactly (alkox's are duplicated rows) say nothing about the noise.
    if (dof >= static_cast<std::size_t>(kMinReplicateDof) && ss > 0) {
      e.noise_sd = scale * std::sqrt(ss / static_cast<double>(dof));
      if (!std::isfinite(e.noise_sd))
        throw Error(fmt::format("{}: objective {}: its replicates spread more than a number can hold (standard deviation beyond {:g}); "
                                "express it in a larger unit",
                                spec_.name, o.name, std::numeric_limits<double>::max()));
      e.noise_source = fmt::format("replicates ({} settings, {} dof)", replicated, dof);
    } else {
      const double sz = std::sqrt(fit->gp->noise_variance());
      double sum = 0;
      for (Eigen::Index r = 0; r < n; ++r) {
        const double s = sz / fit->warp.derivative(y[r]);
        sum += s * s;
      }
      e.noise_sd = std::sqrt(sum / static_cast<double>(n));
      e.noise_source = "model";
      fit->noise_in_warp = true;
      fit->noise_z = sz;
    }
    // A value far beyond the others (one cell of 1e300 among values near 1) can leave the model
    // without a usable number: its noise or its predictions nan, and every answer then the low end
    // of the range, silently. Refused instead, naming the objective and its extremes.
    const Eigen::VectorXd fitted = fit->gp->fitted_mean();
    if (!std::isfinite(e.noise_sd) || !std::isfinite(fit->noise_z) || !fitted.allFinite())
      throw Error(fmt::format("{}: objective {}: its values ({:g} to {:g}) cannot be modelled: the fitted model's {} not a number. Is a "
                              "value far beyond the others a typing error? Otherwise express the objective in a unit (or its logarithm) "
                              "that keeps its values within a few orders of magnitude",
                              spec_.name, o.name, fit->y_min, fit->y_max, fitted.allFinite() ? "noise is" : "predictions are"));
    objectives_.push_back(std::move(e));
    fits_.push_back(std::move(fit));
  }
}

std::string Emulator::refusal(const Params& params) const {
  if (!params.is_object()) return fmt::format("{}: the parameters must be an object", spec_.name);
  std::vector<double> x(spec_.parameters.size());
  for (std::size_t i = 0; i < spec_.parameters.size(); ++i) {
    const Parameter& p = spec_.parameters[i];
    if (!params.contains(p.name)) return fmt::format("{}: parameter \"{}\" is missing", spec_.name, p.name);
    const auto& value = params[p.name];
    if (p.type == ParameterType::categorical) {
      int option = -1;
      if (value.is_string()) option = find_option(p, value.get<std::string>());
      else if (value.is_number()) option = find_option(p, fmt::format("{}", value.get<double>()));
      if (option < 0) return fmt::format("{}: {} = {} is not among its options ({})", spec_.name, p.name, value.dump(), option_list(p));
      if (!seen_choice_[i][static_cast<std::size_t>(option)])
        return fmt::format("{}: no row of the dataset has {} = {}, so the emulator cannot predict it (it does not extrapolate); choose one of "
                           "the measured options",
                           spec_.name, p.name, value.dump());
      continue;
    }
    if (!value.is_number() || !std::isfinite(value.get<double>())) return fmt::format("{}: {} = {} is not a finite number", spec_.name, p.name, value.dump());
    x[i] = value.get<double>();
    if (p.type == ParameterType::discrete && p.level_index(x[i]) < 0)
      return fmt::format("{}: {} = {} is not one of its levels ({})", spec_.name, p.name, value.dump(), option_list(p));
  }
  if (emulator_simplex(spec_)) {
    const double sum = std::accumulate(x.begin(), x.end(), 0.0);
    std::vector<std::string> names;
    for (const Parameter& p : spec_.parameters) names.push_back(p.name);
    if (!(std::abs(sum - 1.0) <= kSimplexTolerance))
      return fmt::format("{}: simplex constraint: {} = {:g}, but these fractions must sum to 1 (±{:g}); the emulator does not "
                         "extrapolate off the simplex (declare the linear constraint {} = 1 in the campaign)",
                         spec_.name, fmt::join(names, " + "), sum, kSimplexTolerance, fmt::join(names, " + "));
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i] < 0) return fmt::format("{}: simplex constraint: {} = {:g} is negative; fractions are at least 0", spec_.name, names[i], x[i]);
    for (double& v : x) v /= sum;
  }
  for (std::size_t i = 0; i < spec_.parameters.size(); ++i) {
    const Parameter& p = spec_.parameters[i];
    if (p.type != ParameterType::continuous) continue;
    const double lo = box_low_[i], hi = box_high_[i], slack = 1e-9 * std::max({1.0, std::abs(lo), std::abs(hi)});
    if (x[i] < lo - slack || x[i] > hi + slack)
      return fmt::format("{}: {} = {:g}{} lies outside the box the rows span, [{:g}, {:g}]; the emulator does not extrapolate: choose a "
                         "value inside",
                         spec_.name, p.name, x[i], emulator_simplex(spec_) ? " (as a fraction of the sum)" : "", lo, hi);
  }
  return {};
}

Eigen::RowVectorXd Emulator::encode(const Params& params) const {
  std::vector<double> x(spec_.parameters.size());
  for (std::size_t i = 0; i < spec_.parameters.size(); ++i) {
    const Parameter& p = spec_.parameters[i];
    const auto& value = params[p.name];
    if (p.type == ParameterType::categorical)
      x[i] = find_option(p, value.is_string() ? value.get<std::string>() : fmt::format("{}", value.get<double>()));
    else if (p.type == ParameterType::discrete) x[i] = p.values[static_cast<std::size_t>(p.level_index(value.get<double>()))];
    else x[i] = value.get<double>();
  }
  if (emulator_simplex(spec_)) {
    const double sum = std::accumulate(x.begin(), x.end(), 0.0);
    for (double& v : x) v /= sum;
  }
  return emulator_encode(spec_, x, box_low_, box_high_);
}

double Emulator::predict_one(std::size_t j, const Eigen::RowVectorXd& x) const {
  const Fit& fit = *fits_[j];
  const EmulatedObjective& e = objectives_[j];
  const double z = fit.gp->predict_mean(x)[0];
  return emulator_unwarp(fit.warp, z, e.low, e.high, fit.y_min, fit.y_max);
}

std::vector<double> Emulator::predict(const Params& params) const {
  if (std::string why = refusal(params); !why.empty()) throw Error(why);
  const Eigen::RowVectorXd x = encode(params);
  std::vector<double> out;
  for (std::size_t j = 0; j < objectives_.size(); ++j) out.push_back(predict_one(j, x));
  return out;
}

std::vector<double> Emulator::sample(const Params& params, std::mt19937_64& rng) const {
  if (std::string why = refusal(params); !why.empty()) throw Error(why);
  const Eigen::RowVectorXd x = encode(params);
  std::vector<double> y(objectives_.size());
  for (std::size_t j = 0; j < y.size(); ++j) {
    const Fit& fit = *fits_[j];
    const EmulatedObjective& e = objectives_[j];
    const double draw = std::normal_distribution<double>(0.0, 1.0)(rng);
    // The model's noise lives where the model does, after the warp: a warped objective's noise
    // grows with its value as the fit says (thin_film's spans 2.7e4 to 1.5e6). Replicates'
    // noise was measured in the objective's units and is added there.
    if (fit.noise_in_warp)
      y[j] = emulator_unwarp(fit.warp, fit.gp->predict_mean(x)[0] + fit.noise_z * draw, e.low, e.high, fit.y_min, fit.y_max);
    else
      y[j] = std::clamp(predict_one(j, x) + e.noise_sd * draw, e.low, e.high);
    if (e.ordinal) y[j] = std::round(y[j]);
  }
  return y;
}

void Emulator::keep_in_range(std::vector<double>& y) const {
  for (size_t j = 0; j < y.size() && j < objectives_.size(); ++j) {
    y[j] = std::clamp(y[j], objectives_[j].low, objectives_[j].high);
    if (objectives_[j].ordinal) y[j] = std::round(y[j]);
  }
}

void Emulator::cross_validate() {
  // Fewer rows than kFolds: one row per fold (leave-one-out), so no fold is empty.
  folds_ = static_cast<int>(std::min<std::size_t>(kFolds, fit_index_.size()));
  const std::vector<std::size_t> order = emulator_permutation(fit_index_.size(), kEmulatorSeed + 1);
  std::vector<int> fold(fit_index_.size());
  for (std::size_t r = 0; r < order.size(); ++r) fold[order[r]] = static_cast<int>(r % static_cast<std::size_t>(folds_));
  for (std::size_t j = 0; j < objectives_.size(); ++j) {
    const Fit& fit = *fits_[j];
    EmulatedObjective& e = objectives_[j];
    e.cv_rmse.reset(), e.cv_r2.reset(), e.cv_note.clear();
    std::vector<double> truth, guess;
    for (int k = 0; k < folds_; ++k) {
      std::vector<Eigen::Index> train, test;
      for (std::size_t r = 0; r < fit.rows.size(); ++r) (fold[fit.rows[r]] == k ? test : train).push_back(static_cast<Eigen::Index>(r));
      if (test.empty() || train.size() < 3) continue;
      Eigen::MatrixXd x(static_cast<Eigen::Index>(train.size()), x_.cols());
      Eigen::VectorXd y(static_cast<Eigen::Index>(train.size()));
      for (std::size_t t = 0; t < train.size(); ++t) {
        x.row(static_cast<Eigen::Index>(t)) = x_.row(static_cast<Eigen::Index>(fit.rows[static_cast<std::size_t>(train[t])]));
        y[static_cast<Eigen::Index>(t)] = raw_[j][static_cast<std::size_t>(train[t])];
      }
      YeoJohnson warp;
      warp.fit(y);
      GaussianProcess gp(static_cast<int>(x.cols()), emulator_gp_options(spec_));
      gp.set_data(x, warp.transform(y));
      gp.fit();
      Eigen::MatrixXd xt(static_cast<Eigen::Index>(test.size()), x_.cols());
      for (std::size_t t = 0; t < test.size(); ++t)
        xt.row(static_cast<Eigen::Index>(t)) = x_.row(static_cast<Eigen::Index>(fit.rows[static_cast<std::size_t>(test[t])]));
      const Eigen::VectorXd z = gp.predict_mean(xt);
      for (std::size_t t = 0; t < test.size(); ++t) {
        double p = emulator_unwarp(warp, z[static_cast<Eigen::Index>(t)], e.low, e.high, y.minCoeff(), y.maxCoeff());
        if (e.ordinal) p = std::round(p);
        guess.push_back(p);
        truth.push_back(raw_[j][static_cast<std::size_t>(test[t])]);
      }
    }
    // A fold is fitted only on 3 rows or more (the emulator's own minimum): with 3 or 4 rows in all
    // few folds or none are, and figures over fewer than 2 held-out rows would be nan or
    // meaningless (no R² without a spread), so none are given, and the reason is stated instead.
    if (truth.size() < 2) {
      e.cv_note = fmt::format("not cross-validated: {} rows with a number, too few to hold rows out and fit on at least 3 others", fit.rows.size());
      continue;
    }
    // Sums of squares over values divided by `scale`: 1 (the plain sums, as before) unless they
    // overflow, as for values near 1e200; then over the values divided by their largest magnitude.
    double sse = 0, sst = 0;
    auto squares = [&](double scale) {
      double sum = 0;
      for (double t : truth) sum += t / scale;
      const double mean = sum / static_cast<double>(truth.size());
      sse = 0, sst = 0;
      for (std::size_t t = 0; t < truth.size(); ++t) {
        const double miss = truth[t] / scale - guess[t] / scale, spread = truth[t] / scale - mean;
        sse += miss * miss, sst += spread * spread;
      }
    };
    double scale = 1.0;
    squares(scale);
    if (!std::isfinite(sse) || !std::isfinite(sst)) {
      scale = 0;
      for (std::size_t t = 0; t < truth.size(); ++t) scale = std::max({scale, std::fabs(truth[t]), std::fabs(guess[t])});
      squares(scale);
    }
    const double rmse = scale * std::sqrt(sse / static_cast<double>(truth.size()));
    if (!std::isfinite(rmse)) {
      e.cv_note = fmt::format("not cross-validated: its errors exceed the largest number ({:g})", std::numeric_limits<double>::max());
      continue;
    }
    e.cv_rmse = rmse;
    e.cv_r2 = sst > 0 ? 1.0 - sse / sst : 0.0;
  }
}

nlohmann::json Emulator::to_json() const {
  nlohmann::json j{{"dataset", spec_.name},
                   {"emulator_version", kEmulatorVersion},
                   {"fingerprint", fingerprint_},
                   {"written_by", fmt::format("labloop-sim --emulator-report {}", spec_.name)},
                   {"model", "one GaussianProcess per objective (matern52, noise learned, MAP), Yeo-Johnson/Box-Cox warp where its test keeps it"},
                   {"rows", rows_},
                   {"fit_rows", fit_index_.size()},
                   {"max_fit_rows", kMaxEmulatorRows},
                   {"seed", kEmulatorSeed},
                   {"folds", folds_},
                   {"constraint", spec_.constraint}};
  nlohmann::json box = nlohmann::json::array();
  for (std::size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].type == ParameterType::continuous) box.push_back({{"name", inputs_[i].name}, {"low", box_low_[i]}, {"high", box_high_[i]}});
  j["box"] = box;
  nlohmann::json objectives = nlohmann::json::array();
  for (const EmulatedObjective& e : objectives_) {
    nlohmann::json o{{"name", e.name},
                     {"fit_rows", e.fit_rows},
                     {"warped", e.warped},
                     {"lambda", e.lambda},
                     {"hyperparameters", std::vector<double>(e.theta.data(), e.theta.data() + e.theta.size())},
                     {"noise_sd", e.noise_sd},
                     {"noise_source", e.noise_source},
                     {"low", e.low},
                     {"high", e.high},
                     {"range_rule", e.range_rule}};
    o["cv_rmse"] = e.cv_rmse ? nlohmann::json(*e.cv_rmse) : nlohmann::json(nullptr);
    o["cv_r2"] = e.cv_r2 ? nlohmann::json(*e.cv_r2) : nlohmann::json(nullptr);
    if (!e.cv_note.empty()) o["cv_note"] = e.cv_note;
    objectives.push_back(std::move(o));
  }
  j["objectives"] = objectives;
  return j;
}

std::string emulator_readme_section(const nlohmann::json& report) {
  std::string out = "<!-- labloop:emulator (written by labloop-sim --emulator-report; do not edit by hand) -->\n## Emulator (labloop-sim)\n\n";
  const auto rows = report.value("rows", std::size_t{0}), fit_rows = report.value("fit_rows", std::size_t{0});
  out += fmt::format(
      "labloop-sim serves this dataset as an emulated instrument (`\"simulator\": \"{}\"`): one Gaussian process per objective "
      "fitted to {} rows{}, returning its prediction plus the noise below, clamped to the range below. Inputs outside the "
      "rows' box{} are refused as failed experiments, never extrapolated. Rules: docs/datasets.md, \"Emulated datasets\".\n\n",
      report.value("dataset", ""), fit_rows,
      fit_rows < rows ? fmt::format(" (a random subset of the {}, seed {})", rows, report.value("seed", std::uint64_t{0})) : "",
      report.value("constraint", "") == "simplex" ? " or off the simplex (fractions summing to 1)" : "");
  out += fmt::format("| objective | warp | noise sd (source) | range (rule) | {}-fold CV RMSE | CV R² |\n|---|---|---|---|---|---|\n",
                     report.value("folds", 0));
  for (const auto& o : report["objectives"]) {
    const auto cv = [&](const char* key) { return o[key].is_number() ? fmt::format("{:.3g}", o[key].get<double>()) : std::string("—"); };
    out += fmt::format("| {} | {} | {:.3g} ({}) | [{:.4g}, {:.4g}] ({}) | {} | {} |\n", o["name"].get<std::string>(),
                       o["warped"].get<bool>() ? fmt::format("λ = {:.2f}", o["lambda"].get<double>()) : "none", o["noise_sd"].get<double>(),
                       o["noise_source"].get<std::string>(), o["low"].get<double>(), o["high"].get<double>(),
                       o["range_rule"].get<std::string>(), cv("cv_rmse"), cv("cv_r2"));
  }
  for (const auto& o : report["objectives"])
    if (o.contains("cv_note") && o["cv_note"].is_string()) out += fmt::format("\n{}: {}.\n", o["name"].get<std::string>(), o["cv_note"].get<std::string>());
  std::vector<std::string> box;
  for (const auto& b : report["box"]) box.push_back(fmt::format("{} [{:.4g}, {:.4g}]", b["name"].get<std::string>(), b["low"].get<double>(), b["high"].get<double>()));
  if (!box.empty()) out += fmt::format("\nThe box (declared as the instrument's limits): {}.\n", fmt::join(box, ", "));
  out += "<!-- /labloop:emulator -->\n";
  return out;
}

}  // namespace labloop::sim
