#include "progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <variant>

#include "labloop/journal/events.hpp"

namespace labloop::cli {

std::string format_duration(double seconds) {
  const long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string fit_to_width(const std::string& text, std::size_t columns) {
  if (columns == 0) return {};
  std::size_t count = 0, cut = std::string::npos;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
    if (count + 1 == columns) cut = i;  // where "…" goes if the text is too long
    if (++count > columns) return text.substr(0, cut) + "…";
  }
  return text;
}

namespace {

// The terminal's width now (it may be resized while a campaign runs); 80 when it cannot be known.
std::size_t terminal_columns(std::FILE* out) {
  winsize size{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"); columns && std::atoi(columns) > 0) return static_cast<std::size_t>(std::atoi(columns));
  return 80;
}

std::string params_text(const nlohmann::json& params) {
  std::string out;
  for (const auto& [name, value] : params.items()) {
    if (!out.empty()) out += ", ";
    out += name + "=" + (value.is_number_float() ? fmt::format("{:.4g}", value.get<double>()) : value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, std::string objective_name, std::vector<std::string> other_objectives)
    : out_(out), terminal_(terminal), objective_(std::move(objective_name)), other_objectives_(std::move(other_objectives)) {}

ProgressDisplay::~ProgressDisplay() {
  if (terminal_ && status_shown_) std::fputs("\n", out_);
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
  if (terminal_ && status_shown_) std::fputs("\r\033[K", out_);
  std::fputs((printable(text) + "\n").c_str(), out_);
  status_shown_ = false;
  std::fflush(out_);
}

void ProgressDisplay::redraw(const CampaignStatus& s) {
  std::string text = fmt::format("[{}/{}] {} | {} running{} | {}{}{}", s.done, s.budget, best_text(s), s.in_flight,
                                 s.overdue > 0 ? fmt::format(" ({} overdue)", s.overdue) : "",
                                 format_duration(s.elapsed_s), s.eta_s ? " (ETA " + format_duration(*s.eta_s) + ")" : "",
                                 s.planner_thinking ? " | planner thinking…" : "");
  // One column spare: some terminals wrap when the last column is written.
  std::fputs(("\r\033[K" + fit_to_width(printable(text), terminal_columns(out_) - 1)).c_str(), out_);
  std::fflush(out_);
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
      line(fmt::format("instrument {} quarantined: {}; the campaign carries on with the others", e.instrument, fit_to_width(e.reason, kMostShownChars)));
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
  const CampaignStatus& s = summary.status;
  line(fmt::format("campaign finished: {} — {} experiments ({} failed) in {}", summary.reason, s.done, s.failed, format_duration(s.elapsed_s)));
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
