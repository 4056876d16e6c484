#pragma once
// The campaign's reliability policy as a state machine: retries, timeouts, quarantine, the
// failure-rate pause, busy backoff and reconnection. No sockets, no processes, no journal and no
// clock of its own: the campaign loop tells it what happened and when (`now`), and it answers with
// what to do. The loop acts on the answers — journals them, sends `abort`, re-sends `run` — so the
// whole policy can be tested in microseconds with a made-up clock (tests/unit/experiment_book_test.cpp).
//
// It follows the experiments that are on an instrument (dispatched, not yet settled) and those an
// instrument sent back as busy until they are dispatched again; the parameters, the planner and
// the waiting queue stay with the loop. docs/reliability.md describes the policy in words.
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "labloop/campaign/campaign_config.hpp"

namespace labloop {

using BookClock = std::chrono::steady_clock;

// Seconds from a config or a driver (`max_s`, `expected_s`) to clock ticks. Saturates at about
// 31 years: 1e300 s must mean "a very long time", not an overflow into the past. Not positive
// (or NaN): zero.
BookClock::duration saturating_seconds(double s);

// How far past a driver's expected_s an experiment must run to count as overdue: experiments
// whose duration jitters around expected_s are not "overdue" half the time.
double overdue_margin(double expected_s);

// The per-instrument settings the policy uses (InstrumentConfig's defaults, docs/config.md).
struct InstrumentPolicy {
  double timeout_s = 0;          // 0: no limit beyond the driver's max_s
  double heartbeat_s = 1.0;
  int retries = 2;
  double retry_backoff_s = 5.0;
  int quarantine_after = 5;
  double reconnect_s = 300.0;

  static InstrumentPolicy of(const InstrumentConfig& config);
};

// How an experiment ended without a result, as far as the policy is concerned.
enum class Outcome {
  driver_error,          // `failed` from the driver: a verdict on the point, and on the instrument
  out_of_spec,           // a result without a finite objective: as a driver error
  rejected,              // rejected for good (not busy, not a conflict): a verdict on the point only
  conflict,              // the driver holds the id with other parameters: no verdict, retry
  shutting_down,         // `failed`: driver shutting down: no verdict, retry
  aborted_at_instrument, // `failed`: aborted, which labloop did not ask for: no verdict, retry
  timeout,               // past timeout_s / max_s, aborted: retry, and counts against the instrument
  refused_by_driver,     // `run` answered with `error` (internal, bad_message…): as a timeout
  forgotten,             // the driver no longer knows it after 3 re-sends, or went down 3 times while it ran: retry, and counts against the instrument
  instrument_changed,    // its instrument came back with limits that no longer fit: retry
  instrument_lost,       // its instrument was lost, or gave no welcome, for longer than reconnect_s: retry
  discarded,             // operator stop (or the stop grace ran out): no verdict, no retry
};

// Outcomes that are retried (under a new id) while the instrument's `retries` last.
constexpr bool retried(Outcome o) {
  return o != Outcome::driver_error && o != Outcome::out_of_spec && o != Outcome::rejected && o != Outcome::discarded;
}

enum class QuarantineCause { failures_in_a_row, changed_limits, lost_too_long, no_welcome, key_refused, busy_too_long, abort_ignored };

// Where an instrument stands. Lost (silent past its heartbeat) and quarantined (out of service)
// are separate facts, and both can hold at once: an instrument quarantined while silent (a failure
// reported just before it went quiet) still has its running experiments given up after
// reconnect_s, so that combination is a state of its own rather than a pair of flags.
enum class InstrumentState {
  ready,                 // answering and in service
  lost,                  // silent: no new experiments; its running ones wait up to reconnect_s for it
  quarantined,           // out of service: no new experiments; its running ones may still finish
  quarantined_and_lost,  // out of service and silent: its running ones are given up after reconnect_s
};

// The state in words, for log lines ("quarantined: no more experiments go there").
std::string_view state_text(InstrumentState state);

struct Quarantine {
  size_t instrument = 0;
  QuarantineCause cause = QuarantineCause::failures_in_a_row;
  int failures_in_a_row = 0;  // for failures_in_a_row
  double lost_for_s = 0;      // for lost_too_long: its reconnect_s; for no_welcome: how long it gave none
  int times_lost = 1;         // for lost_too_long: the losses since its last result that add up to lost_for_s
  std::string experiment;     // for abort_ignored: the experiment it still runs
};

// The same point again under a new id, after a backoff.
struct Retry {
  std::string id;          // "<origin>-r<attempt>"
  int attempt = 2;
  double after_s = 0;      // retry_backoff_s × 2^(k-1) for the k-th retry
  BookClock::time_point not_before{};
};

// Stop proposing: more than half of at least 5 outcomes since this start failed.
struct Pause {
  int failures = 0;
  int outcomes = 0;
};

// What to do with an experiment that ended without a result, in this order: quarantine its
// instrument (journal that first), then retry it or record the final failure, then pause.
struct Settlement {
  int attempt = 1;                       // the settled attempt (final failures of a retry say which)
  std::optional<Quarantine> quarantine;
  std::optional<Retry> retry;            // set: no verdict yet, the point runs again
  bool learn = false;                    // no retry: true = a failure the planner is told of;
                                         // false = discarded, frees its place in the budget
  std::optional<Pause> pause;
};

// From one look at the clock: experiments that ran out of time or are newly overdue.
struct Late {
  enum class Kind { overdue, timed_out };
  std::string id;
  Kind kind = Kind::overdue;
  double seconds = 0;  // timed_out: the limit that applied; overdue: the driver's expected_s
};

// A pong that does not list an experiment sent a while ago: re-send it (same id), or, after 3
// re-sends, settle it as Outcome::forgotten.
struct Unlisted {
  std::string id;
  bool resend = true;
};

enum class Relink { not_due, first, again };  // first: the first new socket since it was lost

// A lost instrument given up on: quarantine it (unless it already is), then settle each of its
// experiments as Outcome::instrument_lost.
struct GiveUp {
  std::optional<Quarantine> quarantine;
  std::vector<std::string> experiments;
};

class ExperimentBook {
 public:
  using Clock = BookClock;
  static constexpr Clock::duration kFirstBusyBackoff = std::chrono::milliseconds(500);
  static constexpr Clock::duration kLongestBusyBackoff = std::chrono::seconds(30);
  static constexpr int kMostResends = 3;           // re-sends of an unlisted experiment before it counts as forgotten
  static constexpr int kPauseAfterFailures = 5;   // and more than half of all outcomes

