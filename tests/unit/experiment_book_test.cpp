// The reliability policy without sockets or processes: events in, decisions out, on a made-up
// clock. What these cases pin down is what the journal of a real campaign records (docs/reliability.md).
#include <catch2/catch.hpp>

#include <chrono>

#include "labloop/campaign/experiment_book.hpp"

using namespace labloop;
using namespace std::chrono_literals;
using Clock = ExperimentBook::Clock;

namespace {

const Clock::time_point t0 = Clock::time_point{} + 1000h;  // far from the epoch, as a steady clock is

InstrumentPolicy policy(double timeout_s = 0) {
  InstrumentPolicy p;
  p.timeout_s = timeout_s;
  p.heartbeat_s = 1.0;
  p.retries = 2;
  p.retry_backoff_s = 5.0;
  p.quarantine_after = 3;
  p.reconnect_s = 60.0;
  return p;
}

void send(ExperimentBook& book, const std::string& id, size_t instrument, Clock::time_point now) {
  book.dispatched(id, id, 1, instrument, now);
}

}  // namespace

TEST_CASE("Book: a timeout is retried at the same point under a new id after a doubling backoff, then fails", "[book]") {
  ExperimentBook book({policy(10)});
  send(book, "c-0001", 0, t0);
  CHECK(book.deadline("c-0001") == t0 + 10s);
  CHECK(book.check_deadlines(t0 + 10s).empty());  // at the deadline, not past it
  auto late = book.check_deadlines(t0 + 10s + 1ms);
  REQUIRE(late.size() == 1);
  CHECK(late[0].id == "c-0001");
  CHECK(late[0].kind == Late::Kind::timed_out);
  CHECK(late[0].seconds == 10);

  Clock::time_point now = t0 + 11s;
  Settlement s = book.settle("c-0001", Outcome::timeout, now);
  CHECK(s.attempt == 1);
  REQUIRE(s.retry);
  CHECK(s.retry->id == "c-0001-r2");
  CHECK(s.retry->attempt == 2);
  CHECK(s.retry->after_s == 5.0);
  CHECK(s.retry->not_before == now + 5s);
  CHECK(book.in_flight(0) == 0);

  book.dispatched("c-0001-r2", "c-0001", 2, 0, now + 5s);
  s = book.settle("c-0001-r2", Outcome::timeout, now + 20s);
  REQUIRE(s.retry);
  CHECK(s.retry->id == "c-0001-r3");  // from the origin, not "-r2-r3"
  CHECK(s.retry->after_s == 10.0);    // 5 × 2^(2-1)
  CHECK(s.retry->not_before == now + 30s);

  book.dispatched("c-0001-r3", "c-0001", 3, 0, now + 30s);
  s = book.settle("c-0001-r3", Outcome::timeout, now + 45s);
  CHECK_FALSE(s.retry);  // retries = 2: attempts 2 and 3 were the retries
  CHECK(s.attempt == 3);
  CHECK(s.learn);        // now a verdict: the planner is told
}

TEST_CASE("Book: every no-verdict outcome is retried, verdicts are not", "[book]") {
  for (Outcome o : {Outcome::conflict, Outcome::shutting_down, Outcome::aborted_at_instrument, Outcome::forgotten,
                    Outcome::instrument_changed, Outcome::instrument_lost, Outcome::timeout}) {
    ExperimentBook book({policy()});
    send(book, "a", 0, t0);
    const Settlement s = book.settle("a", o, t0);
    CHECK(s.retry);
    CHECK_FALSE(s.quarantine);
  }
  for (Outcome o : {Outcome::driver_error, Outcome::out_of_spec, Outcome::rejected}) {
    ExperimentBook book({policy()});
    send(book, "a", 0, t0);
    const Settlement s = book.settle("a", o, t0);
    CHECK_FALSE(s.retry);
    CHECK(s.learn);
  }
  ExperimentBook book({policy()});
  send(book, "a", 0, t0);
  const Settlement s = book.settle("a", Outcome::discarded, t0);
  CHECK_FALSE(s.retry);
  CHECK_FALSE(s.learn);
  // Waiting experiments were never dispatched: they can be discarded, nothing else.
  CHECK_FALSE(book.settle("never-sent", Outcome::discarded, t0).learn);
  CHECK_THROWS(book.settle("never-sent", Outcome::timeout, t0));
}

