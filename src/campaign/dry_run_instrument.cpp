#include "dry_run_instrument.hpp"

#include <cmath>
#include <numbers>
#include <random>

#include "labloop/core/version.hpp"

namespace labloop::detail {

DryRunInstrument::DryRunInstrument(const CampaignConfig& config, int capacity, std::uint64_t seed) : space_(config.space()) {
  info_.driver = "labloop-dry-run";
  info_.version = kVersion;
  info_.inputs = config.parameters;
  info_.outputs = {config.objective.name};
  info_.capacity = capacity;
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
  double y = 0;
  for (Eigen::Index i = 0; i < waves_.rows(); ++i) y += amplitudes_[i] * std::cos(2 * std::numbers::pi * waves_.row(i).dot(u) + phases_[i]);
  return {{info_.outputs.front(), y}};
}

}  // namespace labloop::detail
