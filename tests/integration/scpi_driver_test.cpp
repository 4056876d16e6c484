// labloop-driver-scpi (drivers/scpi): its config checks, what it sends an SCPI instrument and
// reads back, the instrument left safe on every ending (error, abort, timeout, a broken line),
// a serial line, and the driver over a real socket passing `labloop driver-check`. The
// instrument is a fake bench power supply over a real TCP socket (or a pseudo-terminal).
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "cli_process.hpp"
#include "driver_check_support.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "scpi_driver.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A bench supply driving a 4 Ω load: SOUR:VOLT (0 to 20 V, else error -222), OUTP ON|OFF, OUTP?,
// MEAS:CURR? (V/4 when on), MEAS:ALL? ("V,I"), *OPC?, TEMP:STAB? (1 from the `stable_after`th
// ask), SYST:ERR?, *IDN?, *RST, ABOR. Anything else: error -113. Every line it gets is kept.
// Served over TCP on 127.0.0.1 (one connection at a time) or on a pty's master. Set before use
// (or while the driver waits): `slow_query` is answered `slow_ms` late, holding back what follows;
// `close_on` closes the connection instead of answering that query, once.
class FakeScpiSupply {
 public:
  std::atomic<int> slow_ms{0};
  std::string slow_query = "*OPC?";
  std::string close_on;
  std::string identity_after_close;  // another instrument answers once close_on has closed the line
  std::atomic<int> stable_after{0};
  std::atomic<bool> overrange{false};
  std::atomic<bool> mute{false};  // reads, never answers
  std::atomic<bool> drop{false};  // closes the connection it has (as an instrument left idle may)
  std::string identity = "labloop,FakeSupply,0001,1.0";
  std::optional<std::string> current_reply;  // what MEAS:CURR? answers instead
  std::string reply_ending = "\n";           // what ends each reply ("\r" as many serial instruments do)

