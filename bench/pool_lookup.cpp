// labloop-bench-pool: planners on real lookup-table datasets, where every combination of the
// parameters' options was measured, so any proposal can be scored exactly.
//
// A dataset is a folder of simulators/data (spec.json + data.csv, read by simulators/dataset.hpp,
// the same reader as labloop-sim's), or its name there. Its parameters are those labloop-sim
// declares: categorical options, and discrete levels for numeric ones (ordered, spaced).
//
// Each run is a pool campaign ("candidates", docs/decisions/0009-candidate-pools.md): the planner
// chooses among the table's measured combinations (or, with --subset F, a random fraction F of
// them, drawn per seed: real tables are incomplete), never one twice; the "instrument" returns the
// table's value (the mean of replicates). The run ends when a proposal hits a top-1 % row of the
// pool (its value at least as good as the ceil(1 % · rows)-th best of the pool), and goes on to
// the pool's best row, the pool's end or --max experiments. A dataset's descriptors.csv, when it
// has one, describes its categorical choices (--one-hot ignores it). Reported per dataset and planner over --seeds runs: the median and interquartile
// range of the number of experiments until the first top-1 % row and until the pool's best row
// (the initial design included; a run that never gets there counts as --max + 1), and the
// median time per ask.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dataset.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/candidate_pool.hpp"
#include "labloop/model/descriptors.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/space.hpp"
#include "lookup_table.hpp"

namespace {

namespace fs = std::filesystem;
using labloop::Error;
using labloop::Point;

// A dataset's lookup table (simulators/dataset.hpp reads and checks it) as the benchmark scores
// it: the first objective, minimized; its measured combinations as candidate rows.
class PoolTable {
 public:
  PoolTable(const fs::path& dir, bool descriptors) : table_(read(dir)), space_(with_descriptors(folder(dir), table_.spec().parameters, descriptors)) {
    const labloop::sim::DatasetSpec& spec = table_.spec();
    const double sign = spec.objectives.at(0).maximize ? -1.0 : 1.0;  // minimized inside
    const std::vector<labloop::Params> settings = table_.settings();
    const std::vector<std::vector<double>> values = table_.all_values();
    rows_.resize(static_cast<Eigen::Index>(settings.size()), space_.cube_dim());
    for (size_t i = 0; i < settings.size(); ++i) {
      rows_.row(static_cast<Eigen::Index>(i)) = space_.canonical(space_.encode(settings[i])).transpose();
      values_.push_back(sign * values[i].at(0));
    }
  }

  const std::string& name() const { return table_.spec().name; }
  const labloop::Space& space() const { return space_; }
  size_t rows() const { return values_.size(); }
  const Eigen::MatrixXd& cube_rows() const { return rows_; }
  double value(size_t row) const { return values_[row]; }

 private:
  // A folder, or the name of a dataset in the data directory (labloop-sim's names).
  static fs::path folder(const fs::path& dir) { return fs::is_directory(dir) || dir.has_parent_path() ? dir : labloop::sim::data_dir() / dir; }

  // The dataset's descriptors.csv (long format), when it has one, for each categorical parameter it describes.
  static std::vector<labloop::Parameter> with_descriptors(const fs::path& dir, std::vector<labloop::Parameter> parameters, bool wanted) {
    const fs::path file = dir / "descriptors.csv";
    if (!wanted || !fs::exists(file)) return parameters;
    labloop::CsvLimits limits;
    limits.max_rows = 200'000;
    const labloop::CsvTable table = labloop::read_csv_table(file, limits);
    std::set<std::string> described{table.header.empty() ? std::string() : table.header.front()};
    for (const auto& row : table.rows) described.insert(row.fields.front());
    for (auto& p : parameters)
      if (p.type == labloop::ParameterType::categorical && described.count(p.name)) {
        labloop::DescriptorTable d = labloop::read_descriptor_table(file, p, /*skip_text=*/true);
        p.descriptors = file.string();
        p.descriptor_names = std::move(d.names);
        p.descriptor_values = std::move(d.values);
      }
    return parameters;
  }

  static labloop::sim::LookupTable read(const fs::path& dir) {
    const fs::path folder = PoolTable::folder(dir);
    const labloop::sim::DatasetSpec spec = labloop::sim::read_dataset_spec(folder);
    // Only options can be scored exactly: a lookup table has no values between its rows.
    for (const auto& p : spec.parameters)
      if (p.type != labloop::ParameterType::categorical && p.type != labloop::ParameterType::discrete)
        throw Error(fmt::format("{}: parameter \"{}\" is {} (no options): only lookup tables of options can be scored exactly", spec.name,
                                p.name, labloop::to_string(p.type)));
    return labloop::sim::LookupTable(labloop::sim::read_dataset(folder));
  }

