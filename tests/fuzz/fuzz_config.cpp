// libFuzzer target: the campaign file loader on arbitrary text (docs/fuzzing.md).
//
// ConfigError (and any other labloop::Error) is the expected answer to a bad file. Anything else
// escaping, a sanitizer report, a crash or a hang is a finding. A file that loads must also load
// again from its normalized form, since resume re-reads the config journaled by to_json().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "catalogue.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  labloop::CampaignConfig config;
  try {
    config = labloop::parse_campaign_config(text, "fuzz.json", labloop::sim::catalogue());
  } catch (const labloop::Error&) {
    return 0;
  }
  const nlohmann::json normalized = config.to_json();
  // Throws (and so fails the run) when the journaled form of a valid file is not itself valid.
  const labloop::CampaignConfig again = labloop::parse_campaign_config(normalized.dump(), "fuzz.json (normalized)", labloop::sim::catalogue());
  if (again.to_json() != normalized) std::abort();  // normalizing must be idempotent
  return 0;
}
