// labloop-bench-pool: planners on real lookup-table datasets, where every combination of the
// parameters' options was measured, so any proposal can be scored exactly.
//
// A dataset is a folder with `spec.json` (parameters with their options, objectives with their
// goal) and `data.csv` (a header, then one row per measurement: parameter columns, then
// objectives), the layout of the datasets shipped beside the project. Every parameter becomes a
// categorical one (numeric options too: a lookup table has no values between its rows).
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
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/space.hpp"

namespace {

namespace fs = std::filesystem;
using labloop::Error;
using labloop::Point;

// One CSV record (RFC 4180 quotes; the datasets hold SMILES strings with commas inside quotes).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) fields.emplace_back();
    else if (c != '\r') fields.back() += c;
  }
  return fields;
}

// Options as the table spells them: spec.json lists numbers as numbers, the CSV as text.
std::string option_text(const nlohmann::json& option) { return option.is_string() ? option.get<std::string>() : option.dump(); }

class LookupTable {
 public:
  explicit LookupTable(const fs::path& dir) : name_(dir.filename().string()) {
    if (name_.empty()) name_ = dir.parent_path().filename().string();
    std::ifstream spec_file(dir / "spec.json");
    if (!spec_file) throw Error(fmt::format("{}: cannot read spec.json", dir.string()));
    const std::string spec_text{std::istreambuf_iterator<char>(spec_file), std::istreambuf_iterator<char>()};
    // A spec is a campaign-like file: the campaign file's depth limit (deeper JSON would overflow the stack).
    if (const auto at = labloop::find_excess_nesting(spec_text, labloop::kMaxConfigDepth))
      throw Error(fmt::format("{}: spec.json nests arrays/objects deeper than {} levels (at byte {})", dir.string(), labloop::kMaxConfigDepth, *at));
    const nlohmann::json spec = nlohmann::json::parse(spec_text);
    std::vector<labloop::Parameter> parameters;
    for (const auto& p : spec.at("parameters")) {
      if (!p.contains("options"))
        throw Error(fmt::format("{}: parameter {} has no options (a {} parameter): only lookup tables of options can be scored exactly",
                                name_, p.at("name").dump(), p.value("type", "?")));
      labloop::Parameter parameter;
      parameter.name = p.at("name");
      parameter.type = labloop::ParameterType::categorical;
      for (const auto& o : p.at("options")) parameter.choices.push_back(option_text(o));
      parameters.push_back(std::move(parameter));
    }
    const nlohmann::json& objective = spec.at("objectives").at(0);
    objective_ = objective.at("name");
    const bool maximize = objective.at("goal") == "maximize";
    space_ = labloop::Space(parameters);

    std::ifstream data(dir / "data.csv");
    if (!data) throw Error(fmt::format("{}: cannot read data.csv", dir.string()));
    std::string line;
    std::getline(data, line);
    const std::vector<std::string> header = split_csv(line);
    const auto column = std::find(header.begin(), header.end(), objective_);
    if (column == header.end()) throw Error(fmt::format("{}: data.csv has no column {}", name_, objective_));
    const size_t objective_column = static_cast<size_t>(column - header.begin());
    std::map<std::string, std::pair<double, int>> sums;  // key → (sum, count): replicates are averaged
    for (int row = 2; std::getline(data, line); ++row) {
      if (line.empty()) continue;
      const std::vector<std::string> fields = split_csv(line);
      if (fields.size() != header.size()) throw Error(fmt::format("{}: data.csv line {} has {} fields, expected {}", name_, row, fields.size(), header.size()));
      std::vector<std::string> values;
      for (size_t i = 0; i < parameters.size(); ++i) values.push_back(canonical_option(parameters[i], fields[i], row));
      auto& [sum, count] = sums[key(values)];
      sum += (maximize ? -1.0 : 1.0) * std::stod(fields[objective_column]);  // minimized inside
      ++count;
    }
    std::vector<double> sorted;
    for (const auto& [k, v] : sums) {
      values_[k] = v.first / v.second;
      sorted.push_back(values_[k]);
    }
    if (sorted.empty()) throw Error(fmt::format("{}: data.csv has no rows", name_));
    std::sort(sorted.begin(), sorted.end());
    top_count_ = static_cast<size_t>(std::ceil(0.01 * static_cast<double>(sorted.size())));
    threshold_ = sorted[top_count_ - 1];
  }

  const std::string& name() const { return name_; }
  const labloop::Space& space() const { return space_; }
  size_t rows() const { return values_.size(); }
  size_t top_count() const { return top_count_; }
  // The table's (minimized) value at a cube point; nullopt for a combination never measured.
  std::optional<double> value(const Point& x) const {
    const labloop::Params p = space_.decode(x);
    std::vector<std::string> values;
    for (const auto& parameter : space_.parameters()) values.push_back(p.at(parameter.name).get<std::string>());
    const auto it = values_.find(key(values));
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  bool in_top(double value) const { return value <= threshold_; }

 private:
  static std::string key(const std::vector<std::string>& values) {
    std::string k;
    for (const auto& v : values) k += v + '\x1f';
    return k;
  }
  // The CSV may write 100 where spec.json says 100.0: match numbers by value.
  std::string canonical_option(const labloop::Parameter& p, const std::string& text, int row) const {
    if (std::find(p.choices.begin(), p.choices.end(), text) != p.choices.end()) return text;
    try {
      const double v = std::stod(text);
      for (const auto& c : p.choices)
        if (std::stod(c) == v) return c;
    } catch (const std::exception&) {
    }
    throw Error(fmt::format("{}: data.csv line {}: {} = {} is not among its options", name_, row, p.name, text));
  }

  std::string name_, objective_;
  labloop::Space space_;
  std::map<std::string, double> values_;
  size_t top_count_ = 1;
  double threshold_ = 0.0;
};

struct Run {
  int experiments = 0;  // until the first top-1 % row; max + 1 when never
  double median_ask_ms = 0.0;
};

Run run_once(const LookupTable& table, const nlohmann::json& planner_section, std::uint64_t seed, int max_experiments) {
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
  app.add_option("datasets", datasets, "Dataset folders (spec.json + data.csv), e.g. ../shared/datasets/buchwald_a")->required();
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
      const LookupTable table{fs::path(dir)};
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
