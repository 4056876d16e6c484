#include "labloop/core/child_process.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "labloop/core/error.hpp"

using labloop::ChildProcess;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A fresh directory under the system temp dir, removed with everything in it.
using labloop::test::TempDir;

// Polls `done` every 5 ms until it holds or `timeout` passes; true if it held.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Dead, or a zombie nobody has reaped yet: this environment's init may never reap orphans.
bool gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return true;
  const char state = stat[close_paren + 2];
  return state == 'Z' || state == 'X';
}

// First integer line the child printed to its log, once it is there.
std::optional<pid_t> pid_in_log(const fs::path& log) {
  std::optional<pid_t> pid;
  wait_until(
      [&] {
        std::istringstream lines(read_text(log));
        std::string line;
        while (std::getline(lines, line)) {
          if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) {
            pid = static_cast<pid_t>(std::stol(line));
            return true;
          }
        }
        return false;
      },
      3000ms);
  return pid;
}

}  // namespace

TEST_CASE("ChildProcess reports the exit code of a program that exits on its own", "[process]") {
  ChildProcess child({"/bin/sh", "-c", "exit 3"});
  CHECK(child.pid() > 0);
  CHECK(child.program() == "/bin/sh");
  REQUIRE(child.wait_for(3000ms) == 3);
  CHECK(child.exit_status() == 3);
  CHECK_FALSE(child.running());
}

TEST_CASE("ChildProcess looks the program up in PATH", "[process]") {
  ChildProcess child({"sh", "-c", "exit 0"});
  CHECK(child.wait_for(3000ms) == 0);
}

TEST_CASE("wait_for returns nullopt while the child is still running", "[process]") {
  ChildProcess child({"sleep", "30"});
  const auto start = Clock::now();
  CHECK_FALSE(child.wait_for(100ms).has_value());
  CHECK(Clock::now() - start >= 90ms);
  CHECK(child.running());
  CHECK_FALSE(child.exit_status().has_value());
}

TEST_CASE("A program that does not exist throws an Error naming the program", "[process]") {
  const std::string name = "labloop-no-such-program-7f3a";
  REQUIRE_THROWS_AS(ChildProcess({name, "--flag"}), labloop::Error);
  REQUIRE_THROWS_WITH(ChildProcess({name}), Catch::Contains(name) && Catch::Contains("No such file"));
  const std::string path = "/nonexistent-dir-7f3a/labloop-sim";
  REQUIRE_THROWS_WITH(ChildProcess({path}), Catch::Contains(path));
}

TEST_CASE("A program that is not executable throws an Error naming the program", "[process]") {
  TempDir dir;
  const fs::path script = dir.path() / "not-executable.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  REQUIRE_THROWS_WITH(ChildProcess({script.string()}), Catch::Contains(script.string()));
}

TEST_CASE("An empty command throws an Error", "[process]") {
  REQUIRE_THROWS_AS(ChildProcess({}), labloop::Error);
}

