#pragma once
// A dataset behind a simulated instrument: one folder of simulators/data/ (see its README.md),
// read and checked. `spec.json` gives the parameters, the objectives with their goals, whether the
// rows form a complete lookup table and the parameter constraint; `data.csv` gives one header line
// (the parameters, then the objectives) and one row per measurement. The folder's name is the
// simulator's name ("simulator": "buchwald_a").
//
// Everything read is checked against limits and against the spec, so a damaged or hand-edited
// folder gives a message naming the file, the line (or JSON path) and the problem, never a crash:
// spec.json errors are ConfigError ("…/spec.json: /parameters/2/high: must be …"), data.csv errors
// are Error ("…/data.csv: line 17: base = \"KOAc\" is not among its options (…)"). The results
// are plain values.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "labloop/core/csv_table.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/parameter.hpp"

namespace labloop::sim {

// Limits of what a dataset folder may hold. The shipped datasets stay far below them (largest:
// 3696 rows, 0.6 MB, 10 columns, 140-character SMILES, spec.json 13 KB nesting 4 deep).
constexpr std::size_t kMaxSpecBytes = 1 << 20;
constexpr std::size_t kMaxSpecDepth = 16;
constexpr std::size_t kMaxDatasetBytes = 16 << 20;  // data.csv
constexpr std::size_t kMaxDatasetRows = 100'000;
constexpr std::size_t kMaxDatasetColumns = 256;     // parameters + objectives
constexpr std::size_t kMaxDatasetFieldChars = 4096;
constexpr std::size_t kMaxDatasetOptions = 10'000;  // options of one parameter

struct DatasetObjective {
  std::string name;
  bool maximize = false;        // spec "goal": "maximize" or "minimize"
  // "continuous" (numbers) or "ordinal" (one of `levels`, worst first; vapdiff_crystal's score).
  std::string type = "continuous";
  std::vector<std::string> levels;
  // Rows whose value is not a number but a censored text such as "≥90%" (the spec's count).
  std::size_t censored_rows = 0;
};

// What spec.json says.
struct DatasetSpec {
  std::string name;                          // the folder's name: the simulator's name
  std::filesystem::path dir;
  std::string title;                         // one line, for `labloop-sim --list`
  std::vector<Parameter> parameters;         // the first columns of data.csv, in order
  std::vector<DatasetObjective> objectives;  // the columns after them, in order
  bool lookup_table = false;                 // every combination of the options was measured
  std::string constraint = "none";           // "none", "simplex" (fractions summing to 1) or "cube"
  std::size_t rows = 0;                      // rows data.csv holds (after its header)

  std::vector<std::string> objective_names() const;
  // The linear constraint every setting must meet (docs/config.md "constraints"), as a campaign
  // file writes it: "a + b + … == 1" over a simplex dataset's fractions; "" when there is none.
  std::string required_constraint() const;
};

// spec.json and data.csv together. Every row has one field per parameter and objective, as the CSV
// spells it; each was checked: options among the parameter's (numbers matched by value), numbers
// where numbers belong, ordinal levels among the objective's.
struct Dataset {
  DatasetSpec spec;
  std::vector<CsvRow> rows;
};

// One parameter of spec.json as a labloop Parameter: "continuous" → continuous with its low/high;
// "categorical" → categorical with the options as written; "discrete" (numeric "options") →
// discrete with those levels. Throws ConfigError at `node`'s path.
Parameter parameter_from_spec(const JsonNode& node);

// Reads `dir`/spec.json only (a few KB): enough for a catalogue, `--list` and the inputs and
// outputs an instrument declares. Throws ConfigError (malformed spec) or Error (unreadable).
DatasetSpec read_dataset_spec(const std::filesystem::path& dir);

// Reads spec.json and data.csv, checking the CSV against the spec (header, row count, every cell).
Dataset read_dataset(const std::filesystem::path& dir);

// Where the datasets are: $LABLOOP_DATA_DIR when set (and not empty), else the folder compiled in
// (LABLOOP_DATA_DIR: the source tree's simulators/data).
std::filesystem::path data_dir();

// The datasets in `dir`: its sub-folders holding a spec.json, sorted by name. Empty when `dir`
// does not exist (a catalogue without datasets still works; data_dir_problem() says why).
std::vector<std::string> dataset_names(const std::filesystem::path& dir);

// Why `dir` gives no datasets ("the data directory … does not exist; set LABLOOP_DATA_DIR …"),
// or "" when it holds some.
std::string data_dir_problem(const std::filesystem::path& dir);

// The parameter's option (its index in `choices`, or in `values` for a discrete one) that `text`
// names: the same text, or for numeric options the same number ("0.10" and "0.1"); -1 when none
// does.
int find_option(const Parameter& parameter, const std::string& text);

// Its options for messages: "THF, DMF" or "0.057, 0.1, 0.153".
std::string option_list(const Parameter& parameter);

}  // namespace labloop::sim
