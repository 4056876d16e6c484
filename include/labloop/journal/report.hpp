#pragma once
// Human-facing outputs derived from a campaign's journal: results.csv (one row per experiment),
// convergence.svg (best objective so far) and, for several objectives, pareto.svg. All are pure
// functions of the journal's fold (journal/campaign_state.hpp), so they can be regenerated at any
// time, during or after a run. What needs the campaign's goals and the Pareto maths (which live in
// the model component, out of the journal's reach) is filled into the record by
// campaign/pareto_report.hpp before these writers run.
#include <array>
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labloop/journal/campaign_state.hpp"

namespace labloop {

// The columns results.csv has of its own (docs/outputs.md): a parameter, or a value a driver
// names, heading a column of one of these names would be read as labloop's.
inline constexpr std::array<std::string_view, 11> kResultsColumns = {"experiment",    "instrument",  "status", "error",
                                                                     "proposed_at",   "dispatched_at", "finished_at", "proposed_by",
                                                                     "counts",        "pareto",      "hypervolume"};

// One experiment, assembled from its events.
struct ExperimentRecord {
  std::string id;
  std::string instrument;           // last instrument it was dispatched to / reported by ("" if never)
  std::string status = "pending";   // "ok", "failed", or "pending" (proposed/dispatched, no outcome yet)
  nlohmann::json params;            // user units, as proposed
  std::optional<double> objective;  // when ok and the result carried a numeric objective
  nlohmann::json values;            // all measured values when ok
  std::string error;                // when failed
  std::string proposed_at, dispatched_at, finished_at;  // journal times (ISO-8601 UTC), "" when not reached
  int completion_index = 0;         // 1-based order of final outcomes among all experiments (0 = pending)
  // Why it was proposed, from its "proposed" line: "<planner> ask <n>" for the planner's own
  // proposals, "retry <attempt> of <id>" for a retry; "" when the journal has no such line or field.
  std::string proposed_by;

  // Filled by annotate_goals() (campaign/pareto_report.hpp); unset in a record straight from
  // campaign_record(). Set only for ok results, and only when the campaign has what they describe:
  std::optional<bool> counts;         // outcome constraints or a failure condition: no condition rules it out
  std::optional<bool> pareto;         // several objectives: it counts and no counting result dominates it
  // Several objectives (at most 4), every experiment with an outcome once a reference point is
  // known: the hypervolume of the counting results completed up to and including this one.
  std::optional<double> hypervolume;
};

// One of a campaign's several objectives, as the reports show it.
struct ReportObjective {
  std::string name;
  bool maximize = false;
  std::string unit;                  // "" when not declared
  std::optional<double> threshold;   // the config's, in the objective's units
};

struct CampaignRecord {
  std::string campaign;
  std::string objective_name;
  bool maximize = false;
  std::string objective_unit;                 // from the config's "outputs"; "" when not declared
  std::vector<std::string> parameter_names;   // from the config, in declared order
  std::vector<std::string> parameter_units;   // parallel to parameter_names; "" when not declared
  // Measured values other than the objective: those the config's "outputs" declares, in its
  // order, then any other name a result carried, in first-seen order, up to kMostResultColumns
  // of those (a spectrum's hundreds of values fit).
  std::vector<std::string> output_names;
  std::vector<std::string> output_units;      // parallel to output_names; "" when not declared
  static constexpr size_t kMostResultColumns = 4096;
  std::optional<double> target;               // the config's stop.target
  // Whether results.csv headers carry units. A column keeps its name for the campaign's whole life,
  // and labloop 0.1.0 headed parameters by bare name even when the config gave units: campaigns it
  // started (journaled "labloop_version" 0.1.x) keep those names when a newer version resumes them
  // or rewrites their reports.
  bool units_in_headers = true;
  std::vector<ExperimentRecord> experiments;  // in proposal order

  // Filled by annotate_goals() (campaign/pareto_report.hpp), like ExperimentRecord::counts…:
  bool conditions = false;                  // outcome constraints or a failure condition: a "counts" column
  std::vector<ReportObjective> objectives;  // two or more: "pareto" and "hypervolume" columns, pareto.svg
  bool hypervolume_column = false;          // several objectives, at most kMaxHypervolumeObjectives (4)
  // The hypervolume's reference point, one entry per objective in its own units; empty while
  // unknown (no threshold for some objective and no counting result yet).
  std::vector<double> reference;
  std::vector<bool> reference_from_threshold;  // parallel to reference: given (true) or inferred

