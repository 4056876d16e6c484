// The faults labloop-sim can inject, and serve()'s result cache on disk, exercised on the real
// labloop-sim binary over real ipc sockets: results survive kill -9, an experiment cut short by
// a crash runs again (and completes once), and injected failures, hangs, garbage and oversized
// frames look to a client exactly as documented. Every receive is bounded by a poll timeout.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/wire/protocol.hpp"
#include "test_support.hpp"

#ifndef LABLOOP_SIM_PATH
#error "LABLOOP_SIM_PATH must be defined to the path of the labloop-sim binary"
#endif

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kStartTimeout = 5000ms;  // the first reply includes the simulator's start-up
constexpr auto kSimReplyTimeout = 3000ms;  // generous: a prompt reply takes well under 10 ms

// A controller-side DEALER; one frame = one message. Raw frames, because some are not JSON here.
class SimClient {
 public:
  explicit SimClient(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);  // fine before the simulator binds: ZeroMQ retries and queues
  }

  void send(const json& message) { socket_.send(zmq::buffer(message.dump()), zmq::send_flags::none); }

  // The payload of the next message, or nullopt when none arrives within `timeout`.
  std::optional<std::string> receive_raw(std::chrono::milliseconds timeout = kSimReplyTimeout) {
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 1, timeout);
    if (!(items[0].revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait) || frames.empty()) return std::nullopt;
    return frames.back().to_string();
  }

  // The next message, which must be valid protocol v1; fails the test otherwise.
  json receive(std::chrono::milliseconds timeout = kSimReplyTimeout) {
    const auto payload = receive_raw(timeout);
    if (!payload) FAIL("no message from labloop-sim within " << timeout.count() << " ms");
    INFO("received " << payload->substr(0, 200));
    // Checked as protocol v1, returned as the JSON on the wire: these tests check bytes, not types.
    REQUIRE_NOTHROW(labloop::protocol::decode(*payload));
    return json::parse(*payload);
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
};

json run_message(const std::string& id) { return labloop::protocol::to_json(labloop::protocol::Run{id, json{{"x1", 1.0}, {"x2", 2.0}}}); }

// What outlives one simulator process: its socket path, its result cache and its logs. Each
// start() is a fresh labloop-sim on the same files, as after a restart by the controller.
class Workspace {
  labloop::test::TempDir dir_;  // first: created before the paths below, removed after them

 public:
  const std::string endpoint = dir_.ipc("sim");
  const std::string cache = (dir_ / "cache.jsonl").string();
  const std::string completed = (dir_ / "completed.jsonl").string();

  labloop::ChildProcess start(const std::vector<std::string>& flags, const std::string& function = "branin") const {
    std::vector<std::string> argv{LABLOOP_SIM_PATH, "--function", function, "--endpoint", endpoint};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return labloop::ChildProcess(argv, dir_ / "sim.log");
  }
  // The usual flags of a restartable simulator: cache and completed log in this workspace.
  std::vector<std::string> durable(std::vector<std::string> more = {}) const {
    std::vector<std::string> flags{"--cache", cache, "--completed-log", completed};
    flags.insert(flags.end(), more.begin(), more.end());
    return flags;
  }

  std::string log() const { return labloop::test::read_file(dir_ / "sim.log"); }
  std::vector<std::string> lines(const std::string& path) const {
    std::istringstream in(labloop::test::read_file(path));
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // Experiment id → the pids of the processes that completed it, in order.
  std::map<std::string, std::vector<int>> completions() const {
    std::map<std::string, std::vector<int>> out;
    for (const auto& line : lines(completed)) {
      const json entry = json::parse(line);
      out[entry.at("experiment").get<std::string>()].push_back(entry.at("pid").get<int>());
    }
    return out;
  }
};

// Proves that nothing else is queued for this client.
void expect_nothing_running_and_nothing_queued(SimClient& client) {
  client.send(labloop::protocol::to_json(labloop::protocol::Ping{}));
  const json pong = client.receive();
  CHECK(pong["type"] == "pong");
  CHECK(pong["running"].empty());
}

}  // namespace

TEST_CASE("A result cached by labloop-sim survives kill -9 and is re-sent without running again", "[simfaults]") {
  Workspace w;
  json first;
  {
    // Noise, so a second evaluation would give a different y.
    auto sim = w.start(w.durable({"--noise", "1", "--seed", "1"}));
    SimClient client(w.endpoint);
    client.send(run_message("k-1"));
    REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");
    first = client.receive();
    REQUIRE(first["type"] == "result");
    REQUIRE(first["status"] == "ok");
    sim.kill();
    CHECK(sim.exit_status() == 128 + 9);
  }
  auto sim = w.start(w.durable({"--noise", "1", "--seed", "2"}));
  SimClient client(w.endpoint);
  client.send(run_message("k-1"));
  const json again = client.receive(kStartTimeout);
  CHECK(again == first);  // the very same message, meta and all; no `accepted` before it
  expect_nothing_running_and_nothing_queued(client);
  CHECK_THAT(w.log(), Catch::Contains("loaded 1 cached result(s)"));
  const auto completions = w.completions();
  REQUIRE(completions.count("k-1") == 1);
  CHECK(completions.at("k-1").size() == 1);
}

