// Hostile and extreme instruments (issue 14): spec-legal but extreme numbers, oversized frames,
// unsolicited messages, a driver that caches by id, and a journal cut at every line. Each test
// failed on the controller before these cases were handled.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fake_driver.hpp"
#include "journal_edit.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/campaign_overview.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/campaign/note_throttle.hpp"
#include "labloop/core/error.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/campaign/replay.hpp"
#include "cli_process.hpp"
#include "test_support.hpp"
#include "catalogue.hpp"

using namespace labloop;
using nlohmann::json;
using test::FakeDriver;

namespace {

// A campaign over x1 in [-5,10], x2 in [0,15] (FakeDriver::welcome's box) with random proposals:
// these tests are about the loop, not the planner.
json hostile_campaign(const std::string& output, json instruments, int budget, const std::string& name = "h") {
  if (instruments.is_object()) instruments = json::array({instruments});
  return json{{"name", name},
              {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                              {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
              {"objective", {{"name", "y"}}},
              {"planner", {{"kind", "random"}}},
              {"instruments", std::move(instruments)},
              {"budget", {{"experiments", budget}}},
              {"output", output}};
}

// Lost within half a second, quarantined only after 5 s: these drivers are meant to come back.
json quick(json instrument) { return test::fast_heartbeat(std::move(instrument), 5); }

CampaignSummary run_file(const json& file, bool resume = false, std::optional<std::string> output = {}) {
  const CampaignConfig config = parse_campaign_config(file.dump(), "hostile.json", labloop::sim::catalogue());
  CampaignOptions options;
  options.resume = resume;
  options.output = std::move(output);
  return run_campaign(config, options);
}

std::vector<json> events_of(const std::filesystem::path& out) { return read_journal(out / "journal.jsonl").events; }

int count_of_kind(const std::filesystem::path& out, const std::string& kind) {
  int n = 0;
  for (const auto& e : events_of(out)) n += e["event"] == kind;
  return n;
}

double y_of(const json& params) { return params["x1"].get<double>() + params["x2"].get<double>(); }

std::string ok_result(const std::string& id, double y) {
  return json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "ok"}, {"values", {{"y", y}}}}.dump();
}
std::string accepted(const std::string& id, json extra = json::object()) {
  json m{{"v", 1}, {"type", "accepted"}, {"experiment", id}};
  m.update(extra);
  return m.dump();
}
const std::string kPong = R"({"v":1,"type":"pong","running":[]})";

// A well-behaved driver: every run gets y = x1 + x2 at once.
FakeDriver::Behaviour honest(int capacity = 1) {
  return [capacity](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    const std::string type = m.value("type", "");
    if (type == "hello") return {FakeDriver::welcome(capacity)};
    if (type == "ping") return {kPong};
    if (type != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id), ok_result(id, y_of(m["params"]))};
  };
}

// honest(), except that the second run's answer comes after 17 MiB of junk: ZeroMQ drops the
// link (and the result after it), and only a new connection and a re-sent `run` can bring it
// back. Sets `sent` then.
FakeDriver::Behaviour drops_link_once(bool& sent) {
  return [&sent, answer = honest(), runs = 0](const std::string& payload) mutable {
    std::vector<std::string> answers = answer(payload);
    if (FakeDriver::type_of(payload) == "run" && ++runs == 2 && !sent) {
      sent = true;
      answers.insert(answers.begin(), std::string(17 << 20, 'x'));
    }
    return answers;
  };
}

// Every experiment has exactly one final outcome and the journal passes verify's checks.
void check_bookkeeping(const std::filesystem::path& out) {
  std::map<std::string, int> outcome;
  for (const auto& e : events_of(out)) {
    if (e["event"] == "proposed") outcome[e["experiment"]] += 0;
    if (e["event"] == "result" || e["event"] == "failed") ++outcome[e["experiment"]];
  }
  for (const auto& [id, n] : outcome) {
    INFO(id);
    CHECK(n == 1);
  }
  const JournalAudit audit = audit_journal(out);
  INFO(fmt::format("{}", fmt::join(audit.problems, "\n")));
  CHECK(audit.problems.empty());
}

}  // namespace

TEST_CASE("Hostile: two instruments declaring the largest capacity (INT_MAX) do not stall the campaign", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver a(dir.ipc("a"), honest(INT_MAX)), b(dir.ipc("b"), honest(INT_MAX));
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), {quick({{"name", "a"}, {"endpoint", dir.ipc("a")}}),
                                                                quick({{"name", "b"}, {"endpoint", dir.ipc("b")}})}, 6));
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 6);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver declaring max_s = 1e300 is not timed out at once", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver huge(dir.ipc("huge"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id, {{"max_s", 1e300}, {"expected_s", 1e300}}), ok_result(id, y_of(m["params"]))};
  });
  const auto out = dir / "out";
  json instrument = quick({{"name", "huge"}, {"endpoint", dir.ipc("huge")}});
  instrument["timeout_s"] = 3600;  // the driver's max_s is larger: the campaign's own limit holds
  const auto summary = run_file(hostile_campaign(out.string(), instrument, 4));
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 4);
  CHECK(count_of_kind(out, "failed") == 0);
  CHECK(count_of_kind(out, "instrument_quarantined") == 0);
}

