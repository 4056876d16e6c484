// labloop-sim: serves a standard test function, a dataset's lookup table or a scattered dataset's
// emulator over protocol v1, as a stand-in instrument.
#include <CLI/CLI.hpp>
#include <csignal>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <vector>

#include "completed_log.hpp"
#include "function_options.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/version.hpp"
#include "labloop/wire/endpoint.hpp"
#include "dataset.hpp"
#include "emulator.hpp"
#include "simulated_instrument.hpp"

namespace {

// Stated ranges of the options, as a campaign file's simulator options have them.
constexpr double kMostSeconds = 365.0 * 24 * 3600;
CLI::Validator between(double low, double high, bool whole = false) {
  return CLI::Validator([=](std::string& given) { return labloop::number_range_problem(given, low, high, whole); },
                        labloop::number_range_text(low, high));
}

// A name the option needs: an empty one ("$NAME" unset) was taken as none given, and the message
// then spoke of another option.
CLI::Validator named(std::string what) {
  return CLI::Validator([what](std::string& given) { return given.empty() ? "is empty; " + what : std::string(); }, "NAME");
}

// --seed: a whole number an unsigned 64-bit seed holds. Read as digits, not through a double (which
// cannot tell 2^64 from 2^64 - 1) nor through CLI11's conversion, which took -5 and numbers past
// 2^64 without a word.
CLI::Validator seed_range() {
  return CLI::Validator(
      [](std::string& given) {
        std::uint64_t value = 0;
        const char* end = given.data() + given.size();
        const auto [stop, error] = std::from_chars(given.data(), end, value);
        if (!given.empty() && std::isdigit(static_cast<unsigned char>(given.front())) && error == std::errc() && stop == end) return std::string();
        return fmt::format("must be a whole number from 0 to {}, got {}", std::numeric_limits<std::uint64_t>::max(), given);
      },
      fmt::format("0..{}", std::numeric_limits<std::uint64_t>::max()));
}

// --endpoint: where a controller in another process can connect. ZeroMQ took a tcp port past 65535
// as a random one (the simulator then served where nobody looked for it), and inproc://, which only
// threads of this process reach.
std::string endpoint_problem(const std::string& endpoint) {
  if (endpoint.empty()) return "is empty; use tcp://HOST:PORT (e.g. tcp://127.0.0.1:5555) or ipc:///PATH";
  if (endpoint.rfind("inproc://", 0) == 0)
    return fmt::format("{} is reachable only from inside labloop-sim itself, so no controller could connect; use tcp://HOST:PORT or ipc:///PATH", endpoint);
  return labloop::endpoint_problem(endpoint, labloop::EndpointUse::bind);
}

// An emulated dataset's --list line: its cross-validated error from emulator.json (stored by
// --emulator-report; computing it here would take minutes), or why there is none.
std::string emulator_summary(const std::filesystem::path& dir) {
  const auto report = labloop::sim::read_emulator_json(dir);
  if (!report) return "no stored fit (emulator.json missing or stale: run labloop-sim --emulator-report " + dir.filename().string() + ")";
  // A stored fit that fails its checks is refitted when served, so its figures are not this emulator's.
  if (const std::string problem = labloop::sim::stored_fit_problem(labloop::sim::read_dataset_spec(dir), *report); !problem.empty())
    return fmt::format("no usable stored fit ({}): it is fitted afresh when served; run labloop-sim --emulator-report {}", problem,
                       dir.filename().string());
  std::vector<std::string> figures;
  for (const auto& o : (*report)["objectives"])
    if (o["cv_rmse"].is_number() && o["cv_r2"].is_number())
      figures.push_back(fmt::format("{} RMSE {:.3g}, R² {:.2f}", o["name"].get<std::string>(), o["cv_rmse"].get<double>(), o["cv_r2"].get<double>()));
    else  // too few rows (cv_note says so), never a nan
      figures.push_back(fmt::format("{} none ({})", o["name"].get<std::string>(),
                                    o.contains("cv_note") && o["cv_note"].is_string() ? o["cv_note"].get<std::string>() : "not cross-validated"));
  const auto rows = report->value("rows", std::size_t{0}), fit_rows = report->value("fit_rows", std::size_t{0});
  const bool any = std::any_of(report->at("objectives").begin(), report->at("objectives").end(), [](const auto& o) { return o["cv_rmse"].is_number(); });
  return fmt::format("{}: {}; fitted to {}", any ? fmt::format("{}-fold CV", report->value("folds", 0)) : "CV", fmt::join(figures, "; "),
                     fit_rows < rows ? fmt::format("a random {} of the {} rows (seed {})", fit_rows, rows, report->value("seed", std::uint64_t{0}))
                                     : fmt::format("all {} rows", rows));
}

// Why the dataset folder `name` serves no campaign, or "" when it does: the catalogue gives the name
// to a test function first (catalogue.cpp), so a folder of that name is shadowed.
std::string shadowed_note(const std::string& name) {
  if (!labloop::sim::find_test_function(name)) return {};
  return fmt::format("shadowed: a test function is named {0} too, and \"simulator\": \"{0}\" (or --function {0}) means the function; "
                     "rename the folder to serve this dataset",
                     name);
}

// The datasets after the functions in --list: kind, rows, dimensions, objectives with goals.
void list_datasets() {
  const std::filesystem::path dir = labloop::sim::data_dir();
  fmt::print("\n{:<29} {:<9} {:>5} {:>5}  {}\n", "dataset", "kind", "rows", "dims", "objectives");
  if (const std::string problem = labloop::sim::data_dir_problem(dir); !problem.empty()) {
    fmt::print("(none: {})\n", problem);
    return;
  }
  // Folder, parameter and objective names come from files anyone may have written: shown
  // printable, so a crafted dataset cannot retitle the terminal or forge lines (a red-team report).
  const auto shown = [](const std::string& text) { return labloop::printable(text); };
  for (const std::string& name : labloop::sim::dataset_names(dir)) {
    // The catalogue gives a name to the function first (catalogue.cpp), so this folder serves no
    // campaign: said here, not left for a campaign that gets branin instead of the data.
    if (const std::string note = shadowed_note(name); !note.empty()) {
      fmt::print("{:<29} {}\n", shown(name), shown(note));
      continue;
    }
    try {
      const auto spec = labloop::sim::read_dataset_spec(dir / name);
      std::vector<std::string> objectives;
      for (const auto& o : spec.objectives) objectives.push_back(fmt::format("{} ({})", shown(o.name), o.maximize ? "max" : "min"));
      const std::string kind = spec.lookup_table ? "lookup" : "emulated";
      fmt::print("{:<29} {:<9} {:>5} {:>5}  {}\n", shown(name), kind, spec.rows, spec.parameters.size(), fmt::join(objectives, ", "));
      if (spec.lookup_table) {
        // Its rows are read too (under 0.1 s for the largest): a data.csv the table cannot be made
        // from was listed as fine, and failed only when a campaign or bench used it.
        try {
          labloop::sim::LookupTable table(labloop::sim::read_dataset(dir / name));
        } catch (const std::exception& e) {
          fmt::print("{:<29} unusable: {}\n", "", shown(e.what()));
        }
        continue;
      }
      // Its rows are read (no fitting) to name a set no campaign could use: its emulator would refuse
      // every setting but one (labloop new and labloop validate refuse it with the same message).
      std::string summary;
      try {
        labloop::sim::emulated_inputs(labloop::sim::read_dataset(dir / name));
        summary = emulator_summary(dir / name);
      } catch (const std::exception& e) {
        summary = std::string("unusable: ") + e.what();
      }
      fmt::print("{:<29} {}\n", "", shown(summary));
    } catch (const std::exception& e) {
      fmt::print("{:<29} unreadable: {}\n", shown(name), shown(e.what()));
    }
  }
  fmt::print("\nDatasets from {} ({}); each folder's README.md gives its meaning, units, licence and citation. Emulated sets: a "
             "Gaussian process per objective fitted to at most {} rows; docs/datasets.md gives the rules.\n",
             shown(dir.string()),
             std::getenv("LABLOOP_DATA_DIR") && *std::getenv("LABLOOP_DATA_DIR") ? "LABLOOP_DATA_DIR" : "the default: installed with this program, else its source tree's; set LABLOOP_DATA_DIR to use another",
             labloop::sim::kMaxEmulatorRows);
}

// The dataset `name` in the data directory, or Error naming what is missing.
std::filesystem::path dataset_dir(const std::string& name) {
  const std::filesystem::path dir = labloop::sim::data_dir();
  const auto names = labloop::sim::dataset_names(dir);
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    if (const std::string problem = labloop::sim::data_dir_problem(dir); !problem.empty())
      throw labloop::Error(fmt::format("unknown function \"{}\", and no datasets to look in: {}", name, problem));
    throw labloop::Error(fmt::format("unknown function or dataset \"{}\" (--list shows them)", name));
  }
  return dir / name;
}

