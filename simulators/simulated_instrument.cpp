#include "simulated_instrument.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "standard_inputs.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/version.hpp"

namespace labloop::sim {

namespace {

// A power cut, as far as one process can have one: no destructors, no flushing, no goodbye to
// the controller. The line before it only helps whoever reads the simulator's log.
[[noreturn]] void crash_now(int experiment) {
  std::cerr << "labloop-sim: injected crash: SIGKILL to itself during experiment #" << experiment << std::endl;
  ::kill(::getpid(), SIGKILL);
  std::_Exit(128 + SIGKILL);  // not reached: SIGKILL cannot be caught
}

bool is_rate(double p) { return p >= 0.0 && p <= 1.0; }

}  // namespace

void SimulatedInstrument::check_options() const {
  if (options_.capacity < 1) throw Error("capacity must be at least 1");
  if (options_.noise < 0 || options_.delay_s < 0) throw Error("noise and delay must be >= 0");
  if (!is_rate(options_.fail_rate) || !is_rate(options_.hang_rate) || !is_rate(options_.crash_rate))
    throw Error("fail, hang and crash rates must lie in [0, 1]");
  if (options_.crash_after < -1 || options_.jitter_s < 0) throw Error("crash_after must be >= 0 (or -1 for never) and jitter >= 0");
}

SimulatedInstrument::SimulatedInstrument(const TestFunction& function, const SimulatorOptions& options)
    : function_(&function), name_(function.name), options_(options), rng_(options.seed), faults_rng_(options.seed ^ 0x9e3779b97f4a7c15ULL) {
  if (options_.dim == 0) options_.dim = function.default_dim;
  if (options_.dim < function.min_dim || options_.dim > function.max_dim)
    throw Error(function.min_dim == function.max_dim
                    ? fmt::format("{} is fixed at {} dimensions (got --dim {})", function.name, function.min_dim, options_.dim)
                    : fmt::format("{} allows {} to {} dimensions (got --dim {})", function.name, function.min_dim, function.max_dim, options_.dim));
  check_options();
  for (const auto& [name, value] : options_.function_options)
    if (const auto names = function.option_names(); std::find(names.begin(), names.end(), name) == names.end())
      throw Error(fmt::format("{} has no option \"{}\" (its options: {})", function.name, name, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
  if (const auto problem = function.complete_options(options_.dim, options_.function_options))
    throw Error(fmt::format("{} option \"{}\" {}", function.name, problem->option, problem->message));
  inputs_ = standard_inputs(function, options_.dim);
  outputs_ = function.output_names(options_.dim, options_.function_options);
}

SimulatedInstrument::SimulatedInstrument(std::shared_ptr<const LookupTable> table, const SimulatorOptions& options)
    : table_(std::move(table)), name_(table_->spec().name), options_(options), rng_(options.seed), faults_rng_(options.seed ^ 0x9e3779b97f4a7c15ULL) {
  serve_dataset(table_->spec().parameters, table_->spec().objective_names());
}

SimulatedInstrument::SimulatedInstrument(std::shared_ptr<const Emulator> emulator, const SimulatorOptions& options)
    : emulator_(std::move(emulator)), name_(emulator_->spec().name), options_(options), rng_(options.seed), faults_rng_(options.seed ^ 0x9e3779b97f4a7c15ULL) {
  serve_dataset(emulator_->inputs(), emulator_->spec().objective_names());
}

// A dataset's columns are its inputs and outputs: --dim may only repeat their number, and a
// dataset takes no function options.
void SimulatedInstrument::serve_dataset(std::vector<Parameter> inputs, std::vector<std::string> outputs) {
  const int dim = static_cast<int>(inputs.size());
  if (options_.dim == 0) options_.dim = dim;
  if (options_.dim != dim) throw Error(fmt::format("{} is a dataset with {} parameters (got --dim {}); leave --dim out", name_, dim, options_.dim));
  if (!options_.function_options.empty()) throw Error(fmt::format("{} is a dataset: it takes no options of its own", name_));
  check_options();
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
}

SimulatedInstrument::Plan SimulatedInstrument::plan_experiment() {
  const int number = ++started_;
  Plan plan;
  std::lock_guard lock(rng_mutex_);
  // Always the same draws per experiment, so which faults are enabled does not shift the others.
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double jitter = uniform(faults_rng_), crash = uniform(faults_rng_), crash_moment = uniform(faults_rng_);
  const double hang = uniform(faults_rng_), fail = uniform(faults_rng_);
  plan.delay_s = options_.delay_s + jitter * options_.jitter_s;
  plan.number = number;
  if (options_.crash_after >= 0 && number > options_.crash_after) plan.crash_at_s = plan.delay_s / 2;
  else if (crash < options_.crash_rate) plan.crash_at_s = crash_moment * plan.delay_s;
  plan.hang = hang < options_.hang_rate;
  plan.fail = fail < options_.fail_rate;
  return plan;
}

InstrumentInfo SimulatedInstrument::describe() const {
  InstrumentInfo info;
  info.driver = "labloop-sim";
  info.version = kVersion;
  info.inputs = inputs_;
  info.outputs = outputs_;
  info.capacity = options_.capacity;
  // Its measurements' noise is known exactly where `noise` is all of it (a function or a table; an
  // emulator adds a noise of its own, estimated from the data): stated, as a real driver states
  // its instrument's repeatability.
  if (options_.noise > 0 && !emulator_)
    for (const std::string& output : outputs_) info.noise[output] = options_.noise;
  return info;
}

Values SimulatedInstrument::run(const Params& params, std::stop_token stop) {
  using Clock = std::chrono::steady_clock;
  const Plan plan = plan_experiment();
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(plan.delay_s));
  std::optional<Clock::time_point> crash_at;
  if (plan.crash_at_s) crash_at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*plan.crash_at_s));
  // Sleep in small steps so an abort is honoured promptly, as a real driver must. The crash is
  // checked first: a crash planned at the very end (or with no delay) still happens.
  for (;;) {
    const auto now = Clock::now();
    if (crash_at && now >= *crash_at) crash_now(plan.number);
    if (now >= until) break;
    if (stop.stop_requested()) throw Error("aborted");
    const auto next = crash_at ? std::min(until, *crash_at) : until;
    std::this_thread::sleep_for(std::min<Clock::duration>(next - now, std::chrono::milliseconds(10)));
  }
  if (stop.stop_requested()) throw Error("aborted");
  if (plan.hang) {
    while (!stop.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    throw Error("aborted");
  }
  if (plan.fail) throw Error("injected failure");
  std::vector<double> y;
  if (table_) {
    // A combination the table lacks fails like a failing region: the error says which.
    y = table_->values(params);
  } else if (emulator_) {
    // An input the emulator refuses (outside the rows' box, off the simplex) fails the same way.
    std::lock_guard lock(rng_mutex_);
    y = emulator_->sample(params, rng_);
  } else {
    std::vector<double> x;
    for (const Parameter& input : inputs_) x.push_back(params.at(input.name).get<double>());
    // A function's failing region fails as an injected failure does: by throwing, which serve()
    // reports as a result with status "failed" and this error.
    if (function_->failure)
      if (const char* error = function_->failure(x)) throw Error(error);
    y = function_->values(x, options_.function_options);
  }
  if (y.size() != outputs_.size()) throw Error(fmt::format("{} gave {} values for {} outputs (a bug in its table entry)", name_, y.size(), outputs_.size()));
  if (options_.noise > 0) {
    // One draw per output in output order, so a single-output function's noise is as before.
    std::lock_guard lock(rng_mutex_);
    for (double& v : y) v += std::normal_distribution<double>(0.0, options_.noise)(rng_);
    // An emulator's values stay in its stated range with the extra noise too (a negative e_factor).
    if (emulator_) emulator_->keep_in_range(y);
  }
  Values values;
  for (size_t i = 0; i < y.size(); ++i) values[outputs_[i]] = y[i];
  return values;
}

RunEstimate SimulatedInstrument::estimate(const Params&) const {
  if (options_.delay_s <= 0 && options_.jitter_s <= 0) return {};
  return {options_.delay_s + options_.jitter_s / 2, 10 * (options_.delay_s + options_.jitter_s) + 5};
}

}  // namespace labloop::sim
