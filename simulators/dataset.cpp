#include "dataset.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include "labloop/core/parameter_check.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/json_limits.hpp"

namespace labloop::sim {

namespace fs = std::filesystem;

namespace {

// Names become protocol inputs and outputs and campaign parameters: the campaign file's rule.
void check_dataset_name(const JsonNode& node, const char* what) {
  const std::string name = node.as_string();
  if (name.size() > 64) node.fail(fmt::format("{} is {} characters long; at most 64 are allowed", what, name.size()));
  for (const char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      node.fail(fmt::format("{} \"{}\" may only contain letters, digits, '_', '-' and '.'", what, name));
}

std::string read_spec_text(const fs::path& file) {
  std::error_code error;
  const auto size = fs::file_size(file, error);
  if (error) throw Error(fmt::format("{}: cannot read: {} (is this a dataset folder?)", file.string(), error.message()));
  if (size > kMaxSpecBytes) throw Error(fmt::format("{}: {} bytes; a spec may hold at most {}", file.string(), size, kMaxSpecBytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", file.string()));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

DatasetObjective objective_from_spec(const JsonNode& node) {
  DatasetObjective o;
  check_dataset_name(node.child("name"), "objective name");
  o.name = node.child("name").as_string();
  const std::string goal = node.child("goal").as_string();
  if (goal != "maximize" && goal != "minimize") node.child("goal").fail(fmt::format("must be \"maximize\" or \"minimize\" (got \"{}\")", goal));
  o.maximize = goal == "maximize";
  if (node.has("type")) o.type = node.child("type").as_string();
  if (o.type == "ordinal") {
    // A row's level becomes its rank in this list (the emulator's number): with fewer than two
    // levels there is nothing to rank, and a level listed twice would have two ranks.
    const JsonNode levels = node.child("levels_in_increasing_merit");
    const std::size_t n = levels.as_array(true).size();
    if (n < 2)
      levels.fail(n == 0 ? "must list the levels, worst first, at least 2 (e.g. [\"powder\", \"crystals\"])"
                         : "lists one level: an objective with one level cannot be better or worse; list at least 2, worst first");
    for (std::size_t i = 0; i < n; ++i) {
      const std::string level = levels.at(i).as_string();
      if (const auto twin = std::find(o.levels.begin(), o.levels.end(), level); twin != o.levels.end())
        levels.at(i).fail(fmt::format("duplicate level \"{}\" (also at {}/{}); list each level once", level, levels.path(), twin - o.levels.begin()));
      o.levels.push_back(level);
    }
  } else if (o.type != "continuous") {
    node.child("type").fail(fmt::format("must be \"continuous\" or \"ordinal\" (got \"{}\")", o.type));
  }
  if (node.has("censored_rows")) {
    const long long n = node.child("censored_rows").as_integer();
    if (n < 0) node.child("censored_rows").fail("must be 0 or more");
    o.censored_rows = static_cast<std::size_t>(n);
  }
  return o;
}

}  // namespace

std::vector<std::string> DatasetSpec::objective_names() const {
  std::vector<std::string> names;
  for (const auto& o : objectives) names.push_back(o.name);
  return names;
}

std::string DatasetSpec::required_constraint() const {
  if (constraint != "simplex") return "";
  std::vector<std::string> names;
  for (const Parameter& p : parameters) names.push_back(p.name);
  return fmt::format("{} == 1", fmt::join(names, " + "));
}

Parameter parameter_from_spec(const JsonNode& node) {
  if (!node.value().is_object()) node.expect_object({});
  Parameter p;
  check_dataset_name(node.child("name"), "parameter name");
  p.name = node.child("name").as_string();
  const std::string type = node.child("type").as_string();
  if (type == "continuous") {
    p.low = node.child("low").as_number();
    p.high = node.child("high").as_number();
    if (!(p.low < p.high)) node.child("high").fail(fmt::format("is {}, which must be greater than low ({})", p.high, p.low));
    return p;
  }
  if (type != "categorical" && type != "discrete")
    node.child("type").fail(fmt::format("must be \"continuous\", \"categorical\" or \"discrete\" (got \"{}\")", type));
  const JsonNode options = node.child("options");
  if (options.as_array().size() > kMaxDatasetOptions)
    options.fail(fmt::format("lists {} options; at most {} are allowed", options.value().size(), kMaxDatasetOptions));
  if (type == "discrete") {
    // Numeric levels: a discrete parameter, so planners see their order and spacing (an
    // experiment at 105 °C says something about 90 and 120 °C).
    p.type = ParameterType::discrete;
    if (options.value().size() < 2 || options.value().size() > kMaxDiscreteLevels)
      options.fail(fmt::format("lists {} levels; a discrete parameter has from 2 to {}", options.value().size(), kMaxDiscreteLevels));
    // The campaign file's check of "values": levels that are equal, closer than the tolerance a
    // sent value is matched to, spread past the largest double or not finite are named here, not
    // left to fail later where the dataset's rows or a campaign meet them.
    p.values = read_discrete_levels(options);
    p.low = p.values.front();
    p.high = p.values.back();
    return p;
  }
  p.type = ParameterType::categorical;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < options.value().size(); ++i) {
    const JsonNode option = options.at(i);
    std::string text = option.value().is_number() ? option.value().dump() : option.as_string();
    // The campaign file's rule for a choice: `labloop new` writes these options as choices, and a
    // line break in one (or one of 1001–4096 characters, a data.csv cell's limit) passed here and
    // was refused there (and broke every CSV holding it).
    if (const std::string problem = choice_problem(text); !problem.empty()) option.fail(problem);
    if (!seen.insert(text).second) option.fail(fmt::format("duplicate option \"{}\"", text));
    p.choices.push_back(std::move(text));
  }
  return p;
}

DatasetSpec read_dataset_spec(const fs::path& dir) {
  const fs::path file = dir / "spec.json";
  const std::string text = read_spec_text(file);
  const std::string source = file.string();
  if (const auto at = find_excess_nesting(text, kMaxSpecDepth))
    throw ConfigError(source, "", fmt::format("nests arrays and objects deeper than {} levels (at byte {})", kMaxSpecDepth, *at));
  nlohmann::json json;
  std::optional<std::string> repeated;
  try {
    json = parse_json_noting_repeats(text, /*ignore_comments=*/false, repeated);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(source, "", "not valid JSON " + json_syntax_error(text, e));
  } catch (const nlohmann::json::out_of_range&) {  // a number past the largest double (1e999): no finite level or bound
    throw ConfigError(source, "", "not valid JSON: it holds a number beyond ±1.8e308; write numbers a double holds");
  }
  // JSON keeps the last of a key given twice: a spec saying "rows": 208 and "rows": 207 was read as
  // 207 without a word.
  if (repeated) throw ConfigError(source, *repeated, "is given twice in one object; JSON keeps only the last, so remove one of them");
  const JsonNode top(json, "", source);
  if (!json.is_object()) top.expect_object({});
  DatasetSpec spec;
  spec.dir = dir;
  // Named by its folder as written out in full: "." or "data/.." named the dataset "." or "..".
  std::error_code absolute_failed;
  const fs::path named = fs::absolute(dir, absolute_failed).lexically_normal();
  const fs::path folder = absolute_failed ? dir : named;
  spec.name = folder.filename().empty() ? folder.parent_path().filename().string() : folder.filename().string();
  if (top.has("title")) spec.title = top.child("title").as_string(true);
  const JsonNode parameters = top.child("parameters");
  for (std::size_t i = 0; i < parameters.as_array().size(); ++i) spec.parameters.push_back(parameter_from_spec(parameters.at(i)));
  const JsonNode objectives = top.child("objectives");
  for (std::size_t i = 0; i < objectives.as_array().size(); ++i) spec.objectives.push_back(objective_from_spec(objectives.at(i)));
  if (spec.parameters.size() + spec.objectives.size() > kMaxDatasetColumns)
    top.fail(fmt::format("{} parameters and objectives; at most {} are allowed", spec.parameters.size() + spec.objectives.size(), kMaxDatasetColumns));
  std::set<std::string> names;
  for (const auto& p : spec.parameters)
    if (!names.insert(p.name).second) parameters.fail(fmt::format("two columns are named \"{}\"", p.name));
  for (const auto& o : spec.objectives)
    if (!names.insert(o.name).second) objectives.fail(fmt::format("two columns are named \"{}\"", o.name));
  spec.lookup_table = top.child("lookup_table").as_bool();
  if (top.has("parameter_constraint")) {
    spec.constraint = top.child("parameter_constraint").as_string();
    if (spec.constraint != "none" && spec.constraint != "simplex" && spec.constraint != "cube")
      top.child("parameter_constraint").fail(fmt::format("must be \"none\", \"simplex\" or \"cube\" (got \"{}\")", spec.constraint));
  }
  const long long rows = top.child("rows").as_integer();
  if (rows < 1 || rows > static_cast<long long>(kMaxDatasetRows)) top.child("rows").fail(fmt::format("must be from 1 to {} (got {})", kMaxDatasetRows, rows));
  spec.rows = static_cast<std::size_t>(rows);
  if (spec.lookup_table)
    for (std::size_t i = 0; i < spec.parameters.size(); ++i)
      if (spec.parameters[i].type != ParameterType::categorical && spec.parameters[i].type != ParameterType::discrete)
        parameters.at(i).fail("is continuous, but the spec says lookup_table: a lookup table's parameters all have options");
  return spec;
}

std::string option_list(const Parameter& parameter) {
  if (parameter.type == ParameterType::discrete) return fmt::format("{}", fmt::join(parameter.values, ", "));
  return fmt::format("{}", fmt::join(parameter.choices, ", "));
}

int find_option(const Parameter& parameter, const std::string& text) {
  if (parameter.type == ParameterType::discrete) {
    const auto value = parse_number(text);
    return value ? parameter.level_index(*value) : -1;
  }
  const auto& choices = parameter.choices;
  if (const auto it = std::find(choices.begin(), choices.end(), text); it != choices.end()) return static_cast<int>(it - choices.begin());
  const auto value = parse_number(text);
  if (!value) return -1;
  for (std::size_t i = 0; i < choices.size(); ++i)
    if (const auto choice = parse_number(choices[i]); choice && *choice == *value) return static_cast<int>(i);
  return -1;
}

Dataset read_dataset(const fs::path& dir) {
  Dataset data{read_dataset_spec(dir), {}};
  const DatasetSpec& spec = data.spec;
  const fs::path file = dir / "data.csv";
  CsvTable table = read_csv_table(file, {.max_rows = kMaxDatasetRows, .max_bytes = kMaxDatasetBytes, .max_columns = kMaxDatasetColumns,
                                         .max_field_chars = kMaxDatasetFieldChars});
  std::vector<std::string> expected;
  for (const auto& p : spec.parameters) expected.push_back(p.name);
  for (const auto& o : spec.objectives) expected.push_back(o.name);
  if (table.header != expected)
    throw Error(fmt::format("{}: line 1: the header is \"{}\", but spec.json's parameters and objectives are \"{}\" (in this order)",
                            file.string(), fmt::join(table.header, ","), fmt::join(expected, ",")));
  if (table.rows.size() != spec.rows)
    throw Error(fmt::format("{}: {} rows, but spec.json says \"rows\": {} (a truncated or edited file?)", file.string(), table.rows.size(), spec.rows));
  const std::size_t np = spec.parameters.size();
  std::vector<std::size_t> censored(spec.objectives.size(), 0);
  for (const CsvRow& row : table.rows) {
    auto fail = [&](const std::string& column, const std::string& why) {
      throw Error(fmt::format("{}: line {}: {} {}", file.string(), row.line, column, why));
    };
    for (std::size_t i = 0; i < np; ++i) {
      const Parameter& p = spec.parameters[i];
      const std::string& cell = row.fields[i];
      if (p.type == ParameterType::categorical || p.type == ParameterType::discrete) {
        if (find_option(p, cell) < 0) fail(p.name, fmt::format("= \"{}\" is not among its options in spec.json ({})", cell, option_list(p)));
      } else if (!parse_number(cell)) {
        fail(p.name, fmt::format("= \"{}\" is not a number", cell));
      }
    }
    for (std::size_t j = 0; j < spec.objectives.size(); ++j) {
      const DatasetObjective& o = spec.objectives[j];
      const std::string& cell = row.fields[np + j];
      if (o.type == "ordinal") {
        if (std::find(o.levels.begin(), o.levels.end(), cell) == o.levels.end())
          fail(o.name, fmt::format("= \"{}\" is not among its levels in spec.json ({})", cell, fmt::join(o.levels, ", ")));
      } else if (!parse_number(cell) && ++censored[j] > o.censored_rows) {
        fail(o.name, fmt::format("= \"{}\" is not a number{}", cell,
                                 o.censored_rows > 0 ? fmt::format(" (spec.json allows {} censored rows, and this is one more)", o.censored_rows) : ""));
      }
    }
  }
  data.rows = std::move(table.rows);
  return data;
}

fs::path data_dir() {
  if (const char* env = std::getenv("LABLOOP_DATA_DIR"); env && *env) return env;
  // An installed labloop or labloop-sim reads the data installed with it, so it keeps working
  // when the source tree is gone, and never mixes in another version's data.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = (exe.parent_path() / LABLOOP_INSTALLED_DATA_FROM_BIN).lexically_normal();
    if (fs::is_regular_file(installed / "README.md", ec)) return installed;
  }
  return LABLOOP_DATA_DIR;
}

std::vector<std::string> dataset_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error))
    if (std::error_code e; it->is_directory(e) && fs::exists(it->path() / "spec.json", e)) names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string data_dir_problem(const fs::path& dir) {
  const std::string fix = "set the environment variable LABLOOP_DATA_DIR to the folder holding the datasets (simulators/data in labloop's source)";
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_directory(dir, error)) return fmt::format("the data directory {} is a file, not a folder; {}", dir.string(), fix);
  if (!fs::is_directory(dir, error)) return fmt::format("the data directory {} does not exist; {}", dir.string(), fix);
  if (dataset_names(dir).empty()) return fmt::format("the data directory {} holds no datasets (folders with a spec.json); {}", dir.string(), fix);
  return {};
}

}  // namespace labloop::sim
