#include "bench.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <csignal>
#include <sstream>
#include <limits>
#include <map>
#include <mutex>
#include <condition_variable>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include "bench_options.hpp"
#include "dataset.hpp"
#include "test_functions.hpp"
#include "planner_benchmark.hpp"
#include "real_benchmark.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/report.hpp"

namespace labloop::cli {

namespace {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  if (v[lo] == v[hi]) return v[lo];  // also two infinities (a run with no result yet), which would give NaN below
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// Clamped to [1e-12, 1e12]: before the first feasible result regret is +inf, which has no place on an axis.
double log10_regret(double r) { return std::log10(std::clamp(r, 1e-12, 1e12)); }

std::string fmt_ms(const std::vector<double>& ms) {
  if (ms.empty()) return "-";
  const double m = quantile(ms, 0.5);
  return m < 0.1 ? fmt::format("{:.3f}", m) : m < 10 ? fmt::format("{:.2f}", m) : fmt::format("{:.0f}", m);
}

std::string fmt_regret(double r) {
  if (r == 0) return "0";  // reached exactly (a clamped emulator's ceiling): not 0.00e+00
  return std::abs(r) < 1e-3 || std::abs(r) >= 1e4 ? fmt::format("{:.2e}", r) : fmt::format("{:.4g}", r);
}

// log10 regret per evaluation across seeds: median and quartiles.
struct RegretCurve {
  std::vector<double> median, q25, q75;
};

// Evenly spaced round numbers for an axis from 1 to n: 1, 10, 20, … or 1, 50, 100, …
std::vector<size_t> evaluation_ticks(size_t n) {
  size_t step = 1;
  for (size_t s : {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000})
    if (n / s <= 8) {
      step = s;
      break;
    }
  if (n / step > 8) step = n / 8;
  std::vector<size_t> ticks{1};
  for (size_t t = step; t <= n; t += step)
    if (t > 1) ticks.push_back(t);
  return ticks;
}

// regret.svg's text. `what[i]`: what problem i's panel plots ("simple regret", "hypervolume gap to the maximum", …).
std::string regret_svg(const std::vector<std::string>& problems, const std::vector<std::string>& what,
                       const std::vector<std::string>& planners, const std::map<std::pair<std::string, std::string>, RegretCurve>& curves) {
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
      const auto& curve = curves.at({problems[pi], planner});
      n = std::max(n, curve.median.size());
      for (double v : curve.q25) lo = std::min(lo, v);
      for (double v : curve.q75) hi = std::max(hi, v);
    }
    lo = std::floor(lo), hi = std::ceil(hi);
    if (hi <= lo) hi = lo + 1;
    auto px = [&](size_t i) { return margin + static_cast<double>(i) / static_cast<double>(std::max<size_t>(n - 1, 1)) * panel_w; };
    auto py = [&](double v) { return top + (hi - v) / (hi - lo) * panel_h; };
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"14\">{}: {} (log scale), median and quartiles over seeds</text>\n",
                       margin, top - 8, problems[pi], what[pi]);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", margin, top, panel_w, panel_h);
    // At most about eight labelled decades, so tall ranges stay readable.
    const double decade_step = std::max(1.0, std::ceil((hi - lo) / 8));
    for (double t = lo; t <= hi; t += decade_step)
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">1e{:g}</text><line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>\n",
                         margin - 6, py(t) + 4, t, margin, margin + panel_w, py(t), py(t));
    for (size_t t : evaluation_ticks(n))
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text><line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" stroke=\"#444\"/>\n",
                         px(t - 1), top + panel_h + 16, t, px(t - 1), px(t - 1), top + panel_h, top + panel_h + 4);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">evaluations</text>\n", margin + panel_w / 2, top + panel_h + 34);
    for (size_t k = 0; k < planners.size(); ++k) {
      const auto& curve = curves.at({problems[pi], planners[k]});
      // The band between the quartiles: how much the outcome depends on the seed.
      std::string band;
      for (size_t i = 0; i < curve.q75.size(); ++i) band += fmt::format("{:.1f},{:.1f} ", px(i), py(curve.q75[i]));
      for (size_t i = curve.q25.size(); i-- > 0;) band += fmt::format("{:.1f},{:.1f} ", px(i), py(curve.q25[i]));
      svg += fmt::format("<polygon fill=\"{}\" fill-opacity=\"0.15\" stroke=\"none\" points=\"{}\"/>\n", colours[k % 6], band);
      std::string points;
      for (size_t i = 0; i < curve.median.size(); ++i) points += fmt::format("{:.1f},{:.1f} ", px(i), py(curve.median[i]));
      svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", colours[k % 6], points);
      svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", margin + panel_w + 10, top + 16 + 16 * static_cast<int>(k), colours[k % 6],
                         planners[k].size() > 24 ? planners[k].substr(0, 24) + "…" : planners[k]);
    }
  }
  svg += "</svg>\n";
  return svg;
}