TEST_CASE("Book: retries = 0 fails at once, and a stopping campaign retries nothing and learns nothing", "[book]") {
  InstrumentPolicy none = policy();
  none.retries = 0;
  ExperimentBook book({none, policy()});
  send(book, "a", 0, t0);
  Settlement s = book.settle("a", Outcome::timeout, t0);
  CHECK_FALSE(s.retry);
  CHECK(s.learn);

  send(book, "b", 1, t0);
  send(book, "c", 1, t0);
  book.campaign_stopping();
  s = book.settle("b", Outcome::shutting_down, t0);
  CHECK_FALSE(s.retry);
  CHECK_FALSE(s.learn);  // discarded: frees its place in the budget
  s = book.settle("c", Outcome::driver_error, t0);
  CHECK(s.learn);  // a driver's verdict stays a verdict
  CHECK_FALSE(s.pause);
}

TEST_CASE("Book: quarantine after quarantine_after consecutive instrument failures, and a result resets the streak", "[book]") {
  ExperimentBook book({policy(), policy()});
  int n = 0;
  const auto fail_on_0 = [&](Outcome o) {
    const std::string id = "e" + std::to_string(++n);
    send(book, id, 0, t0);
    return book.settle(id, o, t0);
  };
  CHECK_FALSE(fail_on_0(Outcome::driver_error).quarantine);
  CHECK_FALSE(fail_on_0(Outcome::out_of_spec).quarantine);
  CHECK(book.consecutive_failures(0) == 2);
  send(book, "ok", 0, t0);
  book.result("ok");
  CHECK(book.consecutive_failures(0) == 0);
  // Rejections and no-verdict outcomes (other than timeouts) are not the instrument's fault.
  fail_on_0(Outcome::rejected);
  fail_on_0(Outcome::aborted_at_instrument);
  fail_on_0(Outcome::instrument_lost);
  CHECK(book.consecutive_failures(0) == 0);

  CHECK_FALSE(fail_on_0(Outcome::driver_error).quarantine);
  CHECK_FALSE(fail_on_0(Outcome::timeout).quarantine);
  CHECK(book.free_slots(0, 4, t0) == 3);  // the timed-out one keeps its place until it is seen to stop
  const Settlement third = fail_on_0(Outcome::driver_error);
  REQUIRE(third.quarantine);
  CHECK(third.quarantine->instrument == 0);
  CHECK(third.quarantine->cause == QuarantineCause::failures_in_a_row);
  CHECK(third.quarantine->failures_in_a_row == 3);
  CHECK(book.quarantined(0));
  CHECK(book.free_slots(0, 4, t0) == 0);
  CHECK_FALSE(fail_on_0(Outcome::driver_error).quarantine);  // once
  CHECK_FALSE(book.all_quarantined());
  CHECK(book.free_slots(1, 4, t0) == 4);
}

TEST_CASE("Book: the campaign pauses once at least 5 failed and they are more than half of the outcomes", "[book]") {
  InstrumentPolicy tolerant = policy();
  tolerant.quarantine_after = 1000;
  ExperimentBook book({tolerant});
  int n = 0;
  const auto outcome = [&](bool ok) {
    const std::string id = "e" + std::to_string(++n);
    send(book, id, 0, t0);
    if (ok) {
      book.result(id);
      return Settlement{};
    }
    return book.settle(id, Outcome::driver_error, t0);
  };
  for (int i = 0; i < 4; ++i) CHECK_FALSE(outcome(false).pause);  // all failed, but fewer than 5
  for (int i = 0; i < 5; ++i) outcome(true);
  CHECK_FALSE(outcome(false).pause);  // 5 of 10: half is not more than half
  const Settlement sixth = outcome(false);
  REQUIRE(sixth.pause);
  CHECK(sixth.pause->failures == 6);
  CHECK(sixth.pause->outcomes == 11);
  CHECK(book.stopping());
  CHECK_FALSE(outcome(false).pause);  // once
  // Discarded experiments are no outcomes.
  ExperimentBook fresh({tolerant});
  for (int i = 0; i < 10; ++i) {
    send(fresh, "d" + std::to_string(i), 0, t0);
    CHECK_FALSE(fresh.settle("d" + std::to_string(i), Outcome::discarded, t0).pause);
  }
  CHECK_FALSE(fresh.stopping());
}