  labloop::sim::LookupTable table_;
  labloop::Space space_;
  Eigen::MatrixXd rows_;        // one canonical cube point per combination
  std::vector<double> values_;  // its first objective, minimized
};

struct Run {
  int to_top = 0;   // experiments until the first top-1 % row of the pool
  int to_best = 0;  // experiments until the pool's best row
  int pool = 0;     // rows in the pool
  double median_ask_ms = 0.0;
};

// One seed: the pool (every row, or a random `subset` fraction of them), then the planner until
// the pool's best row is found, the pool is used up or max_experiments have run.
Run run_once(const PoolTable& table, const nlohmann::json& planner_section, std::uint64_t seed, double subset, int max_experiments) {
  std::vector<size_t> rows(table.rows());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  if (subset < 1.0) {
    std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + 7);
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
  const labloop::CandidatePool pool(cube);

  const labloop::PlannerConfig config{planner_section.at("kind"), [&] {
                                        nlohmann::json o = planner_section;
                                        o.erase("kind");
                                        return o;
                                      }()};
  const std::string source = "labloop-bench-pool";
  labloop::PlannerContext context{table.space(), seed, config, source};
  context.candidates = &pool;
  auto planner = labloop::make_planner(context);
  std::vector<double> ask_ms;
  // Runs that never get there count as max_experiments + 1.
  Run run{max_experiments + 1, max_experiments + 1, static_cast<int>(rows.size()), 0.0};
  for (int i = 1; i <= std::min(max_experiments, static_cast<int>(rows.size())) && run.to_best > max_experiments; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<Point> asked = planner->ask(1, {});
    ask_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    if (asked.empty()) break;  // cannot happen before the best row: every row is open until told
    const Point x = table.space().canonical(asked.front());
    const auto row = pool.find(x);
    if (!row) throw Error(fmt::format("{}: planner {} proposed a point outside the pool (a bug)", table.name(), planner_section.dump()));
    const double y = values[static_cast<size_t>(*row)];
    if (run.to_top > max_experiments && y <= top) run.to_top = i;
    if (y <= best) run.to_best = i;
    planner->tell(labloop::Observation::succeeded(x, y));
  }
  std::sort(ask_ms.begin(), ask_ms.end());
  run.median_ask_ms = ask_ms.empty() ? 0.0 : ask_ms[ask_ms.size() / 2];
  return run;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Planners on lookup-table datasets as pool campaigns: experiments until the first top-1 % row and the best row"};
  std::vector<std::string> datasets;
  std::vector<std::string> planners{"bayesian"};
  int seeds = 40, initial = 5, max_experiments = 200;
  double subset = 1.0;
  unsigned jobs = std::max(1U, std::thread::hardware_concurrency());
  app.add_option("datasets", datasets, "Datasets: names in the data directory (LABLOOP_DATA_DIR, else simulators/data), e.g. buchwald_a, or folders (spec.json + data.csv)")->required();
  app.add_option("--planners", planners, "Planner kinds or JSON planner sections (random is always included)");
  app.add_option("--seeds", seeds, "Runs per dataset and planner")->check(CLI::PositiveNumber);
  app.add_option("--initial", initial, "Initial design size for bayesian planners without their own")->check(CLI::PositiveNumber);
  app.add_option("--subset", subset, "Fraction of the table's rows in each run's pool, drawn per seed (real tables are incomplete); 1: every row")
      ->check(CLI::Range(0.01, 1.0));
  app.add_option("--max", max_experiments, "Experiments per run at most (a run that never gets there counts as --max + 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--jobs", jobs, "Parallel runs")->check(CLI::PositiveNumber);
  bool one_hot = false;
  app.add_flag("--one-hot", one_hot, "Ignore the datasets' descriptors.csv: categorical choices one-hot only (without it the planner chooses by evidence)");
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<nlohmann::json> sections{{{"kind", "random"}}};
    for (const auto& p : planners) {
      nlohmann::json section = p.find('{') == std::string::npos ? nlohmann::json{{"kind", p}} : nlohmann::json::parse(p);
      if (section.value("kind", "") == "bayesian" && !section.contains("initial")) section["initial"] = initial;
      if (section != sections.front()) sections.push_back(section);
    }
    fmt::print("pool: {} of each table's rows, drawn per seed; {} seeds; experiments include the initial design\n",
               subset < 1.0 ? fmt::format("{:g} %", 100 * subset) : std::string("all"), seeds);
    fmt::print("{:<24} {:>6} {:>4}  {:<40} {:>8} {:>10} {:>8} {:>10} {:>8}\n", "dataset", "pool", "top", "planner", "to top 1%", "IQR",
               "to best", "IQR", "ms/ask");
    for (const auto& dir : datasets) {
      const PoolTable table{fs::path(dir), !one_hot};
      for (const auto& section : sections) {
        std::vector<Run> runs(static_cast<size_t>(seeds));
        std::atomic<int> next{0};
        std::vector<std::jthread> workers;
        for (unsigned j = 0; j < jobs; ++j)
          workers.emplace_back([&] {
            for (int s; (s = next++) < seeds;) runs[static_cast<size_t>(s)] = run_once(table, section, static_cast<std::uint64_t>(s + 1), subset, max_experiments);
          });
        workers.clear();
        std::vector<double> to_top, to_best, ask, pool;
        for (const auto& r : runs) to_top.push_back(r.to_top), to_best.push_back(r.to_best), ask.push_back(r.median_ask_ms), pool.push_back(r.pool);
        nlohmann::json shown = section;
        shown.erase("initial");
        const std::string label = shown.size() == 1 ? shown["kind"].get<std::string>() : shown.dump();
        const double pool_rows = quantile(pool, 0.5);
        fmt::print("{:<24} {:>6.0f} {:>4.0f}  {:<40} {:>8.1f} {:>10} {:>8.1f} {:>10} {:>8.1f}\n", table.name(), pool_rows, std::ceil(0.01 * pool_rows),
                   label.substr(0, 40), quantile(to_top, 0.5), fmt::format("{:.0f}-{:.0f}", quantile(to_top, 0.25), quantile(to_top, 0.75)),
                   quantile(to_best, 0.5), fmt::format("{:.0f}-{:.0f}", quantile(to_best, 0.25), quantile(to_best, 0.75)), quantile(ask, 0.5));
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "labloop-bench-pool: {}\n", e.what());
    return 1;
  }
  return 0;
}