  // `pause_on_failures` false: no Pause, however many fail (a campaign file's
  // "stop": {"pause_on_failures": false}, for a search where failing is an expected outcome).
  explicit ExperimentBook(std::vector<InstrumentPolicy> instruments, bool pause_on_failures = true);

  // ---- experiments ----
  // `run` went to `instrument`: its clock starts (again). `resent`: the same id to the same
  // instrument after a reconnect or a resume, which also clears "overdue".
  void dispatched(const std::string& id, const std::string& origin, int attempt, size_t instrument, Clock::time_point now,
                  bool resent = false);
  // The driver's own estimates: past expected_s (and a margin) it is overdue; max_s tightens the
  // deadline when shorter than timeout_s. Ends the instrument's busy backoff. True for the first
  // `accepted` since `run` was last sent, which the campaign journals; the driver's repeats of it
  // are not news (one per `run` is the protocol's), and journaling each let a driver grow the
  // journal at the rate it sent them. Repeats change nothing, their max_s and expected_s included.
  bool accepted(const std::string& id, std::optional<double> expected_s, std::optional<double> max_s);
  // Whether the driver accepted the run last sent for `id` (false for an id not in the book).
  bool was_accepted(const std::string& id) const;
  // Rejected as busy: the experiment leaves the instrument (to be dispatched again, same id) and
  // the instrument gets nothing new until the returned time; the wait doubles up to 30 s while
  // it stays busy.
  Clock::time_point rejected_busy(const std::string& id, Clock::time_point now);
  // A finite result: ends the instrument's failure streak.
  void result(const std::string& id);
  // Ends an experiment without a result: what to do instead. Ids that are not in the book
  // (proposed, never dispatched) may only be discarded.
  Settlement settle(const std::string& id, Outcome outcome, Clock::time_point now);
  // Timeouts (send `abort`, then settle as Outcome::timeout) and newly overdue experiments, in id order.
  std::vector<Late> check_deadlines(Clock::time_point now);
  // A pong listing what the instrument runs: its experiments sent at least 2 heartbeats ago and
  // not listed. Re-sends count as sent now.
  std::vector<Unlisted> reconcile(size_t instrument, const std::set<std::string>& running, Clock::time_point now);

  // An experiment settled as a timeout (aborted) or forgotten keeps its place on the instrument
  // until the driver shows it is no longer running: a pong that leaves it out, or its result (an
  // "aborted" one), or an unknown_experiment error about it (stopped() for the last two). A driver
  // that ignores the abort would otherwise run the retry beside it, past its capacity.
  // The ids this pong lists that were aborted here, each once: the campaign says their places stay taken.
  std::vector<std::string> still_running_after_abort(size_t instrument, const std::set<std::string>& running);
  // `id` was aborted on `instrument` and has now stopped: whether it was (its place is free again).
  bool stopped(size_t instrument, const std::string& id);
  // An instrument that answers but is of no use for longer than reconnect_s, as one lost for that
  // long is not: it rejected every run as busy while it ran none of this campaign's
  // (busy_too_long: another program uses it, or its capacity is declared wrong), or it still runs
  // an experiment aborted here (abort_ignored: its place would stay taken for ever). Quarantines it
  // and says why, once; its running experiments may still finish. nullopt otherwise.
  std::optional<Quarantine> quarantine_if_stalled(size_t instrument, Clock::time_point now);

