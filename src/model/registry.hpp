#pragma once
// Internal: what the kernel, acquisition and planner tables share. Each table is a constant array
// of {name, factory} rows in its folder's registry.cpp (no self-registering statics: the list is
// one place to read); a factory gets its options as a JsonNode and checks them itself.
#include <span>
#include <string>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"

namespace labloop::detail {

template <typename Factory>
struct RegistryEntry {
  const char* name;
  Factory make;
};

template <typename Factory>
std::vector<std::string> entry_names(std::span<const RegistryEntry<Factory>> table) {
  std::vector<std::string> names;
  for (const auto& e : table) names.emplace_back(e.name);
  return names;
}

// nullptr when no row has that name.
template <typename Factory>
const RegistryEntry<Factory>* find_entry(std::span<const RegistryEntry<Factory>> table, const std::string& name) {
  for (const auto& e : table)
    if (name == e.name) return &e;
  return nullptr;
}

// `unknown kernel "matern25"; did you mean "matern52"? (available: matern52, …)`
std::string unknown_name_message(const std::string& what, const std::string& name, const std::vector<std::string>& names);

// The row named `name` builds with `args`; an unknown name is a PlannerError (a name from a file
// is checked against the names where it was written, with its place).
template <typename Factory, typename... Args>
auto make_entry(std::span<const RegistryEntry<Factory>> table, const char* what, const std::string& name, const Args&... args) {
  const auto* entry = find_entry(table, name);
  if (!entry) throw PlannerError(unknown_name_message(what, name, entry_names(table)));
  return entry->make(args...);
}

// Checks that `options` is an object whose keys are all in `allowed`; otherwise a ConfigError at
// the offending key: `unknown option for the ucb acquisition; did you mean "beta"? (allowed: beta)`,
// or `(it takes none)`. `what` names the owner: "ucb acquisition", "sobol planner".
void check_options(const JsonNode& options, const std::string& what, const std::vector<std::string>& allowed);

// The number `key` of `options`, or `fallback` when it is absent. Not a number, or a number
// `valid` refuses, is a ConfigError at the option: "<requirement> (got -1)".
double number_option(const JsonNode& options, const std::string& key, double fallback, bool (*valid)(double), const std::string& requirement);

}  // namespace labloop::detail
