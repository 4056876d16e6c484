// Typed journal events (journal/events.hpp) and the fold every reader uses (journal/campaign_state.hpp).
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/core/version.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/events.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/report.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(LABLOOP_SOURCE_DIR) / "tests/fixtures/v0.1.0";

// One of each kind, with every field the campaign loop writes (optional ones set).
std::vector<JournalEventBody> one_of_each() {
  const json params{{"x1", 1.5}, {"solvent", "THF"}};
  return {
      CampaignStartedEvent{"quickstart", "0123456789abcdef0123456789abcdef", json{{"name", "quickstart"}}, true, "0.3.0", "runs/q"},
      CampaignStartedEvent{.campaign = "described", .candidates = json{{"file", "/data/plate.csv"}, {"sha256", "ab12"}, {"rows", 30}},
                           .descriptor_tables = json{{"/data/ligands.csv", "cd34"}}},
      InstrumentReadyEvent{"sim", "(private)", "labloop-sim", "0.3.0", 4},
      ProposedEvent{"q-0001", params, "bayesian", {0.25, 0.5}, 3, std::vector<std::string>{"q-0000"}, std::nullopt, std::nullopt, nullptr},
      ProposedEvent{"q-0001-r2", params, "bayesian", {0.25, 0.5}, std::nullopt, std::nullopt, "q-0001", 2, 5.0},
      ProposedEvent{.experiment = "q-0002", .params = params, .planner = "bayesian", .x = {0.5, 0.5}, .ask = 4, .pending_open = true},
      DispatchedEvent{"q-0001", "sim", "reconnected"},
      AcceptedEvent{"q-0001", "sim", 2, 30.5},
      RejectedEvent{"q-0001", "sim", "busy: 4 running", true},
      ResultEvent{"q-0001", "sim", "ok", json{{"y", 0.42}, {"z", 1}}, 0.42, json{{"host", "bench-3"}}},
      FailedEvent{"q-0001", "sim", "timeout: no result within 30 s; aborted", false, "q-0001-r2"},
      InstrumentLostEvent{"sim", "no answer for 6 s", 60.0},
      InstrumentReconnectedEvent{"sim", 12.5},
      InstrumentRestartedEvent{"sim", 137, 2},
      InstrumentQuarantinedEvent{"sim", "3 failures in a row"},
      PlannerNoteEvent{"the ask hit the time limit", 1.25},
      CampaignResumedEvent{{"q-0001"}, {"q-0002", "q-0003"}, 7, false, "journal.jsonl: line 40 is incomplete (torn write); ignored"},
      CampaignFinishedEvent{"budget reached", 12, 1, FinishedBest{"q-0001", 0.42, params}},
      BudgetExtendedEvent{20, 12.5, "ana"},
      PriorResultEvent{"earlier.csv", 3, params, {0.25, 0.5}, json{{"y", 1.5}, {"purity", 0.9}}, 1.5},
      ResultCorrectedEvent{"q-0001", json{{"y", 0.5}}, 0.5, json{{"y", 5.0}}, 5.0, "misread", "ana"},
      JournalSignedEvent{18, std::string(64, 'a'), "controller", "curve:0123456789abcdef", std::string(40, 'x'), std::string(128, 'b')},
      InstrumentHeldEvent{"reactor-1", "0123456789abcdef0123456789abcdef", "2026-12-02T14:02:07Z", "2026-12-02T15:02:07Z", "curve:0123456789abcdef"},
      InstrumentReleasedEvent{"reactor-1"},
      StopRequestedEvent{"ana", "reagent ran out", "console"},
  };
}

json line_of(const JournalEventBody& body, std::uint64_t seq) {
  json object = encode_fields(body);
  object["seq"] = seq;
  object["time"] = "2026-11-25T08:30:00.123Z";
  object["event"] = std::string(event_name(body));
  return object;
}

json without_envelope(json object) {
  for (const char* key : {"seq", "time", "event", "hash"}) object.erase(key);
  return object;
}

json event(const std::string& kind, json fields) {
  fields["event"] = kind;
  return fields;
}

json config(const std::string& goal) {
  return json{{"name", "fold"},
              {"parameters", json::array({json{{"name", "a"}}, json{{"name", "b"}}})},
              {"objective", json{{"name", "y"}, {"goal", goal}}}};
}

json proposed(const std::string& id, int ask, double a) {
  return event("proposed", {{"experiment", id}, {"params", {{"a", a}, {"b", 1}}}, {"planner", "sobol"}, {"x", {a, 0.5}}, {"ask", ask},
                            {"pending", json::array()}});
}

json retry(const std::string& id, const std::string& of, int attempt, double a) {
  return event("proposed", {{"experiment", id}, {"params", {{"a", a}, {"b", 1}}}, {"planner", "sobol"}, {"x", {a, 0.5}}, {"retry_of", of},
                            {"attempt", attempt}, {"after_s", 5.0}});
}

json dispatched(const std::string& id, const std::string& instrument) {
  return event("dispatched", {{"experiment", id}, {"instrument", instrument}});
}

json result(const std::string& id, const std::string& instrument, double y) {
  return event("result", {{"experiment", id}, {"instrument", instrument}, {"status", "ok"}, {"values", {{"y", y}}}, {"objective", y}});
}

