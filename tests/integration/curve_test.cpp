// CurveZMQ encryption and authentication end to end (docs/security.md): `labloop keys`, encrypted
// campaigns on the three kinds of driver (C++ serve(), the Python SDK, labloop-sim), refusals
// that name the instrument and why with nothing run, revocation at the next connection, the
// hard limits with CURVE on, and the checks made when a campaign file or a driver starts.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "catalogue.hpp"
#include "cli_process.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/journal.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/driver.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/protocol.hpp"
#include "test_functions.hpp"
#include "driver_check_support.hpp"
#include "test_support.hpp"

using namespace labloop;
using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Branin on x1 in [-5, 10], x2 in [0, 15], served by C++ serve(); counts the runs that reach it.
class CurveBranin final : public Driver {
 public:
  InstrumentInfo describe() const override {
    InstrumentInfo info;
    info.driver = "curve-test-branin";
    info.version = "1";
    info.inputs = {Parameter{.name = "x1", .low = -5, .high = 10}, Parameter{.name = "x2", .low = 0, .high = 15}};
    info.outputs = {"y"};
    info.capacity = 1;
    return info;
  }
  Values run(const Params& params, std::stop_token) override {
    ++runs;
    return {{"y", sim::find_test_function("branin")->evaluate(std::vector<double>{params["x1"], params["x2"]})}};
  }
  std::atomic<int> runs{0};
};

