#include "labloop/core/csv_table.hpp"

#include "labloop/core/printable.hpp"
#include "labloop/core/small_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <ext/stdio_filebuf.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fstream>
#include <istream>
#include <sstream>

#include "labloop/core/error.hpp"
#include "labloop/core/small_file.hpp"

namespace labloop {

namespace {

// Where a record stands after the text read so far: inside a quoted field or not. RFC 4180 lets
// a quoted field hold line breaks, so the record goes on on the next line (labloop's own
// results.csv quotes a driver's multi-line error). Fed line by line, so a record of many lines
// (a stray quote near the top of a large file) is scanned once, not once per line added.
struct QuoteState {
  bool quoted = false;
  bool blank = true;  // the field so far is empty or spaces: a quote here opens a quoted field

  void feed(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (quoted) {
        if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') ++i;
        else if (c == '"') quoted = false, blank = false;  // what follows belongs to the same field, as text
      } else if (c == '"' && blank) {
        quoted = true;
      } else if (c == ',') {
        blank = true;
      } else if (c != ' ' && c != '\t') {
        blank = false;
      }
    }
  }
};

// Splits one record; `line` names it in the message for an unclosed quote.
std::vector<std::string> split_csv_record(const std::string& text, std::size_t line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  bool closed = false;  // the field's closing quote was read: only blanks may follow before the comma
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false, closed = true;
      else field += c;
    } else if (closed && c != ',' && c != ' ' && c != '\t') {
      // "1"2 read as 12 (and "-"3 as -3) was a number nobody wrote (RFC 4180: a quoted field
      // is all quoted).
      throw Error(fmt::format("line {}, field {}: text after its closing quote ({}…); put the whole field inside the quotes, "
                              "and a quote inside it as \"\"",
                              line, fields.size() + 1, printable(text.substr(i, 20))));
    } else if (c == '"' && field.find_first_not_of(" \t") == std::string::npos) {
      field.clear();
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      closed = false;
    } else if (!closed) {
      field += c;
    }
  }
  if (quoted) throw Error(fmt::format("line {}: a quoted field is not closed", line));
  fields.push_back(std::move(field));
  for (auto& f : fields) {  // spreadsheet exports pad cells
    const auto b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
    f = b == std::string::npos ? "" : f.substr(b, e - b + 1);
  }
  return fields;
}

// "yield [%]" → "yield" and "%": results.csv and `pending --csv` write units into headers.
std::pair<std::string, std::string> split_header(const std::string& header) {
  const auto bracket = header.find(" [");
  if (bracket == std::string::npos || header.empty() || header.back() != ']') return {header, ""};
  std::string unit = header.substr(bracket + 2, header.size() - bracket - 3);
  const auto b = unit.find_first_not_of(" \t"), e = unit.find_last_not_of(" \t");
  return {header.substr(0, bracket), b == std::string::npos ? "" : unit.substr(b, e - b + 1)};
}

}  // namespace

std::string unit_conflict(const std::string& file, std::size_t column, const std::string& name, const std::string& written,
                          const std::string& declared) {
  if (written.empty() || declared.empty() || written == declared) return {};
  return fmt::format("{}: column {} (\"{} [{}]\") gives {} in {}, but the campaign declares it in {}; convert the values to {} and head the "
                     "column \"{} [{}]\" (or \"{}\")",
                     file, column, printable(name), printable(written), printable(name), printable(written), declared, declared, name,
                     declared, name);
}

std::string repeated_column(const std::string& file, const std::vector<std::string>& header,
                            const std::function<bool(const std::string& name)>& counts) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (counts && !counts(header[i])) continue;
    if (std::find(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(i), header[i]) != header.begin() + static_cast<std::ptrdiff_t>(i))
      return fmt::format("{}: column \"{}\" appears more than once; keep one", file, printable(header[i]));
  }
  return {};
}