json failed(const std::string& id, const std::string& instrument, const std::string& error, std::optional<bool> learn = std::nullopt,
            std::optional<std::string> retry_as = std::nullopt) {
  json f{{"experiment", id}, {"instrument", instrument}, {"error", error}};
  if (learn) f["learn"] = *learn;
  if (retry_as) f["retry_as"] = *retry_as;
  return event("failed", f);
}

CampaignState fold_of(std::vector<json> objects) {
  for (size_t i = 0; i < objects.size(); ++i) {
    objects[i]["seq"] = i + 1;
    objects[i]["time"] = fmt::format("2026-11-25T08:{:02}:00.000Z", i);
  }
  return CampaignState::fold(decode_events(objects, "test"));
}

// A campaign on two instruments: a retry after a timeout, a busy rejection, a lost instrument
// whose experiment is retried elsewhere, an operator stop, then a resume that goes on.
std::vector<json> eventful_campaign(const std::string& goal) {
  return {
      event("campaign_started", {{"campaign", "fold"}, {"campaign_id", "feedfacefeedfacefeedfacefeedface"}, {"config", config(goal)},
                                 {"dry_run", false}, {"labloop_version", "0.3.0"}, {"output", "runs/fold"}}),
      event("instrument_ready", {{"instrument", "A"}, {"endpoint", "tcp://a:5555"}, {"driver", "d"}, {"version", "1"}, {"capacity", 2}}),
      event("instrument_ready", {{"instrument", "B"}, {"endpoint", "tcp://b:5555"}, {"driver", "d"}, {"version", "1"}, {"capacity", 1}}),
      proposed("f-0001", 1, 0.1),  // line 4
      proposed("f-0002", 1, 0.2),
      proposed("f-0003", 1, 0.3),
      dispatched("f-0001", "A"),
      dispatched("f-0002", "A"),
      dispatched("f-0003", "B"),
      event("accepted", {{"experiment", "f-0001"}, {"instrument", "A"}, {"expected_s", 1}}),  // line 10
      result("f-0001", "A", 3.0),
      failed("f-0002", "A", "timeout: no result within 30 s; aborted", false, "f-0002-r2"),
      retry("f-0002-r2", "f-0002", 2, 0.2),
      event("rejected", {{"experiment", "f-0003"}, {"instrument", "B"}, {"reason", "busy"}, {"retry", true}}),
      dispatched("f-0002-r2", "A"),  // line 15
      event("instrument_lost", {{"instrument", "A"}, {"reason", "no answer for 6 s"}, {"wait_s", 60.0}}),
      event("instrument_quarantined", {{"instrument", "A"}, {"reason", "lost for 60 s"}}),
      failed("f-0002-r2", "A", "instrument A lost (attempt 2)", false, "f-0002-r3"),
      retry("f-0002-r3", "f-0002-r2", 3, 0.2),
      dispatched("f-0003", "B"),  // line 20
      result("f-0003", "B", 1.0),
      failed("f-0002-r3", "", "not run: campaign stopping (stopped by operator)", false),
      event("campaign_finished", {{"reason", "stopped by operator"}, {"experiments", 2}, {"failed", 0}, {"best", nullptr}}),
      event("campaign_resumed", {{"in_flight", json::array()}, {"waiting", json::array()}, {"replayed_asks", 1}, {"reproduced", true}}),
      proposed("f-0004", 2, 0.4),  // line 25
      proposed("f-0005", 2, 0.5),
      dispatched("f-0004", "B"),
      failed("f-0004", "B", "result from B has no finite value for the objective \"y\""),
      dispatched("f-0005", "B"),
  };
}

}  // namespace

TEST_CASE("Journal events: every kind survives encode and decode, field for field", "[journal_events]") {
  std::uint64_t seq = 0;
  for (const JournalEventBody& body : one_of_each()) {
    const json object = line_of(body, ++seq);
    const JournalEvent decoded = decode_event(object, "test", seq);
    INFO(object.dump());
    CHECK(decoded.body == body);
    CHECK(decoded.name() == event_name(body));
    CHECK(decoded.seq == seq);
    CHECK(decoded.time == "2026-11-25T08:30:00.123Z");
    CHECK(decoded.raw == (decoded.kind() == EventKind::unknown ? object : json()));  // only what has no type of its own
    CHECK(encode_fields(decoded.body).dump() == without_envelope(object).dump());
  }
  CHECK(seq == static_cast<std::uint64_t>(EventKind::unknown) + 3);  // every known kind, "campaign_started" twice and "proposed" thrice
}

