#pragma once
// What an instrument declares about itself in its `welcome` message: its own safety limits per
// input, the outputs it measures, how many experiments it runs at once, and how noisy its
// measurements are when it says so.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "labloop/core/parameter.hpp"

namespace labloop {

struct InstrumentInfo {
  std::string driver;                  // e.g. "labloop-sim"
  std::string version;                 // driver version, free text
  std::vector<Parameter> inputs;       // the instrument's limits (not the campaign's bounds)
  std::vector<std::string> outputs;    // names of measured values
  int capacity = 1;                    // experiments it runs at once, >= 1
  // Per output the driver states a noise for: the standard deviation of one measurement, in the
  // output's units (welcome "noise", protocol §4.1). Outputs not here: not stated.
  std::map<std::string, double> noise;
};

}  // namespace labloop
