// labloop-bench-pool: planners on real lookup-table datasets, where every combination of the
// parameters' options was measured, so any proposal can be scored exactly.
//
// A dataset is a folder of simulators/data (spec.json + data.csv, read by simulators/dataset.hpp,
// the same reader as labloop-sim's), or its name there. Every parameter is a categorical one
// (numeric options too: a lookup table has no values between its rows).
//
// Each run: the planner proposes one experiment at a time; the "instrument" returns the table's
// value (the mean of replicates). The run ends when a proposal hits a top-1 % row (its value at
// least as good as the ceil(1 % · rows)-th best) or after --max experiments. Reported per
// dataset and planner over --seeds runs: the median and interquartile range of the number of
// experiments it took (runs that never hit count as --max + 1), and the median time per ask.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dataset.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/space.hpp"
#include "lookup_table.hpp"

namespace {

namespace fs = std::filesystem;
using labloop::Error;
using labloop::Point;

// A dataset's lookup table (simulators/dataset.hpp reads and checks it) as the benchmark scores
// it: every parameter categorical, the first objective minimized.
class PoolTable {
 public:
  explicit PoolTable(const fs::path& dir) : table_(read(dir)), space_(table_.spec().parameters) {
    const labloop::sim::DatasetSpec& spec = table_.spec();
    sign_ = spec.objectives.at(0).maximize ? -1.0 : 1.0;  // minimized inside
    std::vector<double> sorted;
    for (const auto& values : table_.all_values()) sorted.push_back(sign_ * values.at(0));
    std::sort(sorted.begin(), sorted.end());
    top_count_ = static_cast<size_t>(std::ceil(0.01 * static_cast<double>(sorted.size())));
    threshold_ = sorted[top_count_ - 1];
  }

  const std::string& name() const { return table_.spec().name; }
  const labloop::Space& space() const { return space_; }
  size_t rows() const { return table_.combinations(); }
  size_t top_count() const { return top_count_; }
  // The table's (minimized) value at a cube point; nullopt for a combination never measured.
  std::optional<double> value(const Point& x) const {
    const auto values = table_.find(space_.decode(x));
    if (!values) return std::nullopt;
    return sign_ * values->at(0);
  }
  bool in_top(double value) const { return value <= threshold_; }

 private:
  // A folder, or the name of a dataset in the data directory (labloop-sim's names).
  static labloop::sim::LookupTable read(const fs::path& dir) {
    const fs::path folder = fs::is_directory(dir) || dir.has_parent_path() ? dir : labloop::sim::data_dir() / dir;
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
  double sign_ = 1.0;
  size_t top_count_ = 1;
  double threshold_ = 0.0;
};

struct Run {
  int experiments = 0;  // until the first top-1 % row; max + 1 when never
  double median_ask_ms = 0.0;
};

Run run_once(const PoolTable& table, const nlohmann::json& planner_section, std::uint64_t seed, int max_experiments) {
  const labloop::PlannerConfig config{planner_section.at("kind"), [&] {
                                        nlohmann::json o = planner_section;
                                        o.erase("kind");
                                        return o;
                                      }()};
  const std::string source = "labloop-bench-pool";
  auto planner = labloop::make_planner(labloop::PlannerContext{table.space(), seed, config, source});
  std::vector<double> ask_ms;
  Run run{max_experiments + 1, 0.0};
  for (int i = 1; i <= max_experiments; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const Point x = table.space().canonical(planner->ask(1, {}).front());
    ask_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    const std::optional<double> y = table.value(x);
    if (!y) {
      planner->tell(labloop::Observation::failed(x));  // a combination the table lacks: the experiment "failed"
      continue;
    }
    if (table.in_top(*y)) {
      run.experiments = i;
      break;
    }
    planner->tell(labloop::Observation::succeeded(x, *y));
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
  CLI::App app{"Planners on lookup-table datasets: experiments until the first top-1 % row"};
  std::vector<std::string> datasets;
  std::vector<std::string> planners{"bayesian"};
  int seeds = 40, initial = 5, max_experiments = 200;
  unsigned jobs = std::max(1U, std::thread::hardware_concurrency());
  app.add_option("datasets", datasets, "Datasets: names in the data directory (LABLOOP_DATA_DIR, else simulators/data), e.g. buchwald_a, or folders (spec.json + data.csv)")->required();
  app.add_option("--planners", planners, "Planner kinds or JSON planner sections (random is always included)");
  app.add_option("--seeds", seeds, "Runs per dataset and planner")->check(CLI::PositiveNumber);
  app.add_option("--initial", initial, "Initial design size for bayesian planners without their own")->check(CLI::PositiveNumber);
  app.add_option("--max", max_experiments, "Experiments per run at most")->check(CLI::PositiveNumber);
  app.add_option("--jobs", jobs, "Parallel runs")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<nlohmann::json> sections{{{"kind", "random"}}};
    for (const auto& p : planners) {
      nlohmann::json section = p.find('{') == std::string::npos ? nlohmann::json{{"kind", p}} : nlohmann::json::parse(p);
      if (section.value("kind", "") == "bayesian" && !section.contains("initial")) section["initial"] = initial;
      if (section != sections.front()) sections.push_back(section);
    }
    fmt::print("{:<24} {:>6} {:>4}  {:<44} {:>8} {:>12} {:>8}\n", "dataset", "rows", "top", "planner", "median", "IQR", "ms/ask");
    for (const auto& dir : datasets) {
      const PoolTable table{fs::path(dir)};
      for (const auto& section : sections) {
        std::vector<Run> runs(static_cast<size_t>(seeds));
        std::atomic<int> next{0};
        std::vector<std::jthread> workers;
        for (unsigned j = 0; j < jobs; ++j)
          workers.emplace_back([&] {
            for (int s; (s = next++) < seeds;) runs[static_cast<size_t>(s)] = run_once(table, section, static_cast<std::uint64_t>(s + 1), max_experiments);
          });
        workers.clear();
        std::vector<double> experiments, ask;
        for (const auto& r : runs) experiments.push_back(r.experiments), ask.push_back(r.median_ask_ms);
        nlohmann::json shown = section;
        shown.erase("initial");
        const std::string label = shown.size() == 1 ? shown["kind"].get<std::string>() : shown.dump();
        fmt::print("{:<24} {:>6} {:>4}  {:<44} {:>8.1f} {:>12} {:>8.1f}\n", table.name(), table.rows(), table.top_count(), label.substr(0, 44),
                   quantile(experiments, 0.5), fmt::format("{:.0f}-{:.0f}", quantile(experiments, 0.25), quantile(experiments, 0.75)),
                   quantile(ask, 0.5));
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "labloop-bench-pool: {}\n", e.what());
    return 1;
  }
  return 0;
}
