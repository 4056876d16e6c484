#include "real_benchmark.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "dataset.hpp"
#include "emulator.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/candidate_pool.hpp"
#include "labloop/model/descriptors.hpp"
#include "labloop/model/feasible_sampler.hpp"
#include "labloop/model/linear_constraints.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/sobol.hpp"
#include "labloop/model/space.hpp"
#include "lookup_table.hpp"

namespace labloop {

namespace fs = std::filesystem;

std::vector<std::string> real_suite_datasets() {
  // The lookup tables with a target in the issue (docs/benchmarks.md), then four emulated
  // datasets of different sizes (66 to 1386 rows, 4 to 6 continuous inputs).
  return {"buchwald_a", "buchwald_b", "buchwald_c", "buchwald_d", "buchwald_e", "edbo_direct_arylation", "suzuki_edbo", "dye_lasers",
          "lnp3",       "mmli_opv",   "redoxmers",  "perovskites", "suzuki",    "snar",                  "hplc",        "crossed_barrel"};
}

fs::path real_dataset_folder(const std::string& name_or_folder) {
  const fs::path given(name_or_folder);
  // A folder that exists, or a path (it has a parent), is taken as it is; a bare name is looked
  // up in the data directory (labloop-sim's names).
  const fs::path folder = fs::is_directory(given) || given.has_parent_path() ? given : sim::data_dir() / given;
  if (fs::exists(folder / "spec.json")) return folder;
  const std::vector<std::string> known = sim::dataset_names(sim::data_dir());
  const std::string problem = sim::data_dir_problem(sim::data_dir());
  throw ConfigError("labloop bench", "--datasets",
                    fmt::format("unknown dataset \"{}\": neither a folder with a spec.json nor a dataset of {} ({})", name_or_folder,
                                sim::data_dir().string(), problem.empty() ? fmt::format("known: {}", fmt::join(known, ", ")) : problem));
}

namespace {

// ---- Lookup tables ------------------------------------------------------------------------------

// The index of objective `name` in `spec` (empty: the first), and the runs' label.
size_t objective_index(const sim::DatasetSpec& spec, const std::string& name) {
  for (size_t j = 0; j < spec.objectives.size(); ++j)
    if (spec.objectives[j].name == name) return j;
  if (name.empty() && !spec.objectives.empty()) return 0;
  std::string names;
  for (const auto& o : spec.objectives) names += (names.empty() ? "" : ", ") + o.name;
  throw ConfigError("labloop bench", "--objective", fmt::format("dataset {} has no objective \"{}\" (its objectives: {})", spec.name, name, names));
}
std::string run_label(const sim::DatasetSpec& spec, const std::string& objective) {
  return objective.empty() ? spec.name : fmt::format("{}[{}]", spec.name, objective);
}
std::string objective_text(const sim::DatasetSpec& spec, size_t j) {
  return fmt::format("{}, {}", spec.objectives.at(j).name, spec.objectives.at(j).maximize ? "maximized" : "minimized");
}

// A dataset's lookup table as the benchmark scores it: one objective (the first unless named),
// minimized; its measured combinations as candidate rows (canonical cube points).
class RealPoolTable {
 public:
  RealPoolTable(const fs::path& folder, bool descriptors, const std::string& objective)
      : table_(read(folder)), space_(with_descriptors(folder, table_.spec().parameters, descriptors)),
        objective_(objective_index(table_.spec(), objective)), label_(run_label(table_.spec(), objective)) {
    const sim::DatasetSpec& spec = table_.spec();
    const double sign = spec.objectives.at(objective_).maximize ? -1.0 : 1.0;  // minimized inside
    const std::vector<Params> settings = table_.settings();
    const std::vector<std::vector<double>> values = table_.all_values();
    data_rows_ = table_.first_rows();
    rows_.resize(static_cast<Eigen::Index>(settings.size()), space_.cube_dim());
    for (size_t i = 0; i < settings.size(); ++i) {
      rows_.row(static_cast<Eigen::Index>(i)) = space_.canonical(space_.encode(settings[i])).transpose();
      values_.push_back(sign * values[i].at(objective_));
    }
  }

  const std::string& name() const { return label_; }
  std::string objective_text() const { return labloop::objective_text(table_.spec(), objective_); }
  const Space& space() const { return space_; }
  size_t rows() const { return values_.size(); }
  const Eigen::MatrixXd& cube_rows() const { return rows_; }
  double value(size_t row) const { return values_[row]; }
  // Row `row`'s first line in data.csv, 0-based after the header (its combinations are in key order).
  size_t data_row(size_t row) const { return data_rows_[row]; }
  // Its objective as the dataset states it (not minimized).
  double stated_value(size_t row) const { return table_.spec().objectives.at(objective_).maximize ? -values_[row] : values_[row]; }

