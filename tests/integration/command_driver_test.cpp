// labloop-driver-command (drivers/command): its config checks, how each way a program can end
// becomes a result, abort and timeout stopping the program, and the driver over a real socket
// passing `labloop driver-check`.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <signal.h>

#include <thread>

#include "command_driver.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "cli_process.hpp"
#include "driver_check_support.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A config for `script` (run by /bin/sh) with one input x in [0, 10] and output y.
fs::path command_config(const test::TempDir& dir, const std::string& script, double timeout_s = 20, const std::string& extra = "") {
  test::write_file(dir / "program.sh", script);
  const std::string text = fmt::format(R"({{"driver": "sh-test", "inputs": [{{"name": "x", "type": "continuous", "low": 0, "high": 10}}],
    "outputs": ["y"], "command": ["/bin/sh", "program.sh"], "timeout_s": {}{}}})",
                                       timeout_s, extra);
  test::write_file(dir / "instrument.json", text);
  return dir / "instrument.json";
}

std::string failure_of(command::CommandDriver& driver, std::stop_token stop = {}) {
  try {
    driver.run_experiment("c-0001", json{{"x", 2.5}}, stop);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Running, not a zombie: a grandchild re-parented to an init that never reaps stays one.
bool process_running(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  const std::string stat = test::read_file(fs::path("/proc") / std::to_string(pid) / "stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

std::string config_error(const test::TempDir& dir, const std::string& text) {
  return test::config_file_error(dir.path(), text, [](const fs::path& file) { command::read_command_config(file); });
}

}  // namespace

TEST_CASE("Command driver: the program gets the params on stdin and its id in the environment, and its last line is the result", "[command]") {
  test::TempDir dir;
  command::CommandDriver driver(command::read_command_config(command_config(dir, R"(cat > seen.json
echo "$LABLOOP_EXPERIMENT" > id.txt
echo "warming up" >&2
echo "some progress text"
echo '{"y": 4.25, "extra": 1}'
)")));
  CHECK(driver.describe().driver == "sh-test");
  const Values values = driver.run_experiment("c-0001", json{{"x", 2.5}}, {});
  CHECK(values == Values{{"y", 4.25}});
  CHECK(json::parse(test::read_file(dir / "seen.json")) == json{{"experiment", "c-0001"}, {"params", {{"x", 2.5}}}});
  CHECK(test::read_file(dir / "id.txt") == "c-0001\n");
  // The run's folder keeps what it was given and what it said.
  std::vector<fs::path> runs;
  for (const auto& entry : fs::directory_iterator(dir / "instrument-runs"))
    if (entry.is_directory()) runs.push_back(entry.path());  // beside the driver's lock
  REQUIRE(runs.size() == 1);
  CHECK_THAT(runs[0].filename().string(), Catch::EndsWith("-c-0001"));
  CHECK(test::read_file(runs[0] / "stderr.txt") == "warming up\n");
  CHECK_THAT(test::read_file(runs[0] / "stdout.txt"), Catch::StartsWith("some progress text\n"));
}

TEST_CASE("Command driver: an output named error is measured as a number; a text under error is still a failure's reason", "[command]") {
  // Every experiment failed with its measured number as the reason (a red-team report): labloop
  // allows an output named "error" (a liquid handler measures one).
  test::TempDir dir;
  test::write_file(dir / "program.sh", R"(read -r line; case "$line" in *'"x":1'*) echo '{"error": "pump jammed"}';; *) echo '{"y": 2, "error": 0.3}';; esac
)");
  test::write_file(dir / "instrument.json", R"({"driver": "sh-test", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 10}],
    "outputs": ["y", "error"], "command": ["/bin/sh", "program.sh"], "timeout_s": 20})");
  command::CommandDriver driver(command::read_command_config(dir / "instrument.json"));
  CHECK(driver.run_experiment("c-0001", json{{"x", 2.5}}, {}) == Values{{"y", 2.0}, {"error", 0.3}});
  CHECK_THROWS_WITH(driver.run_experiment("c-0002", json{{"x", 1}}, {}), "pump jammed");
  // Not declared: a number under "error" is a failure, as before.
  command::CommandDriver undeclared(
      command::read_command_config(command_config(dir, "echo '{\"y\": 2, \"error\": 0.3}'\n", 20, R"(, "runs_dir": "undeclared-runs")")));
  CHECK(failure_of(undeclared) == "0.3");
}

TEST_CASE("Command driver: every other ending of the program is a failed experiment that says why", "[command]") {
  test::TempDir dir;
  const auto failure = [&](const std::string& script, double timeout_s = 20) {
    command::CommandDriver driver(command::read_command_config(command_config(dir, script, timeout_s)));
    return failure_of(driver);
  };
  CHECK(failure(R"(echo '{"error": "line clogged"}')") == "line clogged");
  CHECK(failure(R"(echo '{"error": ""}')") == "the program reported an error and gave no reason");
  CHECK(failure("echo 'pump jammed' >&2; exit 3") == "the program exited with status 3: pump jammed");
  CHECK_THAT(failure("echo 'y = 4'"), Catch::Contains("last line of output is not a JSON object") && Catch::Contains("\"y = 4\""));
  CHECK_THAT(failure("true"), Catch::Contains("it printed nothing"));
  CHECK_THAT(failure(R"(echo '{"z": 1}')"), Catch::Contains("printed no number for \"y\""));
  CHECK_THAT(failure(R"(echo '{"y": "high"}')"), Catch::Contains("printed no number for \"y\""));
  CHECK_THAT(failure("kill -9 $$"), Catch::Contains("was killed by signal 9"));
  CHECK(failure("exit 130") == "the program exited with status 130");  // not a signal, whatever its number
  CHECK(failure(R"(echo '{"y": 1.5, "error": null}')").empty());     // a null error is none
  CHECK_THAT(failure(R"(echo '{"y": 1, "y": 2}')"), Catch::Contains("gives /y twice"));
  CHECK_THAT(failure("exec yes"), Catch::Contains("wrote more than 64 MiB to its output and was stopped"));
  // The parser's reason is said with the line: a line can look like an object and not be one.
  CHECK_THAT(failure(R"(echo '{"y": 1e400}')"), Catch::Contains("not a JSON object") && Catch::Contains("a number beyond ±1.8e308"));
  const std::string latin1 = failure(R"(printf '{"y": 1.5, "operator": "J\351r\364me"}\n')");
  CHECK_THAT(latin1, Catch::Contains("not a JSON object") && Catch::Contains("not UTF-8") && Catch::Contains("J\\xe9r\\xf4me"));
  CHECK(valid_utf8(latin1));  // the message itself travels as JSON
  // The last line that is not blank, however many blank lines follow it (a tool padding its log).
  CHECK(failure(R"(echo '{"y": 2.5}'; head -c 3000000 /dev/zero | tr '\0' '\n')").empty());
  // What the program does to the paths of its output files changes nothing: the driver reads
  // what it wrote through its own descriptors. A pipe left there made the driver hang for good.
  CHECK(failure(R"(echo '{"y": 1.5}'; rm -f "$LABLOOP_RUN_DIR/stdout.txt"; mkfifo "$LABLOOP_RUN_DIR/stdout.txt")").empty());
  CHECK(failure(R"(echo 'pump jammed' >&2; rm -f "$LABLOOP_RUN_DIR/stderr.txt"; mkfifo "$LABLOOP_RUN_DIR/pipe"
ln -s pipe "$LABLOOP_RUN_DIR/stderr.txt"; exit 3)") == "the program exited with status 3: pump jammed");
  // A last line past the 1 MiB the driver reads is said to be that, not quoted from its middle
  // as "not a JSON object"; one of exactly 1 MiB is read.
  CHECK_THAT(failure(R"(printf '{"y": 1, "pad": "'; head -c 1048576 /dev/zero | tr '\0' x; echo '"}')"),
             Catch::StartsWith("the program's last line of output is longer than 1 MiB (1048576 bytes), the most this driver reads of a "
                               "line, so it was not read and the experiment failed") &&
                 Catch::EndsWith("/stdout.txt"));
  CHECK(failure(R"(echo 'a first line'; printf '{"y": 1, "pad": "'; head -c 1048557 /dev/zero | tr '\0' x; echo '"}')").empty());
  {
    command::CommandDriver driver(command::read_command_config(command_config(dir, "echo '{\"y\": 1}'")));
    CHECK_THROWS_WITH(driver.run_experiment(std::string("c-1\0../etc", 9), json{{"x", 1}}, {}), Catch::Contains("control character"));
  }
  const auto started = std::chrono::steady_clock::now();
  CHECK_THAT(failure("exec sleep 30", 0.3), Catch::Contains("ran past timeout_s (0.3 s) and was stopped"));
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
}

TEST_CASE("Command driver: output past the cap fails the experiment and names the cap, also when the program exits before it is looked at",
          "[command]") {
  test::TempDir dir;
  const auto failure = [&](const std::string& script) {
    command::CommandDriver driver(command::read_command_config(command_config(dir, script)));
    return failure_of(driver);
  };
  // 70 MB in an instant (a sparse file) and a result after it: over before the first look.
  const std::string sparse = R"(truncate -s 70000000 "$LABLOOP_RUN_DIR/stdout.txt"; echo '{"y": 1}' >> "$LABLOOP_RUN_DIR/stdout.txt")";
  CHECK_THAT(failure(sparse), Catch::Contains("wrote more than 64 MiB to its output") && Catch::Contains("first 64 MiB are kept"));
  CHECK_THAT(failure(R"(truncate -s 70000000 "$LABLOOP_RUN_DIR/stderr.txt"; echo '{"y": 1}')"), Catch::Contains("wrote more than 64 MiB"));
  // Written for real in about 0.1 s: stopped on the way or over at its exit, the failure names the cap.
  CHECK_THAT(failure("head -c 70000000 /dev/zero; echo; echo '{\"y\": 1}'"), Catch::Contains("wrote more than 64 MiB to its output"));
  // Removing stdout.txt first does not take the output out of the count (it was "it printed nothing").
  CHECK_THAT(failure(R"(rm -f "$LABLOOP_RUN_DIR/stdout.txt"; head -c 70000000 /dev/zero; echo; echo '{"y": 1}')"),
             Catch::Contains("wrote more than 64 MiB to its output") && Catch::Contains("(except stdout.txt, which the program removed or replaced)"));
  // What is kept stays within the cap.
  for (const auto& run : fs::directory_iterator(dir / "instrument-runs"))
    for (const char* file : {"stdout.txt", "stderr.txt"}) {
      INFO(run.path() / file);
      if (fs::exists(run.path() / file)) CHECK(fs::file_size(run.path() / file) <= (std::uintmax_t{64} << 20));
    }
}

TEST_CASE("Command driver: an abort stops the program and everything it started", "[command]") {
  test::TempDir dir;
  command::CommandDriver driver(command::read_command_config(command_config(dir, "sleep 60 & echo $! > child.pid; echo $$ > program.pid; wait\n")));
  std::stop_source stop;
  std::jthread aborter([&] {
    for (int i = 0; i < 500 && !fs::exists(dir / "program.pid"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.request_stop();
  });
  CHECK(failure_of(driver, stop.get_token()) == "aborted");
  aborter.join();
  for (const char* file : {"program.pid", "child.pid"}) {
    const pid_t pid = std::stoi(test::read_file(dir / file));
    INFO(file);
    CHECK_FALSE(process_running(pid));
  }
  // Stopped, the run is no longer under way: its mark is gone (a driver starting would stop it).
  for (const auto& run : fs::directory_iterator(dir / "instrument-runs"))
    if (run.is_directory()) CHECK_FALSE(fs::exists(run.path() / command::CommandDriver::kRunningMarkName));
}

TEST_CASE("Command driver: a program that ends by itself leaves what it started running", "[command]") {
  // README: a program may start a service meant to outlive the run. Every normal return stopped
  // its process group (SIGTERM, then SIGKILL after 2 s), holding the result back meanwhile.
  test::TempDir dir;
  command::CommandDriver driver(command::read_command_config(command_config(dir, "sleep 60 & echo $! > service.pid; echo '{\"y\": 2}'\n")));
  CHECK(driver.run_experiment("c-0001", json{{"x", 2.5}}, {}).at("y") == 2);
  const pid_t service = std::stoi(test::read_file(dir / "service.pid"));
  CHECK(process_running(service));
  ::kill(service, SIGKILL);
}

TEST_CASE("Command driver: what a run left under way by a driver that died is stopped when a driver starts; a finished run's service is not",
          "[command]") {
  // Red-team report: kill -9 of the driver left the program's child measuring (the kernel's
  // PR_SET_PDEATHSIG reaches the direct child only), and the restarted driver ran the same
  // experiment beside it on a capacity-1 instrument.
  test::TempDir dir;
  const fs::path config = command_config(dir, "sleep 60 & echo $! > service.pid; echo '{\"y\": 2}'\n");
  const fs::path runs = dir / "instrument-runs";
  {
    command::CommandDriver driver(command::read_command_config(config));
    CHECK(driver.run_experiment("c-0001", json{{"x", 2.5}}, {}).at("y") == 2);
    CHECK_THROWS_WITH(command::CommandDriver(command::read_command_config(config)),
                      Catch::Contains("is in use by another labloop-driver-command") && Catch::Contains("its own runs_dir"));
  }
  // A run that ended took its mark away (one stopped too: "an abort stops the program…" below).
  for (const auto& run : fs::directory_iterator(runs))
    if (run.is_directory()) CHECK_FALSE(fs::exists(run.path() / command::CommandDriver::kRunningMarkName));
  const pid_t service = std::stoi(test::read_file(dir / "service.pid"));
  REQUIRE(process_running(service));

  // A run as a killed driver leaves it: its mark, and a process of its own session carrying its
  // LABLOOP_RUN_DIR (reparented, as the shell that started it exits).
  const fs::path orphan_run = runs / "20261208T000000Z-c-0002";
  fs::create_directories(orphan_run);
  const std::string entry = "LABLOOP_RUN_DIR=" + orphan_run.string();
  test::write_file(orphan_run / command::CommandDriver::kRunningMarkName, entry);
  REQUIRE(std::system(fmt::format("cd '{}' && env '{}' setsid sleep 60 < /dev/null > /dev/null 2>&1 & echo $! > '{}'", dir.path().string(),
                                  entry, (dir / "orphan.pid").string())
                          .c_str()) == 0);
  const pid_t orphan = test::wait_until([&] { return fs::exists(dir / "orphan.pid") && !test::read_file(dir / "orphan.pid").empty(); },
                                        std::chrono::seconds(5))
                           ? std::stoi(test::read_file(dir / "orphan.pid"))
                           : -1;
  REQUIRE(orphan > 0);
  REQUIRE(test::wait_until([&] { return !processes_with_environment(entry).empty(); }, std::chrono::seconds(5)));

  command::CommandDriver restarted(command::read_command_config(config));
  CHECK(restarted.stopped_at_start() == "1 run a previous driver left unfinished (it was killed or crashed): 1 process still running stopped");
  CHECK_FALSE(process_running(orphan));
  CHECK_FALSE(fs::exists(orphan_run / command::CommandDriver::kRunningMarkName));
  CHECK(process_running(service));  // a finished run's service is left alone
  ::kill(service, SIGKILL);
}

TEST_CASE("Command driver: a config's mistakes are named where they are", "[command]") {
  test::TempDir dir;
  test::write_file(dir / "plain.txt", "not a program");
  const std::string io = R"("inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}], "outputs": ["y"])";
  CHECK_THAT(config_error(dir, "{" + io + R"(, "comand": ["true"]})"), Catch::Contains("comand") && Catch::Contains("did you mean \"command\""));
  CHECK_THAT(config_error(dir, "{" + io + "}"), Catch::Contains("command"));
  CHECK_THAT(config_error(dir, "{" + io + R"(, "command": []})"), Catch::Contains("/command"));
  CHECK_THAT(config_error(dir, "{" + io + R"(, "command": ["no-such-program-here"]})"),
             Catch::Contains("/command/0") && Catch::Contains("no program \"no-such-program-here\" on PATH"));
  CHECK_THAT(config_error(dir, "{" + io + R"(, "command": ["./plain.txt"]})"),
             Catch::Contains("is not an executable file") && Catch::Contains("[\"python3\", \"./plain.txt\"]"));
  CHECK_THAT(config_error(dir, "{" + io + R"(, "command": ["true"], "timeout_s": 0})"), Catch::Contains("/timeout_s: must be seconds > 0"));
  CHECK_THAT(config_error(dir, R"({"inputs": [{"name": "x", "type": "continuous", "low": 2, "high": 1}], "outputs": ["y"], "command": ["true"]})"),
             Catch::Contains("inputs, outputs, capacity or noise"));
  CHECK_THAT(config_error(dir, "{" + io + R"(, "command": ["true"], "command": ["false"]})"), Catch::Contains("/command: is given twice"));
  // Nesting far past what a config needs (400 KB, within the size limit) crashed the driver.
  CHECK_THAT(config_error(dir, "{" + io + R"(, "command": ["true"], "noise": )" + std::string(200000, '[') + std::string(200000, ']') + "}"),
             Catch::Contains("nested deeper than 64 levels at line 1"));
  CHECK(config_error(dir, "{" + io + R"(, "command": ["true"]})").empty());
}

TEST_CASE("Command driver: labloop-driver-command over a real socket passes every driver-check, settings outside the limits included",
          "[command][driver-check]") {
  test::TempDir dir;
  const fs::path config = command_config(dir, R"(cat > /dev/null; echo '{"y": 1.5}')");
  ChildProcess driver({LABLOOP_COMMAND_DRIVER_PATH, config.string(), "--endpoint", dir.ipc("cmd"), "--cache", (dir / "cache.jsonl").string()},
                      dir / "driver.log");
  const DriverCheckReport report = check_driver(test::every_check(dir.ipc("cmd")));
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  // Exactly one run reached the program: the repeat came from the cache, the rest were refused.
  std::size_t runs = 0;
  for (const auto& entry : fs::directory_iterator(dir / "instrument-runs")) runs += entry.is_directory();
  CHECK(runs == 1);
}

#ifdef LABLOOP_PYTHON3
TEST_CASE("Command driver: the shipped example (an oven run by a Python script) passes every driver-check", "[command][driver-check][python]") {
  test::TempDir dir;
  for (const char* file : {"oven.json", "measure.py"}) fs::copy_file(fs::path(LABLOOP_SOURCE_DIR) / "drivers/command/example" / file, dir / file);
  ChildProcess driver({LABLOOP_COMMAND_DRIVER_PATH, (dir / "oven.json").string(), "--endpoint", dir.ipc("oven")}, dir / "driver.log");
  const DriverCheckReport report = check_driver(test::every_check(dir.ipc("oven")));
  INFO(test::checks_not_passed(report));
  CHECK(report.all_passed());
  CHECK(report.info.driver == "example-command-oven");
  CHECK(report.info.inputs.size() == 3);

  // A technician's path: a campaign file from what the driver declares, then a campaign on it.
  const test::CliOutcome written =
      test::cli({"new", (dir / "campaign.json").string(), "--endpoint", dir.ipc("oven"), "--goal", "maximize", "--experiments", "8"}, dir, "new.log");
  INFO(written.output);
  REQUIRE(written.status == 0);
  const test::CliOutcome ran = test::cli({"run", (dir / "campaign.json").string(), "--output", (dir / "out").string()}, dir, "run.log");
  INFO(ran.output);
  CHECK(ran.status == 0);
  const std::string results = test::read_file(dir / "out" / "results.csv");
  CHECK(std::count(results.begin(), results.end(), '\n') == 9);  // the header and 8 experiments
  // Each ran the program once, in a folder of its own (the driver-check's one run besides).
  std::size_t runs = 0;
  for (const auto& entry : fs::directory_iterator(dir / "oven-runs")) runs += entry.is_directory();
  CHECK(runs == 9);
}
#endif

TEST_CASE("Command driver: its result cache survives a new endpoint or timeout, and is refused for another command", "[command]") {
  test::TempDir dir;
  const fs::path cache = dir / "cache.jsonl";
  const auto start = [&](double timeout_s, const std::string& extra, const std::string& endpoint) {
    const fs::path config = command_config(dir, R"(cat > /dev/null; echo '{"y": 1.5}')", timeout_s, extra);
    return ChildProcess({LABLOOP_COMMAND_DRIVER_PATH, config.string(), "--endpoint", dir.ipc(endpoint), "--cache", cache.string()}, dir / "driver.log");
  };
  {
    ChildProcess first = start(20, "", "a");
    CHECK(check_driver(test::every_check(dir.ipc("a"))).all_passed());
  }
  {
    ChildProcess again = start(30, R"(, "endpoint": "tcp://127.0.0.1:1")", "b");
    DriverCheckOptions options;
    options.endpoint = dir.ipc("b");
    CHECK(check_driver(options).all_passed());
    CHECK(again.running());
  }
  test::write_file(dir / "other.sh", "echo '{\"y\": 2}'\n");
  const fs::path other = dir / "other.json";
  test::write_file(other, R"({"driver": "sh-test", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 10}],
    "outputs": ["y"], "command": ["/bin/sh", "other.sh"]})");
  ChildProcess refused({LABLOOP_COMMAND_DRIVER_PATH, other.string(), "--endpoint", dir.ipc("c"), "--cache", cache.string()}, dir / "refused.log");
  CHECK(refused.wait_for(std::chrono::seconds(10)) == 1);
  CHECK_THAT(test::read_file(dir / "refused.log"), Catch::Contains("was written by another configuration"));
}

TEST_CASE("Command driver: an abort or a timeout also stops what the program started outside its process group", "[command]") {
  test::TempDir dir;
  // A daemon of the program's: its own session (setsid), so the group signal does not reach it.
  const std::string program = "setsid sh -c 'echo $$ > daemon.pid; exec sleep 60' < /dev/null > /dev/null 2>&1 &\n"
                              "while [ ! -s daemon.pid ]; do sleep 0.01; done; echo $$ > program.pid; sleep 60\n";
  const auto daemon_pid = [&] { return static_cast<pid_t>(std::stoi(test::read_file(dir / "daemon.pid"))); };
  {
    command::CommandDriver driver(command::read_command_config(command_config(dir, program)));
    std::stop_source stop;
    std::jthread aborter([&] {
      for (int i = 0; i < 500 && !fs::exists(dir / "program.pid"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      stop.request_stop();
    });
    CHECK(failure_of(driver, stop.get_token()) == "aborted");
    aborter.join();
    CHECK_FALSE(process_running(daemon_pid()));
  }
  fs::remove(dir / "daemon.pid");
  fs::remove(dir / "program.pid");
  {
    command::CommandDriver driver(command::read_command_config(command_config(dir, program, 1.0)));
    CHECK_THAT(failure_of(driver), Catch::Contains("ran past timeout_s (1 s) and was stopped (1 process it had started outside its process group "
                                                   "stopped too)"));
    CHECK_FALSE(process_running(daemon_pid()));
  }
}
