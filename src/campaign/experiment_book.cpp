#include "labloop/campaign/experiment_book.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace labloop {

BookClock::duration saturating_seconds(double s) {
  constexpr double kLongest = 1e9;
  if (!(s > 0)) return BookClock::duration::zero();
  return std::chrono::duration_cast<BookClock::duration>(std::chrono::duration<double>(std::min(s, kLongest)));
}

double overdue_margin(double expected_s) { return std::max(1.0, 0.25 * expected_s); }

InstrumentPolicy InstrumentPolicy::of(const InstrumentConfig& config) {
  InstrumentPolicy p;
  p.timeout_s = config.timeout_s;
  p.heartbeat_s = config.heartbeat_s;
  p.retries = config.retries;
  p.retry_backoff_s = config.retry_backoff_s;
  p.quarantine_after = config.quarantine_after;
  p.reconnect_s = config.reconnect_s;
  return p;
}

ExperimentBook::ExperimentBook(std::vector<InstrumentPolicy> instruments, bool pause_on_failures) : pause_on_failures_(pause_on_failures) {
  instruments_.reserve(instruments.size());
  for (auto& policy : instruments) instruments_.push_back(Instrument{std::move(policy)});
}

void ExperimentBook::dispatched(const std::string& id, const std::string& origin, int attempt, size_t instrument, Clock::time_point now,
                                bool resent) {
  Instrument& inst = instruments_.at(instrument);
  Experiment& e = experiments_[id];
  e.origin = origin;
  e.attempt = attempt;
  if (e.instrument != instrument) {
    leave_instrument(e);
    e.instrument = instrument;
    ++inst.in_flight;
  }
  // Its timeout counts from this `run`.
  e.dispatched = e.last_sent = now;
  e.accepted = false;
  e.deadline.reset();
  e.limit_s = 0;
  if (inst.policy.timeout_s > 0) {
    e.limit_s = inst.policy.timeout_s;
    e.deadline = now + saturating_seconds(e.limit_s);
  }
  if (resent) e.overdue = false;
}

bool ExperimentBook::was_accepted(const std::string& id) const {
  const auto it = experiments_.find(id);
  return it != experiments_.end() && it->second.accepted;
}

bool ExperimentBook::accepted(const std::string& id, std::optional<double> expected_s, std::optional<double> max_s) {
  Experiment& e = experiments_.at(id);
  // A repeat says nothing new: its max_s, journaled nowhere, shortened the deadline without a word.
  if (e.accepted) return false;
  e.accepted = true;
  if (e.instrument) {
    instruments_[*e.instrument].busy_backoff = kFirstBusyBackoff;
    instruments_[*e.instrument].idle_busy_since.reset();
  }
  if (expected_s) e.expected_s = *expected_s;
  if (max_s && (e.limit_s == 0 || *max_s < e.limit_s)) {
    e.limit_s = *max_s;
    e.deadline = e.dispatched + saturating_seconds(*max_s);
  }
  return true;
}

ExperimentBook::Clock::time_point ExperimentBook::rejected_busy(const std::string& id, Clock::time_point now) {
  Experiment& e = experiments_.at(id);
  if (!e.instrument) throw std::logic_error("ExperimentBook: busy rejection of an experiment on no instrument: " + id);
  Instrument& inst = instruments_[*e.instrument];
  leave_instrument(e);
  e.deadline.reset();
  if (inst.in_flight > 0 || !inst.aborted.empty()) inst.idle_busy_since.reset();  // it runs ours: busy with them
  else if (!inst.idle_busy_since) inst.idle_busy_since = now;
  // Backs off while it stays busy, so a driver that always answers "busy" costs two journal
  // lines per kLongestBusyBackoff, not a spinning loop.
  inst.busy_until = now + inst.busy_backoff;
  inst.busy_backoff = std::min<Clock::duration>(2 * inst.busy_backoff, kLongestBusyBackoff);
  return inst.busy_until;
}

void ExperimentBook::result(const std::string& id) {
  auto it = experiments_.find(id);
  if (it == experiments_.end()) throw std::logic_error("ExperimentBook: result for an experiment not in the book: " + id);
  if (it->second.instrument) {
    Instrument& inst = instruments_[*it->second.instrument];
    inst.consecutive_failures = 0;
    inst.lost_before = {};
    inst.times_lost = 0;
    inst.idle_busy_since.reset();
  }
  leave_instrument(it->second);
  experiments_.erase(it);
  ++outcomes_;
}

