// ChildProcess: fork + exec with the child in its own process group.
//
// Between fork and exec the child may only make async-signal-safe calls (another thread of the
// parent may have held the malloc lock at fork time), so everything that allocates - the argv
// array, the log file, the error pipe - is prepared before fork, and the child only does raw
// system calls. Exec failure is reported through a close-on-exec pipe: a successful exec closes
// it (EOF in the parent), a failure writes {step, errno} into it first.
//
// Group, not process: a simulator started through a shell wrapper, or one that forks helpers,
// must die with it, so every signal goes to -pgid and the child leads its own group. Both sides
// call setpgid so that the group exists before either side proceeds, whichever runs first.
#include "labloop/core/child_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "labloop/core/append_file.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/unique_fd.hpp"

namespace labloop {
namespace {

constexpr auto kDefaultGrace = std::chrono::milliseconds(2000);
// CLOSE_RANGE_CLOEXEC from <linux/close_range.h>, which not every libc header set exposes.
constexpr unsigned kCloseRangeCloexec = 1U << 2;

// What the child was doing when it failed; sent with errno through the error pipe.
enum class Step : int { setpgid, pdeathsig, parent_gone, dup2, exec, chdir };

struct ChildFailure {
  Step step;
  int error;
};

const char* describe(Step step) {
  switch (step) {
    case Step::setpgid: return "setpgid";
    case Step::pdeathsig: return "prctl(PR_SET_PDEATHSIG)";
    case Step::parent_gone: return "parent exited during start";
    case Step::dup2: return "redirecting stdout/stderr";
    case Step::exec: return "exec";
    case Step::chdir: return "entering its working directory";
  }
  return "start";
}


// Blocks every signal on the calling thread for the duration of fork. Otherwise a signal could
// run one of the parent's handlers inside the child before exec (e.g. a SIGTERM handler that
// flags the *controller* for shutdown), or a PDEATHSIG could be swallowed by such a handler.
class BlockAllSignals {
 public:
  BlockAllSignals() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~BlockAllSignals() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;