 private:
  // The dataset's descriptors.csv, when it has one, as a campaign file on its simulator takes it.
  static std::vector<Parameter> with_descriptors(const fs::path& dir, std::vector<Parameter> parameters, bool wanted) {
    const fs::path file = dir / "descriptors.csv";
    if (wanted && fs::exists(file))
      for (const std::string& note : adopt_descriptors(parameters, file)) fmt::print(stderr, "{}: descriptors: {}\n", dir.filename().string(), note);
    return parameters;
  }

  static sim::LookupTable read(const fs::path& folder) {
    const sim::DatasetSpec spec = sim::read_dataset_spec(folder);
    // Only options can be scored exactly: a lookup table has no values between its rows.
    for (const auto& p : spec.parameters)
      if (p.type != ParameterType::categorical && p.type != ParameterType::discrete)
        throw Error(fmt::format("{}: parameter \"{}\" is {} (no options): only lookup tables of options can be scored exactly", spec.name,
                                p.name, to_string(p.type)));
    return sim::LookupTable(sim::read_dataset(folder));
  }

  sim::LookupTable table_;
  Space space_;
  Eigen::MatrixXd rows_;        // one canonical cube point per combination
  size_t objective_;            // index into the spec's objectives
  std::string label_;           // the runs' dataset label
  std::vector<double> values_;  // its objective, minimized
  std::vector<size_t> data_rows_;
};

double real_median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A setting as labloop-sim names it in its refusal: "cation=MA, anion=I".
std::string real_setting_text(const Space& space, const Point& x) {
  const Params params = space.decode(x);
  std::string text;
  for (const auto& p : space.parameters()) {
    const auto& v = params.at(p.name);
    text += fmt::format("{}{}={}", text.empty() ? "" : ", ", p.name, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return text;
}

PlannerConfig real_planner_config(const nlohmann::json& section) {
  PlannerConfig config;
  config.kind = section.value("kind", "random");
  for (const auto& [k, v] : section.items())
    if (k != "kind") config.options[k] = v;
  return config;
}

// One seed: the pool (every row, or a random `subset` fraction of them), then the planner until
// the pool's best row is found, the pool is used up or max_experiments have run. The subset's
// draw and the planner's seed are labloop-bench-pool's, so its figures reproduce.
RealRun run_pool_once(const RealPoolTable& table, const BenchmarkPlanner& planner_spec, int seed, double subset, int max_experiments, bool whole_space) {
  std::vector<size_t> rows(table.rows());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  if (subset < 1.0) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 0x9e3779b97f4a7c15ULL + 7);
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(std::max<size_t>(1, static_cast<size_t>(std::llround(subset * static_cast<double>(rows.size())))));
    std::sort(rows.begin(), rows.end());
  }
  Eigen::MatrixXd cube(static_cast<Eigen::Index>(rows.size()), table.space().cube_dim());
  std::vector<double> values;
  for (size_t i = 0; i < rows.size(); ++i) {
    cube.row(static_cast<Eigen::Index>(i)) = table.cube_rows().row(static_cast<Eigen::Index>(rows[i]));
    values.push_back(table.value(rows[i]));
  }
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const size_t top_count = static_cast<size_t>(std::ceil(0.01 * static_cast<double>(sorted.size())));
  const double top = sorted[top_count - 1], best = sorted.front();
  const CandidatePool pool(cube);

  // As a campaign file with these rows as its "candidates" (or, whole_space, with none) would run.
  PlannerConfig config = real_planner_config(planner_spec.config);
  set_new_campaign_defaults(config, table.space().parameters(), /*candidate_pool=*/!whole_space);
  const std::string source = "labloop bench --suite real";
  PlannerContext context{table.space(), static_cast<std::uint64_t>(seed), config, source};
  if (!whole_space) context.candidates = &pool;
  auto planner = make_planner(context);
  std::vector<double> ask_ms;
  RealRun run;
  run.dataset = table.name();
  run.objective = table.objective_text();
  run.planner = planner_spec.label;
  run.kind = RealDatasetKind::lookup_table;
  run.seed = seed;
  run.pool = static_cast<int>(rows.size());
  run.top_rows = static_cast<int>(top_count);
  // Runs that never get there count as max_experiments + 1.
  run.to_top = run.to_best = max_experiments + 1;
  // A pool is used up after its rows; the whole space may hold settings the table lacks (each a
  // failed experiment), so there only --max ends a run that does not find the best row.
  const int limit = whole_space ? max_experiments : std::min(max_experiments, static_cast<int>(rows.size()));
  for (int i = 1; i <= limit && run.to_best > max_experiments; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<Point> asked = planner->ask(1, {});
    ask_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    if (asked.empty()) break;  // cannot happen before the best row: every row is open until told
    const Point x = table.space().canonical(asked.front());
    const auto row = pool.find(x);
    if (!row && whole_space) {
      // A table that lacks a combination (a user's table, a row deleted): labloop-sim fails that
      // experiment naming it (docs/datasets.md), so the benchmark's campaign is told it failed.
      if (run.missing++ == 0) run.first_missing = real_setting_text(table.space(), x);
      run.proposed.push_back(kMissingRow);
      run.proposed_values.push_back(std::numeric_limits<double>::quiet_NaN());
      planner->tell(Observation::failed(x));
      continue;
    }
    if (!row)
      throw Error(fmt::format("{}: planner {} proposed a point outside the pool (a bug)", table.name(), planner_spec.config.dump()));
    run.proposed.push_back(table.data_row(rows[static_cast<size_t>(*row)]));
    run.proposed_values.push_back(table.stated_value(rows[static_cast<size_t>(*row)]));
    const double y = values[static_cast<size_t>(*row)];
    if (run.to_top > max_experiments && y <= top) run.to_top = i;
    if (y <= best) run.to_best = i;
    planner->tell(Observation::succeeded(x, y));
  }
  run.median_ask_ms = real_median(ask_ms);
  return run;
}

// ---- Emulated datasets --------------------------------------------------------------------------

// A scattered dataset's emulator, fitted once (with the hyperparameters of its emulator.json
// when they match data.csv), its inputs as the planner's space, and the reference value.
class RealEmulated {
 public:
  RealEmulated(const fs::path& folder, const std::string& objective) {
    const sim::Dataset data = sim::read_dataset(folder);
    const auto stored = sim::read_emulator_json(folder);
    emulator_ = std::make_unique<const sim::Emulator>(data, stored ? &*stored : nullptr);
    if (!emulator_->stored_problem().empty())
      fmt::print(stderr, "note: {}, so the emulator was fitted afresh (labloop-sim --emulator-report {} stores the fit)\n",
                 emulator_->stored_problem(), data.spec.name);
    space_ = std::make_unique<const Space>(emulated_space(*emulator_));
    objective_ = objective_index(data.spec, objective);
    label_ = run_label(data.spec, objective);
    sign_ = data.spec.objectives.at(objective_).maximize ? -1.0 : 1.0;
    reference_ = find_reference(data);
  }

