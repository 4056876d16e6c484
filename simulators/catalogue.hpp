#pragma once
// labloop-sim's functions as a SimulatorCatalogue, for programs that check campaign files
// (labloop's CLI, the tests, the benchmarks).
#include "labloop/campaign/simulator_catalogue.hpp"

namespace labloop::sim {

const SimulatorCatalogue& catalogue();

}  // namespace labloop::sim
