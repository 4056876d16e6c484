#pragma once
// Results a lab already has, given to a new campaign as "prior_results": "earlier.csv" (columns =
// parameter names and outputs, in user units; "name [unit]" headers are read as "name"). They
// teach the planner before its first proposal: a planner's initial design counts them, so enough
// of them let the very first proposal come from the model. A row outside the declared space, or
// without a number for the objective, is reported with its line and reason and skipped, never
// silently used. The accepted rows are journaled (PriorResultEvent), so resume and replay need
// only the journal, not the file.
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"

namespace labloop {

// Stated limit: rows taken from one prior-results file.
constexpr std::size_t kMaxPriorRows = 100000;

struct PriorRow {
  std::size_t line = 0;                  // 1-based line in the file (the header is line 1)
  Params params;                         // user units, checked against the space
  std::map<std::string, double> values;  // the objective and any other outputs given
  double objective = 0;
};

struct PriorResults {
  std::string source;                 // the file as the config names it
  std::vector<PriorRow> rows;
  std::vector<std::string> skipped;   // "earlier.csv line 7: x1 = 12 is outside [-5, 10]; skipped"
  std::vector<std::string> ignored_columns;
};

// Where config.prior_results points: relative paths are relative to the config file's folder.
std::filesystem::path prior_results_path(const CampaignConfig& config);

// Reads and checks the file; throws ConfigError (path /prior_results) when it cannot be read, has
// no column for a parameter or the objective, or is malformed.
PriorResults read_prior_results(const CampaignConfig& config);

}  // namespace labloop