  const std::string& name() const { return label_; }
  size_t objective_column() const { return objective_; }  // index into the spec's objectives
  std::string objective_text() const { return labloop::objective_text(emulator_->spec(), objective_); }
  const Space& space() const { return *space_; }
  const sim::Emulator& emulator() const { return *emulator_; }
  double sign() const { return sign_; }
  // The reference, minimized (sign · value).
  double reference() const { return reference_; }
  // sign · the emulator's mean at `params`, or nullopt when the emulator refuses it.
  std::optional<double> true_value(const Params& params) const {
    if (!emulator_->refusal(params).empty()) return std::nullopt;
    return sign_ * emulator_->predict(params).at(objective_);
  }

 private:
  // The planner's space: the emulator's inputs and, for a simplex dataset (fractions summing to
  // 1), that equality as a linear constraint, so every proposal is a setting the emulator takes
  // (Space meets equalities to 1e-9 of their scale; the emulator refuses beyond 1e-3).
  static Space emulated_space(const sim::Emulator& emulator) {
    std::vector<Parameter> inputs = emulator.offered_inputs();
    const std::string text = emulator.spec().required_constraint();
    if (text.empty()) return Space(std::move(inputs));
    const ConstraintParse parsed = parse_linear_constraint(text, inputs);
    if (!parsed.constraint) throw Error(fmt::format("{}: its simplex constraint \"{}\": {}", emulator.spec().name, text, parsed.error));
    return Space(std::move(inputs), {*parsed.constraint});
  }