TEST_CASE("Hostile: a frame over the 4 MiB limit drops the connection, which is made again and the result still arrives", "[fault][hostile]") {
  test::TempDir dir;
  bool sent_monster = false;
  FakeDriver monster(dir.ipc("monster"), drops_link_once(sent_monster));
  const auto out = dir / "out";
  // Quarantined only after 30 s: in a CI run whose two cores were busy with three other sanitizer
  // tests it was still lost after quick()'s 5 s (lost, then quarantined, never reconnected), and
  // so it was on this machine with fifty test processes at once (its relinks threw away
  // connections slower to answer than the interval: the next case). A run that works does not
  // wait for this.
  const auto summary = run_file(hostile_campaign(out.string(), test::fast_heartbeat({{"name", "monster"}, {"endpoint", dir.ipc("monster")}}, 30), 4));
  INFO(test::what_happened(out / "journal.jsonl"));
  CHECK(sent_monster);
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 4);
  CHECK(count_of_kind(out, "failed") == 0);
  CHECK(count_of_kind(out, "instrument_quarantined") == 0);
  CHECK(count_of_kind(out, "instrument_reconnected") >= 1);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: after a dropped link, a driver slower to answer than the longest relink interval is waited for, not relinked away", "[fault][hostile]") {
  test::TempDir dir;
  std::set<std::string> peers;
  bool sent_monster = false;
  int slow_answers = 0;
  // The first connection is dropped by a frame over the limit; every later one is answered only
  // 2.5 s after its first message, longer than the 16 heartbeats (1.6 s) between relinks, as a
  // driver on a loaded machine may be. A controller that relinked an open connection threw each
  // one away before its answer came, and the instrument was never heard again.
  FakeDriver slow(dir.ipc("slow"), [&, answer = drops_link_once(sent_monster)](const std::string& peer, const std::string& payload) {
    if (peers.insert(peer).second && peers.size() > 1) {
      ++slow_answers;
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    }
    return answer(payload);
  });
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), test::fast_heartbeat({{"name", "slow"}, {"endpoint", dir.ipc("slow")}}, 20), 3));
  INFO(test::what_happened(out / "journal.jsonl"));
  CHECK(sent_monster);
  CHECK(slow_answers >= 1);
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 3);
  CHECK(count_of_kind(out, "instrument_quarantined") == 0);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver sending a frame over the limit on every connection is given up once its losses add up to reconnect_s", "[fault][hostile]") {
  test::TempDir dir;
  std::atomic<int> hellos{0};
  // Answers pings (so it is back after every relink), and follows each welcome with 5 MiB, which
  // closes the connection: it comes back and is lost again, and before this was never given up.
  FakeDriver flapping(dir.ipc("flapping"), [&](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return ++hellos, std::vector<std::string>{FakeDriver::welcome(), std::string(5 << 20, 'x')};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] == "run") return {accepted(m["experiment"])};
    return {};
  });
  const auto out = dir / "out";
  json file = hostile_campaign(out.string(), test::fast_heartbeat({{"name", "flapping"}, {"endpoint", dir.ipc("flapping")}}, 0.5), 2);
  file["budget"]["hours"] = 60.0 / 3600;  // without the fix: it runs into this
  const auto started = std::chrono::steady_clock::now();
  const auto summary = run_file(file);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
  CHECK(summary.reason == "no instruments left");
  CHECK(hellos >= 2);  // it did come back
  CHECK(count_of_kind(out, "instrument_lost") >= 1);
  REQUIRE(count_of_kind(out, "instrument_quarantined") == 1);
  // Given up for its losses, or, when the frame closed the connection before the welcome ahead of
  // it was read (ZeroMQ then discards both; more often on a loaded machine), for giving no welcome.
  for (const auto& e : events_of(out))
    if (e["event"] == "instrument_quarantined")
      CHECK_THAT(e["reason"].get<std::string>(), Catch::Contains("losses since its last result") || Catch::Contains("no welcome for 0.5 s"));
  CHECK(count_of_kind(out, "result") == 0);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver whose every pong is malformed is lost for that reason, not for silence", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver liar(dir.ipc("liar"), [&](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {R"({"v":1,"type":"pong","running":"none"})"};
    if (m["type"] == "run") return {accepted(m["experiment"])};
    return {};
  });
  const auto out = dir / "out";
  run_file(hostile_campaign(out.string(), test::fast_heartbeat({{"name", "liar"}, {"endpoint", dir.ipc("liar")}}, 0.5), 1));
  bool said = false;
  for (const auto& e : events_of(out))
    if (e["event"] == "instrument_lost") {
      said = true;
      CHECK_THAT(e["reason"].get<std::string>(), Catch::StartsWith("no valid answer to its pings for") &&
                                                     Catch::Contains("malformed message(s) since its last pong, the last: pong: \"running\" must be an array"));
    }
  CHECK(said);
}

TEST_CASE("Hostile: an unsolicited, malformed welcome is ignored, not a reason to quarantine", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver chatty(dir.ipc("chatty"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    json bad = json::parse(FakeDriver::welcome());
    bad["inputs"][0]["low"] = 100;  // low > high: parse_welcome refuses it
    if (m["type"] == "ping") return {kPong, bad.dump(), FakeDriver::welcome()};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id), ok_result(id, y_of(m["params"]))};
  });
  const auto out = dir / "out";
  json file = hostile_campaign(out.string(), quick({{"name", "chatty"}, {"endpoint", dir.ipc("chatty")}}), 6);
  const auto summary = run_file(file);
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "instrument_quarantined") == 0);
  CHECK(count_of_kind(out, "result") == 6);
}

TEST_CASE("Hostile: a welcome with a bad capacity is named as such, at once", "[fault][hostile]") {
  for (const json& capacity : {json(0), json(-1), json(1.5), json(1e9), json("2")}) {
    INFO(capacity.dump());
    test::TempDir dir;
    FakeDriver odd(dir.ipc("odd"), [capacity](const std::string& payload) -> std::vector<std::string> {
      if (FakeDriver::type_of(payload) != "hello") return {};
      json w = json::parse(FakeDriver::welcome());
      w["capacity"] = capacity;
      return {w.dump()};
    });
    json instrument = {{"name", "odd"}, {"endpoint", dir.ipc("odd")}, {"connect_timeout_s", 30}};
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(run_file(hostile_campaign((dir / "out").string(), instrument, 2)),
                      Catch::Contains("malformed welcome") && Catch::Contains("capacity"));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  }
}

TEST_CASE("Hostile: two campaigns of the same name against one caching driver get their own results", "[fault][hostile]") {
  test::TempDir dir;
  // A driver that, like the old SDKs, answers a repeated id from its cache whatever the params.
  std::map<std::string, std::string> cache;
  FakeDriver caching(dir.ipc("cache"), [&cache](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    if (auto hit = cache.find(id); hit != cache.end()) return {hit->second};
    return {accepted(id), cache[id] = ok_result(id, y_of(m["params"]))};
  });
  std::set<std::string> ids, campaign_ids;
  for (int seed : {1, 2}) {
    const auto out = dir / ("out" + std::to_string(seed));
    json file = hostile_campaign(out.string(), quick({{"name", "cache"}, {"endpoint", dir.ipc("cache")}}), 5, "q");
    file["seed"] = seed;
    CHECK(run_file(file).reason == "budget reached");
    const auto events = events_of(out);
    const std::string campaign_id = events.front().value("campaign_id", "");
    CHECK(campaign_id.size() == 32);
    campaign_ids.insert(campaign_id);
    std::map<std::string, json> params;
    for (const auto& e : events) {
      if (e["event"] == "proposed") {
        const std::string id = e["experiment"];
        CHECK(id.find(campaign_id.substr(0, 12)) != std::string::npos);
        CHECK(ids.insert(id).second);
        params[id] = e["params"];
      }
      if (e["event"] == "result") CHECK(e["objective"].get<double>() == Approx(y_of(params.at(e["experiment"]))));
    }
  }
  CHECK(campaign_ids.size() == 2);
}

