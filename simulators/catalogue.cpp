#include "catalogue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>

#include "dataset.hpp"
#include "emulator.hpp"
#include "function_options.hpp"
#include "lookup_table.hpp"
#include "labloop/core/error.hpp"
#include "standard_inputs.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

namespace {

// The dimension an instrument's options give (checked before), or the function's default.
int catalogue_dim(const nlohmann::json& options, const TestFunction& f) {
  return options.contains("dim") ? options["dim"].get<int>() : f.default_dim;
}

// A dataset's spec.json, read the first time a campaign file names the dataset and kept: the
// catalogue lists every dataset, and most campaigns use none.
class LazyDatasetSpec {
 public:
  explicit LazyDatasetSpec(std::filesystem::path dir) : dir_(std::move(dir)) {}
  // Throws what read_dataset_spec throws (and tries again on the next call).
  const DatasetSpec& get() {
    std::call_once(once_, [this] { spec_ = read_dataset_spec(dir_); });
    return *spec_;
  }
  // What labloop-sim declares: a lookup table's parameters as the spec gives them, a scattered
  // set's narrowed to the box its rows span (emulated_inputs: reads data.csv, no fitting).
  const std::vector<Parameter>& inputs() { return both().declared; }
  // What `labloop new` writes: a scattered set's without the choices no row holds.
  const std::vector<Parameter>& offered_inputs() { return both().offered; }
  // Why a lookup table's rows cannot serve a campaign (an option spec.json does not list, an
  // objective missing in a row), or empty: its rows are read once (under 0.1 s for the largest),
  // as labloop-sim does when it starts. Throws ConfigError for a malformed file.
  const std::string& table_problem() {
    std::call_once(table_once_, [this] {
      try {
        LookupTable table(read_dataset(dir_));
      } catch (const ConfigError&) {
        throw;
      } catch (const Error& e) {
        table_problem_ = e.what();
      }
    });
    return table_problem_;
  }

 private:
  const EmulatedInputs& both() {
    std::call_once(inputs_once_, [this] {
      if (get().lookup_table)
        inputs_.declared = inputs_.offered = get().parameters;
      else
        inputs_ = emulated_inputs(read_dataset(dir_));
    });
    return inputs_;
  }

  std::filesystem::path dir_;
  std::once_flag once_, inputs_once_, table_once_;
  std::optional<DatasetSpec> spec_;
  EmulatedInputs inputs_;
  std::string table_problem_;
};

// A function's objectives (every output when its facts name none) with its defaults; a
// hypervolume reference point gives each objective its threshold.
SimulatorGoals function_goals(const TestFunction& f, int dim) {
  const OptionValues defaults = f.default_options();
  const BenchmarkFacts facts = f.benchmark_facts(dim, defaults);
  SimulatorGoals goals;
  const std::vector<std::string> names = facts.objectives.empty() ? f.output_names(dim, defaults) : facts.objectives;
  for (size_t k = 0; k < names.size(); ++k) {
    SimulatorGoal g{.output = names[k]};
    g.maximize = std::find(facts.maximized.begin(), facts.maximized.end(), names[k]) != facts.maximized.end();
    if (k < facts.reference_point.size() && std::isfinite(facts.reference_point[k])) g.threshold = facts.reference_point[k];
    goals.objectives.push_back(std::move(g));
  }
  goals.several = goals.objectives.size() > 1;
  for (const std::string& c : facts.constraints) goals.outcome_constraints.push_back(c + " <= 0");
  return goals;
}


}  // namespace

SimulatorSpec dataset_simulator(const std::filesystem::path& dir) {
  auto lazy = std::make_shared<LazyDatasetSpec>(dir);
  SimulatorSpec spec{.name = dir.filename().string()};
  // Not known before the spec is read: the generic range check of "dim" lets any through, and
  // check_options (which runs after it) holds it to the dataset's own, as labloop-sim does.
  spec.min_dim = 1;
  spec.max_dim = static_cast<int>(kMaxDatasetColumns);
  spec.check_options = [lazy](const JsonNode& options) {
    const DatasetSpec& d = lazy->get();
    if (options.has("dim") && options.child("dim").as_integer() != static_cast<long long>(d.parameters.size()))
      options.child("dim").fail(fmt::format("{} is a dataset with {} parameters; leave \"dim\" out", d.name, d.parameters.size()));
  };
  spec.inputs = [lazy](int) { return lazy->inputs(); };
  spec.offered_inputs = [lazy](int) { return lazy->offered_inputs(); };
  // A scattered set whose rows cannot make an emulator that accepts a range of settings (a column
  // they hold constant), or a lookup table its rows cannot make (an option spec.json lacks): named
  // where a campaign file or `labloop new` names it, instead of a campaign whose every experiment
  // fails or whose simulator exits at start (a red-team report).
  spec.unavailable = [lazy]() -> std::string {
    if (lazy->get().lookup_table) return lazy->table_problem();
    try {
      lazy->inputs();
    } catch (const ConfigError&) {
      throw;  // a malformed spec.json names its own file and key
    } catch (const Error& e) {
      return e.what();
    }
    return {};
  };
  spec.outputs = [lazy](const nlohmann::json&) { return lazy->get().objective_names(); };
  if (std::error_code ec; std::filesystem::is_regular_file(dir / "descriptors.csv", ec)) spec.descriptors = dir / "descriptors.csv";
  spec.required_constraint = [lazy] { return lazy->get().required_constraint(); };
  spec.readme = dir / "README.md";
  spec.summary = [lazy] {
    const DatasetSpec& d = lazy->get();
    return fmt::format("{} ({}, {} rows)", d.title.empty() ? d.name : d.title, d.lookup_table ? "lookup table" : "emulated", d.rows);
  };
  spec.goals = [lazy](int) {
    SimulatorGoals goals;
    for (const DatasetObjective& o : lazy->get().objectives) goals.objectives.push_back({.output = o.name, .maximize = o.maximize});
    return goals;
  };
  return spec;
}

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
      spec.summary = [&f] { return f.description; };
      spec.goals = [&f](int dim) { return function_goals(f, dim); };
      spec.fails_by_design = f.failure != nullptr;
      specs.push_back(std::move(spec));
    }
    // The datasets after the functions (a function's name wins, should a folder share it).
    const std::filesystem::path dir = data_dir();
    for (const std::string& name : dataset_names(dir))
      if (!find_test_function(name)) specs.push_back(dataset_simulator(dir / name));
    return SimulatorCatalogue(std::move(specs), data_dir_problem(dir));
  }();
  return instance;
}

}  // namespace labloop::sim
