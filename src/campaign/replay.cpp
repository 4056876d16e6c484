#include "labloop/campaign/replay.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "labloop/core/error.hpp"

namespace labloop {

using nlohmann::json;

CampaignConfig journaled_config(const std::vector<json>& events, const std::string& source, const SimulatorCatalogue& simulators) {
  if (events.empty() || events.front().value("event", "") != "campaign_started" || !events.front().contains("config"))
    throw JournalError(fmt::format("{}: does not start with a campaign_started event carrying the configuration", source));
  return parse_campaign_config(events.front()["config"].dump(), source + " (campaign_started)", simulators);
}

namespace {

Point point_of(const json& x) {
  Point p(static_cast<Eigen::Index>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) p[static_cast<Eigen::Index>(i)] = x[i].get<double>();
  return p;
}

std::string show(const Point& p) {
  std::vector<double> v(p.data(), p.data() + p.size());
  return fmt::format("[{:.6g}]", fmt::join(v, ", "));
}

}  // namespace

ReplayReport replay_journal(const std::vector<json>& events, const CampaignConfig& config, Planner& planner) {
  const Space space = config.space();
  const double sign = config.objective.goal == Goal::minimize ? 1.0 : -1.0;
  std::map<std::string, Point> points;  // experiment → cube point as journaled
  ReplayReport report;
  bool time_limited = false;  // the next ask was cut short by the time limit when first made
  for (size_t i = 0; i < events.size(); ++i) {
    const json& e = events[i];
    const std::string& kind = e["event"].get_ref<const std::string&>();
    if (kind == "planner_note") {
      time_limited = e.value("note", "").find("time limit") != std::string::npos;
    } else if (kind == "proposed") {
      points[e["experiment"]] = point_of(e["x"]);
      if (e.contains("retry_of") || !e.contains("ask")) continue;  // a retry is not the planner's
      // One ask = the consecutive proposals carrying its number.
      const auto ask = e["ask"];
      size_t end = i + 1;
      while (end < events.size() && events[end]["event"] == "proposed" && events[end].value("ask", json()) == ask) {
        points[events[end]["experiment"]] = point_of(events[end]["x"]);
        ++end;
      }
      std::vector<Point> pending;
      for (const auto& id : e.value("pending", json::array())) {
        auto it = points.find(id.get<std::string>());
        if (it == points.end())
          throw JournalError(fmt::format("seq {}: pending experiment {} was never proposed", e["seq"].dump(), id.dump()));
        pending.push_back(it->second);
      }
      const int q = static_cast<int>(end - i);
      const std::vector<Point> asked = planner.ask(q, pending);
      (void)planner.take_note();
      ++report.asks;
      if (time_limited) ++report.time_limited;
      for (int k = 0; k < q; ++k) {
        const json& recorded = events[i + static_cast<size_t>(k)];
        const Point want = point_of(recorded["x"]);
        ++report.proposals;
        if (k >= static_cast<int>(asked.size())) {
          report.differences.push_back(fmt::format("{}: the planner now proposes only {} point(s) in this ask", recorded["experiment"].get<std::string>(), asked.size()));
          continue;
        }
        const Point got = space.encode(space.decode(asked[static_cast<size_t>(k)]));
        if (got.size() != want.size() || (got - want).cwiseAbs().maxCoeff() > 1e-9)
          report.differences.push_back(fmt::format("{}: journaled {} but the planner now proposes {}{}", recorded["experiment"].get<std::string>(),
                                                   show(want), show(got), time_limited ? " (that ask hit the time limit)" : ""));
      }
      time_limited = false;
      i = end - 1;
    } else if (kind == "result" || kind == "failed") {
      auto it = points.find(e.value("experiment", ""));
      if (it == points.end()) continue;  // audit reports these; nothing the planner was told
      if (kind == "result") {
        planner.tell(it->second, sign * e["objective"].get<double>());
        ++report.outcomes;
      } else if (e.value("learn", true)) {
        planner.tell_failed(it->second);
        ++report.outcomes;
      }
    }
  }
  return report;
}

}  // namespace labloop
