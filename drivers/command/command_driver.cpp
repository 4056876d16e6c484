#include "command_driver.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "labloop/core/append_file.hpp"
#include "labloop/core/child_process.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/small_file.hpp"
#include "labloop/core/unique_fd.hpp"
#include "labloop/core/utc_time.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop::command {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// What is read of a program's stdout: the measurements are on its last line, and a program that
// prints gigabytes must not take the driver's memory with it. A last line longer than this is
// not read at all (its end alone is no JSON) and fails the experiment saying so.
constexpr std::streamoff kMaxOutputTail = 1 << 20;
constexpr std::size_t kMaxErrorChars = 4096;  // protocol: failure texts are for people
// What a run may write to stdout or stderr (both kept in its folder) before it is stopped.
constexpr std::uintmax_t kMaxOutputBytes = std::uintmax_t{64} << 20;

// The program named by argv[0]: a path with a '/' is taken relative to the config's folder; a
// bare name is looked up in PATH now, so a typo is a message at start, not a failed experiment.
std::string resolve_program(const JsonNode& node, const fs::path& folder) {
  const std::string name = node.as_string();
  const auto executable = [](const fs::path& p) { return fs::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0; };
  if (name.find('/') != std::string::npos) {
    const fs::path path = fs::path(name).is_absolute() ? fs::path(name) : folder / name;
    if (!fs::exists(path)) node.fail(fmt::format("no program at {}", path.string()));
    if (!executable(path))
      node.fail(fmt::format("{} is not an executable file: make it one (chmod +x), or name its interpreter first, "
                            "e.g. [\"python3\", \"{}\"]",
                            path.string(), name));
    return fs::absolute(path).lexically_normal().string();
  }
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && executable(fs::path(dir) / name)) return name;
  node.fail(fmt::format("no program \"{}\" on PATH; give its path (\"./{}\" for one beside this file)", name, name));
}

struct LastLine {
  std::string text;   // the line, or its last kMaxOutputTail bytes when it is longer
  bool whole = true;  // false: it is longer than kMaxOutputTail, and `text` is only its end
};

// The driver's own handle on a file it gives the program as stdout or stderr, made here in the
// run's new folder before the program starts, so the program's descriptor and this one are the
// same file. What the program then does to the path (removes it, puts a pipe or a link there)
// does not change what is measured and read: its output, through this descriptor, never by the
// path (an open by the path would block for good on a pipe, beyond the timeout and abort).
UniqueFd open_run_output(const fs::path& file) {
  UniqueFd fd{::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)};
  if (fd.get() < 0) throw Error(fmt::format("cannot make {}: {}", file.string(), std::strerror(errno)));
  return fd;
}

std::uintmax_t size_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<std::uintmax_t>(st.st_size) : 0;
}

