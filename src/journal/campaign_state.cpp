// The fold of a campaign's journal (see campaign_state.hpp for the rules it follows).
#include "labloop/journal/campaign_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

namespace labloop {

namespace {

using nlohmann::json;

std::string string_in(const json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<double> number_in(const json& object, const std::string& key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

CampaignState CampaignState::fold(const std::vector<JournalEvent>& events) {
  CampaignState state;
  for (const JournalEvent& event : events) state.apply(event);
  return state;
}

const ExperimentState* CampaignState::experiment(const std::string& id) const {
  const auto it = index_of_.find(id);
  return it == index_of_.end() ? nullptr : &experiments_[it->second];
}

std::vector<const ExperimentState*> CampaignState::open_experiments() const {
  std::vector<const ExperimentState*> open;
  open.reserve(open_.size());
  for (const auto& [key, index] : open_) open.push_back(&experiments_[index]);
  return open;
}

int CampaignState::open_count() const { return static_cast<int>(open_.size()); }

bool CampaignState::paused() const { return finished_ && finish_reason_.rfind("paused", 0) == 0; }
bool CampaignState::stopped_by_error() const { return finished_ && finish_reason_.rfind("error: ", 0) == 0; }

ExperimentState& CampaignState::record_for(const std::string& id) {
  const auto [it, inserted] = index_of_.try_emplace(id, experiments_.size());
  if (inserted) {
    experiments_.emplace_back();
    experiments_.back().id = id;
    experiments_.back().origin = id;
  }
  return experiments_[it->second];
}

ExperimentState* CampaignState::open_record(const std::string& id) {
  const auto it = index_of_.find(id);
  if (it == index_of_.end()) return nullptr;
  ExperimentState& x = experiments_[it->second];
  return x.proposed && x.outcome == ExperimentOutcome::open ? &x : nullptr;
}

void CampaignState::apply(const JournalEvent& event) {
  const size_t line = ++events_;
  if (event.time.size() == latest_time_.size() || latest_time_.empty())
    latest_time_ = std::max(latest_time_, event.time);
  const EventKind kind = event.kind();
  const std::string* id = event.experiment();

  // The line after a failure that names its retry is that retry's "proposed" line.
  if (announced_retry_) {
    const auto* proposed = event.as<ProposedEvent>();
    if (!proposed || proposed->experiment != announced_retry_->id)
      problems_.push_back(fmt::format("line {}: the retry {} announced at line {} was never proposed", line, announced_retry_->id,
                                      announced_retry_->line));
    announced_retry_.reset();
  }
  if (const auto* failed = event.as<FailedEvent>(); failed && failed->retry_as) announced_retry_ = Announced{*failed->retry_as, line};

  if (finished_ && kind != EventKind::campaign_resumed && kind != EventKind::budget_extended && kind != EventKind::result_corrected &&
      kind != EventKind::journal_signed)
    problems_.push_back(fmt::format("line {}: \"{}\" after campaign_finished", line, event.name()));
  if (line == 1 && kind != EventKind::campaign_started)
    problems_.push_back(fmt::format("line 1 is \"{}\", not campaign_started", event.name()));

  std::visit(
      [&](const auto& e) {
        using Event = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<Event, CampaignStartedEvent>) {
          // A resume writes campaign_resumed; a second start would be a second campaign in one journal.
          if (started_) problems_.push_back(fmt::format("line {}: a second campaign_started (one journal holds one campaign; labloop "
                                                        "writes campaign_resumed when it continues it)", line));
          start(e, event.time);
        } else if constexpr (std::is_same_v<Event, ProposedEvent>) {
          propose(e, event.time);
        } else if constexpr (std::is_same_v<Event, DispatchedEvent>) {
          require_proposed(event);
          if (require_configured(event, e.instrument)) touch(*id, e.instrument, event.time, true);
        } else if constexpr (std::is_same_v<Event, AcceptedEvent>) {
          require_proposed(event);
          if (require_configured(event, e.instrument)) touch(*id, e.instrument, event.time, false);
        } else if constexpr (std::is_same_v<Event, RejectedEvent>) {
          require_proposed(event);
          if (require_configured(event, e.instrument)) reject(e);
        } else if constexpr (std::is_same_v<Event, ResultEvent> || std::is_same_v<Event, FailedEvent>) {
          conclude(event);
        } else if constexpr (std::is_same_v<Event, BudgetExtendedEvent>) {
          budget_experiments_ = e.experiments;
          if (e.hours) budget_hours_ = e.hours;
        } else if constexpr (std::is_same_v<Event, PriorResultEvent>) {
          prior_results_.push_back(e);
        } else if constexpr (std::is_same_v<Event, ResultCorrectedEvent>) {
          correct(e);
        } else if constexpr (std::is_same_v<Event, CampaignFinishedEvent>) {
          finished_ = true;
          finish_reason_ = e.reason;
        } else if constexpr (std::is_same_v<Event, StopRequestedEvent>) {
          // The first of a run stopped it; one that came while it stopped is kept in the journal
          // only (two people pressing Stop at once: status named the second).
          if (!stop_request_) stop_request_ = e;
        } else if constexpr (std::is_same_v<Event, CampaignResumedEvent>) {
          finished_ = false;
          stop_request_.reset();
          ++resumes_;
        }
        // Instrument events, planner notes, signatures and unknown kinds say nothing about experiments.
      },
      event.body);
}

void CampaignState::require_proposed(const JournalEvent& event) {
  const std::string& id = *event.experiment();
  const ExperimentState* x = experiment(id);
  if (!x || !x->proposed) problems_.push_back(fmt::format("line {}: {} for {}, which was never proposed", events_, event.name(), id));
}

bool CampaignState::configured(const std::string& instrument) const {
  // A journal whose configuration lists no instruments (damaged; line 1 says so) cannot tell.
  return instruments_.empty() || instrument.empty() || std::find(instruments_.begin(), instruments_.end(), instrument) != instruments_.end();
}

bool CampaignState::require_configured(const JournalEvent& event, const std::string& instrument) {
  if (configured(instrument)) return true;
  // Kept out of the fold: resume would otherwise wait on (or re-send to) an instrument it has no
  // address for.
  problems_.push_back(fmt::format("line {}: {} for {} names instrument '{}', which the campaign's configuration does not have (it has {}); "
                                  "labloop sends experiments only to its configured instruments",
                                  events_, event.name(), *event.experiment(), instrument, fmt::join(instruments_, ", ")));
  return false;
}

void CampaignState::start(const CampaignStartedEvent& e, const std::string& time) {
  if (started_) return;  // the first one defines the campaign
  started_ = true;
  // Resume and replay read the campaign from here; without it nothing can continue or be checked.
  if (!e.config.is_object())
    problems_.push_back(fmt::format("line {}: campaign_started carries no configuration (\"config\"); labloop always journals it, and "
                                    "resume and replay cannot read the campaign without it",
                                    events_));
  campaign_ = e.campaign;
  campaign_id_ = e.campaign_id;
  started_at_ = time;
  config_ = e.config;
  dry_run_ = e.dry_run;
  labloop_version_ = e.labloop_version;
  if (campaign_.empty()) campaign_ = string_in(config_, "name");
  const json objective = config_.is_object() && config_.contains("objective") ? config_["objective"] : json();
  objective_name_ = string_in(objective, "name");
  maximize_ = string_in(objective, "goal") == "maximize";
  // Conditions that keep a result from counting as the best (journaled in canonical form by the
  // campaign that wrote this config; anything unreadable is ignored here, the config check of
  // resume and replay reports it).
  auto conditions = [&](const json& list) {
    if (!list.is_array()) return;
    for (const json& text : list) {
      OutcomeCondition c;
      if (text.is_string() && parse_outcome_condition(text.get<std::string>(), c).empty()) not_counting_.push_back({c, false});
    }
  };
  if (config_.is_object() && config_.contains("outcome_constraints")) conditions(config_["outcome_constraints"]);
  const size_t constraints = not_counting_.size();
  if (config_.is_object() && config_.contains("failure") && config_["failure"].is_object() && config_["failure"].contains("when"))
    conditions(config_["failure"]["when"]);
  for (size_t i = constraints; i < not_counting_.size(); ++i) not_counting_[i].second = true;
  if (config_.is_object() && config_.contains("parameters") && config_["parameters"].is_array())
    for (const json& p : config_["parameters"]) parameter_names_.push_back(string_in(p, "name"));
  if (config_.is_object() && config_.contains("instruments") && config_["instruments"].is_array())
    for (const json& i : config_["instruments"]) {
      if (i.is_object() && i.value("manual", json(false)) == json(true)) manual_instruments_.push_back(string_in(i, "name"));
      if (const std::string name = string_in(i, "name"); !name.empty()) instruments_.push_back(name);
    }
}

void CampaignState::propose(const ProposedEvent& e, const std::string& time) {
  ++proposed_lines_;
  if (e.retry_of) {
    // The loop proposes a retry right after the failure that names it ("retry_as"), or resume
    // does after a crash between the two lines. Any other is not run: a retry is outside the
    // budget, so an edited one ran an experiment more than the campaign allowed.
    const ExperimentState* earlier = experiment(*e.retry_of);
    const char* why = !earlier || !earlier->proposed                 ? "which was never proposed"
                      : earlier->outcome != ExperimentOutcome::failed ? "which has not failed"
                      : earlier->retry_as != e.experiment             ? "whose failure names another retry, or none"
                                                                      : nullptr;
    if (why) {
      problems_.push_back(fmt::format("line {}: {} is proposed as a retry of {}, {}; labloop proposes a retry only after the failure that "
                                      "announces it (\"retry_as\"), and this one is not run",
                                      events_, e.experiment, *e.retry_of, why));
      return;
    }
  }
  if (unproposed_retry_ && unproposed_retry_->id == e.experiment) unproposed_retry_.reset();
  ExperimentState& x = record_for(e.experiment);
  if (x.proposed) problems_.push_back(fmt::format("line {}: {} proposed twice", events_, e.experiment));
  if (!e.params.is_null()) x.params = e.params;
  if (x.proposed_at.empty()) x.proposed_at = time;
  // Every planner proposal line counts toward the budget and every ask number is taken, as the
  // loop numbers its proposals and asks by them; a repeated line changes nothing else.
  if (!e.retry_of) ++planner_proposals_;
  if (e.ask) asks_ = std::max(asks_, *e.ask);
  if (x.proposed) return;
  x.proposed = true;
  const std::size_t index = index_of_.at(e.experiment);
  open_.emplace(proposals_seen_, index);
  open_key_of_.emplace(index, proposals_seen_++);
  x.x = e.x;
  x.attempt = e.attempt.value_or(1);
  x.ask = e.ask;
  x.retry_of = e.retry_of;
  if (e.retry_of) {
    const ExperimentState* earlier = experiment(*e.retry_of);
    x.origin = earlier && earlier->proposed ? earlier->origin : e.experiment;
  } else {
    x.origin = e.experiment;
  }
}

void CampaignState::touch(const std::string& id, const std::string& instrument, const std::string& time, bool dispatch) {
  ExperimentState& x = record_for(id);
  if (x.outcome != ExperimentOutcome::open) return;  // the loop acted on the outcome; this is stale
  if (!instrument.empty()) x.instrument = instrument;
  if (!dispatch) return;
  x.dispatched_at = time;  // the latest dispatch, matching `instrument` after a re-dispatch
  if (x.proposed) x.assigned_to = instrument;
}

void CampaignState::reject(const RejectedEvent& e) {
  if (ExperimentState* x = open_record(e.experiment); x && e.retry) x->assigned_to.reset();
}

void CampaignState::conclude(const JournalEvent& event) {
  const auto* result = event.as<ResultEvent>();
  const auto* failure = event.as<FailedEvent>();
  const std::string& id = *event.experiment();
  const std::string& instrument = result ? result->instrument : failure->instrument;
  // An outcome the loop could not have written is named and not recorded: it counted toward
  // nothing, but it was the best result, a Pareto member and a row of results.csv, and resume
  // told nobody (a red-team report). The experiment stays as the loop left it: open ones run.
  const auto known = index_of_.find(id);
  if (known == index_of_.end() || !experiments_[known->second].proposed) {
    problems_.push_back(fmt::format("line {}: {} for {}, which was never proposed", events_, event.name(), id));
    return;
  }
  ExperimentState& x = experiments_[known->second];
  // A failure may name no instrument (none could take it); one it names is a configured one.
  if (failure && !require_configured(event, instrument)) return;
  if (x.outcome != ExperimentOutcome::open) {
    // The first outcome is the one the loop acted on.
    problems_.push_back(fmt::format("line {}: a second final outcome ({}) for {}, already {}", events_, event.name(), id,
                                    x.reported ? "result" : "failed"));
    return;
  }
  if (result) {
    const std::string problem = result_problem(*result, x);
    if (!problem.empty()) {
      problems_.push_back(fmt::format("line {}: {}", events_, problem));
      return;
    }
  }

  if (!instrument.empty()) x.instrument = instrument;
  x.finished_at = event.time;
  x.completion_index = ++completed_;
  if (const auto key = open_key_of_.find(known->second); key != open_key_of_.end()) open_.erase(key->second), open_key_of_.erase(key);
  x.reported = result != nullptr;
  x.assigned_to.reset();
  if (result && result->status == "ok") {
    x.outcome = ExperimentOutcome::ok;
    x.values = result->values.is_null() ? json::object() : result->values;
    x.objective = result->objective ? result->objective : number_in(x.values, objective_name_);
    x.learned = true;
  } else {
    x.outcome = ExperimentOutcome::failed;
    x.error = failure ? failure->error : "result status '" + result->status + "'";
    x.learned = failure ? failure->learn : true;
    if (failure) x.retry_as = failure->retry_as;
  }
  ++(result ? result_outcomes_ : failed_outcomes_);
  if (x.outcome == ExperimentOutcome::ok) {
    ++done_;
    note_best(x);
  } else if (x.learned) {
    ++done_;
    ++failed_;
  } else if (!x.retry_as) {
    ++discarded_;
  }
  if (x.retry_as) unproposed_retry_ = UnproposedRetry{x.id, *x.retry_as};
}

std::string CampaignState::result_problem(const ResultEvent& result, const ExperimentState& x) const {
  // A result comes from an instrument it was sent to (a person's entry too: the manual instrument
  // is dispatched to); a failure may come without (no instrument could take it).
  if (x.dispatched_at.empty()) return fmt::format("result for {}, which was never dispatched", x.id);
  // The loop takes a result only from the instrument the experiment runs on, and its objective
  // from its values: a line that says otherwise was not written by it.
  if (!result.instrument.empty() && !x.instrument.empty() && result.instrument != x.instrument)
    return fmt::format("result for {} from instrument '{}', but it was dispatched to '{}'", x.id, result.instrument, x.instrument);
  if (!configured(result.instrument))
    return fmt::format("result for {} from instrument '{}', which the campaign's configuration does not have", x.id, result.instrument);
  if (result.status == "ok" && result.objective && result.values.is_object()) {
    const auto it = result.values.find(objective_name_);
    // Not a number there ("NaN" as a string) is as foreign: the loop records only finite numbers.
    if (it != result.values.end() && (!it->is_number() || it->get<double>() != *result.objective))
      return fmt::format("result for {} gives {} = {} in \"objective\" but {} in its values", x.id, objective_name_,
                         json(*result.objective).dump(), it->dump());
  }
  return {};
}

std::string CampaignState::correction_problem(const ResultCorrectedEvent& e) const {
  const ExperimentState* x = experiment(e.experiment);
  // A failure a person entered by mistake becomes the result they give (previous_error names it);
  // only one the planner was told (not retried, not discarded), as `enter --correct` checks.
  const bool failure = x && x->proposed && x->outcome == ExperimentOutcome::failed && x->learned && !x->retry_as;
  if (e.previous_error && !failure)
    return fmt::format("a correction of a failure of {}, which has no failure the planner was told", e.experiment);
  if (!e.previous_error && (!x || !x->proposed || x->outcome != ExperimentOutcome::ok))
    return fmt::format("a correction for {}, which has no recorded result", e.experiment);
  // `labloop enter --correct` refuses any other (manual_entry.cpp). Applied, an instrument's
  // result edited this way became the best and the Pareto set (a red-team report).
  if (std::find(manual_instruments_.begin(), manual_instruments_.end(), x->instrument) == manual_instruments_.end())
    return fmt::format("a correction for {}, measured by instrument '{}', which is not a manual one; only results a person entered can be "
                       "corrected, and this one is not applied",
                       e.experiment, x->instrument);
  return {};
}

void CampaignState::correct(const ResultCorrectedEvent& e) {
  if (const std::string problem = correction_problem(e); !problem.empty()) {
    problems_.push_back(fmt::format("line {}: {}", events_, problem));
    return;
  }
  ExperimentState* x = &experiments_[index_of_.at(e.experiment)];
  if (e.previous_error) {
    x->outcome = ExperimentOutcome::ok;
    x->error.clear();
    --failed_;  // still an outcome the planner learned: done_ stays
    --failed_outcomes_;
    ++result_outcomes_;
  }
  x->values = e.values.is_null() ? json::object() : e.values;
  x->objective = e.objective;
  // The best may have been the corrected one: look again over every result, in completion order
  // (ties go to the first to finish, as note_best gives them).
  std::vector<const ExperimentState*> done;
  for (const auto& other : experiments_)
    if (other.outcome == ExperimentOutcome::ok && other.proposed) done.push_back(&other);
  std::sort(done.begin(), done.end(), [](const auto* a, const auto* b) { return a->completion_index < b->completion_index; });
  best_.reset();
  for (const auto* other : done) note_best(*other);
}

bool CampaignState::counts(const ExperimentState& x) const {
  for (const auto& [condition, is_failure] : not_counting_) {
    const std::optional<bool> holds = condition.holds_in(x.values);
    // An outcome constraint must hold; a failure condition must not.
    if (is_failure ? holds.value_or(false) : !holds.value_or(false)) return false;
  }
  return true;
}

void CampaignState::note_best(const ExperimentState& x) {
  if (!x.objective || !counts(x)) return;
  const double y = *x.objective;
  if (!best_ || (maximize_ ? y > best_->objective : y < best_->objective)) best_ = BestExperiment{x.id, y, x.params};
}

}  // namespace labloop