TEST_CASE("An experiment cut short by --crash-after runs again after a restart and completes once", "[simfaults]") {
  Workspace w;
  const auto flags = w.durable({"--crash-after", "1", "--delay", "0.2"});
  {
    auto sim = w.start(flags);
    SimClient client(w.endpoint);
    client.send(run_message("c-1"));
    REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");
    REQUIRE(client.receive()["status"] == "ok");
    client.send(run_message("c-2"));
    // The accepted usually gets out before the crash halfway through; a power cut makes no promise.
    if (const auto reply = client.receive_raw(1000ms)) CHECK(json::parse(*reply)["type"] == "accepted");
    CHECK(sim.wait_for(5000ms) == 128 + 9);
    CHECK_THAT(w.log(), Catch::Contains("injected crash"));
    const auto completions = w.completions();
    CHECK(completions.count("c-1") == 1);
    CHECK(completions.count("c-2") == 0);
  }
  auto sim = w.start(flags);  // counts afresh: c-2 is this process's first experiment
  SimClient client(w.endpoint);
  client.send(run_message("c-2"));
  REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");  // not cached: it never finished
  const json result = client.receive();
  CHECK(result["experiment"] == "c-2");
  CHECK(result["status"] == "ok");
  client.send(run_message("c-1"));
  CHECK(client.receive()["type"] == "result");  // from the cache: no accepted
  expect_nothing_running_and_nothing_queued(client);
  const auto completions = w.completions();
  REQUIRE(completions.count("c-1") == 1);
  REQUIRE(completions.count("c-2") == 1);
  CHECK(completions.at("c-1").size() == 1);
  CHECK(completions.at("c-2") == std::vector<int>{static_cast<int>(sim.pid())});
}

TEST_CASE("labloop-sim --fail-rate 1 fails every experiment with error injected failure", "[simfaults]") {
  Workspace w;
  auto sim = w.start({"--fail-rate", "1"});
  SimClient client(w.endpoint);
  client.send(run_message("f-1"));
  REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");
  const json result = client.receive();
  CHECK(result["experiment"] == "f-1");
  CHECK(result["status"] == "failed");
  CHECK(result["error"] == "injected failure");
  CHECK_THAT(w.log(), Catch::Contains("injected faults: fail-rate 1 (seed 1)"));
}

TEST_CASE("labloop-sim --hang-rate 1 gives no result until the experiment is aborted", "[simfaults]") {
  Workspace w;
  auto sim = w.start({"--hang-rate", "1"});
  SimClient client(w.endpoint);
  client.send(run_message("h-1"));
  REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");
  CHECK_FALSE(client.receive_raw(500ms).has_value());  // no delay: a result would be here by now
  client.send(labloop::protocol::to_json(labloop::protocol::Ping{}));
  CHECK(client.receive()["running"] == json{"h-1"});
  client.send(labloop::protocol::to_json(labloop::protocol::Abort{"h-1"}));
  const json result = client.receive();
  CHECK(result["experiment"] == "h-1");
  CHECK(result["status"] == "failed");
  CHECK(result["error"] == "aborted");
}

TEST_CASE("labloop-sim --garbage-rate 1 sends a frame that is not JSON before every real message", "[simfaults]") {
  Workspace w;
  auto sim = w.start({"--garbage-rate", "1"});
  SimClient client(w.endpoint);
  client.send(labloop::protocol::to_json(labloop::protocol::Hello{"labloop-test", "garbage"}));
  const auto garbage = client.receive_raw(kStartTimeout);
  REQUIRE(garbage);
  CHECK_FALSE(json::accept(*garbage));
  CHECK(client.receive()["type"] == "welcome");
  client.send(run_message("g-1"));
  CHECK_FALSE(json::accept(client.receive_raw().value_or("{}")));
  CHECK(client.receive()["type"] == "accepted");
  CHECK_FALSE(json::accept(client.receive_raw().value_or("{}")));
  const json result = client.receive();
  CHECK(result["experiment"] == "g-1");
  CHECK(result["status"] == "ok");
}

