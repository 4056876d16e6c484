// Reports derived from journal events: results.csv and convergence.svg.
//
// Both files are rewritten whole after events arrive, while people (and spreadsheet programs) may be
// watching them, so each is written to a hidden temporary sibling, fsync()ed, then rename()d over the
// target: rename within one directory is atomic, so a reader sees the old file or the new one.
//
// The SVG is written by hand to keep the library free of plotting dependencies. Linear axis ticks
// use the 1-2-5 sequence (step = m·10^e, m ∈ {1, 2, 5}), picking the step whose tick count is closest
// to 5 within 4–6, so labels are short and evenly spaced; the value axis may be logarithmic instead
// (the rule is in report.hpp).
#include "labloop/journal/report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <set>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <fmt/core.h>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "labloop/core/append_file.hpp"
#include "labloop/core/csv_table.hpp"
#include "labloop/core/error.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/journal/campaign_state.hpp"

namespace labloop {

namespace {

using nlohmann::json;

void write_file_atomically(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path temp =
      path.parent_path() / fmt::format(".{}.tmp.{}", path.filename().string(), static_cast<long>(::getpid()));
  const auto fail = [&](const char* what, int err) {
    ::unlink(temp.c_str());
    throw Error(fmt::format("{}: cannot {}: {}", path.string(), what, std::strerror(err)));
  };
  // O_NOFOLLOW: the temporary name is predictable, and a link planted under it in the campaign
  // folder had whatever it points to cut short and overwritten with the report.
  int fd;
  do fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  while (fd < 0 && errno == EINTR);
  if (fd < 0 && refused_as_link(temp.string(), errno)) throw Error(fmt::format("{}: {}", path.string(), symbolic_link_refusal(temp.string())));
  if (fd < 0) throw Error(fmt::format("{}: cannot create {}: {}", path.string(), temp.string(), std::strerror(errno)));
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail("write", err);
    }
    written += static_cast<size_t>(n);
  }
  // Without this fsync, a crash soon after rename() can leave an empty file under the final name.
  int rc;
  do rc = ::fsync(fd);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    fail("fsync", err);
  }
  if (::close(fd) != 0 && errno != EINTR) fail("close", errno);
  if (std::rename(temp.c_str(), path.c_str()) != 0) fail("rename the temporary file onto", errno);
}

// ---- CSV -------------------------------------------------------------------------------------------

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

// Whether a cell's text starts like a spreadsheet formula (= + - @, also after blanks) and is not
// exactly a decimal number ("-3.5" is read as that number, nothing more).
bool starts_like_formula(std::string_view text) {
  const size_t first = text.find_first_not_of(' ');
  return first != std::string_view::npos && std::string_view("=+-@").find(text[first]) != std::string_view::npos &&
         !(first == 0 && parse_number(std::string(text)));
}

// Whether a cell gets a leading ': text that starts like a formula, and text that starts with ' and
// would read as one that got it ("'=a" as "''=a", so "=a" and "'=a" stay two cells). "'x" keeps its
// one ', as earlier versions wrote it.
bool needs_text_mark(std::string_view text) {
  return starts_like_formula(text) || (!text.empty() && text.front() == '\'' && needs_text_mark(text.substr(1)));
}

}  // namespace

std::string csv_text_value(const std::string& cell) {
  return !cell.empty() && cell.front() == '\'' && needs_text_mark(std::string_view(cell).substr(1)) ? cell.substr(1) : cell;
}

std::string csv_choice(const std::vector<std::string>& choices, const std::string& cell) {
  const auto is_choice = [&](const std::string& c) { return std::find(choices.begin(), choices.end(), c) != choices.end(); };
  const std::string value = csv_text_value(cell);
  if (is_choice(value)) return value;
  if (is_choice(cell)) return cell;
  if (!cell.empty() && cell.front() == '\'' && is_choice(cell.substr(1))) return cell.substr(1);
  return value;
}

// A text cell as a spreadsheet cannot misread it (the OWASP rule for CSV injection): control
// characters (C0, DEL, C1, and the line and paragraph separators U+2028/U+2029), which have no place
// in a cell and upset viewers (an escape sequence recolours a terminal; a bare CR ends a row in some
// readers), become visible escapes (\n, \t, \x1b, \u009b), and text that starts like a formula
// (= + - @, also after blanks) gets a leading ' so Excel and LibreOffice show it as text instead of
// running it; so does text that starts with ' and would otherwise read as such a cell
// (csv_text_value reads it back). A driver's error message or a person's note arrives here as it
// was sent. Text that is exactly a decimal number ("-3.5", as a driver may send a value as a
// string) is left alone: a spreadsheet reads it as that number, nothing more, and prior_results
// reads it back.
std::string csv_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    const auto next = [&](size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u; };
    if (u == 0xC2 && next(1) >= 0x80 && next(1) <= 0x9F) {  // a C1 control, U+0080–U+009F
      out += fmt::format("\\u{:04x}", next(1));
      ++i;
      continue;
    }
    if (u == 0xE2 && next(1) == 0x80 && (next(2) == 0xA8 || next(2) == 0xA9)) {  // U+2028, U+2029
      out += next(2) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
      continue;
    }
    if (u >= 0x20 && u != 0x7F) {
      out += c;
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += fmt::format("\\x{:02x}", u);
    }
  }
  if (needs_text_mark(out)) out.insert(0, 1, '\'');
  return out;
}

std::string csv_cell(const std::string& text) { return csv_field(csv_text(text)); }

namespace {

// The byte length of the code point at `text[i]` when a reader would not see it: Unicode's format
// characters (category Cf) and default-ignorable code points (zero-width space U+200B and joiners
// U+200C/D, word joiner U+2060, BOM U+FEFF, soft hyphen U+00AD, bidi controls, variation
// selectors, tags, Hangul fillers); 0 for anything else, malformed UTF-8 included. The ranges are
// Unicode 15's DerivedCoreProperties Default_Ignorable_Code_Point plus the Cf it leaves out.
size_t invisible_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  const size_t length = lead >= 0xF0 && lead < 0xF8 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (length == 1 || i + length > text.size()) return 0;
  char32_t cp = lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  const auto in = [cp](char32_t low, char32_t high) { return cp >= low && cp <= high; };
  const bool invisible = cp == 0x00AD || cp == 0x034F || cp == 0x061C || in(0x0600, 0x0605) || cp == 0x06DD || cp == 0x070F ||
                         in(0x0890, 0x0891) || cp == 0x08E2 || in(0x115F, 0x1160) || in(0x17B4, 0x17B5) || in(0x180B, 0x180F) ||
                         in(0x200B, 0x200F) || in(0x202A, 0x202E) || in(0x2060, 0x206F) || cp == 0x3164 || in(0xFE00, 0xFE0F) ||
                         cp == 0xFEFF || cp == 0xFFA0 || in(0xFFF0, 0xFFFB) || cp == 0x110BD || cp == 0x110CD ||
                         in(0x13430, 0x1343F) || in(0x1BCA0, 0x1BCA3) || in(0x1D173, 0x1D17A) || in(0xE0000, 0xE0FFF);
  return invisible ? length : 0;
}

