// A complete instrument driver in C++: describe the instrument, run one experiment, serve.
// Build it against labloop (see docs/writing-a-driver.md), then point a campaign at it:
//   {"name": "oven", "endpoint": "tcp://127.0.0.1:5555"}
#include <labloop/driver.hpp>

#include <cmath>
#include <stdexcept>
#include <thread>

class Oven final : public labloop::Driver {
 public:
  labloop::InstrumentInfo describe() const override {
    labloop::InstrumentInfo info;
    info.driver = "example-oven";
    info.version = "1.0";
    info.inputs = {labloop::Parameter{.name = "temperature", .low = 20, .high = 250, .unit = "C"},
                   labloop::Parameter{.name = "minutes", .type = labloop::ParameterType::integer, .low = 1, .high = 60}};
    info.outputs = {"yield"};
    info.capacity = 1;
    return info;
  }

  // Params are already checked against describe().inputs; throw to report a failed experiment.
  labloop::Values run(const labloop::Params& params, std::stop_token stop) override {
    const double t = params["temperature"], minutes = params["minutes"];
    for (int step = 0; step < 10; ++step) {  // the "experiment": stop promptly when aborted
      if (stop.stop_requested()) throw std::runtime_error("aborted by the controller");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {{"yield", 100 * std::exp(-std::pow((t - 180) / 40, 2)) * (1 - std::exp(-minutes / 15))}};
  }
};

int main(int argc, char** argv) {
  Oven oven;
  labloop::ServeOptions options;
  if (argc > 2) options.cache_path = argv[2];  // results survive a crash of this driver
  return labloop::serve(oven, argc > 1 ? argv[1] : "tcp://127.0.0.1:5555", options);
}