TEST_CASE("Hostile: the next campaign removes temporary folders whose controller was killed", "[fault][hostile]") {
  // A pid that surely belongs to nobody now: a child that has exited and been reaped.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  REQUIRE(child > 0);
  waitpid(child, nullptr, 0);
  const auto tmp = std::filesystem::temp_directory_path();
  auto leftover = [&](const std::string& name, pid_t owner) {
    const auto path = tmp / name;
    std::filesystem::create_directories(path);
    std::ofstream(path / "owner.pid") << owner << "\n";
    std::ofstream(path / "0.ipc") << "";
    return path;
  };
  const auto dead = leftover("labloop-zzdead", child);
  const auto alive = leftover("labloop-zzlive", getppid());
  // Folders of this version hold a lock while their owner runs: held, the folder stays even when
  // its pid names no process here (its owner runs in another PID namespace that shares /tmp) …
  const auto elsewhere = leftover("labloop-zzelse", child);
  const int held = ::open((elsewhere / "owner.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(::flock(held, LOCK_EX | LOCK_NB) == 0);
  // … and not held, it goes, whatever its pid names.
  const auto released = leftover("labloop-zzfree", getppid());
  std::ofstream(released / "owner.lock") << "";
  test::TempDir dir;
  FakeDriver driver(dir.ipc("d"), honest());
  CHECK(run_file(hostile_campaign((dir / "out").string(), quick({{"name", "d"}, {"endpoint", dir.ipc("d")}}), 1)).reason == "budget reached");
  CHECK_FALSE(std::filesystem::exists(dead));
  CHECK(std::filesystem::exists(alive));
  CHECK(std::filesystem::exists(elsewhere));
  CHECK_FALSE(std::filesystem::exists(released));
  ::close(held);
  std::filesystem::remove_all(alive);
  std::filesystem::remove_all(elsewhere);
}

// The journal cut after every line of a campaign that saw retries after a timeout, an operator's
// abort at the instrument, a busy refusal, a verdict failure and a lost driver: each cut resumes
// to the full budget, every experiment ends exactly once, and verify finds nothing wrong.
TEST_CASE("Hostile: a journal cut after any line resumes to the full budget with every experiment once", "[fault][hostile][resume]") {
  test::TempDir dir;
  constexpr int kBudget = 6;
  const std::string endpoint = dir.ipc("lab");
  const auto original = dir / "original";
  {
    int runs = 0;
    std::vector<std::string> deferred;  // results sent with the next pong (a slow experiment)
    int silent_pings = 0;
    FakeDriver lab(endpoint, [&](const std::string& payload) -> std::vector<std::string> {
      const json m = json::parse(payload);
      const std::string type = m["type"];
      if (type == "hello") return {FakeDriver::welcome()};
      if (type == "ping") {
        if (silent_pings > 0) {  // a driver that stops answering for a while: lost, then back
          --silent_pings;
          return {};
        }
        std::vector<std::string> out{kPong};
        out.insert(out.end(), deferred.begin(), deferred.end());
        deferred.clear();
        return out;
      }
      if (type != "run") return {};
      const std::string id = m["experiment"];
      const double y = y_of(m["params"]);
      switch (++runs) {
        case 1: return {accepted(id), ok_result(id, y)};
        case 2: return {accepted(id)};  // never finishes: timed out, aborted, retried
        case 3:  // aborted at the instrument by its operator: retried
          return {accepted(id), json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "failed"}, {"error", "aborted"}}.dump()};
        case 4: return {json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", "busy: warming up"}}.dump()};
        case 5:  // a real failure: a verdict on the point
          return {accepted(id), json{{"v", 1}, {"type", "result"}, {"experiment", id}, {"status", "failed"}, {"error", "clogged"}}.dump()};
        case 6:
          silent_pings = 12;  // 1.2 s of silence with heartbeat 0.1 s × 5: lost, then it answers again
          deferred.push_back(ok_result(id, y));
          return {accepted(id)};
        default: return {accepted(id), ok_result(id, y)};
      }
    });
    json instrument = quick({{"name", "lab"}, {"endpoint", endpoint}});
    instrument["timeout_s"] = 0.5;
    instrument["retries"] = 3;
    const auto summary = run_file(hostile_campaign(original.string(), instrument, kBudget));
    REQUIRE(summary.reason == "budget reached");
  }
  const auto events = events_of(original);
  std::set<std::string> kinds;
  for (const auto& e : events) kinds.insert(e["event"].get<std::string>());
  for (const char* kind : {"rejected", "instrument_lost", "instrument_reconnected"}) {
    INFO(kind);
    CHECK(kinds.count(kind));
  }
  int retries = 0;
  for (const auto& e : events) retries += e.contains("retry_as");
  CHECK(retries >= 2);

  std::vector<std::string> lines;
  {
    std::istringstream in(test::read_file(original / "journal.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  REQUIRE(lines.size() == events.size());
  FakeDriver lab(endpoint, honest());
  for (size_t cut = 1; cut < lines.size(); ++cut) {  // the last line is campaign_finished
    INFO("journal cut after line " << cut << ": " << lines[cut - 1].substr(0, 160));
    const auto copy = dir / fmt::format("cut{}", cut);
    std::filesystem::create_directories(copy);
    std::filesystem::copy_file(original / "journal.jsonl", copy / "journal.jsonl");
    test::keep_first_lines(copy / "journal.jsonl", cut);
    const CampaignConfig config = journaled_config(read_journal(copy / "journal.jsonl").events, "cut", labloop::sim::catalogue());
    CampaignOptions options;
    options.resume = true;
    options.output = copy.string();
    const auto summary = run_campaign(config, options);
    CHECK(summary.reason == "budget reached");
    CHECK(summary.status.done == kBudget);
    check_bookkeeping(copy);
    std::filesystem::remove_all(copy);
  }
}

TEST_CASE("Hostile: extreme but finite objective values from a driver neither crash the planner nor its resume", "[fault][hostile]") {
  test::TempDir dir;
  int runs = 0;
  // The 3rd and 5th results are 1e300 and -DBL_MAX: the model takes over after an initial design
  // of 4, with both in its data (this crashed the Bayesian planner, and every resume after it).
  FakeDriver extreme(dir.ipc("x"), [&runs](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    ++runs;
    const double y = runs == 3 ? 1e300 : runs == 5 ? -1.7976931348623157e308 : y_of(m["params"]);
    return {accepted(id), ok_result(id, y)};
  });
  const auto out = dir / "out";
  json file = hostile_campaign(out.string(), quick({{"name", "x"}, {"endpoint", dir.ipc("x")}}), 9);
  file["planner"] = {{"kind", "bayesian"}, {"initial", 4}};
  REQUIRE(run_file(file).reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 9);
  check_bookkeeping(out);

  // Resume from the middle of that journal: the planner is rebuilt from both extremes.
  const auto events = events_of(out);
  size_t cut = 0;
  for (size_t i = 0, results = 0; i < events.size(); ++i)
    if (events[i]["event"] == "result" && ++results == 6) cut = i + 1;
  REQUIRE(cut > 0);
  test::keep_first_lines(out / "journal.jsonl", cut);
  const CampaignConfig config = journaled_config(read_journal(out / "journal.jsonl").events, "cut", labloop::sim::catalogue());
  CampaignOptions options;
  options.resume = true;
  options.output = out.string();
  CHECK(run_campaign(config, options).reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 9);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver flooding unsolicited messages is shown as a count, and neither it nor its neighbour is held up", "[fault][hostile]") {
  test::TempDir dir;
  // Results come with the next pong (a tenth of a second), so the campaign lasts a few dozen
  // heartbeats. Every run sent to `flood` also brings 900 messages nobody asked for (over ten
  // thousand in all): errors, results for experiments it never got, accepted for others' ids. Its
  // own runs it answers properly. Per run, not per ping: the next run comes only once the campaign
  // has read the last result, so the flood cannot outrun the reader however slow the machine. Sent
  // per ping (3000 each), it did under ASan beside other tests: ZeroMQ then dropped the driver's
  // own pongs, and the flood was rightly lost and quarantined.
  auto slow = [](bool flooding) {
    return [flooding, running = std::vector<std::pair<std::string, double>>()](const std::string& payload) mutable -> std::vector<std::string> {
      const json m = json::parse(payload);
      if (m["type"] == "hello") return {FakeDriver::welcome()};
      if (m["type"] == "run") {
        running.emplace_back(m["experiment"], y_of(m["params"]));
        std::vector<std::string> out{accepted(m["experiment"])};
        for (int i = 0; flooding && i < 300; ++i) {
          out.push_back(R"({"v":1,"type":"error","code":"internal","message":"stuck in a loop"})");
          out.push_back(ok_result(fmt::format("nobody-{}", i), -1e6));
          out.push_back(accepted(fmt::format("nobody-{}", i)));
        }
        return out;
      }
      if (m["type"] != "ping") return {};
      json pong = json::parse(kPong);
      for (const auto& [id, y] : running) pong["running"].push_back(id);
      std::vector<std::string> out{pong.dump()};
      for (const auto& [id, y] : running) out.push_back(ok_result(id, y));
      running.clear();
      return out;
    };
  };
  FakeDriver flood(dir.ipc("flood"), slow(true));
  FakeDriver neighbour(dir.ipc("neighbour"), slow(false));
  struct Notes : CampaignObserver {
    std::vector<std::string> lines;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_log(const std::string& line) override { lines.push_back(line); }
  } notes;
  const auto out = dir / "out";
  json file = hostile_campaign(out.string(), json::array({quick({{"name", "flood"}, {"endpoint", dir.ipc("flood")}}),
                                                          quick({{"name", "neighbour"}, {"endpoint", dir.ipc("neighbour")}})}),
                               30);
  const CampaignConfig config = parse_campaign_config(file.dump(), "hostile.json", labloop::sim::catalogue());
  const auto started = std::chrono::steady_clock::now();
  const auto summary = run_campaign(config, CampaignOptions{}, &notes);
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CHECK(summary.reason == "budget reached");
  // Should the flood's own send queue still be full (ZeroMQ's 1000 messages) at a ping on a loaded
  // machine, the driver drops one of its own answers before it leaves: that experiment is
  // re-sent, and after three re-sends failed, as for any driver that loses a result. Every
  // experiment ends either way, and no unsolicited result is ever recorded (below).
  CHECK(count_of_kind(out, "result") + summary.status.failed >= 30);
  CHECK(count_of_kind(out, "result") >= 27);
  {
    std::string losses;  // what to look at when it fails on a loaded machine
    for (const auto& e : events_of(out))
      if (e["event"] == "instrument_lost" || e["event"] == "instrument_quarantined" || e["event"] == "instrument_reconnected") losses += e.dump() + "\n";
    INFO(losses);
    CHECK(count_of_kind(out, "instrument_quarantined") == 0);
  }
  std::set<std::string> served_by;
  for (const auto& e : events_of(out))
    if (e["event"] == "result") {
      served_by.insert(e["instrument"].get<std::string>());
      CHECK(e["objective"].get<double>() > -1e6);  // none of the unsolicited results was recorded
    }
  CHECK(served_by == std::set<std::string>{"flood", "neighbour"});
  check_bookkeeping(out);
  // Thousands of unsolicited messages, a few dozen notes: the first of each window, then a count.
  int about_flood = 0;
  bool counted = false;
  for (const std::string& line : notes.lines) {
    about_flood += line.rfind("flood:", 0) == 0;
    counted = counted || (line.rfind("flood: ", 0) == 0 && line.find("more notes about what it sent") != std::string::npos);
  }
  INFO(notes.lines.size() << " notes in " << elapsed_s << " s");
  // At most a burst and a count line per throttle window the campaign lasted, plus one window of
  // slack: a CI-like run on a loaded machine printed 25 such lines in 4 s (not reproduced here
  // under load; notes that are not about unsolicited messages pass unthrottled). A loaded machine
  // also stretches the campaign over more windows.
  const int windows = 2 + static_cast<int>(elapsed_s / std::chrono::duration<double>(NoteThrottle::kWindow).count());
  CHECK(about_flood <= windows * (NoteThrottle::kBurst + 1));
  CHECK(counted);
}

TEST_CASE("Hostile: a driver repeating accepted does not grow the journal: one accepted per run sent", "[fault][hostile]") {
  test::TempDir dir;
  std::atomic<int> runs_sent = 0;  // a run re-sent on a loaded machine (not listed in a pong) may be accepted again
  FakeDriver echo(dir.ipc("echo"), [&runs_sent, running = std::vector<std::pair<std::string, double>>()](const std::string& payload) mutable
                  -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "run") {
      ++runs_sent;
      running.emplace_back(m["experiment"], y_of(m["params"]));
      return std::vector<std::string>(500, accepted(m["experiment"], {{"expected_s", 0.05}}));
    }
    if (m["type"] != "ping") return {};
    std::vector<std::string> out{kPong};
    for (const auto& [id, y] : running) {
      for (int i = 0; i < 200; ++i) out.push_back(accepted(id));
      out.push_back(ok_result(id, y));
    }
    running.clear();
    return out;
  });
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), quick({{"name", "echo"}, {"endpoint", dir.ipc("echo")}}), 5));
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 5);
  CHECK(count_of_kind(out, "dispatched") == 5);
  INFO(runs_sent << " runs sent");
  CHECK(count_of_kind(out, "accepted") >= 5);
  CHECK(count_of_kind(out, "accepted") <= runs_sent);  // 3500 were sent, at least 500 for each run
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver that accepts runs but never lists them in its pongs is told why its experiment counts as forgotten", "[fault][hostile]") {
  // "no longer knows the experiment" blamed it for forgetting a run it accepted at every re-send.
  test::TempDir dir;
  FakeDriver unlisting(dir.ipc("unlisting"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};  // never lists what it runs
    if (m["type"] != "run") return {};
    return {accepted(m["experiment"])};  // and never finishes
  });
  json instrument = quick({{"name", "unlisting"}, {"endpoint", dir.ipc("unlisting")}});
  instrument["retries"] = 0;
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), instrument, 1));
  CHECK(summary.reason == "budget reached");
  std::string error;
  for (const auto& e : events_of(out))
    if (e["event"] == "failed") error = e["error"];
  CHECK(error == "unlisting no longer knows the experiment (re-sent 3 times); it accepted the run but its pongs never list it: a pong lists "
                 "every experiment the driver runs (protocol §4.4)");
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver that rejects a run it accepted has it noted and ignored: the experiment runs on and its result is recorded", "[fault][hostile]") {
  // A rejection after `accepted` failed the experiment, freed its place while it still ran there
  // and threw its result away (a red-team report).
  test::TempDir dir;
  FakeDriver fickle(dir.ipc("fickle"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id), json{{"v", 1}, {"type", "rejected"}, {"experiment", id}, {"reason", "operator refused the sample"}}.dump(),
            ok_result(id, y_of(m["params"]))};
  });
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), quick({{"name", "fickle"}, {"endpoint", dir.ipc("fickle")}}), 3));
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.failed == 0);
  CHECK(count_of_kind(out, "result") == 3);
  CHECK(count_of_kind(out, "rejected") == 0);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a welcome that is not JSON (NaN, as Python's json.dumps writes it) is named at the connect timeout, not reported as silence", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver python(dir.ipc("python"), [](const std::string& payload) -> std::vector<std::string> {
    if (FakeDriver::type_of(payload) != "hello") return {};
    std::string w = FakeDriver::welcome();
    return {w.substr(0, w.size() - 1) + R"(,"noise":{"y":NaN}})"};
  });
  json instrument = {{"name", "python"}, {"endpoint", dir.ipc("python")}, {"connect_timeout_s", 1}};
  CHECK_THROWS_WITH(run_file(hostile_campaign((dir / "out").string(), instrument, 2)),
                    Catch::Contains("instrument 'python': answered") && Catch::Contains("only with malformed messages") &&
                        Catch::Contains("not valid UTF-8 JSON"));
}