  // ---- instruments ----
  void instrument_lost(size_t instrument, Clock::time_point now);
  // An answer from a lost instrument that is not quarantined: seconds it was lost for (then say
  // hello again and re-send its experiments); nullopt when there is nothing to do.
  std::optional<double> answered(size_t instrument, Clock::time_point now);
  // While lost: a fresh socket after 2 heartbeats, then after 4, 8 and every 16 (kMostRelinkHeartbeats).
  Relink relink_due(size_t instrument, Clock::time_point now);
  // Heartbeats between fresh sockets at its most (reached after the third).
  static constexpr int kMostRelinkHeartbeats = 16;
  // Lost for longer than reconnect_s, counting every loss since its last result: stop waiting. A
  // driver that answers a pong and is lost again at once (it sends a frame over the size limit on
  // every connection, which closes it) would otherwise come and go forever.
  std::optional<GiveUp> give_up_if_due(size_t instrument, Clock::time_point now);
  // It answers pings on a new connection but gave no welcome that could be checked for
  // `waited_s` (reconnect_s): quarantine it (unless it already is) and settle each listed
  // experiment as Outcome::instrument_lost. Nothing is sent to an unconfirmed connection.
  GiveUp no_welcome(size_t instrument, double waited_s);
  // Its driver's access check refused this controller's key on a reconnection (revoked): no
  // reconnection will be let in, so quarantine it now (unless it already is), lost if it was not,
  // and settle each listed experiment as Outcome::instrument_lost, without waiting reconnect_s.
  GiveUp key_refused(size_t instrument, Clock::time_point now);
  // It came back with limits that no longer fit: quarantine it; each listed experiment gets an
  // `abort` and is settled as Outcome::instrument_changed. nullopt when already quarantined.
  std::optional<GiveUp> changed_limits(size_t instrument);

  // ---- the campaign ----
  // Stopping (any reason): no more retries, and failures from now on are not verdicts.
  void campaign_stopping() { stopping_ = true; }
  bool stopping() const { return stopping_; }

  // ---- questions ----
  int free_slots(size_t instrument, int capacity, Clock::time_point now) const;
  int in_flight(size_t instrument) const { return instruments_.at(instrument).in_flight; }
  InstrumentState state(size_t instrument) const { return instruments_.at(instrument).state; }
  bool lost(size_t instrument) const { return is_lost(state(instrument)); }
  bool quarantined(size_t instrument) const { return is_quarantined(state(instrument)); }
  bool all_quarantined() const;
  int outcomes_since_start() const { return outcomes_; }  // results and failures the planner learnt of
  int consecutive_failures(size_t instrument) const { return instruments_.at(instrument).consecutive_failures; }
  bool overdue(const std::string& id) const;
  int overdue_count() const;
  // The time after which the experiment is timed out, if any.
  std::optional<Clock::time_point> deadline(const std::string& id) const;

 private:
  struct Experiment {
    std::string origin;
    int attempt = 1;
    std::optional<size_t> instrument;  // none: sent back as busy, waiting to go out again
    Clock::time_point dispatched{};
    Clock::time_point last_sent{};
    std::optional<Clock::time_point> deadline;
    double limit_s = 0;
    std::optional<double> expected_s;
    bool overdue = false;
    bool overdue_reported = false;
    int resends = 0;
    bool accepted = false;  // since `run` was last sent
  };
  struct Instrument {
    InstrumentPolicy policy;
    int in_flight = 0;
    InstrumentState state = InstrumentState::ready;
    Clock::time_point lost_since{};
    Clock::duration lost_before{};  // in earlier losses since its last result
    int times_lost = 0;             // since its last result
    Clock::time_point relinked{};
    int relinks = 0;                // fresh sockets in this loss
    int consecutive_failures = 0;
    Clock::time_point busy_until{};
    Clock::duration busy_backoff = kFirstBusyBackoff;
    // Since the first of the busy rejections in a row that came while none of this campaign's
    // experiments ran there; reset by any run it accepts or answers.
    std::optional<Clock::time_point> idle_busy_since;
    struct Aborted {
      Clock::time_point at;  // when it was settled and aborted
      bool listed = false;   // whether a pong listed it since
    };
    std::map<std::string, Aborted> aborted;  // settled and aborted, not yet seen to stop
  };

  static bool is_lost(InstrumentState s) { return s == InstrumentState::lost || s == InstrumentState::quarantined_and_lost; }
  static bool is_quarantined(InstrumentState s) { return s == InstrumentState::quarantined || s == InstrumentState::quarantined_and_lost; }
  // Out of service, silent or not.
  static void quarantine(Instrument& inst) {
    inst.state = is_lost(inst.state) ? InstrumentState::quarantined_and_lost : InstrumentState::quarantined;
  }
  void leave_instrument(Experiment& e);
  std::optional<Quarantine> count_failure(Instrument& inst, size_t index);
  std::vector<std::string> experiments_on(size_t instrument) const;

  std::vector<Instrument> instruments_;
  std::map<std::string, Experiment> experiments_;
  bool stopping_ = false;
  bool pause_on_failures_ = true;
  int outcomes_ = 0;  // since this start: the pause counts afresh after a resume
  int failures_ = 0;
};

}  // namespace labloop
