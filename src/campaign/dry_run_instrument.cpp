#include "dry_run_instrument.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "labloop/core/version.hpp"

namespace labloop::detail {

DryRunInstrument::DryRunInstrument(const CampaignConfig& config, int capacity, std::uint64_t seed) : space_(config.space()) {
  info_.driver = "labloop-dry-run";
  info_.version = kVersion;
  info_.inputs = config.parameters;
  // Every value the campaign needs (its objectives, what its outcome constraints and failure
  // condition name) and every output it declares: a dry run checks the whole campaign file.
  info_.outputs = config.required_outputs();
  for (const auto& output : config.outputs)
    if (std::find(info_.outputs.begin(), info_.outputs.end(), output.name) == info_.outputs.end()) info_.outputs.push_back(output.name);
  info_.capacity = capacity;
  for (const std::string& name : info_.outputs) {
    const auto declared = std::find_if(config.outputs.begin(), config.outputs.end(), [&](const OutputSpec& o) { return o.name == name; });
    ranges_.emplace_back(declared != config.outputs.end() ? declared->low : std::nullopt,
                         declared != config.outputs.end() ? declared->high : std::nullopt);
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> wave(-1.5, 1.5), phase(0, 2 * std::numbers::pi), amplitude(0.5, 2.0);
  const int k = 4;
  waves_.resize(k, space_.cube_dim());
  phases_.resize(k);
  amplitudes_.resize(k);
  for (int i = 0; i < k; ++i) {
    for (int d = 0; d < space_.cube_dim(); ++d) waves_(i, d) = wave(rng);
    phases_[i] = phase(rng);
    amplitudes_[i] = amplitude(rng);
  }
}

InstrumentInfo DryRunInstrument::describe() const { return info_; }

Values DryRunInstrument::run(const Params& params, std::stop_token) {
  const Eigen::VectorXd u = space_.encode(params);
  Values values;
  // The same smooth landscape for each output, shifted in phase: outputs that differ, and trade off.
  for (std::size_t j = 0; j < info_.outputs.size(); ++j) {
    double y = 0;
    for (Eigen::Index i = 0; i < waves_.rows(); ++i)
      y += amplitudes_[i] * std::cos(2 * std::numbers::pi * waves_.row(i).dot(u) + phases_[i] + static_cast<double>(j));
    // y lies within ±Σ amplitudes: moved (and, within two limits, scaled) into the declared range.
    const double reach = amplitudes_.sum();
    const auto& [low, high] = ranges_[j];
    if (low && high) {
      const double t = std::clamp((y + reach) / (2 * reach), 0.0, 1.0);
      y = std::clamp(*low * (1 - t) + *high * t, *low, *high);  // weighted: high − low overflows for limits near 1.8e308
    } else if (low) {
      y = *low + (y + reach);
    } else if (high) {
      y = *high - (reach - y);
    }
    values[info_.outputs[j]] = y;
  }
  return values;
}

}  // namespace labloop::detail