// The instrument serving a dataset: its lookup table, read whole (under 0.1 s for the largest),
// or its emulator, with the hyperparameters stored in emulator.json when they match the data
// (else fitted afresh, which takes up to minutes: said on stderr). Throws Error (or ConfigError
// for a malformed spec.json) with a message naming the problem.
std::unique_ptr<labloop::sim::SimulatedInstrument> dataset_instrument(const std::string& name, const labloop::sim::SimulatorOptions& options) {
  const std::filesystem::path dir = dataset_dir(name);
  labloop::sim::Dataset data = labloop::sim::read_dataset(dir);
  if (!data.spec.lookup_table) {
    const auto stored = labloop::sim::read_emulator_json(dir);
    auto emulator = std::make_shared<const labloop::sim::Emulator>(data, stored ? &*stored : nullptr);
    if (!emulator->from_stored())
      std::cerr << "labloop-sim: " << name << ": "
                << (emulator->stored_problem().empty() ? std::string("emulator.json is missing or stale") : emulator->stored_problem())
                << ", so the emulator was fitted afresh (run labloop-sim --emulator-report " << name << " to store the fit)" << std::endl;
    return std::make_unique<labloop::sim::SimulatedInstrument>(std::move(emulator), options);
  }
  auto table = std::make_shared<const labloop::sim::LookupTable>(std::move(data));
  return std::make_unique<labloop::sim::SimulatedInstrument>(std::move(table), options);
}