Settlement ExperimentBook::settle(const std::string& id, Outcome outcome, Clock::time_point now) {
  Settlement s;
  auto it = experiments_.find(id);
  if (it == experiments_.end()) {
    if (outcome != Outcome::discarded) throw std::logic_error("ExperimentBook: an experiment not in the book can only be discarded: " + id);
    return s;
  }
  const Experiment e = std::move(it->second);
  experiments_.erase(it);
  Instrument* inst = e.instrument ? &instruments_[*e.instrument] : nullptr;
  if (inst) --inst->in_flight;
  s.attempt = e.attempt;

  const auto final_failure = [&](bool learn) {
    s.learn = learn;
    if (!learn) return;
    ++outcomes_;
    ++failures_;
    // Burning the budget on a broken setup helps nobody: stop proposing.
    if (pause_on_failures_ && !stopping_ && failures_ >= kPauseAfterFailures && 2 * failures_ > outcomes_) {
      s.pause = Pause{failures_, outcomes_};
      stopping_ = true;
    }
  };
  // Not a verdict on the point: the same point gets another attempt under a new id after a
  // backoff, up to the instrument's `retries`; after that it counts as failed and the planner
  // learns so. A stopping campaign starts nothing new, and its failures are no verdicts.
  const auto retry_or_fail = [&] {
    const InstrumentPolicy policy = inst ? inst->policy : InstrumentPolicy{};
    if (e.attempt > policy.retries || stopping_) return final_failure(!stopping_);
    Retry r;
    r.attempt = e.attempt + 1;
    r.id = e.origin + "-r" + std::to_string(r.attempt);
    r.after_s = policy.retry_backoff_s * std::pow(2.0, e.attempt - 1);
    r.not_before = now + saturating_seconds(r.after_s);
    s.retry = std::move(r);
  };

  // The driver answered for a run (failed, or rejected for good): what it was lost for before
  // no longer adds up toward reconnect_s.
  const auto answered_for_it = [&] {
    if (!inst) return;
    inst->lost_before = {};
    inst->times_lost = 0;
  };
  switch (outcome) {
    case Outcome::driver_error:
    case Outcome::out_of_spec:
      answered_for_it();
      if (inst) s.quarantine = count_failure(*inst, *e.instrument);
      final_failure(true);
      break;
    case Outcome::rejected:
      answered_for_it();
      final_failure(true);
      break;
    case Outcome::timeout:
    case Outcome::refused_by_driver:
    case Outcome::forgotten:  // sent 4 times, never listed as running, never answered
      if (inst && outcome != Outcome::refused_by_driver) inst->aborted.emplace(id, Instrument::Aborted{.at = now});  // its place is kept until it stops
      if (inst) s.quarantine = count_failure(*inst, *e.instrument);
      retry_or_fail();
      break;
    case Outcome::conflict:
    case Outcome::shutting_down:
    case Outcome::aborted_at_instrument:
    case Outcome::instrument_changed:
    case Outcome::instrument_lost:
      retry_or_fail();
      break;
    case Outcome::discarded:
      final_failure(false);
      break;
  }
  return s;
}

std::string_view state_text(InstrumentState state) {
  switch (state) {
    case InstrumentState::ready: return "ready";
    case InstrumentState::lost: return "lost: no answer; its experiments wait for it to come back";
    case InstrumentState::quarantined: return "quarantined: no more experiments go there";
    case InstrumentState::quarantined_and_lost: return "quarantined and silent: no more experiments go there, and its running ones are given up unless it answers";
  }
  return "unknown";
}

std::vector<Late> ExperimentBook::check_deadlines(Clock::time_point now) {
  std::vector<Late> late;
  for (auto& [id, e] : experiments_) {
    if (!e.instrument) continue;
    const Instrument& inst = instruments_[*e.instrument];
    // A lost instrument's experiments wait for it (up to reconnect_s): it may have finished them.
    if (e.deadline && now > *e.deadline && !is_lost(inst.state)) {
      late.push_back(Late{id, Late::Kind::timed_out, e.limit_s});
    } else if (e.expected_s && now > e.dispatched + saturating_seconds(*e.expected_s + overdue_margin(*e.expected_s))) {
      e.overdue = true;
      if (!e.overdue_reported) {
        e.overdue_reported = true;
        late.push_back(Late{id, Late::Kind::overdue, *e.expected_s});
      }
    }
  }
  return late;
}