// A failure's reason, which a person reads and nothing reads back: as csv_text, and the code
// points a reader would not see (bidi controls, zero-width characters) as \uXXXX, so a driver's
// right-to-left override cannot make the cell read other than it is. Choices and values keep
// theirs: they are read back, and must match the declared ones.
std::string csv_message(const std::string& text) {
  std::string shown;
  shown.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = invisible_length(text, i);
    if (n == 0) {
      shown += text[i++];
      continue;
    }
    char32_t cp = static_cast<unsigned char>(text[i]) & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    shown += fmt::format("\\u{:04x}", static_cast<std::uint32_t>(cp));
    i += n;
  }
  return csv_text(shown);
}

bool has_invisible(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i)
    if (invisible_length(text, i)) return true;
  return false;
}

// The length in bytes of the blank at text[i] (a space, a tab, or a Unicode space separator a
// reader sees as one: unicode_blank_length), 0 when it is none.
size_t blank_length(std::string_view text, size_t i) {
  if (text[i] == ' ' || text[i] == '\t') return 1;
  return unicode_blank_length(text, i);
}

bool blank_at_end(std::string_view text) {
  for (size_t k = 1; k <= 3 && k <= text.size(); ++k)
    if (blank_length(text, text.size() - k) == k) return true;
  return false;
}