  // Index into `experiments` of the best ok experiment with an objective (smallest, or largest when
  // maximizing; ties go to the one that finished first); nullopt when there is none.
  std::optional<size_t> best_index() const;
};

// The record of a folded journal: every experiment it names, in first-mention order (an experiment
// never proposed still gets a record, with empty params). Throws JournalError when there was no
// campaign_started event.
CampaignRecord campaign_record(const CampaignState& state);
// The same from journal events in file order (decoded, then folded). A malformed event throws
// JournalError naming its position.
CampaignRecord summarize(const std::vector<nlohmann::json>& events);

// A text cell of results.csv (and of `labloop pending --csv`): control characters shown as visible
// escapes, a leading ' on text that starts like a spreadsheet formula (= + - @, also after blanks,
// unless it is exactly a decimal number) or that starts with ' and would read as such a cell
// ("'=a" → "''=a"). csv_cell also quotes it per RFC 4180. csv_text_value reads a cell back: the
// text it stands for (one leading ' dropped where csv_text put it; "'x" stays "'x", as earlier
// versions wrote it).
std::string csv_text(const std::string& text);
std::string csv_cell(const std::string& text);
std::string csv_text_value(const std::string& cell);
// The choice among `choices` a cell of a categorical column stands for, read as csv_text_value reads
// it ("'-1" → "-1"); where that is no choice, the cell as it is, or without one leading ' (a file
// written by hand, or by an earlier version). A cell that is none of them comes back as
// csv_text_value read it, for the caller to refuse.
std::string csv_choice(const std::vector<std::string>& choices, const std::string& cell);

// Writes results.csv: header
//   experiment,instrument,<param1>,…,<objective>,<output1>,…,status,error,proposed_at,dispatched_at,
//   finished_at,proposed_by
// then one row per experiment in proposal order. A parameter or output whose unit the config
// declares is headed "<name> [<unit>]" (unless !units_in_headers). Fields are quoted per RFC 4180 when they contain a comma,
// quote, CR or LF; lines end with "\n". Numbers are the shortest text that round-trips; the
// objective and outputs are empty unless ok (and an output the result did not carry stays empty).
//
// The columns are a contract that is extended, never changed: a column once written keeps its name
// and its values, new ones are added (outputs after the objective, anything else at the end), so
// programs should find columns by header name. A campaign started by labloop 0.1.0 (which knew one
// output, and did not write units into headers) gets 0.1.0's columns unchanged, in the same order,
// followed by the new ones (docs/outputs.md). Annotated records (see ExperimentRecord::counts) get,
// at the end: "counts" (1/0 for ok results) when record.conditions; "pareto" (1/0 for ok results)
// when record.objectives has two or more; then "hypervolume" when record.hypervolume_column. A
// single-objective campaign without conditions gets none of them. The file is written to a temporary sibling, fsync()ed and renamed over
// `path`, so readers never see half a file. Throws labloop::Error naming the path and the OS reason.
void write_results_csv(const CampaignRecord& record, const std::filesystem::path& path);

// Writes convergence.svg, a self-contained 800x480 SVG: one grey dot (class "result") per ok result
// with an objective (x = its completion_index; y = objective), a step line of the best so far, a red
// cross on the x axis at the completion index of each failed experiment, a dashed labelled line at
// stop.target when the config sets one, tick labels on both axes, axis titles ("<objective>
// [<unit>]"), a legend, and a title "<campaign>: minimize|maximize <objective>". In an annotated
// record a result a condition rules out (ExperimentRecord::counts false) is a hollow red circle
// (class "result ruled-out") and is never the best so far. With no results it
// is a small SVG saying "no results yet" (and how many failed). Written atomically like the CSV;
// throws labloop::Error likewise.
//
// The value axis is chosen from the data so the best-so-far line is readable (docs/outputs.md):
// - log10 when every result and the target (if set) are positive and the largest of them is more
//   than 100 times the smallest (more than two decades): ticks at powers of ten;
// - linear otherwise, over the results inside the "far out" fences Q1 − 3·IQR … Q3 + 3·IQR (Tukey,
//   quartiles of the results, when there are at least four), widened to take in the best result and
//   the target, plus a 5 % margin that does not cross zero, with 1-2-5 ticks. Results outside it are
//   drawn as open triangles on the edge they fall beyond, and the legend counts them ("off scale").
// Its <desc> states the scale and ends ("value axis: log10|linear from <low> to <high>").
void write_convergence_svg(const CampaignRecord& record, const std::filesystem::path& path);
// The same drawing as text (the operator console serves it).
std::string convergence_svg(const CampaignRecord& record);

// Writes pareto.svg for an annotated record with two or more objectives (record.objectives), a
// self-contained SVG written atomically like the others, titled "<campaign>: Pareto front".
// - Two objectives (800x480): one marker per ok result with both values (class "result", grey, for
//   dominated counting results; "result front", orange, for the Pareto set; "result ruled-out",
//   hollow red, for results an outcome constraint or failure condition rules out), the front as a
//   step line (class "front") closed off at the reference point unless an end point lies beyond it,
//   the reference point as a green + (class "reference"), axis titles "<objective> [<unit>]
//   (minimize|maximize)", and a legend counting each kind, failures (no values, so no marker) and
//   where each entry of the reference point comes from.
// - Three or more: a lower-triangular grid of 2-D panels, one per pair of objectives, each with
//   one marker per ok result in the same classes (front = the M-dimensional front, not the
//   projection's), the reference point where known, and no step line.
// Its <desc> says "Pareto front: <k> of <n> results" and the reference point. With no results it
// says "no results yet". Throws labloop::Error naming the path when it cannot be written, and
// std::invalid_argument when record.objectives has fewer than two entries (a bug).
void write_pareto_svg(const CampaignRecord& record, const std::filesystem::path& path);
// The same drawing as text (the operator console serves it).
std::string pareto_svg(const CampaignRecord& record);

}  // namespace labloop