// A first Ctrl-C (or SIGTERM) stops bench the way a campaign stops: no further run starts, the
// runs under way finish, and the runs of the seeds every planner finished are shown and written
// (exit 128 + the signal). A second one ends it at once and writes nothing, saying so, and that
// files an earlier run left in the folder are not this one's. The messages are made before the
// handler is set: a handler may do no more than write(2) them and touch a lock-free atomic.
std::atomic<bool> stop_requested{false};
std::atomic<int> stop_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);
std::string stopping_message, quit_message;

void on_interrupt(int signal) {
  if (!stop_requested.exchange(true)) {
    stop_signal.store(signal);
    (void)!::write(STDERR_FILENO, stopping_message.data(), stopping_message.size());
    return;
  }
  (void)!::write(STDERR_FILENO, quit_message.data(), quit_message.size());
  ::_exit(128 + signal);
}

void stop_on_interrupt(const std::string& folder, const std::vector<std::string>& files) {
  stopping_message = "\nlabloop bench: stopping: no further run starts; the runs under way finish, then what is done is written "
                     "(Ctrl-C again to quit at once, writing nothing)\n";
  quit_message = fmt::format("\nlabloop bench: quit before every run was done; nothing was written: any {} in {} are from an earlier run\n",
                             fmt::join(files, " or "), folder);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a write or wait under way goes on after the first signal
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

// Once every run is done or stopped: the default action again, so a signal during the (atomic)
// writes does not claim nothing was written.
void default_on_interrupt() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

// On a terminal (stderr), a line redrawn every second while the runs go on (bench_progress_line),
// so a benchmark of many minutes shows it is working and how far it is; cleared before anything is
// printed on stdout (print()) and when the runs are over. Off a terminal, nothing.
class RunProgress {
 public:
  RunProgress(std::size_t planned, std::atomic<std::size_t>& done) : planned_(planned), done_(done), started_(std::chrono::steady_clock::now()) {
    if (::isatty(STDERR_FILENO) != 1) return;
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        {
          std::lock_guard lock(mutex_);
          const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
          std::string line = "\r\033[K" + bench_progress_line(done_.load(), planned_, elapsed);
          shown_ = true;
          (void)!::write(STDERR_FILENO, line.data(), line.size());
        }
        std::unique_lock lock(wait_mutex_);
        wake_.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
      }
    });
  }
  RunProgress(const RunProgress&) = delete;
  RunProgress& operator=(const RunProgress&) = delete;
  ~RunProgress() { finish(); }

  // Prints (what `draw` does) with the progress line out of the way.
  template <class F>
  void print(F&& draw) {
    std::lock_guard lock(mutex_);
    clear();
    draw();
    std::fflush(stdout);
  }
  void finish() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
    clear();
  }

 private:
  void clear() {
    if (!shown_) return;
    (void)!::write(STDERR_FILENO, "\r\033[K", 4);
    shown_ = false;
  }
  std::size_t planned_;
  std::atomic<std::size_t>& done_;
  std::chrono::steady_clock::time_point started_;
  std::mutex mutex_;  // the line and stdout's prints, one at a time
  std::mutex wait_mutex_;
  std::condition_variable_any wake_;  // woken by the stop request
  bool shown_ = false;
  std::jthread thread_;  // last: stopped and joined before the members it uses go
};

// A benchmark stopped before any seed was done by every planner: nothing to show or write.
int nothing_finished(const std::string& folder, const std::vector<std::string>& files, size_t planned) {
  fmt::print("stopped by signal {} before any seed was done by every planner ({} runs planned); nothing was written: any {} in {} are from an earlier run\n",
             stop_signal.load(), planned, fmt::join(files, " or "), folder);
  return 128 + stop_signal.load();
}

// After the files are written: how a stopped benchmark ends (0 when it was not stopped).
int stopped_status(size_t runs, size_t planned) {
  if (!stop_requested.load()) return 0;
  fmt::print("stopped by signal {} after {} of {} runs: the tables and files above hold the seeds every planner finished\n", stop_signal.load(),
             runs, planned);
  return 128 + stop_signal.load();
}

}  // namespace