TEST_CASE("Book: with pause_on_failures off, every experiment may fail without a pause", "[book]") {
  InstrumentPolicy tolerant = policy();
  tolerant.quarantine_after = 1000;
  ExperimentBook book({tolerant}, /*pause_on_failures=*/false);
  for (int i = 0; i < 50; ++i) {
    const std::string id = "f" + std::to_string(i);
    send(book, id, 0, t0);
    const Settlement s = book.settle(id, Outcome::driver_error, t0);
    CHECK(s.learn);  // each still a failure the planner is told of
    CHECK_FALSE(s.pause);
  }
  CHECK_FALSE(book.stopping());
}

TEST_CASE("Book: a pause stops retries of later no-verdict outcomes in the same round", "[book]") {
  InstrumentPolicy p = policy();
  p.quarantine_after = 1000;
  p.retries = 0;  // every timeout is final
  ExperimentBook book({p});
  for (int i = 0; i < 5; ++i) send(book, "t" + std::to_string(i), 0, t0);
  for (int i = 0; i < 4; ++i) CHECK(book.settle("t" + std::to_string(i), Outcome::timeout, t0).learn);
  CHECK(book.settle("t4", Outcome::timeout, t0).pause);
  send(book, "after", 0, t0);
  const Settlement s = book.settle("after", Outcome::conflict, t0);
  CHECK_FALSE(s.retry);
  CHECK_FALSE(s.learn);
}

TEST_CASE("Book: the driver's max_s tightens the deadline, never loosens it, and 1e300 s saturates instead of overflowing", "[book]") {
  ExperimentBook book({policy(30), policy()});
  send(book, "a", 0, t0);
  book.accepted("a", std::nullopt, 1.5);
  CHECK(book.deadline("a") == t0 + 1500ms);
  auto late = book.check_deadlines(t0 + 1501ms);
  REQUIRE(late.size() == 1);
  CHECK(late[0].seconds == 1.5);  // the limit that applied, for "no result within 1.5 s"

  send(book, "b", 0, t0);
  book.accepted("b", std::nullopt, 100.0);
  CHECK(book.deadline("b") == t0 + 30s);  // timeout_s is shorter

  send(book, "c", 1, t0);  // no timeout_s: only the driver's max_s
  CHECK_FALSE(book.deadline("c"));
  book.accepted("c", std::nullopt, 1e300);
  REQUIRE(book.deadline("c"));
  CHECK(*book.deadline("c") > t0 + std::chrono::hours(24 * 365 * 30));
  late = book.check_deadlines(t0 + std::chrono::hours(24 * 365));  // a year on: "c" is still running
  REQUIRE(late.size() == 2);
  CHECK(late[0].id == "a");
  CHECK(late[1].id == "b");

  CHECK(saturating_seconds(1e300) == saturating_seconds(1e9));
  CHECK(saturating_seconds(1e300) > Clock::duration::zero());
  CHECK(saturating_seconds(-1) == Clock::duration::zero());
  CHECK(saturating_seconds(std::nan("")) == Clock::duration::zero());
  CHECK(saturating_seconds(0.25) == 250ms);
}