  FakeScpiSupply() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(::listen(listener_, 4) == 0);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stopping_) {
        pollfd p{listener_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        ++connections;
        serve_line(fd);
        ::close(fd);
      }
    });
  }
  // Served on a pseudo-terminal instead: the driver opens slave_path().
  explicit FakeScpiSupply(bool /*pty*/) {
    int slave = -1;
    REQUIRE(::openpty(&master_, &slave, nullptr, nullptr, nullptr) == 0);
    slave_path_ = ::ttyname(slave);
    ::close(slave);
    thread_ = std::thread([this] { serve_line(master_); });
  }
  ~FakeScpiSupply() {
    stopping_ = true;
    thread_.join();
    if (listener_ >= 0) ::close(listener_);
    if (master_ >= 0) ::close(master_);
  }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
  const std::string& slave_path() const { return slave_path_; }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // Whether `line` has come, waiting up to 2 s for it: commands have no reply to wait for.
  bool got(const std::string& line) {
    for (int i = 0; i < 200; ++i) {
      const auto all = lines();
      if (std::find(all.begin(), all.end(), line) != all.end()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void wait_for_lines(std::size_t count) {
    for (int i = 0; i < 200 && lines().size() < count; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Whether `line` has come after the last `earlier`, waiting up to 2 s for it.
  bool got_after(const std::string& line, const std::string& earlier) {
    for (int i = 0; i < 200; ++i) {
      if (last_index_of(line) > last_index_of(earlier)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // The index of the last line equal to `line`, or -1.
  long last_index_of(const std::string& line) {
    const auto all = lines();
    for (long i = static_cast<long>(all.size()) - 1; i >= 0; --i)
      if (all[static_cast<std::size_t>(i)] == line) return i;
    return -1;
  }
  std::atomic<int> connections{0};
  // Changes what the supply answers while it serves (identity, close_on, current_reply, slow_query).
  void configure(const std::function<void(FakeScpiSupply&)>& change) {
    std::lock_guard lock(settings_);
    change(*this);
  }

 private:
  // Lines are kept as they arrive; they are answered in order, a delayed *OPC? holding back the
  // ones after it, as an instrument's input buffer does.
  void serve_line(int fd) {
    std::string buffer;
    std::deque<std::string> queue;
    std::optional<std::chrono::steady_clock::time_point> slow_due;
    while (!stopping_) {
      if (drop.exchange(false) && master_ < 0) return;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char chunk[512];
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n <= 0) {
          if (master_ < 0) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a pty's master reads EIO while no one has the slave open
          continue;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        for (std::size_t end; (end = buffer.find('\n')) != std::string::npos;) {
          std::string line = buffer.substr(0, end);
          buffer.erase(0, end + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          std::lock_guard lock(mutex_);
          lines_.push_back(line);
          if (!mute) queue.push_back(line);
        }
      }
      while (!queue.empty()) {
        if (queue.front() == slow_query && slow_ms > 0) {
          if (!slow_due) slow_due = std::chrono::steady_clock::now() + std::chrono::milliseconds(slow_ms);
          if (std::chrono::steady_clock::now() < *slow_due) break;
          slow_due.reset();
        }
        {
          std::lock_guard lock(settings_);
          if (!close_on.empty() && queue.front() == close_on && master_ < 0) {
            close_on.clear();
            if (!identity_after_close.empty()) identity = identity_after_close;
            return;
          }
        }
        std::optional<std::string> reply;
        std::string ending;
        {
          std::lock_guard lock(settings_);
          reply = answer(queue.front());
          ending = reply_ending;
        }
        queue.pop_front();
        if (reply) {
          const std::string out = *reply + ending;
          // A driver that gave up on a reply may have closed the line: no SIGPIPE, and go on reading.
          [[maybe_unused]] const ssize_t sent = master_ >= 0 ? ::write(fd, out.data(), out.size()) : ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        }
      }
    }
  }
  std::optional<std::string> answer(const std::string& line) {
    if (line == "*IDN?") return identity;
    if (line == "*RST") {
      volts_ = 0;
      on_ = false;
      return std::nullopt;
    }
    if (line == "*OPC?") return "1";
    if (line.rfind("SOUR:VOLT ", 0) == 0) {
      char* end = nullptr;
      const double v = std::strtod(line.c_str() + 10, &end);
      if (*end != '\0' || v < 0 || v > 20)
        errors_.push_back("-222,\"Data out of range\"");
      else
        volts_ = v;
      return std::nullopt;
    }
    if (line == "OUTP ON" || line == "OUTP OFF") {
      on_ = line == "OUTP ON";
      return std::nullopt;
    }
    if (line == "OUTP?") return on_ ? "1" : "0";
    if (line == "MEAS:CURR?" && current_reply) return *current_reply;
    if (line == "MEAS:CURR?") return overrange ? std::string("9.9E37") : fmt::format("{:+.6E}", on_ ? volts_ / 4 : 0.0);
    if (line == "MEAS:ALL?") return fmt::format("{:+.6E},{:+.6E}", volts_, on_ ? volts_ / 4 : 0.0);
    if (line == "TEMP:STAB?") return ++stability_asks_ >= stable_after ? "1" : "0";
    if (line == "SYST:ERR?") {
      if (errors_.empty()) return "+0,\"No error\"";
      const std::string e = errors_.front();
      errors_.erase(errors_.begin());
      return e;
    }
    if (line == "ABOR" || line == "MODE FAST" || line == "MODE SLOW") return std::nullopt;
    errors_.push_back("-113,\"Undefined header\"");
    return std::nullopt;
  }

  int listener_ = -1, master_ = -1, port_ = 0;
  std::string slave_path_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_, settings_;
  std::vector<std::string> lines_;
  std::vector<std::string> errors_;  // the instrument's error queue (its thread only)
  double volts_ = 0;
  bool on_ = false;
  int stability_asks_ = 0;
};

// A config for the supply at `address`: input volts in [0, 30] (wider than the supply takes, so
// its error queue can be reached), mode fast|slow, output current.
fs::path scpi_config(const test::TempDir& dir, const std::string& address, const std::string& extra = "", const std::string& run_steps = "") {
  const std::string text = fmt::format(R"({{"driver": "fake-supply",
    "inputs": [{{"name": "volts", "type": "continuous", "low": 0, "high": 30}},
               {{"name": "mode", "type": "categorical", "choices": ["FAST", "SLOW"]}}],
    "outputs": ["current"], "address": "{}", "timeout_s": 20, "io_timeout_s": 2,
    "setup": ["*RST"],
    "run": [{}"MODE {{mode}}", "SOUR:VOLT {{volts}}", "OUTP ON", "*OPC?"],
    "measure": {{"current": "MEAS:CURR?"}},
    "finish": ["OUTP OFF"],
    "abort": ["ABOR"]{}}})",
                                       address, run_steps, extra);
  test::write_file(dir / "supply.json", text);
  return dir / "supply.json";
}

std::string scpi_failure(scpi::ScpiDriver& driver, const json& params, std::stop_token stop = {}) {
  try {
    driver.run_experiment("s-0001", params, stop);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::string scpi_config_error(const test::TempDir& dir, const std::string& text) {
  return test::config_file_error(dir.path(), text, [](const fs::path& file) { scpi::read_scpi_config(file); });
}

}  // namespace

TEST_CASE("SCPI driver: an experiment sets the inputs, reads the outputs and leaves the instrument safe", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.address())));
  driver.connect_now();
  const Values values = driver.run_experiment("s-0001", json{{"volts", 2.5}, {"mode", "SLOW"}}, {});
  CHECK(values == Values{{"current", 0.625}});
  const std::vector<std::string> expected{"SYST:ERR?", "*RST", "SYST:ERR?",                                    // on connecting
                                          "MODE SLOW", "SOUR:VOLT 2.5", "OUTP ON", "*OPC?", "SYST:ERR?",  // run
                                          "MEAS:CURR?", "SYST:ERR?", "OUTP OFF"};                          // measure, finish
  supply.wait_for_lines(expected.size());  // OUTP OFF has no reply to wait for
  CHECK(supply.lines() == expected);
  // A value that reads back exactly, and the second experiment on the same line.
  CHECK(driver.run_experiment("s-0002", json{{"volts", 1.0 / 3}, {"mode", "FAST"}}, {}).at("current") == Approx(1.0 / 12));
  CHECK(supply.got(fmt::format("SOUR:VOLT {}", 1.0 / 3)));
  CHECK(supply.connections == 1);
  // A signed zero (inside [0, 30]: -0.0 >= 0) goes as 0, which every instrument reads.
  driver.run_experiment("s-0003", json{{"volts", -0.0}, {"mode", "FAST"}}, {});
  CHECK(supply.got("SOUR:VOLT 0"));
  CHECK_FALSE(supply.got("SOUR:VOLT -0"));
  // Each experiment's exchange is kept for people to read.
  std::string transcripts;
  for (const auto& entry : fs::directory_iterator(dir / "supply-runs")) transcripts += test::read_file(entry.path());
  CHECK_THAT(transcripts, Catch::Contains("> SOUR:VOLT 2.5") && Catch::Contains("< +6.250000E-01") && Catch::Contains("experiment s-0002"));
}

TEST_CASE("SCPI driver: an instrument's error, a reply that is no number and overrange fail the experiment, and finish still runs", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.address())));
  // 25 V is within the declared limits but not the supply's: its error queue says so.
  CHECK_THAT(scpi_failure(driver, json{{"volts", 25.0}, {"mode", "FAST"}}),
             Catch::Contains("after the run steps") && Catch::Contains("-222,\"Data out of range\""));
  CHECK(supply.got_after("OUTP OFF", "OUTP ON"));
  supply.overrange = true;
  CHECK_THAT(scpi_failure(driver, json{{"volts", 2.0}, {"mode", "FAST"}}), Catch::Contains("overrange"));
  CHECK(supply.got_after("OUTP OFF", "OUTP ON"));
  supply.overrange = false;
  // A line after the reply that no query asked for (a doubled reply, a status line sent unasked):
  // the replies are out of step, so the experiment fails rather than take one for another's value.
  supply.configure([](FakeScpiSupply& s) { s.current_reply = "+1.5\n777"; });
  CHECK_THAT(scpi_failure(driver, json{{"volts", 2.0}, {"mode", "FAST"}}),
             Catch::Contains("the instrument sent a line no query was waiting for (\"777\")") && Catch::Contains("out of step"));
  CHECK(supply.got_after("OUTP OFF", "OUTP ON"));
  supply.configure([](FakeScpiSupply& s) { s.current_reply.reset(); });
  // A field of a reply, one past its end, and a reply that is not a number: each a driver of its
  // own, one after the other (the supply takes one line at a time).
  test::TempDir dir2;
  json edited = json::parse(test::read_file(scpi_config(dir2, supply.address())));
  const auto measured_by = [&](const json& measure) -> std::string {
    edited["measure"] = {{"current", measure}};
    test::write_file(dir2 / "fields.json", edited.dump());
    scpi::ScpiDriver driver_of_field(scpi::read_scpi_config(dir2 / "fields.json"));
    try {
      return fmt::format("{}", driver_of_field.run_experiment("s-0003", json{{"volts", 8.0}, {"mode", "FAST"}}, {}).at("current"));
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  CHECK(measured_by({{"query", "MEAS:ALL?"}, {"field", 1}}) == "2");
  CHECK_THAT(measured_by({{"query", "MEAS:ALL?"}, {"field", 2}}), Catch::Contains("has no field 2"));
  CHECK_THAT(measured_by("*IDN?"), Catch::Contains("is not a number: \"labloop,FakeSupply"));
}

TEST_CASE("SCPI driver: outputs read as fields of one query come from one reply, one measurement", "[scpi]") {
  // Red-team report: MEAS:ALL? was sent once per output, so the voltage came from one reading and
  // the current from the next (with READ?, two acquisitions).
  FakeScpiSupply supply;
  test::TempDir dir;
  json config = json::parse(test::read_file(scpi_config(dir, supply.address())));
  config["outputs"] = {"current", "volts_read"};
  config["measure"] = {{"current", {{"query", "MEAS:ALL?"}, {"field", 1}}}, {"volts_read", {{"query", "MEAS:ALL?"}, {"field", 0}}}};
  test::write_file(dir / "both.json", config.dump());
  scpi::ScpiDriver driver(scpi::read_scpi_config(dir / "both.json"));
  CHECK(driver.run_experiment("s-0001", json{{"volts", 8.0}, {"mode", "FAST"}}, {}) == Values{{"current", 2.0}, {"volts_read", 8.0}});
  const auto lines = supply.lines();
  CHECK(std::count(lines.begin(), lines.end(), "MEAS:ALL?") == 1);
}

TEST_CASE("SCPI driver: an abort while the instrument works sends the abort and finish steps, and the next experiment starts afresh", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.address())));
  supply.slow_ms = 3000;
  std::stop_source stop;
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const std::string failure = scpi_failure(driver, json{{"volts", 3.0}, {"mode", "FAST"}}, stop.get_token());
  aborter.join();
  CHECK(failure == "aborted");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2500));
  REQUIRE(supply.got("OUTP OFF"));
  const long abort_at = supply.last_index_of("ABOR"), off_at = supply.last_index_of("OUTP OFF");
  CHECK(abort_at > supply.last_index_of("OUTP ON"));
  CHECK(off_at > abort_at);
  // The late "1" to the abandoned *OPC? is never read as an answer: ABOR and OUTP OFF went on a
  // second line, and the next experiment opens a third.
  supply.slow_ms = 0;
  CHECK(driver.run_experiment("s-0002", json{{"volts", 6.0}, {"mode", "FAST"}}, {}).at("current") == Approx(1.5));
  CHECK(supply.connections == 3);
}

