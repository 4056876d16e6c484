#include "files_driver.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "labloop/core/append_file.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/json_check.hpp"
#include "labloop/core/json_limits.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/core/unique_fd.hpp"

namespace labloop::files {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxResultBytes = 1 << 20;

// A result that does not read (yet): it may still be being written, so it is tried again.
struct ResultNotWhole : Error {
  using Error::Error;
};

// A CSV cell as a person or a spreadsheet would read it back: a plain number stays a number, and
// a text with a comma, a quote or a line break is quoted (RFC 4180).
std::string csv_cell(const json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Takes a request back, if the instrument has not taken it yet, on whichever way run_experiment
// leaves once it is written: a result read, a result that fails the experiment (an error, too
// large, no number), an abort, the timeout. One left behind could still run, unasked.
// Taking back is a rename to a hidden name beside it (atomic: the instrument has the request or we
// do), then the mark that it was placed goes, then the file: a driver killed in between leaves the
// hidden file, which tells the next run of that experiment that it was taken back, not taken.
class Withdrawal {
 public:
  Withdrawal() = default;
  Withdrawal(const Withdrawal&) = delete;
  Withdrawal& operator=(const Withdrawal&) = delete;
  ~Withdrawal() { now(); }
  void arm(fs::path request, fs::path withdrawn, fs::path placed_mark) {
    request_ = std::move(request);
    withdrawn_ = std::move(withdrawn);
    placed_mark_ = std::move(placed_mark);
  }
  // Whether the request was still there (so never taken) and is gone now.
  bool now() {
    if (!request_) return false;
    std::error_code ec;
    fs::rename(*request_, withdrawn_, ec);
    request_.reset();
    if (ec) return false;
    fs::remove(placed_mark_, ec);
    fs::remove(withdrawn_, ec);
    return true;
  }

 private:
  std::optional<fs::path> request_;
  fs::path withdrawn_, placed_mark_;
};

std::string request_text(const std::string& experiment, const Params& params, FileFormat format) {
  if (format == FileFormat::json) return json{{"experiment", experiment}, {"params", params}}.dump() + "\n";
  std::string header = "experiment", row = csv_cell(experiment);
  for (const auto& [name, value] : params.items()) {
    header += "," + csv_cell(name);
    row += "," + csv_cell(value);
  }
  return header + "\n" + row + "\n";
}

}  // namespace

FilesConfig read_files_config(const fs::path& file) {
  FilesConfig config;
  config.declared = ready::read_driver_config(file, "files", {"requests", "results", "format", "poll_s", "units"}, [&](const JsonNode& root, const ready::DeclaredInstrument& declared) {
    const fs::path& folder = declared.folder;
    config.requests_dir = folder / root.child("requests").as_string();
    config.results_dir = folder / root.child("results").as_string();
    config.asked_dir = folder / (file.stem().string() + "-asked");
    if (fs::weakly_canonical(config.requests_dir) == fs::weakly_canonical(config.results_dir))
      root.child("results").fail("is the requests folder too: a request would be read as its own result; give each its own folder");
    // The driver's record of each request has a request's content: in the requests folder the
    // instrument would run it as a second request, in the results folder it would be read as one.
    for (const char* field : {"requests", "results"})
      if (fs::weakly_canonical(folder / root.child(field).as_string()) == fs::weakly_canonical(config.asked_dir))
        root.child(field).fail(fmt::format("is {}, the folder where this driver records what it asked (the config's name + \"-asked\"): give "
                                           "the instrument another folder",
                                           config.asked_dir.string()));
    if (root.has("format")) {
      const std::string format = root.child("format").as_string();
      if (format != "json" && format != "csv") root.child("format").fail(fmt::format("is \"{}\"; it is \"json\" or \"csv\"", format));
      config.format = format == "csv" ? FileFormat::csv : FileFormat::json;
    }
    if (root.has("poll_s")) {
      config.poll_s = root.child("poll_s").as_number();
      if (!(config.poll_s >= 0.01 && config.poll_s <= 60)) root.child("poll_s").fail("must be seconds from 0.01 to 60");
    }
    if (root.has("units")) {
      const JsonNode units = root.child("units");
      const std::vector<std::string>& outputs = declared.info.outputs;
      units.expect_object(outputs);  // names an output, or is a mistake ("did you mean")
      for (const auto& [output, unit] : units.value().items()) config.units[output] = units.child(output).as_string();
    }
  });
  return config;
}

FilesDriver::FilesDriver(FilesConfig config) : config_(std::move(config)) {
  for (const fs::path& dir : {config_.requests_dir, config_.results_dir, config_.asked_dir}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) throw Error(fmt::format("cannot make the folder {}: {}", dir.string(), ec ? ec.message() : "it is not a folder"));
  }
}

