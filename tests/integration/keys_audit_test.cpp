// `labloop keys`, the C++ driver's access check and the example driver after a security audit
// (docs/security.md): names shown printable, key names like identifiers, an entry that cannot be
// read skipped by name (never blocking a revoke), a secret where a public key belongs and a
// damaged secret flagged, a controller key name's escapes kept from the log, the lease bounded,
// and what is said of a key that is a pipe or of a host that only looks like loopback.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "catalogue.hpp"
#include "cli_process.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/driver.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/protocol.hpp"
#include "driver_check_support.hpp"
#include "test_support.hpp"

using namespace labloop;
using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

class AuditDriver final : public Driver {
 public:
  InstrumentInfo describe() const override {
    InstrumentInfo info;
    info.driver = "keys-audit";
    info.version = "1";
    info.inputs = {Parameter{.name = "x", .low = 0, .high = 1}};
    info.outputs = {"y"};
    info.capacity = 1;
    return info;
  }
  Values run(const Params& params, std::stop_token) override { return {{"y", params["x"].get<double>()}}; }
};

json audit_campaign(const test::TempDir& dir, const json& instruments) {
  return json{{"name", "keys-audit"},
              {"parameters", {{{"name", "x"}, {"type", "continuous"}, {"low", 0}, {"high", 1}}}},
              {"objective", {{"name", "y"}}},
              {"planner", {{"kind", "sobol"}}},
              {"instruments", instruments},
              {"budget", {{"experiments", 1}}},
              {"output", (dir / "out").string()}};
}

}  // namespace

TEST_CASE("keys new: '.', '..', hidden names and names ending in .pub or .key are refused, writing nothing", "[keys]") {
  test::TempDir dir;
  for (const std::string name : {".", "..", ".hidden", "x.pub", "x.key"}) {
    INFO(name);
    const auto made = test::cli({"keys", "new", name, "--dir", (dir / "keys").string()}, dir);
    CHECK(made.status != 0);
    CHECK_THAT(made.output, Catch::Contains("key name"));
  }
  CHECK(fs::is_empty(dir / "keys"));
}