// A column name as a reader tells it from others: ASCII letters in lower case, invisible code
// points dropped, blanks of any kind read as one space and none at either end ("X1", "x1<U+200B>",
// "x1 " and "x1<U+00A0>" all read as "x1"; a CSV reader trims a header's blanks).
std::string name_fold(std::string_view name) {
  std::string out;
  bool blank = false;  // a blank is pending: written before the next visible character
  for (size_t i = 0; i < name.size();) {
    if (const size_t skip = invisible_length(name, i)) {
      i += skip;
      continue;
    }
    if (const size_t skip = blank_length(name, i)) {
      i += skip;
      blank = !out.empty();
      continue;
    }
    if (std::exchange(blank, false)) out += ' ';
    const char c = name[i++];
    out += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

// fmt "{}" gives the shortest text that parses back to the same double (0.1 → "0.1", 3.0 → "3").
std::string format_value(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return {};
    case json::value_t::string: return v.get<std::string>();
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer: return fmt::format("{}", v.get<std::int64_t>());
    case json::value_t::number_unsigned: return fmt::format("{}", v.get<std::uint64_t>());
    case json::value_t::number_float: return fmt::format("{}", v.get<double>());
    default: return v.dump();
  }
}

// A parameter's or value's cell: numbers as format_value writes them (-3.5 stays -3.5), anything
// else (a categorical choice, a string or object a driver sent) as text, neutralised by csv_text.
std::string cell_text(const json& v) {
  return v.is_number() || v.is_boolean() ? format_value(v) : csv_text(format_value(v));
}

// A string member of a JSON object, or of an object member of it; "" when any of it is missing.
std::string config_string(const json& object, const char* key, const char* subkey = nullptr) {
  if (!object.is_object() || !object.contains(key)) return {};
  const json& v = object[key];
  if (subkey) return config_string(v, subkey);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// "name [unit]", or the bare name when no unit is known: the form docs/config.md promises.
std::string with_unit(const std::string& name, const std::string& unit) {
  return unit.empty() ? name : name + " [" + unit + "]";
}

// ---- SVG -------------------------------------------------------------------------------------------

// Text as XML 1.0 allows it: & < > " ' as entities, and what XML forbids (C0 controls but tab and
// line breaks, U+FFFE, U+FFFF, bytes that are not UTF-8) shown as visible escapes, as printable()
// shows them on a terminal (which also shows DEL, C1 and bidirectional controls so, and a line break
// as \n): a driver's failure text or a unit holding one made the whole SVG unreadable.
std::string xml_escape(const std::string& text) {
  const std::string shown = printable(text);
  std::string out;
  out.reserve(shown.size());
  for (size_t i = 0; i < shown.size(); ++i) {
    const char c = shown[i];
    if (c == '\xEF' && i + 2 < shown.size() && shown[i + 1] == '\xBF' && (shown[i + 2] == '\xBE' || shown[i + 2] == '\xBF')) {
      out += shown[i + 2] == '\xBE' ? "\\ufffe" : "\\uffff";
      i += 2;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Axis {
  double lo = 0, hi = 1, step = 1;  // lo and hi are multiples of step
  int exponent = 0;                 // step = m·10^exponent
  int decimals = 0;                 // digits after the point that show every tick exactly
  int count() const { return static_cast<int>(std::lround((hi - lo) / step)) + 1; }
  double tick(int i) const { return lo + i * step; }
};

// Nice axis covering [lo, hi] (lo < hi), steps no finer than `min_step`. Ranges where no 1-2-5 step
// gives 4–6 ticks (about 1 in 200) fall back to m = 2.5 rather than show 3 or 7 ticks.
Axis nice_axis(double lo, double hi, double min_step) {
  const int e0 = static_cast<int>(std::floor(std::log10((hi - lo) / 5)));
  Axis best;
  bool found = false;
  int best_distance = 0;
  for (int e = e0 - 1; e <= e0 + 2; ++e) {
    for (const double m : {1.0, 2.0, 2.5, 5.0}) {
      const double step = m * std::pow(10.0, e);
      if (step < min_step) continue;
      // A small tolerance keeps a bound that is already a tick from pulling in one more.
      Axis a{std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step, e,
             std::max(0, -e + (m == 2.5 ? 1 : 0))};
      const int n = a.count();
      const bool fits = n >= 4 && n <= 6;
      // Closest to 5 ticks within 4–6, 1-2-5 first; otherwise anything beats nothing.
      const int distance = std::abs(n - 5) + (fits ? 0 : 100) + (m == 2.5 ? 10 : 0);
      if (!found || distance < best_distance) best = a, best_distance = distance, found = true;
    }
  }
  return best;
}

// A value axis over [lo, hi] with room around the values: one value (or all equal) gets room
// instead of a zero range; otherwise 5 % keeps dots off the frame, but not across zero: results
// that cannot be negative (a yield, a distance) get no axis reaching into negative values.
// A span narrower than kLeastSpan (subnormal results: 5e-324 and 1e-323) is widened to it: a fifth
// of it would underflow to 0, and its logarithm made every coordinate NaN.
Axis padded_axis(double lo, double hi) {
  constexpr double kLeastSpan = 1e-300;
  if (hi - lo <= std::abs(hi) * 1e-12 || hi - lo < kLeastSpan || !std::isfinite(hi - lo)) {
    const double pad = lo == 0 && hi == 0 ? 1.0 : std::max({std::abs(lo) * 0.1, std::abs(hi) * 0.1, kLeastSpan});
    lo -= pad, hi += pad;
  } else {
    const double pad = (hi - lo) * 0.05;
    lo = lo >= 0 ? std::max(0.0, lo - pad) : lo - pad;
    hi = hi <= 0 ? std::min(0.0, hi + pad) : hi + pad;
  }
  return nice_axis(lo, hi, 0.0);
}

std::string tick_label(const Axis& axis, double v) {
  if (std::abs(v) < axis.step * 1e-9) v = 0;  // no "-0" from rounding
  if (axis.exponent < -6 || axis.exponent > 9) return fmt::format("{:g}", v);
  return fmt::format("{:.{}f}", v, axis.decimals);
}

// Logarithmic ticks: powers of ten every `every` decades; with few decades, 2 and 5 times them too,
// labelled when the axis spans at most 3.5 decades and drawn as lighter grid lines up to 7.
struct Tick {
  double value;
  std::string label;  // "" for an unlabelled minor grid line
};

// 10^e·m as people write it: "0.02", "500", and "2e-7" / "1e6" beyond the range where that stays short.
std::string decade_label(int m, int e) {
  if (e >= -4 && e <= 5) return fmt::format("{}", std::stod(fmt::format("{}e{}", m, e)));
  return fmt::format("{}e{}", m, e);
}

std::vector<Tick> log_ticks(double lo, double hi) {  // lo, hi: log10 of the axis ends
  std::vector<Tick> ticks;
  const double span = hi - lo;
  const int every = std::max(1, static_cast<int>(std::ceil(span / 7)));
  for (int e = static_cast<int>(std::floor(lo)); e <= static_cast<int>(std::ceil(hi)); ++e) {
    for (const int m : {1, 2, 5}) {
      const double v = e + std::log10(double(m));
      if (v < lo - 1e-9 || v > hi + 1e-9) continue;
      if (m == 1 && e % every == 0) ticks.push_back({v, decade_label(1, e)});
      else if (m != 1 && span <= 3.5) ticks.push_back({v, decade_label(m, e)});
      else if (m != 1 && span <= 7) ticks.push_back({v, ""});
    }
  }
  return ticks;
}

// The value axis: where results go, in plot units (log10 of the value on a log axis).
struct ValueAxis {
  bool log = false;
  double lo = 0, hi = 1;  // axis ends, in plot units
  std::vector<Tick> ticks;
  double to_plot(double v) const { return log ? std::log10(v) : v; }
};

// Quartile by linear interpolation between order statistics (sorted input, at least one value).
double quantile(const std::vector<double>& sorted, double q) {
  const double at = q * double(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(at));
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (at - double(i)) * (sorted[i + 1] - sorted[i]);
}

// The rule of report.hpp: log10 for positive data over more than two decades, otherwise linear over
// the results inside Tukey's far-out fences (so one wild result cannot flatten the rest), always
// taking in the best result and the target.
ValueAxis value_axis(std::vector<double> values, double best, const std::optional<double>& target) {
  std::sort(values.begin(), values.end());
  ValueAxis axis;
  const double smallest = target ? std::min(values.front(), *target) : values.front();
  const double largest = target ? std::max(values.back(), *target) : values.back();
  if (smallest > 0 && largest / smallest > 100) {
    axis.log = true;
    const double lo = std::log10(smallest), hi = std::log10(largest);
    // Within ±307 decades so the ends stay finite when written out (10^309 is not a double); a
    // result smaller than 1e-307 is drawn at the bottom edge.
    const double pad = (hi - lo) * 0.05;
    axis.lo = std::max(lo - pad, -307.0), axis.hi = std::min(hi + pad, 307.0);
    axis.ticks = log_ticks(axis.lo, axis.hi);
    return axis;
  }
  double lo = values.front(), hi = values.back();
  if (values.size() >= 4) {
    const double q1 = quantile(values, 0.25), q3 = quantile(values, 0.75), iqr = q3 - q1;
    // A zero IQR (most results equal) would call every other result an outlier: no clipping then.
    if (iqr > 0) {
      const double low_fence = q1 - 3 * iqr, high_fence = q3 + 3 * iqr;
      lo = *std::find_if(values.begin(), values.end(), [&](double v) { return v >= low_fence; });
      hi = *std::find_if(values.rbegin(), values.rend(), [&](double v) { return v <= high_fence; });
    }
  }
  lo = std::min(lo, best), hi = std::max(hi, best);
  if (target) lo = std::min(lo, *target), hi = std::max(hi, *target);
  const Axis a = padded_axis(lo, hi);
  axis.lo = a.lo, axis.hi = a.hi;
  for (int i = 0; i < a.count(); ++i) axis.ticks.push_back({a.tick(i), tick_label(a, a.tick(i))});
  return axis;
}

// Sized for a slide: the legend gets its own column right of the plot so it never hides a result.
constexpr double kWidth = 800, kHeight = 480;
constexpr double kLeft = 84, kRight = 206, kTop = 48, kBottom = 60;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
constexpr const char* kResultColor = "#7f7f7f";
constexpr const char* kBestColor = "#1f77b4";
constexpr const char* kFailedColor = "#d62728";
constexpr const char* kTargetColor = "#2ca02c";

// The opening of an SVG of any size, its title centred over x = title_x.
std::string svg_open(const std::string& title, double width, double height, double title_x) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"28\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">{3}</text>\n",
      width, height, title_x, xml_escape(title));
}

std::string svg_open(const std::string& title) { return svg_open(title, kWidth, kHeight, kLeft + kPlotW / 2); }

std::string cross(double x, double y, double r, const std::string& tooltip) {
  return fmt::format(
      "<path class=\"failed\" d=\"M{0:.1f} {1:.1f}L{2:.1f} {3:.1f}M{0:.1f} {3:.1f}L{2:.1f} {1:.1f}\" stroke=\"{4}\" "
      "stroke-width=\"2.5\" stroke-linecap=\"round\">{5}</path>\n",
      x - r, y - r, x + r, y + r, kFailedColor, tooltip);
}

// A triangle pointing up (at the top edge) or down (at the bottom edge): a result beyond the axis.
std::string off_scale_marker(double x, double y, bool up, const char* cls, const std::string& tooltip) {
  const double d = up ? -1 : 1;
  return fmt::format(
      "<path class=\"{}\" d=\"M{:.1f} {:.1f}L{:.1f} {:.1f}L{:.1f} {:.1f}Z\" fill=\"white\" stroke=\"{}\" "
      "stroke-width=\"1.5\">{}</path>\n",
      cls, x, y + d * 6, x - 5, y - d * 3, x + 5, y - d * 3, kResultColor, tooltip);
}

}  // namespace

std::optional<size_t> CampaignRecord::best_index() const {
  std::optional<size_t> best;
  for (size_t i = 0; i < experiments.size(); ++i) {
    const ExperimentRecord& e = experiments[i];
    if (e.status != "ok" || !e.objective) continue;
    if (!best) {
      best = i;
      continue;
    }
    const ExperimentRecord& b = experiments[*best];
    const double o = *e.objective, bo = *b.objective;
    if ((maximize ? o > bo : o < bo) || (o == bo && e.completion_index < b.completion_index)) best = i;
  }
  return best;
}

CampaignRecord campaign_record(const CampaignState& state) {
  if (!state.started())
    throw JournalError("no campaign_started event: these events do not describe a labloop campaign (is the "
                       "journal empty, or not a labloop journal?)");
  CampaignRecord record;
  record.campaign = state.campaign();
  record.objective_name = state.objective_name();
  record.maximize = state.maximize();
  record.parameter_names = state.parameter_names();
  const json& config = state.config();
  const std::string planner = config_string(config, "planner", "kind");
  for (const ExperimentState& x : state.experiments()) {
    ExperimentRecord& r = record.experiments.emplace_back();
    r.id = x.id;
    r.instrument = x.instrument;
    r.status = x.outcome == ExperimentOutcome::ok ? "ok" : x.outcome == ExperimentOutcome::failed ? "failed" : "pending";
    r.params = x.params;
    if (x.outcome == ExperimentOutcome::ok) {
      r.objective = x.objective;
      r.values = x.values;
    }
    r.error = x.error;
    r.proposed_at = x.proposed_at;
    r.dispatched_at = x.dispatched_at;
    r.finished_at = x.finished_at;
    r.completion_index = x.completion_index;
    if (x.retry_of) r.proposed_by = fmt::format("retry {} of {}", x.attempt, *x.retry_of);
    else if (x.ask) r.proposed_by = planner.empty() ? fmt::format("ask {}", *x.ask) : fmt::format("{} ask {}", planner, *x.ask);
  }

  // A config without parameters (should not happen) still gets columns: names in first-seen order.
  if (record.parameter_names.empty()) {
    for (const ExperimentRecord& x : record.experiments) {
      if (!x.params.is_object()) continue;
      for (const auto& item : x.params.items())
        if (std::find(record.parameter_names.begin(), record.parameter_names.end(), item.key()) ==
            record.parameter_names.end())
          record.parameter_names.push_back(item.key());
    }
  }

  // Units and targets come from the journaled config (CampaignConfig::to_json()): the journal cannot
  // see the config struct, and a journal from before they existed simply has none.
  // A map, not a search per parameter: 15,000 parameters made every report rewrite take seconds.
  std::unordered_map<std::string, std::string> parameter_unit;
  if (config.is_object() && config.contains("parameters") && config["parameters"].is_array())
    for (const json& p : config["parameters"])
      if (p.is_object() && p.contains("name") && p["name"].is_string()) parameter_unit[p["name"].get<std::string>()] = config_string(p, "unit");
  for (const std::string& name : record.parameter_names) {
    const auto it = parameter_unit.find(name);
    record.parameter_units.push_back(it == parameter_unit.end() ? std::string() : it->second);
  }
  std::vector<std::pair<std::string, std::string>> declared;  // outputs: name, unit
  if (config.is_object() && config.contains("outputs") && config["outputs"].is_array())
    for (const json& o : config["outputs"]) {
      if (o.is_string()) declared.emplace_back(o.get<std::string>(), "");  // the short form, should it be journaled
      else if (o.is_object() && o.contains("name") && o["name"].is_string())
        declared.emplace_back(o["name"].get<std::string>(), config_string(o, "unit"));
    }
  // A set, not a search of the list: an instrument may return hundreds of values (a spectrum), and
  // the reports are rebuilt after every event.
  std::unordered_set<std::string> seen;
  const auto add_output = [&](const std::string& name, const std::string& unit) {
    if (name == record.objective_name) {
      if (!unit.empty()) record.objective_unit = unit;
      return;
    }
    if (!seen.insert(name).second) return;
    record.output_names.push_back(name);
    record.output_units.push_back(unit);
  };
  for (const auto& [name, unit] : declared) add_output(name, unit);
  // Every objective has a column from the start, even before its first result: a campaign with
  // several objectives journals them all ("objectives"; the first is the objective column).
  if (config.is_object() && config.contains("objectives") && config["objectives"].is_array())
    for (const json& o : config["objectives"]) {
      const std::string name = config_string(o, "name");
      if (!name.empty()) add_output(name, "");
    }
  // Past kMostResultColumns names, new ones are left to the journal: a driver naming new values in
  // every result would otherwise widen results.csv by that many columns per experiment (40,000
  // names a result made 400,011 columns after ten experiments), every row of it rewritten each
  // second.
  // A name a driver chose gets a column only when it cannot be mistaken for another: not the name
  // of a parameter or of a column of labloop's own (a value named "x1" or "status" made two
  // columns of that name, and a reader by header name got the driver's number), not empty, no
  // control characters, and not starting like a spreadsheet formula. Nor one that differs from a
  // parameter's, output's, header's or labloop's own name only in letter case or in characters
  // nobody sees ("X1", "x1<U+200B>" beside "x1": a person picks the wrong column); a name holding
  // an invisible character at all gets none, since what it looks like is not what it is. The
  // journal keeps them all.
  std::unordered_set<std::string> taken(record.parameter_names.begin(), record.parameter_names.end());
  for (std::string_view own : kResultsColumns) taken.emplace(own);
  // A header with its unit ("x1 [mL]") is as much taken as the bare name.
  for (size_t i = 0; i < record.parameter_names.size() && i < record.parameter_units.size(); ++i)
    if (!record.parameter_units[i].empty()) taken.insert(record.parameter_names[i] + " [" + record.parameter_units[i] + "]");
  for (size_t i = 0; i < record.output_names.size() && i < record.output_units.size(); ++i)
    if (!record.output_units[i].empty()) taken.insert(record.output_names[i] + " [" + record.output_units[i] + "]");
  if (!record.objective_unit.empty()) taken.insert(record.objective_name + " [" + record.objective_unit + "]");
  std::unordered_set<std::string> folded;
  for (const std::string& name : taken) folded.insert(name_fold(name));
  for (const std::string& name : record.output_names) folded.insert(name_fold(name));
  folded.insert(name_fold(record.objective_name));
  const auto column_worthy = [&](const std::string& name) {
    // = + - @ (and a leading blank before them) start a formula in a spreadsheet.
    if (name.empty() || taken.count(name) || std::string_view("=+-@ \t").find(name.front()) != std::string_view::npos) return false;
    if (std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; })) return false;
    if (has_invisible(name)) return false;
    // Nor a blank at either end (U+00A0 and U+3000 too): "y<U+00A0>" beside "y" looks like it,
    // and a reader that trims headers reads two columns "y".
    if (blank_length(name, 0) || blank_at_end(name)) return false;
    // The objective's or an output's own name is that column's value, not a look-alike.
    if (name == record.objective_name || seen.count(name)) return true;
    return !folded.count(name_fold(name));
  };
  const size_t most = record.output_names.size() + CampaignRecord::kMostResultColumns;
  for (const ExperimentRecord& x : record.experiments)
    if (x.values.is_object())
      for (const auto& item : x.values.items()) {
        if (!column_worthy(item.key())) continue;
        if (seen.count(item.key()) || record.output_names.size() >= most) continue;
        add_output(item.key(), "");
        // A later "Y2" beside a driver's "y2" is as confusing as beside a declared one.
        folded.insert(name_fold(item.key()));
      }
  const std::optional<std::string>& version = state.labloop_version();
  record.units_in_headers = !(version && version->rfind("0.1.", 0) == 0);
  if (config.is_object() && config.contains("stop") && config["stop"].is_object()) {
    const json& target = config["stop"].value("target", json());
    if (target.is_number()) record.target = target.get<double>();
  }
  return record;
}

