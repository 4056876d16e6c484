#pragma once
// labloop-sim's functions as a SimulatorCatalogue, for programs that check campaign files
// (labloop's CLI, the tests, the benchmarks).
#include <filesystem>

#include "labloop/campaign/simulator_catalogue.hpp"

namespace labloop::sim {

const SimulatorCatalogue& catalogue();
// The entry catalogue() makes for the dataset folder `dir` (its spec.json read when first asked).
SimulatorSpec dataset_simulator(const std::filesystem::path& dir);

}  // namespace labloop::sim
