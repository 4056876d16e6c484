#pragma once
// A lookup-table dataset (spec "lookup_table": true) as a function of its parameters: for a
// combination of options, the measured value of every objective, averaged over replicate rows.
// Built once from a checked Dataset; afterwards read-only, so safe to share between threads.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dataset.hpp"

namespace labloop::sim {

class LookupTable {
 public:
  // Throws Error when the dataset is not a lookup table or has an objective that is not a number
  // in every row (an ordinal or censored one): nothing exact to return for those.
  explicit LookupTable(Dataset data);

  const DatasetSpec& spec() const { return spec_; }
  // Distinct combinations measured (rows less replicates).
  std::size_t combinations() const { return combinations_.size(); }

  // The objectives' values (in spec order) at `params` (every parameter by name; an option as its
  // text, or a number matched by value: 0.1 finds "0.1"); nullopt for a combination the table
  // lacks. Throws Error for a missing parameter or a value that is none of its options.
  std::optional<std::vector<double>> find(const Params& params) const;
  // find(), or Error naming the combination: what an instrument reports as a failed experiment.
  std::vector<double> values(const Params& params) const;
  // Every combination's values, in no particular order (benchmarks rank them).
  std::vector<std::vector<double>> all_values() const;
  // Every combination measured, as the params an instrument would be sent, in the order of
  // all_values(): the rows of a candidate pool.
  std::vector<Params> settings() const;
  // Every combination's first row in the dataset's data.csv (0-based after the header: line − 2), in the
  // order of all_values(): where a benchmark's chosen combination can be looked up by hand.
  std::vector<std::size_t> first_rows() const;

 private:
  DatasetSpec spec_;
  struct Combination {
    std::vector<double> means;    // the objectives, replicates averaged
    std::vector<double> running;  // the same as a running mean while reading: only where a sum overflows
    std::size_t first_row = 0;  // its first replicate's row in data.csv
    int replicates = 0;
  };
  // Key: each parameter's option index (in `choices`), in spec order.
  std::map<std::vector<int>, Combination> combinations_;
};

}  // namespace labloop::sim
