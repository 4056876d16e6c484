#pragma once
// `labloop bench`'s reading of its command line and its writing of result files, apart from the
// runs so they can be checked without running any (tests/unit/real_suite_test.cpp).
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataset.hpp"
#include "planner_benchmark.hpp"
#include "real_benchmark.hpp"

namespace labloop::cli {

// "branin", "levy:7": a test function and a dimension it allows (1 to its limit, or its one
// dimension). Throws ConfigError (source "labloop bench", --problems) for an unknown function or a
// dimension that is no whole number it allows.
BenchmarkProblem parse_bench_problem(const std::string& text);

// --suite goals's rows (goal_problems()), or those of them `names` selects: a row's label as the
// tables show it ("branin noise 0.5", "dtlz2-6"), or a function ("branin", "dtlz2", "dtlz2:6"),
// which selects each of its rows ("hartmann6": its noisy and its batch row), in the suite's order.
// Throws ConfigError (--problems) for a name that is no row's, listing the rows.
std::vector<BenchmarkProblem> select_goal_problems(const std::vector<std::string>& names);

// --noise and --batch (`noise` 0 and `batch` 1: none) made part of each problem, so its label,
// the tables' and bench.csv's, says so ("branin noise 0.5", "hartmann6 batch 4"). Throws
// ConfigError (--noise, --batch) when a problem has noise or a batch of its own (the goals suite's
// noisy and batch rows), which the option would not change, naming them.
void apply_bench_noise_and_batch(std::vector<BenchmarkProblem>& problems, double noise, int batch);

// A planner's name or a JSON planner section; a bayesian one without "initial" gets `initial`.
// Throws ConfigError (--planners) for JSON that does not read or is no planner section.
BenchmarkPlanner parse_bench_planner(const std::string& text, int initial);

// Runs are grouped by planner label: two planners of one label would be merged into one row of
// twice the seeds. Throws ConfigError (--planners) naming the label given twice.
// Random search is a column of every run, given or not ("random" or '{"kind": "random"}'): put
// first unless `planners` has it.
void add_random_baseline(std::vector<BenchmarkPlanner>& planners, int initial);
void refuse_duplicate_planners(const std::vector<BenchmarkPlanner>& planners);

// Stated limit (bench/README.md, labloop bench --help): the evaluations (the real suite:
// experiments) of all of a benchmark's runs together, seeds × planners × each problem's budget
// summed over the problems. Every one is kept until the tables are drawn, with its line of
// bench.csv or real_rows.csv being built: about 250 bytes each then, so this is about 250 MB,
// where --seeds and --budget at their own limits asked for terabytes. The largest run the docs
// give (the real suite at full size) holds about 210,000.
constexpr long long kMaxBenchEvaluations = 1'000'000;

// Throws ConfigError (source "labloop bench", --seeds) when `seeds` runs of each of `planners` on
// each problem, of `per_run[i]` evaluations on problem i (at most: a lookup table's rows, say),
// hold more than kMaxBenchEvaluations; the message names `lower`, the options that lower it.
// `what`: "evaluations" or "experiments"; `of`: "problems" or "datasets".
void check_bench_size(std::size_t planners, int seeds, const std::vector<long long>& per_run, const char* what, const char* of,
                      const char* lower);
// The experiments a real-suite run on the dataset of `spec` makes at most, for check_bench_size:
// an emulated one options.budget; a lookup table's options.max_experiments or its rows, whichever
// is fewer (a pool run never takes a row twice), and --whole-space's options.max_experiments.
long long real_run_experiments(const sim::DatasetSpec& spec, const RealBenchmarkOptions& options);

// The line bench redraws on a terminal while runs go on: "labloop bench: 37 of 80 runs done in
// 1:12, about 1:24 left (Ctrl-C: stop after the runs under way)". The time left is the time so far
// per run done, times the runs left (none before the first run is done).
std::string bench_progress_line(std::size_t done, std::size_t planned, double elapsed_s);

// `text` as the whole of `path`, all or nothing (a temporary renamed over it, so an earlier good
// file is never left half replaced). Throws Error "cannot write <path>: <reason>".
void write_bench_file(const std::filesystem::path& path, std::string_view text);

// Each (file name, text) of `files` into `folder`, in order, each by write_bench_file. When one
// cannot be written (a full disk), throws Error naming it and saying which of the others this run
// wrote and which, left in the folder, are an earlier run's (so a new bench.csv is not taken to
// go with an earlier regret.svg).
void write_bench_files(const std::filesystem::path& folder, const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace labloop::cli
