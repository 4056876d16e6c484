// Exclusive control end to end (protocol §12, docs/decisions/0011-exclusive-control.md): real
// `labloop` processes against one encrypted labloop-sim (exclusive by default with --key). The
// policy itself is tested in tests/unit/lease_test.cpp; here, once each, what only processes and
// sockets show: a second campaign refused naming the holder with nothing of it run, a `kill -9`ed
// campaign's instrument still refused to a new one and taken back by its `resume`, release at
// the end freeing it, and an old controller (hello without campaign_id) served only while free.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>
#include <zmq.hpp>

#include "cli_process.hpp"
#include "fake_driver.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/release.hpp"
#include "catalogue.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/driver.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/protocol.hpp"
#include "test_support.hpp"

using namespace labloop;
using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void write_exclusive_campaign(const test::TempDir& dir, const std::string& file, const std::string& name, int budget) {
  // A generous heartbeat: a driver stalled by a slow fsync on a busy machine must not be quarantined.
  const json instrument{{"name", "reactor-1"},
                        {"endpoint", dir.ipc("sim")},
                        {"heartbeat_s", 0.5},
                        {"heartbeat_misses", 20},
                        {"security", {{"server_public_key", (dir / "keys/sim.pub").string()}}}};
  // One key signs the journal and is the instrument's client key (its default).
  test::write_file(dir / file, json{{"name", name},
                                    {"controller_key", (dir / "keys/controller").string()},
                                    {"seed", 5},
                                    {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                                    {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                                    {"objective", {{"name", "y"}}},
                                    {"planner", {{"kind", "sobol"}}},
                                    {"instruments", {instrument}},
                                    {"budget", {{"experiments", budget}}}}
                                   .dump());
}

std::string exclusive_campaign_id(const fs::path& journal) {
  return read_journal(journal).events.at(0).at("campaign_id").get<std::string>();
}

std::vector<std::string> exclusive_kinds(const fs::path& journal) {
  std::vector<std::string> kinds;
  for (const auto& e : read_journal(journal).events)
    if (e["event"] != "journal_signed") kinds.push_back(e["event"].get<std::string>());  // signatures are not the campaign's events
  return kinds;
}

// A controller sending raw protocol messages on a DEALER: one of protocol v1 before campaign ids
// (with this controller's key, so only the missing campaign_id tells it from the holder), or a
// plaintext one.
class OldController {
 public:
  OldController(zmq::context_t& context, const std::string& endpoint, const KeyPair* mine = nullptr, const PublicKey* server = nullptr,
                const std::string& routing_id = "")
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    if (!routing_id.empty()) socket_.set(zmq::sockopt::routing_id, routing_id);
    if (mine && server) {
      zmq_setsockopt(socket_.handle(), ZMQ_CURVE_SERVERKEY, server->curve.data(), 32);
      zmq_setsockopt(socket_.handle(), ZMQ_CURVE_PUBLICKEY, mine->public_key.curve.data(), 32);
      zmq_setsockopt(socket_.handle(), ZMQ_CURVE_SECRETKEY, mine->curve_secret.data(), 32);
    }
    socket_.connect(endpoint);
  }
  json ask(const protocol::Message& message) {
    socket_.send(zmq::buffer(protocol::encode(message)), zmq::send_flags::none);
    return receive();
  }
  json receive(std::chrono::milliseconds timeout = 5000ms) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    zmq::message_t reply;
    if (!(item.revents & ZMQ_POLLIN) || !socket_.recv(reply)) return json{{"type", "<timeout>"}};
    return json::parse(reply.to_string());
  }

 private:
  zmq::socket_t socket_;
};