TEST_CASE("labloop-sim --oversize-rate 1 sends a message over the size limit before every real message", "[simfaults]") {
  Workspace w;
  auto sim = w.start({"--oversize-rate", "1"});
  SimClient client(w.endpoint);
  client.send(run_message("o-1"));
  const auto oversize = client.receive_raw(kStartTimeout);
  REQUIRE(oversize);
  CHECK(oversize->size() > labloop::protocol::kMaxMessageBytes);
  CHECK(json::accept(*oversize));  // valid JSON: only its size is wrong
  try {
    labloop::protocol::decode(*oversize);
    FAIL("an oversized message was decoded");
  } catch (const labloop::ProtocolError& e) {
    CHECK(e.code() == "too_large");
  }
  CHECK(client.receive()["type"] == "accepted");
  CHECK(client.receive_raw().value_or("").size() > labloop::protocol::kMaxMessageBytes);
  const json result = client.receive();
  CHECK(result["experiment"] == "o-1");
  CHECK(result["status"] == "ok");
}

TEST_CASE("A torn last line and a corrupt line in the cache file are skipped and later results still persist", "[simfaults]") {
  Workspace w;
  const json cached = labloop::protocol::to_json(labloop::protocol::Result::ok("t-1", {{"y", 42.0}}));  // no branin point gives exactly 42 here
  labloop::test::write_file(w.cache, cached.dump() + "\n" + "this line is not JSON\n" +
                                         R"({"v":1,"type":"result","experiment":"t-2","sta)");
  json fresh;
  {
    auto sim = w.start(w.durable());
    SimClient client(w.endpoint);
    client.send(run_message("t-1"));
    CHECK(client.receive(kStartTimeout) == cached);
    client.send(run_message("t-2"));  // its torn line was no result: evaluated afresh
    REQUIRE(client.receive()["type"] == "accepted");
    fresh = client.receive();
    REQUIRE(fresh["status"] == "ok");
    CHECK_THAT(w.log(), Catch::Contains("corrupt line 2"));
    CHECK_THAT(w.log(), Catch::Contains("torn last line 3"));
    sim.kill();
  }
  // The fragment was closed with a newline, so t-2's line is whole and found after a restart.
  const auto lines = w.lines(w.cache);
  REQUIRE(lines.size() == 4);
  json line = json::parse(lines[3]);
  CHECK(line["params"] == run_message("t-2")["params"]);  // the params of its run, beside the result
  line.erase("params");
  CHECK(line == fresh);
  auto sim = w.start(w.durable());
  SimClient client(w.endpoint);
  client.send(run_message("t-2"));
  CHECK(client.receive(kStartTimeout) == fresh);
  expect_nothing_running_and_nothing_queued(client);
  CHECK(w.completions().at("t-2").size() == 1);
}

TEST_CASE("A cache line nested 100,000 deep is skipped as corrupt and the driver serves the rest", "[simfaults][limits]") {
  Workspace w;
  const json cached = labloop::protocol::to_json(labloop::protocol::Result::ok("t-1", {{"y", 42.0}}));
  const std::string deep = R"({"v":1,"type":"result","experiment":"t-3","status":"ok","values":{"y":7},"meta":{"m":)" +
                           std::string(100000, '[') + std::string(100000, ']') + "}}";
  labloop::test::write_file(w.cache, deep + "\n" + cached.dump() + "\n");
  auto sim = w.start(w.durable());
  SimClient client(w.endpoint);
  client.send(run_message("t-1"));
  CHECK(client.receive(kStartTimeout) == cached);
  client.send(run_message("t-3"));  // its deep line was no result: evaluated afresh
  REQUIRE(client.receive()["type"] == "accepted");
  const json fresh = client.receive();
  CHECK(fresh["status"] == "ok");
  CHECK(fresh["values"]["y"] != 7);
  CHECK_THAT(w.log(), Catch::Contains("skipped corrupt line 1: message nests arrays/objects deeper than 64 levels"));
}

TEST_CASE("labloop-sim refuses fault rates outside [0, 1] and a negative --crash-after", "[simfaults]") {
  Workspace w;
  for (const auto& flags : {std::vector<std::string>{"--fail-rate", "1.5"}, {"--garbage-rate", "-0.1"}, {"--crash-after", "-1"}}) {
    INFO(flags[0] << " " << flags[1]);
    auto sim = w.start(flags);
    const auto status = sim.wait_for(5000ms);
    REQUIRE(status.has_value());
    CHECK(*status != 0);
  }
  CHECK_THAT(w.log(), Catch::Contains("--fail-rate: must be a number from 0 to 1, got 1.5") &&
                         Catch::Contains("--crash-after: must be a whole number from 0 to 2147483647, got -1"));
}

// ---- functions with several outputs, options of their own, and failing regions ----