TEST_CASE("Book: overdue only past the margin of max(1 s, 25 % of expected_s), reported once", "[book]") {
  CHECK(overdue_margin(0.1) == 1.0);
  CHECK(overdue_margin(4.0) == 1.0);
  CHECK(overdue_margin(100.0) == 25.0);
  ExperimentBook book({policy()});
  send(book, "short", 0, t0);
  book.accepted("short", 0.1, std::nullopt);
  send(book, "long", 0, t0);
  book.accepted("long", 100.0, std::nullopt);
  CHECK(book.check_deadlines(t0 + 1100ms).empty());
  auto late = book.check_deadlines(t0 + 1101ms);
  REQUIRE(late.size() == 1);
  CHECK(late[0].id == "short");
  CHECK(late[0].kind == Late::Kind::overdue);
  CHECK(late[0].seconds == 0.1);
  CHECK(book.overdue("short"));
  CHECK(book.check_deadlines(t0 + 124s).empty());  // "short" reported already; "long" within its 25 s margin
  late = book.check_deadlines(t0 + 125s + 1ms);
  REQUIRE(late.size() == 1);
  CHECK(late[0].id == "long");
  CHECK(book.overdue_count() == 2);
  // Re-sent after a reconnect: its clock starts again and it is no longer overdue.
  book.dispatched("short", "short", 1, 0, t0 + 200s, true);
  CHECK_FALSE(book.overdue("short"));
  CHECK(book.overdue_count() == 1);
}

TEST_CASE("Book: busy backs the instrument off from 0.5 s, doubling up to 30 s, until it accepts again", "[book]") {
  ExperimentBook book({policy()});
  Clock::time_point now = t0;
  const std::vector<Clock::duration> expected{500ms, 1s, 2s, 4s, 8s, 16s, 30s, 30s};
  for (const auto wait : expected) {
    send(book, "b", 0, now);
    CHECK(book.in_flight(0) == 1);
    const auto until = book.rejected_busy("b", now);
    CHECK(until - now == wait);
    CHECK(book.in_flight(0) == 0);
    CHECK(book.free_slots(0, 1, until - 1ms) == 0);
    CHECK(book.free_slots(0, 1, until) == 1);
    now = until;
  }
  send(book, "b", 0, now);
  book.accepted("b", std::nullopt, std::nullopt);
  send(book, "c", 0, now);
  CHECK(book.rejected_busy("c", now) - now == 500ms);
}

TEST_CASE("Book: an unlisted experiment is re-sent after 2 heartbeats, 3 times, then counts as forgotten", "[book]") {
  ExperimentBook book({policy(), policy()});
  send(book, "gone", 0, t0);
  send(book, "running", 0, t0);
  send(book, "elsewhere", 1, t0);
  const std::set<std::string> running{"running"};
  CHECK(book.reconcile(0, running, t0 + 2s).empty());  // just sent: the pong may have crossed it
  Clock::time_point now = t0 + 2s + 1ms;
  for (int resend = 1; resend <= 3; ++resend) {
    const auto unlisted = book.reconcile(0, running, now);
    REQUIRE(unlisted.size() == 1);
    CHECK(unlisted[0].id == "gone");
    CHECK(unlisted[0].resend);
    CHECK(book.reconcile(0, running, now + 1s).empty());  // counts as sent just now
    now += 2s + 1ms;
  }
  const auto unlisted = book.reconcile(0, running, now);
  REQUIRE(unlisted.size() == 1);
  CHECK_FALSE(unlisted[0].resend);
  const Settlement s = book.settle("gone", Outcome::forgotten, now);
  REQUIRE(s.retry);
  CHECK(s.retry->id == "gone-r2");
}

