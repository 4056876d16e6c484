// The whole controller from an installed labloop: a dry run of a campaign file, in a shared library.
// No simulators: those are labloop-sim's (its catalogue is not part of the library).
#include <labloop/labloop.hpp>

#include <iostream>

// The driver SDK is in labloop::labloop too: referenced, so the shared library links its code.
int (*volatile embed_labloop_serve)(labloop::Driver&, const std::string&, const labloop::ServeOptions&) = &labloop::serve;

int embed_labloop_dry_run(const char* campaign_file, const char* output) {
  const labloop::CampaignConfig config = labloop::load_campaign_config(campaign_file, labloop::SimulatorCatalogue{});
  labloop::CampaignOptions options;
  options.dry_run = true;
  options.output = output;
  const labloop::CampaignSummary summary = labloop::run_campaign(config, options);
  std::cout << "labloop " << labloop::kVersion << ": " << summary.reason << ", " << summary.status.done << " done\n";
  return summary.status.done > 0 ? 0 : 1;
}
