#pragma once
// The closed loop: start or connect the instruments, then repeatedly ask the planner for as many
// experiments as there are free instrument slots, dispatch them, collect results, and tell the
// planner — until the budget, the target, the time limit or a stop request ends it. Every event
// is journaled (and fsynced) before the loop acts on it; results.csv, convergence.svg and (several
// objectives) pareto.svg are rewritten from the journal's events as results arrive.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/pareto_report.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"

namespace labloop {

struct CampaignOptions {
  bool dry_run = false;                    // replace every instrument by an in-process stand-in
  bool resume = false;                     // continue the campaign journaled in `output` (see replay.hpp)
  std::optional<std::string> output;       // overrides config.output
  std::stop_token stop;                    // stop proposing, let running experiments finish, end
  std::chrono::milliseconds stop_grace{30000};  // how long running experiments get after a stop
  std::filesystem::path simulator;         // labloop-sim to start; empty = next to this program
  // `labloop extend` (with resume): the raise, journaled once every instrument has answered, so an
  // extension that cannot continue (a driver not running) leaves the budget as it was and can be
  // repeated; and the journal it was decided under, held from that reading to the raise, so two
  // extends at once cannot both raise what they read. The campaign takes the journal over.
  std::optional<BudgetExtendedEvent> budget_raise;
  std::shared_ptr<Journal> held_journal;
};

// A snapshot for progress displays.
struct CampaignStatus {
  int budget = 0;
  int done = 0;        // experiments with a final outcome (ok or failed)
  int failed = 0;
  // Results that met "failure": {"when": …}: journaled as results, taught to the planner as
  // failures, and not among `failed` (which counts experiments that gave no result).
  int met_failure_condition = 0;
  int in_flight = 0;
  int overdue = 0;     // running past the driver's expected_s
  std::optional<double> best;  // in the objective's own direction (the first, with several)
  std::string best_experiment;
  nlohmann::json best_params;
  double elapsed_s = 0;
  std::optional<double> eta_s;
  bool planner_thinking = false;
  // Several objectives: the size of the Pareto set and its hypervolume (pareto_report.hpp; the
  // hypervolume is nullopt beyond 4 objectives or while no reference point is known).
  std::optional<int> pareto_size;
  std::optional<double> hypervolume;
};

class CampaignObserver {
 public:
  virtual ~CampaignObserver() = default;
  // Called after each journaled event, with the event as written (decoded once, by the loop).
  virtual void on_event(const JournalEvent& event, const CampaignStatus& status) = 0;
  // Called when the status changes without an event: before the planner is asked for proposals
  // (status.planner_thinking is then set).
  virtual void on_status(const CampaignStatus& status) { (void)status; }
  // Log lines from the loop (malformed messages, ignored late results, …).
  virtual void on_log(const std::string& line) { (void)line; }
};

// Why a campaign stopped. The journal and the summary line carry its text (CampaignSummary::reason,
// campaign_finished's "reason"), which stays as it was; programs decide on this value.
enum class StopReason {
  budget_reached,       // "budget reached"
  target_reached,       // "target reached"
  time_budget_reached,  // "time budget reached"
  stopped_by_operator,  // "stopped by operator" (Ctrl-C, SIGTERM, CampaignOptions::stop)
  paused,               // "paused: N of the last M experiments failed; …" (resume after fixing)
  no_instruments_left,  // "no instruments left" (all quarantined)
  candidates_exhausted, // "every candidate has been tried" (a candidate pool: every row told, none left to run)
};

struct CampaignSummary {
  StopReason stop = StopReason::budget_reached;
  std::string reason;                 // "budget reached", "target reached", … as journaled
  std::filesystem::path output;
  CampaignStatus status;
  // Several objectives: the Pareto set at the end, as the reports show it; nullopt for one.
  std::optional<ParetoSummary> pareto;
  // One objective: the setting the planner recommends among those run (its model's best, not the
  // luckiest noisy measurement); nullopt when the planner has no model or no result counts.
  struct Recommendation {
    std::string experiment;
    nlohmann::json params;
    double measured = 0.0;  // what that experiment measured
  };
  std::optional<Recommendation> recommended;
};

// What `labloop validate --instruments` learns of one instrument.
struct InstrumentCheck {
  std::string instrument;
  std::optional<InstrumentInfo> info;  // what it declared, when it answered
  std::string problem;                 // why it cannot be used; "" when it fits
  bool mismatch = false;               // the problem is the campaign file's (a ConfigError), not a connection
};
// Starts or connects every instrument as `run` would (simulators in a private temporary folder),
// checks each against the campaign (names, limits, outputs) and disconnects. Nothing runs and
// nothing is written to the output directory. One entry per instrument, in file order.
std::vector<InstrumentCheck> check_instruments(const CampaignConfig& config, const CampaignOptions& options);

// The open files (`ulimit -n`) a campaign needs at least: 64, and 24 plus 10 per instrument beyond
// that (ZeroMQ and the journal; each instrument's socket and ZeroMQ's signals, a simulator's pipes
// and log, files its driver or entries are read through). Measured: about 4 per instrument while it
// runs, more while it starts; with fewer, a start failed part-way with "Too many open files".
std::uint64_t open_files_needed(const CampaignConfig& config);
// Throws Error, naming `ulimit -n` and the number needed, when `allowed` is below open_files_needed:
// `run` and `resume` call it before anything is written.
void refuse_too_few_open_files(const CampaignConfig& config, std::uint64_t allowed);

// Where the campaign writes: options.output, else the file's "output" (+ "-dry-run" for a dry run).
std::filesystem::path campaign_output(const CampaignConfig& config, const CampaignOptions& options);

// Which way past a reached stop.target a new campaign aims: "higher" when the first objective is
// maximized, "lower" when minimized (a higher target of a minimized one is met even sooner).
const char* further_than_target(const CampaignConfig& config);

// The controller's key pair named by the campaign's controller_key (it signs the journal); a key
// that cannot be read is a ConfigError at /controller_key.
KeyPair read_controller_key(const CampaignConfig& config);
// Before resume, extend or `enter --correct` write anything to a signed campaign's journal: throws
// ConfigError at /controller_key when `key` is not the one that signed the journal's last
// signature or that a session (campaign_started, campaign_resumed) recorded, and Error naming the
// line when a signature in the journal is not `key`'s valid one of the journal as it is now (it
// was edited after it was signed: signing it again would prove the edit).
void refuse_another_signing_key(const CampaignConfig& config, const std::vector<JournalEvent>& events, const KeyPair& key);

// Runs the campaign to its end. A new campaign writes its journal only once every instrument has
// answered and fits: when it cannot start, the output directory holds no journal and the same run
// can be repeated there. Throws ConfigError when an instrument does not fit the
// campaign, InstrumentError when one cannot be started or reached, JournalError on disk trouble.
CampaignSummary run_campaign(const CampaignConfig& config, const CampaignOptions& options, CampaignObserver* observer = nullptr);

}  // namespace labloop
