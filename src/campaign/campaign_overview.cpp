#include "labloop/campaign/campaign_overview.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "labloop/campaign/manual_entry.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"

namespace labloop {

std::string phase_name(CampaignPhase phase) {
  switch (phase) {
    case CampaignPhase::running: return "running";
    case CampaignPhase::finished: return "finished";
    case CampaignPhase::paused: return "paused";
    case CampaignPhase::error: return "error";
    case CampaignPhase::interrupted: return "interrupted";
  }
  return "interrupted";
}

std::string instrument_state_name(InstrumentState state) {
  switch (state) {
    case InstrumentState::connecting: return "connecting";
    case InstrumentState::ready: return "ready";
    case InstrumentState::lost: return "lost";
    case InstrumentState::quarantined: return "quarantined";
    case InstrumentState::released: return "released";
  }
  return "connecting";
}

namespace {

// Each configured instrument as the journal's instrument events last left it in the current run.
std::vector<InstrumentOverview> instruments_of(const CampaignConfig& config, const std::vector<JournalEvent>& events,
                                               const std::vector<OpenExperiment>& open, bool dry_run) {
  std::vector<InstrumentOverview> list;
  for (const InstrumentConfig& ic : config.instruments) {
    InstrumentOverview i;
    i.name = ic.name;
    i.manual = ic.is_manual() && !dry_run;  // a dry run's "person" is a stand-in, shown as an instrument
    list.push_back(std::move(i));
  }
  const auto named = [&](const std::string& name) -> InstrumentOverview* {
    for (InstrumentOverview& i : list)
      if (i.name == name) return &i;
    return nullptr;
  };
  // Busy rejections in a row per instrument since it last accepted a run, answered one or changed
  // state, and when the first came: a ready instrument that refuses everything is shown as such.
  std::map<std::string, std::pair<int, std::string>> busy;
  const auto set = [&](const std::string& name, InstrumentState state, const std::string& time, std::string detail) {
    if (InstrumentOverview* i = named(name)) {
      i->state = state;
      i->since = time;
      i->detail = std::move(detail);
      busy.erase(name);
    }
  };
  const auto answered = [&](const std::string& name) {
    InstrumentOverview* i = named(name);
    if (i && busy.erase(name) && i->state == InstrumentState::ready) i->detail.clear();
  };
  for (const JournalEvent& e : events) {
    if (e.as<CampaignResumedEvent>()) {
      for (InstrumentOverview& i : list) i.state = InstrumentState::connecting, i.since = e.time, i.detail.clear();
    } else if (const auto* ready = e.as<InstrumentReadyEvent>()) {
      set(ready->instrument, InstrumentState::ready, e.time, "");
      if (InstrumentOverview* i = named(ready->instrument)) i->driver = ready->driver, i->version = ready->version, i->capacity = ready->capacity;
    } else if (const auto* back = e.as<InstrumentReconnectedEvent>()) {
      set(back->instrument, InstrumentState::ready, e.time, "");
      // The driver that answered may be another (restarted with other limits): the journal does
      // not say its capacity, so none is claimed.
      if (InstrumentOverview* i = named(back->instrument)) i->capacity = 0;
    } else if (const auto* restarted = e.as<InstrumentRestartedEvent>()) {
      set(restarted->instrument, InstrumentState::ready, e.time, fmt::format("restarted {} time{}", restarted->restarts, restarted->restarts == 1 ? "" : "s"));
    } else if (const auto* lost = e.as<InstrumentLostEvent>()) {
      set(lost->instrument, InstrumentState::lost, e.time, lost->reason);
    } else if (const auto* quarantined = e.as<InstrumentQuarantinedEvent>()) {
      set(quarantined->instrument, InstrumentState::quarantined, e.time, quarantined->reason);
    } else if (const auto* released = e.as<InstrumentReleasedEvent>()) {
      set(released->instrument, InstrumentState::released, e.time, "");
    } else if (const auto* rejected = e.as<RejectedEvent>(); rejected && rejected->retry) {
      InstrumentOverview* i = named(rejected->instrument);
      if (!i || i->state != InstrumentState::ready) continue;
      auto& [count, since] = busy[rejected->instrument];
      if (count++ == 0) since = e.time;
      i->detail = fmt::format("{} run{} in a row rejected as busy since {}, the last: {}", count, count == 1 ? "" : "s", since, rejected->reason);
    } else if (const auto* accepted = e.as<AcceptedEvent>()) {
      answered(accepted->instrument);
    } else if (const auto* result = e.as<ResultEvent>()) {
      answered(result->instrument);
    } else if (const auto* failed = e.as<FailedEvent>()) {
      answered(failed->instrument);
    }
  }
  for (const OpenExperiment& o : open)
    if (InstrumentOverview* i = named(o.instrument)) ++i->running;
  return list;
}

}  // namespace

CampaignOverview campaign_overview(const std::filesystem::path& where, const SimulatorCatalogue& simulators) {
  return campaign_view(where, simulators).overview;
}

CampaignView campaign_view(const std::filesystem::path& where, const SimulatorCatalogue& simulators) {
  const std::filesystem::path journal = journal_path_of(where);
  // Whether it runs, asked before reading: a campaign that finishes meanwhile then reads as
  // finished, never a finished one as interrupted.
  const bool running = campaign_running(journal);
  JournalEvents contents = read_campaign_journal(journal);
  const std::size_t journal_events = contents.events.size();
  const std::vector<JournalEvent> events = std::move(contents.events);
  CampaignView view;
  view.config = journaled_config(events, journal.string(), simulators);
  view.state = CampaignState::fold(events);
  const CampaignConfig& config = view.config;
  const CampaignState& state = view.state;
  view.record = campaign_record(state);
  annotate_goals(config, view.record);
  CampaignOverview& s = view.overview;
  s.campaign = state.campaign();
  s.directory = journal.parent_path().string();
  for (const auto& copy : displaced_copies(journal)) s.notes.push_back(displaced_copy_note(copy, journal_events));
  s.phase = running ? CampaignPhase::running
            : state.paused() ? CampaignPhase::paused
            : state.stopped_by_error() ? CampaignPhase::error
            : state.finished() ? CampaignPhase::finished
                               : CampaignPhase::interrupted;
  if (!running && state.finished()) s.finish_reason = state.finish_reason();
  s.stop_request = state.stop_request();
  s.started_at = state.started_at();
  if (!events.empty()) s.last_event_at = events.back().time;
  s.labloop_version = state.labloop_version().value_or("");
  s.dry_run = state.dry_run();
  s.budget = state.budget_experiments().value_or(config.budget.experiments);
  s.hours = state.budget_hours().value_or(config.budget.hours);
  s.used = state.used();
  s.failed = state.failed();
  s.failed_uncounted = std::max(0, state.failed_outcomes() - state.failed());
  s.results = state.done() - state.failed();
  for (const ExperimentState* e : state.open_experiments()) {
    OpenExperiment o{e->id, e->assigned_to.value_or(""), false, e->assigned_to ? e->dispatched_at : e->proposed_at, e->params};
    for (const InstrumentConfig& ic : config.instruments)
      if (ic.name == o.instrument) o.manual = ic.is_manual() && !state.dry_run();  // a dry run's "person" is a stand-in
    s.open.push_back(std::move(o));
  }
  s.instruments = instruments_of(config, events, s.open, state.dry_run());
  s.parameters = state.parameter_names();
  s.objective = state.objective_name();
  s.maximize = state.maximize();
  if (config.objectives.size() > 1)
    s.pareto = pareto_summary(view.record);
  else
    s.best = state.best();
  s.problems = state.problems();
  // What resume refuses as well (as verify says): a journaled point or setting the campaign's space
  // cannot hold, such as one an edit put outside its constraints.
  if (s.problems.empty()) try {
      check_journaled_points(events, config);
    } catch (const Error& e) {
      s.problems.push_back(e.what());
    }
  return view;
}

nlohmann::json CampaignOverview::to_json() const {
  // A path is bytes: one that is not UTF-8 is escaped as status writes it (\xff), not turned into U+FFFD,
  // which made two folders read the same; any other as it is.
  nlohmann::json j{{"campaign", campaign}, {"directory", valid_utf8(directory) ? directory : printable(directory)}, {"phase", phase_name(phase)}, {"started_at", started_at},
                   {"last_event_at", last_event_at}, {"budget", budget}, {"used", used}, {"results", results}, {"failed", failed}, {"failed_uncounted", failed_uncounted},
                   {"objective", objective}, {"goal", maximize ? "maximize" : "minimize"}};
  if (!finish_reason.empty()) j["finish_reason"] = finish_reason;
  if (stop_request) j["stop_request"] = {{"by", stop_request->by}, {"reason", stop_request->reason}, {"source", stop_request->source}};
  if (!labloop_version.empty()) j["labloop_version"] = labloop_version;
  if (dry_run) j["dry_run"] = true;
  if (hours > 0) j["hours"] = hours;
  if (!notes.empty()) j["notes"] = notes;
  j["open"] = nlohmann::json::array();
  for (const OpenExperiment& e : open) {
    nlohmann::json o{{"experiment", e.id}, {"since", e.since}, {"params", e.params}};
    if (!e.instrument.empty()) o["instrument"] = e.instrument;
    if (e.manual) o["manual"] = true;
    j["open"].push_back(std::move(o));
  }
  j["instruments"] = nlohmann::json::array();
  for (const InstrumentOverview& i : instruments) {
    nlohmann::json o{{"name", i.name}, {"state", instrument_state_name(i.state)}, {"running", i.running}};
    if (i.manual) o["manual"] = true;
    if (!i.since.empty()) o["since"] = i.since;
    if (!i.driver.empty()) o["driver"] = i.driver, o["version"] = i.version, o["capacity"] = i.capacity;
    if (!i.detail.empty()) o["detail"] = i.detail;
    j["instruments"].push_back(std::move(o));
  }
  if (best) j["best"] = {{"experiment", best->experiment}, {"value", best->objective}, {"params", best->params}};
  if (pareto) {
    nlohmann::json set = nlohmann::json::array();
    for (const ParetoMember& m : pareto->members) {
      nlohmann::json values = nlohmann::json::object();
      for (size_t k = 0; k < m.objectives.size() && k < pareto->objectives.size(); ++k) values[pareto->objectives[k].name] = m.objectives[k];
      set.push_back({{"experiment", m.experiment}, {"values", values}, {"params", m.params}});
    }
    j["pareto"] = std::move(set);
    if (pareto->hypervolume) j["hypervolume"] = *pareto->hypervolume;
  }
  if (!problems.empty()) j["problems"] = problems;
  return j;
}

}  // namespace labloop