TEST_CASE("keys list: names printable, an unreadable entry named and skipped, a secret in a .pub and a damaged secret flagged, "
          "revoke works past a link loop",
          "[keys]") {
  test::TempDir dir;
  const fs::path keys = dir / "keys";
  const KeyPair good = test::written_key_pair(keys, "good");
  test::written_key_pair(keys, "broken");
  // A name with a line break would forge a row; an escape would reach the terminal.
  fs::copy_file(keys / "good.pub", keys / "evil\nforged                   curve:AAAA public only.pub");
  fs::copy_file(keys / "good.pub", keys / "esc\x1b[2J.pub");
  fs::create_symlink("loop.pub", keys / "loop.pub");
  fs::copy_file(keys / "good.key", keys / "leaked.pub");
  fs::permissions(keys / "leaked.pub", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  // One character of broken's secret-key changed.
  std::string text = test::read_file(keys / "broken.key");
  const auto at = text.find("secret-key = \"");
  REQUIRE(at != std::string::npos);
  char& c = text[at + 20];
  c = c == 'a' ? 'b' : 'a';
  fs::remove(keys / "broken.key");
  {
    std::ofstream(keys / "broken.key") << text;
  }
  fs::permissions(keys / "broken.key", fs::perms::owner_read | fs::perms::owner_write);

  const auto list = test::cli({"keys", "list", keys.string()}, dir);
  INFO(list.output);
  CHECK(list.status == 1);
  CHECK(list.output.find("\x1b") == std::string::npos);
  CHECK(list.output.find("\nforged") == std::string::npos);
  CHECK_THAT(list.output, Catch::Contains("loop.pub cannot be read") && Catch::Contains("skipped"));
  CHECK_THAT(list.output, Catch::Contains("leaked") && Catch::Contains("holds a secret key"));
  CHECK_THAT(list.output, Catch::Contains("broken") && Catch::Contains("does not give its public-key"));
  CHECK_THAT(list.output, Catch::Contains("good") && Catch::Contains("ok (0600)"));

  // The mode shown is the file's own, judged as reading the key judges it: an owner-only 0400 or
  // 0700 is taken ("ok (0600)" was printed for them), a group-readable one refused.
  for (const auto& [mode, shown] : std::vector<std::pair<fs::perms, std::string>>{
           {fs::perms::owner_read, "ok (0400)"}, {fs::perms::owner_all, "ok (0700)"},
           {fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read, "UNSAFE (0640)"}}) {
    fs::permissions(keys / "good.key", mode);
    const auto again = test::cli({"keys", "list", keys.string()}, dir);
    INFO(again.output);
    CHECK_THAT(again.output, Catch::Contains(shown));
    CHECK_THAT(again.output, !Catch::Contains("ok (0600)"));
  }
  fs::permissions(keys / "good.key", fs::perms::owner_read | fs::perms::owner_write);

  // As drivers judge an allow-list: a directory or a public key others may change is flagged; a
  // secret another user owns (who may read it) is refused, whatever its mode.
  fs::permissions(keys, static_cast<fs::perms>(0777));
  fs::permissions(keys / "good.pub", static_cast<fs::perms>(0666));
  if (::geteuid() == 0) REQUIRE(::chown((keys / "good.key").c_str(), 65534, 65534) == 0);
  const auto open = test::cli({"keys", "list", keys.string()}, dir);
  INFO(open.output);
  CHECK(open.status == 1);
  CHECK_THAT(open.output, Catch::Contains("may be changed by other users (mode 0777)") && Catch::Contains("drivers refuse it as an allow-list"));
  if (::geteuid() == 0) {
    CHECK_THAT(open.output, Catch::Contains("UNSAFE (0600): it belongs to") && Catch::Contains("uid 65534"));
    REQUIRE(::chown((keys / "good.key").c_str(), 0, 0) == 0);
  }
  fs::permissions(keys, static_cast<fs::perms>(0755));
  fs::remove(keys / "good.key");
  const auto shared = test::cli({"keys", "list", keys.string()}, dir);
  INFO(shared.output);
  CHECK_THAT(shared.output, Catch::Contains("public only") && Catch::Contains("UNSAFE (0666)") && Catch::Contains("drivers refuse it in an allow-list"));
  fs::permissions(keys / "good.pub", static_cast<fs::perms>(0644));

  // The allow-list holds a link loop and the key to revoke: the loop is reported, the key revoked.
  const fs::path allowed = dir / "allowed";
  fs::create_directories(allowed);
  fs::copy_file(keys / "good.pub", allowed / "good.pub");
  fs::create_symlink("loop.pub", allowed / "loop.pub");
  const auto revoked = test::cli({"keys", "revoke", "good", "--allowed", allowed.string()}, dir);
  INFO(revoked.output);
  CHECK(revoked.status == 0);
  CHECK_THAT(revoked.output, Catch::Contains("loop.pub cannot be read") && Catch::Contains("revoked good"));
  CHECK_FALSE(fs::exists(allowed / "good.pub"));
  (void)good;
}

TEST_CASE("C++ driver: a controller key's name is logged printable, and a damaged driver key or an unbounded lease stops serve", "[keys]") {
  test::TempDir dir;
  const fs::path keys = dir / "keys";
  const KeyPair controller = generate_key_pair("controller");
  const KeyPair driver_key = test::written_key_pair(keys, "drv");
  fs::create_directories(dir / "allowed");
  std::ofstream(dir / "allowed" / "c.pub") << "metadata\n    name = \"a\x1b[2Jb\"\ncurve\n    public-key = \"" << z85_encode(controller.public_key.curve)
                                           << "\"\n";
  AuditDriver driver;
  std::mutex mutex;
  std::string log;
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  {
    std::jthread thread([&](std::stop_token stop) {
      ServeOptions options;
      options.key_path = (keys / "drv").string();
      options.allowed_keys = (dir / "allowed").string();
      options.stop = stop;
      options.handle_signals = false;
      options.log = [&](const std::string& line) {
        std::lock_guard lock(mutex);
        log += line + "\n";
      };
      options.on_ready = [&](const std::string&) { ready.set_value(); };
      serve(driver, dir.ipc("drv"), options);
    });
    REQUIRE(ready_future.wait_for(5s) == std::future_status::ready);
    zmq::context_t context;
    zmq::socket_t client(context, zmq::socket_type::dealer);
    client.set(zmq::sockopt::linger, 0);
    client.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(driver_key.public_key.curve.data(), 32));
    client.set(zmq::sockopt::curve_publickey, zmq::const_buffer(controller.public_key.curve.data(), 32));
    client.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(controller.curve_secret.data(), 32));
    client.connect(dir.ipc("drv"));
    client.send(zmq::buffer(protocol::to_json(protocol::Hello{"test", "keys-audit", std::nullopt}).dump()), zmq::send_flags::none);
    zmq::pollitem_t item{client.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 5000ms);
    CHECK((item.revents & ZMQ_POLLIN));
  }
  INFO(log);
  CHECK_THAT(log, Catch::Contains("admitted controller key"));
  CHECK(log.find('\x1b') == std::string::npos);

  auto serve_error = [&](const ServeOptions& options) { return test::refusal_to_serve(driver, dir.ipc("x"), options); };
  ServeOptions long_lease;
  long_lease.exclusive = true;
  long_lease.lease = std::chrono::seconds(9223372036854775807LL);
  CHECK_THAT(serve_error(long_lease), Catch::Contains("the lease must be 1 to 31536000 seconds"));
  // A damaged secret: the driver would advertise a key it cannot serve.
  std::string text = test::read_file(keys / "drv.key");
  const auto at = text.find("secret-key = \"");
  REQUIRE(at != std::string::npos);
  text[at + 20] = text[at + 20] == 'a' ? 'b' : 'a';
  fs::remove(keys / "drv.key");
  std::ofstream(keys / "drv.key") << text;
  fs::permissions(keys / "drv.key", fs::perms::owner_read | fs::perms::owner_write);
  ServeOptions damaged;
  damaged.key_path = (keys / "drv").string();
  damaged.allowed_keys = (dir / "allowed").string();
  CHECK_THAT(serve_error(damaged), Catch::Contains("drv.key is damaged"));
}