TEST_CASE("Journal events: the encoding is the bytes the loop has always written", "[journal_events]") {
  // As campaign.cpp wrote a retry's "proposed" line and a resume's before typed events.
  const json params{{"x1", 2}};
  const json loop_retry{{"experiment", "q-0001-r2"}, {"params", params}, {"planner", "sobol"}, {"x", std::vector<double>{0.5}},
                        {"retry_of", "q-0001"}, {"attempt", 2}, {"after_s", 0}};
  const ProposedEvent typed_retry{.experiment = "q-0001-r2", .params = params, .planner = "sobol", .x = {0.5}, .retry_of = "q-0001",
                                  .attempt = 2, .after_s = 0};
  CHECK(encode_fields(typed_retry).dump() == loop_retry.dump());  // "after_s":0 stays an integer

  const json loop_resumed{{"in_flight", json::array({"a"})}, {"waiting", json::array()}, {"replayed_asks", 4}, {"reproduced", true}};
  CHECK(encode_fields(CampaignResumedEvent{.in_flight = {"a"}, .waiting = {}, .replayed_asks = 4, .reproduced = true}).dump() ==
        loop_resumed.dump());

  // A discarded experiment says learn:false; one the planner learned says nothing about it.
  CHECK_FALSE(encode_fields(FailedEvent{"e", "sim", "boom", true, std::nullopt}).contains("learn"));
  CHECK(encode_fields(CampaignFinishedEvent{"budget reached", 0, 0, std::nullopt})["best"].is_null());
}

TEST_CASE("Journal events: a real journal's lines decode back to what was appended", "[journal_events]") {
  test::TempDir dir;
  const fs::path path = dir / "journal.jsonl";
  const std::vector<JournalEventBody> bodies = one_of_each();
  {
    Journal journal(path);
    for (const JournalEventBody& body : bodies) journal.append(std::string(event_name(body)), encode_fields(body));
  }
  const std::vector<JournalEvent> events = decode_events(read_journal(path).events, path.string());
  REQUIRE(events.size() == bodies.size());
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].body == bodies[i]);
    CHECK(events[i].seq == i + 1);
  }
}

TEST_CASE("Journal events: journals written by 0.1.0 decode, and re-encode to their own fields", "[journal_events]") {
  for (const char* name : {"finished", "interrupted", "mixed", "three", "faulty"}) {
    const JournalContents contents = read_journal(kFixtures / name / "journal.jsonl");
    const std::vector<JournalEvent> events = decode_events(contents.events, name);
    REQUIRE(events.size() == contents.events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      const JournalEvent& e = events[i];
      INFO(name << " seq " << e.seq);
      CHECK(e.kind() != EventKind::unknown);
      CHECK(encode_fields(e.body).dump() == without_envelope(contents.events[i]).dump());
    }
    const CampaignState state = CampaignState::fold(events);
    CHECK(state.problems().empty());
    CHECK_FALSE(state.campaign_id());  // 0.1.0 had no campaign ids
  }
}

TEST_CASE("Journal events: a kind this version does not know is kept, not refused", "[journal_events]") {
  const json object{{"seq", 9}, {"time", "2026-11-25T08:30:00.123Z"}, {"event", "calibration_drift"}, {"instrument", "sim"}, {"ppm", 3}};
  const JournalEvent e = decode_event(object, "test", 9);
  CHECK(e.kind() == EventKind::unknown);
  CHECK(e.name() == "calibration_drift");
  CHECK(e.raw == object);
  CHECK(e.experiment() == nullptr);
  CampaignState state;
  state.apply(decode_event(line_of(CampaignStartedEvent{.campaign = "c", .config = json{{"name", "c"}}}, 1), "test", 1));
  state.apply(e);
  CHECK(state.problems().empty());
}

TEST_CASE("Journal events: a malformed event is a JournalError naming its line", "[journal_events]") {
  const auto error_of = [](const json& object) -> std::string {
    try {
      decode_events({line_of(CampaignStartedEvent{.campaign = "c"}, 1), object}, "runs/q/journal.jsonl");
    } catch (const JournalError& e) {
      return e.what();
    }
    return "(no error)";
  };
  const json good = line_of(ProposedEvent{.experiment = "e1", .params = json::object(), .planner = "sobol", .x = {0.5}, .ask = 1}, 2);

  json no_id = good;
  no_id.erase("experiment");
  CHECK_THAT(error_of(no_id), Catch::Contains("runs/q/journal.jsonl: line 2: the proposed event's \"experiment\" is missing"));
  json bad_x = good;
  bad_x["x"] = json::array({0.5, "half"});
  CHECK_THAT(error_of(bad_x), Catch::Contains("line 2: the proposed event's \"x\" is not an array of numbers"));
  json both_pending = good;  // "pending_open" replaces the list: never both
  both_pending["pending_open"] = true;
  both_pending["pending"] = json::array({"e0"});
  CHECK_THAT(error_of(both_pending), Catch::Contains("line 2: the proposed event's \"pending_open\" comes with a \"pending\" list, which it replaces"));
  json bad_ask = good;
  bad_ask["ask"] = 1.5;
  CHECK_THAT(error_of(bad_ask), Catch::Contains("\"ask\" is not an integer"));
  json bad_params = good;
  bad_params["params"] = "x1=2";
  CHECK_THAT(error_of(bad_params), Catch::Contains("\"params\" is not an object"));
  CHECK_THAT(error_of(json{{"seq", 2}, {"event", "result"}, {"experiment", "e1"}, {"objective", "0.4"}}),
             Catch::Contains("the result event's \"objective\" is not a number"));
  CHECK_THAT(error_of(json{{"seq", 2}, {"event", "failed"}, {"experiment", "e1"}, {"learn", "no"}}),
             Catch::Contains("\"learn\" is not true or false"));
  CHECK_THAT(error_of(json{{"seq", 2}, {"event", "instrument_ready"}, {"instrument", "sim"}, {"capacity", "4"}}),
             Catch::Contains("\"capacity\" is not an integer"));
  CHECK_THAT(error_of(json{{"seq", 2}, {"event", "campaign_finished"}, {"best", json{{"objective", 1}}}}),
             Catch::Contains("\"best\" has no string \"experiment\""));
  CHECK_THAT(error_of(json{{"seq", 2}, {"event", 7}}), Catch::Contains("line 2: has no string \"event\""));
  CHECK_THAT(error_of(json::array({1, 2})), Catch::Contains("line 2: is not a JSON object"));
  // A time labloop never writes: not one, not a real one, or outside the years 2000 to 9999.
  for (const char* time : {"yesterday", "2026-02-30T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "10000-01-01T00:00:00.000Z",
                           "2026-11-25T08:30:00Z", "2026-11-25T08:30:00.1234Z", ""}) {
    INFO(time);
    json bad_time = good;
    bad_time["time"] = time;
    CHECK_THAT(error_of(bad_time), Catch::Contains(fmt::format("line 2: the proposed event's \"time\" is \"{}\", not a time as labloop "
                                                              "writes it", time)));
  }
  json no_time = good;
  no_time["time"] = 20261125;
  CHECK_THAT(error_of(no_time), Catch::Contains("line 2: the proposed event's \"time\" is not a string"));
  json far = good;
  far["time"] = "9999-12-31T23:59:59.999Z";  // later than the clock holds, still a time: no error here
  CHECK(error_of(far) == "(no error)");

  // Through the readers that decode whole journals.
  CHECK_THROWS_AS(summarize({line_of(CampaignStartedEvent{.campaign = "c"}, 1), bad_x}), JournalError);
  test::TempDir dir;
  {
    Journal journal(dir / "journal.jsonl");
    journal.append("campaign_started", encode_fields(CampaignStartedEvent{.campaign = "c"}));
    journal.append("dispatched", {{"experiment", 12}, {"instrument", "sim"}});
  }
  CHECK_THROWS_WITH(audit_journal(dir.path()), Catch::Contains("line 2: the dispatched event's \"experiment\" is not a string"));
}