CampaignRecord summarize(const std::vector<nlohmann::json>& events) {
  return campaign_record(CampaignState::fold(decode_events(events, "journal")));
}

void write_results_csv(const CampaignRecord& record, const std::filesystem::path& path) {
  const auto unit_of = [&](const std::vector<std::string>& units, size_t i) {
    return record.units_in_headers && i < units.size() ? units[i] : std::string();
  };
  std::string out = "experiment,instrument";
  for (size_t i = 0; i < record.parameter_names.size(); ++i)
    out += "," + csv_cell(with_unit(record.parameter_names[i], unit_of(record.parameter_units, i)));
  out += "," + csv_cell(with_unit(record.objective_name, record.units_in_headers ? record.objective_unit : ""));
  for (size_t i = 0; i < record.output_names.size(); ++i)
    out += "," + csv_cell(with_unit(record.output_names[i], unit_of(record.output_units, i)));
  out += ",status,error,proposed_at,dispatched_at,finished_at,proposed_by";
  // The goal columns (annotate_goals): absent unless the campaign has what they describe, so a
  // single-objective campaign without conditions keeps its columns byte for byte.
  const bool several = record.objectives.size() > 1;
  if (record.conditions) out += ",counts";
  if (several) out += ",pareto";
  if (several && record.hypervolume_column) out += ",hypervolume";
  out += '\n';
  const auto flag = [](const std::optional<bool>& b) { return b ? std::string(*b ? ",1" : ",0") : std::string(","); };
  for (const ExperimentRecord& x : record.experiments) {
    out += csv_field(csv_text(x.id)) + "," + csv_field(csv_text(x.instrument));
    for (const std::string& name : record.parameter_names) {
      out += ',';
      if (x.params.is_object() && x.params.contains(name)) out += csv_field(cell_text(x.params[name]));
    }
    out += ',';
    if (x.status == "ok" && x.objective) out += fmt::format("{}", *x.objective);
    for (const std::string& name : record.output_names) {
      out += ',';
      if (x.status == "ok" && x.values.is_object() && x.values.contains(name)) out += csv_field(cell_text(x.values[name]));
    }
    // Every text cell, not only the error: the proposer's and instrument's names come from a
    // config, and a journal can be written by hand; numbers are written as numbers above.
    out += "," + csv_field(csv_text(x.status)) + "," + csv_field(csv_message(x.error)) + "," + csv_field(csv_text(x.proposed_at)) + "," +
           csv_field(csv_text(x.dispatched_at)) + "," + csv_field(csv_text(x.finished_at)) + "," + csv_field(csv_text(x.proposed_by));
    if (record.conditions) out += flag(x.counts);
    if (several) out += flag(x.pareto);
    if (several && record.hypervolume_column) out += x.hypervolume ? fmt::format(",{}", *x.hypervolume) : ",";
    out += '\n';
  }
  write_file_atomically(path, out);
}

