#pragma once
// What one result means for a campaign's goals: whether it carries every output the campaign
// needs, whether it failed by the campaign's own failure condition, whether its outcome
// constraints hold, and the Observation the planner is told. The loop and the journal replay both
// build observations here, so a resumed planner is told exactly what the running one was.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/model/planner.hpp"

namespace labloop {

// "" when `values` has a finite number for every output config.required_outputs() names;
// otherwise a message naming the first one missing ("no finite value for the objective \"yield\"").
std::string missing_outputs(const CampaignConfig& config, const nlohmann::json& values);
// What a result's values say outside the ranges `outputs` declares (the first such value: "purity
// = 7 is outside its declared range [0, 1]"), or a value of an output the campaign names (declared,
// or in an outcome constraint or failure condition) that is not a number ("purity = \"7\" is not a
// number …"), or "": a value a person could not enter (labloop enter refuses it) is an
// instrument's fault, not a measurement.
std::string outputs_out_of_range(const CampaignConfig& config, const nlohmann::json& values);

// The first failure condition ("failure": {"when": …}) that holds for `values`, if any.
std::optional<OutcomeCondition> failure_met(const CampaignConfig& config, const nlohmann::json& values);

// Whether a result counts: no failure condition holds and every outcome constraint does.
// `values` must pass missing_outputs.
bool counts(const CampaignConfig& config, const nlohmann::json& values);

// The observation of a successful result at x: every objective oriented "smaller is better",
// the outcome constraints as excesses (≤ 0 holds); status failed when a failure condition holds
// (the measured values stay with it). `values` must pass missing_outputs.
Observation observe(const CampaignConfig& config, const Point& x, const nlohmann::json& values);

}  // namespace labloop
