#pragma once
// Internal: the stand-in a dry run puts in place of every instrument. It accepts exactly the
// campaign's parameters and answers with a random but smooth response, so a technician can
// run a campaign file end to end before any hardware moves.
#include <Eigen/Core>
#include <optional>
#include <utility>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/wire/driver.hpp"

namespace labloop::detail {

class DryRunInstrument final : public Driver {
 public:
  DryRunInstrument(const CampaignConfig& config, int capacity, std::uint64_t seed);
  InstrumentInfo describe() const override;
  Values run(const Params& params, std::stop_token stop) override;

 private:
  Space space_;
  InstrumentInfo info_;
  // y(u) = Σ_k amplitude_k · cos(2π wave_k·u + phase_k): a few low-frequency waves over the cube.
  Eigen::MatrixXd waves_;
  Eigen::VectorXd phases_;
  Eigen::VectorXd amplitudes_;
  // Per output, its declared range (if any): the landscape is mapped into it, as an instrument
  // whose values outside it would fail (campaign/goals.hpp) must keep to it.
  std::vector<std::pair<std::optional<double>, std::optional<double>>> ranges_;
};

}  // namespace labloop::detail
