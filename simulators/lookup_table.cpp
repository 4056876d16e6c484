#include "lookup_table.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "labloop/core/error.hpp"

namespace labloop::sim {

LookupTable::LookupTable(Dataset data) : spec_(std::move(data.spec)) {
  if (!spec_.lookup_table)
    throw Error(fmt::format("{} is not a lookup table (its rows are scattered measurements): labloop-sim serves it through an "
                            "emulator (emulator.hpp), not a LookupTable",
                            spec_.name));
  for (const auto& o : spec_.objectives)
    if (o.type != "continuous" || o.censored_rows > 0)
      throw Error(fmt::format("{}: objective \"{}\" is {}, so the table has no exact number to return", spec_.name, o.name,
                              o.type != "continuous" ? o.type : "censored in some rows"));
  const std::size_t np = spec_.parameters.size(), no = spec_.objectives.size();
  // Besides the plain sum, a running mean (m += v/k − m/k), used only where the sum overflows (two
  // rows of 1.5e308 gave inf, a failed experiment): v − m can overflow too (1e308 and −1e308), its
  // halves and smaller cannot, and the mean of finite values lies between them. The sum stays the
  // rule elsewhere, so every other table answers to the last bit as before.
  for (const CsvRow& row : data.rows) {
    std::vector<int> key(np);
    for (std::size_t i = 0; i < np; ++i) key[i] = find_option(spec_.parameters[i], row.fields[i]);  // checked when read
    // The first of its replicates gives the row number (line 1 is the header); values are summed here, averaged below.
    Combination& c =
        combinations_.try_emplace(std::move(key), Combination{std::vector<double>(no, 0.0), std::vector<double>(no, 0.0), row.line - 2, 0}).first->second;
    ++c.replicates;
    const auto k = static_cast<double>(c.replicates);
    for (std::size_t j = 0; j < no; ++j) {
      const double v = *parse_number(row.fields[np + j]);  // numbers: checked when read
      c.means[j] += v;
      c.running[j] += v / k - c.running[j] / k;
    }
  }
  for (auto& [key, c] : combinations_) {
    for (std::size_t j = 0; j < no; ++j) c.means[j] = std::isfinite(c.means[j]) ? c.means[j] / c.replicates : c.running[j];
    c.running = {};  // not needed once averaged
  }
}

std::optional<std::vector<double>> LookupTable::find(const Params& params) const {
  std::vector<int> key;
  for (const Parameter& p : spec_.parameters) {
    if (!params.is_object() || !params.contains(p.name)) throw Error(fmt::format("{}: parameter \"{}\" is missing", spec_.name, p.name));
    const auto& value = params[p.name];
    int option = -1;
    if (value.is_string()) option = find_option(p, value.get<std::string>());
    else if (value.is_number()) option = find_option(p, fmt::format("{}", value.get<double>()));
    if (option < 0)
      throw Error(fmt::format("{}: {} = {} is not among its options ({})", spec_.name, p.name, value.dump(), option_list(p)));
    key.push_back(option);
  }
  const auto it = combinations_.find(key);
  if (it == combinations_.end()) return std::nullopt;
  return it->second.means;
}

std::vector<double> LookupTable::values(const Params& params) const {
  if (auto found = find(params)) return std::move(*found);
  std::vector<std::string> setting;
  for (const Parameter& p : spec_.parameters) setting.push_back(p.name + " = " + (params[p.name].is_string() ? params[p.name].get<std::string>() : params[p.name].dump()));
  throw Error(fmt::format("{} has no measurement for {} (the dataset does not hold every combination); "
                          "leave this combination out or choose another",
                          spec_.name, fmt::join(setting, ", ")));
}

std::vector<Params> LookupTable::settings() const {
  std::vector<Params> out;
  out.reserve(combinations_.size());
  for (const auto& [key, c] : combinations_) {
    Params params = Params::object();
    for (std::size_t i = 0; i < key.size(); ++i) {
      const Parameter& p = spec_.parameters[i];
      const auto option = static_cast<std::size_t>(key[i]);
      if (p.type == ParameterType::discrete) params[p.name] = p.values[option];
      else params[p.name] = p.choices[option];
    }
    out.push_back(std::move(params));
  }
  return out;
}

std::vector<std::size_t> LookupTable::first_rows() const {
  std::vector<std::size_t> out;
  out.reserve(combinations_.size());
  for (const auto& [key, c] : combinations_) out.push_back(c.first_row);
  return out;
}

std::vector<std::vector<double>> LookupTable::all_values() const {
  std::vector<std::vector<double>> out;
  for (const auto& [key, c] : combinations_) out.push_back(c.means);
  return out;
}

}  // namespace labloop::sim
