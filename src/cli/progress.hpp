#pragma once
// What `labloop run` shows while a campaign runs: on a terminal, one status line redrawn in
// place (done/budget, best so far with its parameters — or, for several objectives, the size of
// the Pareto set and its hypervolume —, elapsed, ETA, planner activity) with notable events
// printed above it; otherwise one plain line per event worth logging. The summary at the end lists
// the Pareto set of a campaign with several objectives (at most 20 members, then "… and K more").
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "background_writer.hpp"
#include "labloop/core/printable.hpp"
#include "labloop/campaign/campaign.hpp"

namespace labloop::cli {

class ProgressDisplay final : public CampaignObserver {
 public:
  // `other_objectives`: a campaign's objectives after the first, shown beside it in result lines.
  // `parameter_order`: the parameters as the campaign file declares them, the order a setting is
  // shown in (a setting's JSON object sorts them by name: x1, x10, x100, x2); names it lacks
  // follow in name order. `instruments`: how many the campaign has, so a quarantine says whether
  // any is left (0: not told).
  ProgressDisplay(std::FILE* out, bool terminal, std::string objective_name, std::vector<std::string> other_objectives = {},
                  std::vector<std::string> parameter_order = {}, std::size_t instruments = 0);
  ~ProgressDisplay() override;
  void on_event(const JournalEvent& event, const CampaignStatus& status) override;
  void on_status(const CampaignStatus& status) override;
  void on_log(const std::string& line) override;
  void print_summary(const CampaignSummary& summary);  // and flush()
  // Returns once every line given so far is written (they are written on a thread of their own:
  // background_writer.hpp), before anything else is printed to the terminal.
  void flush() { writer_.flush(); }
  // Whether any event was journaled: a campaign that fails after that did start.
  bool saw_events() const { return saw_events_; }

 private:
  void line(const std::string& text);  // a permanent line (above the status line on a terminal)
  void redraw(const CampaignStatus& status);
  std::string best_text(const CampaignStatus& status) const;
  void print_pareto_set(const ParetoSummary& pareto);
  std::string params_text(const nlohmann::json& params) const;

  std::FILE* out_;
  bool terminal_;
  std::string objective_;
  std::vector<std::string> other_objectives_;
  std::vector<std::string> parameter_order_;
  std::size_t instruments_ = 0;
  std::set<std::string> quarantined_;
  bool status_shown_ = false;
  bool saw_events_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  BackgroundWriter writer_;  // last: its thread may write until it is destroyed
};

std::string format_duration(double seconds);

// The columns a terminal gives a code point: 0 for combining marks and zero-width characters, 2
// for East Asian wide and fullwidth characters and emoji, 1 otherwise (a small wcwidth table).
int column_width(char32_t cp);
// The columns `text` (UTF-8) takes on a terminal.
std::size_t display_width(std::string_view text);

// `text` cut to at most `columns` display columns, ending in "…" when cut. A status line longer
// than the terminal wraps, and "\r" then redraws only its last row: every redraw would leave the
// rows above behind.
std::string fit_to_width(const std::string& text, std::size_t columns);

// head + tail within `columns`, cutting the head first (the status line's best result and where it
// was measured), so the tail (running, elapsed time, ETA) stays whole while the head keeps a few
// columns; past that, the whole line is cut.
std::string fit_status_line(const std::string& head, const std::string& tail, std::size_t columns);

using labloop::printable;  // labloop/core/printable.hpp

// Notes and failure reasons carry a driver's own text (an error's message, a rejection's reason),
// up to a protocol message's 1 MiB: shown cut to this many characters. The journal keeps them whole.
inline constexpr std::size_t kMostShownChars = 500;

}  // namespace labloop::cli