std::string convergence_svg(const CampaignRecord& record) {
  const std::string title =
      fmt::format("{}: {} {}", record.campaign, record.maximize ? "maximize" : "minimize", record.objective_name);

  struct Point {
    double x, y;  // y: the value as drawn, within ±kDrawable
    double value;  // as recorded: what the tooltip and the legend say
    const ExperimentRecord* experiment;
    bool counts;  // false: an outcome constraint or failure condition rules it out (never the best)
  };
  // Any finite result can arrive (up to ±1.8e308); the span of two such is infinite. Beyond ±1e300
  // a result is drawn at that edge as off scale: the axis stays finite, and the tooltip, the legend
  // and the file give the value recorded.
  constexpr double kDrawable = 1e300;
  std::vector<Point> points;
  std::vector<const ExperimentRecord*> failures;
  for (const ExperimentRecord& x : record.experiments) {
    if (x.status == "ok" && x.objective)
      points.push_back({double(x.completion_index), std::clamp(*x.objective, -kDrawable, kDrawable), *x.objective, &x, x.counts.value_or(true)});
    else if (x.status == "failed" && x.completion_index > 0)
      failures.push_back(&x);
  }
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });

  std::string svg = svg_open(title);
  if (points.empty()) {
    const std::string failed = failures.empty() ? "" : fmt::format(" ({} failed)", failures.size());
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no results yet{}</text>\n</svg>\n",
                       kWidth / 2, kHeight / 2, failed);
    return svg;
  }

  // x: from 0 to the last outcome (failures too), at least 5 wide so one or two results do not fill
  // the whole plot.
  double last_x = points.back().x;
  for (const ExperimentRecord* f : failures) last_x = std::max(last_x, double(f->completion_index));
  const Axis xa = nice_axis(0, std::max(last_x, 5.0), 1.0);

  // The best so far counts only results no condition rules out, as the journal's fold does: none
  // until the first counting result.
  // best_so_far is drawn (within ±kDrawable), best is the value recorded.
  std::vector<double> values;
  std::vector<std::optional<double>> best_so_far;
  std::optional<double> best;
  for (const Point& p : points) {
    values.push_back(p.y);
    if (p.counts) best = !best ? p.value : record.maximize ? std::max(*best, p.value) : std::min(*best, p.value);
    best_so_far.push_back(best ? std::optional<double>(std::clamp(*best, -kDrawable, kDrawable)) : std::nullopt);
  }
  // A target is drawn within the same limits as results.
  const std::optional<double> target =
      record.target ? std::optional<double>(std::clamp(*record.target, -kDrawable, kDrawable)) : std::nullopt;
  const ValueAxis ya = value_axis(values, best ? std::clamp(*best, -kDrawable, kDrawable) : values.front(), target);

  const auto sx = [&](double v) { return kLeft + (v - xa.lo) / (xa.hi - xa.lo) * kPlotW; };
  const auto sy_plot = [&](double p) { return kTop + kPlotH - (p - ya.lo) / (ya.hi - ya.lo) * kPlotH; };
  // Where a value goes, and which edge it is beyond (-1 below, +1 above, 0 on the axis).
  struct Place {
    double y;
    int beyond;
  };
  const auto place = [&](double v) -> Place {
    const double p = ya.to_plot(v);
    if (p < ya.lo) return {sy_plot(ya.lo), -1};
    if (p > ya.hi) return {sy_plot(ya.hi), 1};
    return {sy_plot(p), 0};
  };

  // Grid, tick marks and tick labels.
  for (const Tick& t : ya.ticks) {
    const double y = sy_plot(t.value);
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\"/>\n", kLeft, y,
                       kLeft + kPlotW, y, t.label.empty() ? "#f3f3f3" : "#e6e6e6");
    if (t.label.empty()) continue;
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n", kLeft - 5, y,
                       kLeft, y);
    svg += fmt::format("<text class=\"ytick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 8,
                       y + 4, xml_escape(t.label));
  }
  for (int i = 0; i < xa.count(); ++i) {
    const double x = sx(xa.tick(i));
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e6e6e6\"/>\n", x, kTop,
                       x, kTop + kPlotH);
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#333\"/>\n", x,
                       kTop + kPlotH, x, kTop + kPlotH + 5);
    svg += fmt::format("<text class=\"xtick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x,
                       kTop + kPlotH + 20, xml_escape(tick_label(xa, xa.tick(i))));
  }
  // The axis range in numbers, for programs (and tests) that read the plot back.
  svg += fmt::format("<desc>value axis: {} from {} to {}</desc>\n", ya.log ? "log10" : "linear",
                     ya.log ? std::pow(10.0, ya.lo) : ya.lo, ya.log ? std::pow(10.0, ya.hi) : ya.hi);
  // Axes and their titles.
  svg += fmt::format("<path d=\"M{:.1f} {:.1f}V{:.1f}H{:.1f}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft, kTop,
                     kTop + kPlotH, kLeft + kPlotW);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"14\">experiment (in order of completion)</text>\n",
                     kLeft + kPlotW / 2, kHeight - 14);
  svg += fmt::format(
      "<text transform=\"translate(20 {:.1f}) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
      kTop + kPlotH / 2,
      xml_escape(with_unit(record.objective_name, record.objective_unit) + (ya.log ? " (log scale)" : "")));

  // The target under everything else, labelled at its right end.
  if (target) {
    const double y = place(*target).y;
    svg += fmt::format(
        "<line class=\"target\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1.5\" "
        "stroke-dasharray=\"6 4\"/>\n",
        kLeft, y, kLeft + kPlotW, y, kTargetColor);
    // Labelled at the left, where the campaign had not come near it yet, and above the line: below
    // it, near the x axis, are the failures' crosses. A white outline keeps it legible over a dot.
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">"
        "target {:.6g}</text>\n",
        kLeft + 6, y - 6, kTargetColor, *record.target);
  }

  // Best so far as a step line: it holds its value until a better result arrives. A corner where
  // it improves, and its end: a vertex per result made 2.4 MB of line for 59,653 results.
  const size_t first = static_cast<size_t>(
      std::find_if(best_so_far.begin(), best_so_far.end(), [](const std::optional<double>& b) { return b.has_value(); }) - best_so_far.begin());
  if (first < points.size()) {
    std::string steps = fmt::format("{:.1f},{:.1f}", sx(points[first].x), place(*best_so_far[first]).y);
    for (size_t i = first + 1; i < points.size(); ++i) {
      if (best_so_far[i] == best_so_far[i - 1] && i + 1 < points.size()) continue;
      steps += fmt::format(" {:.1f},{:.1f}", sx(points[i].x), place(*best_so_far[i - 1]).y);
      if (best_so_far[i] != best_so_far[i - 1]) steps += fmt::format(" {:.1f},{:.1f}", sx(points[i].x), place(*best_so_far[i]).y);
    }
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>\n",
                       steps, kBestColor);
  }

  // Dots last so they stay on top; each carries a tooltip with its experiment id and value. A dot
  // that would land within a few pixels of one of its kind already drawn is not drawn: it would
  // hide under it (and its tooltip with it). A campaign of 59,653 results drew every one, 10.6 MB
  // of plot, which the console sent again at every refresh; results.csv keeps every result.
  int off_scale = 0, ruled_out = 0;
  std::set<std::tuple<int, long, long>> drawn;  // kind, cell of kDotCell pixels
  constexpr double kDotCell = 3;
  const auto covered = [&](int kind, double cx, double cy) {
    return !drawn.emplace(kind, std::lround(cx / kDotCell), std::lround(cy / kDotCell)).second;
  };
  std::size_t hidden = 0;
  // The best result ringed, so the eye finds it; its own dot always drawn.
  const auto best_it = std::find_if(points.begin(), points.end(), [&](const Point& p) { return p.counts && best && p.value == *best; });
  const Point* const best_dot = best_it == points.end() ? nullptr : &*best_it;
  for (const Point& p : points) {
    Place at = place(p.y);
    // A value clamped to be drawn lies beyond any axis, at the edge in its direction.
    if (p.value != p.y) at = p.value > p.y ? Place{sy_plot(ya.hi), 1} : Place{sy_plot(ya.lo), -1};
    if (&p != best_dot && covered(at.beyond != 0 ? 2 : p.counts ? 0 : 1, sx(p.x), at.y)) {
      ++hidden;
      off_scale += at.beyond != 0;
      ruled_out += !p.counts;
      continue;
    }
    const std::string tooltip = fmt::format("<title>{}: {}{}</title>", xml_escape(p.experiment->id), p.value, p.counts ? "" : " (ruled out by a condition)");
    if (at.beyond != 0) {
      ++off_scale;
      ruled_out += !p.counts;
      svg += off_scale_marker(sx(p.x), at.y, at.beyond > 0, "result off-scale", tooltip);
    } else if (!p.counts) {
      ++ruled_out;
      svg += fmt::format("<circle class=\"result ruled-out\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"white\" stroke=\"{}\" stroke-width=\"1.5\">{}</circle>\n",
                         sx(p.x), at.y, kFailedColor, tooltip);
    } else {
      svg += fmt::format("<circle class=\"result\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.75\">{}</circle>\n",
                         sx(p.x), at.y, kResultColor, tooltip);
    }
  }
  if (hidden > 0)
    svg += fmt::format("<desc>{} of the {} results are not drawn: each would lie under a dot drawn (results.csv holds every one)</desc>\n",
                       hidden, points.size());
  if (best_it != points.end())
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"7\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n",
                       sx(best_it->x), place(best_it->y).y, kBestColor);
  // Failures have no value: a cross on the x axis at the place of their outcome.
  for (const ExperimentRecord* f : failures)
    svg += cross(sx(f->completion_index), kTop + kPlotH, 5,
                 fmt::format("<title>{}: failed: {}</title>", xml_escape(f->id), xml_escape(f->error)));

  // Legend, in its own column.
  const double lx = kLeft + kPlotW + 24;
  double ly = kTop + 12;
  const auto entry = [&](const std::string& sample, const std::string& text) {
    svg += sample;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", lx + 30, ly + 4, xml_escape(text));
    ly += 24;
  };
  entry(fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.75\"/>\n", lx + 12, ly,
                    kResultColor),
        fmt::format("result ({})", points.size()));
  if (ruled_out > 0)
    entry(fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"white\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", lx + 12, ly,
                      kFailedColor),
          fmt::format("of which ruled out ({})", ruled_out));
  entry(fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2.5\"/>\n",
                    lx, ly, lx + 24, ly, kBestColor),
        "best so far");
  if (off_scale > 0)
    entry(off_scale_marker(lx + 12, ly, true, "legend", ""), fmt::format("off scale ({}), at edge", off_scale));
  if (!failures.empty()) entry(cross(lx + 12, ly, 5, ""), fmt::format("failed ({})", failures.size()));
  if (record.target)
    entry(fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1.5\" "
                      "stroke-dasharray=\"6 4\"/>\n",
                      lx, ly, lx + 24, ly, kTargetColor),
          fmt::format("target {:.6g}", *record.target));
  ly += 12;
  if (best_it == points.end()) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-weight=\"bold\">no counting result yet</text>\n</svg>\n", lx, ly);
    return svg;
  }
  const Point& best_point = *best_it;
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-weight=\"bold\">best {}</text>\n", lx, ly,
                     xml_escape(fmt::format("{:.6g}{}", best_point.value, record.objective_unit.empty() ? "" : " " + record.objective_unit)));
  // Ids can be long ("quickstart-2ff97af40c80-0027"): past the 28 characters the column holds, the
  // middle gives way (ASCII ids only: cutting elsewhere could split a UTF-8 character).
  const std::string& id = best_point.experiment->id;
  constexpr size_t kIdChars = 28;
  const bool ascii = std::all_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  const std::string shown =
      id.size() <= kIdChars || !ascii ? id : id.substr(0, 10) + "…" + id.substr(id.size() - (kIdChars - 11));
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\" font-size=\"11\">{}<title>{}</title></text>\n", lx,
                     ly + 18, xml_escape(shown), xml_escape(id));
  svg += "</svg>\n";
  return svg;
}

