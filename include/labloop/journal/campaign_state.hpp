#pragma once
// What a campaign's journal says, folded into one state: its experiments and their outcomes, the
// counts the budget is measured by, the best result, the retry waiting to be proposed, and whether
// and why the campaign finished. Resume, replay, reports, `labloop verify` and the progress display
// read this fold instead of each interpreting events their own way, so they cannot disagree about
// what a journal means.
//
// The rules, as the campaign loop acts:
// - An experiment's first final outcome ("result" or "failed") is the one that counts; later ones
//   are stale (the loop had already moved on) and only noted as problems. After its outcome, an
//   experiment's dispatches are ignored too.
// - Counts the budget is measured by (done, failed, discarded, best) cover proposed experiments
//   only. A line the loop could not have written is a problem (problems()), and what it claims is
//   not recorded: an outcome for an id never proposed, a result for an experiment never
//   dispatched, from another instrument than its own or one the configuration lacks, or whose
//   objective its values contradict; a dispatch or acceptance on such an instrument; a retry of
//   an experiment whose failure did not announce it; a correction of a result no person entered
//   (`labloop enter --correct` corrects only a manual instrument's). The experiment stays as the
//   loop left it, and reports, resume and replay see the campaign without the line. A dispatch,
//   acceptance or rejection of an experiment never proposed, a second campaign_started and one
//   without its configuration are problems too.
// - A failed attempt that names its retry ("retry_as") is followed at once by that retry's
//   "proposed" line; if a crash separated them, resume writes the line (unproposed_retry()).
//
// Params are kept as JSON and points as plain vectors: the journal does not depend on the model.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "labloop/core/outcome_condition.hpp"
#include "labloop/journal/events.hpp"

namespace labloop {

enum class ExperimentOutcome { open, ok, failed };

// One experiment (one attempt at a point) as the journal tells it.
struct ExperimentState {
  std::string id;
  bool proposed = false;  // false: only other events name it (a damaged journal)
  std::string origin;     // the planner's proposal this attempt serves (its own id for those)
  std::optional<std::string> retry_of;  // the attempt this one repeats
  int attempt = 1;
  std::optional<int> ask;               // the planner call that proposed it
  nlohmann::json params;                // user units, from its latest "proposed" line
  std::vector<double> x;                // canonical cube point, as journaled
  std::string instrument;               // the last one it was dispatched to or reported by; "" if none
  // While open: the instrument it was dispatched to and not taken back from ("busy" rejections
  // put it back in the queue); resume re-sends `run` there. nullopt: waiting for dispatch.
  std::optional<std::string> assigned_to;

  ExperimentOutcome outcome = ExperimentOutcome::open;
  bool reported = false;            // the outcome came as a "result" event (a "failed" one otherwise)
  std::optional<double> objective;  // ok: the objective (from the result, else from its values)
  nlohmann::json values;            // ok: every measured value
  std::string error;                // failed: why
  bool learned = false;             // the planner was told the outcome
  std::optional<std::string> retry_as;  // failed, to be tried again under this id

  std::string proposed_at, dispatched_at, finished_at;  // journal times; "" when not reached
  int completion_index = 0;  // 1-based order of final outcomes among all experiments; 0 while open
};

struct BestExperiment {
  std::string experiment;
  double objective = 0;
  nlohmann::json params;
};

// A retry announced by a failed attempt ("retry_as") whose "proposed" line is not in the journal.
struct UnproposedRetry {
  std::string retry_of;  // the failed attempt (an open experiment until its failure)
  std::string id;        // the retry's id
};

class CampaignState {
 public:
  // Applies the next event of the journal (events must come in journal order).
  void apply(const JournalEvent& event);
  static CampaignState fold(const std::vector<JournalEvent>& events);

  // ---- the campaign (from its first campaign_started) ----
  bool started() const { return started_; }
  const std::string& campaign() const { return campaign_; }
  const std::optional<std::string>& campaign_id() const { return campaign_id_; }  // absent before 0.2
  const std::string& started_at() const { return started_at_; }  // journal time of the first start
  // The latest time an event carries ("" when none): the journal's own times, compared as text
  // (labloop writes one ISO-8601 form, whose text order is time order). Not always the last
  // line's: a clock set back between runs.
  const std::string& latest_time() const { return latest_time_; }
  const nlohmann::json& config() const { return config_; }       // as journaled; null when absent
  bool dry_run() const { return dry_run_; }
  const std::optional<std::string>& labloop_version() const { return labloop_version_; }  // that started it
  const std::string& objective_name() const { return objective_name_; }
  bool maximize() const { return maximize_; }
  const std::vector<std::string>& parameter_names() const { return parameter_names_; }  // declared order

  // ---- experiments ----
  const std::vector<ExperimentState>& experiments() const { return experiments_; }  // in first-mention order
  const ExperimentState* experiment(const std::string& id) const;
  // Proposed experiments without an outcome, in proposal order.
  std::vector<const ExperimentState*> open_experiments() const;
  const std::optional<UnproposedRetry>& unproposed_retry() const { return unproposed_retry_; }

