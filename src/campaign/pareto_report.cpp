// The goal columns and the Pareto set of the reports (campaign/pareto_report.hpp).
//
// Everything is computed in "smaller is better" terms (a maximized objective times −1), the
// convention of model/pareto.hpp and model/hypervolume.hpp, and turned back into the objectives'
// own units for people. The hypervolume after each outcome is recomputed from scratch whenever a
// counting result joins: exact, and cheap for the campaign sizes people run (for 2 objectives and
// 1000 results, about 1000 sorts of at most 1000 points, against a report rewritten at most once a
// second); an incremental update would save little and could drift from hypervolume().
#include "labloop/campaign/pareto_report.hpp"

#include <algorithm>
#include <cmath>

#include "labloop/campaign/goals.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/hypervolume.hpp"
#include "labloop/model/pareto.hpp"

namespace labloop {

namespace {

// The objectives of an ok result, oriented; nullopt when one is missing or not finite (a result
// the campaign took cannot lack one, but a corrected or hand-edited journal might).
std::optional<Eigen::VectorXd> oriented_objectives(const CampaignConfig& config, const nlohmann::json& values) {
  Eigen::VectorXd y(static_cast<Eigen::Index>(config.objectives.size()));
  for (size_t k = 0; k < config.objectives.size(); ++k) {
    const auto it = values.is_object() ? values.find(config.objectives[k].name) : values.end();
    if (!values.is_object() || it == values.end() || !it->is_number()) return std::nullopt;
    const double v = it->get<double>();
    if (!std::isfinite(v)) return std::nullopt;
    y(static_cast<Eigen::Index>(k)) = config.objectives[k].sign() * v;
  }
  return y;
}

}  // namespace

void annotate_goals(const CampaignConfig& config, CampaignRecord& record) {
  record.conditions = !config.outcome_constraints.empty() || !config.failure_when.empty();
  // Which ok results count (every one, without conditions).
  std::vector<bool> counting(record.experiments.size(), false);
  for (size_t i = 0; i < record.experiments.size(); ++i) {
    ExperimentRecord& x = record.experiments[i];
    if (x.status != "ok") continue;
    counting[i] = counts(config, x.values);
    if (record.conditions) x.counts = counting[i];
  }
  if (config.objectives.size() < 2) return;

  const size_t m = config.objectives.size();
  const auto M = static_cast<Eigen::Index>(m);
  record.objectives.clear();
  for (const Objective& o : config.objectives) {
    const OutputSpec* spec = config.find_output(o.name);
    record.objectives.push_back({o.name, o.goal == Goal::maximize, spec ? spec->unit : std::string(), o.threshold});
  }
  record.hypervolume_column = M <= kMaxHypervolumeObjectives;

  // The counting results with every objective, in completion order (experiments are listed in
  // proposal order; the hypervolume column follows completion).
  std::vector<size_t> order;
  for (size_t i = 0; i < record.experiments.size(); ++i)
    if (record.experiments[i].completion_index > 0) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return record.experiments[a].completion_index < record.experiments[b].completion_index;
  });
  std::vector<size_t> rows;  // experiment index of each row of Y
  std::vector<Eigen::VectorXd> points;
  for (const size_t i : order) {
    if (!counting[i]) continue;
    if (auto y = oriented_objectives(config, record.experiments[i].values)) {
      rows.push_back(i);
      points.push_back(std::move(*y));
    }
  }
  Eigen::MatrixXd Y(static_cast<Eigen::Index>(points.size()), M);
  for (size_t r = 0; r < points.size(); ++r) Y.row(static_cast<Eigen::Index>(r)) = points[r].transpose();

  // The Pareto set: non_dominated keeps the first of identical rows; its twins are just as
  // undominated, so they are in the set too.
  for (size_t i = 0; i < record.experiments.size(); ++i)
    if (record.experiments[i].status == "ok") record.experiments[i].pareto = false;
  const std::vector<Eigen::Index> front = non_dominated(Y);
  for (Eigen::Index r = 0; r < Y.rows(); ++r) {
    const bool on_front = std::any_of(front.begin(), front.end(), [&](Eigen::Index f) { return f == r || Y.row(f) == Y.row(r); });
    record.experiments[rows[static_cast<size_t>(r)]].pareto = on_front;
  }

  // The reference point: thresholds where given, the inferred rule's entries otherwise.
  record.reference.clear();
  record.reference_from_threshold.clear();
  const bool all_thresholds = std::all_of(config.objectives.begin(), config.objectives.end(), [](const Objective& o) { return o.threshold.has_value(); });
  Eigen::VectorXd inferred;
  if (!all_thresholds && Y.rows() > 0) {
    try {
      inferred = infer_reference_point(Y);
    } catch (const PlannerError&) {
      inferred.resize(0);  // values so extreme that their range overflows: no reference, no hypervolume
    }
  }
  Eigen::VectorXd reference(M);
  for (size_t k = 0; k < m; ++k) {
    const Objective& o = config.objectives[k];
    const auto K = static_cast<Eigen::Index>(k);
    if (o.threshold) reference(K) = o.sign() * *o.threshold;
    else if (inferred.size() == M) reference(K) = inferred(K);
    else return;  // no reference yet
  }
  if (!reference.allFinite()) return;
  for (size_t k = 0; k < m; ++k) {
    record.reference.push_back(config.objectives[k].sign() * reference(static_cast<Eigen::Index>(k)));
    record.reference_from_threshold.push_back(config.objectives[k].threshold.has_value());
  }
  if (!record.hypervolume_column) return;

  // Hypervolume after each outcome, in completion order.
  double volume = 0;
  Eigen::Index taken = 0;
  for (const size_t i : order) {
    if (taken < static_cast<Eigen::Index>(rows.size()) && rows[static_cast<size_t>(taken)] == i) {
      // A point no better than an earlier one in any objective adds nothing: skip the recomputation
      // (for 4 objectives each costs O(n² log n), and late results are often dominated).
      const auto y = Y.row(taken);
      bool covered = false;
      for (Eigen::Index r = 0; r < taken && !covered; ++r) covered = (Y.row(r).array() <= y.array()).all();
      ++taken;
      if (!covered) volume = hypervolume(Y.topRows(taken), reference);
    }
    // Past a double (results far apart in two objectives: 1e200 × 1e200) the volume is not
    // written as inf, here or for any later outcome, so the summary does not show an earlier one.
    if (std::isfinite(volume)) record.experiments[i].hypervolume = volume;
  }
}

