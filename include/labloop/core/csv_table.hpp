#pragma once
// The CSV files labloop reads (entered results, past results, the datasets behind simulated
// instruments), read one way: RFC 4180 quoting within a line (fields need no line breaks; the
// datasets' SMILES strings hold commas inside quotes), CRLF or LF, a spreadsheet's byte-order
// mark, cells trimmed of padding, blank lines skipped. In core so that the simulators, which link
// only the driver SDK, read their data with the same code as the campaign.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace labloop {

struct CsvRow {
  std::size_t line = 0;  // 1-based, the header being line 1
  std::vector<std::string> fields;
};

struct CsvTable {
  std::vector<std::string> header;  // "name [unit]" read as "name"
  std::vector<std::string> units;   // per column, the "[unit]" its header gave ("unit"), "" for none
  std::vector<CsvRow> rows;         // each with as many fields as the header
};

// What a reader accepts, so a wrong or hostile file is refused with a message instead of filling
// the memory. The defaults are far above any table a person or a shipped dataset writes.
struct CsvLimits {
  std::size_t max_rows = 100'000;           // data rows, after the header
  std::size_t max_bytes = 64 << 20;         // the whole file
  std::size_t max_columns = 1000;
  std::size_t max_field_chars = 64 << 10;   // one cell, in bytes
};

// Throws Error naming the file and line: unreadable, empty, larger than a limit, a row of the
// wrong width or an unclosed quote.
CsvTable read_csv_table(const std::filesystem::path& path, const CsvLimits& limits);
// The same for a file's bytes already read (`name` stands for the file in messages): for a caller
// that must judge the very bytes it parses, such as a file another program may still be writing.
CsvTable read_csv_text(const std::string& text, const std::string& name, const CsvLimits& limits);
// The same a row at a time, keeping none: `on_header` gets the header before any row, `on_row`
// each row as it is read, so a large table costs its longest row instead of its whole (a
// million-row candidates file). Either may throw to stop; the same limits and errors apply.
void scan_csv_text(const std::string& text, const std::string& name, const CsvLimits& limits,
                   const std::function<void(const std::vector<std::string>& header, const std::vector<std::string>& units)>& on_header,
                   const std::function<void(CsvRow&& row)>& on_row);

// Why a column headed "name [written]" cannot be read as `name` declared in `declared` (the file's
// values would be taken in the wrong unit: °F read as °C); "" when it can. A header without a unit,
// or a name declared without one, is taken as it is: results.csv before 0.2 wrote no units.
// `file` and `column` (1-based) name it in the message.
std::string unit_conflict(const std::string& file, std::size_t column, const std::string& name, const std::string& written,
                          const std::string& declared);

// Why `header` cannot be read because it names a column twice ("" when it does not):
// "<file>: column "x1" appears more than once; keep one". A reader takes one cell per name, so the
// other copy would be ignored, or read in its place, without a word. When `counts` is given, only
// the names it holds count: a reader that ignores some columns (a spreadsheet's unnamed ones, a
// notes column) need not refuse those repeated.
std::string repeated_column(const std::string& file, const std::vector<std::string>& header,
                            const std::function<bool(const std::string& name)>& counts = {});

// The number in a cell, or nothing when the cell is not exactly one finite number in decimal
// notation. A decimal too small for a double (1e-999) is read as 0, as strtod reads it.
std::optional<double> parse_number(const std::string& text);
// Why parse_number refuses `text`, worded to follow it ("is not a finite number"); "" when it
// takes it.
std::string not_a_number_reason(const std::string& text);

// Why `text` is not a number from `low` to `high` (a whole one when `whole`), worded for the
// command line ("must be a whole number from 1 to 100000, got 0"); "" when it is. Both programs'
// options check their numbers with it: one message, and ranges printed as people write them.
std::string number_range_problem(const std::string& text, double low, double high, bool whole = false);
// The range as the options' help shows it: "1..100000", "0..1e+100".
std::string number_range_text(double low, double high);

}  // namespace labloop
