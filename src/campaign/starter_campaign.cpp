#include "labloop/campaign/starter_campaign.hpp"

#include <fmt/format.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"

namespace labloop {

namespace {

const char* const kSource = "labloop new";
// A parameter written on one line up to this many characters; beyond, one choice per line.
constexpr std::size_t kOneLine = 100;

std::string quoted(const std::string& text) { return nlohmann::json(text).dump(); }

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
    case ParameterType::discrete:
    {
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
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ? c : '_';
  if (out.size() > kMaxNameChars) out.resize(kMaxNameChars);
  return out.find_first_not_of("_.-") == std::string::npos ? std::string() : out;
}

std::string starter_campaign(const SimulatorSpec& simulator, const StarterOptions& options) {
  const std::string name = options.name.empty() ? campaign_name_from(simulator.name) : options.name;
  if (name.empty() || campaign_name_from(name) != name)
    throw ConfigError(kSource, "--name", fmt::format("\"{}\" cannot name a campaign: letters, digits, '_', '-' and '.' only, at most {}", name, kMaxNameChars));
  if (options.experiments < 1 || options.experiments > kMaxExperiments)
    throw ConfigError(kSource, "--experiments", fmt::format("must be from 1 to {}", kMaxExperiments));
  const int dim = options.dim == 0 ? simulator.default_dim : options.dim;
  if (dim < simulator.min_dim || dim > simulator.max_dim)
    throw ConfigError(kSource, "--dim",
                      simulator.min_dim == simulator.max_dim
                          ? fmt::format("simulator \"{}\" has {} dimension{} only; leave --dim out", simulator.name, simulator.min_dim, simulator.min_dim == 1 ? "" : "s")
                          : fmt::format("simulator \"{}\" takes {} to {} dimensions", simulator.name, simulator.min_dim, simulator.max_dim));
  const std::vector<Parameter> parameters = simulator.inputs(dim);
  SimulatorGoals goals = simulator.goals ? simulator.goals(dim) : SimulatorGoals{};
  if (goals.objectives.empty()) {
    const std::vector<std::string> outputs = simulator.outputs ? simulator.outputs(nlohmann::json::object()) : std::vector<std::string>{};
    goals.objectives.push_back({.output = outputs.empty() ? "y" : outputs.front()});
  }
  const std::string summary = simulator.summary ? simulator.summary() : std::string();

  std::string out = fmt::format("// A campaign on the simulated instrument \"{}\"{}.\n", simulator.name, summary.empty() ? "" : ": " + summary);
  if (!simulator.readme.empty()) out += fmt::format("// What it measures, its units and how to cite it: {}\n", simulator.readme.string());
  out += "// Written by `labloop new`. The parameters are those the simulator declares: narrow a range or\n"
         "// list fewer choices if you like, never more. `labloop validate FILE` checks the file, `labloop\n"
         "// run FILE` runs it; docs/config.md describes every field.\n";
  if (!simulator.descriptors.empty())
    out += fmt::format("// Categorical parameters are modelled through the dataset's {} (docs/datasets.md,\n"
                       "// \"Descriptors\"); \"descriptors\": false in a parameter makes the planner see its choices one-hot.\n",
                       simulator.descriptors.filename().string());
  out += "{\n";
  out += fmt::format("  \"name\": {},\n", quoted(name));
  if (!summary.empty()) out += fmt::format("  \"description\": {},\n", quoted(summary));
  out += "  \"seed\": 1,\n  \"parameters\": [\n";
  for (size_t i = 0; i < parameters.size(); ++i) out += "    " + parameter_json(parameters[i]) + (i + 1 < parameters.size() ? ",\n" : "\n");
  out += "  ],\n";
  if (const std::string constraint = simulator.required_constraint ? simulator.required_constraint() : std::string(); !constraint.empty())
    out += fmt::format("  // The simulator refuses any setting off this constraint.\n  \"constraints\": [{}],\n", quoted(constraint));
  std::vector<std::string> all;
  for (const SimulatorGoal& g : goals.objectives) all.push_back(objective_json(g));
  if (goals.several) {
    out += fmt::format("  \"objectives\": [{}],\n", fmt::join(all, ", "));
  } else {
    if (goals.objectives.size() > 1) {
      std::vector<std::string> others;
      for (size_t k = 1; k < goals.objectives.size(); ++k)
        others.push_back(fmt::format("{} ({})", goals.objectives[k].output, goal_text(goals.objectives[k].maximize)));
      out += fmt::format("  // It also measures {}.\n  // To optimize several at once (2 to 4), replace \"objective\" by\n"
                         "  // \"objectives\": [{}],\n",
                         fmt::join(others, ", "), fmt::join(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(all.size(), 4)), ", "));
    }
    out += fmt::format("  \"objective\": {},\n", all.front());
  }
  if (!goals.outcome_constraints.empty()) {
    std::vector<std::string> conditions;
    for (const std::string& c : goals.outcome_constraints) conditions.push_back(quoted(c));
    out += fmt::format("  \"outcome_constraints\": [{}],\n", fmt::join(conditions, ", "));
  }
  out += "  \"planner\": {\"kind\": \"bayesian\"},\n";
  const std::string dim_option = dim != simulator.default_dim ? fmt::format(", \"options\": {{\"dim\": {}}}", dim) : "";
  // Failing there is what it simulates, not a broken setup: neither the instrument's quarantine
  // (failures in a row) nor the campaign's pause (more than half failed) should end the search.
  const std::string quarantine = simulator.fails_by_design ? fmt::format(", \"quarantine_after\": {}", kMaxQuarantineAfter) : "";
  if (simulator.fails_by_design)
    out += "  // Its experiments fail in part of the space by design: the planner learns where, and the\n"
           "  // campaign carries on through failures instead of pausing or setting the instrument aside.\n"
           "  \"stop\": {\"pause_on_failures\": false},\n";
  out += fmt::format("  \"instruments\": [\n    {{\"name\": \"sim\", \"simulator\": {}{}{}}}\n  ],\n", quoted(simulator.name), dim_option, quarantine);
  out += fmt::format("  \"budget\": {{\"experiments\": {}}},\n", options.experiments);
  out += fmt::format("  \"output\": {}\n}}\n", quoted("runs/" + name));
  return out;
}

}  // namespace labloop
