#include "labloop/core/parameter_check.hpp"
#include "labloop/core/printable.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "labloop/core/parameter.hpp"

namespace labloop {

std::vector<double> read_discrete_levels(const JsonNode& values) {
  const size_t n = values.as_array(true).size();
  std::vector<std::pair<double, size_t>> levels;  // value, index in the file
  for (size_t i = 0; i < n; ++i) {
    const double v = values.at(i).as_number();
    if (!std::isfinite(v)) values.at(i).fail("must be a finite number");
    levels.emplace_back(v, i);
  }
  // Any order in the file; ascending inside, which Space's encoding and level_index rely on.
  std::sort(levels.begin(), levels.end());
  Parameter p;  // for level_tolerance()
  p.type = ParameterType::discrete;
  for (const auto& level : levels) p.values.push_back(level.first);
  if (n == 0) return p.values;
  const double low = p.values.front(), high = p.values.back();
  // The model works on (v − low) / (high − low): a spread beyond the largest double is no spread.
  if (!std::isfinite(high - low))
    values.fail(fmt::format("spans {} to {}, more than a number can hold ({:g}); express the levels in a larger unit", low, high,
                            std::numeric_limits<double>::max()));
  for (size_t k = 1; k < n; ++k)
    if (p.values[k] - p.values[k - 1] <= p.level_tolerance()) {
      const size_t first = std::min(levels[k].second, levels[k - 1].second), second = std::max(levels[k].second, levels[k - 1].second);
      if (p.values[k] == p.values[k - 1])
        values.at(second).fail(fmt::format("duplicate level {} (also at {}/{}); list each level once", values.at(second).value().dump(), values.path(), first));
      // Levels are told apart to 1e-9 of the largest level or spread (as a driver matches a
      // sent value, docs/protocol.md §4.2): closer ones would be taken for each other.
      values.at(second).fail(fmt::format("level {} is within {:g} of level {} (at {}/{}): levels are told apart only to 1e-9 of the "
                                         "largest level or spread ({:g}): drop one of them",
                                         values.at(second).value().dump(), p.level_tolerance(), values.at(first).value().dump(), values.path(), first,
                                         p.level_tolerance() * 1e9));
    }
  return p.values;
}

std::string choice_problem(const std::string& choice) {
  // Characters, as the limit is stated: 600 "é" (1200 bytes) were refused as 1200 characters.
  if (const std::size_t n = character_count(choice); n > kMaxChoiceChars) return fmt::format("is {} characters long; at most {} are allowed", n, kMaxChoiceChars);
  if (std::any_of(choice.begin(), choice.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }))
    return "may not contain control characters (line breaks, tabs, escapes)";
  if (!choice.empty() && (choice.front() == ' ' || choice.back() == ' '))
    return fmt::format("\"{}\" starts or ends with a space, which CSV files drop (candidates, prior_results): write it without that space", choice);
  return {};
}

}  // namespace labloop