std::vector<Unlisted> ExperimentBook::reconcile(size_t instrument, const std::set<std::string>& running, Clock::time_point now) {
  // Sent this recently, the run may simply not have reached the driver before its pong left.
  const auto settle_time = saturating_seconds(2 * instruments_.at(instrument).policy.heartbeat_s);
  std::vector<Unlisted> unlisted;
  for (auto& [id, e] : experiments_) {
    if (e.instrument != instrument || running.count(id) || now - e.last_sent <= settle_time) continue;
    if (++e.resends > kMostResends) {
      unlisted.push_back(Unlisted{id, false});
    } else {
      unlisted.push_back(Unlisted{id, true});
      e.last_sent = now;
      e.accepted = false;
    }
  }
  return unlisted;
}

std::vector<std::string> ExperimentBook::still_running_after_abort(size_t instrument, const std::set<std::string>& running) {
  std::vector<std::string> listed;
  auto& aborted = instruments_.at(instrument).aborted;
  for (auto it = aborted.begin(); it != aborted.end();) {
    if (!running.count(it->first)) {
      it = aborted.erase(it);
      continue;
    }
    if (!std::exchange(it->second.listed, true)) listed.push_back(it->first);
    ++it;
  }
  return listed;
}

bool ExperimentBook::stopped(size_t instrument, const std::string& id) { return instruments_.at(instrument).aborted.erase(id) > 0; }

void ExperimentBook::instrument_lost(size_t instrument, Clock::time_point now) {
  Instrument& inst = instruments_.at(instrument);
  inst.state = is_quarantined(inst.state) ? InstrumentState::quarantined_and_lost : InstrumentState::lost;
  inst.lost_since = now;
  ++inst.times_lost;
}

std::optional<double> ExperimentBook::answered(size_t instrument, Clock::time_point now) {
  Instrument& inst = instruments_.at(instrument);
  if (inst.state != InstrumentState::lost) return std::nullopt;  // a quarantined one does not come back
  inst.state = InstrumentState::ready;
  inst.lost_before += now - inst.lost_since;
  return std::chrono::duration<double>(now - inst.lost_since).count();
}

// The interval doubles: a fresh socket throws away whatever the old one had not read yet, so a
// driver (or a link, or a loaded machine) slower to connect than the interval would never be
// heard again (a socket whose connection is open is not relinked at all: the campaign asks
// Instrument::connection_up() first). 2 heartbeats first, as a dropped connection is the usual cause and should come
// back at once; at most 16, so one that came back is found within seconds at the default 1 s.
Relink ExperimentBook::relink_due(size_t instrument, Clock::time_point now) {
  Instrument& inst = instruments_.at(instrument);
  if (inst.state != InstrumentState::lost) return Relink::not_due;
  const bool first = inst.relinked < inst.lost_since;
  if (first) {
    inst.relinks = 0;
  } else {
    const int heartbeats = std::min(2 << std::clamp(inst.relinks - 1, 0, 8), kMostRelinkHeartbeats);
    if (now - inst.relinked < saturating_seconds(inst.policy.heartbeat_s * heartbeats)) return Relink::not_due;
  }
  inst.relinked = now;
  ++inst.relinks;
  return first ? Relink::first : Relink::again;
}

std::optional<GiveUp> ExperimentBook::give_up_if_due(size_t instrument, Clock::time_point now) {
  Instrument& inst = instruments_.at(instrument);
  if (!is_lost(inst.state) || inst.lost_before + (now - inst.lost_since) <= saturating_seconds(inst.policy.reconnect_s)) return std::nullopt;
  GiveUp g;
  if (inst.state == InstrumentState::lost)
    g.quarantine = Quarantine{.instrument = instrument, .cause = QuarantineCause::lost_too_long, .lost_for_s = inst.policy.reconnect_s,
                              .times_lost = std::max(1, inst.times_lost)};
  inst.state = InstrumentState::quarantined;  // no longer waited for
  g.experiments = experiments_on(instrument);
  return g;
}

std::optional<GiveUp> ExperimentBook::changed_limits(size_t instrument) {
  Instrument& inst = instruments_.at(instrument);
  if (is_quarantined(inst.state)) return std::nullopt;
  quarantine(inst);
  return GiveUp{Quarantine{instrument, QuarantineCause::changed_limits}, experiments_on(instrument)};
}

