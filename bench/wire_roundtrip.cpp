// labloop-bench-wire: what CurveZMQ encryption costs on the message round trip, plaintext and
// CURVE measured in the same run against the same in-process serve() (a no-op driver), over the
// same transport. Two round trips are timed from the controller's Instrument:
//   ping → pong                        (one small message each way)
//   run → accepted → result            (a no-op experiment: the protocol's whole path)
// Each is repeated --count times after --warmup untimed ones, plaintext and CURVE interleaved (in
// alternating order) so both see the same machine load; the table gives the median and the 90th
// percentile in µs. The key pairs are made fresh in a temporary directory.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "labloop/core/error.hpp"
#include "labloop/core/key_file.hpp"
#include "labloop/journal/signing.hpp"
#include "labloop/wire/driver.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/protocol.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class NoOpDriver final : public labloop::Driver {
 public:
  labloop::InstrumentInfo describe() const override {
    labloop::InstrumentInfo info;
    info.driver = "bench-noop";
    info.version = "1";
    info.inputs = {labloop::Parameter{.name = "x", .low = 0, .high = 1}};
    info.outputs = {"y"};
    info.capacity = 1;
    return info;
  }
  labloop::Values run(const labloop::Params& params, std::stop_token) override { return {{"y", params["x"].get<double>()}}; }
};

struct Timings {
  std::vector<double> ping_us, run_us;
};

double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const auto at = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values.at(std::min(at, values.size() - 1));
}

// Waits for the next message of type T (others are ignored); throws after 5 s of silence.
template <typename T>
T await(labloop::Instrument& link) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    auto message = link.receive(std::chrono::milliseconds(100));
    if (!message) continue;
    if (auto* wanted = std::get_if<T>(&*message)) return *wanted;
  }
  throw labloop::Error("bench: the driver went silent");
}

// One no-op driver served on its own thread (plaintext or CURVE) and the controller's link to it.
class Link {
 public:
  Link(const std::string& endpoint, std::optional<labloop::InstrumentKeys> keys, const labloop::ServeOptions& serve_options, std::string label)
      : label_(std::move(label)) {
    std::promise<std::string> ready;  // the bound endpoint (tcp://127.0.0.1:* picks a free port)
    auto ready_future = ready.get_future();
    server_ = std::jthread([this, endpoint, serve_options, ready = std::move(ready)](std::stop_token stop) mutable {
      labloop::ServeOptions options = serve_options;
      options.stop = stop;
      options.handle_signals = false;
      options.log = [](const std::string&) {};
      options.on_ready = [&ready](const std::string& bound) { ready.set_value(bound); };
      try {
        labloop::serve(driver_, endpoint, options);
      } catch (const std::exception& e) {  // thread boundary: say why, the main thread gives up
        fmt::print(stderr, "labloop-bench-wire: {}\n", e.what());
      }
    });
    if (ready_future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) throw labloop::Error("bench: serve() did not start");
    link_.emplace(context_, label_, ready_future.get(), labloop::InstrumentTiming{}, [](const std::string& line) { fmt::print(stderr, "{}\n", line); },
                  std::move(keys));
    link_->hello("bench");
  }
  ~Link() { link_.reset(); }  // the socket closes before the context and the server stop

  double ping_us() {
    const auto start = Clock::now();
    link_->send(labloop::protocol::Ping{});
    await<labloop::protocol::Pong>(*link_);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  }
  double run_us() {
    const auto start = Clock::now();
    link_->send(labloop::protocol::Run{fmt::format("{}-{}", label_, runs_++), nlohmann::json{{"x", 0.5}}});
    await<labloop::protocol::Accepted>(*link_);
    await<labloop::protocol::Result>(*link_);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  }

 private:
  std::string label_;
  NoOpDriver driver_;
  std::jthread server_;  // stopped and joined after the link and context are gone
  zmq::context_t context_;
  std::optional<labloop::Instrument> link_;
  int runs_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"labloop-bench-wire: message round trip, plaintext against CurveZMQ, in the same run"};
  int count = 2000, warmup = 100;
  std::string transport = "tcp";
  app.add_option("--count", count, "Timed round trips of each kind (default 2000)")->check(CLI::Range(10, 1000000));
  app.add_option("--warmup", warmup, "Untimed round trips first (default 100)")->check(CLI::Range(0, 100000));
  app.add_option("--transport", transport, "tcp (127.0.0.1) or ipc (default tcp)")->check(CLI::IsMember({"tcp", "ipc"}));
  CLI11_PARSE(app, argc, argv);
  try {
    const fs::path dir = fs::temp_directory_path() / fmt::format("labloop-bench-wire-{}", getpid());
    fs::create_directories(dir);
    struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      }
    } cleanup{dir};
    const labloop::KeyPair controller = labloop::generate_key_pair("controller"), driver = labloop::generate_key_pair("driver");
    labloop::write_key_pair(dir / "controller", controller);
    labloop::write_key_pair(dir / "driver", driver);
    auto endpoint = [&](const char* name) {
      return transport == "tcp" ? std::string("tcp://127.0.0.1:*") : "ipc://" + (dir / fmt::format("{}.ipc", name)).string();
    };
    labloop::ServeOptions curve;
    curve.key_path = (dir / "driver").string();
    curve.allowed_keys = (dir / "controller.pub").string();
    Link plain_link(endpoint("plain"), std::nullopt, {}, "plain");
    Link curve_link(endpoint("curve"), labloop::InstrumentKeys{driver.public_key, controller}, curve, "curve");
    // Interleaved, so both see the same machine load (this machine may be shared).
    Timings plain, encrypted;
    for (int i = 0; i < warmup + count; ++i) {
      // Alternating which goes first cancels what one leaves behind for the next (a worker
      // thread still ending, a cache line); with 2 cores that is visible.
      const bool plain_first = i % 2 == 0;
      double p_ping = 0, c_ping = 0, p_run = 0, c_run = 0;
      if (plain_first) p_ping = plain_link.ping_us();
      c_ping = curve_link.ping_us();
      if (!plain_first) p_ping = plain_link.ping_us();
      if (plain_first) p_run = plain_link.run_us();
      c_run = curve_link.run_us();
      if (!plain_first) p_run = plain_link.run_us();
      if (i < warmup) continue;
      plain.ping_us.push_back(p_ping);
      encrypted.ping_us.push_back(c_ping);
      plain.run_us.push_back(p_run);
      encrypted.run_us.push_back(c_run);
    }
    fmt::print("labloop-bench-wire: {} round trips of each kind over {} (after {} untimed), {} hardware threads\n\n", count, transport, warmup,
               std::thread::hardware_concurrency());
    fmt::print("{:<28} {:>14} {:>12} {:>14} {:>12}\n", "round trip", "plain median", "plain p90", "CURVE median", "CURVE p90");
    auto row = [](const char* name, const std::vector<double>& a, const std::vector<double>& b) {
      fmt::print("{:<28} {:>11.1f} µs {:>9.1f} µs {:>11.1f} µs {:>9.1f} µs   (median {:+.1f} µs)\n", name, quantile(a, 0.5), quantile(a, 0.9),
                 quantile(b, 0.5), quantile(b, 0.9), quantile(b, 0.5) - quantile(a, 0.5));
    };
    row("ping -> pong", plain.ping_us, encrypted.ping_us);
    row("run -> accepted -> result", plain.run_us, encrypted.run_us);
  } catch (const std::exception& e) {
    fmt::print(stderr, "labloop-bench-wire: {}\n", e.what());
    return 1;
  }
  return 0;
}