// x in [0, 1] → y = x; counts the runs that reach it. `slow`: each run takes 1 s, or until
// stopped, and two run at once.
class ExclusiveEcho final : public Driver {
 public:
  explicit ExclusiveEcho(bool slow = false) : slow_(slow) {}
  InstrumentInfo describe() const override {
    InstrumentInfo info;
    info.driver = slow_ ? "slow-echo" : "exclusive-echo";
    info.version = "1";
    info.inputs = {Parameter{.name = "x", .low = 0, .high = 1}};
    info.outputs = {"y"};
    if (slow_) info.capacity = 2;
    return info;
  }
  Values run(const Params& params, std::stop_token stop) override {
    ++runs;
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (slow_ && !stop.stop_requested() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    return {{"y", params["x"].get<double>()}};
  }
  std::atomic<int> runs{0};

 private:
  bool slow_;
};

// serve() options for exclusive control, the holder file beside `dir`'s echo.cache.jsonl.
ServeOptions exclusive_echo_options(const test::TempDir& dir) {
  ServeOptions options;
  options.exclusive = true;
  options.cache_path = (dir / "echo.cache.jsonl").string();
  return options;
}

// serve() in-process until the object goes away.
class ExclusiveServed {
 public:
  ExclusiveServed(Driver& driver, const std::string& endpoint, ServeOptions options) {
    std::promise<void> ready;
    auto bound = ready.get_future();
    thread_ = std::jthread([&driver, endpoint, options, ready = std::move(ready)](std::stop_token stop) mutable {
      options.stop = stop;
      options.handle_signals = false;
      options.log = [](const std::string&) {};
      options.on_ready = [&ready](const std::string&) { ready.set_value(); };
      serve(driver, endpoint, options);
    });
    REQUIRE(bound.wait_for(5s) == std::future_status::ready);
  }

 private:
  std::jthread thread_;
};

}  // namespace

TEST_CASE("Exclusive control in serve(): the holder survives a driver restart, a connection says hello to be the holder's, only "
          "the holder releases, and a driver without it answers release and names no holder",
          "[exclusive]") {
  const test::TempDir dir;
  ExclusiveEcho echo;
  ServeOptions options = exclusive_echo_options(dir);
  zmq::context_t context;
  const auto run = [](OldController& c, const std::string& id) { return c.ask(protocol::Run{id, json{{"x", 0.5}}}); };
  {
    ExclusiveServed served(echo, dir.ipc("echo"), options);
    OldController a(context, dir.ipc("echo")), b(context, dir.ipc("echo"));
    const json welcome = a.ask(protocol::Hello{"t", "a", "aaaa"});
    CHECK(welcome["holder"]["campaign_id"] == "aaaa");
    CHECK_FALSE(welcome["holder"].contains("controller"));  // plaintext: the campaign id alone
    CHECK(b.ask(protocol::Hello{"t", "b", "bbbb"})["code"] == "busy");
    CHECK(run(b, "b-1")["code"] == "busy");
    CHECK(run(a, "a-1")["type"] == "accepted");
  }
  CHECK(echo.runs.load() == 1);
  {
    ExclusiveServed served(echo, dir.ipc("echo"), options);  // restarted: the holder is read back
    OldController a(context, dir.ipc("echo")), b(context, dir.ipc("echo"));
    CHECK(b.ask(protocol::Hello{"t", "b", "bbbb"})["code"] == "busy");
    CHECK(run(a, "a-2")["code"] == "busy");  // a connection this driver has not heard hello from
    CHECK(a.ask(protocol::Hello{"t", "a", "aaaa"})["holder"]["campaign_id"] == "aaaa");
    CHECK(run(a, "a-2")["type"] == "accepted");
    CHECK(a.receive()["type"] == "result");
    CHECK(b.ask(protocol::Release{"bbbb"})["code"] == "busy");
    CHECK(a.ask(protocol::Release{"aaaa"}) == protocol::to_json(protocol::Released{"aaaa"}));
    CHECK(b.ask(protocol::Hello{"t", "b", "bbbb"})["holder"]["campaign_id"] == "bbbb");
  }
  CHECK(echo.runs.load() == 2);
  CHECK_THAT(test::read_file(dir / "echo.cache.jsonl.holder"), Catch::Contains("\"released\":true") && Catch::Contains("bbbb"));
  { ExclusiveServed served(echo, dir.ipc("echo"), options); }  // a restart compacts the file to its current line
  const std::string compacted = test::read_file(dir / "echo.cache.jsonl.holder");
  CHECK(std::count(compacted.begin(), compacted.end(), '\n') == 1);
  CHECK_THAT(compacted, Catch::Contains("bbbb") && !Catch::Contains("released"));
  {
    options.exclusive = false;  // v1 as before: no holder, release answered, everyone served
    ExclusiveServed served(echo, dir.ipc("echo"), options);
    OldController c(context, dir.ipc("echo"));
    CHECK_FALSE(c.ask(protocol::Hello{"t", "c", "cccc"}).contains("holder"));
    CHECK(c.ask(protocol::Release{"cccc"})["type"] == "released");
  }
}