 private:
  sigset_t saved_;
};

[[noreturn]] void child_fail(int error_fd, Step step) {
  const ChildFailure failure{step, errno};
  // Nothing useful to do if this write fails: the parent then sees EOF plus exit 127.
  [[maybe_unused]] ssize_t n = ::write(error_fd, &failure, sizeof failure);
  ::_exit(127);
}

// What exec_child needs of a ChildIo, prepared before fork: descriptors above 2, C strings.
struct PreparedIo {
  int input_fd = -1;
  int output_fd = -1;
  const char* working_dir = nullptr;
  char* const* envp = nullptr;  // nullptr: the parent's environment
};

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(char* const* argv, int log_fd, int error_fd, pid_t parent, const PreparedIo& io) {
  if (::setpgid(0, 0) != 0) child_fail(error_fd, Step::setpgid);
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) child_fail(error_fd, Step::pdeathsig);
  // If the parent died before prctl, no signal will ever come: we were already re-parented.
  if (::getppid() != parent) {
    errno = ESRCH;
    child_fail(error_fd, Step::parent_gone);
  }
  if (log_fd >= 0) {
    // dup2 clears FD_CLOEXEC on the new descriptor; log_fd itself is >= 3 (see open_log).
    if (::dup2(log_fd, STDOUT_FILENO) < 0 || ::dup2(log_fd, STDERR_FILENO) < 0) {
      child_fail(error_fd, Step::dup2);
    }
  }
  if (io.input_fd >= 0 && ::dup2(io.input_fd, STDIN_FILENO) < 0) child_fail(error_fd, Step::dup2);
  if (io.output_fd >= 0 && ::dup2(io.output_fd, STDOUT_FILENO) < 0) child_fail(error_fd, Step::dup2);
  if (io.working_dir != nullptr && ::chdir(io.working_dir) != 0) child_fail(error_fd, Step::chdir);
  // Descriptors a library opened without O_CLOEXEC must not leak into the instrument (a held
  // socket keeps a port busy after the controller is gone). Best effort: needs Linux 5.11.
#ifdef SYS_close_range
  ::syscall(SYS_close_range, 3U, ~0U, kCloseRangeCloexec);
#endif
  // Handlers are reset by exec anyway, but only after the mask below is lifted, so reset them
  // now; ignored signals survive exec, so reset the ones an instrument must not inherit ignored.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) != 0) continue;  // e.g. glibc-reserved RT signals
    const bool must_reset = sig == SIGPIPE || sig == SIGINT || sig == SIGTERM;
    if (must_reset || (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN)) {
      ::sigaction(sig, &dfl, nullptr);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // a pending PDEATHSIG now kills us, as intended
  if (io.envp != nullptr) ::execvpe(argv[0], argv, io.envp);
  else ::execvp(argv[0], argv);
  child_fail(error_fd, Step::exec);
}

// Opened before fork (open allocates nothing in user space, but error handling here does).
UniqueFd open_log(const std::string& program, const std::filesystem::path& log_path) {
  if (log_path.empty()) return UniqueFd{};
  std::error_code ec;
  if (log_path.has_parent_path()) std::filesystem::create_directories(log_path.parent_path(), ec);
  // Not through a symbolic link: the log sits in the campaign folder, and `labloop resume` would
  // append the simulator's output to wherever a link put there points (~/.bashrc).
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    if (refused_as_link(log_path.string(), errno))
      throw Error(fmt::format("cannot start '{}': its log file {}", program, symbolic_link_refusal(log_path.string())));
    throw Error(fmt::format("cannot start '{}': cannot open log file '{}': {}{}", program,
                            log_path.string(), std::strerror(errno),
                            ec ? fmt::format(" (creating its directory failed: {})", ec.message())
                               : std::string()));
  }
  // With stdout or stderr closed, open may return 1 or 2, and dup2(fd, fd) would then leave
  // FD_CLOEXEC set and the child's output would vanish at exec; keep the log above 2.
  if (fd <= STDERR_FILENO) {
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    const int saved_errno = errno;
    ::close(fd);
    if (moved < 0) {
      throw Error(fmt::format("cannot start '{}': cannot open log file '{}': {}", program,
                              log_path.string(), std::strerror(saved_errno)));
    }
    fd = moved;
  }
  return UniqueFd{fd};
}

// A descriptor for stdin or stdout of the child, kept above 2 as open_log's is.
UniqueFd open_above_stderr(const std::string& program, const std::filesystem::path& path, int flags, const char* what) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd >= 0 && fd <= STDERR_FILENO) {
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    ::close(fd);
    fd = moved;
  }
  if (fd < 0) throw Error(fmt::format("cannot start '{}': cannot open its {} '{}': {}", program, what, path.string(), std::strerror(errno)));
  return UniqueFd{fd};
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// True while some member of the group has not exited. Zombies do not count: a grandchild
// re-parented to an init that never reaps (some containers) stays a zombie forever, and waiting
// for it would turn every terminate() into a full grace period.
bool group_alive(pid_t pgid) noexcept {
  if (::kill(-pgid, 0) != 0) return errno != ESRCH;  // EPERM: someone is there
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return true;  // cannot tell; assume alive and let the grace run out
  bool alive = false;
  while (const dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    char path[sizeof "/proc/" + sizeof entry->d_name + sizeof "/stat"];
    std::snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) S ppid pgrp ...": comm may itself contain ')' and spaces.
    const char* close_paren = std::strrchr(buf, ')');
    if (close_paren == nullptr) continue;
    char state = 0;
    int ppid = 0;
    int pgrp = 0;
    if (std::sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      alive = true;
      break;
    }
  }
  ::closedir(proc);
  return alive;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path)
    : ChildProcess(std::move(argv), std::move(log_path), ChildIo{}) {}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path, const ChildIo& io) {
  if (argv.empty() || argv.front().empty()) {
    throw Error("cannot start a child process: the command is empty (argv[0] must name a program)");
  }
  program_ = argv.front();

  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (std::string& arg : argv) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);

  UniqueFd log_fd = open_log(program_, log_path);
  PreparedIo prepared;
  UniqueFd input_fd, output_fd;
  if (!io.input.empty()) prepared.input_fd = (input_fd = open_above_stderr(program_, io.input, O_RDONLY, "input")).get();
  if (!io.output.empty())
    prepared.output_fd = (output_fd = open_above_stderr(program_, io.output, O_WRONLY | O_CREAT | O_TRUNC, "output file")).get();
  const std::string working_dir = io.working_dir.string();
  if (!io.working_dir.empty()) prepared.working_dir = working_dir.c_str();
  // The environment, built here: the child may not allocate.
  std::vector<std::string> environment;
  std::vector<char*> envp;
  if (!io.environment.empty()) {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string_view text(*entry);
      const bool replaced = std::any_of(io.environment.begin(), io.environment.end(), [&](const auto& added) {
        return text.size() > added.first.size() && text.starts_with(added.first) && text[added.first.size()] == '=';
      });
      if (!replaced) environment.emplace_back(text);
    }
    for (const auto& [name, value] : io.environment) environment.push_back(name + "=" + value);
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    prepared.envp = envp.data();
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw Error(fmt::format("cannot start '{}': pipe: {}", program_, std::strerror(errno)));
  }
  UniqueFd error_read{pipe_fds[0]};
  UniqueFd error_write{pipe_fds[1]};

  const pid_t parent = ::getpid();
  pid_t pid = -1;
  int fork_errno = 0;
  {
    BlockAllSignals blocked;
    pid = ::fork();
    if (pid == 0) exec_child(c_argv.data(), log_fd.get(), error_write.get(), parent, prepared);
    fork_errno = errno;
  }
  if (pid < 0) {
    throw Error(fmt::format("cannot start '{}': fork: {}", program_, std::strerror(fork_errno)));
  }
  pid_ = pid;
  // EACCES once the child has exec'd and ESRCH once it has exited are both fine: the child
  // itself called setpgid first.
  ::setpgid(pid, pid);
  error_write.reset();  // so that read() sees EOF when the child's copy closes at exec
  log_fd.reset();
  input_fd.reset();
  output_fd.reset();

  ChildFailure failure{};
  std::size_t got = 0;
  while (got < sizeof failure) {
    const ssize_t n =
        ::read(error_read.get(), reinterpret_cast<char*>(&failure) + got, sizeof failure - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  if (got == 0) return;  // exec succeeded

  // The child exits right after reporting, so this wait is short; it must be reaped here because
  // no destructor will run for a half-constructed object.
  reap(/*block=*/true);
  pid_ = -1;
  stopped_ = true;
  if (got < sizeof failure) {
    throw Error(fmt::format("cannot start '{}': the child failed before exec", program_));
  }
  const char* hint = failure.step == Step::exec && failure.error == ENOENT
                         ? " (check the path, or that the program is on PATH)"
                         : "";
  throw Error(fmt::format("cannot start '{}': {}: {}{}", program_, describe(failure.step),
                          std::strerror(failure.error), hint));
}

ChildProcess::~ChildProcess() { terminate(kDefaultGrace); }

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      program_(std::move(other.program_)),
      status_(std::exchange(other.status_, std::nullopt)),
      signal_(std::exchange(other.signal_, std::nullopt)),
      stopped_(std::exchange(other.stopped_, true)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    terminate(kDefaultGrace);
    pid_ = std::exchange(other.pid_, -1);
    program_ = std::move(other.program_);
    status_ = std::exchange(other.status_, std::nullopt);
    signal_ = std::exchange(other.signal_, std::nullopt);
    stopped_ = std::exchange(other.stopped_, true);
  }
  return *this;
}

