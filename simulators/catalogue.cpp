#include "catalogue.hpp"

#include "function_options.hpp"
#include "standard_inputs.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

namespace {

// The dimension an instrument's options give (checked before), or the function's default.
int catalogue_dim(const nlohmann::json& options, const TestFunction& f) {
  return options.contains("dim") ? options["dim"].get<int>() : f.default_dim;
}

}  // namespace

const SimulatorCatalogue& catalogue() {
  static const SimulatorCatalogue instance = [] {
    std::vector<SimulatorSpec> specs;
    for (const TestFunction& f : test_functions()) {
      SimulatorSpec spec{.name = f.name, .default_dim = f.default_dim, .min_dim = f.min_dim, .max_dim = f.max_dim,
                         .inputs = [&f](int dim) { return standard_inputs(f, dim); },
                         .option_names = f.option_names()};
      if (!f.options.empty())
        spec.check_options = [&f](const JsonNode& options) { read_function_options(options, f, catalogue_dim(options.value(), f)); };
      spec.outputs = [&f](const nlohmann::json& options) {
        // The options were checked when the campaign file was loaded: no path or file to name here.
        const std::string source = "simulator options";
        const int dim = options.is_object() ? catalogue_dim(options, f) : f.default_dim;
        const OptionValues values = options.is_object() ? read_function_options(JsonNode(options, "", source), f, dim) : f.default_options();
        return f.output_names(dim, values);
      };
      specs.push_back(std::move(spec));
    }
    return SimulatorCatalogue(std::move(specs));
  }();
  return instance;
}

}  // namespace labloop::sim
