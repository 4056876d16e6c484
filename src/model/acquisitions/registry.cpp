// The acquisition table. A new acquisition is one .cpp with a factory, plus one line below.
#include <string>

#include "labloop/core/error.hpp"
#include "acquisitions.hpp"

namespace labloop {

namespace {

struct AcquisitionEntry {
  const char* name;
  std::unique_ptr<Acquisition> (*make)(double beta);
};

const AcquisitionEntry kAcquisitions[] = {
    {"log_ei", [](double) { return detail::make_log_ei(); }},
    {"ucb", detail::make_ucb},
    {"log_pi", [](double) { return detail::make_log_pi(); }},
    {"thompson", [](double) { return detail::make_thompson(); }},
};

}  // namespace

std::vector<std::string> acquisition_names() {
  std::vector<std::string> names;
  for (const auto& e : kAcquisitions) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<Acquisition> make_acquisition(const std::string& name, double beta) {
  for (const auto& e : kAcquisitions)
    if (name == e.name) return e.make(beta);
  std::string available;
  for (const auto& e : kAcquisitions) available += (available.empty() ? "" : ", ") + std::string(e.name);
  throw PlannerError("unknown acquisition \"" + name + "\" (available: " + available + ")");
}

}  // namespace labloop