// serve() on a thread with the given options; the destructor stops and joins it.
class CurveServed {
 public:
  CurveServed(Driver& driver, std::string endpoint, ServeOptions options) : endpoint_(std::move(endpoint)) {
    std::promise<void> ready;
    auto ready_future = ready.get_future();
    thread_ = std::jthread([this, &driver, options, ready = std::move(ready)](std::stop_token stop) mutable {
      options.stop = stop;
      options.handle_signals = false;
      options.log = [this](const std::string& line) {
        std::lock_guard lock(mutex_);
        log_ += line + "\n";
      };
      options.on_ready = [&ready](const std::string&) { ready.set_value(); };
      try {
        serve(driver, endpoint_, options);
      } catch (...) {
        try {
          ready.set_exception(std::current_exception());
        } catch (const std::future_error&) {  // failed after it was ready: the test's checks see it
        }
      }
    });
    REQUIRE(ready_future.wait_for(5s) == std::future_status::ready);
    ready_future.get();
  }
  std::string log() {
    std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  std::string endpoint_;
  std::mutex mutex_;
  std::string log_;
  std::jthread thread_;  // last: stopped and joined first
};

json curve_campaign(const test::TempDir& dir, const std::string& output, const json& instruments, int budget) {
  return json{{"name", "curve"},
              {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                              {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
              {"objective", {{"name", "y"}}},
              {"planner", {{"kind", "sobol"}}},
              {"instruments", instruments},
              {"budget", {{"experiments", budget}}},
              {"output", (dir / output).string()}};
}

json curve_security(const std::string& server, const std::string& client) {
  return json{{"server_public_key", server}, {"client_keys", client}};
}

// Loaded as the file DIR/c.json would be: key paths are relative to DIR.
CampaignSummary curve_run(const test::TempDir& dir, const json& file) {
  return run_campaign(parse_campaign_config(file.dump(), (dir / "c.json").string(), sim::catalogue()), {});
}

std::string curve_run_error(const test::TempDir& dir, const json& file) {
  try {
    curve_run(dir, file);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// Waits (at most 5 s) until `read()` contains `text`: driver logs are written by other processes.
bool curve_eventually(const std::function<std::string()>& read, const std::string& text) {
  for (int i = 0; i < 100; ++i) {
    if (read().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST_CASE("CURVE: keys new and list, then an encrypted campaign on a C++ driver, the Python driver and labloop-sim", "[curve][python]") {
  test::TempDir dir;
  const fs::path keys = dir / "keys", allowed = dir / "allowed";
  for (const char* name : {"controller", "py", "sim", "cpp"}) {
    const auto made = test::cli({"keys", "new", name, "--dir", keys.string()}, dir);
    INFO(made.output);
    REQUIRE(made.status == 0);
    CHECK_THAT(made.output, Catch::Contains("fingerprint curve:") && Catch::Contains("secret (mode 0600)"));
  }
  CHECK((fs::status(keys / "controller.key").permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK((fs::status(keys / "controller.pub").permissions() & fs::perms::others_write) == fs::perms::none);
  const std::string before = test::read_file(keys / "controller.key");
  const auto again = test::cli({"keys", "new", "controller", "--dir", keys.string()}, dir);
  CHECK(again.status == 1);
  CHECK_THAT(again.output, Catch::Contains("never overwrites"));
  CHECK(test::read_file(keys / "controller.key") == before);
  const std::string controller = read_public_key(keys / "controller.pub").fingerprint();
  const auto list = test::cli({"keys", "list", keys.string()}, dir);
  INFO(list.output);
  CHECK(list.status == 0);
  CHECK_THAT(list.output, Catch::Contains(controller) && Catch::Contains("pair") && Catch::Contains("ok (0600)"));

  fs::create_directories(allowed);
  fs::copy_file(keys / "controller.pub", allowed / "controller.pub");
  ChildProcess python({LABLOOP_PYTHON3, LABLOOP_SOURCE_DIR "/drivers/python/example_driver.py", "--endpoint", dir.ipc("py"), "--key",
                       (keys / "py").string(), "--allowed", allowed.string(), "--require-encryption", "--verbose"},
                      dir / "py.log");
  ChildProcess simulator({LABLOOP_SIM_PATH, "--function", "branin", "--endpoint", dir.ipc("sim"), "--key", (keys / "sim").string(), "--allowed",
                          allowed.string(), "--require-encryption"},
                         dir / "sim.log");
  CurveBranin cpp;
  ServeOptions options;
  options.key_path = (keys / "cpp").string();
  options.allowed_keys = allowed.string();
  options.require_encryption = true;
  CurveServed served(cpp, dir.ipc("cpp"), options);

  const json instruments = {{{"name", "python"}, {"endpoint", dir.ipc("py")}, {"security", curve_security("keys/py.pub", "keys/controller")}},
                            {{"name", "sim"}, {"endpoint", dir.ipc("sim")}, {"security", curve_security("keys/sim.pub", "keys/controller")}},
                            {{"name", "cpp"}, {"endpoint", dir.ipc("cpp")}, {"security", curve_security("keys/cpp.pub", "keys/controller")}}};
  const auto summary = curve_run(dir, curve_campaign(dir, "out", instruments, 12));
  CHECK(summary.reason == "budget reached");
  CHECK(summary.status.done == 12);
  CHECK(summary.status.failed == 0);
  std::map<std::string, int> results;
  for (const auto& e : read_journal(dir / "out" / "journal.jsonl").events)
    if (e["event"] == "result") ++results[e["instrument"].get<std::string>()];
  CHECK(results.size() == 3);  // every instrument ran experiments
  CHECK(cpp.runs.load() == results["cpp"]);
  // Each driver saw this controller's key and admitted it.
  CHECK(curve_eventually([&] { return test::read_file(dir / "py.log"); }, "admitted controller key " + controller));
  CHECK(curve_eventually([&] { return test::read_file(dir / "sim.log"); }, "admitted controller key " + controller));
  CHECK_THAT(served.log(), Catch::Contains("admitted controller key " + controller));

  // A plaintext client is refused by the Python SDK too, and its log says so (which side notices
  // the mechanism mismatch first is a race: one of the two messages).
  zmq::context_t context;
  zmq::socket_t plain(context, zmq::socket_type::dealer);
  plain.set(zmq::sockopt::linger, 0);
  plain.connect(dir.ipc("py"));
  plain.send(zmq::str_buffer(R"({"type": "hello", "protocol": 1})"), zmq::send_flags::dontwait);
  const auto python_log = [&] { return test::read_file(dir / "py.log"); };
  bool refusal_logged = false;
  for (int i = 0; i < 100 && !refusal_logged; ++i) {
    const std::string text = python_log();
    refusal_logged = text.find("refused a client without encryption") != std::string::npos ||
                     text.find("closed its connection during the handshake") != std::string::npos;
    if (!refusal_logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(refusal_logged);
  zmq::message_t answer;
  CHECK_FALSE(plain.recv(answer, zmq::recv_flags::dontwait));  // nothing answers a plaintext hello
}

TEST_CASE("CURVE: a plaintext controller, an unknown key, a wrong server key and a revoked key are refused naming the instrument "
          "and why, and nothing runs",
          "[curve]") {
  test::TempDir dir;
  const fs::path keys = dir / "keys", allowed = dir / "allowed";
  test::written_key_pair(keys, "controller");
  const KeyPair stranger = test::written_key_pair(keys, "stranger");
  test::written_key_pair(keys, "oven");
  fs::create_directories(allowed);
  fs::copy_file(keys / "controller.pub", allowed / "controller.pub");
  ChildProcess oven({LABLOOP_EXAMPLE_DRIVER_PATH, dir.ipc("oven"), (dir / "cache.jsonl").string(), "--key", (keys / "oven").string(),
                     "--allowed", allowed.string()},
                    dir / "oven.log");
  auto campaign = [&](const std::string& output, std::optional<json> security_section) {
    json oven_entry{{"name", "oven"}, {"endpoint", dir.ipc("oven")}, {"connect_timeout_s", 20}};
    if (security_section) oven_entry["security"] = *security_section;
    return json{{"name", "oven"},
                {"parameters", {{{"name", "temperature"}, {"type", "continuous"}, {"low", 50}, {"high", 240}},
                                {{"name", "minutes"}, {"type", "integer"}, {"low", 1}, {"high", 60}}}},
                {"objective", {{"name", "yield"}, {"goal", "maximize"}}},
                {"planner", {{"kind", "sobol"}}},
                {"instruments", {oven_entry}},
                {"budget", {{"experiments", 2}}},
                {"output", (dir / output).string()}};
  };
  const auto cached_results = [&] {
    std::istringstream lines(test::read_file(dir / "cache.jsonl"));
    int results = 0;
    for (std::string line; std::getline(lines, line);) results += line.find("\"type\":\"result\"") != std::string::npos;
    return results;
  };
  const auto oven_log = [&] { return test::read_file(dir / "oven.log"); };

  const auto ok = curve_run(dir, campaign("ok", curve_security("keys/oven.pub", "keys/controller")));
  CHECK(ok.reason == "budget reached");
  CHECK(ok.status.done == 2);
  REQUIRE(cached_results() == 2);

  // Each refusal comes within seconds (not after connect_timeout_s = 20 s) and leaves no journal.
  const auto started = std::chrono::steady_clock::now();
  const std::string plaintext = curve_run_error(dir, campaign("plain", std::nullopt));
  CHECK_THAT(plaintext, Catch::Contains("instrument 'oven'") && Catch::Contains("requires encryption: give it a security section"));
  // Which side notices the mismatch first is a race: the driver logs one of the two.
  bool plaintext_logged = false;
  for (int i = 0; i < 100 && !plaintext_logged; ++i) {
    const std::string text = oven_log();
    plaintext_logged = text.find("refused a client without encryption") != std::string::npos ||
                       text.find("closed its connection during the handshake") != std::string::npos;
    if (!plaintext_logged) std::this_thread::sleep_for(50ms);
  }
  CHECK(plaintext_logged);

  const std::string unknown = curve_run_error(dir, campaign("stranger", curve_security("keys/oven.pub", "keys/stranger")));
  CHECK_THAT(unknown, Catch::Contains("instrument 'oven'") && Catch::Contains("refused this controller's key " + stranger.public_key.fingerprint()) &&
                          Catch::Contains("not in the driver's allow-list"));
  CHECK(curve_eventually(oven_log, "refused controller key " + stranger.public_key.fingerprint()));

  const std::string wrong_server = curve_run_error(dir, campaign("wrong", curve_security("keys/stranger.pub", "keys/controller")));
  CHECK_THAT(wrong_server, Catch::Contains("instrument 'oven'") && Catch::Contains("does not match server_public_key"));
  CHECK(std::chrono::steady_clock::now() - started < 15s);

  // Revocation through the CLI: the file moves to revoked/ and the next connection is refused.
  const auto missing = test::cli({"keys", "revoke", "nobody", "--allowed", allowed.string()}, dir);
  CHECK(missing.status == 1);
  CHECK_THAT(missing.output, Catch::Contains("no key \"nobody\""));
  const auto revoked = test::cli({"keys", "revoke", "controller", "--allowed", allowed.string()}, dir);
  INFO(revoked.output);
  CHECK(revoked.status == 0);
  CHECK_FALSE(fs::exists(allowed / "controller.pub"));
  int kept = 0;
  for (const auto& entry : fs::directory_iterator(allowed / "revoked"))
    kept += entry.path().filename().string().rfind("controller.revoked-", 0) == 0;
  CHECK(kept == 1);
  const std::string after_revoke = curve_run_error(dir, campaign("revoked", curve_security("keys/oven.pub", "keys/controller")));
  CHECK_THAT(after_revoke, Catch::Contains("instrument 'oven'") && Catch::Contains("not in the driver's allow-list"));

  for (const char* output : {"plain", "stranger", "wrong", "revoked"}) CHECK_FALSE(fs::exists(dir / output / "journal.jsonl"));
  CHECK(cached_results() == 2);  // nothing ran for a refused controller
}

TEST_CASE("CURVE: with encryption on, a run outside the declared limits never reaches driver code", "[curve][limits]") {
  test::TempDir dir;
  const KeyPair controller = test::written_key_pair(dir / "keys", "controller");
  const KeyPair driver_key = test::written_key_pair(dir / "keys", "drv");
  CurveBranin branin;
  ServeOptions options;
  options.key_path = (dir / "keys" / "drv").string();
  options.allowed_keys = (dir / "keys" / "controller.pub").string();
  CurveServed served(branin, dir.ipc("drv"), options);

  zmq::context_t context;
  zmq::socket_t client(context, zmq::socket_type::dealer);
  client.set(zmq::sockopt::linger, 0);
  client.set(zmq::sockopt::curve_serverkey, zmq::const_buffer(driver_key.public_key.curve.data(), 32));
  client.set(zmq::sockopt::curve_publickey, zmq::const_buffer(controller.public_key.curve.data(), 32));
  client.set(zmq::sockopt::curve_secretkey, zmq::const_buffer(controller.curve_secret.data(), 32));
  client.connect(dir.ipc("drv"));
  auto request = [&](const json& message) {
    client.send(zmq::buffer(message.dump()), zmq::send_flags::none);
    zmq::pollitem_t item{client.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 5000ms);
    REQUIRE((item.revents & ZMQ_POLLIN));
    zmq::message_t reply;
    REQUIRE(client.recv(reply));
    return json::parse(reply.to_string());
  };
  for (const json& params : {json{{"x1", 10.5}, {"x2", 1}}, json{{"x1", 0}, {"x2", -1e-9}}, json{{"x1", 0}}, json{{"x1", 0}, {"x2", 1}, {"x3", 1}}}) {
    static int n = 0;
    const json reply = request(protocol::to_json(protocol::Run{"out-" + std::to_string(++n), params}));
    INFO(params.dump());
    CHECK(reply["type"] == "rejected");
  }
  CHECK(branin.runs.load() == 0);
  CHECK(request(protocol::to_json(protocol::Run{"inside", json{{"x1", 10}, {"x2", 0}}}))["type"] == "accepted");
  CHECK(branin.runs.load() <= 1);
}

TEST_CASE("CURVE: drivers refuse to start without usable keys, campaign files are checked at load, plaintext tcp is warned about", "[curve]") {
  test::TempDir dir;
  const fs::path keys = dir / "keys";
  const KeyPair controller = test::written_key_pair(keys, "controller");
  test::written_key_pair(keys, "drv");
  test::written_key_pair(keys, "loose");
  fs::permissions(keys / "loose.key", fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
  CurveBranin branin;
  auto serve_error = [&](const ServeOptions& options) { return test::refusal_to_serve(branin, dir.ipc("x"), options); };
  ServeOptions required;
  required.require_encryption = true;
  CHECK_THAT(serve_error(required), Catch::Contains("encryption is required but no key pair was given"));
  ServeOptions no_list;
  no_list.key_path = (keys / "drv").string();
  CHECK_THAT(serve_error(no_list), Catch::Contains("without an allow-list"));
  ServeOptions loose;
  loose.key_path = (keys / "loose").string();
  loose.allowed_keys = keys.string();
  CHECK_THAT(serve_error(loose), Catch::Contains("chmod 600 " + (keys / "loose.key").string()));
  ServeOptions missing_list;
  missing_list.key_path = (keys / "drv").string();
  missing_list.allowed_keys = (dir / "nowhere").string();
  CHECK_THAT(serve_error(missing_list), Catch::Contains("nowhere") && Catch::Contains("do not exist"));

  auto file = [&](const json& entry, std::optional<std::string> controller_key = std::nullopt) {
    json f = curve_campaign(dir, "out", json::array({entry}), 1);
    if (controller_key) f["controller_key"] = *controller_key;
    return f;
  };
  const std::string source = (dir / "c.json").string();
  const json endpoint{{"name", "r1"}, {"endpoint", "tcp://127.0.0.1:5555"}};
  auto with = [&](json security_section) {
    json entry = endpoint;
    entry["security"] = std::move(security_section);
    return entry;
  };
  CHECK_THAT(test::config_error(file(with(curve_security("keys/none.pub", "keys/controller"))), source),
             Catch::Contains("/instruments/0/security/server_public_key") && Catch::Contains("does not exist"));
  CHECK_THAT(test::config_error(file(with(curve_security("keys/drv.pub", "keys/loose"))), source),
             Catch::Contains("/instruments/0/security/client_keys") && Catch::Contains("chmod 600"));
  CHECK_THAT(test::config_error(file(with(json{{"server_public_key", "keys/drv.pub"}})), source), Catch::Contains("needs \"client_keys\""));
  CHECK_THAT(test::config_error(file(json{{"name", "s"}, {"simulator", "branin"}, {"security", curve_security("keys/drv.pub", "keys/controller")}}), source),
             Catch::Contains("only for drivers at an endpoint"));
  // client_keys defaults to the top-level controller_key.
  const auto config = parse_campaign_config(file(with(json{{"server_public_key", "keys/drv.pub"}}), "keys/controller").dump(), source, sim::catalogue());
  REQUIRE(config.instruments.at(0).keys);
  CHECK(config.instruments.at(0).keys->client.public_key.curve == controller.public_key.curve);
  CHECK(config.instruments.at(0).keys->server.curve == read_public_key(keys / "drv.pub").curve);
  // Journaled as absolute paths (never the keys), so resume, reading the journal from another
  // directory, connects with the same keys.
  const json journaled = config.to_json();
  CHECK(journaled["instruments"][0]["security"]["client_keys"] == fs::absolute(keys / "controller").lexically_normal().string());
  CHECK(journaled.dump().find(z85_encode(controller.curve_secret)) == std::string::npos);
  const auto again = parse_campaign_config(journaled.dump(), "/elsewhere/journal.jsonl (campaign_started)", sim::catalogue());
  REQUIRE(again.instruments.at(0).keys);
  CHECK(again.instruments.at(0).keys->client.public_key.curve == controller.public_key.curve);

  // A plaintext link to another machine is warned about once; loopback and ipc are not.
  zmq::context_t context;
  std::vector<std::string> lines;
  const auto log = [&](const std::string& line) { lines.push_back(line); };
  { Instrument remote(context, "r1", "tcp://192.0.2.1:5555", {}, log); }
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::Contains("r1") && Catch::Contains("not encrypted") && Catch::Contains("security"));
  { Instrument local(context, "r2", "tcp://127.0.0.1:5555", {}, log); }
  { Instrument socket_file(context, "r3", dir.ipc("r3"), {}, log); }
  CHECK(lines.size() == 1);
}

TEST_CASE("CURVE: a driver that ends every handshake without a word is refused at once as one that likely requires encryption",
          "[curve]") {
  // What a plaintext controller sees of a CURVE driver that notices the mechanism mismatch first
  // (a race the controller may lose every time under load): the connection closes mid-handshake.
  // A bare socket that accepts and closes makes that happen every time.
  test::TempDir dir;
  const std::string endpoint = dir.ipc("silent");
  const std::string path = endpoint.substr(std::string("ipc://").size());
  std::jthread closer;  // joined last: the listener below is shut down first, which ends its accept()
  struct Listener {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ~Listener() {
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  } listener;
  REQUIRE(listener.fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof(address.sun_path));
  std::copy(path.begin(), path.end(), address.sun_path);
  REQUIRE(::bind(listener.fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  REQUIRE(::listen(listener.fd, 8) == 0);
  closer = std::jthread([fd = listener.fd](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const int connection = ::accept(fd, nullptr, nullptr);
      if (connection < 0) return;  // the listener was shut down
      ::close(connection);
    }
  });
  const json instrument{{"name", "silent"}, {"endpoint", endpoint}, {"connect_timeout_s", 20}};
  const auto started = std::chrono::steady_clock::now();
  const std::string error = curve_run_error(dir, curve_campaign(dir, "out", json::array({instrument}), 2));
  CHECK_THAT(error, Catch::Contains("instrument 'silent'") && Catch::Contains("closed the connection during the handshake twice in a row") &&
                        Catch::Contains("requires encryption: give it a security section"));
  CHECK(std::chrono::steady_clock::now() - started < 15s);  // not after connect_timeout_s
  CHECK_FALSE(fs::exists(dir / "out" / "journal.jsonl"));
}