// The real suite: every dataset's table as soon as its runs are done, then real.csv (one line per run).
int run_real_suite(const BenchCommand& command) {
  RealBenchmarkOptions options;
  options.datasets = command.datasets.empty() ? real_suite_datasets() : command.datasets;
  std::vector<std::string> planner_texts = command.planners.empty() ? std::vector<std::string>{"bayesian"} : command.planners;
  // The reference runs start from 5 experiments; the other suites' default (10) is theirs.
  const int initial = command.initial_given ? command.initial : 5;
  for (const auto& p : planner_texts) options.planners.push_back(parse_bench_planner(p, initial));
  add_random_baseline(options.planners, initial);
  refuse_duplicate_planners(options.planners);
  options.seeds = command.seeds_given ? command.seeds : 40;
  options.jobs = command.jobs > 0 ? command.jobs : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  options.subset = command.subset;
  // Before --max existed, `labloop bench --datasets … --budget N` stopped pool runs at N: it still does.
  options.max_experiments = !command.max_given && command.budget > 0 ? command.budget : command.max_experiments;
  options.budget = command.budget > 0 ? command.budget : kEmulatedBudget;
  options.descriptors = !command.one_hot;
  options.whole_space = command.whole_space;
  options.objective = command.objective;

  // Mistakes are named before the header, not after it.
  const std::vector<std::filesystem::path> folders = checked_real_folders(options);
  // The kinds of dataset given (spec.json only: a few KB each), for the legend below.
  bool any_lookup = false, any_emulated = false;
  std::vector<long long> per_run;  // experiments per run at most, for the size of the whole
  for (const auto& folder : folders) {
    const sim::DatasetSpec spec = sim::read_dataset_spec(folder);
    (spec.lookup_table ? any_lookup : any_emulated) = true;
    per_run.push_back(real_run_experiments(spec, options));
  }
  // Options of lookup-table runs, with no lookup table among the datasets: ignored without a word.
  if (!any_lookup) {
    const auto lookup_only = [](const char* option, const char* what) {
      throw ConfigError("labloop bench", option,
                        fmt::format("{}, and none of the datasets given is one (they are emulated: labloop-sim --list shows each kind)", what));
    };
    if (command.subset != 1.0) lookup_only("--subset", "draws a fraction of a lookup table's rows");
    if (command.max_given) lookup_only("--max", "caps the experiments of a lookup-table run (--budget sets an emulated dataset's)");
    if (command.whole_space) lookup_only("--whole-space", "searches a lookup table's whole space instead of its rows");
  }
  check_bench_size(options.planners.size(), options.seeds, per_run, "experiments", "datasets",
                   "--seeds, --max or --budget, or give fewer --planners or --datasets");
  stop_on_interrupt(command.output, {"real.csv", "real_rows.csv"});
  options.stop = &stop_requested;
  fmt::print("labloop bench --suite real: {} datasets × {} planners × {} seeds; writing to {}/real.csv (-o DIR to choose)\n", options.datasets.size(),
             options.planners.size(), options.seeds, command.output);
  if (any_lookup)
    fmt::print("  lookup tables: {}, at most {} experiments (--max); descriptors {}\n"
               "    to top 1 %  experiments until the first row among the pool's best ceil(1 %) rows, initial design included:\n"
               "                median [Q1, Q3] over seeds; a run that never gets there counts as {}\n"
               "    to best     the same until the pool's best row\n",
               options.whole_space ? std::string("campaigns in the whole space (no candidates), each setting looked up in the table (--whole-space)")
                                   : fmt::format("pool campaigns on {} of the rows{}, never a row twice",
                                                 options.subset < 1.0 ? fmt::format("a random {:g} %", 100 * options.subset) : "all",
                                                 options.subset < 1.0 ? " drawn per seed" : ""),
               options.max_experiments, options.descriptors ? "from descriptors.csv where there is one" : "off (--one-hot)", options.max_experiments + 1);
  if (any_emulated)
    fmt::print("  emulated datasets: {} experiments (--budget), observations noisy as labloop-sim serves them\n"
               "    regret@N    reference minus the true (noise-free emulator mean) value of the best setting among the first N,\n"
               "                median [Q1, Q3]; reference: the best emulated mean over the dataset's rows, {} Sobol points of the\n"
               "                emulator's input box (on a simplex, fractions summing to 1, hit-and-run draws; the planner\n"
               "                gets that constraint) and a compass search from the best {} of them (below 0: better than the reference)\n",
               options.budget, kReferenceSobolPoints, kReferencePolished);
  fmt::print("  ms/ask        median over runs of a run's median time per proposal\n");
  std::fflush(stdout);
  const auto started = std::chrono::steady_clock::now();
  const auto print_dataset = [&](const std::vector<RealRun>& runs) {
    if (runs.empty()) return;
    const RealRun& first = runs.front();
    const bool lookup = first.kind == RealDatasetKind::lookup_table;
    const size_t seeds = runs.size() / options.planners.size();
    const std::string seeds_done = seeds < static_cast<size_t>(options.seeds) ? fmt::format(" ({} of {} seeds: stopped)", seeds, options.seeds) : "";
    std::vector<int> checkpoints{10, options.budget / 2, options.budget};
    checkpoints.erase(std::remove_if(checkpoints.begin(), checkpoints.end(), [&](int c) { return c < 1 || c > options.budget; }), checkpoints.end());
    std::sort(checkpoints.begin(), checkpoints.end());
    checkpoints.erase(std::unique(checkpoints.begin(), checkpoints.end()), checkpoints.end());
    if (lookup) {
      std::vector<double> pool, top;
      for (const auto& r : runs) pool.push_back(r.pool), top.push_back(r.top_rows);
      fmt::print("\n{}{}: lookup table, pool of {:g} rows (top 1 %: {:g} rows), {}\n  {:<28} {:>20} {:>20} {:>10}\n", first.dataset, seeds_done,
                 quantile(pool, 0.5), quantile(top, 0.5), first.objective, "planner", "to top 1 %", "to best", "ms/ask");
    } else {
      std::string header = fmt::format("  {:<28}", "planner");
      for (int c : checkpoints) header += fmt::format(" {:>28}", fmt::format("regret@{}", c));
      fmt::print("\n{}{}: emulated, {}, reference {:.6g}, budget {}\n{} {:>8} {:>10}\n", first.dataset, seeds_done, first.objective, first.reference, options.budget,
                 header, "refused", "ms/ask");
    }
    for (const auto& planner : options.planners) {
      std::vector<const RealRun*> group;
      for (const auto& r : runs)
        if (r.planner == planner.label) group.push_back(&r);
      std::vector<double> ask;
      for (const auto* r : group) ask.push_back(r->median_ask_ms);
      std::string row = fmt::format("  {:<28}", planner.label.size() > 28 ? planner.label.substr(0, 27) + "…" : planner.label);
      const auto stats = [](const std::vector<double>& v, bool counts) {
        // Experiments as labloop-bench-pool printed them (docs/benchmarks.md): median to .1, quartiles whole.
        return counts ? fmt::format("{:.1f} [{:.0f}, {:.0f}]", quantile(v, 0.5), quantile(v, 0.25), quantile(v, 0.75))
                      : fmt::format("{} [{}, {}]", fmt_regret(quantile(v, 0.5)), fmt_regret(quantile(v, 0.25)), fmt_regret(quantile(v, 0.75)));
      };
      if (lookup) {
        std::vector<double> to_top, to_best;
        for (const auto* r : group) to_top.push_back(r->to_top), to_best.push_back(r->to_best);
        row += fmt::format(" {:>20} {:>20}", stats(to_top, true), stats(to_best, true));
      } else {
        for (int c : checkpoints) {
          std::vector<double> at;
          for (const auto* r : group) at.push_back(r->regret.empty() ? std::numeric_limits<double>::infinity() : r->regret[std::min(r->regret.size(), static_cast<size_t>(c)) - 1]);
          row += fmt::format(" {:>28}", stats(at, false));
        }
        std::vector<double> refused;
        for (const auto* r : group) refused.push_back(r->refused);
        row += fmt::format(" {:>8g}", quantile(refused, 0.5));
      }
      fmt::print("{} {:>10}\n", row, fmt_ms(ask));
    }
    // --whole-space on a table that lacks combinations: each asked for failed, as labloop-sim fails it.
    if (lookup) {
      size_t runs_missing = 0, experiments_missing = 0;
      std::string example;
      for (const auto& r : runs)
        if (r.missing > 0) {
          if (runs_missing++ == 0) example = r.first_missing;
          experiments_missing += static_cast<size_t>(r.missing);
        }
      if (runs_missing > 0)
        fmt::print("  {} experiments of {} of the {} runs asked for a combination missing from the table (first: {}): each failed, as "
                   "labloop-sim fails it (real.csv's refused column counts them per run)\n",
                   experiments_missing, runs_missing, runs.size(), example);
    }
    std::fflush(stdout);
  };
  const size_t planned = options.datasets.size() * options.planners.size() * static_cast<size_t>(options.seeds);
  std::atomic<size_t> finished_runs{0};
  options.finished_runs = &finished_runs;
  RunProgress progress(planned, finished_runs);
  const auto runs = run_real_benchmark(options, [&](const std::vector<RealRun>& dataset) { progress.print([&] { print_dataset(dataset); }); });
  progress.finish();
  default_on_interrupt();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (runs.empty() && stop_requested.load()) return nothing_finished(command.output, {"real.csv", "real_rows.csv"}, planned);
  // Datasets stopped before a seed of them was done by every planner (or never started): named,
  // so they do not vanish from the output unsaid.
  for (const auto& folder : folders) {
    const std::string name = sim::read_dataset_spec(folder).name;
    const std::string label = options.objective.empty() ? name : fmt::format("{}[{}]", name, options.objective);
    if (std::none_of(runs.begin(), runs.end(), [&](const RealRun& r) { return r.dataset == label; }))
      fmt::print("\n{} (0 of {} seeds: stopped)\n", label, options.seeds);
  }

  std::filesystem::create_directories(command.output);
  const auto csv_path = std::filesystem::path(command.output) / "real.csv";
  // A planner's label is its JSON: quoted, its quotes doubled (RFC 4180).
  auto csv_field = [](std::string text) {
    for (size_t k = 0; (k = text.find('"', k)) != std::string::npos; k += 2) text.insert(k, "\"");
    return "\"" + text + "\"";
  };
  std::ostringstream csv;
  // One line per run. Lookup tables: pool, top_rows, to_top, to_best (regret empty; refused, with
  // --whole-space: the experiments on combinations the table lacks); emulated: experiments, the
  // final regret, refused and the reference (pool columns empty).
  csv << "dataset,kind,planner,seed,pool,top_rows,to_top,to_best,experiments,regret,refused,reference,median_ask_ms\n";
  for (const auto& r : runs) {
    const bool lookup = r.kind == RealDatasetKind::lookup_table;
    const std::string planner = csv_field(r.planner);
    csv << csv_cell(r.dataset) << "," << (lookup ? "lookup_table" : "emulated") << "," << planner << "," << r.seed << ","
        << (lookup ? fmt::format("{},{},{},{},{}", r.pool, r.top_rows, r.to_top, r.to_best, r.proposed.size())
                   : fmt::format(",,,,{}", r.regret.size()))
        << "," << (lookup || r.regret.empty() ? "" : fmt::format("{}", r.regret.back())) << ","
        << (!lookup ? std::to_string(r.refused) : options.whole_space ? std::to_string(r.missing) : "") << ","
        << (lookup ? "" : fmt::format("{}", r.reference)) << "," << fmt::format("{}", r.median_ask_ms) << "\n";
  }
  // The rows each lookup-table run chose, in order (row: 0-based data row of the dataset's
  // data.csv, header excluded; value: its first objective, replicates averaged), so a run can be
  // followed step by step.
  const auto rows_path = std::filesystem::path(command.output) / "real_rows.csv";
  std::ostringstream rows_csv;
  rows_csv << "dataset,planner,seed,experiment,row,value\n";
  for (const auto& r : runs) {
    const std::string planner = csv_field(r.planner);
    // A combination the table lacks (--whole-space) has no row and no value: both cells empty.
    for (size_t i = 0; i < r.proposed.size(); ++i)
      rows_csv << csv_cell(r.dataset) << "," << planner << "," << r.seed << "," << i + 1 << ","
               << (r.proposed[i] == kMissingRow ? std::string(",") : fmt::format("{},{}", r.proposed[i], r.proposed_values[i])) << "\n";
  }
  write_bench_files(command.output, {{"real.csv", csv.str()}, {"real_rows.csv", rows_csv.str()}});
  fmt::print("\nwall time {:.1f} s; wrote {} and {}\n", wall, csv_path.string(), rows_path.string());
  return stopped_status(runs.size(), planned);
}

