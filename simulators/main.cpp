// labloop-sim: serves a standard test function over protocol v1, as a stand-in instrument.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

#include "labloop/error.hpp"
#include "simulated_instrument.hpp"

int main(int argc, char** argv) {
  CLI::App app{"labloop-sim: a simulated instrument serving a standard test function over labloop protocol v1"};
  std::string function_name, endpoint;
  labloop::sim::SimulatorOptions options;
  bool list = false;
  app.add_flag("--list", list, "List the functions it serves and exit");
  app.add_option("--function,-f", function_name, "Test function to serve (see --list)");
  app.add_option("--endpoint,-e", endpoint, "Where to bind, e.g. tcp://127.0.0.1:5555 or ipc:///tmp/sim.ipc");
  app.add_option("--dim", options.dim, "Dimension, for functions that allow several (default: the function's own)");
  app.add_option("--noise", options.noise, "Standard deviation of Gaussian noise added to y")->check(CLI::NonNegativeNumber);
  app.add_option("--delay", options.delay_s, "Seconds each experiment takes")->check(CLI::NonNegativeNumber);
  app.add_option("--capacity", options.capacity, "Experiments run at once")->check(CLI::PositiveNumber);
  app.add_option("--seed", options.seed, "Seed of the noise");
  CLI11_PARSE(app, argc, argv);

  if (list) {
    fmt::print("{:<16} {:<10} {}\n", "function", "dims", "description");
    for (const auto& f : labloop::sim::test_functions()) {
      const std::string dims = f.min_dim == f.max_dim ? std::to_string(f.min_dim) : fmt::format("{}-{} ({})", f.min_dim, f.max_dim, f.default_dim);
      fmt::print("{:<16} {:<10} {}\n", f.name, dims, f.description);
    }
    return 0;
  }
  if (function_name.empty() || endpoint.empty()) {
    std::cerr << "labloop-sim: --function and --endpoint are required (--list shows the functions)\n";
    return 2;
  }
  const auto* function = labloop::sim::find_test_function(function_name);
  if (!function) {
    std::cerr << "labloop-sim: unknown function \"" << function_name << "\" (--list shows them)\n";
    return 2;
  }
  try {
    labloop::sim::SimulatedInstrument instrument(*function, options);
    labloop::ServeOptions serve_options;
    serve_options.log = [](const std::string& line) { std::cerr << "labloop-sim: " << line << std::endl; };
    return labloop::serve(instrument, endpoint, serve_options);
  } catch (const std::exception& e) {
    std::cerr << "labloop-sim: " << e.what() << "\n";
    return 1;
  }
}
