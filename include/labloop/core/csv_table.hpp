#pragma once
// Internal: the CSV files people give labloop (entered results, past results), read one way.
// RFC 4180 quoting within a line (fields need no line breaks), CRLF or LF, a spreadsheet's
// byte-order mark, cells trimmed of padding, blank lines skipped.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labloop::detail {

struct CsvRow {
  std::size_t line = 0;  // 1-based, the header being line 1
  std::vector<std::string> fields;
};

struct CsvTable {
  std::vector<std::string> header;  // "name [unit]" read as "name"
  std::vector<CsvRow> rows;         // each with as many fields as the header
};

// Throws Error naming the file and line: unreadable, empty, a row of the wrong width, an unclosed
// quote, or more than `max_rows` rows.
CsvTable read_csv_table(const std::filesystem::path& path, std::size_t max_rows);

// The number in a cell, or nothing when the cell is not exactly one number.
std::optional<double> parse_number(const std::string& text);

}  // namespace labloop::detail