TEST_CASE("Book: a lost instrument takes no work, is relinked after 2 heartbeats, then 4, 8 and 16, and comes back, or is given up after reconnect_s", "[book]") {
  ExperimentBook book({policy(5), policy()});
  send(book, "a", 0, t0);
  send(book, "b", 0, t0);
  send(book, "c", 1, t0);
  const Clock::time_point lost_at = t0 + 1s;
  book.instrument_lost(0, lost_at);
  CHECK(book.lost(0));
  CHECK(book.free_slots(0, 8, lost_at) == 0);
  CHECK(book.check_deadlines(t0 + 10s).empty());  // no timeouts while it is lost: it may come back with results

  CHECK(book.relink_due(0, lost_at) == Relink::first);
  CHECK(book.relink_due(0, lost_at + 1s) == Relink::not_due);
  CHECK(book.relink_due(0, lost_at + 2s) == Relink::again);
  CHECK(book.relink_due(1, lost_at + 2s) == Relink::not_due);  // not lost

  SECTION("while it stays silent, twice as long between fresh sockets each time, up to 16 heartbeats") {
    // A fresh socket drops what the old one had not read: an answer slower than the interval
    // would otherwise never be heard.
    CHECK(book.relink_due(0, lost_at + 5s) == Relink::not_due);
    CHECK(book.relink_due(0, lost_at + 6s) == Relink::again);
    CHECK(book.relink_due(0, lost_at + 13s) == Relink::not_due);
    CHECK(book.relink_due(0, lost_at + 14s) == Relink::again);
    CHECK(book.relink_due(0, lost_at + 29s) == Relink::not_due);
    CHECK(book.relink_due(0, lost_at + 30s) == Relink::again);
    CHECK(book.relink_due(0, lost_at + 45s) == Relink::not_due);
    CHECK(book.relink_due(0, lost_at + 46s) == Relink::again);
  }

  SECTION("it answers: reconnected after the time it was lost; its experiments are re-sent by the loop") {
    const auto after = book.answered(0, lost_at + 2500ms);
    REQUIRE(after);
    CHECK(*after == Approx(2.5));
    CHECK_FALSE(book.lost(0));
    CHECK_FALSE(book.answered(0, lost_at + 3s));  // once
    CHECK(book.in_flight(0) == 2);
    book.dispatched("a", "a", 1, 0, lost_at + 2500ms, true);
    CHECK(book.deadline("a") == lost_at + 7500ms);  // its timeout counts from the re-sent run
    CHECK(book.free_slots(0, 8, lost_at + 3s) == 6);
    CHECK_FALSE(book.give_up_if_due(0, lost_at + 120s));
    // Lost again later: the first relink of this loss says so again, and the intervals start at 2 again.
    book.instrument_lost(0, lost_at + 200s);
    CHECK(book.relink_due(0, lost_at + 200s) == Relink::first);
    CHECK(book.relink_due(0, lost_at + 201s) == Relink::not_due);
    CHECK(book.relink_due(0, lost_at + 202s) == Relink::again);
  }
  SECTION("it stays silent: given up after reconnect_s, quarantined, its experiments retried elsewhere") {
    CHECK_FALSE(book.give_up_if_due(0, lost_at + 60s));
    const auto gave_up = book.give_up_if_due(0, lost_at + 60s + 1ms);
    REQUIRE(gave_up);
    REQUIRE(gave_up->quarantine);
    CHECK(gave_up->quarantine->cause == QuarantineCause::lost_too_long);
    CHECK(gave_up->quarantine->lost_for_s == 60);
    CHECK(gave_up->experiments == std::vector<std::string>{"a", "b"});
    CHECK(book.quarantined(0));
    CHECK_FALSE(book.lost(0));
    CHECK_FALSE(book.give_up_if_due(0, lost_at + 120s));
    CHECK_FALSE(book.answered(0, lost_at + 120s));  // a quarantined instrument does not come back
    for (const auto& id : gave_up->experiments) {
      const Settlement s = book.settle(id, Outcome::instrument_lost, lost_at + 61s);
      CHECK(s.retry);
      CHECK_FALSE(s.quarantine);
    }
    CHECK(book.in_flight(0) == 0);
    CHECK_FALSE(book.all_quarantined());
  }
}

TEST_CASE("Book: an instrument back with other limits is quarantined and its experiments are aborted and retried", "[book]") {
  ExperimentBook book({policy(), policy()});
  send(book, "a", 0, t0);
  send(book, "b", 1, t0);
  const auto changed = book.changed_limits(0);
  REQUIRE(changed);
  REQUIRE(changed->quarantine);
  CHECK(changed->quarantine->cause == QuarantineCause::changed_limits);
  CHECK(changed->experiments == std::vector<std::string>{"a"});
  CHECK_FALSE(book.changed_limits(0));
  CHECK(book.settle("a", Outcome::instrument_changed, t0).retry);
  book.changed_limits(1);
  CHECK(book.all_quarantined());
}

TEST_CASE("Book: an experiment the driver forgets counts against the instrument, as a timeout does", "[book]") {
  ExperimentBook book({policy(), policy()});
  for (int k = 1; k <= 3; ++k) {
    const std::string id = "f" + std::to_string(k);
    send(book, id, 0, t0);
    const Settlement s = book.settle(id, Outcome::forgotten, t0);
    CHECK(s.retry);  // still no verdict on the point
    CHECK(s.quarantine.has_value() == (k == 3));
  }
  CHECK(book.quarantined(0));
}