TEST_CASE("SCPI driver: a silent instrument times out, the experiment says so, and the finish steps are still tried", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  json config = json::parse(test::read_file(scpi_config(dir, supply.address())));
  config["timeout_s"] = 1;
  test::write_file(dir / "supply.json", config.dump());
  scpi::ScpiDriver driver(scpi::read_scpi_config(dir / "supply.json"));
  driver.connect_now();
  supply.mute = true;
  const auto start = std::chrono::steady_clock::now();
  CHECK_THAT(scpi_failure(driver, json{{"volts", 3.0}, {"mode", "FAST"}}), Catch::Contains("no reply from the instrument"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(supply.got("OUTP OFF"));
  // Replies that come but end otherwise than read_termination says ("\r" alone, as many serial
  // instruments send) are no silence: the failure shows what came and names the setting.
  supply.mute = false;
  supply.configure([](FakeScpiSupply& s) { s.reply_ending = "\r"; });
  CHECK_THAT(scpi_failure(driver, json{{"volts", 3.0}, {"mode", "FAST"}}),
             Catch::Contains("no whole reply") && Catch::Contains("\\r\" but never the line ending") &&
                 Catch::Contains("set \"read_termination\": \"\\r\""));
  // Replies ending "\r\n" read with "\r": the "\n" left over is shown as such, not as an empty line.
  FakeScpiSupply crlf;
  crlf.configure([](FakeScpiSupply& s) { s.reply_ending = "\r\n"; });
  test::TempDir dir2;
  scpi::ScpiDriver read_with_cr(scpi::read_scpi_config(scpi_config(dir2, crlf.address(), R"(, "read_termination": "\r")")));
  CHECK_THAT(scpi_failure(read_with_cr, json{{"volts", 3.0}, {"mode", "FAST"}}),
             Catch::Contains("line-ending characters no query was waiting for (\"\\n\")") && Catch::Contains("set \"read_termination\" to \"\\n\""));
}

TEST_CASE("SCPI driver: poll and wait steps, and the identity check", "[scpi]") {
  FakeScpiSupply supply;
  supply.stable_after = 3;
  test::TempDir dir;
  {
    scpi::ScpiDriver driver(scpi::read_scpi_config(
        scpi_config(dir, supply.address(), R"(, "identity": "fakesupply")", R"({"poll": "TEMP:STAB?", "until": "+1", "every_s": 0.05}, {"wait_s": 0.1}, )")));
    driver.connect_now();
    CHECK(driver.run_experiment("s-0001", json{{"volts", 2.0}, {"mode", "FAST"}}, {}).at("current") == Approx(0.5));
    const auto lines = supply.lines();
    CHECK(std::count(lines.begin(), lines.end(), "TEMP:STAB?") == 3);
  }  // its line closed: the supply takes one at a time
  // Another instrument at the address: refused at start, with what it said it is.
  test::TempDir other;
  scpi::ScpiDriver wrong(scpi::read_scpi_config(scpi_config(other, supply.address(), R"(, "identity": "Keysight")")));
  try {
    wrong.connect_now();
    FAIL("connected to the wrong instrument");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("says it is \"labloop,FakeSupply,0001,1.0\"") && Catch::Contains("Keysight"));
  }
}

TEST_CASE("SCPI driver: a setting outside the declared limits is never sent, whoever calls run", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.address())));
  CHECK_THAT(scpi_failure(driver, json{{"volts", 30.5}, {"mode", "FAST"}}), Catch::Contains("outside [0, 30]; nothing was sent"));
  CHECK_THAT(scpi_failure(driver, json{{"volts", 3.0}, {"mode", "FAST;*RST"}}), Catch::Contains("not one of its choices"));
  CHECK_THAT(scpi_failure(driver, json{{"volts", 3.0}}), Catch::Contains("no value for \"mode\""));
  // Not even the line was opened: nothing reached the supply, not a part of the sequence.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(supply.connections == 0);
  CHECK(supply.lines().empty());
}

