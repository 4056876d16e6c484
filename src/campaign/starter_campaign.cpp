#include "labloop/campaign/starter_campaign.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/model/sobol.hpp"
#include "labloop/model/space.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop {

namespace {

const char* const kSource = "labloop new";
// A parameter written on one line up to this many characters; beyond, one choice per line.
constexpr std::size_t kOneLine = 100;
// Text from outside (a driver's name and version, a dataset's title, a path) at most this long on
// a comment line.
constexpr std::size_t kMostCommentChars = 1000;

std::string quoted(const std::string& text) { return nlohmann::json(text).dump(); }

// Text from a driver (its name, version and outputs) or the command line, put on a comment
// line: a line break there would end the comment and put the rest into the JSON, and an escape
// sequence would act on the terminal of whoever shows the file.
std::string one_line(const std::string& text) { return printable(protocol::truncate_utf8(text, kMostCommentChars)); }

std::string goal_text(bool maximize) { return maximize ? "maximize" : "minimize"; }

std::string objective_json(const SimulatorGoal& g) {
  std::string out = fmt::format("{{\"name\": {}, \"goal\": \"{}\"", quoted(g.output), goal_text(g.maximize));
  if (g.threshold) out += fmt::format(", \"threshold\": {}", nlohmann::json(*g.threshold).dump());
  return out + "}";
}

// One parameter as a campaign file writes it (the keys in the order docs/config.md gives them).
std::string parameter_json(const Parameter& p) {
  const std::string head = fmt::format("{{\"name\": {}, \"type\": \"{}\"", quoted(p.name), to_string(p.type));
  std::string tail;
  if (p.log) tail += ", \"log\": true";
  if (!p.unit.empty()) tail += fmt::format(", \"unit\": {}", quoted(p.unit));
  tail += "}";
  switch (p.type) {
    case ParameterType::categorical: {
      std::vector<std::string> choices;
      for (const std::string& c : p.choices) choices.push_back(quoted(c));
      const std::string line = fmt::format("{}, \"choices\": [{}]{}", head, fmt::join(choices, ", "), tail);
      if (line.size() <= kOneLine) return line;
      // As examples/buchwald_a.json: a SMILES string per line reads (and diffs) better.
      return fmt::format("{},\n     \"choices\": [{}]{}", head, fmt::join(choices, ",\n                 "), tail);
    }
    case ParameterType::discrete: {
      std::vector<std::string> values;
      for (double v : p.values) values.push_back(nlohmann::json(v).dump());
      return fmt::format("{}, \"values\": [{}]{}", head, fmt::join(values, ", "), tail);
    }
    case ParameterType::integer:
      return fmt::format("{}, \"low\": {}, \"high\": {}{}", head, static_cast<long long>(p.low), static_cast<long long>(p.high), tail);
    case ParameterType::continuous:
      break;
  }
  return fmt::format("{}, \"low\": {}, \"high\": {}{}", head, nlohmann::json(p.low).dump(), nlohmann::json(p.high).dump(), tail);
}

}  // namespace

std::string campaign_name_from(const std::string& text) {
  std::string out;
  for (char c : text) out += name_char(c) ? c : '_';
  if (out.size() > kMaxNameChars) out.resize(kMaxNameChars);
  return out.find_first_not_of("_.-") == std::string::npos ? std::string() : out;
}

