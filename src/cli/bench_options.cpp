#include "bench_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <system_error>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/json_limits.hpp"
#include "test_functions.hpp"

namespace labloop::cli {

namespace {

std::string shortened(const std::string& text) { return text.size() > 80 ? text.substr(0, 80) + "…" : text; }

}  // namespace

BenchmarkProblem parse_bench_problem(const std::string& text) {
  BenchmarkProblem p;
  const auto colon = text.find(':');
  p.function = text.substr(0, colon);
  const sim::TestFunction* f = sim::find_test_function(p.function);
  if (!f) {
    std::vector<std::string> names;
    for (const auto& known : sim::test_functions()) names.push_back(known.name);
    throw ConfigError("labloop bench", "--problems", fmt::format("unknown function \"{}\"{} (labloop-sim --list shows them)", p.function,
                                                                 did_you_mean(p.function, names)));
  }
  if (colon != std::string::npos) {
    const std::string digits = text.substr(colon + 1);
    const std::string allowed = f->min_dim == f->max_dim
                                    ? fmt::format("{} is fixed at {} dimensions: write {} (or {}:{})", p.function, f->min_dim, p.function, p.function, f->min_dim)
                                    : fmt::format("{} takes {} to {} dimensions: write {}:N with N from {} to {}, or {} for its default {}", p.function,
                                                  f->min_dim, f->max_dim, p.function, f->min_dim, f->max_dim, p.function, f->default_dim);
    // Whole digits only, at most 9 of them (no sign, no overflow): stoi read "7x" as 7 and threw "stoi" at "abc".
    const bool whole = !digits.empty() && digits.size() <= 9 && std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    p.dim = whole ? std::stoi(digits) : -1;
    if (p.dim < f->min_dim || p.dim > f->max_dim) throw ConfigError("labloop bench", "--problems", fmt::format("{}: {}", text, allowed));
  }
  // A problem of a suite keeps that suite's budget and initial design (noise only from --noise).
  std::vector<BenchmarkProblem> known = standard_problems();
  for (const auto& g : goal_problems())
    if (g.noise < 0) known.push_back(g);
  for (const auto& standard : known)
    if (standard.function == p.function && (p.dim == 0 || p.dim == standard.dim)) {
      p.budget = standard.budget;
      p.initial = standard.initial;
      if (p.dim == 0) p.dim = standard.dim;
    }
  return p;
}

std::vector<BenchmarkProblem> select_goal_problems(const std::vector<std::string>& names) {
  const std::vector<BenchmarkProblem> rows = goal_problems();
  if (names.empty()) return rows;
  const auto selects = [](const std::string& name, const BenchmarkProblem& row) {
    if (name == row.label() || name == row.function) return true;
    return row.dim > 0 && (name == fmt::format("{}-{}", row.function, row.dim) || name == fmt::format("{}:{}", row.function, row.dim));
  };
  std::vector<std::string> labels;
  for (const auto& row : rows) labels.push_back(row.label());
  for (const auto& name : names)
    if (std::none_of(rows.begin(), rows.end(), [&](const BenchmarkProblem& row) { return selects(name, row); }))
      throw ConfigError("labloop bench", "--problems",
                        fmt::format("\"{}\" is no row of the goals suite: with --suite goals, --problems selects among its rows, by label or by "
                                    "function (each of its rows): {}",
                                    shortened(name), fmt::join(labels, ", ")));
  std::vector<BenchmarkProblem> chosen;
  for (const auto& row : rows)
    if (std::any_of(names.begin(), names.end(), [&](const std::string& name) { return selects(name, row); })) chosen.push_back(row);
  return chosen;
}

void apply_bench_noise_and_batch(std::vector<BenchmarkProblem>& problems, double noise, int batch) {
  // Applied to some rows and silently not to others, with no label saying which, a run could not
  // be told from a noise-free or sequential one in bench.csv.
  const auto refuse_own = [&](const char* option, const char* what, auto has_own) {
    std::vector<std::string> own;
    for (const auto& p : problems)
      if (has_own(p)) own.push_back(p.label());
    if (!own.empty())
      throw ConfigError("labloop bench", option,
                        fmt::format("{} {} {} of {} own, which {} would not change: leave {} out, or select other rows with --problems",
                                    fmt::join(own, ", "), own.size() == 1 ? "has" : "have", what, own.size() == 1 ? "its" : "their", option, option));
  };
  if (noise > 0) {
    refuse_own("--noise", "noise", [](const BenchmarkProblem& p) { return p.noise >= 0; });
    for (auto& p : problems) p.noise = noise;
  }
  if (batch > 1) {
    refuse_own("--batch", "a batch size", [](const BenchmarkProblem& p) { return p.batch > 0; });
    for (auto& p : problems) p.batch = batch;
  }
}

BenchmarkPlanner parse_bench_planner(const std::string& text, int initial) {
  BenchmarkPlanner p;
  if (!text.empty() && text.front() == '{') {
    const std::string example = "write a planner section as in a campaign file, e.g. '{\"kind\": \"bayesian\", \"beta\": 6}'";
    // A planner section, so the campaign file's depth limit (deeper JSON would crash dump() below).
    if (const auto at = find_excess_nesting(text, kMaxConfigDepth))
      throw ConfigError("labloop bench", "--planners", fmt::format("JSON nested deeper than {} levels (at character {})", kMaxConfigDepth, *at + 1));
    std::optional<std::string> repeated;
    try {
      p.config = parse_json_noting_repeats(text, false, repeated);
    } catch (const nlohmann::json::parse_error& e) {
      // nlohmann's message starts with an internal id; say where in the option it broke.
      throw ConfigError("labloop bench", "--planners", fmt::format("{} is not valid JSON (at character {}): {}", shortened(text), e.byte, example));
    } catch (const nlohmann::json::exception&) {
      // The one other way parse() fails: a number beyond a double (1e999), out_of_range.406.
      throw ConfigError("labloop bench", "--planners", fmt::format("{} holds a number too large to read (beyond 1.8e308): {}", shortened(text), example));
    }
    // As in a campaign file: the parser would keep the last of two without a word.
    if (repeated)
      throw ConfigError("labloop bench", "--planners", fmt::format("{}: key {} is given twice; give it once", shortened(text), *repeated));
    if (!p.config.is_object())
      throw ConfigError("labloop bench", "--planners", fmt::format("{} is not a planner section: give a JSON object with \"kind\", or a planner's name", text));
    if (p.config.contains("kind") && !p.config["kind"].is_string())
      throw ConfigError("labloop bench", "--planners", fmt::format("{}: \"kind\" must be a planner's name in quotes (random, sobol, bayesian), not {}",
                                                                   shortened(text), shortened(p.config["kind"].dump())));
    p.label = p.config.dump();
  } else {
    p.config = {{"kind", text}};
    p.label = text;
  }
  if (p.config.value("kind", "") == "bayesian" && !p.config.contains("initial")) p.config["initial"] = initial;
  return p;
}

void add_random_baseline(std::vector<BenchmarkPlanner>& planners, int initial) {
  const BenchmarkPlanner random = parse_bench_planner("random", initial);
  if (std::none_of(planners.begin(), planners.end(), [&](const BenchmarkPlanner& p) { return p.config == random.config; }))
    planners.insert(planners.begin(), random);
}

void refuse_duplicate_planners(const std::vector<BenchmarkPlanner>& planners) {
  for (size_t i = 0; i < planners.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      // By label, and by section: "sobol" and '{"kind": "sobol"}' are one planner.
      if (planners[i].label == planners[j].label || planners[i].config == planners[j].config)
        throw ConfigError("labloop bench", "--planners", fmt::format("{} is given twice{}: give each planner once (its runs would be pooled "
                                                                     "as one planner's, with twice the seeds)",
                                                                     shortened(planners[i].label),
                                                                     planners[i].label.front() == '{' ? " (JSON sections are compared as read, keys in any order)" : ""));
}

void check_bench_size(std::size_t planners, int seeds, const std::vector<long long>& per_run, const char* what, const char* of,
                      const char* lower) {
  long long summed = 0;  // at most 1000 problems of 1,000,000 each: no overflow
  for (const long long n : per_run) summed += n;
  // In long double: 256 planners × 100,000 seeds × 100,000 evaluations overflows no count here.
  const long double total = static_cast<long double>(summed) * static_cast<long double>(planners) * seeds;
  if (total <= kMaxBenchEvaluations) return;
  throw ConfigError("labloop bench", "--seeds",
                    fmt::format("{} seeds × {} planner{} (random included) × {} {} {} = {:.0f} {}, more than the {} a benchmark holds (it keeps "
                                "each until its tables are written; bench/README.md): lower {}",
                                seeds, planners, planners == 1 ? "" : "s", summed, what,
                                per_run.size() == 1 ? "per run" : fmt::format("per seed and planner (summed over {} {})", per_run.size(), of),
                                static_cast<double>(total), what, kMaxBenchEvaluations, lower));
}

long long real_run_experiments(const sim::DatasetSpec& spec, const RealBenchmarkOptions& options) {
  if (!spec.lookup_table) return options.budget;
  if (options.whole_space || spec.rows == 0) return options.max_experiments;
  return std::min<long long>(options.max_experiments, static_cast<long long>(spec.rows));
}

void write_bench_file(const std::filesystem::path& path, std::string_view text) {
  std::error_code ec;
  // rename() onto a folder fails with a bare "Is a directory": say what is in the way.
  if (std::filesystem::is_directory(path, ec)) throw Error(fmt::format("cannot write {}: a folder of that name is in its way", path.string()));
  try {
    write_whole_file(path.string(), text, "the benchmark's file");
  } catch (const Error& e) {
    std::filesystem::remove(path.string() + ".partial", ec);
    throw Error(fmt::format("cannot write {}: {}", path.string(), e.what()));
  }
}

std::string bench_progress_line(std::size_t done, std::size_t planned, double elapsed_s) {
  const auto clock = [](double seconds) {
    const long s = std::lround(std::clamp(seconds, 0.0, 359999.0));  // below 100 hours: h:mm:ss, m:ss
    return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
  };
  std::string line = fmt::format("labloop bench: {} of {} runs done in {}", done, planned, clock(elapsed_s));
  if (done > 0 && done < planned)
    line += fmt::format(", about {} left", clock(elapsed_s / static_cast<double>(done) * static_cast<double>(planned - done)));
  return line + " (Ctrl-C: stop after the runs under way)";
}

void write_bench_files(const std::filesystem::path& folder, const std::vector<std::pair<std::string, std::string>>& files) {
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      write_bench_file(folder / files[i].first, files[i].second);
    } catch (const Error& e) {
      std::vector<std::string> written, earlier;
      for (size_t k = 0; k < i; ++k) written.push_back(files[k].first);
      std::error_code ec;
      for (size_t k = i; k < files.size(); ++k)
        if (std::filesystem::is_regular_file(folder / files[k].first, ec)) earlier.push_back(files[k].first);
      std::string said = e.what();
      if (!written.empty()) said += fmt::format("; {} in {} {} this run's", fmt::join(written, " and "), folder.string(), written.size() == 1 ? "is" : "are");
      if (!earlier.empty())
        said += fmt::format("; {} in {} {} from an earlier run, not this one", fmt::join(earlier, " and "), folder.string(),
                            earlier.size() == 1 ? "is" : "are");
      throw Error(said);
    }
  }
}

}  // namespace labloop::cli