TEST_CASE("SCPI driver: a config's mistakes are named where they are", "[scpi]") {
  test::TempDir dir;
  const auto with = [&](const std::string& fields) {
    return scpi_config_error(dir, R"({"inputs": [{"name": "v", "type": "continuous", "low": 0, "high": 5},
      {"name": "gas", "type": "categorical", "choices": ["N2", "Ar"]}], "outputs": ["i"], )" + fields + "}");
  };
  const std::string ok = R"("address": "10.0.0.5:5025", "measure": {"i": "MEAS:CURR?"})";
  CHECK(with(ok).empty());
  CHECK_THAT(with(ok + R"(, "run": ["SOUR:VOLT {volts}"])"), Catch::Contains("/run/0") && Catch::Contains("{volts}, which is not one of the declared inputs"));
  CHECK_THAT(with(ok + R"(, "setup": ["SOUR:VOLT {v}"])"), Catch::Contains("/setup/0") && Catch::Contains("setup runs on connecting"));
  CHECK_THAT(with(ok + R"(, "run": ["A\nB"])"), Catch::Contains("line break"));
  CHECK_THAT(with(ok + R"(, "run": ["SOUR:VOLT {v"])"), Catch::Contains("without its '}'"));
  CHECK_THAT(with(ok + R"(, "run": [{"wait_s": -1}])"), Catch::Contains("/run/0/wait_s"));
  CHECK_THAT(with(ok + R"(, "run": [{"poll": "OUTP ON", "until": "1"}])"), Catch::Contains("is not a query"));
  CHECK_THAT(with(ok + R"(, "run": [{"sleep": 1}])"), Catch::Contains("/run/0: must be a command"));
  CHECK_THAT(with(ok + R"(, "capacity": 2)"), Catch::Contains("/capacity: must be 1"));
  CHECK_THAT(with(ok + R"(, "baud": 9600)"), Catch::Contains("/baud: is for a serial port"));
  CHECK_THAT(with(R"("address": "/dev/ttyUSB0", "baud": 9601, "measure": {"i": "MEAS:CURR?"})"), Catch::Contains("/baud: must be one of"));
  CHECK_THAT(with(R"("address": "10.0.0.5", "measure": {"i": "MEAS:CURR?"})"), Catch::Contains("/address") && Catch::Contains("HOST:PORT"));
  CHECK_THAT(with(R"("address": "10.0.0.5:70000", "measure": {"i": "MEAS:CURR?"})"), Catch::Contains("port must be a number from 1 to 65535"));
  CHECK_THAT(with(R"("address": "10.0.0.5:5025", "measure": {})"), Catch::Contains("no query for the output \"i\""));
  CHECK_THAT(with(R"("address": "10.0.0.5:5025", "measure": {"i": "MEAS:CURR"})"), Catch::Contains("/measure/i: is not a query"));
  CHECK_THAT(with(R"("address": "10.0.0.5:5025", "measure": {"i": "MEAS:CURR?", "j": "X?"})"), Catch::Contains("/measure"));
  CHECK_THAT(with(ok + R"(, "error_query": "SYST:ERR")"), Catch::Contains("/error_query: is not a query"));
  CHECK_THAT(with(ok + R"(, "write_termination": ";")"), Catch::Contains("/write_termination"));
  CHECK_THAT(with(ok + R"(, "setp": [])"), Catch::Contains("setp"));
  for (const char* choice : {"N2;*RST", "N2?", "N2\\n*RST", "N2\\\"", "{gas}"})
    CHECK_THAT(scpi_config_error(dir, fmt::format(R"({{"inputs": [{{"name": "gas", "type": "categorical", "choices": ["{}", "Ar"]}}], "outputs": ["i"],
      "address": "10.0.0.5:5025", "measure": {{"i": "MEAS:CURR?"}}}})", choice)),
               Catch::Contains("/inputs/0") && Catch::Contains("would change the SCPI command"));
  // Nobody listening: a message at start naming the address.
  test::write_file(dir / "nobody.json", R"({"inputs": [{"name": "v", "type": "continuous", "low": 0, "high": 5}], "outputs": ["i"],
      "address": "127.0.0.1:1", "io_timeout_s": 2, "measure": {"i": "MEAS:CURR?"}})");
  scpi::ScpiDriver nobody(scpi::read_scpi_config(dir / "nobody.json"));
  CHECK_THROWS_WITH(nobody.connect_now(), Catch::Contains("cannot connect to the instrument at 127.0.0.1:1"));
}