TEST_CASE("Hostile: a result that is not JSON (NaN) is never recorded, and the failure says the driver sent malformed messages", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver python(dir.ipc("python"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id), R"({"v":1,"type":"result","experiment":")" + id + R"(","status":"ok","values":{"y":NaN}})"};
  });
  json instrument = quick({{"name", "python"}, {"endpoint", dir.ipc("python")}});
  instrument["retries"] = 0;
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), instrument, 1));
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "result") == 0);
  std::string error;
  for (const auto& e : events_of(out))
    if (e["event"] == "failed") error = e["error"];
  CHECK_THAT(error, Catch::Contains("no longer knows the experiment (re-sent 3 times); it has sent") &&
                        Catch::Contains("malformed messages, the last: not valid UTF-8 JSON"));
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a run answered with error is tried again, not left open, and a driver that errs on every run is quarantined", "[fault][hostile]") {
  test::TempDir dir;
  int errors = 0;
  FakeDriver broken(dir.ipc("broken"), [&](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    ++errors;
    return {json{{"v", 1}, {"type", "error"}, {"code", "internal"}, {"message", "motor fault E42"}, {"experiment", m["experiment"]}}.dump()};
  });
  const auto out = dir / "out";
  json instrument = quick({{"name", "broken"}, {"endpoint", dir.ipc("broken")}});
  instrument["quarantine_after"] = 3;
  instrument["retries"] = 1;
  const auto started = std::chrono::steady_clock::now();
  FakeDriver good(dir.ipc("good"), honest());
  const auto summary =
      run_file(hostile_campaign(out.string(), json::array({instrument, quick({{"name", "good"}, {"endpoint", dir.ipc("good")}})}), 6));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));  // nothing waits for reconnect_s
  CHECK(summary.reason == "budget reached");
  CHECK(errors == 3);
  CHECK(count_of_kind(out, "instrument_quarantined") == 1);
  int refused = 0, final_failures = 0;
  for (const auto& e : events_of(out))
    if (e["event"] == "failed" && e["error"].get<std::string>().rfind("broken answered error internal: motor fault E42", 0) == 0) {
      ++refused;
      // Not run, so no verdict on the point, until its last attempt is refused too (as for a timeout).
      if (e.contains("retry_as")) CHECK(e["learn"] == false);
      else ++final_failures;
    }
  CHECK(refused == 3);
  CHECK(count_of_kind(out, "result") + final_failures == 6);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a welcome naming another campaign as its holder is not journaled as this campaign's hold", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver liar(dir.ipc("liar"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") {
      json w = json::parse(FakeDriver::welcome());
      w["holder"] = {{"campaign_id", "ffffffffffffffffffffffffffffffff"}, {"since", "2020-01-01T00:00:00Z"}, {"until", "2099-01-01T00:00:00Z"}};
      return {w.dump()};
    }
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id), ok_result(id, y_of(m["params"]))};
  });
  const auto out = dir / "out";
  const auto summary = run_file(hostile_campaign(out.string(), quick({{"name", "liar"}, {"endpoint", dir.ipc("liar")}}), 2));
  CHECK(summary.reason == "budget reached");
  CHECK(count_of_kind(out, "instrument_held") == 0);
  CHECK(count_of_kind(out, "instrument_released") == 0);
}