Values FilesDriver::run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) {
  const std::string name = ready::file_safe(experiment) + (config_.format == FileFormat::csv ? ".csv" : ".json");
  const fs::path request = config_.requests_dir / name;
  const fs::path result = config_.results_dir / name;
  // What this driver asked under that name, kept where the instrument's software does not look:
  // a result already there is this run's only if it was asked for with these params.
  const fs::path asked = config_.asked_dir / (name + ".json");
  const json this_run{{"experiment", experiment}, {"params", params}};
  std::error_code ec;
  Withdrawal withdrawal;
  // Beside the record, a mark (NAME.placed) made before the request is renamed into view and gone
  // once it is taken back: a run of the same experiment after this driver restarted (the controller
  // sends it again) finds the request still waiting, or taken by the instrument, which is
  // measuring it, and waits for that result instead of asking a second time. A mark with the
  // hidden request still beside it (.NAME.partial: never in view; .NAME.withdrawn: taken back)
  // is a driver killed in between: asked afresh.
  const fs::path placed_mark = config_.asked_dir / (name + ".placed");
  const fs::path partial = config_.requests_dir / ("." + name + ".partial");
  const fs::path withdrawn = config_.requests_dir / ("." + name + ".withdrawn");
  const json earlier = [&] {
    std::ifstream in(asked);
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }();
  const bool asked_before = earlier.is_object() && earlier.value("experiment", json()) == this_run["experiment"] &&
                            earlier.value("params", json()) == this_run["params"];  // (a discarded value is no object)
  bool placed_before = asked_before && fs::exists(fs::symlink_status(placed_mark, ec));
  if (placed_before && !fs::exists(fs::symlink_status(request, ec)) &&
      (fs::exists(fs::symlink_status(withdrawn, ec)) || fs::exists(fs::symlink_status(partial, ec)))) {
    fs::remove(withdrawn, ec);
    fs::remove(placed_mark, ec);
    placed_before = false;
  }
  bool request_written = false;  // by this run or one before it: the instrument may have it
  if (fs::exists(fs::symlink_status(result, ec))) {
    if (!asked_before)
      throw Error(fmt::format("a result file {} is already there, but {}: move it away to measure this experiment", result.string(),
                              earlier.is_object() ? "it answers the same experiment id run with other params"
                                                  : "no request of this driver asked for it"));
  } else if (placed_before) {
    request_written = true;
    if (fs::exists(fs::symlink_status(request, ec))) withdrawal.arm(request, withdrawn, placed_mark);  // not taken yet: still ours to take back
  } else {
    write_whole_file(asked.string(), this_run.dump() + "\n", "the record of the request");
    // Written under a hidden name and renamed: the instrument never sees half a request.
    write_whole_file(partial.string(), request_text(experiment, params, config_.format), "the request");
    fs::remove(withdrawn, ec);  // one left by a driver killed while taking an earlier request back would say this one was too
    write_whole_file(placed_mark.string(), "", "the mark that the request is placed");
    fs::rename(partial, request, ec);
    if (ec) throw Error(fmt::format("cannot place the request {}: {}", request.string(), ec.message()));
    withdrawal.arm(request, withdrawn, placed_mark);
    request_written = true;
  }
  // A request taken back loses its mark: the same experiment asked again is asked afresh rather
  // than waited for. Its record stays: software that reads a request and leaves it in place may
  // still answer it, and its result is then this experiment's.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(config_.declared.timeout_s);
  const auto poll = std::chrono::duration<double>(config_.poll_s);
  // A result that does not read yet may still be being written: it gets this long to become whole.
  const auto grace = std::max(std::chrono::duration<double>(5.0), 10 * poll);
  std::optional<std::uintmax_t> last_size;
  std::optional<std::chrono::steady_clock::time_point> unreadable_since;
  std::string unreadable;  // why the result did not read, the last time it was tried
  for (;;) {
    const fs::file_status status = fs::symlink_status(result, ec);
    if (fs::exists(status) && !fs::is_regular_file(status))
      throw Error(fmt::format("the result {} is not a plain file (a link, a folder, a pipe); the instrument must write a plain file", result.string()));
    if (const auto size = fs::is_regular_file(status) ? fs::file_size(result, ec) : 0; fs::is_regular_file(status) && !ec) {
      if (last_size == size && size > 0) {  // unchanged over one poll: most likely written whole
        try {
          return read_result(result);  // `withdrawal` takes back a request still there, read or failed: it must not run a second time
        } catch (const ResultNotWhole& e) {
          unreadable = e.what();
          if (!unreadable_since) unreadable_since = std::chrono::steady_clock::now();
          if (std::chrono::steady_clock::now() - *unreadable_since > grace) throw Error(unreadable);
        }
      }
      last_size = size;
    }
    if (stop.stop_requested()) {
      // serve() reports an aborted experiment as such whatever this says; when the driver shuts
      // down, one the instrument has taken is left to it, to be asked for again (ExperimentGoesOn).
      if (!request_written) throw Error("aborted");
      if (!withdrawal.now())
        throw ExperimentGoesOn(fmt::format("the instrument has taken the request and goes on with it; its result will be in {}", result.string()));
      throw Error("aborted; the request was never taken and has been withdrawn");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const bool untaken = withdrawal.now();
      std::string what;
      if (!unreadable.empty()) what = fmt::format("the result file {} never read whole within timeout_s ({:g} s): {}", result.string(), config_.declared.timeout_s, unreadable);
      else if (last_size == 0u) what = fmt::format("the result file {} is empty (0 bytes) and was not written again within timeout_s ({:g} s)", result.string(), config_.declared.timeout_s);
      else if (last_size) what = fmt::format("the result file {} was still changing at timeout_s ({:g} s)", result.string(), config_.declared.timeout_s);
      else what = fmt::format("no result file {} within timeout_s ({:g} s)", result.string(), config_.declared.timeout_s);
      throw Error(fmt::format("{}; {}", what,
                              untaken ? fmt::format("the request was never taken (is the instrument's software watching {}?) and has been "
                                                    "withdrawn",
                                                    config_.requests_dir.string())
                                      : request_written ? "the request was taken" : "no request was written (the result file was there before)"));
    }
    std::this_thread::sleep_for(poll);
  }
}