TEST_CASE("SCPI driver: a serial line (a pseudo-terminal here) works as a network one does", "[scpi]") {
  FakeScpiSupply supply(/*pty=*/true);
  test::TempDir dir;
  scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.slave_path(), R"(, "baud": 115200, "write_termination": "\r\n")")));
  driver.connect_now();
  CHECK(driver.run_experiment("s-0001", json{{"volts", 10.0}, {"mode", "SLOW"}}, {}).at("current") == Approx(2.5));
  CHECK(supply.got("SOUR:VOLT 10"));
  CHECK(supply.got("OUTP OFF"));
}

TEST_CASE("SCPI driver: labloop-driver-scpi over a real socket passes every driver-check, settings outside the limits included",
          "[scpi][driver-check]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  json config = json::parse(test::read_file(scpi_config(dir, supply.address())));
  config["inputs"][0]["high"] = 20;  // the supply's own limit: the middle of the limits must run
  test::write_file(dir / "supply.json", config.dump());
  ChildProcess driver({LABLOOP_SCPI_DRIVER_PATH, (dir / "supply.json").string(), "--endpoint", dir.ipc("scpi")}, dir / "driver.log");
  const DriverCheckReport report = check_driver(test::every_check(dir.ipc("scpi")));
  INFO(test::checks_not_passed(report) << test::read_file(dir / "driver.log"));
  CHECK(report.all_passed());
  // Nothing outside the limits reached the supply: every voltage it was sent lies in [0, 20].
  for (const std::string& line : supply.lines())
    if (line.rfind("SOUR:VOLT ", 0) == 0) {
      const double v = std::stod(line.substr(10));
      CHECK((v >= 0 && v <= 20));
    }
  CHECK(supply.got("SOUR:VOLT 10"));
}