bool ChildProcess::reap(bool block) noexcept {
  if (status_) return true;
  if (pid_ < 0) return true;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (r == pid_) {
      status_ = decode_status(status);
      if (WIFSIGNALED(status)) signal_ = WTERMSIG(status);
      return true;
    }
    if (r == 0) return false;
    if (errno == EINTR) continue;
    // ECHILD: SIGCHLD is ignored (the kernel reaped it) or someone waited for it before us.
    status_ = -1;
    return true;
  }
}

bool ChildProcess::running() { return !reap(/*block=*/false); }

std::optional<int> ChildProcess::ending_signal() {
  reap(/*block=*/false);
  return signal_;
}

std::optional<int> ChildProcess::exit_status() {
  if (pid_ < 0 && !status_) return std::nullopt;
  reap(/*block=*/false);
  return status_;
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  if (pid_ < 0) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!reap(/*block=*/false)) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(10));
  }
  return status_;
}

void ChildProcess::terminate(std::chrono::milliseconds grace) noexcept {
  if (pid_ < 0 || stopped_) return;
  // The group is signalled even when the leader has already exited: whatever it left behind in
  // the group is still ours to stop. ESRCH just means there is nothing left.
  if (::kill(-pid_, SIGTERM) == 0) {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      const bool leader_gone = reap(/*block=*/false);
      if (leader_gone && !group_alive(pid_)) break;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
      pause = std::min(pause * 2, std::chrono::milliseconds(10));
    }
  }
  kill();
}

