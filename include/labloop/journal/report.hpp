#pragma once
// Human-facing outputs derived from a campaign's journal: results.csv (one row per experiment) and
// convergence.svg (best objective so far). Both are pure functions of the journal's fold
// (journal/campaign_state.hpp), so they can be regenerated at any time, during or after a run.
#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "labloop/journal/campaign_state.hpp"

namespace labloop {

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
};

struct CampaignRecord {
  std::string campaign;
  std::string objective_name;
  bool maximize = false;
  std::vector<std::string> parameter_names;   // from the config, in declared order
  std::vector<ExperimentRecord> experiments;  // in proposal order

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

// Writes results.csv: header
//   experiment,instrument,<param1>,…,<objective name>,status,error,proposed_at,dispatched_at,finished_at
// then one row per experiment in proposal order. Fields are quoted per RFC 4180 when they contain a
// comma, quote, CR or LF; lines end with "\n". Numbers are the shortest text that round-trips; the
// objective is empty unless ok. The file is written to a temporary sibling, fsync()ed and renamed over
// `path`, so readers never see half a file. Throws labloop::Error naming the path and the OS reason.
void write_results_csv(const CampaignRecord& record, const std::filesystem::path& path);

// Writes convergence.svg, a self-contained 640x400 SVG: one grey <circle> per ok result with an
// objective (x = its completion_index, so gaps show failures; y = objective), a step line of the best
// so far, axes with 1-2-5 tick labels, and a title "<campaign>: minimize|maximize <objective>". With no
// such results it is a small SVG saying "no results yet". Written atomically like the CSV; throws
// labloop::Error likewise.
void write_convergence_svg(const CampaignRecord& record, const std::filesystem::path& path);

}  // namespace labloop
