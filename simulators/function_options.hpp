#pragma once
// A test function's own options read from JSON, with one checker for both places that read them:
// the simulator catalogue (an instrument's "options" in a campaign file) and labloop-sim
// (`--options '{"objectives": 3}'`), so the two can never disagree about what is allowed.
#include "labloop/core/json_check.hpp"
#include "test_functions.hpp"

namespace labloop::sim {

// The function's options present in the object `options` (other keys are left alone: a campaign's
// instrument options also hold labloop-sim's), completed with their defaults and checked for
// `dim`. Throws ConfigError at the offending option's path.
inline OptionValues read_function_options(const JsonNode& options, const TestFunction& function, int dim) {
  OptionValues values;
  for (const FunctionOption& o : function.options)
    if (options.has(o.name)) {
      const JsonNode node = options.child(o.name);
      values[o.name] = o.integer ? static_cast<double>(node.as_integer()) : node.as_number();
    }
  if (const auto problem = function.complete_options(dim, values)) {
    if (options.has(problem->option)) options.child(problem->option).fail(problem->message);
    options.fail("\"" + problem->option + "\" (left at its default) " + problem->message);
  }
  return values;
}

}  // namespace labloop::sim