// One dataset's --emulator-report: fits its emulator afresh, cross-validates it, prints the figures
// and (unless `print_only`) writes emulator.json and the README's emulator section. Throws Error.
void emulator_report_one(const std::string& n, bool print_only) {
  // Its figures would describe a dataset no campaign gets (--emulator-report all fitted it).
  if (const std::string note = shadowed_note(n); !note.empty()) throw labloop::Error(note);
  const std::filesystem::path dir = dataset_dir(n);
  const auto start = std::chrono::steady_clock::now();
  labloop::sim::Emulator emulator(labloop::sim::read_dataset(dir));
  emulator.cross_validate();
  const nlohmann::json report = emulator.to_json();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{} ({} of {} rows fitted, {:.1f} s)\n", n, emulator.fit_rows(), emulator.rows(), seconds);
  for (const auto& o : emulator.objectives())
    fmt::print("  {:<20} {}  noise sd {:.3g} ({})  range [{:.4g}, {:.4g}] ({}){}\n", o.name,
               o.cv_rmse && o.cv_r2 ? fmt::format("{}-fold CV RMSE {:.4g}  R² {:.3f}", emulator.folds(), *o.cv_rmse, *o.cv_r2) : "CV: " + o.cv_note,
               o.noise_sd, o.noise_source, o.low, o.high, o.range_rule, o.warped ? fmt::format("  warp λ {:.2f}", o.lambda) : "");
  if (print_only) return;
  {
    std::ofstream out(dir / "emulator.json", std::ios::trunc);
    out << report.dump(1) << "\n";
    if (!out) throw labloop::Error(fmt::format("{}: cannot write", (dir / "emulator.json").string()));
  }
  // The README's section between the markers is replaced (or appended the first time).
  const std::filesystem::path readme = dir / "README.md";
  std::string text;
  {
    std::ifstream in(readme, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string begin = "<!-- labloop:emulator", end = "<!-- /labloop:emulator -->\n";
  const auto a = text.find(begin), b = text.find(end);
  const std::string section = labloop::sim::emulator_readme_section(report);
  if (a != std::string::npos && b != std::string::npos && b > a) text.replace(a, b + end.size() - a, section);
  else text += (text.empty() || text.back() == '\n' ? "\n" : "\n\n") + section;
  std::ofstream out(readme, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw labloop::Error(fmt::format("{}: cannot write", readme.string()));
}

// --emulator-report NAME, or "all": every scattered dataset. With "all", a dataset whose spec.json
// or rows cannot be read or emulated is named on stderr and skipped, as --list does, and the
// others are reported (it stopped at the first, even a lookup table's spec); the status is then 2,
// as for a single dataset that fails, so a script sees that some figures are missing. Returns the
// exit status.
int emulator_report(const std::string& name, bool print_only) {
  if (name != "all") {
    emulator_report_one(name, print_only);
    return 0;
  }
  const std::filesystem::path dir = labloop::sim::data_dir();
  std::vector<std::string> skipped;
  auto skip = [&](const std::string& n, const std::exception& e) {
    std::cerr << "labloop-sim: --emulator-report all: skipped " << n << ": " << e.what() << std::endl;
    skipped.push_back(n);
  };
  std::vector<std::string> names;
  for (const std::string& n : labloop::sim::dataset_names(dir)) {
    try {
      if (!labloop::sim::read_dataset_spec(dir / n).lookup_table) names.push_back(n);
    } catch (const std::exception& e) {
      skip(n, e);
    }
  }
  for (const std::string& n : names) {
    try {
      emulator_report_one(n, print_only);
    } catch (const std::exception& e) {
      skip(n, e);
    }
  }
  if (skipped.empty()) return 0;
  std::cerr << fmt::format("labloop-sim: --emulator-report all: {} of the datasets skipped ({}); the others were reported", skipped.size(),
                           fmt::join(skipped, ", "))
            << std::endl;
  return 2;
}

// The one-line banner of the injected faults, empty when there are none.
std::string active_faults(const labloop::sim::SimulatorOptions& o, const labloop::ServeOptions::ReplyFaults& r) {
  std::vector<std::string> faults;
  if (o.fail_rate > 0) faults.push_back(fmt::format("fail-rate {}", o.fail_rate));
  if (o.hang_rate > 0) faults.push_back(fmt::format("hang-rate {}", o.hang_rate));
  if (o.crash_after >= 0) faults.push_back(fmt::format("crash-after {}", o.crash_after));
  if (o.crash_rate > 0) faults.push_back(fmt::format("crash-rate {}", o.crash_rate));
  if (r.garbage_rate > 0) faults.push_back(fmt::format("garbage-rate {}", r.garbage_rate));
  if (r.oversize_rate > 0) faults.push_back(fmt::format("oversize-rate {}", r.oversize_rate));
  if (o.jitter_s > 0) faults.push_back(fmt::format("jitter {} s", o.jitter_s));
  if (faults.empty()) return {};
  return fmt::format("injected faults: {} (seed {})", fmt::join(faults, ", "), o.seed);
}

}  // namespace

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) fails the cache write that crosses it, which is reported and
  // cut back, instead of killing the driver.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"labloop-sim: a simulated instrument serving a standard test function, or a real dataset (its lookup table or an "
               "emulator fitted to it), over labloop protocol v1"};
  app.footer(fmt::format("Datasets (--function buchwald_a): read from $LABLOOP_DATA_DIR when set, else from {} (installed with this program, else its source tree's).",
                         labloop::sim::data_dir().string()));
  std::string function_name, endpoint, completed_log_path;
  labloop::sim::SimulatorOptions options;
  labloop::ServeOptions serve_options;
  bool list = false, report_print_only = false;
  std::string report_name;
  app.set_version_flag("--version", std::string("labloop-sim ") + labloop::kVersion);
  app.add_flag("--list", list, "List the functions and datasets it serves and exit");
  app.add_option("--emulator-report", report_name,
                 "Fit a scattered dataset's emulator afresh, cross-validate it, print the figures and store them in its emulator.json "
                 "and README.md (NAME, or all); takes seconds to minutes per dataset")
      ->check(named("name a scattered dataset (--list shows them), or all"));
  app.add_flag("--print-only", report_print_only, "With --emulator-report: print the figures, write nothing");
  app.add_option("--function,-f", function_name, "Test function or dataset to serve (see --list)")
      ->check(named("name a test function or dataset (--list shows them)"));
  app.add_option("--endpoint,-e", endpoint, "Where to bind, e.g. tcp://127.0.0.1:5555 or ipc:///tmp/sim.ipc")
      ->check(CLI::Validator([](std::string& given) { return endpoint_problem(given); }, "ENDPOINT"));
  // 0 was taken as "the function's own"; leaving the option out says that.
  app.add_option("--dim", options.dim, "Dimension, for functions that allow several (default: the function's own)")
      ->check(between(1, std::numeric_limits<int>::max(), true));
  std::string function_options;
  app.add_option("--options", function_options,
                 "The function's own options as a JSON object, e.g. '{\"objectives\": 3}' for dtlz2 (--list shows them)");
  app.add_option("--noise", options.noise, "Standard deviation of Gaussian noise added to each output")->check(between(0, 1e100));
  app.add_option("--delay", options.delay_s, "Seconds each experiment takes")->check(between(0, kMostSeconds));
  app.add_option("--capacity", options.capacity, "Experiments run at once")->check(between(1, std::numeric_limits<int>::max(), true));
  app.add_option("--seed", options.seed, "Seed of the noise and of every injected fault")->check(seed_range());
  app.add_option("--cache", serve_options.cache_path,
                 "Keep finished results in this file (JSON lines, fsynced before each is sent), so a restarted "
                 "simulator answers a repeated run from it");
  app.add_option("--completed-log", completed_log_path,
                 "Append one JSON line {experiment, status, pid, time} per experiment this process actually completed "
                 "(not for answers from the cache), fsynced");
  const std::string faults = "Injected faults (for testing controllers; all off by default)";
  app.add_option("--fail-rate", options.fail_rate, "Probability that an experiment fails with error \"injected failure\"")
      ->check(between(0, 1))->group(faults);
  app.add_option("--hang-rate", options.hang_rate, "Probability that an experiment never finishes until aborted")
      ->check(between(0, 1))->group(faults);
  app.add_option("--crash-after", options.crash_after,
                 "SIGKILL itself halfway through experiment N+1 (N experiments started normally before it)")
      ->check(between(0, std::numeric_limits<int>::max(), true))->group(faults);
  app.add_option("--crash-rate", options.crash_rate, "Probability that an experiment SIGKILLs the process at a random moment of it")
      ->check(between(0, 1))->group(faults);
  app.add_option("--garbage-rate", serve_options.reply_faults.garbage_rate,
                 "Probability that a message is preceded by an extra frame that is not JSON")
      ->check(between(0, 1))->group(faults);
  app.add_option("--oversize-rate", serve_options.reply_faults.oversize_rate,
                 "Probability that a message is preceded by an extra pong larger than the 1 MiB message limit")
      ->check(between(0, 1))->group(faults);
  app.add_option("--jitter", options.jitter_s, "Each experiment's delay gets + uniform(0, S) seconds")
      ->check(between(0, kMostSeconds))->group(faults);
  // CurveZMQ (docs/security.md): this simulator's key pair and the controllers allowed to connect.
  app.add_option("--key", serve_options.key_path, "Encrypt with this key pair (keys/sim or keys/sim.key; `labloop keys new sim`)");
  app.add_option("--allowed", serve_options.allowed_keys, "Controller public keys allowed to connect: a .pub file or a directory of them");
  app.add_flag("--require-encryption", serve_options.require_encryption, "Refuse to start without --key and --allowed");
  // Exclusive control (docs/protocol.md §12): one campaign at a time. On by default with a key,
  // where the holder is a controller key and not only a campaign id.
  bool exclusive = false, not_exclusive = false;
  double lease_s = 3600;
  app.add_flag("--exclusive", exclusive, "Serve one campaign at a time: others get `busy` naming the holder (default with --key)");
  app.add_flag("--no-exclusive", not_exclusive, "Serve every controller, even with --key (protocol v1 without holders)");
  // 1 s to a year, as serve() and the SDKs take it (docs/security.md); whole seconds are what the
  // holder file keeps, so a fraction is rounded up.
  app.add_option("--lease", lease_s, "Seconds a silent holder keeps the instrument, 1 to 31536000 (default 3600; its messages renew it)")
      ->check(between(1, kMostSeconds));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 says what is wrong; its own codes (105, 106, 109, …) are no contract of ours: a
    // mistake in the command line is exit 2 (README.md). --help and --version are 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (exclusive && not_exclusive) {
    std::cerr << "labloop-sim: --exclusive and --no-exclusive contradict each other; give one\n";
    return 2;
  }
  serve_options.exclusive = exclusive || (!not_exclusive && !serve_options.key_path.empty());
  serve_options.lease = std::chrono::seconds(static_cast<long long>(std::ceil(lease_s)));

  if (list) {
    fmt::print("{:<22} {:<10} {}\n", "function", "dims", "description");
    for (const auto& f : labloop::sim::test_functions()) {
      const std::string dims = f.min_dim == f.max_dim ? std::to_string(f.min_dim) : fmt::format("{}-{} ({})", f.min_dim, f.max_dim, f.default_dim);
      fmt::print("{:<22} {:<10} {}\n", f.name, dims, f.description);
      const auto defaults = f.default_options();
      const auto outputs = f.output_names(f.default_dim, defaults);
      if (outputs.size() > 1) fmt::print("{:<33} outputs: {}\n", "", fmt::join(outputs, ", "));
      for (const auto& o : f.options)
        fmt::print("{:<33} option {}: {}, {} to {:g} (default {:g})\n", "", o.name, o.description,
                   o.integer ? fmt::format("whole number {:g}", o.low) : fmt::format("{:g}", o.low), o.high, o.default_value);
    }
    list_datasets();
    return 0;
  }
  if (!report_name.empty()) {
    try {
      return emulator_report(report_name, report_print_only);
    } catch (const std::exception& e) {
      std::cerr << "labloop-sim: " << e.what() << "\n";
      return 2;
    }
  }
  if (function_name.empty() || endpoint.empty()) {
    std::cerr << "labloop-sim: --function and --endpoint are required (--list shows the functions)\n";
    return 2;
  }
  const auto* function = labloop::sim::find_test_function(function_name);
  if (function && !function_options.empty()) {
    // The same checker as the campaign file's (function_options.hpp), so a campaign never starts a
    // simulator that refuses what the config check let through.
    const std::string source = "--options";
    try {
      std::optional<std::string> repeated;
      const nlohmann::json parsed = labloop::parse_json_noting_repeats(function_options, /*ignore_comments=*/false, repeated);
      const labloop::JsonNode node(parsed, "", source);
      // JSON keeps the last of a key given twice ({"objectives": 2, "objectives": 4} served four).
      if (repeated) node.fail(fmt::format("{} is given twice; JSON keeps only the last, so give it once", *repeated));
      if (function->options.empty() && !(parsed.is_object() && parsed.empty())) node.fail(function->name + " takes no options of its own");
      node.expect_object(function->option_names());
      options.function_options = labloop::sim::read_function_options(node, *function, options.dim > 0 ? options.dim : function->default_dim);
    } catch (const nlohmann::json::parse_error& e) {
      std::cerr << "labloop-sim: --options is not JSON (" << labloop::json_syntax_problem(e) << "); write e.g. --options '{\"objectives\": 3}'\n";
      return 2;
    } catch (const labloop::ConfigError& e) {
      std::cerr << "labloop-sim: " << e.what() << "\n";
      return 2;
    }
  }
  std::unique_ptr<labloop::sim::SimulatedInstrument> instrument;
  try {
    if (function) {
      instrument = std::make_unique<labloop::sim::SimulatedInstrument>(*function, options);
    } else {
      instrument = dataset_instrument(function_name, options);
      if (!function_options.empty() && function_options != "{}")
        throw labloop::Error(fmt::format("{} is a dataset: it takes no --options of its own (labloop-sim's, such as --noise, apply)", function_name));
    }
  } catch (const std::exception& e) {
    // Named where it is wrong (an unknown name, a damaged data file): a mistake in what was
    // asked for, not a failure while serving.
    std::cerr << "labloop-sim: " << e.what() << "\n";
    return 2;
  }
  try {
    serve_options.log = [](const std::string& line) { std::cerr << "labloop-sim: " << line << std::endl; };
    serve_options.reply_faults.seed = options.seed;
    // Stamped on the result cache, so a cache of another function, its options or noise is refused
    // rather than answering as this simulator. The options with their defaults filled in: leaving
    // out a default is the same simulator. Faults and delays change no value, and may differ on a restart.
    labloop::sim::OptionValues function_settings = function ? function->default_options() : labloop::sim::OptionValues{};
    for (const auto& [name, value] : options.function_options) function_settings[name] = value;
    serve_options.results_depend_on = {{"function", function_name}, {"options", function_settings}, {"noise", options.noise}};
    if (const std::string banner = active_faults(options, serve_options.reply_faults); !banner.empty())
      std::cerr << "labloop-sim: " << banner << std::endl;
    std::unique_ptr<labloop::sim::CompletedLog> completed_log;
    if (!completed_log_path.empty()) {
      completed_log = std::make_unique<labloop::sim::CompletedLog>(completed_log_path);
      serve_options.on_finished = [&completed_log](const std::string& id, const nlohmann::json& result) {
        completed_log->record(id, result);
      };
    }
    return labloop::serve(*instrument, endpoint, serve_options);
  } catch (const std::exception& e) {
    std::cerr << "labloop-sim: " << e.what() << "\n";
    return 1;
  }
}