std::optional<ParetoSummary> pareto_summary(const CampaignRecord& record) {
  if (record.objectives.size() < 2) return std::nullopt;
  ParetoSummary summary;
  summary.objectives = record.objectives;
  std::vector<const ExperimentRecord*> members;
  const ExperimentRecord* last = nullptr;  // the latest outcome: its hypervolume covers every result
  for (const ExperimentRecord& x : record.experiments) {
    if (x.pareto.value_or(false)) members.push_back(&x);
    if (x.completion_index > 0 && (!last || x.completion_index > last->completion_index)) last = &x;
  }
  std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) { return a->completion_index < b->completion_index; });
  for (const ExperimentRecord* x : members) {
    ParetoMember& member = summary.members.emplace_back();
    member.experiment = x->id;
    member.params = x->params;
    for (const ReportObjective& o : record.objectives) member.objectives.push_back(x->values.value(o.name, std::nan("")));
  }
  if (last) summary.hypervolume = last->hypervolume;
  return summary;
}

CampaignRecord write_campaign_reports(const CampaignConfig& config, const CampaignState& state, const std::filesystem::path& dir) {
  CampaignRecord record = campaign_record(state);
  annotate_goals(config, record);
  write_results_csv(record, dir / "results.csv");
  write_convergence_svg(record, dir / "convergence.svg");
  if (record.objectives.size() > 1) write_pareto_svg(record, dir / "pareto.svg");
  return record;
}

}  // namespace labloop
