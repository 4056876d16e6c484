#include "labloop/campaign/candidates.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "labloop/campaign/file_digest.hpp"
#include "labloop/core/append_file.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/journal/report.hpp"

namespace labloop {

namespace fs = std::filesystem;

namespace {

// A cell of a pool: a number or a choice (at most 1000 characters, 4 bytes each at most in UTF-8).
constexpr std::size_t kMaxCandidateValueChars = 4000;

}  // namespace

namespace {

// Rows named in one message; the rest are counted.
constexpr std::size_t kMaxReportedRows = 10;

// `total`: how many there are, of which `problems` holds the first (at least kMaxReportedRows).
std::string list_problems(const std::vector<std::string>& problems, std::size_t total) {
  std::string text;
  for (std::size_t i = 0; i < problems.size() && i < kMaxReportedRows; ++i) text += (i ? "; " : "") + problems[i];
  if (total > kMaxReportedRows) text += fmt::format("; and {} more", total - kMaxReportedRows);
  return text;
}
std::string list_problems(const std::vector<std::string>& problems) { return list_problems(problems, problems.size()); }

}  // namespace

Params CandidateFile::row_params(Eigen::Index i) const {
  Params params = Params::object();
  const std::size_t count = parameters.size();
  for (std::size_t k = 0; k < count; ++k) {
    const Parameter& p = parameters[k];
    const double v = values[static_cast<std::size_t>(i) * count + k];
    // As read: a choice's text, a whole number as an integer, any other number as it was parsed.
    if (p.type == ParameterType::categorical) params[p.name] = p.choices[static_cast<std::size_t>(v)];
    else if (p.type == ParameterType::integer && v == std::floor(v) && std::abs(v) < 9e15) params[p.name] = static_cast<long long>(v);
    else params[p.name] = v;
  }
  return params;
}

nlohmann::json CandidateFile::to_json() const {
  return {{"file", path.string()}, {"sha256", sha256}, {"rows", pool.size()}};
}

fs::path candidates_path(const CampaignConfig& config) {
  const fs::path given = config.candidates;
  if (given.is_absolute()) return given;
  return fs::path(config.source).parent_path() / given;
}

CandidateFile read_candidates(const CampaignConfig& config) { return read_candidates(config, candidates_path(config)); }

CandidateFile read_candidates(const CampaignConfig& config, const fs::path& given, bool new_campaign) {
  auto refuse = [&](const std::string& why) { throw ConfigError(config.source, "/candidates", why); };
  CandidateFile out;
  out.source = config.candidates;
  std::error_code ec;
  out.path = fs::absolute(given, ec);
  if (ec) out.path = given;
  const std::string name = out.path.string();
  // Read whole (its digest is of the very bytes parsed) and copied beside the journal: a device
  // or a pipe cannot be, and /dev/zero would be read for ever.
  if (fs::exists(out.path, ec) && !fs::is_regular_file(out.path, ec))
    refuse(fmt::format("{} is not a regular file (a folder, a device or a pipe); name the CSV file itself", name));
  const auto size = fs::file_size(out.path, ec);
  if (!ec && size > kMaxCandidateBytes)
    refuse(fmt::format("{} has {} bytes, more than the {} a candidates file may have; split the campaign", name, size, kMaxCandidateBytes));
  std::optional<std::string> bytes;
  try {
    bytes = file_bytes(out.path, kMaxCandidateBytes, "the candidates file");
  } catch (const Error& e) {
    refuse(e.what());  // replaced since the checks above
  }
  if (!bytes) refuse(fmt::format("{}: cannot read it; check the path (relative paths start at the campaign file's folder)", name));
  out.sha256 = sha256_hex(*bytes);
  out.parameters = config.parameters;

  const Space space = config.space();
  const std::size_t count = config.parameters.size();
  // A categorical cell is kept as its choice's index.
  std::vector<std::unordered_map<std::string, double>> choice_index(count);
  for (std::size_t k = 0; k < count; ++k)
    for (std::size_t c = 0; c < config.parameters[k].choices.size(); ++c) choice_index[k].emplace(config.parameters[k].choices[c], static_cast<double>(c));
  // At most one row per line after the header, so the cube is sized once: a million rows of 23
  // coordinates are 184 MB, and resizing copies them. Blank lines and quoted line breaks leave it
  // larger than needed; it is cut to size at the end (the one copy then).
  const std::size_t newlines = static_cast<std::size_t>(std::count(bytes->begin(), bytes->end(), '\n'));
  const std::size_t lines = newlines + (!bytes->empty() && bytes->back() != '\n' ? 1 : 0);
  const std::size_t rows_at_most = std::min(lines > 0 ? lines - 1 : 0, kMaxCandidateRows);
  // Checked before the memory is taken: a million rows of a categorical of 10,000 choices would
  // need 80 GB, and the allocation's failure could not say why.
  if (const std::size_t coordinates = rows_at_most * static_cast<std::size_t>(space.cube_dim());
      new_campaign && coordinates > kMaxCandidateCoordinates)
    refuse(fmt::format("{}: {} rows of {} coordinates each (the planner's: one per numeric parameter, one per choice of a categorical one) "
                       "are {} numbers, more than the {} a pool may hold (each 8 bytes, held more than once); use fewer rows, or fewer "
                       "choices per categorical parameter",
                       name, rows_at_most, space.cube_dim(), coordinates, kMaxCandidateCoordinates));
  Eigen::MatrixXd cube(static_cast<Eigen::Index>(rows_at_most), space.cube_dim());
  Eigen::Index kept = 0;
  out.values.reserve(static_cast<std::size_t>(cube.rows()) * count);
  out.lines.reserve(static_cast<std::size_t>(cube.rows()));
  std::vector<std::string> problems;  // the first kMaxReportedRows: a million bad rows are counted, not all kept
  std::size_t problem_count = 0;
  std::vector<std::size_t> columns;  // per parameter, its column in the file

  // Columns: exactly the parameters, each once, in any order.
  const auto check_header = [&](const std::vector<std::string>& header, const std::vector<std::string>& units) {
    std::vector<std::string> unknown;
    for (const std::string& h : header)
      if (std::none_of(config.parameters.begin(), config.parameters.end(), [&](const Parameter& p) { return p.name == h; })) unknown.push_back(h);
    if (std::string why = repeated_column(name, header); !why.empty()) refuse(why);
    std::vector<std::string> missing;
    for (const Parameter& p : config.parameters) {
      const auto it = std::find(header.begin(), header.end(), p.name);
      if (it == header.end()) missing.push_back(p.name);
      else columns.push_back(static_cast<std::size_t>(it - header.begin()));
    }
    if (!missing.empty())
      refuse(fmt::format("{} has no column for {} (its header: {}); the header must name every parameter", name, fmt::join(missing, ", "),
                         fmt::join(header, ", ")));
    for (std::size_t k = 0; k < columns.size(); ++k)  // every parameter has its column now
      if (std::string why = unit_conflict(name, columns[k] + 1, header[columns[k]], units[columns[k]], config.parameters[k].unit); !why.empty())
        refuse(why);
    if (!unknown.empty()) {
      // Quoted, and an empty one by its place: `x1,s,` named a column "" that could not be seen.
      std::vector<std::string> named;
      for (const std::string& h : unknown)
        named.push_back(h.empty() ? fmt::format("\"\" (column {}, empty)", std::find(header.begin(), header.end(), h) - header.begin() + 1)
                                  : "\"" + printable(h) + "\"");
      refuse(fmt::format("{} has column{} {} that {} no parameter; remove {}, or declare {} as a parameter", name, unknown.size() == 1 ? "" : "s",
                         fmt::join(named, ", "), unknown.size() == 1 ? "names" : "name", unknown.size() == 1 ? "it" : "them",
                         unknown.size() == 1 ? "it" : "them"));
    }
  };
  const auto read_row = [&](CsvRow&& row) {
    Params params = Params::object();
    std::string problem;
    for (std::size_t k = 0; k < count && problem.empty(); ++k) {
      const Parameter& p = config.parameters[k];
      const std::string& cell = row.fields[columns[k]];
      if (const std::size_t n = character_count(cell); n > kMaxCandidateField)
        problem = fmt::format("{} has {} characters (at most {})", p.name, n, kMaxCandidateField);
      else if (cell.empty()) problem = fmt::format("no value for {}", p.name);
      // A choice that starts like a formula ("-1") as results.csv writes it ("'-1"): a candidates
      // file is often cut from one.
      else if (p.type == ParameterType::categorical) params[p.name] = csv_choice(p.choices, cell);
      else if (auto v = parse_number(cell)) {
        // A level written with a rounding error (0.1000000001) is sent as the level itself: only
        // declared levels reach an instrument. One that is no level is refused by check below.
        if (const int level = p.type == ParameterType::discrete ? p.level_index(*v) : -1; level >= 0) v = p.values[static_cast<std::size_t>(level)];
        if (p.type == ParameterType::integer && *v == std::floor(*v) && std::abs(*v) < 9e15)
          params[p.name] = static_cast<long long>(*v);
        else params[p.name] = *v;
      } else {
        problem = fmt::format("{} \"{}\" is not a number", p.name, cell);
      }
    }
    // Through the space, so every parameter type and the linear constraints are checked alike.
    if (problem.empty()) problem = space.check(params);
    if (!problem.empty()) {
      if (++problem_count <= kMaxReportedRows) problems.push_back(fmt::format("line {}: {}", row.line, problem));
      return;
    }
    if (kept == cube.rows()) cube.conservativeResize(std::max<Eigen::Index>(8, 2 * cube.rows()), Eigen::NoChange);  // never, by the count above
    cube.row(kept++) = space.canonical(space.encode(params)).transpose();
    for (std::size_t k = 0; k < count; ++k) {
      const Parameter& p = config.parameters[k];
      const nlohmann::json& value = params[p.name];
      out.values.push_back(p.type == ParameterType::categorical ? choice_index[k].at(value.get<std::string>()) : value.get<double>());
    }
    out.lines.push_back(row.line);
  };
  bool any_row = false;
  try {
    scan_csv_text(*bytes, name, {.max_rows = kMaxCandidateRows, .max_bytes = kMaxCandidateBytes, .max_field_chars = kMaxCandidateValueChars}, check_header, [&](CsvRow&& row) {
      any_row = true;
      read_row(std::move(row));
    });
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    refuse(e.what());
  }
  bytes.reset();
  if (!any_row) refuse(fmt::format("{} has a header but no rows: give at least one setting to choose from", name));
  if (problem_count > 0)
    refuse(fmt::format("{}: {} row{} outside the campaign's space: {}; fix or remove {}", name, problem_count, problem_count == 1 ? " is" : "s are",
                       list_problems(problems, problem_count), problem_count == 1 ? "it" : "them"));
  if (kept != cube.rows()) cube.conservativeResize(kept, Eigen::NoChange);
  out.pool = CandidatePool(std::move(cube));
  if (const auto duplicates = out.pool.duplicates(); !duplicates.empty()) {
    std::vector<std::string> pairs;
    for (const auto& [first, later] : duplicates)
      pairs.push_back(fmt::format("line {} repeats line {}", out.lines[static_cast<std::size_t>(later)], out.lines[static_cast<std::size_t>(first)]));
    // "The same" to within CandidatePool::kMatchTolerance of each range, as a proposal is matched
    // to its row: rows that differ in the tenth digit are one setting to an instrument, and said so.
    refuse(fmt::format("{}: {} row{} the same setting as an earlier one (every value equal to within a billionth of its parameter's "
                       "range): {}; remove the repeats (each setting is tried at most once)",
                       name, pairs.size(), pairs.size() == 1 ? " is" : "s are", list_problems(pairs)));
  }
  return out;
}

std::optional<CandidateFile> journaled_candidates(const std::vector<JournalEvent>& events, const CampaignConfig& config,
                                                  const fs::path& folder) {
  if (config.candidates.empty()) return std::nullopt;
  const auto* started = events.empty() ? nullptr : events.front().as<CampaignStartedEvent>();
  const nlohmann::json record = started ? started->candidates : nlohmann::json();
  if (!record.is_object() || !record.contains("file") || !record["file"].is_string() || !record.contains("sha256") || !record["sha256"].is_string())
    throw Error(fmt::format("{}: the campaign names candidates \"{}\" but its campaign_started event does not record which file (and its "
                            "SHA-256): the journal is damaged",
                            config.source, config.candidates));
  const fs::path path = record["file"].get<std::string>();
  const std::string want = record["sha256"].get<std::string>();
  // The recorded file first: when it is there but changed, the campaign refuses (someone edited
  // the pool, perhaps to drop a well; resuming on the old rows would ignore that). The copy in
  // the campaign folder serves only when the recorded file is gone (the folder was moved).
  fs::path place = path;
  std::optional<std::string> bytes = file_bytes(place, kMaxCandidateBytes, "the candidates file");
  if (!bytes && !folder.empty() && !path.filename().empty()) {
    place = folder / path.filename();
    bytes = file_bytes(place, kMaxCandidateBytes, "the campaign's copy of its candidates file");
  }
  if (!bytes)
    throw Error(fmt::format("the candidates file {} this campaign was started with cannot be read{}: put it back (SHA-256 {}) to resume or replay",
                            path.string(), place != path ? fmt::format(", nor its copy {}", place.string()) : std::string(), want));
  const auto changed = [&](const std::string& now) {
    return Error(fmt::format("the candidates file {} has changed since the campaign began (SHA-256 {} then, {} now): proposals were made "
                             "from the original rows, so restore that file to resume or replay; a changed pool is a new campaign",
                             place.string(), want, now));
  };
  if (const std::string now = sha256_hex(*bytes); now != want) throw changed(now);
  bytes.reset();  // read again below, with its rows: not held twice
  CandidateFile file = read_candidates(config, place, /*new_campaign=*/false);
  if (file.sha256 != want) throw changed(file.sha256);  // changed between the two readings
  return file;
}

void keep_candidates_copy(const CandidateFile& candidates, const fs::path& folder) {
  const fs::path copy = folder / candidates.path.filename();
  std::error_code ec;
  if (fs::exists(copy, ec)) {
    const std::optional<std::string> there = file_bytes(copy, kMaxCandidateBytes, "the campaign's copy of its candidates file");
    if (there && sha256_hex(*there) == candidates.sha256) return;  // the file itself, or the same rows
    throw Error(fmt::format("{} holds another file named {}: the campaign keeps a copy of its candidates there; choose another --output "
                            "or rename one of them",
                            folder.string(), candidates.path.filename().string()));
  }
  const std::optional<std::string> bytes = file_bytes(candidates.path, kMaxCandidateBytes, "the candidates file");
  if (!bytes || sha256_hex(*bytes) != candidates.sha256)
    throw Error(fmt::format("the candidates file {} changed while the campaign was starting: start it again", candidates.path.string()));
  write_whole_file(copy.string(), *bytes, "the campaign's copy of its candidates file");
}

}  // namespace labloop