  // The best emulated mean over the rows, kReferenceSobolPoints Sobol points of the input box
  // (of the feasible set, drawn by hit and run, when the space is constrained), then a compass
  // search from the best kReferencePolished cube points (continuous coordinates, steps halved
  // from 1/8 down to 1/4096 of the box; a step off the constraints is projected back onto them).
  double find_reference(const sim::Dataset& data) const {
    const Space& space = *space_;
    std::vector<std::pair<double, Eigen::VectorXd>> scored;
    auto score = [&](const Eigen::VectorXd& x) {
      if (auto v = true_value(space.decode(x))) scored.emplace_back(*v, x);
    };
    const std::vector<Parameter>& parameters = emulator_->spec().parameters;
    for (const CsvRow& row : data.rows) {
      Params params = Params::object();
      for (size_t i = 0; i < parameters.size(); ++i) {
        const Parameter& p = parameters[i];
        const std::string& cell = row.fields[i];
        if (p.type == ParameterType::categorical) params[p.name] = p.choices[static_cast<size_t>(sim::find_option(p, cell))];
        else if (p.type == ParameterType::discrete) params[p.name] = p.values[static_cast<size_t>(sim::find_option(p, cell))];
        else params[p.name] = parse_number(cell).value_or(std::nan(""));
      }
      if (!emulator_->refusal(params).empty()) continue;
      score(space.canonical(space.encode(params)));
    }
    if (space.constrained()) {
      FeasibleSampler sampler(space);
      std::mt19937_64 rng(20261202);
      for (int i = 0; i < kReferenceSobolPoints; ++i) score(sampler.next(rng));
    } else {
      SobolSequence sobol(std::max(space.cube_dim(), 1), 20261202);
      for (int i = 0; i < kReferenceSobolPoints; ++i) score(space.canonical(sobol.next().head(space.cube_dim())));
    }
    if (scored.empty()) throw Error(fmt::format("{}: the emulator refuses every reference point: nothing to measure regret against", name()));
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double best = scored.front().first;
    std::vector<Eigen::Index> continuous;
    for (int i = 0; i < space.size(); ++i)
      if (space.parameters()[static_cast<size_t>(i)].type == ParameterType::continuous) continuous.push_back(space.offset(i));
    for (size_t s = 0; s < std::min<size_t>(kReferencePolished, scored.size()); ++s) {
      Eigen::VectorXd x = scored[s].second;
      double fx = scored[s].first;
      for (double step = 0.125; step >= 1.0 / 4096;) {
        bool moved = false;
        for (Eigen::Index c : continuous)
          for (double direction : {-1.0, 1.0}) {
            Eigen::VectorXd y = x;
            y(c) = std::clamp(y(c) + direction * step, 0.0, 1.0);
            if (space.constrained()) {
              const std::optional<Eigen::VectorXd> repaired = space.repair(y);
              if (!repaired || (*repaired - x).cwiseAbs().maxCoeff() == 0) continue;
              y = *repaired;
            }
            const auto fy = true_value(space.decode(y));
            if (fy && *fy < fx) x = y, fx = *fy, moved = true;
          }
        if (!moved) step /= 2;
      }
      best = std::min(best, fx);
    }
    return best;
  }