TEST_CASE("Exclusive control: release gives back what a finished campaign still holds, says who else holds one, and leaves a driver "
          "without exclusive control as it was",
          "[exclusive]") {
  // A campaign releases its instruments when it stops; a driver that was down then kept its lease
  // on disk, and the next campaign was refused for an hour with advice it could not follow (its
  // holder had finished: "resume" refused). `labloop release DIR` calls this.
  const test::TempDir dir;
  ExclusiveEcho echo;
  zmq::context_t context;
  const auto config = [&](const std::string& endpoint) {
    const json file{{"name", "held"}, {"parameters", {{{"name", "x"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}}},
                    {"objective", {{"name", "y"}}}, {"budget", {{"experiments", 1}}},
                    {"instruments", {{{"name", "echo"}, {"endpoint", endpoint}, {"connect_timeout_s", 0.5}}, {{"name", "bench"}, {"manual", true}}}}};
    return parse_campaign_config(file.dump(), "held.json", sim::catalogue());
  };
  {
    ExclusiveServed served(echo, dir.ipc("echo"), exclusive_echo_options(dir));
    OldController finished(context, dir.ipc("echo"));
    REQUIRE(finished.ask(protocol::Hello{"t", "held", "aaaa"})["holder"]["campaign_id"] == "aaaa");  // and never released
    OldController next(context, dir.ipc("echo"));
    CHECK(next.ask(protocol::Hello{"t", "next", "bbbb"})["code"] == "busy");
    auto outcomes = release_instruments(config(dir.ipc("echo")), "aaaa");
    REQUIRE(outcomes.size() == 1);  // a person holds nothing
    CHECK(outcomes[0].instrument == "echo");
    CHECK(outcomes[0].outcome == InstrumentRelease::Outcome::released);
    CHECK(next.ask(protocol::Hello{"t", "next", "bbbb"})["holder"]["campaign_id"] == "bbbb");
    // Held by the next campaign now: said so, and left to it.
    outcomes = release_instruments(config(dir.ipc("echo")), "aaaa");
    CHECK(outcomes[0].outcome == InstrumentRelease::Outcome::held_by_another);
    CHECK_THAT(outcomes[0].detail, Catch::StartsWith("instrument held by campaign bb"));  // the driver's words, not advice to a run
    CHECK(next.ask(protocol::Run{"next-1", json{{"x", 0.5}}})["type"] == "accepted");
  }
  {
    ServeOptions plain = exclusive_echo_options(dir);
    plain.exclusive = false;
    ExclusiveServed served(echo, dir.ipc("plain"), plain);
    const auto outcomes = release_instruments(config(dir.ipc("plain")), "aaaa");
    CHECK(outcomes[0].outcome == InstrumentRelease::Outcome::not_held);
  }
  // Nobody there: not released, and said why.
  const auto outcomes = release_instruments(config(dir.ipc("gone")), "aaaa");
  CHECK(outcomes[0].outcome == InstrumentRelease::Outcome::unreachable);
  CHECK_THAT(outcomes[0].detail, Catch::Contains("no answer from"));
}

TEST_CASE("Exclusive control: a second campaign is refused naming the holder, a kill -9ed campaign's resume takes its instrument "
          "back while a new one is still refused, and release at the end frees it",
          "[exclusive][curve]") {
  const test::TempDir dir;
  const KeyPair controller = generate_key_pair("controller");
  const KeyPair sim_key = generate_key_pair("sim");
  fs::create_directories(dir / "keys");
  fs::create_directories(dir / "allowed");
  write_key_pair(dir / "keys/controller", controller);
  write_key_pair(dir / "keys/sim", sim_key);
  fs::copy_file(dir / "keys/controller.pub", dir / "allowed/controller.pub");
  ChildProcess simulator({LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", dir.ipc("sim"), "--delay", "0.25", "--key",
                          (dir / "keys/sim").string(), "--allowed", (dir / "allowed").string(), "--cache", (dir / "sim.cache.jsonl").string(),
                          "--completed-log", (dir / "sim.completed.jsonl").string()},
                         dir / "sim.log");
  write_exclusive_campaign(dir, "a.json", "alpha", 12);  // 3 s of experiments: time to refuse two others before the kill
  write_exclusive_campaign(dir, "b.json", "bravo", 3);
  const fs::path a_journal = dir / "a" / "journal.jsonl";

  // (a) Campaign A holds the instrument; B is refused at start, naming A, and writes nothing.
  std::string a_id;
  {
    ChildProcess a({LABLOOP_CLI_PATH, "run", (dir / "a.json").string(), "-o", (dir / "a").string()}, dir / "a.log");
    for (int i = 0; i < 1000 && test::count_journaled(a_journal, "result") < 2 && a.running(); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(a.running());
    a_id = exclusive_campaign_id(a_journal);
    const auto b = test::cli({"run", (dir / "b.json").string(), "-o", (dir / "b").string()}, dir, "b.log");
    INFO(b.output);
    CHECK(b.status == 1);
    CHECK_THAT(b.output, Catch::Contains("instrument 'reactor-1'") && Catch::Contains("held by campaign " + a_id.substr(0, 12) + "…") &&
                             Catch::Contains("controller " + controller.public_key.fingerprint()));
    CHECK_FALSE(fs::exists(dir / "b" / "journal.jsonl"));

    // (d) An old controller, the same key but no campaign_id, is refused too: hello and run.
    zmq::context_t context;
    OldController old(context, dir.ipc("sim"), &controller, &sim_key.public_key);
    const json hello = old.ask(protocol::Hello{"labloop 0.2.0", "old"});
    CHECK(hello["type"] == "error");
    CHECK(hello["code"] == "busy");
    const json run = old.ask(protocol::Run{"old-0001", json{{"x1", 1.0}, {"x2", 2.0}}});
    CHECK(run["code"] == "busy");
    CHECK(run["experiment"] == "old-0001");

    // kill -9 mid-run: no release, the lease stays A's.
    REQUIRE(a.running());
    ::kill(a.pid(), SIGKILL);
    REQUIRE(a.wait_for(10s));
  }
  CHECK(test::count_journaled(a_journal, "campaign_finished") == 0);

  // (b) A new campaign is still refused; A's resume (same campaign id, same key) takes it back.
  const auto c = test::cli({"run", (dir / "b.json").string(), "-o", (dir / "c").string()}, dir, "c.log");
  INFO(c.output);
  CHECK(c.status == 1);
  CHECK_THAT(c.output, Catch::Contains("held by campaign " + a_id.substr(0, 12) + "…"));
  CHECK_THAT(c.output, !Catch::Contains(a_id));
  const auto resumed = test::cli({"resume", (dir / "a").string()}, dir, "resume.log");
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  const std::vector<std::string> kinds = exclusive_kinds(a_journal);
  CHECK(std::count(kinds.begin(), kinds.end(), "instrument_held") == 2);  // at start and at resume
  REQUIRE(kinds.size() >= 2);
  CHECK(kinds[kinds.size() - 2] == "instrument_released");  // released, then campaign_finished
  CHECK(kinds.back() == "campaign_finished");
  CHECK(test::count_journaled(a_journal, "result") == 12);
  // verify reads the new events (journal format extended, not renamed) and says who held what.
  const auto verified = test::cli({"verify", (dir / "a").string(), "--key", (dir / "keys/controller.pub").string()}, dir, "verify.log");
  INFO(verified.output);
  CHECK(verified.status == 0);
  CHECK_THAT(verified.output, Catch::Contains("held since") && Catch::Contains("not released") && Catch::Contains(", released 20"));

  // (c) Released: an old controller is served again, and a new campaign runs.
  {
    zmq::context_t context;
    OldController old(context, dir.ipc("sim"), &controller, &sim_key.public_key);
    const json hello = old.ask(protocol::Hello{"labloop 0.2.0", "old"});
    CHECK(hello["type"] == "welcome");
    CHECK_FALSE(hello.contains("holder"));  // served, never the holder
  }
  const auto d = test::cli({"run", (dir / "b.json").string(), "-o", (dir / "d").string()}, dir, "d.log");
  INFO(d.output);
  CHECK(d.status == 0);
  const std::string d_id = exclusive_campaign_id(dir / "d" / "journal.jsonl");

  // Only A's and D's experiments ever ran on the instrument: nothing of B, C or the old controller.
  std::map<std::string, int> completed;
  test::count_completed(dir / "sim.completed.jsonl", completed);
  int a_runs = 0, d_runs = 0;
  for (const auto& [id, n] : completed) {
    INFO(id);
    CHECK(n == 1);
    const bool of_a = id.find(a_id.substr(0, 12)) != std::string::npos, of_d = id.find(d_id.substr(0, 12)) != std::string::npos;
    CHECK((of_a || of_d));
    a_runs += of_a;
    d_runs += of_d;
  }
  CHECK(a_runs == 12);
  CHECK(d_runs == 3);
  CHECK_THAT(test::read_file(dir / "sim.log"), Catch::Contains("refused a hello from a controller that does not hold this instrument"));
}

TEST_CASE("Exclusive control at the controller: busy to its hello names the holder and what to do, and says so when the holder is "
          "this campaign under another controller key",
          "[exclusive]") {
  const test::TempDir dir;
  test::FakeDriver fake(dir.ipc("fake"), [](const std::string&) {
    return std::vector<std::string>{protocol::encode(protocol::Error{
        "busy", "instrument held by campaign aaaa (controller curve:other) since 2026-12-02 14:02:07 UTC; its lease runs until 2026-12-02 15:02:07 UTC unless it is released",
        std::nullopt})};
  });
  zmq::context_t context;
  Instrument another(context, "reactor-1", dir.ipc("fake"), InstrumentTiming{}, [](const std::string&) {});
  CHECK_THROWS_WITH(another.hello("b", {}, std::string("bbbb")),
                    Catch::Contains("instrument 'reactor-1': is in use by another campaign") && Catch::Contains("held by campaign aaaa") &&
                        Catch::Contains("Wait for that campaign to end, or stop it"));
  Instrument same(context, "reactor-1", dir.ipc("fake"), InstrumentTiming{}, [](const std::string&) {});
  CHECK_THROWS_WITH(same.hello("a", {}, std::string("aaaa")), Catch::Contains("is held by this campaign, but under another controller key"));
}

TEST_CASE("Under CURVE a claim and an experiment belong to the routing identity and the key together: another allowed controller "
          "reusing the holder's identity is not the holder, gets none of its results and cannot abort them",
          "[exclusive][curve]") {
  const test::TempDir dir;
  const KeyPair driver_key = generate_key_pair("driver"), a_key = generate_key_pair("ctl-a"), b_key = generate_key_pair("ctl-b");
  fs::create_directories(dir / "keys");
  fs::create_directories(dir / "allowed");
  write_key_pair(dir / "keys/driver", driver_key);
  write_key_pair(dir / "keys/ctl-a", a_key);
  write_key_pair(dir / "keys/ctl-b", b_key);
  fs::copy_file(dir / "keys/ctl-a.pub", dir / "allowed/ctl-a.pub");
  fs::copy_file(dir / "keys/ctl-b.pub", dir / "allowed/ctl-b.pub");
  ExclusiveEcho slow(true);
  for (const bool exclusive : {true, false}) {
    INFO("exclusive " << exclusive);
    ServeOptions options;
    options.exclusive = exclusive;
    options.key_path = (dir / "keys/driver").string();
    options.allowed_keys = (dir / "allowed").string();
    const std::string endpoint = dir.ipc(exclusive ? "slow-x" : "slow");
    ExclusiveServed served(slow, endpoint, options);
    zmq::context_t context;
    {
      OldController a(context, endpoint, &a_key, &driver_key.public_key, "ctl-fixed");
      if (exclusive) REQUIRE(a.ask(protocol::Hello{"t", "a", "camp-a"})["holder"]["campaign_id"] == "camp-a");
      REQUIRE(a.ask(protocol::Run{"a1", json{{"x", 0.25}}})["type"] == "accepted");
    }
    std::this_thread::sleep_for(300ms);  // the driver sees A's connection go, so B may take its routing identity
    OldController b(context, endpoint, &b_key, &driver_key.public_key, "ctl-fixed");
    const json run = b.ask(protocol::Run{"b1", json{{"x", 0.5}}});
    if (exclusive) {
      CHECK(run["code"] == "busy");  // no hello of its own: not the holder
    } else {
      CHECK(run["type"] == "accepted");
    }
    const json abort = b.ask(protocol::Abort{"a1"});
    CHECK(abort["type"] == "error");
    CHECK((abort["code"] == "busy" || abort["code"] == "unknown_experiment"));
    for (json m = b.receive(2000ms); m["type"] != "<timeout>"; m = b.receive(2000ms)) {
      INFO(m.dump());
      CHECK(m["experiment"] != "a1");  // A's result never goes to B
    }
    // A, reconnected with its own key, takes its instrument back and is given its kept result.
    OldController a(context, endpoint, &a_key, &driver_key.public_key, "ctl-a-again");
    if (exclusive) CHECK(a.ask(protocol::Hello{"t", "a", "camp-a"})["holder"]["campaign_id"] == "camp-a");
    const json kept = a.ask(protocol::Run{"a1", json{{"x", 0.25}}});
    CHECK(kept["type"] == "result");
    CHECK(kept["status"] == "ok");
    CHECK(kept["values"]["y"] == 0.25);
  }
}

TEST_CASE("Exclusive control: a flood of refused hellos from thousands of connections does not make the driver forget its holder",
          "[exclusive]") {
  const test::TempDir dir;
  ExclusiveEcho echo;
  ServeOptions options;
  options.exclusive = true;
  ExclusiveServed served(echo, dir.ipc("flood"), options);
  zmq::context_t context;
  OldController holder(context, dir.ipc("flood"));
  REQUIRE(holder.ask(protocol::Hello{"t", "a", "camp-a"})["holder"]["campaign_id"] == "camp-a");
  // More connections than the driver remembers (4096), each refused: with and without a claim.
  for (int i = 0; i < 4200; ++i) {
    OldController other(context, dir.ipc("flood"));
    const json refused = other.ask(i % 2 ? protocol::Hello{"t", "b", "camp-b"} : protocol::Hello{"t", "old", std::nullopt});
    REQUIRE(refused["code"] == "busy");
  }
  CHECK(holder.ask(protocol::Run{"a-1", json{{"x", 0.5}}})["type"] == "accepted");
  CHECK(holder.receive()["type"] == "result");
}

TEST_CASE("Exclusive control: taking and releasing the instrument in a loop keeps the holder file small, and the driver starts again", "[exclusive]") {
  const test::TempDir dir;
  ExclusiveEcho echo;
  ServeOptions options = exclusive_echo_options(dir);
  zmq::context_t context;
  const auto holder_file = dir / "echo.cache.jsonl.holder";
  {
    ExclusiveServed served(echo, dir.ipc("echo"), options);
    OldController a(context, dir.ipc("echo"));
    // A long campaign id, so a few thousand takes and releases pass the compaction size (1 MiB).
    const std::string id(128, 'c');
    const auto take_and_release = [&] {
      REQUIRE(a.ask(protocol::Hello{"t", "a", id})["holder"]["campaign_id"] == id);
      REQUIRE(a.ask(protocol::Release{id})["type"] == "released");
    };
    take_and_release();
    // Enough cycles to write 1.5 MiB uncompacted.
    const auto per_cycle = std::filesystem::file_size(holder_file);
    REQUIRE(per_cycle > 0);
    for (std::uintmax_t k = 0; k < (std::uintmax_t{3} << 19) / per_cycle; ++k) take_and_release();
    CHECK(std::filesystem::file_size(holder_file) <= (std::uintmax_t{1} << 20));
  }
  ExclusiveServed again(echo, dir.ipc("echo"), options);  // starts: the file is far from the 64 MiB a driver reads
  OldController b(context, dir.ipc("echo"));
  CHECK(b.ask(protocol::Hello{"t", "b", "bbbb"})["holder"]["campaign_id"] == "bbbb");
}
