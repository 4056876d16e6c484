#pragma once
// The real-data suite behind `labloop bench --suite real`: planners on the datasets of
// simulators/data (read by simulators/dataset.hpp, as labloop-sim reads them), in-process, many
// seeds, random search in the same run.
//
// - Lookup tables (spec "lookup_table": true, every combination of options measured) run as pool
//   campaigns (docs/decisions/0009-candidate-pools.md): the planner chooses among the table's
//   measured rows (or, with `subset` < 1, a random fraction of them drawn per seed: real tables
//   are incomplete), never one twice, and the table answers with its value (the mean of
//   replicates). A run ends at the pool's best row, the pool's end or `max_experiments`. Scored:
//   experiments until the first top-1 % row (its value at least as good as the ceil(1 % · rows)-th
//   best of the pool) and until the pool's best row, the initial design included; a run that
//   never gets there counts as max_experiments + 1. A dataset's descriptors.csv, when it has one,
//   describes its categorical choices unless `descriptors` is off.
// - Scattered datasets run against their emulator (simulators/emulator.hpp: one GP per
//   objective, fitted once per dataset and shared read-only by every run): the planner searches
//   the emulator's inputs for `budget` experiments and is told noisy values, drawn as labloop-sim
//   serves them. Scored: regret, the reference value minus the true (noise-free emulator mean)
//   value of the best setting evaluated so far (in the objective's units, signed so that 0 is the
//   reference and larger is worse). The reference is the best emulated mean over a fixed set: the
//   dataset's own rows, kReferenceSobolPoints Sobol points of the emulator's input box, and a
//   compass search from the best kReferencePolished of those (continuous coordinates only). A
//   planner that finds a better setting than the reference shows a regret below 0.
//
// The first objective of spec.json is optimized (or the one named). Seeds run 1..seeds; each run's draws depend on
// its seed only, so figures do not depend on `jobs`. This is the algorithm labloop-bench-pool
// ran (same seeds, subsets and stopping rule), so its published figures reproduce.
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "planner_benchmark.hpp"

namespace labloop {

// Emulated datasets: experiments per run when none is given.
constexpr int kEmulatedBudget = 50;
constexpr int kReferenceSobolPoints = 8192;
constexpr int kReferencePolished = 4;

enum class RealDatasetKind { lookup_table, emulated };

// RealRun::proposed's entry for an experiment on a combination the table lacks (no data.csv row).
constexpr std::size_t kMissingRow = static_cast<std::size_t>(-1);

struct RealBenchmarkOptions {
  // Names in sim::data_dir() (buchwald_a) or dataset folders (spec.json + data.csv).
  std::vector<std::string> datasets;
  // Random search should be among them (the CLI puts it first); labels as shown.
  std::vector<BenchmarkPlanner> planners;
  int seeds = 40;
  int jobs = 1;
  double subset = 1.0;        // lookup tables: fraction of the rows in a run's pool, drawn per seed
  int max_experiments = 200;  // lookup tables: experiments per run at most
  int budget = kEmulatedBudget;  // emulated datasets: experiments per run
  bool descriptors = true;    // lookup tables: use descriptors.csv when there is one
  // Lookup tables: the planner searches the whole space, as a campaign without a candidates
  // file on the dataset's simulator does (each proposal looked up in the table), instead of
  // choosing among the rows. Needs subset 1 (every row must be there). A setting the table has no
  // row for fails that experiment, as labloop-sim's lookup table fails it (RealRun::missing).
  bool whole_space = false;
  // The objective scored, by name, in every dataset (each must have it); empty: each dataset's
  // first. Runs are then labelled "dataset[objective]".
  std::string objective;
  // Once this is true (a first Ctrl-C), no further run starts and no further dataset is read; the
  // runs under way finish. Null: every run.
  const std::atomic<bool>* stop = nullptr;
  // Counts the runs as they finish, from the worker threads (for a progress display). Null: none.
  std::atomic<std::size_t>* finished_runs = nullptr;
};

// One run (one dataset, planner and seed).
struct RealRun {
  std::string dataset, planner;
  std::string objective;  // the objective scored and its goal, as the table heads say it: "yield, maximized"
  RealDatasetKind kind = RealDatasetKind::lookup_table;
  int seed = 0;
  // Lookup tables.
  int pool = 0;       // rows in this run's pool
  int top_rows = 0;   // rows counted as the pool's top 1 %
  int to_top = 0;     // experiments until the first top-1 % row (max_experiments + 1: never)
  int to_best = 0;    // experiments until the pool's best row (max_experiments + 1: never)
  std::vector<std::size_t> proposed;  // the rows proposed, in order: each one's first line in data.csv, 0-based after the header
                                      // (kMissingRow: a combination the table lacks, --whole-space)
  std::vector<double> proposed_values;  // their objective, as the dataset states it (replicates averaged; NaN for kMissingRow)
  // --whole-space: experiments that asked for a combination missing from the table, each failed (as
  // labloop-sim fails it: docs/datasets.md), and the first of them ("cation=MA, anion=I").
  int missing = 0;
  std::string first_missing;
  // Emulated datasets: regret after each experiment (+inf before the first that succeeded), and
  // experiments the emulator refused (outside the rows' box: failed, as labloop-sim reports them).
  std::vector<double> regret;
  int refused = 0;
  double reference = std::numeric_limits<double>::quiet_NaN();  // the reference value, objective's units
  // Both: median milliseconds per ask().
  double median_ask_ms = 0.0;
};

// Every run of every dataset, dataset by dataset in the order given, then planner, then seed.
// Within a dataset runs start seed by seed (every planner's run of seed 1 first); when
// options.stop ends the suite early, a dataset under way keeps the runs of the seeds every
// planner finished (runs_of_paired_seeds) and later datasets have none.
// `on_dataset` (may be empty) is called with each dataset's runs as soon as they are done (when
// there are any), so a long suite prints as it goes. Throws ConfigError for an unknown dataset (naming the known ones)
// or a planner section that does not load, Error for a dataset that cannot be benchmarked.
std::vector<RealRun> run_real_benchmark(const RealBenchmarkOptions& options,
                                        const std::function<void(const std::vector<RealRun>&)>& on_dataset = {});

// What run_real_benchmark checks before anything runs (numbers, dataset names and folders, the
// objective): the datasets' folders, in order. For a caller that prints a header first.
std::vector<std::filesystem::path> checked_real_folders(const RealBenchmarkOptions& options);

// The default datasets: the lookup tables with a target in the issue, then a few emulated ones.
std::vector<std::string> real_suite_datasets();

// The dataset folder a name or path stands for (a name in sim::data_dir(), or a folder with a
// spec.json); ConfigError naming the known datasets otherwise.
std::filesystem::path real_dataset_folder(const std::string& name_or_folder);

}  // namespace labloop