int run_bench(const BenchCommand& command) {
  // Made first: a folder it cannot make (-o names a file) was found only once every run was done.
  std::error_code made;
  std::filesystem::create_directories(command.output, made);
  if (made || !std::filesystem::is_directory(command.output))
    throw ConfigError("labloop bench", "-o", fmt::format("cannot make the folder {}: {}", command.output,
                                                         made ? made.message() + (made == std::errc::not_a_directory ? " (a file is in its way)" : "")
                                                              : "a file of that name is in its way"));
  if (command.suite == BenchSuite::real || !command.datasets.empty()) {
    if (command.suite_given && command.suite != BenchSuite::real) throw ConfigError("labloop bench", "--datasets", "datasets belong to the real suite (--suite real)");
    if (!command.problems.empty()) throw ConfigError("labloop bench", "--problems", "the real suite runs datasets (--datasets), not test functions");
    // Options of the test functions' suites, which the real suite has no use for: given, they
    // were ignored without a word.
    if (command.batch != 1) throw ConfigError("labloop bench", "--batch", "proposes test functions' experiments in batches; the real suite proposes one at a time");
    if (command.noise != 0) throw ConfigError("labloop bench", "--noise", "adds noise to test functions; a dataset answers with what was measured");
    if (command.declare_noise) throw ConfigError("labloop bench", "--declare-noise", "states the noise --noise adds to test functions; the real suite has none");
    return run_real_suite(command);
  }
  if (!command.objective.empty())
    throw ConfigError("labloop bench", "--objective", "names a dataset's objective, which the real suite scores (--suite real or --datasets)");
  // And the other way round: options of the real suite's lookup tables.
  const auto real_only = [](const char* option, const char* what) {
    throw ConfigError("labloop bench", option, fmt::format("{}: it belongs to the real suite (--suite real or --datasets)", what));
  };
  if (command.subset != 1.0) real_only("--subset", "draws a fraction of a lookup table's rows");
  if (command.max_given) real_only("--max", "caps the experiments of a lookup-table run (--budget sets a test function's)");
  if (command.one_hot) real_only("--one-hot", "ignores a table's descriptors");
  if (command.whole_space) real_only("--whole-space", "searches a table's whole space instead of its rows");
  BenchmarkOptions options;
  // The goals suite's rows carry their own budgets, initial designs, noise and batches: --problems
  // selects among them (docs/benchmarks.md's `--suite goals --problems branin` is the noisy row
  // alone); it used to add noise-free problems of those names in front of every row.
  if (command.suite == BenchSuite::goals) options.problems = select_goal_problems(command.problems);
  else
    for (const auto& p : command.problems) options.problems.push_back(parse_bench_problem(p));
  if (options.problems.empty()) options.problems = standard_problems();
  apply_bench_noise_and_batch(options.problems, command.noise, command.batch);
  // Runs are grouped by problem: one given twice ("levy:3 levy:03") had its runs pooled as one
  // problem's, each seed twice. (The goals suite's selection takes each row once.)
  for (size_t i = 0; i < options.problems.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (options.problems[i].label() == options.problems[j].label())
        throw ConfigError("labloop bench", "--problems",
                          fmt::format("{} is given twice: give each problem once (its runs would be pooled as one problem's, each seed twice)",
                                      options.problems[i].label()));
  if (command.budget > 0)
    for (auto& p : options.problems) p.budget = command.budget;
  std::vector<std::string> planner_texts = command.planners;
  if (planner_texts.empty()) planner_texts = {"bayesian"};
  // The objectives suite compares with ParEGO in the same run, as the reference table does.
  if (command.planners.empty() && command.suite == BenchSuite::goals) planner_texts.push_back(R"({"kind": "bayesian", "multi_objective": "parego"})");
  for (const auto& p : planner_texts) options.planners.push_back(parse_bench_planner(p, command.initial));
  add_random_baseline(options.planners, command.initial);
  refuse_duplicate_planners(options.planners);
  options.seeds = command.seeds;
  options.jobs = command.jobs;
  options.noise = command.noise;
  options.declare_noise = command.declare_noise;
  options.batch = command.batch;
  // Every problem and planner checked before the header and legend, so a mistake is the one line shown.
  check_benchmark(options);
  // And what the runs would hold: --seeds and --budget, each within its range, asked for terabytes.
  std::vector<long long> per_run;
  for (const auto& p : options.problems) per_run.push_back(p.budget);
  check_bench_size(options.planners.size(), options.seeds, per_run, "evaluations", "problems",
                   "--seeds or --budget, or give fewer --planners or --problems");
  stop_on_interrupt(command.output, {"bench.csv", "regret.svg"});
  options.stop = &stop_requested;

  fmt::print("labloop bench: {} problems × {} planners × {} seeds{}; writing to {}/ (-o DIR to choose)\n", options.problems.size(),
             options.planners.size(), options.seeds, options.batch > 1 ? fmt::format(", batches of {} (ms/ask is per batch)", options.batch) : "",
             command.output);
  fmt::print("  @N            simple regret after N evaluations (best found minus the known optimum): median [quartiles] over seeds\n"
             "  reach random  evaluations until a run first matches random search's median final regret; median over the runs\n"
             "                that got there, \"-\" when fewer than half did\n"
             "  ms/ask        median time of one proposal by the model (\"-\" for planners without one)\n"
             "  design ms     median time of one proposal of the initial design (Sobol, random: every proposal)\n"
             "  several objectives: @N is the hypervolume of the feasible points (true values) against the problem's reference point\n"
             "  and reach random counts evaluations to random search's median final hypervolume; infeasible and failed count\n"
             "  evaluations after the initial design (median); recommended: true regret of the planner's recommended setting\n"
             "  regret.svg plots regret, or the gap to the maximum hypervolume (to the largest any run reached where it is unknown)\n");
  std::fflush(stdout);  // the header before the runs, also into a pipe or a file (a Ctrl-C's _exit flushes nothing)
  const auto started = std::chrono::steady_clock::now();
  const size_t planned = options.problems.size() * options.planners.size() * static_cast<size_t>(options.seeds);
  std::atomic<size_t> finished_runs{0};
  options.finished_runs = &finished_runs;
  RunProgress progress(planned, finished_runs);
  const auto runs = run_benchmark(options);
  progress.finish();
  default_on_interrupt();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (runs.empty() && stop_requested.load()) return nothing_finished(command.output, {"bench.csv", "regret.svg"}, planned);

  std::vector<std::string> problem_labels, panel_what, planner_labels;
  for (const auto& p : options.planners) planner_labels.push_back(p.label);
  std::map<std::pair<std::string, std::string>, std::vector<const BenchmarkRun*>> groups;
  for (const auto& r : runs) groups[{r.problem, r.planner}].push_back(&r);

  std::filesystem::create_directories(command.output);
  std::ostringstream csv;
  // ask_seconds: the time of the ask() that proposed this evaluation (shared within a batch).
  csv << "problem,planner,seed,evaluation,regret,ask_seconds,hypervolume\n";
  for (const auto& r : runs)
    for (size_t i = 0; i < std::max(r.regret.size(), r.hypervolume.size()); ++i)
      csv << r.problem << ",\"" << [&] { std::string s = r.planner; size_t k = 0; while ((k = s.find('"', k)) != std::string::npos) s.insert(k, "\""), k += 2; return s; }()
          << "\"," << r.seed << "," << i + 1 << "," << (i < r.regret.size() ? fmt::format("{}", r.regret[i]) : "") << ","
          << fmt::format("{}", r.ask_seconds[r.evaluation_ask[i]]) << ","
          << (i < r.hypervolume.size() ? fmt::format("{}", r.hypervolume[i]) : "") << "\n";

  std::map<std::pair<std::string, std::string>, RegretCurve> curves;
  for (size_t pi = 0; pi < options.problems.size(); ++pi) {
    const auto& problem = options.problems[pi];
    if (!groups.contains({problem.label(), "random"})) {
      // Stopped before a seed of it was done by every planner: named, so it does not vanish unsaid.
      fmt::print("\n{} (budget {}, 0 of {} seeds: stopped)\n", problem.label(), problem.budget, options.seeds);
      continue;
    }
    const size_t seeds = groups[{problem.label(), "random"}].size();
    // Cut short: how many of its seeds it has, as the real suite's tables say.
    const std::string seeds_text =
        seeds < static_cast<size_t>(options.seeds) ? fmt::format("{} of {} seeds: stopped", seeds, options.seeds) : fmt::format("{} seeds", seeds);
    const int budget = problem.budget;
    std::vector<int> checkpoints{10, budget / 2, budget};
    checkpoints.erase(std::remove_if(checkpoints.begin(), checkpoints.end(), [&](int c) { return c < 1 || c > budget; }), checkpoints.end());
    std::sort(checkpoints.begin(), checkpoints.end());  // a budget of 15 has its half (7) before 10
    checkpoints.erase(std::unique(checkpoints.begin(), checkpoints.end()), checkpoints.end());
    // "Reach": how many evaluations until a run first matches random search's median final regret.
    // Several objectives: hypervolume (larger is better) in place of regret.
    const auto& first = *groups[{problem.label(), "random"}].front();
    const bool several = !first.hypervolume.empty();
    auto series = [&](const BenchmarkRun* r) -> const std::vector<double>& { return several ? r->hypervolume : r->regret; };
    const sim::TestFunction* function = sim::find_test_function(problem.function);
    const int dim = problem.dim > 0 ? problem.dim : function->default_dim;
    const double max_hypervolume = function->benchmark_facts(dim, function->default_options()).max_hypervolume;
    const bool constrained = !function->benchmark_facts(dim, function->default_options()).constraints.empty();
    const bool fails = function->failure != nullptr;
    std::vector<double> random_final;
    for (const auto* r : groups[{problem.label(), "random"}]) random_final.push_back(series(r).back());
    const double reach_target = quantile(random_final, 0.5);
    // The panel of several objectives plots the gap to the maximum hypervolume on a log scale, so it
    // reads like regret; when the maximum is unknown (snar_kinetic), the shortfall from the largest
    // any run of any planner reached, said so in its title. (Twice random's median stood in for it,
    // which drew every run beyond that at the axis's floor, as if at the optimum.)
    double hypervolume_top = max_hypervolume;
    if (several && std::isnan(hypervolume_top)) {
      hypervolume_top = 0;
      for (const auto& planner : planner_labels)
        for (const auto* r : groups[{problem.label(), planner}])
          for (double v : r->hypervolume) hypervolume_top = std::max(hypervolume_top, v);
    }
    problem_labels.push_back(problem.label());
    panel_what.push_back(!several ? "simple regret"
                         : std::isnan(max_hypervolume)
                             ? fmt::format("shortfall from the largest hypervolume any run reached ({:.4g}; the maximum is unknown)", hypervolume_top)
                             : fmt::format("hypervolume gap to the maximum {:.4g}", max_hypervolume));

    fmt::print("\n{} (budget {}, {}) — {}: median [IQR]\n", problem.label(), budget, seeds_text,
               !several                        ? std::string("simple regret")
               : std::isnan(max_hypervolume)   ? std::string("hypervolume (maximum unknown)")
                                               : fmt::format("hypervolume (maximum {:.4g})", max_hypervolume));
    std::string header = fmt::format("  {:<28}", "planner");
    for (int c : checkpoints) header += fmt::format(" {:>24}", fmt::format("@{}", c));
    header += fmt::format(" {:>14} {:>12} {:>12}", "reach random", "ms/ask", "design ms");
    if (constrained) header += fmt::format(" {:>10}", "infeasible");
    if (fails) header += fmt::format(" {:>8}", "failed");
    if (!several) header += fmt::format(" {:>12}", "recommended");
    fmt::print("{}\n", header);
    for (const auto& planner : planner_labels) {
      const auto& group = groups[{problem.label(), planner}];
      std::string row = fmt::format("  {:<28}", planner.size() > 28 ? planner.substr(0, 27) + "…" : planner);
      for (int c : checkpoints) {
        std::vector<double> at;
        for (const auto* r : group) at.push_back(series(r)[static_cast<size_t>(c - 1)]);
        row += fmt::format(" {:>24}", fmt::format("{} [{}, {}]", fmt_regret(quantile(at, 0.5)), fmt_regret(quantile(at, 0.25)), fmt_regret(quantile(at, 0.75))));
      }
      std::vector<double> reach, ask_ms, design_ms;
      for (const auto* r : group) {
        const std::vector<double>& values = series(r);
        auto it = std::find_if(values.begin(), values.end(), [&](double v) {
          // Regret is infinite until a feasible point is found: matching a random search that found none means finding one.
          return several ? v >= reach_target : std::isfinite(v) && v <= reach_target;
        });
        reach.push_back(it == values.end() ? std::nan("") : static_cast<double>(it - values.begin() + 1));
        for (size_t a = 0; a < r->ask_seconds.size(); ++a) (a < r->design_asks ? design_ms : ask_ms).push_back(r->ask_seconds[a] * 1000);
      }
      // "-" when fewer than half got there (docs/benchmarks.md): exactly half is shown, as random
      // search's own row is with an even --seeds (half its runs reach its median).
      const auto reached = std::count_if(reach.begin(), reach.end(), [](double v) { return !std::isnan(v); });
      reach.erase(std::remove_if(reach.begin(), reach.end(), [](double v) { return std::isnan(v); }), reach.end());
      row += fmt::format(" {:>14} {:>12} {:>12}", reached * 2 >= static_cast<long>(group.size()) ? fmt::format("{:g}", quantile(reach, 0.5)) : "-",
                         fmt_ms(ask_ms), fmt_ms(design_ms));
      std::vector<double> infeasible, failed, recommended;
      for (const auto* r : group) {
        infeasible.push_back(r->infeasible);
        failed.push_back(r->failed);
        if (!std::isnan(r->recommended_regret)) recommended.push_back(r->recommended_regret);
      }
      if (constrained) row += fmt::format(" {:>10g}", quantile(infeasible, 0.5));
      if (fails) row += fmt::format(" {:>8g}", quantile(failed, 0.5));
      if (!several) row += fmt::format(" {:>12}", recommended.empty() ? "-" : fmt_regret(quantile(recommended, 0.5)));
      fmt::print("{}\n", row);
      RegretCurve curve;
      for (int i = 0; i < budget; ++i) {
        std::vector<double> at;
        // Several objectives: the log of the gap to hypervolume_top (above), so the panel reads like regret.
        for (const auto* r : group)
          at.push_back(several ? log10_regret(hypervolume_top - r->hypervolume[static_cast<size_t>(i)])
                               : log10_regret(r->regret[static_cast<size_t>(i)]));
        curve.median.push_back(quantile(at, 0.5));
        curve.q25.push_back(quantile(at, 0.25));
        curve.q75.push_back(quantile(at, 0.75));
      }
      curves[{problem.label(), planner}] = curve;
    }
  }
  write_bench_files(command.output, {{"bench.csv", csv.str()}, {"regret.svg", regret_svg(problem_labels, panel_what, planner_labels, curves)}});
  fmt::print("\nwall time {:.1f} s; wrote {}/bench.csv and {}/regret.svg\n", wall, command.output, command.output);
  return stopped_status(runs.size(), planned);
}

}  // namespace labloop::cli
