#pragma once
// A simulated instrument: a standard test function served as a Driver, with optional Gaussian
// noise, a delay per experiment and a capacity, so campaigns and planners can be exercised
// end to end without hardware.
#include <cstdint>
#include <mutex>
#include <random>

#include "labloop/driver.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

struct SimulatorOptions {
  int dim = 0;             // 0 = the function's default dimension
  double noise = 0.0;      // standard deviation of additive Gaussian noise
  double delay_s = 0.0;    // wall-clock seconds per experiment
  int capacity = 1;        // experiments at once
  std::uint64_t seed = 1;  // noise seed
};

class SimulatedInstrument final : public Driver {
 public:
  // Throws labloop::Error for a dimension the function does not allow.
  SimulatedInstrument(const TestFunction& function, const SimulatorOptions& options);
  InstrumentInfo describe() const override;
  Values run(const Params& params, std::stop_token stop) override;
  RunEstimate estimate(const Params& params) const override;

 private:
  const TestFunction& function_;
  SimulatorOptions options_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace labloop::sim
