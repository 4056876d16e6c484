// The acquisition table. A new acquisition is one .cpp with a factory, plus one line below; the
// conformance tests (tests/unit/acquisition_test.cpp) iterate this table.
#include <string>

#include "../registry.hpp"
#include "acquisitions.hpp"

namespace labloop {

namespace {

const detail::RegistryEntry<AcquisitionFactory> kAcquisitions[] = {
    {"log_ei", detail::make_log_ei},
    {"ucb", detail::make_ucb},
    {"log_pi", detail::make_log_pi},
    {"thompson", detail::make_thompson},
};

}  // namespace

std::vector<std::string> acquisition_names() { return detail::entry_names<AcquisitionFactory>(kAcquisitions); }

std::unique_ptr<Acquisition> make_acquisition(const std::string& name, const JsonNode& options) {
  return detail::make_entry<AcquisitionFactory>(kAcquisitions, "acquisition", name, options);
}

std::unique_ptr<Acquisition> make_acquisition(const std::string& name, const nlohmann::json& options) {
  const std::string source = "acquisition " + name;
  return make_acquisition(name, JsonNode(options, "", source));
}

}  // namespace labloop
