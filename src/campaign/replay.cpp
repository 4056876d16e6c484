#include "labloop/campaign/replay.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "labloop/campaign/descriptor_copies.hpp"
#include "labloop/campaign/goals.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/wire/instrument_keys.hpp"
#include "labloop/journal/campaign_state.hpp"

namespace labloop {

using nlohmann::json;

CampaignConfig journaled_config(const std::vector<JournalEvent>& events, const std::string& source, const SimulatorCatalogue& simulators) {
  if (events.empty())
    throw JournalError(fmt::format("{}: holds no events; a campaign's journal starts with campaign_started carrying its configuration (a "
                                   "crash before it leaves nothing to resume: run the campaign again)",
                                   source));
  const auto* started = events.front().as<CampaignStartedEvent>();
  if (!started || started->config.is_null())
    throw JournalError(fmt::format("{}: does not start with a campaign_started event carrying the configuration", source));
  // The controller's key is not read here: replay, verify and `enter` need no secret, and an
  // auditor's machine has none. Resume reads it when it signs (campaign.cpp).
  json journaled = started->config;
  std::string controller_key;
  if (const auto key = journaled.find("controller_key"); key != journaled.end()) {
    if (!key->is_string() || key->get<std::string>().empty())
      throw ConfigError(source + " (campaign_started)", "/controller_key", "is not the path of a key pair (the journal was edited or damaged)");
    controller_key = key->get<std::string>();
    journaled.erase(key);
  }
  // Nor are the instruments' key files: resume reads them below, and says so if it cannot.
  std::map<size_t, json> security;
  if (auto instruments = journaled.find("instruments"); instruments != journaled.end() && instruments->is_array())
    for (size_t i = 0; i < instruments->size(); ++i)
      if (auto& ic = (*instruments)[i]; ic.is_object() && ic.contains("security")) {
        security[i] = ic["security"];
        ic.erase("security");
      }
  // A descriptor table named by a path that is gone (the folder or the data directory moved), or
  // whose bytes are no longer those the journal recorded: the copy beside the journal, or the
  // dataset's own file (descriptor_copies.hpp).
  find_moved_descriptors(journaled, std::filesystem::path(source).parent_path(), simulators, started->descriptor_tables);
  CampaignConfig config = parse_campaign_config(journaled.dump(), source + " (campaign_started)", simulators);
  config.controller_key = controller_key;
  for (const auto& [i, paths] : security) {
    if (i >= config.instruments.size()) break;
    InstrumentConfig& ic = config.instruments[i];
    ic.security_paths = paths;
    try {
      if (!paths.is_object() || !paths.value("server_public_key", json()).is_string() || !paths.value("client_keys", json()).is_string())
        throw Error("its security section is not two key file paths (the journal was edited or damaged)");
      ic.keys = InstrumentKeys{read_public_key(paths["server_public_key"].get<std::string>()),
                               read_checked_key_pair(paths["client_keys"].get<std::string>())};
    } catch (const Error& e) {
      ic.keys_error = fmt::format("instrument {}: its keys cannot be read on this machine: {}", ic.name, e.what());
    }
  }
  // `labloop extend` raises the budget by journaling it; the latest extension counts, within the
  // limits extend keeps to (a raise past them, journaled by hand, ran on towards a billion).
  for (size_t i = 0; i < events.size(); ++i)
    if (const auto* extended = events[i].as<BudgetExtendedEvent>()) {
      const auto refuse = [&](const std::string& what) {
        throw JournalError(fmt::format("{}: line {}: budget_extended {}; `labloop extend` never journals that (the journal was edited or "
                                       "damaged): restore journal.jsonl from a copy",
                                       source, i + 1, what));
      };
      if (extended->experiments > kMaxExperiments)
        refuse(fmt::format("raises the budget to {} experiments, past the most a campaign may have ({})", extended->experiments, kMaxExperiments));
      if (config.planner.kind == "bayesian" && extended->experiments > kMostModelledResults)
        refuse(fmt::format("raises the budget to {} experiments, past the {} results the bayesian planner learns from", extended->experiments,
                           kMostModelledResults));
      if (extended->hours && !(*extended->hours > 0 && *extended->hours <= kMaxSeconds / 3600))
        refuse(fmt::format("gives {} hours, where a time budget is more than 0 and at most {:g}", json(*extended->hours).dump(), kMaxSeconds / 3600));
      config.budget.experiments = extended->experiments;
      if (extended->hours) config.budget.hours = *extended->hours;
    }
  return config;
}

CampaignConfig journaled_config(const std::vector<json>& events, const std::string& source, const SimulatorCatalogue& simulators) {
  if (events.empty()) return journaled_config(std::vector<JournalEvent>{}, source, simulators);
  return journaled_config(std::vector<JournalEvent>{decode_event(events.front(), source, 1)}, source, simulators);
}

namespace {

Point point_of(const std::vector<double>& x) {
  Point p(static_cast<Eigen::Index>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) p[static_cast<Eigen::Index>(i)] = x[i];
  return p;
}

// Why a journaled point cannot be the campaign's ("" when it can): the planner is given it as is.
std::string point_problem(const std::vector<double>& x, const Space& space) {
  if (x.size() != static_cast<size_t>(space.cube_dim()))
    return fmt::format("has {} coordinate{}, where the campaign's parameters take {}", x.size(), x.size() == 1 ? "" : "s", space.cube_dim());
  for (double v : x)
    if (!(v >= -1e-9 && v <= 1.0 + 1e-9)) return fmt::format("has the coordinate {}, outside 0 to 1", json(v).dump());
  return {};
}

// Why journaled params cannot be the setting of the journaled point x ("" when they can); x has
// the space's length (point_problem).
std::string setting_problem(const Params& params, const std::vector<double>& x, const Space& space, bool within_bounds) {
  if (within_bounds) {
    if (const std::string outside = space.check_bounds(params); !outside.empty()) return fmt::format("are not within the bounds ({})", outside);
    // The loop never journals a proposal that breaks a linear constraint (campaign.cpp): resume
    // refused to send it as a planner's bug, on every attempt (a red-team report). Within the
    // bounds, what check() finds is a broken constraint.
    if (const std::string broken = space.check(params); !broken.empty()) return fmt::format("break the campaign's constraints ({})", broken);
  }
  Eigen::VectorXd at;
  try {
    at = space.encode(params);
  } catch (const std::exception& bad) {
    return fmt::format("are not a setting of this campaign ({})", bad.what());
  }
  for (Eigen::Index k = 0; k < at.size(); ++k)
    if (!(std::fabs(at[k] - x[static_cast<size_t>(k)]) <= 1e-6))
      return fmt::format("are not the setting of its point (\"x\"): coordinate {} is {} there, {} from the params", k + 1,
                         json(x[static_cast<size_t>(k)]).dump(), json(at[k]).dump());
  return {};
}

std::string show(const Point& p) {
  std::vector<double> v(p.data(), p.data() + p.size());
  return fmt::format("[{:.6g}]", fmt::join(v, ", "));
}

}  // namespace

void check_journaled_points(const std::vector<JournalEvent>& events, const CampaignConfig& config) {
  const Space space = config.space();
  for (const JournalEvent& e : events) {
    const auto* proposed = e.as<ProposedEvent>();
    const auto* prior = e.as<PriorResultEvent>();
    if (!proposed && !prior) continue;
    const std::string what = proposed ? proposed->experiment : fmt::format("the past result of row {}", prior->row);
    const std::string problem = point_problem(proposed ? proposed->x : prior->x, space);
    if (!problem.empty())
      throw JournalError(fmt::format("seq {}: the point (\"x\") of {} {}; the journal was edited or damaged", e.seq, what, problem));
    // The params are what ran (what the instrument was sent, what results.csv shows); the point
    // is what the planner is told. An edit of the params alone, its hash chain made again, passed
    // verify and replay with settings far outside the bounds (a red-team report).
    const Params& params = proposed ? proposed->params : prior->params;
    if (params.is_null()) continue;  // a field some old journals leave out
    // A past result's params come from its file: within the campaign's bounds or not, they are known.
    const std::string params_problem = setting_problem(params, proposed ? proposed->x : prior->x, space, /*within_bounds=*/proposed != nullptr);
    if (!params_problem.empty())
      throw JournalError(fmt::format("seq {}: the params of {} {}; the journal was edited or damaged", e.seq, what, params_problem));
  }
}

ReplayReport replay_journal(const std::vector<JournalEvent>& events, const CampaignConfig& config, Planner& planner, const ReplayWatch& watch) {
  check_journaled_points(events, config);
  // For `watch`: the loop numbers its asks 1, 2, … and journals only those that proposed something.
  int asks_total = 0;
  for (const JournalEvent& e : events)
    if (const auto* p = e.as<ProposedEvent>(); p && p->ask) asks_total = std::max(asks_total, *p->ask);
  // The planner goes on with its own limit afterwards (resume asks it live), thrown or not.
  struct LimitRestored {
    Planner& planner;
    ~LimitRestored() { planner.stretch_time_limit(1.0); }
  } restored{planner};
  const Space space = config.space();
  // What the loop told the planner, from what the journal kept: older journals may carry the
  // objective in the event's "objective" alone.
  auto observation = [&](const Point& at, json values, double objective) {
    if (!values.is_object()) values = json::object();
    if (!values.contains(config.objective.name)) values[config.objective.name] = objective;
    return observe(config, at, values);
  };
  // The journal as folded so far: which experiments were proposed (their points as journaled) and
  // which outcomes were the first, i.e. the ones the planner was told.
  CampaignState state;
  ReplayReport report;
  bool time_limited = false;  // the next ask was cut short by the time limit when first made
  for (size_t i = 0; i < events.size(); ++i) {
    const JournalEvent& e = events[i];
    if (const auto* note = e.as<PlannerNoteEvent>()) {
      time_limited = note->note.find("time limit") != std::string::npos;
      state.apply(e);
      continue;
    }
    if (const auto* first = e.as<ProposedEvent>(); first && !first->retry_of && first->ask) {
      if (watch.stop.stop_requested())
        throw ReplayStopped(fmt::format("stopped while rebuilding the planner from the journal, at ask {} of {}", report.asks + 1, asks_total));
      if (watch.progress) watch.progress(report.asks + 1, asks_total);
      // One ask = the consecutive proposals carrying its number (a retry is not the planner's).
      size_t end = i + 1;
      for (; end < events.size(); ++end) {
        const auto* next = events[end].as<ProposedEvent>();
        if (!next || next->ask != first->ask) break;
      }
      // "pending_open": the experiments open before the ask's first proposal, in proposal order.
      std::vector<std::string> pending_ids = first->pending.value_or(std::vector<std::string>{});
      if (first->pending_open)
        for (const ExperimentState* x : state.open_experiments()) pending_ids.push_back(x->id);
      for (size_t k = i; k < end; ++k) state.apply(events[k]);
      std::vector<Point> pending;
      for (const std::string& id : pending_ids) {
        const ExperimentState* x = state.experiment(id);
        if (!x || !x->proposed)
          throw JournalError(fmt::format("seq {}: pending experiment {} was never proposed", e.seq, json(id).dump()));
        pending.push_back(point_of(x->x));
      }
      const int q = static_cast<int>(end - i);
      planner.stretch_time_limit(time_limited ? 1.0 : kReplayTimeFactor);
      const std::vector<Point> asked = planner.ask(q, pending);
      // Cut short now, the ask may differ for no fault of the journal's: said with the difference.
      const bool cut_now = planner.take_note().find("time limit") != std::string::npos;
      ++report.asks;
      if (time_limited) ++report.time_limited;
      if (cut_now) ++report.replay_time_limited;
      const char* why = time_limited ? " (that ask hit the time limit)" : cut_now ? " (replaying that ask hit the time limit)" : "";
      for (int k = 0; k < q; ++k) {
        const auto& recorded = *events[i + static_cast<size_t>(k)].as<ProposedEvent>();
        const Point want = point_of(recorded.x);
        ++report.proposals;
        if (k >= static_cast<int>(asked.size())) {
          report.differences.push_back(fmt::format("{}: the planner now proposes only {} point(s) in this ask{}", recorded.experiment, asked.size(), why));
          continue;
        }
        const Point got = space.encode(space.decode(asked[static_cast<size_t>(k)]));
        if (got.size() != want.size() || (got - want).cwiseAbs().maxCoeff() > 1e-9)
          report.differences.push_back(fmt::format("{}: journaled {} but the planner now proposes {}{}", recorded.experiment,
                                                   show(want), show(got), why));
      }
      time_limited = false;
      i = end - 1;
      continue;
    }
    // Past results reach the planner where the campaign told it, before its first proposal.
    if (const auto* prior = e.as<PriorResultEvent>()) {
      state.apply(e);
      planner.tell(observation(point_of(prior->x), prior->values, prior->objective));
      ++report.outcomes;
      continue;
    }
    // A correction replaces what the planner was told, where the campaign replaced it.
    if (const auto* corrected = e.as<ResultCorrectedEvent>()) {
      const ExperimentState* x = state.correction_problem(*corrected).empty() ? state.experiment(corrected->experiment) : nullptr;
      if (x && x->outcome == ExperimentOutcome::ok && x->objective && !corrected->previous_error) {
        const Point at = point_of(x->x);
        planner.amend(observation(at, x->values, *x->objective), observation(at, corrected->values, corrected->objective));
      } else if (x && x->outcome == ExperimentOutcome::failed && x->learned && !x->retry_as && corrected->previous_error) {
        const Point at = point_of(x->x);
        planner.amend(Observation::failed(at), observation(at, corrected->values, corrected->objective));
      }
      state.apply(e);
      continue;
    }
    // An outcome reaches the planner when it is the first for a proposed experiment, as in the loop.
    const std::string* id = e.experiment();
    const ExperimentState* before = id ? state.experiment(*id) : nullptr;
    const bool open = before && before->proposed && before->outcome == ExperimentOutcome::open;
    state.apply(e);
    if (!open) continue;
    const ExperimentState& x = *state.experiment(*id);
    if (x.outcome == ExperimentOutcome::open || !x.learned) continue;
    if (x.outcome == ExperimentOutcome::ok) {
      if (!x.objective)
        throw JournalError(fmt::format("seq {}: the result for {} has no objective, in its \"objective\" or its values", e.seq, x.id));
      planner.tell(observation(point_of(x.x), x.values, *x.objective));
    } else {
      planner.tell(Observation::failed(point_of(x.x)));
    }
    ++report.outcomes;
  }
  return report;
}

ReplayReport replay_journal(const std::vector<json>& events, const CampaignConfig& config, Planner& planner) {
  return replay_journal(decode_events(events, "journal"), config, planner);
}

}  // namespace labloop