TEST_CASE("SCPI driver: the shipped example (a bench supply, simulated in Python) passes every driver-check and runs a campaign",
          "[scpi][driver-check][python]") {
  test::TempDir dir;
  // The simulated supply on a free port, which it prints.
  ChildIo io;
  io.output = dir / "supply.out";
  ChildProcess supply({"python3", (fs::path(LABLOOP_SOURCE_DIR) / "drivers/scpi/example/fake_supply.py").string(), "0"}, dir / "supply.err", io);
  std::string listening;
  for (int i = 0; i < 500 && listening.find('\n') == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    listening = test::read_file(dir / "supply.out");
  }
  const auto at = listening.find("127.0.0.1:");
  REQUIRE(at != std::string::npos);
  json config = json::parse(test::read_file(fs::path(LABLOOP_SOURCE_DIR) / "drivers/scpi/example/supply.json"), nullptr, true, /*ignore_comments=*/true);
  config["address"] = listening.substr(at, listening.find('\n', at) - at);
  test::write_file(dir / "supply.json", config.dump());
  ChildProcess driver({LABLOOP_SCPI_DRIVER_PATH, (dir / "supply.json").string(), "--endpoint", dir.ipc("supply")}, dir / "driver.log");
  const DriverCheckReport report = check_driver(test::every_check(dir.ipc("supply")));
  INFO(test::checks_not_passed(report) << test::read_file(dir / "driver.log"));
  CHECK(report.all_passed());
  CHECK(report.info.driver == "example-scpi-supply");

  // A technician's path: a campaign file from what the driver declares, then a campaign on it.
  const test::CliOutcome written =
      test::cli({"new", (dir / "campaign.json").string(), "--endpoint", dir.ipc("supply"), "--objective", "current", "--goal", "maximize", "--experiments", "6"}, dir, "new.log");
  INFO(written.output);
  REQUIRE(written.status == 0);
  const test::CliOutcome ran = test::cli({"run", (dir / "campaign.json").string(), "--output", (dir / "out").string()}, dir, "run.log");
  INFO(ran.output);
  CHECK(ran.status == 0);
  const std::string results = test::read_file(dir / "out" / "results.csv");
  CHECK(std::count(results.begin(), results.end(), '\n') == 7);  // the header and 6 experiments
}