TEST_CASE("Book: losses add up toward reconnect_s until a result, so a driver that comes back only to be lost again is given up", "[book]") {
  ExperimentBook book({policy(), policy()});
  send(book, "a", 0, t0);
  // Lost for 7 s, back for a moment, lost again: each loss alone is far below reconnect_s (60 s).
  Clock::time_point now = t0;
  int losses = 0;
  std::optional<GiveUp> gave_up;
  while (!gave_up && losses < 20) {
    book.instrument_lost(0, now);
    ++losses;
    gave_up = book.give_up_if_due(0, now + 7s);
    if (gave_up) break;
    REQUIRE(book.answered(0, now + 7s));
    now += 8s;
  }
  REQUIRE(gave_up);
  CHECK(losses == 9);  // 8 × 7 s = 56 s, then 63 s
  REQUIRE(gave_up->quarantine);
  CHECK(gave_up->quarantine->cause == QuarantineCause::lost_too_long);
  CHECK(gave_up->quarantine->times_lost == 9);
  CHECK(gave_up->experiments == std::vector<std::string>{"a"});

  SECTION("a result in between starts the count afresh") {
    ExperimentBook fresh({policy()});
    send(fresh, "b", 0, t0);
    fresh.instrument_lost(0, t0);
    REQUIRE(fresh.answered(0, t0 + 50s));
    fresh.result("b");
    send(fresh, "c", 0, t0 + 51s);
    fresh.instrument_lost(0, t0 + 52s);
    CHECK_FALSE(fresh.give_up_if_due(0, t0 + 52s + 59s));
    CHECK(fresh.give_up_if_due(0, t0 + 52s + 61s));
  }
  SECTION("so does a failed result") {
    ExperimentBook fresh({policy()});
    send(fresh, "b", 0, t0);
    send(fresh, "c", 0, t0);
    fresh.instrument_lost(0, t0);
    REQUIRE(fresh.answered(0, t0 + 50s));
    fresh.settle("b", Outcome::driver_error, t0 + 50s);
    fresh.instrument_lost(0, t0 + 52s);
    CHECK_FALSE(fresh.give_up_if_due(0, t0 + 52s + 59s));
  }
}

TEST_CASE("Book: a new connection that gives no welcome is given up: quarantined once, its experiments retried elsewhere", "[book]") {
  ExperimentBook book({policy(), policy()});
  send(book, "a", 0, t0);
  send(book, "b", 1, t0);
  const GiveUp first = book.no_welcome(0, 60);
  REQUIRE(first.quarantine);
  CHECK(first.quarantine->cause == QuarantineCause::no_welcome);
  CHECK(first.quarantine->lost_for_s == 60);
  CHECK(first.experiments == std::vector<std::string>{"a"});
  CHECK(book.quarantined(0));
  CHECK(book.settle("a", Outcome::instrument_lost, t0).retry);
  // Already quarantined (say for failures): no second quarantine, but what runs there is still given up.
  send(book, "c", 1, t0);
  for (int k = 0; k < 3; ++k) {
    send(book, "x" + std::to_string(k), 1, t0);
    book.settle("x" + std::to_string(k), Outcome::timeout, t0);
  }
  REQUIRE(book.quarantined(1));
  const GiveUp second = book.no_welcome(1, 60);
  CHECK_FALSE(second.quarantine);
  CHECK(second.experiments == std::vector<std::string>{"b", "c"});
}

