#pragma once
// A pool-based campaign's candidates ("candidates": "plate.csv"): a CSV whose header names the
// parameters (every one, nothing else; "name [unit]" reads as "name") and whose rows are the only
// settings the planner may propose, in user units. Values may be quoted (RFC 4180), so a
// categorical choice may hold commas (a SMILES string).
//
// The whole file is checked before anything starts, and any mistake refuses it (ConfigError at
// /candidates): a row outside the declared space or breaking a linear constraint (the first
// kMaxReportedRows such rows named, by line, with the reason), two rows that are the same setting
// (refused, not merged: a copied row usually means another was meant), an empty pool, more than
// kMaxCandidateRows rows, a file over kMaxCandidateBytes, a field over kMaxCandidateField
// characters. docs/config.md states the limits; docs/decisions/0009-candidate-pools.md the why.
//
// The journal's campaign_started event records the file's absolute path and SHA-256 (to_json),
// and resume and replay read that file again and refuse it when it changed: the pool then is the
// one the campaign's proposals were made from.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/model/candidate_pool.hpp"

namespace labloop {

// Stated limits (docs/config.md).
constexpr std::size_t kMaxCandidateRows = 1000000;
constexpr std::uintmax_t kMaxCandidateBytes = 256ull * 1024 * 1024;
constexpr std::size_t kMaxCandidateField = 1000;
// A new campaign's pool holds at most this many coordinates (rows × the planner's coordinates per
// row, one per choice of a categorical): 800 MB as the planner sees them, about 1.6 GB in all for a
// dry run. A campaign started before the limit resumes with its pool whatever its size.
constexpr std::size_t kMaxCandidateCoordinates = 100000000;

struct CandidateFile {
  std::string source;               // as the config names it
  std::filesystem::path path;       // absolute
  std::string sha256;               // of the file's bytes, lowercase hex
  std::vector<Parameter> parameters;  // the campaign's, in declared order
  // Per row, one number per parameter in that order: the file's value in user units, or a
  // categorical's choice by its index. A row kept as a JSON object took about 400 bytes for four
  // parameters: a million-row file (27 MB) needed 914 MB to read.
  std::vector<double> values;
  std::vector<std::size_t> lines;   // per row, its line in the file (the header is line 1)
  CandidatePool pool;               // per row, Space::canonical(Space::encode(row_params)), same order

  // Row `i`'s settings for the instrument: exactly the file's values (not a decode of the cube
  // point, which may differ in the last digit).
  Params row_params(Eigen::Index i) const;
  // {"file", "sha256", "rows"}: what CampaignStartedEvent::candidates records.
  nlohmann::json to_json() const;
};

// Where config.candidates points: relative paths are relative to the config file's folder.
std::filesystem::path candidates_path(const CampaignConfig& config);

// Reads and checks `path` (default: candidates_path(config)); throws ConfigError (path
// /candidates) naming what is wrong and how to fix it.
CandidateFile read_candidates(const CampaignConfig& config);
CandidateFile read_candidates(const CampaignConfig& config, const std::filesystem::path& path, bool new_campaign = true);

// For resume and replay: the pool of the journaled campaign, read from the file the start event
// recorded, or, when that file is gone (a campaign folder moved to another place or machine),
// from the file of the same name in the campaign folder `folder`, where a new campaign keeps a
// copy (keep_candidates_copy); nothing when the campaign has none. Throws Error when the file
// read has another SHA-256 than the journaled one (an edited pool is a new campaign), or when
// neither can be read (the message says how to put things right).
std::optional<CandidateFile> journaled_candidates(const std::vector<JournalEvent>& events, const CampaignConfig& config,
                                                  const std::filesystem::path& folder = {});

// Copies the candidates file into the campaign folder under its own name (unless it is already
// there), fsynced, so the folder alone resumes, replays and verifies anywhere. Throws Error when
// the copy cannot be written.
void keep_candidates_copy(const CandidateFile& candidates, const std::filesystem::path& folder);

}  // namespace labloop
