// A complete instrument driver in C++: describe the instrument, run one experiment, serve.
// Build it against labloop (see docs/writing-a-driver.md), then point a campaign at it:
//   {"name": "oven", "endpoint": "tcp://127.0.0.1:5555"}
#include <labloop/driver.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>
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

// labloop-example-driver [ENDPOINT [CACHE]] [--key keys/oven] [--allowed keys/controllers] [--require-encryption]
//                        [--exclusive | --no-exclusive] [--lease SECONDS]
// One campaign at a time (docs/protocol.md §12) is the default with --key.
int main(int argc, char** argv) {
  Oven oven;
  labloop::ServeOptions options;
  std::vector<std::string> positional;
  int exclusive = -1;  // -1: on with a key
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--key" || arg == "--allowed") && i + 1 < argc) {
      (arg == "--key" ? options.key_path : options.allowed_keys) = argv[++i];  // CurveZMQ: docs/security.md
    } else if (arg == "--require-encryption") {
      options.require_encryption = true;
    } else if (arg == "--exclusive" || arg == "--no-exclusive") {
      exclusive = arg == "--exclusive";
    } else if (arg == "--lease" && i + 1 < argc) {
      // Whole seconds from 1 to a year, as the ready-made drivers take them: atoll's overflow wrapped the lease's end to year -219246529.
      const std::string text = argv[++i];
      const bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
      const long long seconds = digits ? std::atoll(text.c_str()) : 0;
      if (seconds < 1 || seconds > labloop::kMaxLease.count()) {
        std::fprintf(stderr, "--lease %s: give whole seconds from 1 to %lld (a year)\n", text.c_str(),
                     static_cast<long long>(labloop::kMaxLease.count()));
        return 2;
      }
      options.lease = std::chrono::seconds(seconds);
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr, "unknown option %s (or it lacks its value)\n", arg.c_str());
      return 2;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() > 1) options.cache_path = positional[1];  // results survive a crash of this driver
  options.exclusive = exclusive == 1 || (exclusive == -1 && !options.key_path.empty());
  try {
    return labloop::serve(oven, positional.empty() ? "tcp://127.0.0.1:5555" : positional[0], options);
  } catch (const std::exception& e) {  // a key that cannot be read, an endpoint in use: one line, exit 1
    std::fprintf(stderr, "example driver: %s\n", e.what());
    return 1;
  }
}