  std::unique_ptr<const sim::Emulator> emulator_;
  std::unique_ptr<const Space> space_;
  size_t objective_ = 0;  // index into the spec's objectives
  std::string label_;
  double sign_ = 1.0;
  double reference_ = 0.0;
};

// One seed: `budget` experiments, each told the emulator's noisy value (labloop-sim's draw) or a
// failure when the emulator refuses the setting; regret after each from the true values.
RealRun run_emulated_once(const RealEmulated& problem, const BenchmarkPlanner& planner_spec, int seed, int budget) {
  const Space& space = problem.space();
  // As a campaign file on this emulator would run.
  PlannerConfig config = real_planner_config(planner_spec.config);
  set_new_campaign_defaults(config, space.parameters(), /*candidate_pool=*/false);
  const std::string source = "labloop bench --suite real";
  auto planner = make_planner(PlannerContext{space, static_cast<std::uint64_t>(seed), config, source});
  // Noise drawn per seed, as planner_benchmark's runs draw theirs.
  std::mt19937_64 noise_rng(static_cast<std::uint64_t>(seed) * 7919 + 17);
  RealRun run;
  run.dataset = problem.name();
  run.objective = problem.objective_text();
  run.planner = planner_spec.label;
  run.kind = RealDatasetKind::emulated;
  run.seed = seed;
  run.reference = problem.sign() * problem.reference();
  std::vector<double> ask_ms;
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < budget; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<Point> asked = planner->ask(1, {});
    ask_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    if (asked.empty()) break;
    const Params params = space.decode(asked.front());
    const Point at = space.encode(params);
    if (const auto truth = problem.true_value(params)) {
      const double observed = problem.sign() * problem.emulator().sample(params, noise_rng).at(problem.objective_column());
      planner->tell(Observation::succeeded(at, observed));
      best = std::min(best, *truth);
    } else {
      ++run.refused;
      planner->tell(Observation::failed(at));
    }
    run.regret.push_back(best - problem.reference());
  }
  run.median_ask_ms = real_median(ask_ms);
  return run;
}

// Runs `count` jobs on `jobs` threads, none started once *stop is true; the first exception is
// rethrown after all have stopped.
template <class F>
void real_parallel(size_t count, int jobs, const std::atomic<bool>* stop, F&& job) {
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  {
    std::vector<std::jthread> workers;
    for (int w = 0; w < std::max(1, jobs); ++w)
      workers.emplace_back([&] {
        for (size_t i = next++; i < count; i = next++) {
          if (stop && stop->load()) break;
          try {
            job(i);
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
            next = count;
          }
        }
      });
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

std::vector<fs::path> checked_real_folders(const RealBenchmarkOptions& options) {
  if (options.seeds < 1) throw ConfigError("labloop bench", "--seeds", "must be at least 1");
  if (!(options.subset > 0.0 && options.subset <= 1.0)) throw ConfigError("labloop bench", "--subset", "must lie in (0, 1]");
  if (options.whole_space && options.subset < 1.0)
    throw ConfigError("labloop bench", "--whole-space", "searches every setting of the table, so every row must be there: leave --subset out");
  if (options.max_experiments < 1) throw ConfigError("labloop bench", "--max", "must be at least 1");
  if (options.budget < 1) throw ConfigError("labloop bench", "--budget", "must be at least 1");
  // Every name checked before anything runs: a typo in the last dataset should not cost an hour.
  std::vector<fs::path> folders;
  for (const auto& d : options.datasets) folders.push_back(real_dataset_folder(d));
  if (!options.objective.empty())
    for (const auto& folder : folders) objective_index(sim::read_dataset_spec(folder), options.objective);
  // Runs are told apart by their dataset's name (real.csv, the tables): two folders of one name
  // (a copy beside the original) would be pooled as one dataset's.
  std::map<std::string, fs::path> named;
  for (const auto& folder : folders) {
    const std::string name = sim::read_dataset_spec(folder).name;
    if (const auto [it, fresh] = named.emplace(name, folder); !fresh)
      throw ConfigError("labloop bench", "--datasets",
                        fmt::format("{} and {} are both named \"{}\" (a dataset is named by its folder): their runs could not be told apart; "
                                    "rename one of the folders, or give each once",
                                    it->second.string(), folder.string(), name));
  }
  return folders;
}

std::vector<RealRun> run_real_benchmark(const RealBenchmarkOptions& options, const std::function<void(const std::vector<RealRun>&)>& on_dataset) {
  const std::vector<fs::path> folders = checked_real_folders(options);
  std::vector<RealRun> all;
  for (const auto& folder : folders) {
    if (options.stop && options.stop->load()) break;
    const sim::DatasetSpec spec = sim::read_dataset_spec(folder);
    const size_t seeds = static_cast<size_t>(options.seeds), planners = options.planners.size();
    std::vector<RealRun> runs(planners * seeds);
    std::vector<char> finished(runs.size(), 0);
    // Seed by seed (every planner's run of seed 1 first), so that runs stopped early have each
    // planner's runs of the same seeds; stored planner by planner.
    const auto run_at = [&](size_t k, auto&& run) {
      const size_t planner = k % planners, seed = k / planners, i = planner * seeds + seed;
      runs[i] = run(options.planners[planner], static_cast<int>(seed) + 1);
      finished[i] = 1;
      if (options.finished_runs) ++*options.finished_runs;
    };
    if (spec.lookup_table) {
      const RealPoolTable table(folder, options.descriptors, options.objective);
      real_parallel(runs.size(), options.jobs, options.stop, [&](size_t k) {
        run_at(k, [&](const BenchmarkPlanner& planner, int seed) {
          return run_pool_once(table, planner, seed, options.subset, options.max_experiments, options.whole_space);
        });
      });
    } else {
      const RealEmulated problem(folder, options.objective);
      real_parallel(runs.size(), options.jobs, options.stop, [&](size_t k) {
        run_at(k, [&](const BenchmarkPlanner& planner, int seed) { return run_emulated_once(problem, planner, seed, options.budget); });
      });
    }
    runs = runs_of_paired_seeds(std::move(runs), finished, planners, [](const RealRun& r) { return r.dataset; });
    if (on_dataset && !runs.empty()) on_dataset(runs);
    all.insert(all.end(), std::make_move_iterator(runs.begin()), std::make_move_iterator(runs.end()));
  }
  return all;
}

}  // namespace labloop