bool ChildProcess::leave_group_running() noexcept {
  if (pid_ < 0 || stopped_) return true;
  if (!reap(/*block=*/false)) return false;
  stopped_ = true;
  return true;
}

void ChildProcess::kill() noexcept {
  if (pid_ < 0 || stopped_) return;
  ::kill(-pid_, SIGKILL);
  // SIGKILL cannot be caught or ignored, so this blocking wait returns as soon as the kernel has
  // torn the process down.
  reap(/*block=*/true);
  stopped_ = true;
}

namespace {

// Whether /proc/`pid`/environ holds `entry` exactly, as one of its NUL-ended strings. At most
// kMaxEnviron bytes are read (far above what exec allows by default); a string cut off there is
// never compared, so "…=/runs/a-2" read as far as "…=/runs/a" does not match "/runs/a".
bool environ_holds(pid_t pid, const std::string& entry) {
  constexpr std::size_t kMaxEnviron = 64 << 20;
  const std::string path = fmt::format("/proc/{}/environ", pid);
  const UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.get() < 0) return false;
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxEnviron) break;
  }
  std::size_t at = 0;
  for (std::size_t end; (end = text.find('\0', at)) != std::string::npos; at = end + 1)
    if (std::string_view(text).substr(at, end - at) == entry) return true;
  return false;
}

// Signals `pid` if it still carries `entry`: through a pidfd opened first and the mark checked after,
// so the signal reaches the process that was checked, not one that took its pid meanwhile.
bool signal_if_marked(pid_t pid, const std::string& entry, int signal) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  const bool marked = environ_holds(pid, entry);
  const bool sent = marked && ::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) == 0;
  ::close(pidfd);
  return sent;
}

}  // namespace

std::vector<pid_t> processes_with_environment(const std::string& entry) {
  std::vector<pid_t> found;
  DIR* proc = ::opendir("/proc");
  if (!proc) return found;
  const pid_t self = ::getpid();
  while (const dirent* d = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(d->d_name, &end, 10);
    if (end == d->d_name || *end != '\0' || pid <= 0 || pid == self) continue;
    if (environ_holds(static_cast<pid_t>(pid), entry)) found.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return found;
}

std::size_t stop_processes_with_environment(const std::string& entry, std::chrono::milliseconds grace, pid_t stopped_group) {
  std::vector<pid_t> seen;
  const auto note = [&](const std::vector<pid_t>& now) {
    for (pid_t p : now)
      if (std::find(seen.begin(), seen.end(), p) == seen.end() && (stopped_group <= 0 || ::getpgid(p) != stopped_group)) seen.push_back(p);
  };
  std::vector<pid_t> left = processes_with_environment(entry);
  note(left);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Until two looks in a row find none: a process in the middle of an exec shows no environment
  // for a moment, so one empty look is not proof.
  for (int empty_looks = left.empty() ? 1 : 0; empty_looks < 2 && std::chrono::steady_clock::now() < deadline;) {
    for (pid_t p : left) signal_if_marked(p, entry, SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    left = processes_with_environment(entry);
    note(left);
    empty_looks = left.empty() ? empty_looks + 1 : 0;
  }
  // Past the grace: SIGKILL, looking again for what the killed ones leave (bounded: each pass
  // kills every marked process there is).
  for (int pass = 0; pass < 10 && !left.empty(); ++pass) {
    for (pid_t p : left) signal_if_marked(p, entry, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    left = processes_with_environment(entry);
    note(left);
  }
  return seen.size();
}

std::filesystem::path executable_dir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    throw Error(fmt::format("cannot locate the running executable via /proc/self/exe: {} "
                            "(is /proc mounted?)",
                            ec.message()));
  }
  return exe.parent_path();
}

}  // namespace labloop
