// labloop-bench-console: what the operator console costs to read campaigns, against what
// `labloop status` costs for the same folders, in the same run.
//
// It writes one campaign of --experiments experiments (a dry run of a Branin campaign with the
// random planner, so the journal is a real one, fsynced line by line), copies it into --folders
// folders, and times, each --reps times (medians and maxima):
//   - baseline: campaign_overview() of every folder, what `labloop status` reads;
//   - the console's /api/campaigns with a new ConsoleSite each time (cold: every folder read);
//   - /api/campaigns again on one ConsoleSite whose folders have not changed (cached);
//   - /api/campaigns/0/experiments on that ConsoleSite (cached; the last 1000 experiments as JSON);
//   - /api/campaigns after one folder's journal moved (one folder read again).
// Peak RSS (ru_maxrss) of the whole run is printed at the end.
//
// Timings are wall-clock on an otherwise idle machine.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "catalogue.hpp"
#include "console.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/campaign_overview.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Timing {
  double median_ms, max_ms;
};

Timing time_it(int reps, const std::function<void()>& work) {
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    work();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

// A finished campaign of `experiments` experiments in `folder`.
void write_campaign(const fs::path& folder, int experiments) {
  const std::string text = fmt::format(R"({{"name": "bench-console", "seed": 1,
    "parameters": [{{"name": "x1", "type": "continuous", "low": -5, "high": 10}}, {{"name": "x2", "type": "continuous", "low": 0, "high": 15}}],
    "objective": {{"name": "y"}}, "planner": {{"kind": "random"}},
    "instruments": [{{"name": "sim", "simulator": "branin", "options": {{"capacity": 4}}}}],
    "budget": {{"experiments": {}}}}})",
                                       experiments);
  const labloop::CampaignConfig config = labloop::parse_campaign_config(text, "bench-console.json", labloop::sim::catalogue());
  labloop::CampaignOptions options;
  options.dry_run = true;
  options.output = folder.string();
  labloop::run_campaign(config, options);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"labloop-bench-console: the operator console's reading of campaign folders against labloop status's, in the same run"};
  int folders = 16, experiments = 2000, reps = 9;
  std::string work = (fs::temp_directory_path() / "labloop-bench-console").string();
  app.add_option("--folders", folders, "Campaign folders shown (default 16, at most 64)")->check(CLI::Range(1, 64));
  app.add_option("--experiments", experiments, "Experiments in each campaign (default 2000)")->check(CLI::Range(1, 100000));
  app.add_option("--reps", reps, "Repetitions of each timing (default 9)")->check(CLI::Range(1, 1000));
  app.add_option("--work", work, "Folder to write the campaigns into (emptied first)");
  CLI11_PARSE(app, argc, argv);
  try {
    fs::remove_all(work);
    fs::create_directories(work);
    const fs::path first = fs::path(work) / "c00";
    const auto written = Clock::now();
    write_campaign(first, experiments);
    const double write_s = std::chrono::duration<double>(Clock::now() - written).count();
    std::vector<fs::path> paths{first};
    for (int i = 1; i < folders; ++i) {
      paths.push_back(fs::path(work) / fmt::format("c{:02}", i));
      fs::copy(first, paths.back(), fs::copy_options::recursive);
    }
    const auto journal_bytes = fs::file_size(first / "journal.jsonl");
    fmt::print("labloop-bench-console: {} folders of a {}-experiment campaign (journal {:.1f} MB each, written in {:.1f} s), {} reps, {} cores\n\n",
               folders, experiments, static_cast<double>(journal_bytes) / 1e6, write_s, reps, std::thread::hardware_concurrency());

    const auto row = [](const char* what, const Timing& t) { fmt::print("| {:<62} | {:>10.1f} | {:>10.1f} |\n", what, t.median_ms, t.max_ms); };
    fmt::print("| {:<62} | {:>10} | {:>10} |\n|{:-<64}|{:-<12}|{:-<12}|\n", "what (all folders unless said)", "median ms", "max ms", "", "", "");
    row("baseline: campaign_overview of every folder (labloop status)", time_it(reps, [&] {
          for (const fs::path& p : paths) (void)labloop::campaign_overview(p, labloop::sim::catalogue());
        }));
    const labloop::cli::ConsoleSite site(paths, labloop::sim::catalogue());
    const auto ask = [&](const std::string& target) {
      const labloop::cli::ConsoleResponse r = site.respond("GET", target, "127.0.0.1:8765");
      if (r.status != 200) throw labloop::Error(fmt::format("{} answered {}: {}", target, r.status, r.body));
    };
    row("/api/campaigns, a new console each time (every folder read)", time_it(reps, [&] {
          const labloop::cli::ConsoleSite fresh(paths, labloop::sim::catalogue());
          const labloop::cli::ConsoleResponse r = fresh.respond("GET", "/api/campaigns", "127.0.0.1:8765");
          if (r.status != 200) throw labloop::Error(r.body);
        }));
    ask("/api/campaigns");  // read once
    row("/api/campaigns, folders unchanged (cached)", time_it(reps, [&] { ask("/api/campaigns"); }));
    row("/api/campaigns/0/experiments, unchanged (cached; last 1000)", time_it(reps, [&] { ask("/api/campaigns/0/experiments"); }));
    row("/api/campaigns after one journal moved (one folder read)", time_it(reps, [&] {
          {
            labloop::Journal journal(first / "journal.jsonl");
            journal.append("planner_note", nlohmann::json{{"note", "bench: the journal moves"}});
          }
          ask("/api/campaigns");
        }));
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    fmt::print("\npeak RSS of this run: {:.0f} MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
    fs::remove_all(work);
  } catch (const std::exception& e) {
    fmt::print(stderr, "labloop-bench-console: {}\n", e.what());
    return 1;
  }
  return 0;
}
