#include "progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>

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

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, std::string objective_name)
    : out_(out), terminal_(terminal), objective_(std::move(objective_name)) {}

ProgressDisplay::~ProgressDisplay() {
  if (terminal_ && status_shown_) std::fputs("\n", out_);
}

std::string ProgressDisplay::best_text(const CampaignStatus& status) const {
  if (!status.best) return "no result yet";
  return fmt::format("best {}={:.6g} ({}) at {}", objective_, *status.best, params_text(status.best_params), status.best_experiment);
}

void ProgressDisplay::line(const std::string& text) {
  if (terminal_ && status_shown_) std::fputs("\r\033[K", out_);
  std::fputs((text + "\n").c_str(), out_);
  status_shown_ = false;
  std::fflush(out_);
}

void ProgressDisplay::redraw(const CampaignStatus& s) {
  std::string text = fmt::format("[{}/{}] {} | {} running{} | {}{}{}", s.done, s.budget, best_text(s), s.in_flight,
                                 s.overdue > 0 ? fmt::format(" ({} overdue)", s.overdue) : "",
                                 format_duration(s.elapsed_s), s.eta_s ? " (ETA " + format_duration(*s.eta_s) + ")" : "",
                                 s.planner_thinking ? " | planner thinking…" : "");
  // One column spare: some terminals wrap when the last column is written.
  std::fputs(("\r\033[K" + fit_to_width(text, terminal_columns(out_) - 1)).c_str(), out_);
  std::fflush(out_);
  status_shown_ = true;
}

void ProgressDisplay::on_event(const nlohmann::json& event, const CampaignStatus& status) {
  const std::string kind = event.value("event", "");
  if (kind == "instrument_ready") {
    line(fmt::format("instrument {} ready: {} {} (capacity {})", event["instrument"].get<std::string>(), event["driver"].get<std::string>(),
                     event["version"].get<std::string>(), event["capacity"].get<int>()));
  } else if (kind == "failed") {
    line(fmt::format("{} failed on {}: {}", event["experiment"].get<std::string>(), event["instrument"].get<std::string>(),
                     event["error"].get<std::string>()));
  } else if (kind == "planner_note") {
    line(fmt::format("planner: {}", event["note"].get<std::string>()));
  } else if (kind == "instrument_lost") {
    line(fmt::format("instrument {} lost: {}; waiting up to {:g} s for it to come back", event["instrument"].get<std::string>(),
                     event["reason"].get<std::string>(), event.value("wait_s", 0.0)));
  } else if (kind == "instrument_reconnected") {
    line(fmt::format("instrument {} is back after {:.1f} s; its experiments are re-queried by id", event["instrument"].get<std::string>(),
                     event.value("after_s", 0.0)));
  } else if (kind == "instrument_restarted") {
    line(fmt::format("instrument {}: its simulator exited (status {}) and was restarted; open experiments are re-queried by id",
                     event["instrument"].get<std::string>(), event.value("exit_status", -1)));
  } else if (kind == "instrument_quarantined") {
    line(fmt::format("instrument {} quarantined: {}; the campaign carries on with the others", event["instrument"].get<std::string>(),
                     event["reason"].get<std::string>()));
  } else if (kind == "campaign_resumed") {
    line(fmt::format("campaign resumed: {} experiment(s) re-sent by id, {} waiting; planner rebuilt from {} journaled asks{}",
                     event["in_flight"].size(), event["waiting"].size(), event.value("replayed_asks", 0),
                     event.value("reproduced", true) ? " (reproduced exactly)" : " (with differences: see planner_note)"));
  } else if (kind == "result" && !terminal_) {
    line(fmt::format("[{}/{}] {} on {}: {}={:.6g} | {} | {}", status.done, status.budget, event["experiment"].get<std::string>(),
                     event["instrument"].get<std::string>(), objective_, event["objective"].get<double>(), best_text(status),
                     format_duration(status.elapsed_s)));
  } else if (kind == "campaign_started" && !terminal_) {
    line(fmt::format("campaign {} started; journal in {}", event["campaign"].get<std::string>(), event["output"].get<std::string>()));
  }
  if (terminal_ && kind != "campaign_finished") redraw(status);
}

void ProgressDisplay::on_log(const std::string& text) { line("note: " + text); }

void ProgressDisplay::print_summary(const CampaignSummary& summary) {
  const CampaignStatus& s = summary.status;
  line(fmt::format("campaign finished: {} — {} experiments ({} failed) in {}", summary.reason, s.done, s.failed, format_duration(s.elapsed_s)));
  if (s.best) line(fmt::format("{}", best_text(s)));
  line(fmt::format("outputs: {0}/journal.jsonl  {0}/results.csv  {0}/convergence.svg", summary.output.string()));
}

}  // namespace labloop::cli