namespace {

// What a starter file is made of, from either source.
struct Starter {
  std::string instrument;  // the name written first in the header ("the simulated instrument \"branin\"")
  std::string summary;     // one line, also the campaign's description
  std::string readme;      // where to read more ("" = nowhere)
  std::string parameters_note;
  std::string descriptors;  // a dataset's descriptors file the campaign adopts ("" = none)
  std::vector<Parameter> parameters;
  SimulatorGoals goals;
  std::string constraint;
  bool fails_by_design = false;
  // Whether each objective's goal is known (a simulator's are; a driver does not say which way its
  // outputs are better, so a comment must not guess for the ones not chosen).
  bool goals_known = true;
  std::string instrument_entry;  // the "instruments" element, one JSON object
};

std::string campaign_text(const Starter& s, const std::string& name, const StarterOptions& options) {
  // Every text from outside (a dataset's title, a driver's name, a path) kept on its comment line.
  std::string out = fmt::format("// A campaign on {}{}.\n", one_line(s.instrument), s.summary.empty() ? "" : ": " + one_line(s.summary));
  if (!s.readme.empty()) out += fmt::format("// What it measures, its units and how to cite it: {}\n", one_line(s.readme));
  out += "// Written by `labloop new`. " + s.parameters_note +
         "\n// `labloop validate FILE` checks the file, `labloop run FILE` runs it; docs/config.md describes\n// every field.\n";
  if (!s.descriptors.empty())
    out += fmt::format("// Categorical parameters are modelled through the dataset's {} (docs/datasets.md,\n"
                       "// \"Descriptors\"); \"descriptors\": false in a parameter makes the planner see its choices one-hot.\n",
                       s.descriptors);
  out += "{\n";
  out += fmt::format("  \"name\": {},\n", quoted(name));
  if (!s.summary.empty()) out += fmt::format("  \"description\": {},\n", quoted(s.summary));
  out += "  \"seed\": 1,\n  \"parameters\": [\n";
  for (size_t i = 0; i < s.parameters.size(); ++i) out += "    " + parameter_json(s.parameters[i]) + (i + 1 < s.parameters.size() ? ",\n" : "\n");
  out += "  ],\n";
  if (!s.constraint.empty())
    out += fmt::format("  // The instrument refuses any setting off this constraint.\n  \"constraints\": [{}],\n", quoted(s.constraint));
  const SimulatorGoals& goals = s.goals;
  std::vector<std::string> all;
  for (const SimulatorGoal& g : goals.objectives) all.push_back(objective_json(g));
  if (goals.several) {
    out += fmt::format("  \"objectives\": [{}],\n", fmt::join(all, ", "));
  } else {
    if (goals.objectives.size() > 1 && !s.goals_known) {
      std::vector<std::string> others;
      for (size_t k = 1; k < goals.objectives.size(); ++k) others.push_back(one_line(goals.objectives[k].output));
      out += fmt::format("  // It also measures {}: name them in \"outputs\" to keep them in results.csv, or in\n"
                         "  // \"objectives\" (with each one's goal) to optimize several at once.\n",
                         fmt::join(others, ", "));
    } else if (goals.objectives.size() > 1) {
      std::vector<std::string> others;
      for (size_t k = 1; k < goals.objectives.size(); ++k)
        others.push_back(fmt::format("{} ({})", one_line(goals.objectives[k].output), goal_text(goals.objectives[k].maximize)));
      out += fmt::format("  // It also measures {}.\n  // To optimize several at once (2 to 4), replace \"objective\" by\n"
                         "  // \"objectives\": [{}],\n",
                         fmt::join(others, ", "),
                         one_line(fmt::format("{}", fmt::join(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(all.size(), 4)), ", "))));
    }
    out += fmt::format("  \"objective\": {},\n", all.front());
  }
  if (!goals.outcome_constraints.empty()) {
    std::vector<std::string> conditions;
    for (const std::string& c : goals.outcome_constraints) conditions.push_back(quoted(c));
    out += fmt::format("  \"outcome_constraints\": [{}],\n", fmt::join(conditions, ", "));
  }
  if (!options.candidates.empty())
    out += fmt::format("  // Only this file's rows are proposed, each at most once (docs/config.md, \"Candidates\").\n"
                       "  \"candidates\": {},\n",
                       quoted(options.candidates));
  // The model-based planners take at most SobolSequence::kMaxDim coordinates (a categorical
  // parameter takes one per choice): beyond, the file runs with random search and says why.
  if (const int dims = Space(s.parameters, {}).cube_dim(); dims > SobolSequence::kMaxDim)
    out += fmt::format("  // Its {} coordinates (one per continuous, integer or discrete parameter, one per categorical\n"
                       "  // choice) are more than the bayesian and sobol planners take ({}): random search.\n"
                       "  \"planner\": {{\"kind\": \"random\"}},\n",
                       dims, SobolSequence::kMaxDim);
  else if (options.experiments > kMostModelledResults)
    out += fmt::format("  // {} experiments are more results than the bayesian planner learns from ({}): Sobol's\n"
                       "  // space-filling points (or run the campaign in parts, each continuing from the last one's results).\n"
                       "  \"planner\": {{\"kind\": \"sobol\"}},\n",
                       options.experiments, kMostModelledResults);
  else out += "  \"planner\": {\"kind\": \"bayesian\"},\n";
  if (s.fails_by_design)
    out += "  // Its experiments fail in part of the space by design: the planner learns where, and the\n"
           "  // campaign carries on through failures instead of pausing or setting the instrument aside.\n"
           "  \"stop\": {\"pause_on_failures\": false},\n";
  out += fmt::format("  \"instruments\": [\n    {}\n  ],\n", s.instrument_entry);
  out += fmt::format("  \"budget\": {{\"experiments\": {}}},\n", options.experiments);
  out += fmt::format("  \"output\": {}\n}}\n", quoted("runs/" + name));
  return out;
}