// Whether `path` is still the file `fd` is open on: a program may have removed or replaced it.
bool still_at(int fd, const fs::path& path) {
  struct stat held {}, named {};
  return ::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

// Up to `count` bytes from `from`; fewer when the file is shorter.
std::string read_at(int fd, std::uintmax_t from, std::size_t count) {
  std::string out(count, '\0');
  std::size_t got = 0;
  while (got < count) {
    const ssize_t n = ::pread(fd, out.data() + got, count - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

// The last line of a program's output that holds more than blanks, however many blank lines
// follow it (a tool that pads its log): blanks are skipped from the end a chunk at a time, over at
// most the output cap, then up to kMaxOutputTail and a byte are read before the line's end (so a
// line of exactly that length is seen to begin there).
LastLine last_line(int fd) {
  constexpr std::uintmax_t kChunk = 64 << 10;
  const std::uintmax_t size = size_of(fd);
  const std::uintmax_t lowest = size > kMaxOutputBytes ? size - kMaxOutputBytes : 0;
  std::uintmax_t end = size;  // one past the last byte that is not blank, once found
  for (bool found = false; !found;) {
    if (end <= lowest) return {};
    const std::uintmax_t from = std::max(lowest, end > kChunk ? end - kChunk : 0);
    const std::string chunk = read_at(fd, from, static_cast<std::size_t>(end - from));
    if (chunk.size() != end - from) return {};  // cut shorter meanwhile (a process it left behind): nothing sure to read
    const std::size_t at = chunk.find_last_not_of(" \t\r\n");
    found = at != std::string::npos;
    end = found ? from + at + 1 : from;
  }
  const std::uintmax_t from = end > static_cast<std::uintmax_t>(kMaxOutputTail) + 1 ? end - kMaxOutputTail - 1 : 0;
  const std::string tail = read_at(fd, from, static_cast<std::size_t>(end - from));
  const std::size_t newline = tail.find_last_of('\n');
  std::string line = newline == std::string::npos ? tail : tail.substr(newline + 1);
  const bool whole = (newline != std::string::npos || from == 0) && line.size() <= static_cast<std::size_t>(kMaxOutputTail);
  if (!whole) line.erase(0, line.size() - std::min(line.size(), static_cast<std::size_t>(kMaxOutputTail)));
  return {std::move(line), whole};
}

}  // namespace

CommandConfig read_command_config(const fs::path& file) {
  CommandConfig config;
  config.declared = ready::read_driver_config(file, "command", {"command", "runs_dir"}, [&](const JsonNode& root, const ready::DeclaredInstrument& declared) {
    const fs::path& folder = declared.folder;
    const JsonNode command = root.child("command");
    const json& argv = command.as_array();
    for (std::size_t i = 0; i < argv.size(); ++i) config.command.push_back(command.at(i).as_string(/*allow_empty=*/i > 0));
    config.command.front() = resolve_program(command.at(0), folder);
    config.runs_dir = root.has("runs_dir") ? folder / root.child("runs_dir").as_string() : folder / (file.stem().string() + "-runs");
  });
  return config;
}

CommandDriver::CommandDriver(CommandConfig config) : config_(std::move(config)) {
  std::error_code ec;
  fs::create_directories(config_.runs_dir, ec);
  if (ec || !fs::is_directory(config_.runs_dir))
    throw Error(fmt::format("cannot make the runs folder {}: {}", config_.runs_dir.string(), ec ? ec.message() : "it is not a folder"));
  // One driver per runs folder: what a run left running is found by its folder (below), and two
  // drivers would take each other's runs for a dead driver's.
  const fs::path lock = config_.runs_dir / kRunsLockName;
  runs_lock_ = UniqueFd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (runs_lock_.get() < 0) throw Error(fmt::format("cannot open {}: {}", lock.string(), std::strerror(errno)));
  if (::flock(runs_lock_.get(), LOCK_EX | LOCK_NB) != 0)
    throw Error(errno == EWOULDBLOCK ? fmt::format("the runs folder {} is in use by another labloop-driver-command: give each driver its own "
                                                   "runs_dir",
                                                   config_.runs_dir.string())
                                     : fmt::format("cannot lock {}: {}", lock.string(), std::strerror(errno)));
  stop_unfinished_runs();
}

void CommandDriver::stop_unfinished_runs() {
  // A run whose folder still holds its mark was under way when the driver that started it died
  // (kill -9, a crash, power): the program's own group got SIGTERM from the kernel with the driver
  // (PR_SET_PDEATHSIG reaches the direct child only), but what it started (a shell's child, a
  // helper) measures on, beside the run a restarted driver makes of the same experiment. Stopped
  // now, as an abort would have; its experiment fails or runs again, as after any driver crash.
  std::error_code ec;
  std::size_t runs = 0, processes = 0;
  for (fs::directory_iterator it(config_.runs_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code kind;
    if (!it->is_directory(kind) || it->is_symlink(kind)) continue;  // the lock, or what a person put there
    const fs::path mark = it->path() / kRunningMarkName;
    // The mark holds the environment entry the run was started with, as it was written: the
    // driver may be started now from another folder, which names the same run differently.
    const SmallFile entry = read_small_file(mark, 65536);
    if (entry.status == SmallFile::Status::missing) continue;
    if (entry.status == SmallFile::Status::read && entry.text.rfind("LABLOOP_RUN_DIR=", 0) == 0)
      processes += stop_processes_with_environment(entry.text, std::chrono::milliseconds(2000));
    std::error_code removed;
    fs::remove(mark, removed);
    ++runs;
  }
  if (runs > 0)
    stopped_at_start_ = fmt::format("{} run{} a previous driver left unfinished (it was killed or crashed): {} process{} still running "
                                    "stopped",
                                    runs, runs == 1 ? "" : "s", processes, processes == 1 ? "" : "es");
}

fs::path CommandDriver::new_run_dir(const std::string& experiment) {
  const std::string stem = utc_text(std::time(nullptr), "%Y%m%dT%H%M%SZ") + "-" + ready::file_safe(experiment);
  for (int n = 1;; ++n) {
    const fs::path dir = config_.runs_dir / (n == 1 ? stem : fmt::format("{}-{}", stem, n));
    std::error_code ec;
    if (fs::create_directory(dir, ec)) return dir;
    if (ec) throw Error(fmt::format("cannot make a folder for the run in {}: {}", config_.runs_dir.string(), ec.message()));
  }
}

Values CommandDriver::run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) {
  // An environment variable ends at the first NUL, and a line break would split it: such an id
  // would reach the program as another (labloop's own ids never hold one).
  if (std::any_of(experiment.begin(), experiment.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    throw Error("the experiment id holds a control character, which the program's environment (LABLOOP_EXPERIMENT) cannot carry");
  const fs::path dir = new_run_dir(experiment);
  write_whole_file((dir / "params.json").string(), json{{"experiment", experiment}, {"params", params}}.dump() + "\n", "the run's params");
  const UniqueFd out = open_run_output(dir / "stdout.txt"), err = open_run_output(dir / "stderr.txt");
  ChildIo io;
  io.input = dir / "params.json";
  io.output = dir / "stdout.txt";
  io.working_dir = config_.declared.folder;
  io.environment = {{"LABLOOP_EXPERIMENT", experiment}, {"LABLOOP_RUN_DIR", dir.string()}};
  // Marks the run as under way until it has ended (or been stopped): declared before the program,
  // so removed after it is; left behind only when the driver dies (stop_unfinished_runs).
  struct RunningMark {
    fs::path file;
    ~RunningMark() {
      std::error_code ec;
      fs::remove(file, ec);
    }
  } running{dir / kRunningMarkName};
  write_whole_file(running.file.string(), "LABLOOP_RUN_DIR=" + dir.string(), "the run's mark");
  ChildProcess program(config_.command, dir / "stderr.txt", io);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(config_.declared.timeout_s);
  // Measured on the driver's descriptors: a program that removes stdout.txt and prints on is
  // still writing to this file, and still held to the cap.
  const auto output_bytes = [&] { return std::max(size_of(out.get()), size_of(err.get())); };
  // Stopping a run stops all of it: the program's process group, then whatever still carries
  // this run's LABLOOP_RUN_DIR (what it started outside its group: setsid, a daemon). Said in
  // the failure, since such a program surprises its author.
  const auto stop_run = [&] {
    program.terminate();
    const std::size_t escaped = stop_processes_with_environment("LABLOOP_RUN_DIR=" + dir.string(), std::chrono::milliseconds(2000), program.pid());
    return escaped == 0 ? std::string()
                        : fmt::format(" ({} process{} it had started outside its process group stopped too)", escaped, escaped == 1 ? "" : "es");
  };
  // Past the cap the experiment fails whether the program was stopped on its way there or had
  // already exited (checked every 50 ms, a fast writer is done before it is looked at), and only
  // the cap is kept: "up to 64 MiB" holds whatever the timing.
  const auto output_over_cap = [&](const std::string& how) {
    for (const int fd : {out.get(), err.get()})
      if (size_of(fd) > kMaxOutputBytes) {
        // Cut through the driver's own handle: by the path it could be a link to another file.
        [[maybe_unused]] const int failed = ::ftruncate(fd, static_cast<off_t>(kMaxOutputBytes));  // then more is kept; the failure still says why
      }
    std::string gone;  // kept files the program took away: "kept in" would send a person to look for nothing
    if (!still_at(out.get(), dir / "stdout.txt")) gone += " stdout.txt";
    if (!still_at(err.get(), dir / "stderr.txt")) gone += " stderr.txt";
    return Error(fmt::format("the program wrote more than {} MiB to its output{}; its first {} MiB are kept in {}{}", kMaxOutputBytes >> 20, how,
                             kMaxOutputBytes >> 20, dir.string(),
                             gone.empty() ? "" : " (except" + gone + ", which the program removed or replaced)"));
  };
  std::optional<int> status;
  while (!(status = program.wait_for(std::chrono::milliseconds(50)))) {
    if (stop.stop_requested()) {
      stop_run();
      throw Error("aborted");  // serve() reports an aborted experiment as such whatever this says
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const std::string escaped = stop_run();
      throw Error(fmt::format("the program ran past timeout_s ({:g} s) and was stopped{}; its output is in {}", config_.declared.timeout_s, escaped,
                              dir.string()));
    }
    // What it prints is kept on disk, so it may not print without end (a loop printing progress).
    if (output_bytes() > kMaxOutputBytes) throw output_over_cap(" and was stopped" + stop_run());
  }
  if (output_bytes() > kMaxOutputBytes) throw output_over_cap("");
  // Ended by itself: what it started goes on (README: a service meant to outlive the run), and
  // its result goes out now, not after a grace period spent stopping that service.
  program.leave_group_running();
  if (*status != 0) {
    const std::string said = printable(last_line(err.get()).text);
    const std::optional<int> signal = program.ending_signal();
    throw Error(ready::shortened(fmt::format("the program {}{}", signal ? fmt::format("was killed by signal {}", *signal)
                                                                        : fmt::format("exited with status {}", *status),
                                             said.empty() ? std::string() : ": " + said),
                                 kMaxErrorChars));
  }
  const LastLine last = last_line(out.get());
  if (!last.whole)
    throw Error(fmt::format("the program's last line of output is longer than {} MiB ({} bytes), the most this driver reads of a line, "
                            "so it was not read and the experiment failed: print the measurements as one short JSON object on the "
                            "last line (anything else before it); see {}",
                            kMaxOutputTail >> 20, kMaxOutputTail, (dir / "stdout.txt").string()));
  const std::string& line = last.text;
  json printed;
  std::optional<std::string> repeated;
  std::string why_not;  // the parser's reason, said with the line: a line that looks like an object may not be one
  try {
    if (find_excess_nesting(line, 64)) why_not = "it nests arrays/objects deeper than 64 levels";
    else printed = parse_json_noting_repeats(line, /*ignore_comments=*/false, repeated);
  } catch (const json::exception& e) {
    printed = nullptr;
    why_not = ready::why_not_json(line, e);
  }
  if (!printed.is_object())
    throw Error(fmt::format("the program's last line of output is not a JSON object of measurements ({}{}); see {}",
                            line.empty() ? "it printed nothing" : "\"" + printable(ready::shortened(line, 200)) + "\"",
                            why_not.empty() ? "" : ": " + why_not, (dir / "stdout.txt").string()));
  if (repeated) throw Error(fmt::format("the program's last line gives {} twice: {}", *repeated, ready::shortened(line, 200)));
  // "error": null is no error (a null optional field is absent, protocol §2). An instrument may
  // measure an output named "error" (a liquid handler's volume error): a number there is that
  // measurement, a text the failure's reason.
  const auto& outputs = config_.declared.info.outputs;
  const bool error_measured = std::find(outputs.begin(), outputs.end(), "error") != outputs.end();
  if (const auto error = printed.find("error"); error != printed.end() && !error->is_null() && !(error_measured && error->is_number())) {
    const std::string why = error->is_string() ? error->get<std::string>() : error->dump();
    throw Error(why.empty() ? "the program reported an error and gave no reason" : ready::shortened(why, kMaxErrorChars));
  }
  Values values;
  for (const std::string& output : config_.declared.info.outputs) {
    const auto value = printed.find(output);
    if (value == printed.end() || !value->is_number() || !std::isfinite(value->get<double>()))
      throw Error(fmt::format("the program printed no number for \"{}\" (its last line: {})", output, ready::shortened(line, 200)));
    values[output] = value->get<double>();
  }
  return values;
}

}  // namespace labloop::command