void write_convergence_svg(const CampaignRecord& record, const std::filesystem::path& path) {
  write_file_atomically(path, convergence_svg(record));
}


// ---- pareto.svg ------------------------------------------------------------------------------------
//
// The front is drawn as the boundary of the region it dominates: in "smaller is better" terms
// (each value times −1 for a maximized objective), front points sorted by the first objective
// give a staircase down and to the right, closed off at the reference point on both ends.

namespace {

constexpr const char* kFrontColor = "#ff7f0e";

enum class MarkerKind { counting, front, ruled_out };

struct ParetoMarker {
  const ExperimentRecord* experiment;
  std::vector<double> values;  // one per objective, clamped to what can be drawn
  MarkerKind kind;
  std::vector<double> recorded = {};  // the values as recorded, for the tooltip
};

// An axis over the given values, padded like the convergence plot's linear value axis.
Axis data_axis(std::vector<double> values) {
  return padded_axis(*std::min_element(values.begin(), values.end()), *std::max_element(values.begin(), values.end()));
}

std::string pareto_marker(const ParetoMarker& m, double x, double y, double r, const std::string& tooltip) {
  switch (m.kind) {
    case MarkerKind::front:
      return fmt::format("<circle class=\"result front\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{:.1f}\" fill=\"{}\" stroke=\"#333\" stroke-width=\"1\">{}</circle>\n",
                         x, y, r + 1, kFrontColor, tooltip);
    case MarkerKind::ruled_out:
      return fmt::format("<circle class=\"result ruled-out\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{:.1f}\" fill=\"white\" stroke=\"{}\" stroke-width=\"1.5\">{}</circle>\n",
                         x, y, r, kFailedColor, tooltip);
    case MarkerKind::counting: break;
  }
  return fmt::format("<circle class=\"result\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{:.1f}\" fill=\"{}\" fill-opacity=\"0.75\">{}</circle>\n", x,
                     y, r, kResultColor, tooltip);
}

std::string reference_marker(double x, double y, double r, const std::string& tooltip) {
  return fmt::format(
      "<path class=\"reference\" d=\"M{0:.1f} {1:.1f}H{2:.1f}M{3:.1f} {4:.1f}V{5:.1f}\" stroke=\"{6}\" stroke-width=\"2.5\">{7}</path>\n",
      x - r, y, x + r, x, y - r, y + r, kTargetColor, tooltip);
}

std::string objective_title(const ReportObjective& o) {
  return with_unit(o.name, o.unit) + (o.maximize ? " (maximize)" : " (minimize)");
}

// One 2-D panel: frame, grid, ticks (labels only where asked), markers, the reference point.
struct Panel {
  double left, top, width, height;
  const Axis* x;
  const Axis* y;
  double sx(double v) const { return left + (v - x->lo) / (x->hi - x->lo) * width; }
  double sy(double v) const { return top + height - (v - y->lo) / (y->hi - y->lo) * height; }
};

void draw_frame(std::string& svg, const Panel& p, bool x_labels, bool y_labels, int font_size) {
  for (int i = 0; i < p.y->count(); ++i) {
    const double y = p.sy(p.y->tick(i));
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e6e6e6\"/>\n", p.left, y, p.left + p.width, y);
    if (y_labels)
      svg += fmt::format("<text class=\"ytick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"{}\">{}</text>\n", p.left - 6, y + 4,
                         font_size, xml_escape(tick_label(*p.y, p.y->tick(i))));
  }
  for (int i = 0; i < p.x->count(); ++i) {
    const double x = p.sx(p.x->tick(i));
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e6e6e6\"/>\n", x, p.top, x, p.top + p.height);
    if (x_labels)
      svg += fmt::format("<text class=\"xtick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"{}\">{}</text>\n", x,
                         p.top + p.height + 16, font_size, xml_escape(tick_label(*p.x, p.x->tick(i))));
  }
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#333\"/>\n", p.left, p.top,
                     p.width, p.height);
}

}  // namespace