TEST_CASE("Campaign state: retries, a busy rejection, a lost instrument, a stop and a resume", "[journal_events]") {
  const CampaignState s = fold_of(eventful_campaign("minimize"));
  CHECK(s.problems().empty());
  CHECK(s.started());
  CHECK(s.campaign() == "fold");
  CHECK(s.campaign_id() == std::optional<std::string>("feedfacefeedfacefeedfacefeedface"));
  CHECK(s.started_at() == "2026-11-25T08:00:00.000Z");
  CHECK(s.objective_name() == "y");
  CHECK_FALSE(s.maximize());
  CHECK(s.parameter_names() == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(s.finished());  // resumed since
  CHECK(s.finish_reason() == "stopped by operator");
  CHECK(s.resumes() == 1);
  CHECK(s.events() == 29);

  // Counted as the loop counts: two results, one learned failure, one point discarded by the stop
  // (its two earlier attempts were retried, not discarded).
  CHECK(s.done() == 3);
  CHECK(s.failed() == 1);
  CHECK(s.discarded() == 1);
  CHECK(s.planner_proposals() == 5);
  CHECK(s.used() == 4);
  CHECK(s.asks() == 2);
  CHECK(s.proposed_lines() == 7);
  CHECK(s.result_outcomes() == 2);
  CHECK(s.failed_outcomes() == 4);
  REQUIRE(s.best());
  CHECK(s.best()->experiment == "f-0003");
  CHECK(s.best()->objective == 1.0);
  CHECK(s.best()->params == json{{"a", 0.3}, {"b", 1}});

  const ExperimentState* third = s.experiment("f-0002-r3");
  REQUIRE(third);
  CHECK(third->origin == "f-0002");  // through f-0002-r2
  CHECK(third->attempt == 3);
  CHECK(third->retry_of == std::optional<std::string>("f-0002-r2"));
  CHECK(third->outcome == ExperimentOutcome::failed);
  CHECK_FALSE(third->learned);
  CHECK(third->instrument.empty());  // never dispatched
  CHECK(third->completion_index == 5);

  const ExperimentState* second = s.experiment("f-0002-r2");
  REQUIRE(second);
  CHECK(second->instrument == "A");
  CHECK(second->retry_as == std::optional<std::string>("f-0002-r3"));
  CHECK(second->dispatched_at == "2026-11-25T08:14:00.000Z");

  const ExperimentState* busy = s.experiment("f-0003");
  REQUIRE(busy);
  CHECK(busy->outcome == ExperimentOutcome::ok);
  CHECK(busy->objective == std::optional<double>(1.0));
  CHECK(busy->dispatched_at == "2026-11-25T08:19:00.000Z");  // the second dispatch, after "busy"

  // f-0005 is the only one still open, dispatched to B: resume re-sends it there.
  const auto open = s.open_experiments();
  REQUIRE(open.size() == 1);
  CHECK(open[0]->id == "f-0005");
  CHECK(open[0]->assigned_to == std::optional<std::string>("B"));
  CHECK(s.open_count() == 1);
  CHECK_FALSE(s.unproposed_retry());

  // The experiments in first-mention order, as results.csv lists them.
  std::vector<std::string> ids;
  for (const ExperimentState& x : s.experiments()) ids.push_back(x.id);
  CHECK(ids == std::vector<std::string>{"f-0001", "f-0002", "f-0003", "f-0002-r2", "f-0002-r3", "f-0004", "f-0005"});
}

TEST_CASE("Campaign state: the best respects the goal, and ties go to the first", "[journal_events]") {
  std::vector<json> events = eventful_campaign("maximize");
  events.push_back(result("f-0005", "B", 3.0));  // ties f-0001's 3.0
  const CampaignState s = fold_of(events);
  REQUIRE(s.best());
  CHECK(s.best()->experiment == "f-0001");
  CHECK(s.best()->objective == 3.0);
  CHECK(s.maximize());
  CHECK(s.open_experiments().empty());
}

TEST_CASE("Campaign state: a busy rejection puts an experiment back in the queue", "[journal_events]") {
  std::vector<json> events = eventful_campaign("minimize");
  events.resize(14);  // up to the rejection of f-0003
  const CampaignState s = fold_of(events);
  const auto open = s.open_experiments();
  REQUIRE(open.size() == 2);
  CHECK(open[0]->id == "f-0003");
  CHECK_FALSE(open[0]->assigned_to);  // waiting for an instrument again
  CHECK(open[0]->instrument == "B");  // reports still show where it last was
  CHECK(open[1]->id == "f-0002-r2");
  CHECK_FALSE(open[1]->assigned_to);  // proposed, never dispatched
}

TEST_CASE("Campaign state: a retry announced without its proposed line is resume's to write", "[journal_events]") {
  std::vector<json> events = eventful_campaign("minimize");
  events.resize(12);  // crash right after f-0002's failure named f-0002-r2
  const CampaignState cut = fold_of(events);
  REQUIRE(cut.unproposed_retry());
  CHECK(cut.unproposed_retry()->retry_of == "f-0002");
  CHECK(cut.unproposed_retry()->id == "f-0002-r2");
  CHECK(cut.problems().empty());  // nothing came after it yet

  // Anything but that proposal next is a bookkeeping error.
  events.push_back(dispatched("f-0003", "B"));
  const CampaignState broken = fold_of(events);
  REQUIRE(broken.problems().size() == 1);
  CHECK(broken.problems()[0] == "line 13: the retry f-0002-r2 announced at line 12 was never proposed");
  CHECK(broken.unproposed_retry());  // resume still owes the line
}

TEST_CASE("Campaign state: what the loop never writes is listed, and the first outcome counts", "[journal_events]") {
  std::vector<json> events = eventful_campaign("minimize");
  events.push_back(result("f-0001", "A", -50.0));              // line 30: a second outcome
  events.push_back(result("ghost", "A", -99.0));               // line 31: never proposed
  events.push_back(proposed("f-0004", 3, 0.9));                // line 32: proposed twice
  events.push_back(event("campaign_finished", {{"reason", "budget reached"}, {"experiments", 4}, {"failed", 1}, {"best", nullptr}}));
  events.push_back(dispatched("f-0005", "B"));                 // line 34: after the end
  const CampaignState s = fold_of(events);
  CHECK(s.problems() == std::vector<std::string>{
                            "line 30: a second final outcome (result) for f-0001, already result",
                            "line 31: result for ghost, which was never proposed",
                            "line 32: f-0004 proposed twice",
                            "line 34: \"dispatched\" after campaign_finished",
                        });
  CHECK(s.experiment("f-0001")->objective == std::optional<double>(3.0));
  CHECK(s.best()->experiment == "f-0003");  // neither the stale -50 nor the ghost's -99
  CHECK(s.done() == 3);
  CHECK(s.experiment("ghost") == nullptr);  // not recorded: a phantom was a row of results.csv, and its best
  CHECK(s.finished());
  CHECK(s.finish_reason() == "budget reached");

  const CampaignRecord record = campaign_record(s);
  CHECK(record.experiments.size() == 7);
  CHECK(record.experiments[0].objective == std::optional<double>(3.0));
  CHECK(record.experiments.back().id == "f-0005");
}

TEST_CASE("Campaign state: dispatches for no proposal, undispatched results, a second start and a correction of a driver's result are listed", "[journal_events]") {
  std::vector<json> events = eventful_campaign("minimize");
  events.push_back(dispatched("nobody", "A"));                                                     // line 30
  events.push_back(event("accepted", {{"experiment", "nobody"}, {"instrument", "A"}}));             // line 31
  events.push_back(event("rejected", {{"experiment", "nobody"}, {"instrument", "A"}, {"reason", "no"}}));
  events.push_back(proposed("f-0006", 3, 0.6));                                                     // line 33
  events.push_back(result("f-0006", "B", 2.0));                                                     // line 34: never dispatched
  events.push_back(event("campaign_started", {{"campaign", "fold"}, {"config", config("minimize")}}));  // line 35
  json corrected = encode_fields(ResultCorrectedEvent{"f-0003", json{{"y", 0.5}}, 0.5, json{{"y", 1.0}}, 1.0, "misread", "ana"});
  events.push_back(event("result_corrected", corrected));                                          // line 36: B is a driver
  const CampaignState s = fold_of(events);
  CHECK(s.problems() == std::vector<std::string>{
                            "line 30: dispatched for nobody, which was never proposed",
                            "line 31: accepted for nobody, which was never proposed",
                            "line 32: rejected for nobody, which was never proposed",
                            "line 34: result for f-0006, which was never dispatched",
                            "line 35: a second campaign_started (one journal holds one campaign; labloop writes campaign_resumed when it "
                            "continues it)",
                            "line 36: a correction for f-0003, measured by instrument 'B', which is not a manual one; only results a "
                            "person entered can be corrected, and this one is not applied",
                        });
  CHECK(s.campaign_id() == std::optional<std::string>("feedfacefeedfacefeedfacefeedface"));  // the first start defines it
  // Neither the undispatched result nor the correction of a driver's result is recorded.
  CHECK(s.experiment("f-0006")->outcome == ExperimentOutcome::open);
  CHECK(s.experiment("f-0003")->objective == std::optional<double>(1.0));
  CHECK(s.best()->experiment == "f-0003");
  CHECK(s.best()->objective == 1.0);
}

TEST_CASE("Campaign state: a person's result may be corrected", "[journal_events]") {
  json with_bench = config("maximize");
  with_bench["instruments"] = json::array({json{{"name", "bench"}, {"manual", true}, {"capacity", 2}}});
  json corrected = encode_fields(ResultCorrectedEvent{"m-0001", json{{"y", 0.5}}, 0.5, json{{"y", 5.0}}, 5.0, "misread", "ana"});
  const CampaignState s = fold_of({event("campaign_started", {{"campaign", "fold"}, {"config", with_bench}}), proposed("m-0001", 1, 0.1),
                                   dispatched("m-0001", "bench"), result("m-0001", "bench", 5.0), event("result_corrected", corrected)});
  CHECK(s.problems().empty());
  CHECK(s.best()->objective == 0.5);
}

TEST_CASE("Campaign state: a failure a person entered may become a result; a result, a retried or a discarded failure may not", "[journal_events]") {
  json with_bench = config("maximize");
  with_bench["instruments"] = json::array({json{{"name", "bench"}, {"manual", true}, {"capacity", 3}}});
  ResultCorrectedEvent fix{"m-0001", json{{"y", 7.0}}, 7.0, json::object(), 0, "wrong flask", "ana"};
  fix.previous_error = "no product";
  std::vector<json> events{event("campaign_started", {{"campaign", "fold"}, {"config", with_bench}}),  // line 1
                           proposed("m-0001", 1, 0.1), dispatched("m-0001", "bench"), failed("m-0001", "bench", "no product"),
                           proposed("m-0002", 2, 0.2), dispatched("m-0002", "bench"), result("m-0002", "bench", 5.0),
                           proposed("m-0003", 3, 0.3), dispatched("m-0003", "bench"),
                           failed("m-0003", "bench", "timed out", false, std::string("m-0003-r2")),  // line 10
                           retry("m-0003-r2", "m-0003", 2, 0.3),
                           proposed("m-0004", 4, 0.4), failed("m-0004", "", "not run: campaign stopping", false)};
  CHECK(fold_of(events).failed() == 1);
  events.push_back(event("result_corrected", encode_fields(fix)));  // line 14
  const CampaignState s = fold_of(events);
  CHECK(s.problems().empty());
  const ExperimentState* x = s.experiment("m-0001");
  CHECK(x->outcome == ExperimentOutcome::ok);
  CHECK(x->objective == 7.0);
  CHECK(x->error.empty());
  CHECK(s.failed() == 0);
  CHECK(s.done() == 2);  // still two outcomes the planner learned
  CHECK(s.result_outcomes() == 2);
  CHECK(s.failed_outcomes() == 2);  // the retried and the discarded one
  CHECK(s.best()->experiment == "m-0001");  // 7 > 5, maximized
  // Corrected a second time, it is a result now: a correction naming a failure no longer fits.
  std::vector<json> wrong = events;
  wrong.push_back(event("result_corrected", encode_fields(fix)));  // line 15
  for (const char* id : {"m-0003", "m-0004"}) {
    ResultCorrectedEvent other = fix;
    other.experiment = id;
    wrong.push_back(event("result_corrected", encode_fields(other)));  // lines 16, 17
  }
  CHECK(fold_of(wrong).problems() == std::vector<std::string>{
                                         "line 15: a correction of a failure of m-0001, which has no failure the planner was told",
                                         "line 16: a correction of a failure of m-0003, which has no failure the planner was told",
                                         "line 17: a correction of a failure of m-0004, which has no failure the planner was told",
                                     });
}

TEST_CASE("Campaign state: a result from an instrument it was not dispatched to, or whose objective its values contradict, is listed", "[journal_events]") {
  std::vector<json> events = eventful_campaign("minimize");
  events.push_back(proposed("f-0006", 3, 0.6));                  // line 30
  events.push_back(dispatched("f-0006", "A"));                   // line 31
  events.push_back(result("f-0006", "ghost", 2.0));              // line 32: from another instrument
  events.push_back(proposed("f-0007", 4, 0.7));                  // line 33
  events.push_back(dispatched("f-0007", "B"));                   // line 34
  json contradicted = result("f-0007", "B", -1000.0);
  contradicted["values"]["y"] = 10.96;
  events.push_back(contradicted);                                // line 35: objective not its values'
  events.push_back(proposed("f-0008", 5, 0.8));                  // line 36
  events.push_back(dispatched("f-0008", "B"));                   // line 37
  json not_a_number = result("f-0008", "B", 3.0);
  not_a_number["values"]["y"] = "NaN";
  events.push_back(not_a_number);                                // line 38: a string where the loop writes a number
  const CampaignState s = fold_of(events);
  CHECK(s.problems() == std::vector<std::string>{
                            "line 32: result for f-0006 from instrument 'ghost', but it was dispatched to 'A'",
                            "line 35: result for f-0007 gives y = -1000.0 in \"objective\" but 10.96 in its values",
                            "line 38: result for f-0008 gives y = 3.0 in \"objective\" but \"NaN\" in its values",
                        });
  // None is recorded: the experiments stay open, and resume runs them again.
  for (const char* id : {"f-0006", "f-0007", "f-0008"}) {
    INFO(id);
    CHECK(s.experiment(id)->outcome == ExperimentOutcome::open);
  }
  CHECK(s.open_count() == 4);  // with f-0005
  CHECK(s.best()->experiment == "f-0003");
  CHECK(s.result_outcomes() == 2);
}

TEST_CASE("Campaign state: a dispatch to or a result from an instrument the configuration lacks is named, and not recorded", "[journal_events]") {
  json with_sim = config("minimize");
  with_sim["instruments"] = json::array({json{{"name", "sim"}, {"simulator", "branin"}}});
  const CampaignState s = fold_of({event("campaign_started", {{"campaign", "fold"}, {"config", with_sim}}),  // line 1
                                   proposed("f-0001", 1, 0.1), proposed("f-0002", 1, 0.2),
                                   dispatched("f-0001", "ghost"),                                              // line 4
                                   event("accepted", {{"experiment", "f-0001"}, {"instrument", "ghost"}}),     // line 5
                                   result("f-0001", "ghost", -70.0),                                           // line 6
                                   dispatched("f-0002", "sim"), result("f-0002", "sim", 2.0),
                                   event("rejected", {{"experiment", "f-0001"}, {"instrument", "ghost"}, {"reason", "busy"}}),  // line 9
                                   failed("f-0001", "ghost", "no product")});                                  // line 10
  CHECK(s.problems() == std::vector<std::string>{
                            "line 4: dispatched for f-0001 names instrument 'ghost', which the campaign's configuration does not have (it "
                            "has sim); labloop sends experiments only to its configured instruments",
                            "line 5: accepted for f-0001 names instrument 'ghost', which the campaign's configuration does not have (it "
                            "has sim); labloop sends experiments only to its configured instruments",
                            "line 6: result for f-0001, which was never dispatched",
                            "line 9: rejected for f-0001 names instrument 'ghost', which the campaign's configuration does not have (it "
                            "has sim); labloop sends experiments only to its configured instruments",
                            "line 10: failed for f-0001 names instrument 'ghost', which the campaign's configuration does not have (it "
                            "has sim); labloop sends experiments only to its configured instruments",
                        });
  const ExperimentState* x = s.experiment("f-0001");
  CHECK(x->outcome == ExperimentOutcome::open);  // waiting for dispatch: resume sends it to sim
  CHECK_FALSE(x->assigned_to);
  CHECK(x->instrument.empty());
  CHECK(s.best()->experiment == "f-0002");
  CHECK(campaign_record(s).best_index() == std::optional<size_t>(1));
}

TEST_CASE("Campaign state: a retry no failure announced is named, and not run", "[journal_events]") {
  std::vector<json> events{event("campaign_started", {{"campaign", "fold"}, {"config", config("minimize")}}),  // line 1
                           proposed("f-0001", 1, 0.1), dispatched("f-0001", "A"), result("f-0001", "A", 1.0),
                           proposed("f-0002", 2, 0.2), dispatched("f-0002", "A"), failed("f-0002", "A", "no product"),
                           retry("f-0042-r2", "f-0042", 2, 0.3),   // line 8: f-0042 was never proposed
                           retry("f-0001-r2", "f-0001", 2, 0.1),   // line 9: f-0001 has a result
                           retry("f-0002-r2", "f-0002", 2, 0.2)};  // line 10: its failure named no retry
  const CampaignState s = fold_of(events);
  CHECK(s.problems() == std::vector<std::string>{
                            "line 8: f-0042-r2 is proposed as a retry of f-0042, which was never proposed; labloop proposes a retry only "
                            "after the failure that announces it (\"retry_as\"), and this one is not run",
                            "line 9: f-0001-r2 is proposed as a retry of f-0001, which has not failed; labloop proposes a retry only after "
                            "the failure that announces it (\"retry_as\"), and this one is not run",
                            "line 10: f-0002-r2 is proposed as a retry of f-0002, whose failure names another retry, or none; labloop "
                            "proposes a retry only after the failure that announces it (\"retry_as\"), and this one is not run",
                        });
  CHECK(s.open_count() == 0);
  CHECK(s.experiment("f-0042-r2") == nullptr);
  CHECK(s.proposed_lines() == 5);  // verify counts the lines
  CHECK(s.used() == 2);
  // The one the failure announced is the loop's.
  events[6] = failed("f-0002", "A", "timed out", false, std::string("f-0002-r2"));
  events.erase(events.begin() + 7, events.begin() + 9);
  const CampaignState announced = fold_of(events);
  CHECK(announced.problems().empty());
  CHECK(announced.open_count() == 1);
}

TEST_CASE("verify: an empty journal or a start without its configuration fails at line 1", "[journal_events]") {
  test::TempDir dir;
  SECTION("empty") {
    test::write_file(dir / "journal.jsonl", "");
    const JournalAudit audit = audit_journal(dir.path());
    CHECK_FALSE(audit.intact());
    REQUIRE(audit.problems.size() == 1);
    CHECK_THAT(audit.problems[0], Catch::StartsWith("line 1: the journal has no events"));
  }
  SECTION("no configuration") {
    {
      Journal journal(dir / "journal.jsonl");
      journal.append("campaign_started", encode_fields(CampaignStartedEvent{.campaign = "c"}));
    }
    const JournalAudit audit = audit_journal(dir.path());
    CHECK_FALSE(audit.intact());
    REQUIRE(audit.problems.size() == 1);
    CHECK_THAT(audit.problems[0], Catch::StartsWith("line 1: campaign_started carries no configuration (\"config\")"));
  }
}

TEST_CASE("Campaign state: results.csv from the fold extends the one 0.1.0 wrote for its own journals", "[journal_events]") {
  // The columns are a contract that is extended, never changed (report.hpp): for 0.1.0's journals
  // (no units, one output) every line is 0.1.0's line, byte for byte, followed by the new columns.
  // Finished campaigns only: an interrupted run's last results.csv may predate its last events.
  const auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  for (const char* name : {"finished", "mixed", "three", "faulty"}) {
    INFO(name);
    test::TempDir dir;
    const std::vector<JournalEvent> events = decode_events(read_journal(kFixtures / name / "journal.jsonl").events, name);
    write_results_csv(campaign_record(CampaignState::fold(events)), dir / "results.csv");
    const std::vector<std::string> now = lines(test::read_file(dir / "results.csv"));
    const std::vector<std::string> then = lines(test::read_file(kFixtures / name / "results.csv"));
    REQUIRE(now.size() == then.size());
    CHECK(now[0] == then[0] + ",proposed_by");
    for (size_t i = 1; i < now.size(); ++i) {
      INFO(now[i]);
      CHECK(now[i].rfind(then[i] + ",", 0) == 0);
      // The new column says which planner call (or which retry) proposed the experiment.
      const std::string added = now[i].substr(then[i].size() + 1);
      CHECK((added.rfind("bayesian ask ", 0) == 0 || added.rfind("retry ", 0) == 0));
    }
  }
}

TEST_CASE("Journal events: integers past int's range are refused, not wrapped", "[journal_events]") {
  const json huge = json::parse(R"({"seq":2,"event":"instrument_ready","instrument":"sim","capacity":18446744073709551615})");
  CHECK_THROWS_WITH(decode_event(huge, "test", 2), Catch::Contains("\"capacity\" is out of range"));
  const json negative = json::parse(R"({"seq":2,"event":"proposed","experiment":"e","ask":-3000000000})");
  CHECK_THROWS_WITH(decode_event(negative, "test", 2), Catch::Contains("\"ask\" is out of range"));
}

TEST_CASE("verify: event kinds this version does not know are named, with the newer labloop that started the campaign", "[journal_events]") {
  test::TempDir dir;
  const auto journal_with = [&](const std::string& version) {
    fs::remove(dir / "journal.jsonl");
    Journal journal(dir / "journal.jsonl");
    journal.append("campaign_started", encode_fields(CampaignStartedEvent{.campaign = "c", .config = config("minimize"), .labloop_version = version}));
    json proposal = proposed("c-0001", 1, 0.1);
    proposal.erase("event");
    journal.append("proposed", proposal);
    journal.append("outcome", {{"experiment", "c-0001"}, {"values", {{"y", 2.0}}}});
    journal.append("outcome", {{"experiment", "c-0001"}, {"values", {{"y", 3.0}}}});
  };
  journal_with("9.0.0");
  const JournalAudit newer = audit_journal(dir.path());
  CHECK(newer.unknown_kinds_note ==
        fmt::format("this journal holds event kinds labloop {} does not know, and every reader skips them: \"outcome\" (line 3); labloop "
                    "9.0.0, newer than this one, started the campaign: what those lines record is not read here (an experiment they "
                    "finished would run again), so verify, report and resume it with labloop 9.0.0 or later",
                    kVersion));
  journal_with("0.1.0");
  CHECK_THAT(audit_journal(dir.path()).unknown_kinds_note, Catch::EndsWith("\"outcome\" (line 3); labloop does not write them (the journal "
                                                                           "was edited, or a newer labloop resumed it)"));
  {
    fs::remove(dir / "journal.jsonl");
    Journal journal(dir / "journal.jsonl");
    journal.append("campaign_started", encode_fields(CampaignStartedEvent{.campaign = "c", .config = config("minimize"), .labloop_version = "9.0.0"}));
  }
  CHECK(audit_journal(dir.path()).unknown_kinds_note.empty());  // a newer version alone says nothing
}