TEST_CASE("Book: an instrument's state, including quarantined while silent, and its words", "[book]") {
  ExperimentBook book({policy(), policy()});
  CHECK(book.state(0) == InstrumentState::ready);
  send(book, "a", 0, t0);
  send(book, "b", 0, t0);
  send(book, "c", 0, t0);
  send(book, "d", 0, t0);
  book.instrument_lost(0, t0 + 1s);
  CHECK(book.state(0) == InstrumentState::lost);
  // Failures reported by the silent instrument (before its pong) quarantine it; it stays silent.
  book.settle("a", Outcome::driver_error, t0 + 2s);
  book.settle("b", Outcome::driver_error, t0 + 2s);
  const Settlement third = book.settle("c", Outcome::driver_error, t0 + 2s);
  REQUIRE(third.quarantine);
  CHECK(book.state(0) == InstrumentState::quarantined_and_lost);
  CHECK(book.lost(0));
  CHECK(book.quarantined(0));
  CHECK(book.relink_due(0, t0 + 10s) == Relink::not_due);
  CHECK_FALSE(book.answered(0, t0 + 10s));
  CHECK(book.state(0) == InstrumentState::quarantined_and_lost);
  // Its last experiment is still given up after reconnect_s, with no second quarantine.
  const auto gave_up = book.give_up_if_due(0, t0 + 1s + 60s + 1ms);
  REQUIRE(gave_up);
  CHECK_FALSE(gave_up->quarantine);
  CHECK(gave_up->experiments == std::vector<std::string>{"d"});
  CHECK(book.state(0) == InstrumentState::quarantined);
  CHECK(book.state(1) == InstrumentState::ready);

  CHECK(state_text(InstrumentState::ready) == "ready");
  CHECK(state_text(InstrumentState::quarantined) == "quarantined: no more experiments go there");
  for (const auto s : {InstrumentState::lost, InstrumentState::quarantined_and_lost}) CHECK_FALSE(state_text(s).empty());
}

TEST_CASE("Book: one accepted per run sent is news, the driver's repeats are not (the campaign journals the news only)", "[book]") {
  ExperimentBook book({policy(30)});
  send(book, "a", 0, t0);
  CHECK(book.accepted("a", std::nullopt, 10.0));
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(book.accepted("a", std::nullopt, 5.0));
  // Nor do they move its deadline: the journal keeps the first's max_s, and a repeat's shorter one
  // timed the experiment out early without a word (red-team report).
  CHECK(book.deadline("a") == t0 + 10s);
  // Run sent again, after a reconnect or a resume: its accepted is news again.
  book.dispatched("a", "a", 1, 0, t0 + 1s, true);
  CHECK(book.accepted("a", std::nullopt, std::nullopt));
  CHECK_FALSE(book.accepted("a", std::nullopt, std::nullopt));
  // And after a re-send for a pong that did not list it.
  const auto unlisted = book.reconcile(0, {}, t0 + 10s);
  REQUIRE(unlisted.size() == 1);
  CHECK(unlisted[0].resend);
  CHECK(book.accepted("a", std::nullopt, std::nullopt));
}

TEST_CASE("Book: an aborted experiment keeps its place until the driver shows it stopped, so its retry never runs beside it", "[book]") {
  InstrumentPolicy p = policy(10);
  p.quarantine_after = 10;
  ExperimentBook book({p});
  send(book, "c-0001", 0, t0);
  send(book, "c-0002", 0, t0);
  CHECK(book.free_slots(0, 2, t0) == 0);
  REQUIRE(book.check_deadlines(t0 + 11s).size() == 2);
  CHECK(book.settle("c-0001", Outcome::timeout, t0 + 11s).retry);
  CHECK(book.settle("c-0002", Outcome::timeout, t0 + 11s).retry);
  // Settled, and the instrument still full: both are aborted, not yet stopped.
  CHECK(book.in_flight(0) == 0);
  CHECK(book.free_slots(0, 2, t0 + 11s) == 0);
  // A pong listing both: said once, places kept.
  CHECK(book.still_running_after_abort(0, {"c-0001", "c-0002"}) == std::vector<std::string>{"c-0001", "c-0002"});
  CHECK(book.still_running_after_abort(0, {"c-0001", "c-0002"}).empty());
  CHECK(book.free_slots(0, 2, t0 + 12s) == 0);
  // Its aborted result frees one; a pong without the other frees that.
  CHECK(book.stopped(0, "c-0001"));
  CHECK_FALSE(book.stopped(0, "c-0001"));
  CHECK(book.free_slots(0, 2, t0 + 12s) == 1);
  CHECK(book.still_running_after_abort(0, {"c-0001-r2"}).empty());
  CHECK(book.free_slots(0, 2, t0 + 12s) == 2);
  // A refused run never started: its place is free at once.
  send(book, "c-0003", 0, t0 + 13s);
  CHECK(book.settle("c-0003", Outcome::refused_by_driver, t0 + 13s).retry);
  CHECK(book.free_slots(0, 2, t0 + 13s) == 2);
}