std::optional<double> parse_number(const std::string& text) {
  // Decimal notation only ("71.5", "-3", "1e-3", "+2"): std::from_chars, unlike strtod, takes no
  // hexadecimal, so a person's "0x10" (or a cell holding it) is refused instead of read as 16.
  // White space around the number is skipped, at its start (as strtod did) and at its end alike
  // (" 71.5" was taken and "71.5 " refused as no number), Unicode's blanks too (trimmed(): a
  // no-break space from a spreadsheet or a web page prints as a space, and was refused).
  const std::string bare = trimmed(text);
  std::size_t start = 0, stop = bare.size();
  const bool plus = start < stop && bare[start] == '+';
  if (plus) ++start;
  if (start == stop || (plus && (bare[start] == '-' || bare[start] == '+'))) return std::nullopt;
  const char* first = bare.data() + start;
  const char* last = bare.data() + stop;
  double v = 0;
  const auto [end, error] = std::from_chars(first, last, v);
  if (error == std::errc::result_out_of_range && end == last) {
    // Decimal, but beyond a double: too small (1e-999) is 0, too large (1e999) no number. from_chars
    // says only "out of range"; strtod, given text from_chars took whole (so no hexadecimal), says
    // which: 0 or the nearest subnormal, or HUGE_VAL.
    const double near = std::strtod(std::string(first, last).c_str(), nullptr);
    if (!std::isfinite(near)) return std::nullopt;
    return near == 0 ? 0.0 : near;  // -1e-999 is 0, not "-0"
  }
  if (error != std::errc() || end != last || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string not_a_number_reason(const std::string& text) {
  if (parse_number(text)) return {};
  const std::string bare = trimmed(text);
  if (bare.empty()) return "is empty: give a number (e.g. 71.5)";
  std::string word = bare;
  if (word[0] == '+' || word[0] == '-') word.erase(0, 1);
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (word.rfind("nan", 0) == 0 || word.rfind("inf", 0) == 0) return "is not a finite number";
  double v = 0;
  if (const auto [end, error] = std::from_chars(bare.data(), bare.data() + bare.size(), v);
      error == std::errc::result_out_of_range && end == bare.data() + bare.size())
    return "is too large for a number (at most about 1.8e308)";
  return "is not a number in decimal notation (e.g. 71.5, -3, 1e-3; not 0x10)";
}

namespace {
// Whole numbers as people write them (1000000, not 1e+06), the rest shortest.
std::string number_text(double x) {
  return x == std::floor(x) && std::fabs(x) < 1e15 ? fmt::format("{}", static_cast<long long>(x)) : fmt::format("{:g}", x);
}
}  // namespace

std::string number_range_problem(const std::string& text, double low, double high, bool whole) {
  const std::optional<double> v = parse_number(text);
  if (v && *v >= low && *v <= high && (!whole || *v == std::floor(*v))) return {};
  return fmt::format("must be a {} from {} to {}, got {}", whole ? "whole number" : "number", number_text(low), number_text(high), text);
}

std::string number_range_text(double low, double high) { return number_text(low) + ".." + number_text(high); }

namespace {

// The next line of `in` (without its '\n') into `line`; false at the end of the input. Reads at most
// `most` + 1 characters: a line without end (/dev/zero, a pipe that never sends '\n') must not fill
// the memory before the caller's size check sees it. Stops early too, setting `field_too_long`,
// once more than `longest_run` characters come without a comma: a field that long holds more than
// a cell may whatever its quoting (a 250 MiB cell took 1 GB before it was refused).
bool read_line_at_most(std::istream& in, std::string& line, std::size_t most, std::size_t longest_run, bool& field_too_long) {
  line.clear();
  field_too_long = false;
  std::streambuf* buffer = in.rdbuf();
  bool any = false;
  std::size_t run = 0;
  for (int c = buffer->sbumpc(); c != std::char_traits<char>::eof(); c = buffer->sbumpc()) {
    any = true;
    if (c == '\n') return true;
    line.push_back(static_cast<char>(c));
    if (line.size() > most) return true;
    run = c == ',' ? 0 : run + 1;
    if (run > longest_run) {
      field_too_long = true;
      return true;
    }
  }
  return any;
}

}  // namespace

namespace {

Error too_large(const std::string& name, const CsvLimits& limits) {
  const std::string limit = limits.max_bytes >= (1 << 20) ? fmt::format("{} MiB", limits.max_bytes >> 20) : fmt::format("{} bytes", limits.max_bytes);
  return Error(fmt::format("{}: larger than {}; split the file", name, limit));
}

// The table in `in`, named `name` in messages, given row by row (scan_csv_text).
void scan_csv_stream(std::istream& in, const std::string& name, const CsvLimits& limits, bool is_pipe,
                     const std::function<void(const std::vector<std::string>&, const std::vector<std::string>&)>& on_header,
                     const std::function<void(CsvRow&&)>& on_row) {
  const auto too_large = [&] { return labloop::too_large(name, limits); };
  std::vector<std::string> header, units;
  std::size_t rows = 0;
  std::string text;
  std::size_t line = 0, bytes = 0;
  bool have_header = false;
  // A cell's text in the file: every character of it doubled (quotes) and its own two quotes.
  const std::size_t longest_run = 2 * limits.max_field_chars + 2;
  bool field_too_long = false;
  const auto refuse_long_field = [&](std::size_t at) {
    return Error(fmt::format("{}: line {} holds a value of more than {} bytes; at most {} are allowed", name, at, limits.max_field_chars,
                             limits.max_field_chars));
  };
  while (read_line_at_most(in, text, limits.max_bytes - std::min(bytes, limits.max_bytes), longest_run, field_too_long)) {
    ++line;
    const std::size_t first_line = line;
    if (field_too_long) throw refuse_long_field(line);
    bytes += text.size() + 1;
    if (bytes > limits.max_bytes) throw too_large();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (line == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a spreadsheet's byte-order mark
    if (line == 1 && text.find('\r') != std::string::npos)
      throw Error(fmt::format("{}: its lines end in carriage returns alone (an old Mac format), so it reads as one line: save it with "
                              "LF or CRLF line endings",
                              name));
    // A quoted field that holds line breaks: the record continues on the next lines.
    QuoteState record;
    record.feed(text);
    for (std::string more;
         record.quoted && read_line_at_most(in, more, limits.max_bytes - std::min(bytes, limits.max_bytes), longest_run, field_too_long);) {
      ++line;
      if (field_too_long) throw refuse_long_field(line);
      bytes += more.size() + 1;
      if (bytes > limits.max_bytes) throw too_large();
      if (!more.empty() && more.back() == '\r') more.pop_back();
      record.feed(more);  // the line break before it is text inside the quoted field
      text += '\n' + more;
    }
    if (text.find_first_not_of(" \t,") == std::string::npos) continue;
    // Cells become JSON text (parameters, outputs, ids), which must be UTF-8.
    if (!valid_utf8(text))
      throw Error(fmt::format("{}: line {} holds bytes that are not UTF-8 (a spreadsheet's other encoding?): save the file as UTF-8 text",
                              name, first_line));
    std::vector<std::string> fields;
    try {
      fields = split_csv_record(text, first_line);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", name, e.what()));
    }
    if (fields.size() > limits.max_columns)
      throw Error(fmt::format("{}: line {} has {} fields; at most {} columns are allowed", name, first_line, fields.size(), limits.max_columns));
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (fields[i].size() > limits.max_field_chars)
        throw Error(fmt::format("{}: line {}, field {}: {} bytes long; at most {} are allowed", name, first_line, i + 1,
                                fields[i].size(), limits.max_field_chars));
    if (!have_header) {
      for (const auto& f : fields) {
        auto [column, unit] = split_header(f);
        header.push_back(std::move(column));
        units.push_back(std::move(unit));
      }
      have_header = true;
      on_header(header, units);
      continue;
    }
    if (rows >= limits.max_rows) throw Error(fmt::format("{}: more than {} rows; split the file", name, limits.max_rows));
    if (fields.size() != header.size())
      throw Error(fmt::format("{}: line {} has {} fields, the header {}", name, first_line, fields.size(), header.size()));
    ++rows;
    on_row({first_line, std::move(fields)});
  }
  if (!have_header && is_pipe) throw Error(fmt::format("{}: a pipe nothing was written to; name the CSV file itself", name));
  if (!have_header) throw Error(fmt::format("{}: empty file (it needs a header line)", name));
}

CsvTable read_csv_stream(std::istream& in, const std::string& name, const CsvLimits& limits, bool is_pipe) {
  CsvTable table;
  scan_csv_stream(
      in, name, limits, is_pipe,
      [&](const std::vector<std::string>& header, const std::vector<std::string>& units) {
        table.header = header;
        table.units = units;
      },
      [&](CsvRow&& row) { table.rows.push_back(std::move(row)); });
  return table;
}

// Reads a string in place: std::istringstream would copy it (a 256 MiB candidates file, twice).
class StringViewBuffer : public std::streambuf {
 public:
  explicit StringViewBuffer(const std::string& text) {
    char* first = const_cast<char*>(text.data());  // only read: the get area is never written
    setg(first, first, first + text.size());
  }
};

}  // namespace

CsvTable read_csv_table(const std::filesystem::path& path, const CsvLimits& limits) {
  bool is_pipe = false;
  const int fd = open_for_reading(path, is_pipe);  // a pipe nobody writes to was waited on for ever
  if (fd < 0) throw Error(fmt::format("{}: cannot read: {}", path.string(), std::strerror(errno)));
  // A folder opens, and reading it then threw the library's own words ("basic_filebuf::underflow").
  if (struct stat st{}; ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("{} is a folder, not a CSV file; name the file in it", path.string()));
  }
  __gnu_cxx::stdio_filebuf<char> file(fd, std::ios::in | std::ios::binary);  // closes fd
  std::istream in(&file);
  // Checked before reading where the size is known; counted while reading for pipes and the like.
  std::error_code size_error;
  if (const auto size = std::filesystem::file_size(path, size_error); !size_error && size > limits.max_bytes) throw too_large(path.string(), limits);
  return read_csv_stream(in, path.string(), limits, is_pipe);
}

CsvTable read_csv_text(const std::string& text, const std::string& name, const CsvLimits& limits) {
  if (text.size() > limits.max_bytes) throw too_large(name, limits);
  StringViewBuffer buffer(text);
  std::istream in(&buffer);
  return read_csv_stream(in, name, limits, /*is_pipe=*/false);
}

void scan_csv_text(const std::string& text, const std::string& name, const CsvLimits& limits,
                   const std::function<void(const std::vector<std::string>&, const std::vector<std::string>&)>& on_header,
                   const std::function<void(CsvRow&&)>& on_row) {
  if (text.size() > limits.max_bytes) throw too_large(name, limits);
  StringViewBuffer buffer(text);
  std::istream in(&buffer);
  scan_csv_stream(in, name, limits, /*is_pipe=*/false, on_header, on_row);
}

}  // namespace labloop
