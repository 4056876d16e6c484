#include "files_driver.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "labloop/core/append_file.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"

namespace labloop::files {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uintmax_t kMaxResultBytes = 1 << 20;

// A CSV cell as a person or a spreadsheet would read it back: a plain number stays a number, and
// a text with a comma, a quote or a line break is quoted (RFC 4180).
std::string csv_cell(const json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

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
  config.declared = ready::read_driver_config(file, "files", {"requests", "results", "format", "poll_s"}, [&](const JsonNode& root) {
    const fs::path folder = fs::absolute(file).parent_path();
    config.requests_dir = folder / root.child("requests").as_string();
    config.results_dir = folder / root.child("results").as_string();
    if (fs::weakly_canonical(config.requests_dir) == fs::weakly_canonical(config.results_dir))
      root.child("results").fail("is the requests folder too: a request would be read as its own result; give each its own folder");
    if (root.has("format")) {
      const std::string format = root.child("format").as_string();
      if (format != "json" && format != "csv") root.child("format").fail(fmt::format("is \"{}\"; it is \"json\" or \"csv\"", format));
      config.format = format == "csv" ? FileFormat::csv : FileFormat::json;
    }
    if (root.has("poll_s")) {
      config.poll_s = root.child("poll_s").as_number();
      if (!(config.poll_s >= 0.01 && config.poll_s <= 60)) root.child("poll_s").fail("must be seconds from 0.01 to 60");
    }
  });
  return config;
}

FilesDriver::FilesDriver(FilesConfig config) : config_(std::move(config)) {
  for (const fs::path& dir : {config_.requests_dir, config_.results_dir}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) throw Error(fmt::format("cannot make the folder {}: {}", dir.string(), ec ? ec.message() : "it is not a folder"));
  }
}

Values FilesDriver::run_experiment(const std::string& experiment, const Params& params, std::stop_token stop) {
  const std::string name = ready::file_safe(experiment) + (config_.format == FileFormat::csv ? ".csv" : ".json");
  const fs::path request = config_.requests_dir / name;
  const fs::path result = config_.results_dir / name;
  if (!fs::exists(result)) {
    // Written under a hidden name and renamed: the instrument never sees half a request.
    const fs::path partial = config_.requests_dir / ("." + name + ".partial");
    write_whole_file(partial.string(), request_text(experiment, params, config_.format), "the request");
    std::error_code ec;
    fs::rename(partial, request, ec);
    if (ec) throw Error(fmt::format("cannot place the request {}: {}", request.string(), ec.message()));
  }
  // A request the instrument has not taken yet is taken back, so it never runs after all.
  const auto withdraw = [&] {
    std::error_code ec;
    return fs::remove(request, ec);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(config_.declared.timeout_s);
  const auto poll = std::chrono::duration<double>(config_.poll_s);
  std::optional<std::uintmax_t> last_size;
  for (;;) {
    std::error_code ec;
    if (const auto size = fs::file_size(result, ec); !ec) {
      if (last_size == size && size > 0) break;  // unchanged over one poll: written whole
      last_size = size;
    }
    if (stop.stop_requested()) {
      withdraw();
      throw Error("aborted");  // serve() reports an aborted experiment as such whatever this says
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const bool untaken = withdraw();
      throw Error(fmt::format("no result file {} within timeout_s ({:g} s); {}", result.string(), config_.declared.timeout_s,
                              untaken ? fmt::format("the request was never taken (is the instrument's software watching {}?) and has "
                                                    "been withdrawn",
                                                    config_.requests_dir.string())
                                      : "the request was taken"));
    }
    std::this_thread::sleep_for(poll);
  }
  return read_result(result);
}

Values FilesDriver::read_result(const fs::path& result) const {
  std::map<std::string, std::string> cells;  // output name → its text, and "error"
  if (config_.format == FileFormat::csv) {
    CsvTable table;
    try {
      table = read_csv_table(result, CsvLimits{.max_rows = 1, .max_bytes = kMaxResultBytes, .max_columns = 1000, .max_field_chars = 4096});
    } catch (const Error& e) {
      throw Error(fmt::format("the result file is not a CSV of one header and one row: {}", e.what()));
    }
    if (table.rows.empty()) throw Error(fmt::format("the result file {} has a header and no row of values", result.string()));
    for (std::size_t i = 0; i < table.header.size(); ++i) cells[table.header[i]] = table.rows[0].fields[i];
  } else {
    std::ifstream in(result, std::ios::binary);
    std::string text(kMaxResultBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxResultBytes) throw Error(fmt::format("the result file {} is over {} bytes", result.string(), kMaxResultBytes));
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object())
      throw Error(fmt::format("the result file {} is not a JSON object of measurements: \"{}\"", result.string(), ready::shortened(text, 200)));
    for (const auto& [name, value] : j.items()) cells[name] = value.is_string() ? value.get<std::string>() : value.dump();
    // A number stays a number; only "error" is read as text.
    if (const auto error = j.find("error"); error != j.end() && !error->is_string()) cells["error"] = error->dump();
  }
  if (const auto error = cells.find("error"); error != cells.end() && !error->second.empty() && error->second != "null")
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