TEST_CASE("SCPI driver: a line that breaks mid-experiment gets the finish steps on a new one, unless another instrument answers there",
          "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.address())));
  driver.connect_now();
  supply.configure([](FakeScpiSupply& s) { s.close_on = "MEAS:CURR?"; });
  CHECK_THAT(scpi_failure(driver, json{{"volts", 4.0}, {"mode", "FAST"}}), Catch::Contains("closed the connection"));
  // OUTP OFF came on a second line, after OUTP ON.
  CHECK(supply.got("OUTP OFF"));
  CHECK(supply.connections == 2);
  CHECK(supply.got_after("OUTP OFF", "OUTP ON"));

  // The same, but another instrument now answers at the address: nothing is sent to it, and the
  // experiment says the supply may not be left safe.
  test::TempDir checked;
  scpi::ScpiDriver identified(scpi::read_scpi_config(scpi_config(checked, supply.address(), R"(, "identity": "FakeSupply")")));
  identified.connect_now();
  supply.configure([](FakeScpiSupply& s) {
    s.close_on = "MEAS:CURR?";
    s.identity_after_close = "Other,Thing,2,2";
  });
  const std::size_t before = supply.lines().size();
  const std::string failure = scpi_failure(identified, json{{"volts", 4.0}, {"mode", "FAST"}});
  CHECK_THAT(failure, Catch::Contains("closed the connection") && Catch::Contains("says it is \"Other,Thing,2,2\"") &&
                          Catch::Contains("Nothing more was sent"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // time for a command that has no reply to arrive
  const auto lines = supply.lines();
  CHECK(std::find(lines.begin() + static_cast<long>(before), lines.end(), "OUTP OFF") == lines.end());
}

TEST_CASE("SCPI driver: a reply given up on is never read as another's, and a line the instrument closed while idle is replaced",
          "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  json config = json::parse(test::read_file(scpi_config(dir, supply.address())));
  config["timeout_s"] = 1;
  config["finish"] = {"OUTP OFF", {{"poll", "OUTP?"}, {"until", "0"}, {"every_s", 0.05}}};
  config["run"] = {"SOUR:VOLT {volts}", "OUTP ON"};
  test::write_file(dir / "supply.json", config.dump());
  scpi::ScpiDriver driver(scpi::read_scpi_config(dir / "supply.json"));
  driver.connect_now();
  // MEAS:CURR? answers "0" after the experiment's timeout: that late "0" must not answer OUTP?.
  supply.configure([](FakeScpiSupply& s) {
    s.slow_query = "MEAS:CURR?";
    s.current_reply = "0";
  });
  supply.slow_ms = 1500;
  CHECK_THAT(scpi_failure(driver, json{{"volts", 4.0}, {"mode", "FAST"}}), Catch::Contains("MEAS:CURR?: no reply"));
  CHECK(supply.got("OUTP?"));
  CHECK(supply.connections == 2);  // the poll went on a new line
  supply.slow_ms = 0;
  supply.configure([](FakeScpiSupply& s) { s.current_reply.reset(); });
  // The instrument closes the line between experiments: the next one opens a new line.
  CHECK(driver.run_experiment("s-0002", json{{"volts", 4.0}, {"mode", "FAST"}}, {}).at("current") == Approx(1.0));
  const int before = supply.connections;
  supply.drop = true;
  for (int i = 0; i < 100 && supply.drop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(driver.run_experiment("s-0003", json{{"volts", 8.0}, {"mode", "FAST"}}, {}).at("current") == Approx(2.0));
  CHECK(supply.connections == before + 1);
}

TEST_CASE("SCPI driver: an abort is prompt while the error queue is read, and says when the finish steps failed", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  json config = json::parse(test::read_file(scpi_config(dir, supply.address())));
  config["io_timeout_s"] = 0.5;
  config["finish"] = {"OUTP OFF", "BOGUS?"};  // the supply never answers BOGUS?
  test::write_file(dir / "supply.json", config.dump());
  scpi::ScpiDriver driver(scpi::read_scpi_config(dir / "supply.json"));
  driver.connect_now();
  supply.configure([](FakeScpiSupply& s) { s.slow_query = "SYST:ERR?"; });
  supply.slow_ms = 5000;
  std::stop_source stop;
  std::thread aborter([&] {
    for (int i = 0; i < 500 && !supply.got("*OPC?"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // in the error query after the run steps
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const std::string failure = scpi_failure(driver, json{{"volts", 3.0}, {"mode", "FAST"}}, stop.get_token());
  aborter.join();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(4000));
  CHECK_THAT(failure, Catch::StartsWith("aborted; then ") && Catch::Contains("the finish step \"BOGUS?\" failed"));
  CHECK(supply.got("ABOR"));
  CHECK(supply.got("OUTP OFF"));
}

TEST_CASE("SCPI driver: only SCPI's numbers are read as measurements, and an instrument's control bytes are quoted as such", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  const auto measured = [&](const std::string& reply) -> std::string {
    supply.configure([&](FakeScpiSupply& s) { s.current_reply = reply; });
    scpi::ScpiDriver driver(scpi::read_scpi_config(scpi_config(dir, supply.address())));
    try {
      return fmt::format("{}", driver.run_experiment("s-0001", json{{"volts", 1.0}, {"mode", "FAST"}}, {}).at("current"));
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  CHECK(measured("+1.500000E+00") == "1.5");
  CHECK(measured(" -.5 ") == "-0.5");
  CHECK(measured("5.") == "5");
  CHECK(measured("42") == "42");
  for (const char* not_a_number : {"0x10", "0x1p3", "inf", "nan", "1e999", "1e-400", "1,5", "1.5 V", "+", "e5", "1e"})
    CHECK_THAT(measured(not_a_number), Catch::Contains("is not a number"));
  CHECK_THAT(measured(std::string("1.5\0junk", 8)), Catch::Contains("is not a number: \"1.5\\x00junk\""));
}

TEST_CASE("SCPI driver: setup may wait longer than io_timeout_s, and baud is refused for what is not a serial port", "[scpi]") {
  FakeScpiSupply supply;
  test::TempDir dir;
  json config = json::parse(test::read_file(scpi_config(dir, supply.address())));
  config["io_timeout_s"] = 0.3;
  config["setup"] = {"*RST", {{"wait_s", 0.6}}};
  test::write_file(dir / "supply.json", config.dump());
  scpi::ScpiDriver driver(scpi::read_scpi_config(dir / "supply.json"));
  CHECK_NOTHROW(driver.connect_now());
  test::write_file(dir / "null.json", R"({"inputs": [{"name": "v", "type": "continuous", "low": 0, "high": 5}], "outputs": ["i"],
      "address": "/dev/null", "baud": 9600, "measure": {"i": "MEAS:CURR?"}})");
  scpi::ScpiDriver not_serial(scpi::read_scpi_config(dir / "null.json"));
  CHECK_THROWS_WITH(not_serial.connect_now(), Catch::Contains("/dev/null is not a serial port"));
  const std::string base = R"({"inputs": [{"name": "v", "type": "continuous", "low": 0, "high": 5}], "outputs": ["i"],
      "address": "/dev/ttyUSB0", "measure": {"i": "MEAS:CURR?"}, )";
  CHECK_THAT(scpi_config_error(dir, base + R"("baud": -4294957696})"), Catch::Contains("/baud: must be one of"));
  CHECK_THAT(scpi_config_error(dir, base + R"("io_timeout_s": 1e-9})"), Catch::Contains("/io_timeout_s"));
}
