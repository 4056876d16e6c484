// Reports derived from journal events: results.csv and convergence.svg.
//
// Both files are rewritten whole after events arrive, while people (and spreadsheet programs) may be
// watching them, so each is written to a hidden temporary sibling, fsync()ed, then rename()d over the
// target: rename within one directory is atomic, so a reader sees the old file or the new one.
//
// The SVG is written by hand to keep the library free of plotting dependencies. Axis ticks use the
// 1-2-5 sequence (step = m·10^e, m ∈ {1, 2, 5}), picking the step whose tick count is closest to 5
// within 4–6, so labels are short and evenly spaced.
#include "labloop/journal/report.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fmt/core.h>
#include <utility>

#include "labloop/core/error.hpp"
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
  int fd;
  do fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  while (fd < 0 && errno == EINTR);
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

// ---- SVG -------------------------------------------------------------------------------------------

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
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

std::string tick_label(const Axis& axis, double v) {
  if (std::abs(v) < axis.step * 1e-9) v = 0;  // no "-0" from rounding
  if (axis.exponent < -6 || axis.exponent > 9) return fmt::format("{:g}", v);
  return fmt::format("{:.{}f}", v, axis.decimals);
}

constexpr double kWidth = 640, kHeight = 400;
constexpr double kLeft = 76, kRight = 24, kTop = 44, kBottom = 56;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

std::string svg_open(const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\">{3}</text>\n",
      kWidth, kHeight, kWidth / 2, xml_escape(title));
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
  return record;
}

CampaignRecord summarize(const std::vector<nlohmann::json>& events) {
  return campaign_record(CampaignState::fold(decode_events(events, "journal")));
}

void write_results_csv(const CampaignRecord& record, const std::filesystem::path& path) {
  std::string out = "experiment,instrument";
  for (const std::string& name : record.parameter_names) out += "," + csv_field(name);
  out += "," + csv_field(record.objective_name) + ",status,error,proposed_at,dispatched_at,finished_at\n";
  for (const ExperimentRecord& x : record.experiments) {
    out += csv_field(x.id) + "," + csv_field(x.instrument);
    for (const std::string& name : record.parameter_names) {
      out += ',';
      if (x.params.is_object() && x.params.contains(name)) out += csv_field(format_value(x.params[name]));
    }
    out += ',';
    if (x.status == "ok" && x.objective) out += fmt::format("{}", *x.objective);
    out += "," + csv_field(x.status) + "," + csv_field(x.error) + "," + csv_field(x.proposed_at) + "," +
           csv_field(x.dispatched_at) + "," + csv_field(x.finished_at) + "\n";
  }
  write_file_atomically(path, out);
}

void write_convergence_svg(const CampaignRecord& record, const std::filesystem::path& path) {
  const std::string title =
      fmt::format("{}: {} {}", record.campaign, record.maximize ? "maximize" : "minimize", record.objective_name);

  struct Point {
    double x, y;
    const ExperimentRecord* experiment;
  };
  // Any finite result can arrive (up to ±1.8e308); the span of two such is infinite. Beyond ±1e300
  // a result is drawn at that edge: the axis stays finite and the file still records the value.
  constexpr double kDrawable = 1e300;
  std::vector<Point> points;
  for (const ExperimentRecord& x : record.experiments)
    if (x.status == "ok" && x.objective)
      points.push_back({double(x.completion_index), std::clamp(*x.objective, -kDrawable, kDrawable), &x});
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });

  std::string svg = svg_open(title);
  if (points.empty()) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no results yet</text>\n</svg>\n",
                       kWidth / 2, kHeight / 2);
    write_file_atomically(path, svg);
    return;
  }

  // x: from 0, at least 5 wide so one or two results do not fill the whole plot.
  const Axis xa = nice_axis(0, std::max(points.back().x, 5.0), 1.0);
  double ylo = points.front().y, yhi = ylo;
  for (const Point& p : points) ylo = std::min(ylo, p.y), yhi = std::max(yhi, p.y);
  if (yhi - ylo <= std::abs(yhi) * 1e-12 || !std::isfinite(yhi - ylo)) {
    // One value (or all equal): give it room instead of dividing by a zero range.
    const double pad = ylo == 0 ? 1.0 : std::abs(ylo) * 0.1;
    ylo -= pad, yhi += pad;
  } else {
    const double pad = (yhi - ylo) * 0.04;  // keep dots off the frame
    ylo -= pad, yhi += pad;
  }
  const Axis ya = nice_axis(ylo, yhi, 0.0);
  const auto sx = [&](double v) { return kLeft + (v - xa.lo) / (xa.hi - xa.lo) * kPlotW; };
  const auto sy = [&](double v) { return kTop + kPlotH - (v - ya.lo) / (ya.hi - ya.lo) * kPlotH; };

  // Grid and tick labels.
  for (int i = 0; i < ya.count(); ++i) {
    const double y = sy(ya.tick(i));
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e6e6e6\"/>\n", kLeft, y,
                       kLeft + kPlotW, y);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 8, y + 4,
                       xml_escape(tick_label(ya, ya.tick(i))));
  }
  for (int i = 0; i < xa.count(); ++i) {
    const double x = sx(xa.tick(i));
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e6e6e6\"/>\n", x, kTop,
                       x, kTop + kPlotH);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x, kTop + kPlotH + 18,
                       xml_escape(tick_label(xa, xa.tick(i))));
  }
  // Axes and their titles.
  svg += fmt::format("<path d=\"M{:.1f} {:.1f}V{:.1f}H{:.1f}\" fill=\"none\" stroke=\"#333\"/>\n", kLeft, kTop,
                     kTop + kPlotH, kLeft + kPlotW);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">experiment</text>\n",
                     kLeft + kPlotW / 2, kHeight - 14);
  svg += fmt::format("<text transform=\"translate(18 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     kTop + kPlotH / 2, xml_escape(record.objective_name + " (best so far)"));

  // Best so far as a step line: it holds its value until a better result arrives.
  std::string steps;
  double best = points.front().y;
  steps += fmt::format("{:.1f},{:.1f}", sx(points.front().x), sy(best));
  for (size_t i = 1; i < points.size(); ++i) {
    const Point& p = points[i];
    steps += fmt::format(" {:.1f},{:.1f}", sx(p.x), sy(best));
    best = record.maximize ? std::max(best, p.y) : std::min(best, p.y);
    steps += fmt::format(" {:.1f},{:.1f}", sx(p.x), sy(best));
  }
  svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n", steps);

  // Dots last so they stay on top; each carries a tooltip with its experiment id and value.
  for (const Point& p : points)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"#888\"><title>{}: {}</title></circle>\n",
                       sx(p.x), sy(p.y), xml_escape(p.experiment->id), p.y);
  svg += "</svg>\n";
  write_file_atomically(path, svg);
}

}  // namespace labloop
