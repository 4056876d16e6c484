#include "bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "planner_benchmark.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_limits.hpp"

namespace labloop::cli {

namespace {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double log10_regret(double r) { return std::log10(std::max(r, 1e-12)); }

std::string fmt_regret(double r) { return r < 1e-3 || r >= 1e4 ? fmt::format("{:.2e}", r) : fmt::format("{:.4g}", r); }

BenchmarkProblem parse_problem(const std::string& text) {
  BenchmarkProblem p;
  const auto colon = text.find(':');
  p.function = text.substr(0, colon);
  if (colon != std::string::npos) p.dim = std::stoi(text.substr(colon + 1));
  for (const auto& standard : standard_problems())
    if (standard.function == p.function && (p.dim == 0 || p.dim == standard.dim)) {
      p.budget = standard.budget;
      if (p.dim == 0) p.dim = standard.dim;
    }
  return p;
}

BenchmarkPlanner parse_planner(const std::string& text, int initial) {
  BenchmarkPlanner p;
  if (!text.empty() && text.front() == '{') {
    // A planner section, so the campaign file's depth limit (deeper JSON would crash dump() below).
    if (const auto at = find_excess_nesting(text, kMaxConfigDepth))
      throw ConfigError("--planners", "", fmt::format("JSON nested deeper than {} levels (at character {})", kMaxConfigDepth, *at + 1));
    p.config = nlohmann::json::parse(text);
    p.label = p.config.dump();
  } else {
    p.config = {{"kind", text}};
    p.label = text;
  }
  if (p.config.value("kind", "") == "bayesian" && !p.config.contains("initial")) p.config["initial"] = initial;
  return p;
}

void write_svg(const std::filesystem::path& path, const std::vector<std::string>& problems, const std::vector<std::string>& planners,
               const std::map<std::pair<std::string, std::string>, std::vector<double>>& median_curves) {
  const int panel_w = 520, panel_h = 260, margin = 60;
  const int height = static_cast<int>(problems.size()) * (panel_h + margin) + 40;
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::string svg = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">)""\n",
                                panel_w + 2 * margin + 160, height);
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t pi = 0; pi < problems.size(); ++pi) {
    const int top = 30 + static_cast<int>(pi) * (panel_h + margin);
    double lo = 1e300, hi = -1e300;
    size_t n = 0;
    for (const auto& planner : planners) {
      const auto& curve = median_curves.at({problems[pi], planner});
      n = std::max(n, curve.size());
      for (double v : curve) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    lo = std::floor(lo), hi = std::ceil(hi);
    if (hi <= lo) hi = lo + 1;
    auto px = [&](size_t i) { return margin + static_cast<double>(i) / static_cast<double>(std::max<size_t>(n - 1, 1)) * panel_w; };
    auto py = [&](double v) { return top + (hi - v) / (hi - lo) * panel_h; };
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"14\">{}: median log10 simple regret</text>\n", margin, top - 8, problems[pi]);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", margin, top, panel_w, panel_h);
    for (double t = lo; t <= hi; t += 1)
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text><line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n",
                         margin - 6, py(t) + 4, t, margin, margin + panel_w, py(t), py(t));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">evaluations (1 … {})</text>\n", margin + panel_w / 2, top + panel_h + 30, n);
    for (size_t k = 0; k < planners.size(); ++k) {
      const auto& curve = median_curves.at({problems[pi], planners[k]});
      std::string points;
      for (size_t i = 0; i < curve.size(); ++i) points += fmt::format("{:.1f},{:.1f} ", px(i), py(curve[i]));
      svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", colours[k % 6], points);
      svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", margin + panel_w + 10, top + 16 + 16 * static_cast<int>(k), colours[k % 6],
                         planners[k].size() > 24 ? planners[k].substr(0, 24) + "…" : planners[k]);
    }
  }
  svg += "</svg>\n";
  std::ofstream(path) << svg;
}

}  // namespace

