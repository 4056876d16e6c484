#pragma once
// Checks of what a person lists for a parameter in JSON, shared by a campaign file ("values",
// "choices") and a dataset spec ("options", simulators/dataset.cpp), so both refuse the same lists
// with the same messages, each at its own JSON path: a dataset's options become the choices of the
// campaign file `labloop new` writes for it.
#include <cctype>
#include <cstddef>
#include <string>
#include <vector>

#include "labloop/core/json_check.hpp"

namespace labloop {

// What a campaign's names (of parameters, outputs, instruments, the campaign) may hold: letters,
// digits, '_', '-' and '.'. An instrument's inputs and outputs become such names.
inline bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }
// The longest such name (ids built from names stay within the protocol's 128 characters).
constexpr std::size_t kMaxNameChars = 64;

// The numbers `values` lists (any order; the caller checks how many), ascending. Throws ConfigError
// at the offending level's path (or the array's) for a level that is not a finite number, a spread
// beyond the largest double (the model works on (v − low) / (high − low)), a level listed twice, or
// two levels within Parameter::level_tolerance() of each other, which would be taken for each other.
std::vector<double> read_discrete_levels(const JsonNode& values);

// The longest a categorical choice may be, in characters (a SMILES string, a reagent's name).
constexpr std::size_t kMaxChoiceChars = 1000;

// Why `choice` cannot be a categorical choice, or "" when it can: longer than kMaxChoiceChars, a
// control character (a choice is written as it is to the console, results.csv and the instrument,
// where a line break splits a row), or a space at either end (CSV files trim their cells, so it
// could not be written in one and would be read back as another choice).
std::string choice_problem(const std::string& choice);

}  // namespace labloop