TEST_CASE("Example driver and labloop-sim: --lease under a second, past a year, or not a number, is refused with exit 2", "[keys][lease]") {
  test::TempDir dir;
  for (const std::string lease : {"9223372036854775807", "31536001", "0", "-5", "12abc"}) {
    INFO(lease);
    ChildProcess process({LABLOOP_EXAMPLE_DRIVER_PATH, dir.ipc("ex"), "--lease", lease}, dir / "ex.log");
    const auto status = process.wait_for(10s);
    REQUIRE(status);
    CHECK(*status == 2);
    CHECK_THAT(test::read_file(dir / "ex.log"), Catch::Contains("--lease") && Catch::Contains("1 to 31536000"));
  }
  // labloop-sim states the same range (it took 0.001 s and rounded it up to a second).
  for (const std::string lease : {"0.5", "31536001"}) {
    INFO(lease);
    ChildProcess process({LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", dir.ipc("sim"), "--lease", lease}, dir / "sim.log");
    const auto status = process.wait_for(10s);
    REQUIRE(status);
    CHECK(*status == 2);
    CHECK_THAT(test::read_file(dir / "sim.log"), Catch::Contains("--lease") && Catch::Contains("31536000"));
  }
}

TEST_CASE("Messages: a pipe as controller_key is named once, and a host that only starts with 127. is warned about as another machine",
          "[keys]") {
  test::TempDir dir;
  REQUIRE(::mkfifo((dir / "ctl.key").c_str(), 0600) == 0);
  test::written_key_pair(dir / "keys", "drv");
  json file = audit_campaign(dir, json::array({json{{"name", "r1"},
                                                    {"endpoint", "tcp://127.0.0.1:5555"},
                                                    {"security", json{{"server_public_key", "keys/drv.pub"}}}}}));
  file["controller_key"] = "ctl";
  const std::string error = test::config_error(file, (dir / "c.json").string());
  CHECK_THAT(error, Catch::Contains("/controller_key") && Catch::Contains("is a pipe"));
  CHECK_THAT(error, !Catch::Contains("needs \"client_keys\"") && Catch::Contains("which was refused"));

  zmq::context_t context;
  std::vector<std::string> lines;
  const auto log = [&](const std::string& line) { lines.push_back(line); };
  { Instrument lookalike(context, "r1", "tcp://127.attacker.example:5555", {}, log); }
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Contains("not encrypted"));
  { Instrument loopback(context, "r2", "tcp://127.0.0.1:5555", {}, log); }
  { Instrument other_loopback(context, "r3", "tcp://127.1.2.3:5555", {}, log); }
  { Instrument name(context, "r4", "tcp://localhost:5555", {}, log); }
  { Instrument six(context, "r5", "tcp://[::1]:5555", {}, log); }
  CHECK(lines.size() == 1);
  { Instrument too_many(context, "r6", "tcp://127.0.0.1.example:5555", {}, log); }
  CHECK(lines.size() == 2);
}

namespace {

// serve() on a thread until destroyed; runs take a moment so a campaign has some in flight.
class RevokeServed {
 public:
  RevokeServed(Driver& driver, std::string endpoint, ServeOptions options) {
    std::promise<void> ready;
    auto ready_future = ready.get_future();
    thread_ = std::jthread([&driver, endpoint, options, ready = std::move(ready)](std::stop_token stop) mutable {
      options.stop = stop;
      options.handle_signals = false;
      options.log = [](const std::string&) {};
      options.on_ready = [&ready](const std::string&) { ready.set_value(); };
      try {
        serve(driver, endpoint, options);
      } catch (...) {
        try {
          ready.set_exception(std::current_exception());
        } catch (const std::future_error&) {
        }
      }
    });
    REQUIRE(ready_future.wait_for(5s) == std::future_status::ready);
    ready_future.get();
  }

 private:
  std::jthread thread_;
};

class SlowAuditDriver final : public Driver {
 public:
  InstrumentInfo describe() const override {
    InstrumentInfo info = AuditDriver().describe();
    info.capacity = 1;
    return info;
  }
  Values run(const Params& params, std::stop_token stop) override {
    for (int i = 0; i < 20 && !stop.stop_requested(); ++i) std::this_thread::sleep_for(10ms);
    return {{"y", params["x"].get<double>()}};
  }
};

}  // namespace

TEST_CASE("A key revoked mid-campaign: the driver's refusal is the journaled reason, and the instrument is not waited for", "[keys][curve]") {
  test::TempDir dir;
  test::written_key_pair(dir / "keys", "controller");
  test::written_key_pair(dir / "keys", "drv");
  fs::create_directories(dir / "allowed");
  fs::copy_file(dir / "keys" / "controller.pub", dir / "allowed" / "controller.pub");
  SlowAuditDriver driver;
  ServeOptions options;
  options.key_path = (dir / "keys" / "drv").string();
  options.allowed_keys = (dir / "allowed").string();
  const std::string endpoint = dir.ipc("drv");
  auto served = std::make_unique<RevokeServed>(driver, endpoint, options);

  json instrument{{"name", "r1"}, {"endpoint", endpoint}, {"heartbeat_s", 0.5}, {"heartbeat_misses", 10}, {"reconnect_s", 60},
                  {"security", json{{"server_public_key", "keys/drv.pub"}, {"client_keys", "keys/controller"}}}};
  json file = audit_campaign(dir, json::array({instrument}));
  file["budget"] = json{{"experiments", 200}};
  const auto config = parse_campaign_config(file.dump(), (dir / "c.json").string(), sim::catalogue());
  auto campaign = std::async(std::launch::async, [&] {
    try {
      return run_campaign(config, {}).reason;
    } catch (const std::exception& e) {
      return std::string("error: ") + e.what();
    }
  });
  const fs::path journal = dir / "out" / "journal.jsonl";
  for (int i = 0; i < 200 && test::count_journaled(journal, "result") < 2; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(test::count_journaled(journal, "result") >= 2);
  // Revoked (moved out of the allow-list), then the driver restarted: the open connection goes.
  fs::rename(dir / "allowed" / "controller.pub", dir / "controller.revoked");
  served.reset();
  const auto restarted = std::chrono::steady_clock::now();
  served = std::make_unique<RevokeServed>(driver, endpoint, options);
  // With heartbeat_s 0.5 × 10 misses and reconnect_s 60, a silence would be seen after 5 s and
  // given up after 60: the refusal is acted on at once.
  REQUIRE(campaign.wait_for(30s) == std::future_status::ready);
  const std::string reason = campaign.get();
  INFO(reason);
  CHECK(std::chrono::steady_clock::now() - restarted < 4s);
  std::string lost, quarantined;
  for (const auto& e : read_journal(journal).events) {
    if (e["event"] == "instrument_lost") lost = e.value("reason", "");
    if (e["event"] == "instrument_quarantined") quarantined = e.value("reason", "");
  }
  CHECK_THAT(lost, Catch::Contains("refused this controller's key"));
  CHECK_THAT(quarantined, Catch::Contains("refused this controller's key") && Catch::Contains("not retried"));
}

TEST_CASE("validate --instruments names an instrument whose keys are refused once, not twice", "[keys][curve]") {
  test::TempDir dir;
  test::written_key_pair(dir / "keys", "controller");
  test::written_key_pair(dir / "keys", "drv");
  test::written_key_pair(dir / "keys", "stranger");
  fs::create_directories(dir / "allowed");
  fs::copy_file(dir / "keys" / "stranger.pub", dir / "allowed" / "stranger.pub");
  AuditDriver driver;
  ServeOptions options;
  options.key_path = (dir / "keys" / "drv").string();
  options.allowed_keys = (dir / "allowed").string();
  RevokeServed served(driver, dir.ipc("drv"), options);
  json file = audit_campaign(dir, json::array({json{{"name", "sim"},
                                                    {"endpoint", dir.ipc("drv")},
                                                    {"security", json{{"server_public_key", "keys/drv.pub"}, {"client_keys", "keys/controller"}}}}}));
  std::ofstream(dir / "c.json") << file.dump();
  const auto checked = test::cli({"validate", (dir / "c.json").string(), "--instruments"}, dir);
  INFO(checked.output);
  CHECK(checked.status != 0);
  CHECK_THAT(checked.output, Catch::Contains("instrument 'sim': refused this controller's key"));
  CHECK(checked.output.find("instrument 'sim': instrument 'sim'") == std::string::npos);
}
