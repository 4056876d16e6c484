#include "labloop/campaign/prior_results.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/report.hpp"

namespace labloop {

namespace fs = std::filesystem;

fs::path prior_results_path(const CampaignConfig& config) {
  const fs::path given = config.prior_results;
  if (given.is_absolute()) return given;
  return fs::path(config.source).parent_path() / given;
}

PriorResults read_prior_results(const CampaignConfig& config) {
  PriorResults out;
  out.source = config.prior_results;
  const fs::path path = prior_results_path(config);
  const std::string name = path.filename().string();
  auto refuse = [&](const std::string& why) { throw ConfigError(config.source, "/prior_results", why); };
  CsvTable table;
  try {
    table = read_csv_table(path, {.max_rows = kMaxPriorRows});
  } catch (const Error& e) {
    refuse(e.what());
  }
  // results.csv writes a header that starts like a formula ("-A1") with a leading ' (csv_text):
  // the column is named by what it stands for.
  for (std::string& h : table.header) h = csv_text_value(h);
  // A name heading two columns would be read from one of them without a word (the candidates
  // file refuses the same). Not labloop's own columns: a results.csv of a campaign measuring
  // "error" has two, the measurement first (docs/outputs.md), and that is the one read.
  std::map<std::string, std::size_t> first_column;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    const std::string& h = table.header[i];
    if (h.empty() || std::find(kResultsColumns.begin(), kResultsColumns.end(), h) != kResultsColumns.end()) continue;
    if (const auto [it, fresh] = first_column.emplace(h, i); !fresh)
      refuse(fmt::format("{} has two columns \"{}\" (columns {} and {}); keep one", path.string(), h, it->second + 1, i + 1));
  }
  const auto column = [&](const std::string& wanted) -> std::optional<std::size_t> {
    const auto it = std::find(table.header.begin(), table.header.end(), wanted);
    if (it == table.header.end()) return std::nullopt;
    return static_cast<std::size_t>(it - table.header.begin());
  };
  std::vector<std::size_t> parameter_columns;
  for (const auto& p : config.parameters) {
    const auto c = column(p.name);
    if (!c) refuse(fmt::format("{} has no column \"{}\" (its header: {}); every parameter needs one", path.string(), p.name, fmt::join(table.header, ", ")));
    parameter_columns.push_back(*c);
  }
  const auto objective_column = column(config.objective.name);
  if (!objective_column) refuse(fmt::format("{} has no column for the objective \"{}\" (its header: {})", path.string(), config.objective.name,
                                            fmt::join(table.header, ", ")));
  std::vector<std::pair<std::size_t, std::string>> output_columns{{*objective_column, config.objective.name}};
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    const std::string& h = table.header[i];
    if (i == *objective_column || std::find(parameter_columns.begin(), parameter_columns.end(), i) != parameter_columns.end()) continue;
    const std::vector<std::string> required = config.required_outputs();
    if (config.find_output(h) || std::find(required.begin(), required.end(), h) != required.end()) output_columns.emplace_back(i, h);
    else out.ignored_columns.push_back(h);
  }
  // A column in another unit than the campaign declares would be learnt from as if in its own.
  const auto check_unit = [&](std::size_t at, const std::string& declared) {
    if (std::string why = unit_conflict(path.string(), at + 1, table.header[at], table.units[at], declared); !why.empty()) refuse(why);
  };
  for (std::size_t k = 0; k < config.parameters.size(); ++k) check_unit(parameter_columns[k], config.parameters[k].unit);
  for (const auto& [at, output] : output_columns)
    if (const OutputSpec* spec = config.find_output(output)) check_unit(at, spec->unit);

  for (const CsvRow& row : table.rows) {
    auto skip = [&](const std::string& why) { out.skipped.push_back(fmt::format("{} line {}: {}; skipped", name, row.line, why)); };
    PriorRow r;
    r.line = row.line;
    r.params = Params::object();
    std::string problem;
    for (std::size_t k = 0; k < config.parameters.size() && problem.empty(); ++k) {
      const Parameter& p = config.parameters[k];
      const std::string& cell = row.fields[parameter_columns[k]];
      if (cell.empty()) {
        problem = fmt::format("no value for {}", p.name);
      } else if (p.type == ParameterType::categorical) {
        // results.csv writes a choice that starts like a formula ("-1", "=x") with a leading ', and
        // one that starts with ' and would read as such ("'=x") with another (docs/outputs.md),
        // which a spreadsheet does not show: the choice is what it stands for (csv_text_value).
        // Where the rule reads no choice, a file written by hand (or by an earlier version) is read
        // as before: the cell as it is, or without one leading '.
        r.params[p.name] = csv_choice(p.choices, cell);
      } else if (const auto v = parse_number(cell)) {
        // A discrete value written with a rounding error (0.1000000000001) is taken as its level,
        // as the planner will encode it; one that is no level is refused by check_params below.
        const int level = p.type == ParameterType::discrete ? p.level_index(*v) : -1;
        const double value = level >= 0 ? p.values[static_cast<std::size_t>(level)] : *v;
        if (value == std::floor(value) && (p.type == ParameterType::integer || (level >= 0 && std::fabs(value) < 0x1p53)))
          r.params[p.name] = static_cast<long long>(value);
        else r.params[p.name] = value;
      } else {
        problem = fmt::format("{} \"{}\" is not a number", p.name, cell);
      }
    }
    if (problem.empty()) problem = check_params(config.parameters, r.params);
    if (!problem.empty()) {
      skip(problem);
      continue;
    }
    for (const auto& [index, output] : output_columns) {
      const std::string& cell = row.fields[index];
      if (cell.empty()) continue;
      const auto v = parse_number(cell);
      if (!v) {
        problem = fmt::format("{} \"{}\" is not a number", output, cell);
        break;
      }
      if (const OutputSpec* spec = config.find_output(output)) {
        if ((spec->low && *v < *spec->low) || (spec->high && *v > *spec->high)) {
          problem = fmt::format("{} = {:g} is outside its declared range", output, *v);
          break;
        }
      }
      r.values[output] = *v;
    }
    for (const Objective& o : config.objectives)
      if (problem.empty() && !r.values.contains(o.name)) problem = fmt::format("no value for the objective {}", o.name);
    if (!problem.empty()) {
      skip(problem);
      continue;
    }
    r.objective = r.values.at(config.objective.name);
    out.rows.push_back(std::move(r));
  }
  if (config.planner.kind == "bayesian" && out.rows.size() + static_cast<std::size_t>(config.budget.experiments) > static_cast<std::size_t>(kMostModelledResults))
    throw ConfigError(config.source, "/prior_results",
                      fmt::format("{} has {} rows and the budget is {} experiments; the bayesian planner learns from at most {} results in "
                                  "all (each proposal's cost grows with the cube of them): keep the rows nearest the question, or use "
                                  "planner random or sobol",
                                  config.prior_results, out.rows.size(), config.budget.experiments, kMostModelledResults));
  return out;
}

}  // namespace labloop