TEST_CASE("Hostile: a plaintext welcome's holder key and malformed times are not journaled as sent", "[fault][hostile]") {
  test::TempDir dir;
  FakeDriver liar(dir.ipc("liar"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") {
      json w = json::parse(FakeDriver::welcome());
      // Names this campaign, with a key no plaintext link has and a since no clock writes.
      w["holder"] = {{"campaign_id", m["campaign_id"]}, {"since", std::string(5000, '7')}, {"controller", "curve:AAAAAAAAAAAAAAAA"}};
      return {w.dump()};
    }
    if (m["type"] == "ping") return {kPong};
    if (m["type"] == "release") return {json{{"v", 1}, {"type", "released"}, {"campaign_id", m["campaign_id"]}}.dump()};
    if (m["type"] != "run") return {};
    const std::string id = m["experiment"];
    return {accepted(id), ok_result(id, y_of(m["params"]))};
  });
  const auto out = dir / "out";
  struct Notes : CampaignObserver {
    std::vector<std::string> lines;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_log(const std::string& line) override { lines.push_back(line); }
  } notes;
  const json file = hostile_campaign(out.string(), quick({{"name", "liar"}, {"endpoint", dir.ipc("liar")}}), 2);
  const auto summary = run_campaign(parse_campaign_config(file.dump(), "hostile.json", labloop::sim::catalogue()), CampaignOptions{}, &notes);
  const std::vector<std::string>& logs = notes.lines;
  CHECK(summary.reason == "budget reached");
  int held = 0;
  for (const auto& e : events_of(out))
    if (e["event"] == "instrument_held") {
      ++held;
      CHECK_FALSE(e.contains("controller"));
      CHECK(is_utc_iso(e["since"].get<std::string>()));  // the welcome's arrival
    }
  CHECK(held == 1);
  CHECK(count_of_kind(out, "instrument_released") == 1);
  CHECK(std::count_if(logs.begin(), logs.end(), [](const std::string& line) {
          return line.find("names curve:AAAAAAAAAAAAAAAA as the holder's key, but this link is not encrypted") != std::string::npos;
        }) == 1);
}