// The campaign's name (given, else `fallback` made into one) and the budget, checked.
std::string checked_name(const StarterOptions& options, const std::string& fallback) {
  const std::string name = options.name.empty() ? campaign_name_from(fallback) : options.name;
  if (name.empty() || campaign_name_from(name) != name || name == "." || name == "..")
    throw ConfigError(kSource, "--name", fmt::format("\"{}\" cannot name a campaign: letters, digits, '_', '-' and '.' only, at most {}", name, kMaxNameChars));
  if (options.experiments < 1 || options.experiments > kMaxExperiments)
    throw ConfigError(kSource, "--experiments", fmt::format("must be from 1 to {}", kMaxExperiments));
  return name;
}

}  // namespace

std::string starter_campaign(const SimulatorSpec& simulator, const StarterOptions& options) {
  const std::string name = checked_name(options, simulator.name);
  const int dim = options.dim == 0 ? simulator.default_dim : options.dim;
  if (dim < simulator.min_dim || dim > simulator.max_dim)
    throw ConfigError(kSource, "--dim",
                      simulator.min_dim == simulator.max_dim
                          ? fmt::format("simulator \"{}\" has {} dimension{} only; leave --dim out", simulator.name, simulator.min_dim, simulator.min_dim == 1 ? "" : "s")
                          : fmt::format("simulator \"{}\" takes {} to {} dimensions", simulator.name, simulator.min_dim, simulator.max_dim));
  Starter s;
  s.instrument = fmt::format("the simulated instrument \"{}\"", simulator.name);
  s.summary = simulator.summary ? simulator.summary() : std::string();
  s.readme = simulator.readme.string();
  s.parameters_note = "The parameters are those the simulator declares: narrow a range or\n"
                      "// list fewer choices if you like, never more.";
  if (!simulator.descriptors.empty()) s.descriptors = simulator.descriptors.filename().string();
  s.parameters = simulator.offered_inputs ? simulator.offered_inputs(dim) : simulator.inputs(dim);
  s.goals = simulator.goals ? simulator.goals(dim) : SimulatorGoals{};
  if (s.goals.objectives.empty()) {
    const std::vector<std::string> outputs = simulator.outputs ? simulator.outputs(nlohmann::json::object()) : std::vector<std::string>{};
    s.goals.objectives.push_back({.output = outputs.empty() ? "y" : outputs.front()});
  }
  s.constraint = simulator.required_constraint ? simulator.required_constraint() : std::string();
  s.fails_by_design = simulator.fails_by_design;
  const std::string dim_option = dim != simulator.default_dim ? fmt::format(", \"options\": {{\"dim\": {}}}", dim) : "";
  // Failing there is what it simulates, not a broken setup: neither the instrument's quarantine
  // (failures in a row) nor the campaign's pause (more than half failed) should end the search.
  const std::string quarantine = simulator.fails_by_design ? fmt::format(", \"quarantine_after\": {}", kMaxQuarantineAfter) : "";
  s.instrument_entry = fmt::format("{{\"name\": \"sim\", \"simulator\": {}{}{}}}", quoted(simulator.name), dim_option, quarantine);
  return campaign_text(s, name, options);
}

std::string starter_campaign(const InstrumentInfo& info, const std::string& endpoint, const SimulatorGoal& objective, const StarterOptions& options) {
  if (std::find(info.outputs.begin(), info.outputs.end(), objective.output) == info.outputs.end())
    throw ConfigError(kSource, "--objective",
                      fmt::format("the driver at {} does not measure \"{}\"{} (its outputs: {})", endpoint, objective.output,
                                  did_you_mean(objective.output, info.outputs), fmt::join(info.outputs, ", ")));
  const std::string instrument = campaign_name_from(info.driver).empty() ? "instrument" : campaign_name_from(info.driver);
  const std::string name = checked_name(options, instrument);
  Starter s;
  s.instrument = "the instrument at " + endpoint;
  s.summary = fmt::format("driver {} {}, capacity {}", one_line(info.driver), one_line(info.version), info.capacity);
  s.parameters_note = "The parameters are the driver's inputs at its own safety limits:\n"
                      "// narrow each range to the one this campaign should search.";
  s.parameters = info.inputs;
  s.goals.objectives.push_back(objective);
  for (const std::string& output : info.outputs)
    if (output != objective.output) s.goals.objectives.push_back({.output = output});
  const std::string security = options.server_public_key.empty()
                                   ? std::string()
                                   : fmt::format(", \"security\": {{\"server_public_key\": {}, \"client_keys\": {}}}",
                                                 quoted(options.server_public_key), quoted(options.client_keys));
  s.instrument_entry = fmt::format("{{\"name\": {}, \"endpoint\": {}{}}}", quoted(instrument), quoted(endpoint), security);
  s.goals_known = false;
  return campaign_text(s, name, options);
}

}  // namespace labloop
