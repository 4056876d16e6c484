#pragma once
// A simulated instrument: a standard test function, or a dataset's lookup table, served as a
// Driver, with optional Gaussian noise, a delay per experiment and a capacity, so campaigns and planners can be exercised
// end to end without hardware. Optional injected faults (failures, hangs, crashes of the whole
// process, delay jitter) let tests check that a controller survives a misbehaving instrument;
// all their randomness comes from `seed`, so a run can be reproduced.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <memory>
#include <random>

#include "emulator.hpp"
#include "labloop/wire/driver.hpp"
#include "lookup_table.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

struct SimulatorOptions {
  int dim = 0;             // 0 = the function's default dimension
  OptionValues function_options;  // the function's own options (--options); missing ones take their defaults
  double noise = 0.0;      // standard deviation of Gaussian noise added to each output, independently
  double delay_s = 0.0;    // wall-clock seconds per experiment
  int capacity = 1;        // experiments at once
  std::uint64_t seed = 1;  // seed of the noise and of the injected faults

  // Injected faults, all off by default. Rates are probabilities per experiment, in [0, 1].
  double fail_rate = 0.0;   // the experiment fails with error "injected failure" after its delay
                            // (a function with a failing region fails there too, with its own error)
  double hang_rate = 0.0;   // the experiment never finishes until aborted (or serve() stops)
  double crash_rate = 0.0;  // the process SIGKILLs itself at a random moment of the experiment
  int crash_after = -1;     // >= 0: SIGKILL halfway through experiment crash_after+1 (and any later one)
  double jitter_s = 0.0;    // each delay gets + uniform(0, jitter_s) seconds
};

class SimulatedInstrument final : public Driver {
 public:
  // Throws labloop::Error for a dimension or function options the function does not allow.
  SimulatedInstrument(const TestFunction& function, const SimulatorOptions& options);
  // A lookup table: inputs are its parameters (options as choices), outputs its objectives; each
  // experiment returns the table's values (noise added when asked), and fails for a combination
  // the table lacks. `dim` must be 0 or the number of parameters; there are no function options.
  SimulatedInstrument(std::shared_ptr<const LookupTable> table, const SimulatorOptions& options);
  // A scattered dataset's emulator: inputs are its parameters within the rows' box, outputs its
  // objectives; each experiment returns the emulator's sample (its own noise drawn from the
  // instrument's seed, then `noise` when asked), and fails for an input it refuses. Same `dim`
  // and option rules as a lookup table.
  SimulatedInstrument(std::shared_ptr<const Emulator> emulator, const SimulatorOptions& options);
  InstrumentInfo describe() const override;
  Values run(const Params& params, std::stop_token stop) override;
  RunEstimate estimate(const Params& params) const override;

 private:
  // What happens to one experiment, drawn when it starts.
  struct Plan {
    int number = 0;  // 1 for the first experiment this process starts
    double delay_s = 0.0;
    std::optional<double> crash_at_s;  // seconds into the experiment
    bool hang = false;
    bool fail = false;
  };
  Plan plan_experiment();
  // The checks of labloop-sim's own options, which every kind of instrument takes.
  void check_options() const;
  void serve_dataset(std::vector<Parameter> inputs, std::vector<std::string> outputs);

  const TestFunction* function_ = nullptr;     // one of these three
  std::shared_ptr<const LookupTable> table_;
  std::shared_ptr<const Emulator> emulator_;  // or this one
  std::string name_;
  std::vector<Parameter> inputs_;
  SimulatorOptions options_;          // function_options completed with the defaults
  std::vector<std::string> outputs_;  // what it declares and returns, in the function's order
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;         // noise
  std::mt19937_64 faults_rng_;  // injected faults: a stream of its own, so noise stays as it was
  std::atomic<int> started_{0};  // experiments started by this process
};

}  // namespace labloop::sim
