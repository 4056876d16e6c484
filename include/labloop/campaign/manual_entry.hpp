#pragma once
// Results a person enters by hand (`labloop enter`) for experiments on a manual instrument.
//
// An entry travels as one file, DIR/inbox/<experiment>.json, created exclusively and atomically
// (written to a temporary sibling, fsynced, then linked into place: a reader sees the whole entry
// or none, and a second entry for the same experiment is refused instead of replacing the first).
// The running campaign's manual instrument picks the file up within a second and the result is
// journaled like any instrument's; a stopped campaign finds it when `labloop resume` re-sends the
// experiment. The file stays as the record of who entered what; the journal is the record of
// what counted.
//
// `labloop enter` checks an entry against the journal and the config before writing it (the
// experiment is open on a manual instrument, every value names a declared output, lies in its
// range, the objective is there), so mistakes are refused at the keyboard, not discovered later.
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/journal/campaign_state.hpp"

namespace labloop {

// Stated limits: an inbox file larger than this is not read (an entry is a few hundred bytes).
constexpr std::size_t kMaxEntryBytes = 64 * 1024;
// Rows `labloop enter --csv` takes from one file.
constexpr std::size_t kMaxEntryRows = 10000;
// Bytes of a free-text field a person gives (who entered it, why it failed, why it is corrected):
// far above any name or reason, and far below kMaxEntryBytes, so every entry `enter` saves can be
// read back and recorded.
constexpr std::size_t kMaxEntryText = 1000;

// What a person may enter for a result: the outputs a result must carry (the objectives, then
// the outputs outcome constraints and failure conditions name), then the other declared outputs.
std::vector<std::string> manual_outputs(const CampaignConfig& config);

struct ManualEntry {
  std::string experiment;
  std::map<std::string, double> values;  // ok: the measured values by output name
  std::optional<std::string> failed;     // the experiment failed, and why
  std::string by;                        // who entered it (the OS user unless --by)
  std::string at;                        // when (ISO-8601 UTC)
  std::string source;                    // "command line" or "results.csv row 3"
  // enter --csv: the row's cells under parameter names (`pending --csv` writes the settings sent),
  // which check_entry holds to the experiment's: an edited one would record a result for settings
  // that did not run. Not saved with the entry.
  std::map<std::string, std::string> settings;

  nlohmann::json to_json() const;
  // Throws Error naming `where` when the JSON is not an entry.
  static ManualEntry from_json(const nlohmann::json& j, const std::string& where);
};

std::filesystem::path inbox_dir(const std::filesystem::path& campaign_dir);
std::filesystem::path entry_path(const std::filesystem::path& campaign_dir, const std::string& experiment);

// Creates the entry's file; throws Error when one already exists for the experiment (saying when
// and by whom it was entered) or the disk refuses.
void write_entry(const std::filesystem::path& campaign_dir, const ManualEntry& entry);
// The entry for `experiment`, if one was written. Throws Error when the file is unreadable,
// larger than kMaxEntryBytes or not an entry (a key given twice included).
std::optional<ManualEntry> read_entry(const std::filesystem::path& campaign_dir, const std::string& experiment);
// read_entry, then what `enter` checks of an entry's content (check_entry_content, and that the
// file names its own experiment): a file written into the inbox by hand is held to the same rules.
// Throws Error naming the file and why it is refused; the experiment stays open. `exists_since`:
// when the experiment was proposed; an entry whose "at" is more than an hour (another computer's
// clock) before it is for something else — a file left from another campaign — and is refused.
std::optional<ManualEntry> read_checked_entry(const std::filesystem::path& campaign_dir, const std::string& experiment,
                                              const CampaignConfig& config,
                                              std::optional<std::chrono::system_clock::time_point> exists_since = std::nullopt);

// An experiment waiting for a person: open, and dispatched to a manual instrument.
struct PendingExperiment {
  const ExperimentState* experiment;
  std::string instrument;
  std::optional<ManualEntry> entered;  // entered, not yet recorded by the campaign
  std::string unreadable;              // its entry file exists but cannot be read or is refused: why
};
std::vector<PendingExperiment> pending_experiments(const std::filesystem::path& campaign_dir, const CampaignConfig& config,
                                                    const CampaignState& state);

// Whom a refusal speaks to, naming the fields as they were filled in: `labloop enter`'s options
// (--by, --failed, NAME=VALUE; also an inbox file's refusal) or the console's form (your name
// ("by"), why it failed ("failed"), an output's box). The rules are the same; only the words differ.
enum class EntryWording { command_line, console };

// Why `entry` cannot be accepted ("" when it can): the experiment must be open on a manual
// instrument; values must name the objective or a declared output (with did-you-mean), be finite
// and lie in the declared range; the objective is required unless the entry says it failed.
std::string check_entry(const CampaignConfig& config, const CampaignState& state, const ManualEntry& entry,
                        EntryWording wording = EntryWording::command_line);

// What check_entry checks of the entry itself, whatever the journal says: values or a failure with
// its reason (not both), free text within kMaxEntryText, then check_values. The campaign applies it to every inbox file it reads.
std::string check_entry_content(const CampaignConfig& config, const ManualEntry& entry, EntryWording wording = EntryWording::command_line);

// The value checks alone (names, finite, ranges, the objective present).
std::string check_values(const CampaignConfig& config, const ManualEntry& entry, EntryWording wording = EntryWording::command_line);
// Why `entry` cannot correct its experiment's recorded result ("" when it can): the result must
// be recorded, from a manual instrument, and the new values must pass check_values (--by within
// kMaxEntryText). A failure recorded for it (a person's --failed entered by mistake) may become
// a result, if the planner was told it (not one retried or discarded); a result cannot become a
// failure.
std::string check_correction(const CampaignConfig& config, const CampaignState& state, const ManualEntry& entry);

// Parses "name=value" words from the command line into entry.values; throws Error naming the
// word that is wrong.
void parse_assignments(const std::vector<std::string>& words, ManualEntry& entry);

// A results file for `labloop enter --csv`: a header with "experiment" and output names ("name
// [unit]" is read as "name"; an optional "failed" column holds the reason for failed experiments),
// then one row per experiment. Parameter columns must hold the settings the experiment was sent
// (check_entry), as `pending --csv` writes them. Other columns (instrument, notes) are ignored and
// listed, so a typo in an output's header shows. Rows with no value and no reason are skipped
// (a template not filled in yet); a row whose cell is not a number is refused, as that value on
// the command line is. Throws Error naming the file when it cannot be read as a table.
struct EntryFile {
  std::vector<ManualEntry> entries;
  std::vector<std::pair<ManualEntry, std::string>> refused;  // rows not read, and why
  std::vector<std::string> ignored_columns;
  std::vector<std::size_t> blank_rows;
};
EntryFile read_entry_csv(const std::filesystem::path& path, const CampaignConfig& config);

// Whether a campaign holds `journal` open right now (its lock is taken).
bool campaign_running(const std::filesystem::path& journal);

}  // namespace labloop