TEST_CASE("The log file receives both stdout and stderr appended to what it held", "[process]") {
  TempDir dir;
  const fs::path log = dir.path() / "logs" / "instrument.log";  // the directory does not exist yet
  {
    ChildProcess child({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2"}, log);
    REQUIRE(child.wait_for(3000ms) == 0);
  }
  {
    ChildProcess child({"/bin/sh", "-c", "echo second-run"}, log);
    REQUIRE(child.wait_for(3000ms) == 0);
  }
  const std::string text = read_text(log);
  CHECK(text.find("to-stdout\n") != std::string::npos);
  CHECK(text.find("to-stderr\n") != std::string::npos);
  CHECK(text.find("second-run\n") != std::string::npos);
  CHECK(text.find("to-stdout") < text.find("second-run"));
}

TEST_CASE("A log path that is a symbolic link is refused naming it, the program is not started and the file it points to gets nothing", "[process]") {
  TempDir dir, home;
  const fs::path bashrc = home.path() / ".bashrc";
  std::ofstream(bashrc) << "alias ll='ls -l'\n";
  const fs::path log = dir.path() / "reactor.log";
  fs::create_symlink(bashrc, log);
  const fs::path ran = dir.path() / "ran";
  REQUIRE_THROWS_WITH(ChildProcess({"/bin/sh", "-c", "echo output; touch " + ran.string()}, log),
                      "cannot start '/bin/sh': its log file " + log.string() +
                          " is a symbolic link; labloop writes only to regular files in a campaign folder: replace it with the file itself");
  CHECK(read_text(bashrc) == "alias ll='ls -l'\n");
  CHECK_FALSE(fs::exists(ran));
}

TEST_CASE("An unwritable log path throws an Error naming the program and the file", "[process]") {
  REQUIRE_THROWS_WITH(ChildProcess({"/bin/true"}, "/proc/labloop-7f3a/x.log"),
                      Catch::Contains("/bin/true") && Catch::Contains("x.log"));
}

TEST_CASE("The child inherits no descriptor other than stdin stdout and stderr", "[process]") {
  TempDir dir;
  const fs::path log = dir.path() / "fds.log";
  ChildProcess child({"/bin/sh", "-c", "ls /proc/self/fd"}, log);
  REQUIRE(child.wait_for(3000ms) == 0);
  // ls itself opens one descriptor for the directory listing (3).
  std::istringstream lines(read_text(log));
  std::string line;
  std::vector<std::string> fds;
  while (std::getline(lines, line)) fds.push_back(line);
  CHECK(fds.size() <= 4);
}

TEST_CASE("The destructor stops the child and the processes it spawned", "[process]") {
  TempDir dir;
  const fs::path log = dir.path() / "tree.log";
  std::optional<ChildProcess> child;
  child.emplace(std::vector<std::string>{"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, log);
  const pid_t leader = child->pid();
  const std::optional<pid_t> grandchild = pid_in_log(log);
  REQUIRE(grandchild.has_value());
  CHECK(child->running());
  CHECK_FALSE(gone(*grandchild));

  const auto start = Clock::now();
  child.reset();
  CHECK(Clock::now() - start < 1500ms);  // SIGTERM suffices here; no waiting out the grace
  CHECK(gone(leader));
  const bool grandchild_gone = wait_until([&] { return gone(*grandchild); }, 2000ms);
  if (!grandchild_gone) ::kill(*grandchild, SIGKILL);
  CHECK(grandchild_gone);
  // Nothing that is still running is left in the group.
  CHECK(wait_until([&] { return ::kill(-leader, 0) != 0 || gone(*grandchild); }, 2000ms));
}

TEST_CASE("terminate escalates to SIGKILL when the child ignores SIGTERM", "[process]") {
  TempDir dir;
  const fs::path log = dir.path() / "stubborn.log";
  ChildProcess child({"/bin/sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"}, log);
  // The trap must be in place before SIGTERM is sent, or sh simply dies of it.
  const std::optional<pid_t> grandchild = pid_in_log(log);
  REQUIRE(grandchild.has_value());

  const auto grace = 300ms;
  const auto start = Clock::now();
  child.terminate(grace);
  const auto elapsed = Clock::now() - start;
  CHECK(elapsed >= grace - 20ms);
  CHECK(elapsed < grace + 1500ms);
  CHECK(child.exit_status() == 128 + SIGKILL);
  CHECK_FALSE(child.running());
  const bool grandchild_gone = wait_until([&] { return gone(*grandchild); }, 2000ms);
  if (!grandchild_gone) ::kill(*grandchild, SIGKILL);
  CHECK(grandchild_gone);

  const auto again = Clock::now();
  child.terminate(grace);  // idempotent, and immediate
  child.kill();
  CHECK(Clock::now() - again < 50ms);
  CHECK(child.exit_status() == 128 + SIGKILL);
}

TEST_CASE("terminate stops a cooperative child with SIGTERM", "[process]") {
  ChildProcess child({"sleep", "30"});
  const auto start = Clock::now();
  child.terminate(3000ms);
  CHECK(Clock::now() - start < 1000ms);
  CHECK(child.exit_status() == 128 + SIGTERM);
}

TEST_CASE("kill stops the child at once with status 137", "[process]") {
  ChildProcess child({"sleep", "30"});
  REQUIRE(child.running());
  const auto start = Clock::now();
  child.kill();
  CHECK(Clock::now() - start < 1000ms);
  CHECK_FALSE(child.running());
  CHECK(child.exit_status() == 128 + 9);
  CHECK(child.wait_for(0ms) == 128 + 9);
}

TEST_CASE("terminate on a child that already exited keeps its own exit status", "[process]") {
  ChildProcess child({"/bin/sh", "-c", "exit 5"});
  REQUIRE(child.wait_for(3000ms) == 5);
  const auto start = Clock::now();
  child.terminate(3000ms);
  child.kill();
  CHECK(Clock::now() - start < 500ms);
  CHECK(child.exit_status() == 5);
}

TEST_CASE("terminate on a child that exited unobserved reaps it at once", "[process]") {
  ChildProcess child({"/bin/sh", "-c", "exit 4"});
  // Let it exit without reaping it, so terminate meets a zombie leader.
  REQUIRE(wait_until([&] { return gone(child.pid()); }, 3000ms));
  const auto start = Clock::now();
  child.terminate(3000ms);
  CHECK(Clock::now() - start < 500ms);
  CHECK(child.exit_status() == 4);
}

TEST_CASE("A moved-from ChildProcess owns nothing and its destructor kills nothing", "[process]") {
  std::optional<ChildProcess> first;
  first.emplace(std::vector<std::string>{"sleep", "30"});
  const pid_t pid = first->pid();

  ChildProcess second(std::move(*first));
  CHECK(first->pid() == -1);
  CHECK_FALSE(first->exit_status().has_value());
  first->terminate(0ms);
  first->kill();
  first.reset();
  CHECK(second.pid() == pid);
  CHECK(second.program() == "sleep");
  CHECK(second.running());
  CHECK_FALSE(gone(pid));

  // Move assignment stops the process the target owned and takes over the source's.
  ChildProcess third({"sleep", "30"});
  const pid_t replaced = third.pid();
  third = std::move(second);
  CHECK(third.pid() == pid);
  CHECK(gone(replaced));
  CHECK(second.pid() == -1);
  CHECK(third.running());
  third.kill();
  CHECK(third.exit_status() == 128 + SIGKILL);
}

TEST_CASE("The child dies when the process that started it is killed with SIGKILL", "[process]") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t middle = ::fork();
  REQUIRE(middle >= 0);
  if (middle == 0) {
    // The middle process: start `sleep`, report its pid, then wait to be killed. It must never
    // return into the test runner, whatever happens.
    ::close(fds[0]);
    pid_t pid = -1;
    try {
      static std::optional<ChildProcess> child;  // never destroyed: SIGKILL comes first
      child.emplace(std::vector<std::string>{"sleep", "30"});
      pid = child->pid();
    } catch (...) {
    }
    [[maybe_unused]] const ssize_t n = ::write(fds[1], &pid, sizeof pid);
    for (int i = 0; i < 100; ++i) ::sleep(1);
    ::_exit(1);
  }
  ::close(fds[1]);
  pid_t sleeper = -1;
  pollfd readable{fds[0], POLLIN, 0};
  const bool ready = ::poll(&readable, 1, 3000) == 1 && ::read(fds[0], &sleeper, sizeof sleeper) == sizeof sleeper;
  ::close(fds[0]);

  ::kill(middle, SIGKILL);
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  REQUIRE(ready);
  REQUIRE(sleeper > 0);
  const bool died = wait_until([&] { return gone(sleeper); }, 2000ms);
  if (!died) ::kill(sleeper, SIGKILL);
  CHECK(died);
}

TEST_CASE("executable_dir is the directory that holds the test binary", "[process]") {
  const fs::path dir = labloop::executable_dir();
  CHECK(dir.is_absolute());
  CHECK(fs::is_directory(dir));
  const fs::path self = fs::read_symlink("/proc/self/exe");
  CHECK(fs::exists(dir / self.filename()));
  CHECK(fs::equivalent(dir / self.filename(), self));
}

TEST_CASE("ChildProcess: processes marked in their environment are found and stopped, and only those", "[child]") {
  labloop::ChildIo marked, other;
  marked.environment = {{"LABLOOP_RUN_DIR", "/tmp/run-a"}};
  other.environment = {{"LABLOOP_RUN_DIR", "/tmp/run-a-2"}};  // a mark that starts like it is another mark
  // Each leaves its own session, as a daemon does: the group signal would not reach it.
  labloop::ChildProcess a({"setsid", "sleep", "60"}, {}, marked);
  labloop::ChildProcess b({"setsid", "sleep", "60"}, {}, other);
  // Once setsid has forked (its first process, ours, exits) and its child runs sleep.
  std::vector<pid_t> found;
  for (int i = 0; i < 200 && (found.size() != 1 || found[0] == a.pid()); ++i) {
    found = labloop::processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-a");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(found.size() == 1);
  REQUIRE(found[0] != a.pid());
  // Alive: not gone, and not a zombie (an init that never reaps keeps one).
  const auto alive = [](pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto paren = text.rfind(')');
    return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z' && text[paren + 2] != 'X';
  };
  CHECK(alive(found[0]));
  CHECK(labloop::stop_processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-a", std::chrono::milliseconds(1000)) == 1);
  CHECK_FALSE(alive(found[0]));
  CHECK(labloop::processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-a").empty());
  const std::vector<pid_t> other_run = labloop::processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-a-2");
  REQUIRE(other_run.size() == 1);
  CHECK(alive(other_run[0]));
  labloop::stop_processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-a-2", std::chrono::milliseconds(1000));
}

TEST_CASE("ChildProcess: a mark behind a megabyte and more of environment is still found, and only whole strings match", "[child]") {
  labloop::ChildIo big, near;
  for (int i = 0; i < 12; ++i) big.environment.push_back({"PADDING_" + std::to_string(i), std::string(120 * 1024, 'a')});
  big.environment.push_back({"LABLOOP_RUN_DIR", "/tmp/run-big"});
  near.environment = {{"LABLOOP_RUN_DIR", "/tmp/run-big-2"}};
  labloop::ChildProcess marked({"sleep", "60"}, {}, big);
  labloop::ChildProcess other({"sleep", "60"}, {}, near);
  std::vector<pid_t> found;
  for (int i = 0; i < 200 && found.empty(); ++i) {
    found = labloop::processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-big");
    if (found.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(found.size() == 1);
  CHECK(found[0] == marked.pid());
  // Its own group, stopped already: stopped again, not counted as escaped.
  CHECK(labloop::stop_processes_with_environment("LABLOOP_RUN_DIR=/tmp/run-big", std::chrono::milliseconds(1000), marked.pid()) == 0);
  CHECK(marked.wait_for(std::chrono::seconds(5)).has_value());
  CHECK(other.running());
}