TEST_CASE("Hostile: a stop after the time budget ran out still gives a driver that never answers only its grace period", "[fault][hostile]") {
  test::TempDir dir;
  std::atomic<int> aborts = 0;
  std::mutex mutex;
  std::vector<std::string> running;
  FakeDriver silent(dir.ipc("silent"), [&](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    const std::lock_guard lock(mutex);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "abort") ++aborts;  // and ignored: it keeps listing the experiment as running
    if (m["type"] == "ping") {
      json pong = json::parse(kPong);
      for (const auto& id : running) pong["running"].push_back(id);
      return {pong.dump()};
    }
    if (m["type"] != "run") return {};
    running.push_back(m["experiment"]);
    return {accepted(m["experiment"])};
  });
  const auto out = dir / "out";
  json file = hostile_campaign(out.string(), quick({{"name", "silent"}, {"endpoint", dir.ipc("silent")}}), 3);
  file["budget"]["hours"] = 0.0003;  // 1.08 s: over while the first experiment runs
  const CampaignConfig config = parse_campaign_config(file.dump(), "hostile.json", labloop::sim::catalogue());
  std::stop_source stop;
  CampaignOptions options;
  options.stop = stop.get_token();
  options.stop_grace = std::chrono::milliseconds(500);
  std::jthread operator_([&stop](std::stop_token) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    stop.request_stop();  // a first Ctrl-C, once the time budget has run out
  });
  const auto started = std::chrono::steady_clock::now();
  const CampaignSummary summary = run_campaign(config, options);
  // Before, it waited for the experiment until a second Ctrl-C (here: the test's timeout).
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
  CHECK(summary.reason == "time budget reached");
  CHECK(aborts >= 1);
  int discarded = 0;
  for (const auto& e : events_of(out))
    discarded += e["event"] == "failed" && e.value("error", "").find("not finished within the stop grace period") != std::string::npos;
  CHECK(discarded == 1);
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver that comes back with a broken welcome is said to have sent one, not to have given none", "[fault][hostile]") {
  test::TempDir dir;
  const std::string endpoint = dir.ipc("reborn");
  std::atomic<int> runs = 0;
  auto first = std::make_unique<FakeDriver>(endpoint, [&runs](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] == "run") ++runs;  // accepted by silence: it dies with the experiment open
    return {};
  });
  const auto out = dir / "out";
  json file = hostile_campaign(out.string(), test::fast_heartbeat({{"name", "reborn"}, {"endpoint", endpoint}}, 1.0), 2);
  std::jthread restart([&](std::stop_token) {
    while (runs == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    first.reset();  // the driver dies, and another comes up where it was, with a capacity of 0
    first = std::make_unique<FakeDriver>(endpoint, [](const std::string& payload) -> std::vector<std::string> {
      const json m = json::parse(payload);
      if (m["type"] == "ping") return {kPong};
      if (m["type"] != "hello") return {};
      json w = json::parse(FakeDriver::welcome());
      w["capacity"] = 0;
      return {w.dump()};
    });
  });
  const CampaignSummary summary = run_file(file);
  restart.join();
  CHECK(summary.reason == "no instruments left");
  std::string quarantine, lost;
  for (const auto& e : events_of(out)) {
    if (e["event"] == "instrument_quarantined") quarantine = e.value("reason", "");
    if (e["event"] == "failed" && lost.empty()) lost = e.value("error", "");  // the experiment open when it died
  }
  CHECK_THAT(quarantine, Catch::Contains("it answered a malformed welcome (welcome: \"capacity\" must be"));
  CHECK_THAT(lost, Catch::Contains("it answered a malformed welcome"));
  check_bookkeeping(out);
}