Values FilesDriver::read_result(const fs::path& result) const {
  std::map<std::string, std::string> cells;  // output name → its text, and "error"
  // Read once: what is judged whole below is exactly what is parsed, however the file changes meanwhile.
  // Opened so that what was seen to be a plain file cannot be swapped for a link (followed) or a
  // pipe (an open or a read would block for good, past timeout_s and abort) in between.
  const UniqueFd fd{::open(result.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(fmt::format("the result {} is not a plain file (a link, a folder, a pipe) or cannot be opened; the instrument must write a plain file",
                            result.string()));
  std::string text(kMaxResultBytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  if (config_.format == FileFormat::csv) {
    // A row cut short reads as a row ("y\n1" of "y\n12.5\n"): only its line ending says the
    // instrument is done with it.
    if (!text.empty() && text.size() <= kMaxResultBytes && text.back() != '\n')
      throw ResultNotWhole(fmt::format("the result file {} ends in a line with no line ending: it is read once its last line ends (a CSV "
                                       "result must end with a line break)",
                                       result.string()));
    CsvTable table;
    try {
      table = read_csv_text(text, result.string(), CsvLimits{.max_rows = 1, .max_bytes = kMaxResultBytes, .max_columns = 1000, .max_field_chars = 4096});
    } catch (const Error& e) {
      throw ResultNotWhole(fmt::format("the result file is not a CSV of one header and one row: {}", e.what()));
    }
    if (table.rows.empty()) throw ResultNotWhole(fmt::format("the result file {} has a header and no row of values", result.string()));
    for (std::size_t i = 0; i < table.header.size(); ++i) {
      if (!cells.emplace(table.header[i], table.rows[0].fields[i]).second)
        throw Error(fmt::format("the result file {} has two columns named \"{}\"", result.string(), table.header[i]));
      // A value in another unit than the one the campaign takes it in would be recorded as if it
      // were (420 mAU as 420 AU): a column's "[unit]" must be the one the config declares for it.
      const std::string& written = table.units[i];
      const bool output = std::find(config_.declared.info.outputs.begin(), config_.declared.info.outputs.end(), table.header[i]) !=
                          config_.declared.info.outputs.end();
      if (!output || written.empty()) continue;
      const std::string name = printable(table.header[i]), unit = printable(written);
      const std::string column = fmt::format("the result file {} gives \"{}\" in {} (column {}, \"{} [{}]\")", result.string(), name, unit, i + 1, name, unit);
      const auto declared = config_.units.find(table.header[i]);
      if (declared == config_.units.end())
        throw Error(fmt::format("{}, but the driver's config declares no unit for it: add \"units\": {{\"{}\": \"{}\"}} to the config if the "
                                "campaign takes it in {}, or have the instrument convert it and head the column \"{}\"",
                                column, name, unit, unit, name));
      if (!unit_conflict(result.string(), i + 1, table.header[i], written, declared->second).empty())
        throw Error(fmt::format("{}, but the driver's config declares it in {} (/units): have the instrument write it in {} (heading the "
                                "column \"{} [{}]\" or \"{}\"), or correct the config's unit",
                                column, declared->second, declared->second, name, declared->second, name));
    }
  } else {
    if (text.size() > kMaxResultBytes) throw Error(fmt::format("the result file {} is over {} bytes", result.string(), kMaxResultBytes));
    json j;
    std::optional<std::string> repeated;
    std::string why_not;  // the parser's reason, said with the text: a file that looks like an object may not be one
    try {
      if (find_excess_nesting(text, 64)) why_not = "it nests arrays/objects deeper than 64 levels";
      else j = parse_json_noting_repeats(text, /*ignore_comments=*/false, repeated);
    } catch (const json::exception& e) {
      j = nullptr;
      why_not = ready::why_not_json(text, e);
    }
    if (!j.is_object())
      throw ResultNotWhole(fmt::format("the result file {} is not a JSON object of measurements{}: \"{}\"", result.string(),
                                       why_not.empty() ? "" : " (" + why_not + ")", printable(ready::shortened(text, 200))));
    if (repeated) throw Error(fmt::format("the result file {} gives {} twice", result.string(), *repeated));
    // A JSON null is no value at all (as a null optional field is absent, protocol §2): "error":
    // null is no error. A string is the text as written, so "error": "null" is an error whose
    // message is "null", never taken for none (the text of a null and of that string were both
    // "null" here, and both read as no error).
    for (const auto& [name, value] : j.items())
      if (!value.is_null()) cells[name] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  // Only an empty error says none: a CSV cell is text whatever it reads ("null" included).
  if (const auto error = cells.find("error"); error != cells.end() && !error->second.empty())
    throw Error(ready::shortened(error->second, 4096));
  Values values;
  for (const std::string& output : config_.declared.info.outputs) {
    const auto cell = cells.find(output);
    const auto number = cell == cells.end() ? std::nullopt : parse_number(cell->second);
    if (!number) throw Error(fmt::format("the result file {} has no number for \"{}\"", result.string(), output));
    values[output] = *number;
  }
  return values;
}

}  // namespace labloop::files