  // ---- counts, as the loop keeps them (proposed experiments only) ----
  int done() const { return done_; }            // outcomes the planner learned (results and failures)
  int failed() const { return failed_; }        // failures the planner learned
  int discarded() const { return discarded_; }  // ended without a verdict and not retried
  int planner_proposals() const { return planner_proposals_; }  // "proposed" lines that are not retries
  int asks() const { return asks_; }            // the highest ask number
  // Budget used: the planner's proposals, less those discarded without a verdict.
  int used() const { return planner_proposals_ - discarded_; }
  const std::optional<BestExperiment>& best() const { return best_; }  // respecting the goal; ties: first

  // ---- counts, as `labloop verify` reports them ----
  int proposed_lines() const { return proposed_lines_; }    // every "proposed" line, retries included
  int result_outcomes() const { return result_outcomes_; }  // first outcomes that were "result" lines
  int failed_outcomes() const { return failed_outcomes_; }  // first outcomes that were "failed" lines
  int open_count() const;

  // ---- raised budgets (`labloop extend`) and past results (config "prior_results") ----
  const std::optional<int>& budget_experiments() const { return budget_experiments_; }  // the latest extension's
  const std::optional<double>& budget_hours() const { return budget_hours_; }
  const std::vector<PriorResultEvent>& prior_results() const { return prior_results_; }

  // ---- the campaign's course ----
  bool finished() const { return finished_; }  // campaign_finished, not resumed since
  const std::string& finish_reason() const { return finish_reason_; }  // of the last campaign_finished
  // The stop request (from the console) the last run acted on; cleared when the campaign resumes.
  const std::optional<StopRequestedEvent>& stop_request() const { return stop_request_; }
  bool paused() const;   // finished by the failure-rate pause ("paused: …")
  bool stopped_by_error() const;  // finished by an error the run could not go on from ("error: …")
  int resumes() const { return resumes_; }
  std::size_t events() const { return events_; }
  // Bookkeeping the loop never writes, one line each, naming the event's 1-based line.
  const std::vector<std::string>& problems() const { return problems_; }
  // Why the correction cannot apply to the journal folded so far ("" when it does), without the
  // line number: replay tells the planner only the corrections the fold applies.
  std::string correction_problem(const ResultCorrectedEvent& e) const;

 private:
  ExperimentState& record_for(const std::string& id);
  ExperimentState* open_record(const std::string& id);  // a proposed experiment without an outcome
  void start(const CampaignStartedEvent& e, const std::string& time);
  void propose(const ProposedEvent& e, const std::string& time);
  void require_proposed(const JournalEvent& event);  // a problem unless its experiment was proposed
  void touch(const std::string& id, const std::string& instrument, const std::string& time, bool dispatch);
  void reject(const RejectedEvent& e);
  void conclude(const JournalEvent& event);
  // Why a result for the open experiment x could not be the loop's ("" when it could).
  std::string result_problem(const ResultEvent& result, const ExperimentState& x) const;
  bool configured(const std::string& instrument) const;  // named in the configuration, or nothing to check
  bool require_configured(const JournalEvent& event, const std::string& instrument);  // a problem unless configured
  void note_best(const ExperimentState& x);
  bool counts(const ExperimentState& x) const;  // no outcome constraint or failure condition rules it out
  void correct(const ResultCorrectedEvent& e);

  bool started_ = false;
  std::string campaign_;
  std::optional<std::string> campaign_id_;
  std::string started_at_;
  std::string latest_time_;
  nlohmann::json config_;
  bool dry_run_ = false;
  std::optional<std::string> labloop_version_;
  std::string objective_name_;
  bool maximize_ = false;
  // Outcome constraints (false) and failure conditions (true): a result they rule out is never the best.
  std::vector<std::pair<OutcomeCondition, bool>> not_counting_;
  std::vector<std::string> parameter_names_;
  std::vector<std::string> manual_instruments_;  // "manual": true in the config: a person enters their results
  std::vector<std::string> instruments_;         // every instrument the config names

  std::vector<ExperimentState> experiments_;
  std::unordered_map<std::string, std::size_t> index_of_;
  // Proposed experiments without an outcome: proposal number → index in experiments_ (and back),
  // so listing them costs what is open, not all the campaign has run (the loop asks for them at
  // every ask: a million experiments made that quadratic).
  std::map<std::size_t, std::size_t> open_;
  std::unordered_map<std::size_t, std::size_t> open_key_of_;
  std::size_t proposals_seen_ = 0;
  std::optional<UnproposedRetry> unproposed_retry_;
  struct Announced {
    std::string id;
    std::size_t line = 0;
  };
  std::optional<Announced> announced_retry_;  // announced by the line before: the next line must propose it

  int done_ = 0, failed_ = 0, discarded_ = 0, planner_proposals_ = 0, asks_ = 0;
  int completed_ = 0;
  std::optional<BestExperiment> best_;
  int proposed_lines_ = 0, result_outcomes_ = 0, failed_outcomes_ = 0;

  std::optional<int> budget_experiments_;
  std::optional<double> budget_hours_;
  std::vector<PriorResultEvent> prior_results_;

  bool finished_ = false;
  std::string finish_reason_;
  std::optional<StopRequestedEvent> stop_request_;
  int resumes_ = 0;
  std::size_t events_ = 0;
  std::vector<std::string> problems_;
};

}  // namespace labloop