TEST_CASE("Hostile: a driver that is never free, or never stops an aborted run, is quarantined after reconnect_s, saying which", "[fault][hostile]") {
  // Both stalled the campaign for ever while `status` said "ready" (red-team report).
  test::TempDir dir;
  FakeDriver never_free(dir.ipc("never-free"), [](const std::string& payload) -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {kPong};
    if (m["type"] != "run") return {};
    return {json{{"v", 1}, {"type", "rejected"}, {"experiment", m["experiment"]}, {"reason", "busy: another program"}}.dump()};
  });
  FakeDriver stubborn(dir.ipc("stubborn"), [first = std::string()](const std::string& payload) mutable -> std::vector<std::string> {
    const json m = json::parse(payload);
    if (m["type"] == "hello") return {FakeDriver::welcome()};
    if (m["type"] == "ping") return {json{{"v", 1}, {"type", "pong"}, {"running", first.empty() ? json::array() : json::array({first})}}.dump()};
    if (m["type"] != "run") return {};  // an abort is ignored
    if (first.empty()) first = m["experiment"];
    if (m["experiment"] != first)
      return {json{{"v", 1}, {"type", "rejected"}, {"experiment", m["experiment"]}, {"reason", "busy: 1/1 experiments running"}}.dump()};
    return {accepted(first)};  // and never finishes
  });
  const auto reason_of = [](const std::filesystem::path& out) {
    std::string reason;
    for (const auto& e : events_of(out))
      if (e["event"] == "instrument_quarantined") reason = e["reason"];
    return reason;
  };
  const auto busy_out = dir / "busy", stuck_out = dir / "stuck";
  CHECK(run_file(hostile_campaign(busy_out.string(), test::fast_heartbeat({{"name", "never-free"}, {"endpoint", dir.ipc("never-free")}}, 1.5), 2))
            .reason == "no instruments left");
  CHECK(reason_of(busy_out) == "every run rejected as busy for 1.5 s (reconnect_s) while it ran none of this campaign's, the last \"busy: "
                               "another program\"; is another program using it, or is its declared capacity (1) more than it can run?");
  check_bookkeeping(busy_out);
  json instrument = test::fast_heartbeat({{"name", "stubborn"}, {"endpoint", dir.ipc("stubborn")}}, 1.5);
  instrument["timeout_s"] = 0.3;
  CHECK(run_file(hostile_campaign(stuck_out.string(), instrument, 2)).reason == "no instruments left");
  CHECK_THAT(reason_of(stuck_out), Catch::Matches("it still runs h-[0-9a-f]+-0001 1\\.5 s \\(reconnect_s\\) after labloop aborted it, so its place "
                                                  "stays taken; its driver must stop an aborted experiment and answer \"aborted\" "
                                                  "\\(docs/protocol.md §4.5\\)"));
  check_bookkeeping(stuck_out);
}

// A crashed campaign with experiments open on two instruments, resumed when one of them does not
// come back, or comes back with limits that no longer fit: the resume goes on with the other, as
// a run would after a loss or a changed driver, and refuses only when no instrument answers (a
// red-team report: one dead machine made the campaign impossible to resume).
TEST_CASE("Hostile: a resume goes on without an instrument that is gone or no longer fits, and stops only when none answers", "[fault][hostile][resume]") {
  test::TempDir dir;
  constexpr int kBudget = 6;
  const std::string a_end = dir.ipc("a"), b_end = dir.ipc("b");
  const auto original = dir / "original";
  const auto instrument = [](const std::string& name, const std::string& endpoint) {
    json i = quick({{"name", name}, {"endpoint", endpoint}});
    i["connect_timeout_s"] = 0.5;
    i["reconnect_s"] = 0.5;
    return i;
  };
  {
    FakeDriver a(a_end, honest()), b(b_end, honest());
    REQUIRE(run_file(hostile_campaign(original.string(), {instrument("a", a_end), instrument("b", b_end)}, kBudget)).reason == "budget reached");
  }
  // Cut after b's first experiment was dispatched: it is open on b when the campaign resumes.
  const auto events = events_of(original);
  size_t cut = 0;
  while (cut < events.size() && !(events[cut]["event"] == "dispatched" && events[cut]["instrument"] == "b")) ++cut;
  REQUIRE(cut < events.size());
  const std::string on_b = events[cut]["experiment"];
  struct Notes : CampaignObserver {
    std::mutex mutex;
    std::vector<std::string> lines;
    void on_event(const JournalEvent&, const CampaignStatus&) override {}
    void on_log(const std::string& line) override {
      const std::lock_guard lock(mutex);
      lines.push_back(line);
    }
  };
  const auto resumed = [&](const std::string& name, Notes* notes = nullptr) {
    const auto copy = dir / name;
    std::filesystem::create_directories(copy);
    std::filesystem::copy_file(original / "journal.jsonl", copy / "journal.jsonl");
    test::keep_first_lines(copy / "journal.jsonl", cut + 1);
    const CampaignConfig config = journaled_config(read_journal(copy / "journal.jsonl").events, name, labloop::sim::catalogue());
    CampaignOptions options;
    options.resume = true;
    options.output = copy.string();
    return std::pair(copy, run_campaign(config, options, notes));
  };
  // What became of b's open experiment: failed with `error`, and its retry measured on a.
  const auto settled_elsewhere = [&](const std::filesystem::path& out, const std::string& error) {
    check_bookkeeping(out);
    std::string retry;
    for (const auto& e : events_of(out)) {
      if (e["event"] == "failed" && e["experiment"] == on_b) {
        CHECK(e["instrument"] == "b");
        CHECK_THAT(e["error"].get<std::string>(), Catch::StartsWith(error));
        retry = e.value("retry_as", "");
      }
      if (e["event"] == "dispatched" && !retry.empty() && e["experiment"] == retry) CHECK(e["instrument"] == "a");
    }
    CHECK_FALSE(retry.empty());
    CHECK(count_of_kind(out, "instrument_quarantined") == 1);
  };
  {
    FakeDriver a(a_end, honest());  // b's machine is gone for good
    const auto [out, summary] = resumed("b-gone");
    CHECK(summary.reason == "budget reached");
    CHECK(summary.status.done == kBudget);
    settled_elsewhere(out, "instrument b lost");
  }
  {
    FakeDriver a(a_end, honest());
    FakeDriver b(b_end, [](const std::string& payload) -> std::vector<std::string> {
      if (FakeDriver::type_of(payload) != "hello") return {};
      json narrower = json::parse(FakeDriver::welcome());
      narrower["inputs"][0]["high"] = 4;  // x1 now ends at 4, the campaign's at 10
      return {narrower.dump()};
    });
    const auto [out, summary] = resumed("b-narrower");
    CHECK(summary.reason == "budget reached");
    CHECK(summary.status.done == kBudget);
    settled_elsewhere(out, "b came back with different limits");
    for (const auto& e : events_of(out))
      if (e["event"] == "instrument_quarantined") CHECK_THAT(e["reason"].get<std::string>(), Catch::Contains("instrument 'b' limits \"x1\" to [-5, 4]"));
  }
  {
    // b is back only once the rest of the budget is done and the campaign says it waits for b,
    // 1.2 s later (hello is asked again every 0.5 s): ZeroMQ kept those hellos queued for it, it
    // answers each, and its open experiment, waited for (reconnect_s 5 s), is measured there. The
    // later welcomes answer hellos we sent: no note of a welcome not asked for.
    const auto copy = dir / "b-late";
    std::filesystem::create_directories(copy);
    std::filesystem::copy_file(original / "journal.jsonl", copy / "journal.jsonl");
    test::keep_first_lines(copy / "journal.jsonl", cut + 1);
    std::vector<std::string> lines = test::journal_lines(copy / "journal.jsonl");
    // The journal's own text edited (keys are written sorted: b's reconnect_s follows its name).
    const size_t b_at = lines.front().find("\"name\":\"b\"");
    const size_t wait_at = lines.front().find("\"reconnect_s\":0.5", b_at);
    REQUIRE(wait_at != std::string::npos);
    lines.front().replace(wait_at, std::string("\"reconnect_s\":0.5").size(), "\"reconnect_s\":5.0");
    // Heartbeats every second, so the hellos are not dropped with a socket made afresh (relink,
    // first after two heartbeats) before b is back.
    const size_t beat_at = lines.front().rfind("\"heartbeat_s\":0.1", b_at);
    REQUIRE(beat_at != std::string::npos);
    lines.front().replace(beat_at, std::string("\"heartbeat_s\":0.1").size(), "\"heartbeat_s\":1.0");
    test::write_rechained(copy / "journal.jsonl", lines);
    struct WaitNotes : Notes {
      std::atomic<bool> waits_for_b = false;
      void on_log(const std::string& line) override {
        Notes::on_log(line);
        if (line.find("1 on b, which is not back: waited for up to its reconnect_s (5 s)") != std::string::npos) waits_for_b = true;
      }
    } notes;
    FakeDriver a(a_end, honest());
    std::atomic<int> hellos = 0;
    std::optional<FakeDriver> b;
    std::jthread late([&](std::stop_token stop) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (!notes.waits_for_b && !stop.stop_requested() && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!notes.waits_for_b) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1200));
      b.emplace(b_end, [&, answer = honest()](const std::string& payload) mutable {
        if (FakeDriver::type_of(payload) == "hello") ++hellos;
        return answer(payload);
      });
    });
    const CampaignConfig config = journaled_config(read_journal(copy / "journal.jsonl").events, "b-late", labloop::sim::catalogue());
    CampaignOptions options;
    options.resume = true;
    options.output = copy.string();
    const CampaignSummary summary = run_campaign(config, options, &notes);
    late.request_stop();
    late.join();
    CHECK(notes.waits_for_b);
    CHECK(summary.reason == "budget reached");
    CHECK(summary.status.done == kBudget);
    check_bookkeeping(copy);
    bool measured_on_b = false;
    for (const auto& e : events_of(copy))
      if (e["event"] == "result" && e["experiment"] == on_b) measured_on_b = e.value("instrument", "") == "b";
    CHECK(measured_on_b);
    CHECK(hellos >= 3);
    for (const std::string& line : notes.lines) CHECK_THAT(line, !Catch::Contains("not asked for"));
    b.reset();
  }
  // Neither answers: refused as before, naming the first.
  CHECK_THROWS_WITH(resumed("none"), Catch::StartsWith("instrument 'a': no answer from"));
}

