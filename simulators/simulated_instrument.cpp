#include "simulated_instrument.hpp"

#include <fmt/format.h>

#include <thread>

#include "labloop/campaign_config.hpp"
#include "labloop/error.hpp"

namespace labloop::sim {

SimulatedInstrument::SimulatedInstrument(const TestFunction& function, const SimulatorOptions& options)
    : function_(function), options_(options), rng_(options.seed) {
  if (options_.dim == 0) options_.dim = function.default_dim;
  if (options_.dim < function.min_dim || options_.dim > function.max_dim)
    throw Error(function.min_dim == function.max_dim
                    ? fmt::format("{} is fixed at {} dimensions (got --dim {})", function.name, function.min_dim, options_.dim)
                    : fmt::format("{} allows {} to {} dimensions (got --dim {})", function.name, function.min_dim, function.max_dim, options_.dim));
  if (options_.capacity < 1) throw Error("capacity must be at least 1");
  if (options_.noise < 0 || options_.delay_s < 0) throw Error("noise and delay must be >= 0");
}

InstrumentInfo SimulatedInstrument::describe() const {
  InstrumentInfo info;
  info.driver = "labloop-sim";
  info.version = "0.1.0";
  info.inputs = simulator_inputs(function_.name, options_.dim);
  info.outputs = {"y"};
  info.capacity = options_.capacity;
  return info;
}

Values SimulatedInstrument::run(const Params& params, std::stop_token stop) {
  // Sleep in small steps so an abort is honoured promptly, as a real driver must.
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.delay_s);
  while (std::chrono::steady_clock::now() < until) {
    if (stop.stop_requested()) throw Error("aborted");
    std::this_thread::sleep_for(std::min<std::chrono::duration<double>>(until - std::chrono::steady_clock::now(), std::chrono::milliseconds(10)));
  }
  if (stop.stop_requested()) throw Error("aborted");
  std::vector<double> x(static_cast<size_t>(options_.dim));
  for (int d = 0; d < options_.dim; ++d) x[static_cast<size_t>(d)] = params.at("x" + std::to_string(d + 1)).get<double>();
  double y = function_.evaluate(x);
  if (options_.noise > 0) {
    std::lock_guard lock(rng_mutex_);
    y += std::normal_distribution<double>(0.0, options_.noise)(rng_);
  }
  return {{"y", y}};
}

RunEstimate SimulatedInstrument::estimate(const Params&) const {
  if (options_.delay_s <= 0) return {};
  return {options_.delay_s, 10 * options_.delay_s + 5};
}

}  // namespace labloop::sim
