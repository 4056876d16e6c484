#include "registry.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace labloop::detail {

std::string unknown_name_message(const std::string& what, const std::string& name, const std::vector<std::string>& names) {
  return fmt::format("unknown {} \"{}\"{} (available: {})", what, name, did_you_mean(name, names), fmt::join(names, ", "));
}

void check_options(const JsonNode& options, const std::string& what, const std::vector<std::string>& allowed) {
  if (!options.value().is_object()) options.fail(fmt::format("the options of the {} must be an object", what));
  for (const auto& item : options.value().items())
    if (const std::string& key = item.key(); std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      options.child(key).fail(fmt::format("unknown option for the {}{}", what,
                            allowed.empty() ? std::string(" (it takes none)")
                                            : fmt::format("{} (allowed: {})", did_you_mean(key, allowed), fmt::join(allowed, ", "))));
}

double number_option(const JsonNode& options, const std::string& key, double fallback, bool (*valid)(double), const std::string& requirement) {
  if (!options.has(key)) return fallback;
  const JsonNode node = options.child(key);
  const double value = node.as_number();
  if (!valid(value)) node.fail(fmt::format("{} (got {})", requirement, value));
  return value;
}

}  // namespace labloop::detail