TEST_CASE("Hostile: a Ctrl-C while an extension or a resume waits for its driver is the operator's stop, and says what to repeat", "[fault][hostile]") {
  test::TempDir dir;
  const std::string endpoint = dir.ipc("gone");
  const auto out = dir / "out";
  json instrument = quick({{"name", "gone"}, {"endpoint", endpoint}});
  instrument["connect_timeout_s"] = 30;  // only the stop ends the wait
  {
    FakeDriver lab(endpoint, honest());
    REQUIRE(run_file(hostile_campaign(out.string(), instrument, 2)).reason == "budget reached");
  }
  // The driver is down; the operator asks for 3 more (`labloop extend out --experiments 3`), then
  // presses Ctrl-C while the extension waits for its welcome.
  CampaignConfig config = journaled_config(events_of(out), "hostile", labloop::sim::catalogue());
  config.budget.experiments = 5;
  CampaignOptions options;
  options.resume = true;
  options.output = out.string();
  options.budget_raise = BudgetExtendedEvent{.experiments = 5, .by = "tester"};
  {
    // A stop before the planner is rebuilt ends the extension there, with nothing journaled.
    std::stop_source early;
    early.request_stop();
    options.stop = early.get_token();
    const std::size_t lines = events_of(out).size();
    CHECK_THROWS_WITH(run_campaign(config, options),
                      Catch::StartsWith("stopped while rebuilding the planner from the journal, at ask 1 of 2; nothing was journaled (the budget "
                                        "was not raised"));
    CHECK(events_of(out).size() == lines);
  }
  // The stop comes while the extension waits for its driver (the planner is rebuilt by then).
  std::stop_source stop;
  options.stop = stop.get_token();
  std::jthread operator_([&stop](std::stop_token) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop.request_stop();
  });
  // `labloop run` again, as it said before, refuses the folder: the same extend is what works.
  CHECK_THROWS_WITH(run_campaign(config, options),
                    Catch::Contains(fmt::format("the budget was not raised: `labloop extend {} --experiments 3` again", path_word(out.string()))));
  CHECK(count_of_kind(out, "budget_extended") == 0);
  // Journaled as an error before, so that status said to fix its cause.
  CHECK(events_of(out).back()["event"] == "campaign_finished");
  CHECK(events_of(out).back()["reason"] == "stopped by operator");
  CHECK(campaign_overview(out, labloop::sim::catalogue()).phase == CampaignPhase::finished);

  // A resume stopped the same way says to resume again.
  config.budget.experiments = 2;
  options.budget_raise.reset();
  std::stop_source again;
  options.stop = again.get_token();
  std::jthread operator_again([&again](std::stop_token) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    again.request_stop();
  });
  CHECK_THROWS_WITH(run_campaign(config, options), Catch::Contains(fmt::format("nothing was run (`labloop resume {}` continues it)", path_word(out.string()))));
  CHECK(events_of(out).back()["reason"] == "stopped by operator");
  check_bookkeeping(out);
}
