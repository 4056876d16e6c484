#pragma once
// The campaign's goals in its reports: which results count, the Pareto set of a campaign with
// several objectives and its hypervolume as results arrived. The journal's record cannot know
// them (the Pareto maths live in the model component, which the journal may not use), so this
// fills them into a CampaignRecord (journal/report.hpp), whose writers then show them. The live
// campaign and every command that regenerates reports go through write_campaign_reports(), so
// they cannot disagree.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/journal/campaign_state.hpp"
#include "labloop/journal/report.hpp"

namespace labloop {

// Fills record's goal fields from `config` (the campaign the record's journal describes):
// - record.conditions, and each ok result's `counts` (goals.hpp counts()), when the config has
//   outcome constraints or a failure condition;
// - for two or more objectives: record.objectives (units from the record's outputs), each ok
//   result's `pareto` (it counts, and no counting result dominates it; identical results are
//   all in the set), the reference point and, for at most 4 objectives, each completed
//   experiment's `hypervolume`.
// Reference point, per objective: its threshold when the config gives one, otherwise the entry
// of infer_reference_point (model/pareto.hpp: nadir of the front plus 10% of its range) over ALL
// counting results at the time of the call, so an inferred reference, and with it every
// hypervolume, may move as results arrive. Results that are not better than the reference in
// every objective add no hypervolume. Pure; throws nothing for any record campaign_record()
// makes.
void annotate_goals(const CampaignConfig& config, CampaignRecord& record);

// A campaign's Pareto set as people read it, for progress displays and the end-of-run summary.
struct ParetoMember {
  std::string experiment;
  std::vector<double> objectives;  // parallel to ParetoSummary::objectives, in their own units
  nlohmann::json params;           // user units
};
struct ParetoSummary {
  std::vector<ReportObjective> objectives;  // two or more
  std::vector<ParetoMember> members;        // in completion order
  std::optional<double> hypervolume;        // of every counting result; nullopt beyond 4 objectives or without a reference
};

// The summary of an annotated record; nullopt for fewer than two objectives.
std::optional<ParetoSummary> pareto_summary(const CampaignRecord& record);

// Writes `dir`/results.csv, convergence.svg and, for several objectives, pareto.svg from the
// journal's fold (annotated as above), each atomically (journal/report.hpp). Returns the record
// written. Throws labloop::Error naming the file that cannot be written.
CampaignRecord write_campaign_reports(const CampaignConfig& config, const CampaignState& state, const std::filesystem::path& dir);

}  // namespace labloop
