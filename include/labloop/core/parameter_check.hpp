#pragma once
// Checks of what a person lists for a parameter in JSON, shared by a campaign file ("values") and
// a dataset spec ("options", simulators/dataset.cpp), so both refuse the same lists with the same
// messages, each at its own JSON path.
#include <vector>

#include "labloop/core/json_check.hpp"

namespace labloop {

// The numbers `values` lists (any order; the caller checks how many), ascending. Throws ConfigError
// at the offending level's path (or the array's) for a level that is not a finite number, a spread
// beyond the largest double (the model works on (v − low) / (high − low)), a level listed twice, or
// two levels within Parameter::level_tolerance() of each other, which would be taken for each other.
std::vector<double> read_discrete_levels(const JsonNode& values);

}  // namespace labloop