GiveUp ExperimentBook::key_refused(size_t instrument, Clock::time_point now) {
  if (!is_lost(instruments_.at(instrument).state) && !is_quarantined(instruments_.at(instrument).state)) instrument_lost(instrument, now);
  Instrument& inst = instruments_.at(instrument);
  GiveUp g;
  if (!is_quarantined(inst.state)) g.quarantine = Quarantine{.instrument = instrument, .cause = QuarantineCause::key_refused};
  inst.state = InstrumentState::quarantined;  // no longer waited for
  g.experiments = experiments_on(instrument);
  return g;
}

GiveUp ExperimentBook::no_welcome(size_t instrument, double waited_s) {
  Instrument& inst = instruments_.at(instrument);
  GiveUp g;
  if (!is_quarantined(inst.state)) g.quarantine = Quarantine{.instrument = instrument, .cause = QuarantineCause::no_welcome, .lost_for_s = waited_s};
  quarantine(inst);
  g.experiments = experiments_on(instrument);
  return g;
}

std::optional<Quarantine> ExperimentBook::quarantine_if_stalled(size_t instrument, Clock::time_point now) {
  Instrument& inst = instruments_.at(instrument);
  if (inst.state != InstrumentState::ready) return std::nullopt;  // lost: give_up_if_due's to decide
  const Clock::duration limit = saturating_seconds(inst.policy.reconnect_s);
  Quarantine q{.instrument = instrument, .lost_for_s = inst.policy.reconnect_s};
  if (inst.idle_busy_since && inst.in_flight == 0 && inst.aborted.empty() && now - *inst.idle_busy_since > limit) {
    q.cause = QuarantineCause::busy_too_long;
  } else {
    // Only one a pong listed since: one never heard of again (a forgotten run, a driver between
    // losses) is not known to run.
    const auto held = std::find_if(inst.aborted.begin(), inst.aborted.end(), [&](const auto& a) { return a.second.listed && now - a.second.at > limit; });
    if (held == inst.aborted.end()) return std::nullopt;
    q.cause = QuarantineCause::abort_ignored;
    q.experiment = held->first;
  }
  quarantine(inst);
  return q;
}

int ExperimentBook::free_slots(size_t instrument, int capacity, Clock::time_point now) const {
  const Instrument& inst = instruments_.at(instrument);
  if (inst.state != InstrumentState::ready || now < inst.busy_until) return 0;
  return std::max(0, capacity - inst.in_flight - static_cast<int>(inst.aborted.size()));
}

bool ExperimentBook::all_quarantined() const {
  return std::all_of(instruments_.begin(), instruments_.end(), [](const Instrument& i) { return is_quarantined(i.state); });
}

bool ExperimentBook::overdue(const std::string& id) const {
  auto it = experiments_.find(id);
  return it != experiments_.end() && it->second.instrument && it->second.overdue;
}

int ExperimentBook::overdue_count() const {
  return static_cast<int>(std::count_if(experiments_.begin(), experiments_.end(),
                                        [](const auto& kv) { return kv.second.instrument && kv.second.overdue; }));
}

std::optional<ExperimentBook::Clock::time_point> ExperimentBook::deadline(const std::string& id) const {
  auto it = experiments_.find(id);
  if (it == experiments_.end()) return std::nullopt;
  return it->second.deadline;
}

void ExperimentBook::leave_instrument(Experiment& e) {
  if (!e.instrument) return;
  --instruments_[*e.instrument].in_flight;
  e.instrument.reset();
}

// Failures the instrument is responsible for, in a row; the streak keeps counting once quarantined.
std::optional<Quarantine> ExperimentBook::count_failure(Instrument& inst, size_t index) {
  if (++inst.consecutive_failures < inst.policy.quarantine_after || is_quarantined(inst.state)) return std::nullopt;
  quarantine(inst);
  return Quarantine{index, QuarantineCause::failures_in_a_row, inst.consecutive_failures};
}

std::vector<std::string> ExperimentBook::experiments_on(size_t instrument) const {
  std::vector<std::string> ids;
  for (const auto& [id, e] : experiments_)
    if (e.instrument == instrument) ids.push_back(id);
  return ids;
}

}  // namespace labloop