namespace {

json simfn_run(const std::string& id, const json& params) { return labloop::protocol::to_json(labloop::protocol::Run{id, params}); }

json simfn_hello() { return labloop::protocol::to_json(labloop::protocol::Hello{}); }

}  // namespace

TEST_CASE("labloop-sim dtlz2 with --options objectives 3 declares f1 f2 f3 at welcome and returns all three", "[simfaults][multi]") {
  Workspace w;
  auto sim = w.start({"--options", R"({"objectives": 3})"}, "dtlz2");
  SimClient client(w.endpoint);
  client.send(simfn_hello());
  const json welcome = client.receive(kStartTimeout);
  REQUIRE(welcome["type"] == "welcome");
  CHECK(welcome["outputs"] == json::array({"f1", "f2", "f3"}));
  CHECK(welcome["inputs"].size() == 6);  // the default dimension

  // On the Pareto front (the last k = 4 inputs at 0.5): the squares sum to 1.
  client.send(simfn_run("d-1", {{"x1", 0.3}, {"x2", 0.7}, {"x3", 0.5}, {"x4", 0.5}, {"x5", 0.5}, {"x6", 0.5}}));
  REQUIRE(client.receive()["type"] == "accepted");
  const json result = client.receive();
  REQUIRE(result["type"] == "result");
  CHECK(result["status"] == "ok");
  const json& values = result["values"];
  REQUIRE(values.size() == 3);
  double sum = 0;
  for (const char* name : {"f1", "f2", "f3"}) {
    REQUIRE(values.contains(name));
    sum += values[name].get<double>() * values[name].get<double>();
  }
  CHECK(sum == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("labloop-sim --noise adds independent noise to each output of branin_currin", "[simfaults][multi]") {
  Workspace w;
  auto sim = w.start({"--noise", "0.5", "--seed", "3"}, "branin_currin");
  SimClient client(w.endpoint);
  client.send(simfn_run("n-1", {{"x1", 0.0}, {"x2", 0.0}}));
  REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");
  const json values = client.receive()["values"];
  REQUIRE(values.size() == 2);
  // Noise-free: branin 308.129…, currin 3; each moved by its own draw.
  const double branin_noise = values["branin"].get<double>() - 308.12909601160663;
  const double currin_noise = values["currin"].get<double>() - 3.0;
  CHECK(branin_noise != 0.0);
  CHECK(currin_noise != 0.0);
  CHECK(branin_noise != currin_noise);
  CHECK(std::abs(branin_noise) < 5.0);  // 10 standard deviations
  CHECK(std::abs(currin_noise) < 5.0);
}

TEST_CASE("labloop-sim branin_failing fails with error no product beyond x1 + x2 = 10.5 and succeeds elsewhere", "[simfaults][multi]") {
  Workspace w;
  auto sim = w.start({}, "branin_failing");
  SimClient client(w.endpoint);
  client.send(simfn_run("b-1", {{"x1", 9.42478}, {"x2", 2.475}}));
  REQUIRE(client.receive(kStartTimeout)["type"] == "accepted");
  const json failed = client.receive();
  CHECK(failed["experiment"] == "b-1");
  CHECK(failed["status"] == "failed");
  CHECK(failed["error"] == "no product");
  client.send(simfn_run("b-2", {{"x1", -3.14159265358979}, {"x2", 12.275}}));
  REQUIRE(client.receive()["type"] == "accepted");
  const json ok = client.receive();
  CHECK(ok["status"] == "ok");
  CHECK(ok["values"]["y"].get<double>() == Approx(0.397887).margin(1e-5));
}

TEST_CASE("labloop-sim refuses --options a function does not take, or values out of range, with exit status 2", "[simfaults][multi]") {
  Workspace w;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"dtlz2", {"--options", R"({"objectives": 5})"}},
      {"dtlz2", {"--options", R"({"objectivs": 3})"}},
      {"dtlz2", {"--dim", "2", "--options", R"({"objectives": 3})"}},
      {"dtlz2", {"--options", "not json"}},
      {"branin", {"--options", R"({"objectives": 3})"}},
  };
  for (const auto& [function, flags] : cases) {
    INFO(function << " " << flags.back());
    auto sim = w.start(flags, function);
    const auto status = sim.wait_for(5000ms);
    REQUIRE(status.has_value());
    CHECK(*status == 2);
  }
  const std::string log = w.log();
  CHECK_THAT(log, Catch::Contains("--options: /objectives: must be a whole number from 2 to 4"));
  CHECK_THAT(log, Catch::Contains("did you mean \"objectives\"?"));
  CHECK_THAT(log, Catch::Contains("raise \"dim\""));
  CHECK_THAT(log, Catch::Contains("--options is not JSON"));
  CHECK_THAT(log, Catch::Contains("branin takes no options of its own"));
}
