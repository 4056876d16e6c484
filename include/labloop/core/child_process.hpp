#pragma once
// RAII child processes: how the controller starts simulated instruments (labloop-sim) and how
// tests start and kill drivers. Owning a ChildProcess means owning its whole process group, so
// no simulator outlives the campaign, not even when the campaign ends with an exception.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace labloop {

// What a child reads, where it writes and runs, beyond ChildProcess's defaults: for a program
// that takes its input on stdin and answers on stdout (drivers/command).
struct ChildIo {
  std::filesystem::path input;        // stdin from this file (else inherited)
  std::filesystem::path output;       // stdout to this file, created or truncated (else to the log)
  std::filesystem::path working_dir;  // the child's working directory (else the parent's)
  std::vector<std::pair<std::string, std::string>> environment;  // added to (or replacing in) the parent's
};

// A child process leading its own process group. The destructor stops it and everything it
// spawned into that group: SIGTERM to the group, up to 2 s for it to go, then SIGKILL; the child
// is always reaped, so no zombie is left behind.
//
// Not thread-safe: one thread at a time may use an object (moving it between threads is fine).
// Linux delivers the parent-death signal when the *thread* that started the child exits, so
// construct it on a thread that lives at least as long as the child should (e.g. the controller's
// main thread, or the std::jthread that owns the object).
class ChildProcess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with argv[1..]. stdout and stderr are
  // appended to `log_path` when it is not empty (the file and its parent directories are created
  // if needed), otherwise inherited; stdin is inherited; no other descriptor is passed on. The
  // child gets PR_SET_PDEATHSIG(SIGTERM), so it also dies when the controller is SIGKILLed, and
  // starts with an empty signal mask and default SIGPIPE/SIGINT/SIGTERM handling.
  // Throws labloop::Error naming the program and the OS reason when argv is empty, the log file
  // cannot be opened or is a symbolic link (never written through: it sits in a campaign folder),
  // fork fails, or exec fails (a missing binary is an exception here, never a silent exit 127).
  explicit ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path = {});
  // The same, with `io`'s redirections (a file that cannot be opened, or a working directory
  // that cannot be entered, throws Error naming it; a program not found in PATH is looked up
  // in the parent's PATH, not `io.environment`'s).
  ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path, const ChildIo& io);
  // terminate() with the default grace.
  ~ChildProcess();

  // The moved-from object owns nothing: pid() == -1 and its destructor does nothing.
  ChildProcess(ChildProcess&& other) noexcept;
  // Terminates the process this object owned (default grace) before taking over `other`'s.
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Process id, which is also the process-group id; -1 for a moved-from object. Stays the same
  // after the child exited.
  pid_t pid() const { return pid_; }
  // True while the child has not exited. Non-blocking (waitpid WNOHANG); reaps it when it has.
  bool running();
  // Exit code, or 128 + signal number when killed by a signal; nullopt while running (and for a
  // moved-from object). -1 if the child was reaped behind our back (SIGCHLD set to SIG_IGN).
  std::optional<int> exit_status();
  // The signal that ended the child, when one did (exit_status() is then 128 + it); nullopt
  // while it runs or when it exited by itself, even with a status above 128.
  std::optional<int> ending_signal();
  // Waits up to `timeout` for the child to exit on its own (polls every 1-10 ms); returns
  // exit_status(), or nullopt on timeout. Sends no signal.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM to the process group, waits up to `grace` for the group to empty, then SIGKILLs the
  // group; reaps the child. Works on a child that already exited (its leftover group members are
  // still stopped). Idempotent: later calls, and the destructor, do nothing.
  void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(2000)) noexcept;
  // SIGKILL to the process group at once, then reaps (fault tests use it): exit_status() is then
  // 128 + 9 unless the child had already exited. Idempotent like terminate().
  void kill() noexcept;
  // Once the child has exited by itself (exit_status() has a value): lets what it started in its
  // group go on running, so the destructor signals nothing. A program may start a service meant
  // to outlive it (the command driver's promise); stopping it is for aborts and timeouts. Returns
  // false, and changes nothing, while the child still runs.
  bool leave_group_running() noexcept;
  // argv[0] as given.
  const std::string& program() const { return program_; }

 private:
  // Records the status once waitpid returns the child; returns false while it still runs.
  bool reap(bool block) noexcept;

  pid_t pid_ = -1;
  std::string program_;
  std::optional<int> status_;
  std::optional<int> signal_;
  bool stopped_ = false;  // the group has been signalled to the end; nothing left to do
};

// Processes that carry `entry` ("NAME=VALUE") in their environment, as /proc shows it now: a
// mark a child was started with, which everything it starts inherits, even what leaves its
// process group (setsid, a daemon). This process is never among them, nor a process whose
// environment it may not read (another user's).
std::vector<pid_t> processes_with_environment(const std::string& entry);

// Stops every process processes_with_environment(entry) finds: SIGTERM, up to `grace` for them to
// go (looking again, since a dying one's children carry the mark too), then SIGKILL to what is
// left. Each is signalled through a pidfd after its mark is checked again, so a pid reused meanwhile
// is never hit. Returns how many were found outside `stopped_group` (a process group already
// signalled whose members may still be dying: stopped too, not counted). Not found: a process that
// cleared its environment (env -i, sudo, su -l) or wrote over it (a process title set in place, as
// Perl's $0 and setproctitle do), one of another user, and one started through a service manager
// or container runtime.
std::size_t stop_processes_with_environment(const std::string& entry, std::chrono::milliseconds grace = std::chrono::milliseconds(2000),
                                            pid_t stopped_group = 0);

// Directory holding the running executable (from /proc/self/exe), to find sibling programs like
// labloop-sim. Throws labloop::Error if /proc is unavailable.
std::filesystem::path executable_dir();

}  // namespace labloop