TEST_CASE("Book: an instrument that rejects every run as busy while it runs none of ours is quarantined after reconnect_s", "[book][stalled]") {
  ExperimentBook book({policy(), policy()});  // reconnect_s 60
  Clock::time_point now = t0;
  // Busy while one of ours runs there: no stall (its capacity is full with our own).
  send(book, "a", 1, now);
  book.accepted("a", std::nullopt, std::nullopt);
  send(book, "b", 1, now);
  book.rejected_busy("b", now);
  CHECK_FALSE(book.quarantine_if_stalled(1, now + 120s));
  // Instrument 0 runs nothing of ours and refuses everything: given up after 60 s, once.
  for (; now <= t0 + 60s; now += 5s) {
    send(book, "c", 0, now);
    book.rejected_busy("c", now);
    CHECK_FALSE(book.quarantine_if_stalled(0, now));
  }
  const auto q = book.quarantine_if_stalled(0, now);
  REQUIRE(q);
  CHECK(q->cause == QuarantineCause::busy_too_long);
  CHECK(q->lost_for_s == 60);
  CHECK(book.quarantined(0));
  CHECK_FALSE(book.quarantine_if_stalled(0, now + 1s));
  // A run it accepts starts the count afresh, and so does a result.
  ExperimentBook other({policy()});
  send(other, "d", 0, t0);
  other.rejected_busy("d", t0);
  send(other, "d", 0, t0 + 50s);
  other.accepted("d", std::nullopt, std::nullopt);
  other.result("d");
  send(other, "e", 0, t0 + 55s);
  other.rejected_busy("e", t0 + 55s);
  CHECK_FALSE(other.quarantine_if_stalled(0, t0 + 100s));
  CHECK(other.quarantine_if_stalled(0, t0 + 116s));
}

TEST_CASE("Book: an instrument that still runs an experiment reconnect_s after its abort is quarantined, naming it", "[book][stalled]") {
  ExperimentBook book({policy(5)});
  send(book, "c-0001", 0, t0);
  REQUIRE(book.check_deadlines(t0 + 6s).size() == 1);
  REQUIRE(book.settle("c-0001", Outcome::timeout, t0 + 6s).retry);
  CHECK(book.still_running_after_abort(0, {"c-0001"}) == std::vector<std::string>{"c-0001"});
  CHECK_FALSE(book.quarantine_if_stalled(0, t0 + 66s));
  const auto q = book.quarantine_if_stalled(0, t0 + 67s);
  REQUIRE(q);
  CHECK(q->cause == QuarantineCause::abort_ignored);
  CHECK(q->experiment == "c-0001");
  // One no pong has listed since its abort (a forgotten run, a driver between losses) is not known to run.
  ExperimentBook unheard({policy(5)});
  send(unheard, "c-0004", 0, t0);
  REQUIRE(unheard.settle("c-0004", Outcome::timeout, t0 + 6s).retry);
  CHECK_FALSE(unheard.quarantine_if_stalled(0, t0 + 600s));
  // One that stops in time frees its place and is no stall.
  ExperimentBook prompt({policy(5)});
  send(prompt, "c-0002", 0, t0);
  REQUIRE(prompt.settle("c-0002", Outcome::timeout, t0 + 6s).retry);
  CHECK(prompt.still_running_after_abort(0, {}).empty());
  CHECK_FALSE(prompt.quarantine_if_stalled(0, t0 + 600s));
  // A lost instrument is not judged here (give_up_if_due is).
  ExperimentBook lost({policy(5)});
  send(lost, "c-0003", 0, t0);
  REQUIRE(lost.settle("c-0003", Outcome::timeout, t0 + 6s).retry);
  lost.instrument_lost(0, t0 + 7s);
  CHECK_FALSE(lost.quarantine_if_stalled(0, t0 + 600s));
}
