#include "progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <utility>
#include <variant>

#include "labloop/journal/events.hpp"

namespace labloop::cli {

std::string format_duration(double seconds) {
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

int column_width(char32_t cp) {
  const auto in = [cp](char32_t low, char32_t high) { return cp >= low && cp <= high; };
  // Combining marks and zero-width characters take no column of their own.
  if (in(0x0300, 0x036F) || in(0x0483, 0x0489) || in(0x0591, 0x05BD) || in(0x0610, 0x061A) || in(0x064B, 0x065F) ||
      cp == 0x0E31 || in(0x0E34, 0x0E3A) || in(0x1AB0, 0x1AFF) || in(0x1DC0, 0x1DFF) || in(0x200B, 0x200F) ||
      in(0x2028, 0x202E) || in(0x2060, 0x2064) || in(0x20D0, 0x20FF) || in(0xFE00, 0xFE0F) || in(0xFE20, 0xFE2F) || cp == 0xFEFF ||
      in(0xE0000, 0xE0FFF))
    return 0;
  // East Asian wide and fullwidth (Unicode's EastAsianWidth W and F) and emoji shown as pictures.
  if (in(0x1100, 0x115F) || in(0x231A, 0x231B) || in(0x2329, 0x232A) || in(0x23E9, 0x23EC) || cp == 0x23F0 || cp == 0x23F3 ||
      in(0x25FD, 0x25FE) || in(0x2614, 0x2615) || in(0x2648, 0x2653) || cp == 0x267F || cp == 0x2693 || cp == 0x26A1 ||
      in(0x26AA, 0x26AB) || in(0x26BD, 0x26BE) || in(0x26C4, 0x26C5) || cp == 0x26CE || cp == 0x26D4 || cp == 0x26EA ||
      in(0x26F2, 0x26F3) || cp == 0x26F5 || cp == 0x26FA || cp == 0x26FD || cp == 0x2705 || in(0x270A, 0x270B) || cp == 0x2728 ||
      cp == 0x274C || cp == 0x274E || in(0x2753, 0x2755) || cp == 0x2757 || in(0x2795, 0x2797) || cp == 0x27B0 || cp == 0x27BF ||
      in(0x2B1B, 0x2B1C) || cp == 0x2B50 || cp == 0x2B55 || in(0x2E80, 0x303E) || in(0x3041, 0x33FF) || in(0x3400, 0x4DBF) ||
      in(0x4E00, 0x9FFF) || in(0xA000, 0xA4CF) || in(0xA960, 0xA97F) || in(0xAC00, 0xD7A3) || in(0xF900, 0xFAFF) || in(0xFE10, 0xFE19) ||
      in(0xFE30, 0xFE6F) || in(0xFF00, 0xFF60) || in(0xFFE0, 0xFFE6) || in(0x16FE0, 0x16FE4) || in(0x17000, 0x18CFF) ||
      in(0x1B000, 0x1B2FF) || cp == 0x1F004 || cp == 0x1F0CF || cp == 0x1F18E || in(0x1F191, 0x1F19A) || in(0x1F200, 0x1F251) ||
      in(0x1F300, 0x1F320) || in(0x1F32D, 0x1F335) || in(0x1F337, 0x1F37C) || in(0x1F37E, 0x1F393) || in(0x1F3A0, 0x1F3CA) ||
      in(0x1F3CF, 0x1F3D3) || in(0x1F3E0, 0x1F3F0) || cp == 0x1F3F4 || in(0x1F3F8, 0x1F43E) || cp == 0x1F440 || in(0x1F442, 0x1F4FC) ||
      in(0x1F4FF, 0x1F53D) || in(0x1F54B, 0x1F54E) || in(0x1F550, 0x1F567) || cp == 0x1F57A || in(0x1F595, 0x1F596) || cp == 0x1F5A4 ||
      in(0x1F5FB, 0x1F64F) || in(0x1F680, 0x1F6C5) || cp == 0x1F6CC || in(0x1F6D0, 0x1F6D2) || in(0x1F6D5, 0x1F6D7) ||
      in(0x1F6DC, 0x1F6DF) || in(0x1F6EB, 0x1F6EC) || in(0x1F6F4, 0x1F6FC) || in(0x1F7E0, 0x1F7EB) || cp == 0x1F7F0 ||
      in(0x1F90C, 0x1F93A) || in(0x1F93C, 0x1F945) || in(0x1F947, 0x1F9FF) || in(0x1FA70, 0x1FAFF) || in(0x20000, 0x2FFFD) ||
      in(0x30000, 0x3FFFD))
    return 2;
  return 1;
}

namespace {

// The code point at text[i] and its length in bytes; a byte that starts no UTF-8 character is taken
// alone, as one column (printable() has shown it as \xNN before it gets here).
std::pair<char32_t, std::size_t> code_point_at(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (n == 1 || i + n > text.size()) return {lead, 1};
  char32_t cp = lead & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) return {lead, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, n};
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto [cp, n] = code_point_at(text, i);
    width += static_cast<std::size_t>(column_width(cp));
    i += n;
  }
  return width;
}

std::string fit_to_width(const std::string& text, std::size_t columns) {
  if (columns == 0) return {};
  if (display_width(text) <= columns) return text;
  // Cut where the text and "…" (one column) fit; a combining mark stays with its letter.
  std::size_t width = 0, i = 0;
  while (i < text.size()) {
    const auto [cp, n] = code_point_at(text, i);
    const auto w = static_cast<std::size_t>(column_width(cp));
    if (width + w + 1 > columns) break;
    width += w;
    i += n;
  }
  return text.substr(0, i) + "…";
}

std::string fit_status_line(const std::string& head, const std::string& tail, std::size_t columns) {
  const std::size_t tail_width = display_width(tail);
  // The head keeps a few columns ("[3/20] …") before the tail is cut instead.
  if (tail_width + 8 > columns) return fit_to_width(head + tail, columns);
  return fit_to_width(head, columns - tail_width) + tail;
}

namespace {

// The terminal's width now (it may be resized while a campaign runs); 80 when it cannot be known.
std::size_t terminal_columns(std::FILE* out) {
  winsize size{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"); columns && std::atoi(columns) > 0) return static_cast<std::size_t>(std::atoi(columns));
  return 80;
}

// A setting in a line: its first kShownParameters values. 300 parameters printed 300 values on
// every progress line and twice in the summary; results.csv holds them all.
constexpr std::size_t kShownParameters = 10;

std::string shown_value(const nlohmann::json& value) {
  return value.is_number_float() ? fmt::format("{:.4g}", value.get<double>()) : value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, std::string objective_name, std::vector<std::string> other_objectives,
                                 std::vector<std::string> parameter_order, std::size_t instruments)
    : out_(out),
      terminal_(terminal),
      objective_(std::move(objective_name)),
      other_objectives_(std::move(other_objectives)),
      parameter_order_(std::move(parameter_order)),
      instruments_(instruments),
      writer_(out, terminal) {}

std::string ProgressDisplay::params_text(const nlohmann::json& params) const {
  std::vector<std::pair<std::string, const nlohmann::json*>> ordered;
  ordered.reserve(params.size());
  for (const std::string& name : parameter_order_)
    if (const auto it = params.find(name); it != params.end()) ordered.emplace_back(name, &*it);
  if (ordered.size() < params.size())
    for (const auto& [name, value] : params.items())
      if (std::find(parameter_order_.begin(), parameter_order_.end(), name) == parameter_order_.end()) ordered.emplace_back(name, &value);
  std::string out;
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    if (i == kShownParameters) {
      out += fmt::format(" and {} more", ordered.size() - i);
      break;
    }
    if (i > 0) out += ", ";
    out += ordered[i].first + "=" + shown_value(*ordered[i].second);
  }
  return out;
}

ProgressDisplay::~ProgressDisplay() {
  if (terminal_ && status_shown_) writer_.line("\n");
}

std::string ProgressDisplay::best_text(const CampaignStatus& status) const {
  // Several objectives have no single best: the Pareto set stands in for it.
  if (status.pareto_size) {
    if (*status.pareto_size == 0) return "Pareto set: no counting result yet";
    return fmt::format("Pareto set: {} result{}{}", *status.pareto_size, *status.pareto_size == 1 ? "" : "s",
                       status.hypervolume ? fmt::format(", hypervolume {:.6g}", *status.hypervolume) : "");
  }
  if (!status.best) return "no result yet";
  return fmt::format("best {}={:.6g} ({}) at {}", objective_, *status.best, params_text(status.best_params), status.best_experiment);
}

void ProgressDisplay::line(const std::string& text) {
  writer_.line((terminal_ && status_shown_ ? "\r\033[K" : "") + printable(text) + "\n");
  status_shown_ = false;
}

void ProgressDisplay::redraw(const CampaignStatus& s) {
  const std::string head = fmt::format("[{}/{}] {}", s.done, s.budget, best_text(s));
  const std::string tail = fmt::format(" | {} running{} | {}{}{}", s.in_flight, s.overdue > 0 ? fmt::format(" ({} overdue)", s.overdue) : "",
                                       format_duration(s.elapsed_s), s.eta_s ? " (ETA " + format_duration(*s.eta_s) + ")" : "",
                                       s.planner_thinking ? " | planner thinking…" : "");
  // One column spare: some terminals wrap when the last column is written. The best result's part
  // gives way first: the time and the ETA are what a glance at the line is for.
  writer_.redraw("\r\033[K" + fit_status_line(printable(head), printable(tail), terminal_columns(out_) - 1));
  status_shown_ = true;
}

void ProgressDisplay::on_event(const JournalEvent& event, const CampaignStatus& status) {
  saw_events_ = true;
  switch (event.kind()) {
    case EventKind::instrument_ready: {
      const auto& e = std::get<InstrumentReadyEvent>(event.body);
      line(fmt::format("instrument {} ready: {} {} (capacity {})", e.instrument, fit_to_width(e.driver, kMostShownChars),
                       fit_to_width(e.version, kMostShownChars), e.capacity));
      break;
    }
    case EventKind::failed: {
      const auto& e = std::get<FailedEvent>(event.body);
      // Never dispatched (a stop cancelled it while it waited): no instrument to name.
      line(e.instrument.empty() ? fmt::format("{} failed: {}", e.experiment, fit_to_width(e.error, kMostShownChars))
                                : fmt::format("{} failed on {}: {}", e.experiment, e.instrument, fit_to_width(e.error, kMostShownChars)));
      break;
    }
    case EventKind::planner_note:
      line(fmt::format("planner: {}", std::get<PlannerNoteEvent>(event.body).note));
      break;
    case EventKind::instrument_held: {
      const auto& e = std::get<InstrumentHeldEvent>(event.body);
      line(fmt::format("instrument {} is this campaign's alone (exclusive control) until {}, renewed while it runs", e.instrument,
                       e.until.value_or("its driver's lease ends")));
      break;
    }
    case EventKind::instrument_released: {
      const auto& e = std::get<InstrumentReleasedEvent>(event.body);
      line(fmt::format("instrument {} released: free for the next campaign", e.instrument));
      break;
    }
    case EventKind::instrument_lost: {
      const auto& e = std::get<InstrumentLostEvent>(event.body);
      line(fmt::format("instrument {} lost: {}; waiting up to {:g} s for it to come back", e.instrument, e.reason, e.wait_s));
      break;
    }
    case EventKind::instrument_reconnected: {
      const auto& e = std::get<InstrumentReconnectedEvent>(event.body);
      line(fmt::format("instrument {} answered again after {:.1f} s; its open experiments are re-sent by id once its welcome is checked", e.instrument, e.after_s));
      break;
    }
    case EventKind::instrument_restarted: {
      const auto& e = std::get<InstrumentRestartedEvent>(event.body);
      line(fmt::format("instrument {}: its simulator exited (status {}) and was restarted; open experiments are re-queried by id",
                       e.instrument, e.exit_status));
      break;
    }
    case EventKind::instrument_quarantined: {
      const auto& e = std::get<InstrumentQuarantinedEvent>(event.body);
      quarantined_.insert(e.instrument);
      // "Carries on with the others" was said of the only instrument too.
      const bool none_left = instruments_ > 0 && quarantined_.size() >= instruments_;
      line(fmt::format("instrument {} quarantined: {}; {}", e.instrument, fit_to_width(e.reason, kMostShownChars),
                       none_left ? "no instrument is left, so the campaign stops" : "the campaign carries on with the others"));
      break;
    }
    case EventKind::campaign_resumed: {
      const auto& e = std::get<CampaignResumedEvent>(event.body);
      line(fmt::format("campaign resumed: {} experiment(s) re-sent by id, {} waiting; planner rebuilt from {} journaled asks{}",
                       e.in_flight.size(), e.waiting.size(), e.replayed_asks,
                       e.reproduced ? " (reproduced exactly)" : " (with differences: see planner_note)"));
      break;
    }
    case EventKind::result: {
      if (terminal_) break;  // the status line shows it
      const auto& e = std::get<ResultEvent>(event.body);
      std::string measured = fmt::format("{}={:.6g}", objective_, e.objective.value_or(std::nan("")));
      for (const std::string& name : other_objectives_) {
        const auto it = e.values.is_object() ? e.values.find(name) : e.values.end();
        if (e.values.is_object() && it != e.values.end() && it->is_number()) measured += fmt::format(", {}={:.6g}", name, it->get<double>());
      }
      line(fmt::format("[{}/{}] {} on {}: {} | {} | {}", status.done, status.budget, e.experiment, e.instrument, measured, best_text(status),
                       format_duration(status.elapsed_s)));
      break;
    }
    case EventKind::campaign_started: {
      if (terminal_) break;
      const auto& e = std::get<CampaignStartedEvent>(event.body);
      line(fmt::format("campaign {} started; journal in {}", e.campaign, e.output.value_or("")));
      break;
    }
    default:
      break;
  }
  if (terminal_ && event.kind() != EventKind::campaign_finished) redraw(status);
}

void ProgressDisplay::on_status(const CampaignStatus& status) {
  if (terminal_) redraw(status);
}

void ProgressDisplay::on_log(const std::string& text) { line("note: " + fit_to_width(text, kMostShownChars)); }

void ProgressDisplay::print_summary(const CampaignSummary& summary) {
  // The campaign is over: waiting for the reader holds nothing up now, and no line of the summary
  // may be left out for want of room.
  writer_.flush();
  const CampaignStatus& s = summary.status;
  // A result meeting the failure condition is a failure to the planner and to the person reading
  // this, though its experiment gave a result: "(0 failed)" beside 3 of them misled.
  const std::string condition =
      s.met_failure_condition == 0 ? "" : fmt::format(", {} more met the failure condition", s.met_failure_condition);
  line(fmt::format("campaign finished: {} — {} experiment{} ({} failed{}) in {}", summary.reason, s.done, s.done == 1 ? "" : "s", s.failed, condition,
                   format_duration(s.elapsed_s)));
  if (summary.pareto) {
    print_pareto_set(*summary.pareto);
  } else if (s.best) {
    line(fmt::format("{}", best_text(s)));
    // With noisy measurements the best measured value may be luck: say what the model believes.
    if (summary.recommended && summary.recommended->experiment != s.best_experiment)
      line(fmt::format("recommended {} at {} ({}={:.6g} measured): the planner's model believes it best among those run; the best "
                       "measurement may be partly noise",
                       summary.recommended->experiment, params_text(summary.recommended->params), objective_, summary.recommended->measured));
    else if (summary.recommended)
      line("the planner's model agrees: it also believes that setting best among those run");
  }
  line(fmt::format("outputs: {0}/journal.jsonl  {0}/results.csv  {0}/convergence.svg{1}", summary.output.string(),
                   summary.pareto ? fmt::format("  {}/pareto.svg", summary.output.string()) : ""));
  writer_.flush();
}

void ProgressDisplay::print_pareto_set(const ParetoSummary& pareto) {
  const size_t n = pareto.members.size();
  if (n == 0) {
    line("Pareto set: empty (no result counts yet)");
    return;
  }
  line(fmt::format("Pareto set: {} result{}{}", n, n == 1 ? "" : "s",
                   pareto.hypervolume ? fmt::format(", hypervolume {:.6g}", *pareto.hypervolume) : ""));
  // A long list scrolls the rest of the run out of view; results.csv has every member.
  constexpr size_t kShown = 20;
  for (size_t i = 0; i < std::min(n, kShown); ++i) {
    const ParetoMember& member = pareto.members[i];
    std::string values;
    for (size_t k = 0; k < pareto.objectives.size() && k < member.objectives.size(); ++k) {
      const ReportObjective& o = pareto.objectives[k];
      values += fmt::format("{}{}={:.6g}{}", k ? ", " : "", o.name, member.objectives[k], o.unit.empty() ? "" : " " + o.unit);
    }
    line(fmt::format("  {}: {} ({})", member.experiment, values, params_text(member.params)));
  }
  if (n > kShown) line(fmt::format("  … and {} more (results.csv: pareto = 1)", n - kShown));
}

}  // namespace labloop::cli