int run_bench(const BenchCommand& command) {
  BenchmarkOptions options;
  for (const auto& p : command.problems) options.problems.push_back(parse_problem(p));
  if (options.problems.empty()) options.problems = standard_problems();
  if (command.budget > 0)
    for (auto& p : options.problems) p.budget = command.budget;
  std::vector<std::string> planner_texts = command.planners;
  if (planner_texts.empty()) planner_texts = {"bayesian"};
  if (std::find(planner_texts.begin(), planner_texts.end(), "random") == planner_texts.end()) planner_texts.insert(planner_texts.begin(), "random");
  for (const auto& p : planner_texts) options.planners.push_back(parse_planner(p, command.initial));
  options.seeds = command.seeds;
  options.jobs = command.jobs;
  options.noise = command.noise;
  options.batch = command.batch;

  fmt::print("labloop bench: {} problems × {} planners × {} seeds{}\n", options.problems.size(), options.planners.size(), options.seeds,
             options.batch > 1 ? fmt::format(", batches of {} (ms/ask is per batch)", options.batch) : "");
  const auto started = std::chrono::steady_clock::now();
  const auto runs = run_benchmark(options);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::vector<std::string> problem_labels, planner_labels;
  for (const auto& p : options.problems) problem_labels.push_back(p.label());
  for (const auto& p : options.planners) planner_labels.push_back(p.label);
  std::map<std::pair<std::string, std::string>, std::vector<const BenchmarkRun*>> groups;
  for (const auto& r : runs) groups[{r.problem, r.planner}].push_back(&r);

  std::filesystem::create_directories(command.output);
  std::ofstream csv(std::filesystem::path(command.output) / "bench.csv");
  // ask_seconds: the time of the ask() that proposed this evaluation (shared within a batch).
  csv << "problem,planner,seed,evaluation,regret,ask_seconds\n";
  for (const auto& r : runs)
    for (size_t i = 0; i < r.regret.size(); ++i)
      csv << r.problem << ",\"" << [&] { std::string s = r.planner; size_t k = 0; while ((k = s.find('"', k)) != std::string::npos) s.insert(k, "\""), k += 2; return s; }()
          << "\"," << r.seed << "," << i + 1 << "," << fmt::format("{}", r.regret[i]) << "," << fmt::format("{}", r.ask_seconds[std::min(i / static_cast<size_t>(std::max(1, command.batch)), r.ask_seconds.size() - 1)]) << "\n";

  std::map<std::pair<std::string, std::string>, std::vector<double>> median_curves;
  for (size_t pi = 0; pi < options.problems.size(); ++pi) {
    const auto& problem = options.problems[pi];
    const int budget = problem.budget;
    std::vector<int> checkpoints{10, budget / 2, budget};
    checkpoints.erase(std::remove_if(checkpoints.begin(), checkpoints.end(), [&](int c) { return c < 1 || c > budget; }), checkpoints.end());
    checkpoints.erase(std::unique(checkpoints.begin(), checkpoints.end()), checkpoints.end());
    // "Reach": how many evaluations until a run first matches random search's median final regret.
    std::vector<double> random_final;
    for (const auto* r : groups[{problem.label(), "random"}]) random_final.push_back(r->regret.back());
    const double reach_target = quantile(random_final, 0.5);

    fmt::print("\n{} (budget {}, {} seeds) — simple regret: median [IQR]\n", problem.label(), budget, options.seeds);
    std::string header = fmt::format("  {:<28}", "planner");
    for (int c : checkpoints) header += fmt::format(" {:>24}", fmt::format("@{}", c));
    header += fmt::format(" {:>14} {:>12}", "reach random", "ms/ask");
    fmt::print("{}\n", header);
    for (const auto& planner : planner_labels) {
      const auto& group = groups[{problem.label(), planner}];
      std::string row = fmt::format("  {:<28}", planner.size() > 28 ? planner.substr(0, 27) + "…" : planner);
      for (int c : checkpoints) {
        std::vector<double> at;
        for (const auto* r : group) at.push_back(r->regret[static_cast<size_t>(c - 1)]);
        row += fmt::format(" {:>24}", fmt::format("{} [{}, {}]", fmt_regret(quantile(at, 0.5)), fmt_regret(quantile(at, 0.25)), fmt_regret(quantile(at, 0.75))));
      }
      std::vector<double> reach, ask_ms;
      for (const auto* r : group) {
        auto it = std::find_if(r->regret.begin(), r->regret.end(), [&](double v) { return v <= reach_target; });
        reach.push_back(it == r->regret.end() ? std::nan("") : static_cast<double>(it - r->regret.begin() + 1));
        for (double s : r->ask_seconds) ask_ms.push_back(s * 1000);
      }
      const auto reached = std::count_if(reach.begin(), reach.end(), [](double v) { return !std::isnan(v); });
      reach.erase(std::remove_if(reach.begin(), reach.end(), [](double v) { return std::isnan(v); }), reach.end());
      row += fmt::format(" {:>14} {:>12.2f}", reached * 2 > static_cast<long>(group.size()) ? fmt::format("{:g}", quantile(reach, 0.5)) : "-",
                         quantile(ask_ms, 0.5));
      fmt::print("{}\n", row);
      std::vector<double> curve(static_cast<size_t>(budget));
      for (int i = 0; i < budget; ++i) {
        std::vector<double> at;
        for (const auto* r : group) at.push_back(log10_regret(r->regret[static_cast<size_t>(i)]));
        curve[static_cast<size_t>(i)] = quantile(at, 0.5);
      }
      median_curves[{problem.label(), planner}] = curve;
    }
  }
  write_svg(std::filesystem::path(command.output) / "regret.svg", problem_labels, planner_labels, median_curves);
  fmt::print("\nwall time {:.1f} s; wrote {}/bench.csv and {}/regret.svg\n", wall, command.output, command.output);
  return 0;
}

}  // namespace labloop::cli
