#pragma once
// Signed campaigns for tests of journal signing: a campaign file beside keys/ naming
// keys/controller, and its dry runs (the whole loop in-process, no instrument), as `labloop run`
// and `labloop resume` run them.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "catalogue.hpp"
#include "labloop/campaign/campaign.hpp"
#include "labloop/campaign/replay.hpp"
#include "labloop/journal/audit.hpp"
#include "labloop/journal/journal.hpp"
#include "test_support.hpp"

namespace labloop::test {

// dir/campaign.json: a sobol campaign on Branin's box of `budget` experiments, written to dir/out,
// its journal signed with keys/controller (relative to the file) unless `signed_journal` is false.
inline std::filesystem::path signed_campaign_file(const TempDir& dir, int budget, bool signed_journal = true,
                                                   const std::string& name = "signed", int seed = 3) {
  nlohmann::json file{{"name", name},
                      {"seed", seed},
                      {"parameters", {{{"name", "x1"}, {"type", "continuous"}, {"low", -5}, {"high", 10}},
                                      {{"name", "x2"}, {"type", "continuous"}, {"low", 0}, {"high", 15}}}},
                      {"objective", {{"name", "y"}, {"goal", "minimize"}}},
                      {"planner", {{"kind", "sobol"}}},
                      {"instruments", {{{"name", "reactor"}, {"endpoint", "tcp://127.0.0.1:1"}}}},
                      {"budget", {{"experiments", budget}}},
                      {"output", (dir / "out").string()}};
  if (signed_journal) file["controller_key"] = "keys/controller";
  const std::filesystem::path path = dir / "campaign.json";
  write_file(path, file.dump(2));
  return path;
}

// The campaign of `file` run dry into the folder "out" beside it.
inline CampaignSummary dry_run(const std::filesystem::path& file) {
  const CampaignConfig config = load_campaign_config(file.string(), sim::catalogue());
  CampaignOptions options;
  options.dry_run = true;
  options.output = (file.parent_path() / "out").string();
  return run_campaign(config, options);
}

// As `labloop resume` does it, dry: the configuration from the journal.
inline CampaignSummary dry_resume(const std::filesystem::path& folder) {
  const auto events = decode_events(read_journal(folder / "journal.jsonl").events, "journal");
  const CampaignConfig config = journaled_config(events, "journal", sim::catalogue());
  CampaignOptions options;
  options.resume = true;
  options.dry_run = true;
  options.output = folder.string();
  return run_campaign(config, options);
}

// Every problem an audit found, the chain's and the signatures', a line each: for INFO().
inline std::string all_problems(const JournalAudit& audit) {
  std::string all;
  for (const auto& p : audit.problems) all += p + "\n";
  for (const auto& p : audit.signature_problems) all += p + "\n";
  return all;
}

}  // namespace labloop::test