std::string pareto_svg(const CampaignRecord& record) {
  const size_t m = record.objectives.size();
  if (m < 2) throw std::invalid_argument("pareto_svg: the record has fewer than two objectives (annotate_goals first)");
  constexpr double kDrawable = 1e300;
  std::vector<ParetoMarker> markers;
  size_t failed = 0, front = 0, ruled_out = 0;
  for (const ExperimentRecord& x : record.experiments) {
    if (x.status == "failed") ++failed;
    if (x.status != "ok" || !x.values.is_object()) continue;
    ParetoMarker marker{&x, {}, x.pareto.value_or(false) ? MarkerKind::front : x.counts.value_or(true) ? MarkerKind::counting : MarkerKind::ruled_out};
    for (const ReportObjective& o : record.objectives) {
      const auto it = x.values.find(o.name);
      if (it == x.values.end() || !it->is_number() || !std::isfinite(it->get<double>())) break;
      marker.values.push_back(std::clamp(it->get<double>(), -kDrawable, kDrawable));
      marker.recorded.push_back(it->get<double>());
    }
    if (marker.values.size() != m) continue;  // cannot happen for a result that passed the campaign's checks
    front += marker.kind == MarkerKind::front;
    ruled_out += marker.kind == MarkerKind::ruled_out;
    markers.push_back(std::move(marker));
  }
  // Drawn in completion order, front points last so they stay on top.
  std::stable_sort(markers.begin(), markers.end(), [](const ParetoMarker& a, const ParetoMarker& b) {
    const bool af = a.kind == MarkerKind::front, bf = b.kind == MarkerKind::front;
    if (af != bf) return bf;
    return a.experiment->completion_index < b.experiment->completion_index;
  });
  const bool have_reference = record.reference.size() == m;
  std::vector<double> reference;
  if (have_reference)
    for (const double r : record.reference) reference.push_back(std::clamp(r, -kDrawable, kDrawable));

  const std::string title = fmt::format("{}: Pareto front", record.campaign);
  const bool grid = m > 2;
  // Grid geometry: (m−1)×(m−1) lower-triangular panels, the legend in a column to their right.
  const double cell = grid ? std::max(90.0, std::min(180.0, 540.0 / double(m - 1))) : 0, gap = grid ? 40 : 0;
  const double width = grid ? kLeft + double(m - 1) * (cell + gap) + kRight : kWidth;
  const double height = grid ? kTop + double(m - 1) * (cell + gap) + 40 : kHeight;
  const double plot_w = grid ? double(m - 1) * (cell + gap) - gap : kPlotW;
  std::string svg = svg_open(title, width, height, kLeft + plot_w / 2);
  if (markers.empty()) {
    const std::string failures = failed == 0 ? "" : fmt::format(" ({} failed)", failed);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no results yet{}</text>\n</svg>\n", width / 2,
                       height / 2, failures);
    return svg;
  }

  // One axis per objective, shared by every panel that shows it.
  std::vector<Axis> axes;
  for (size_t k = 0; k < m; ++k) {
    std::vector<double> values;
    for (const ParetoMarker& p : markers) values.push_back(p.values[k]);
    if (have_reference) values.push_back(reference[k]);
    axes.push_back(data_axis(std::move(values)));
  }
  std::string reference_text;
  if (have_reference)
    for (size_t k = 0; k < m; ++k)
      reference_text += fmt::format("{}{}={:.6g} ({})", k ? ", " : "", record.objectives[k].name, record.reference[k],
                                    record.reference_from_threshold[k] ? "threshold" : "inferred");
  svg += fmt::format("<desc>Pareto front: {} of {} results; reference point: {}</desc>\n", front, markers.size(),
                     have_reference ? reference_text : "none yet");

  const auto tooltip = [&](const ParetoMarker& p) {
    std::string text = xml_escape(p.experiment->id) + ":";
    for (size_t k = 0; k < m; ++k) text += fmt::format("{} {}={}", k ? "," : "", xml_escape(record.objectives[k].name), p.recorded[k]);
    if (p.kind == MarkerKind::ruled_out) text += " (ruled out by a condition)";
    return "<title>" + text + "</title>";
  };
  const std::string reference_tooltip = "<title>reference point: " + xml_escape(reference_text) + "</title>";

  if (!grid) {
    const Panel panel{kLeft, kTop, kPlotW, kPlotH, &axes[0], &axes[1]};
    draw_frame(svg, panel, true, true, 13);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n", kLeft + kPlotW / 2,
                       kHeight - 14, xml_escape(objective_title(record.objectives[0])));
    svg += fmt::format("<text transform=\"translate(20 {:.1f}) rotate(-90)\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
                       kTop + kPlotH / 2, xml_escape(objective_title(record.objectives[1])));
    // The staircase, in "smaller is better" terms and back.
    if (have_reference && front > 0) {
      const double s0 = record.objectives[0].maximize ? -1 : 1, s1 = record.objectives[1].maximize ? -1 : 1;
      std::vector<std::pair<double, double>> steps;  // oriented
      for (const ParetoMarker& p : markers)
        if (p.kind == MarkerKind::front) steps.emplace_back(s0 * p.values[0], s1 * p.values[1]);
      std::sort(steps.begin(), steps.end());
      steps.erase(std::unique(steps.begin(), steps.end()), steps.end());  // tied results: one corner
      const auto at = [&](double o0, double o1) { return fmt::format("{:.1f},{:.1f}", panel.sx(s0 * o0), panel.sy(s1 * o1)); };
      // 2k + 1 vertices for k distinct front points: down from the reference, across, down, …,
      // across to the reference; an end is left open when the end point is beyond the reference
      // (the line would double back).
      std::string points;
      const double r0 = s0 * reference[0], r1 = s1 * reference[1];
      if (r1 > steps.front().second) points = at(steps.front().first, r1) + " ";
      for (size_t i = 0; i < steps.size(); ++i) {
        if (i > 0) points += at(steps[i].first, steps[i - 1].second) + " ";
        points += at(steps[i].first, steps[i].second);
        if (i + 1 < steps.size()) points += " ";
      }
      if (r0 > steps.back().first) points += " " + at(r0, steps.back().second);
      svg += fmt::format("<polyline class=\"front\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n",
                         points, kFrontColor);
    }
    if (have_reference) svg += reference_marker(panel.sx(reference[0]), panel.sy(reference[1]), 7, reference_tooltip);
    for (const ParetoMarker& p : markers) svg += pareto_marker(p, panel.sx(p.values[0]), panel.sy(p.values[1]), 4, tooltip(p));
  } else {
    for (size_t row = 0; row + 1 < m; ++row) {
      for (size_t col = 0; col <= row; ++col) {
        const size_t xi = col, yi = row + 1;
        const Panel panel{kLeft + double(col) * (cell + gap), kTop + double(row) * (cell + gap), cell, cell, &axes[xi], &axes[yi]};
        const bool bottom = row + 2 == m, left = col == 0;
        svg += fmt::format("<g class=\"panel\" data-x=\"{}\" data-y=\"{}\">\n", xml_escape(record.objectives[xi].name),
                           xml_escape(record.objectives[yi].name));
        draw_frame(svg, panel, bottom, left, 10);
        if (bottom)
          svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n", panel.left + cell / 2,
                             panel.top + cell + 32, xml_escape(objective_title(record.objectives[xi])));
        if (left)
          svg += fmt::format("<text transform=\"translate(22 {:.1f}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
                             panel.top + cell / 2, xml_escape(objective_title(record.objectives[yi])));
        if (have_reference) svg += reference_marker(panel.sx(reference[xi]), panel.sy(reference[yi]), 5, reference_tooltip);
        for (const ParetoMarker& p : markers) svg += pareto_marker(p, panel.sx(p.values[xi]), panel.sy(p.values[yi]), 3, tooltip(p));
        svg += "</g>\n";
      }
    }
  }

  // Legend, in its own column.
  const double lx = kLeft + plot_w + 24;
  double ly = kTop + 12;
  const auto entry = [&](const std::string& sample, const std::string& text) {
    svg += sample;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", lx + 30, ly + 4, xml_escape(text));
    ly += 24;
  };
  const size_t counting = markers.size() - front - ruled_out;
  entry(fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\" stroke=\"#333\"/>\n", lx + 12, ly, kFrontColor),
        fmt::format("Pareto set ({})", front));
  if (counting > 0)
    entry(fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.75\"/>\n", lx + 12, ly, kResultColor),
          fmt::format("dominated ({})", counting));
  if (ruled_out > 0)
    entry(fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"white\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", lx + 12, ly,
                      kFailedColor),
          fmt::format("ruled out ({})", ruled_out));
  if (!grid && have_reference && front > 0)
    entry(fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\"/>\n", lx, ly, lx + 24,
                      ly, kFrontColor),
          "Pareto front");
  if (failed > 0) entry("", fmt::format("failed: {} (no values)", failed));
  if (have_reference) {
    entry(reference_marker(lx + 12, ly, 6, ""), "reference point");
    // Where each entry comes from, one small line each: the legend column is narrow.
    ly -= 8;
    for (size_t k = 0; k < m; ++k, ly += 16)
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\" font-size=\"11\">{}</text>\n", lx + 30, ly + 4,
                         xml_escape(fmt::format("{} {:.4g} ({})", record.objectives[k].name, record.reference[k],
                                                record.reference_from_threshold[k] ? "threshold" : "inferred")));
  }
  svg += "</svg>\n";
  return svg;
}

void write_pareto_svg(const CampaignRecord& record, const std::filesystem::path& path) { write_file_atomically(path, pareto_svg(record)); }

}  // namespace labloop
