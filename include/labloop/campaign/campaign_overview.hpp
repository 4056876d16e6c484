#pragma once
// Where a campaign stands, from its folder alone: running or not (the journal's lock), finished
// and why, the budget used, what is open and where, the best result (or the Pareto set), and when
// the journal last moved. `labloop status DIR` prints it, `--json` gives it to scripts, and the
// operator console (`labloop console`) shows the same struct: one reading of a folder for all of them. Safe
// while the campaign runs (the journal is read, never locked or written).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/pareto_report.hpp"
#include "labloop/journal/campaign_state.hpp"

namespace labloop {

enum class CampaignPhase {
  running,      // a labloop process holds the journal now
  finished,     // budget, target or time reached, or stopped by the operator
  paused,       // stopped by the failure-rate pause: fix the cause, then resume
  error,        // stopped by an error ("error: …"): fix the cause, then resume
  interrupted,  // neither running nor finished: killed, crashed, or the machine went down
};
std::string phase_name(CampaignPhase phase);  // "running", "finished", "paused", "error", "interrupted"

struct OpenExperiment {
  std::string id;
  std::string instrument;  // where it runs; "" while it waits to be sent
  bool manual = false;     // that instrument is a person (not in a dry run, whose people are stand-ins): `labloop pending` lists it
  std::string since;       // journal time it was sent (or proposed, while waiting)
  nlohmann::json params;   // user units
};

// How an instrument stands, as the journal last said (its instrument_* events since the last start
// or resume). While the campaign does not run, none is connected: the last state is kept, and
// the phase says so.
enum class InstrumentState {
  connecting,   // the run started or resumed; not ready yet (or it never was)
  ready,        // answered: ready, reconnected or restarted
  lost,         // silent past its heartbeats; waits up to its reconnect time
  quarantined,  // too many failures or gone for good: gets no more experiments
  released,     // let go at the end of the run (exclusive control)
};
std::string instrument_state_name(InstrumentState state);  // "connecting", "ready", …

struct InstrumentOverview {
  std::string name;
  bool manual = false;  // a person (not in a dry run, whose people are stand-ins)
  InstrumentState state = InstrumentState::connecting;
  std::string since;    // journal time of the event that set the state ("" for connecting at a start)
  std::string driver, version;  // from its last instrument_ready
  int capacity = 0;     // from its last instrument_ready; 0 after a reconnect (the journal does not say)
  int running = 0;      // experiments open on it now
  std::string detail;   // why lost or quarantined; for a ready one, the busy rejections since it last ran one ("" for none)
};

struct CampaignOverview {
  std::string campaign, directory;
  std::vector<std::string> notes;  // what a person must settle first (a displaced journal copy beside it)
  CampaignPhase phase = CampaignPhase::interrupted;
  std::string finish_reason;  // finished, paused or error: the journal's words
  std::optional<StopRequestedEvent> stop_request;  // stopped from the console: who asked, and why
  std::string started_at, last_event_at, labloop_version;
  bool dry_run = false;       // every instrument was a stand-in: no result is a measurement
  int budget = 0;             // experiments, as raised by `labloop extend`
  double hours = 0;           // time budget (0: none)
  int used = 0, results = 0, failed = 0;
  // Attempts that failed without counting: retried under another id, or never run (results.csv
  // lists them as failed rows, so a person counting them there needs this to agree).
  int failed_uncounted = 0;
  std::vector<OpenExperiment> open;  // in proposal order
  std::vector<InstrumentOverview> instruments;  // in the config's order
  std::vector<std::string> parameters;  // declared order, for showing params
  std::string objective;
  bool maximize = false;
  std::optional<BestExperiment> best;   // one objective: the best that counts
  std::optional<ParetoSummary> pareto;  // several objectives
  std::vector<std::string> problems;    // bookkeeping the loop never writes (labloop verify says more)

  nlohmann::json to_json() const;
};

// Reads the journal in `where` (a campaign folder or its journal.jsonl); `simulators` as for
// reading its config (journaled_config). Throws what reading and decoding a journal throw
// (JournalError naming the line), ConfigError for its config.
CampaignOverview campaign_overview(const std::filesystem::path& where, const SimulatorCatalogue& simulators);

// The overview and every experiment's record (annotated with the campaign's goals, as results.csv
// has them), from one reading of the journal: what the operator console shows. The config and
// state they were drawn from come along for what acts on the campaign (the console's entry form
// checks an entry against them as `labloop enter` does).
struct CampaignView {
  CampaignOverview overview;
  CampaignRecord record;
  CampaignConfig config;
  CampaignState state;
};
CampaignView campaign_view(const std::filesystem::path& where, const SimulatorCatalogue& simulators);

}  // namespace labloop
