#include "labloop/campaign/release.hpp"

#include <fmt/format.h>

#include <chrono>
#include <zmq.hpp>

#include "labloop/core/error.hpp"
#include "labloop/wire/instrument.hpp"
#include "labloop/wire/protocol.hpp"

namespace labloop {

namespace {

InstrumentRelease release_one(zmq::context_t& context, const CampaignConfig& config, const InstrumentConfig& ic, const std::string& campaign_id) {
  InstrumentRelease outcome{.instrument = ic.name};
  if (!ic.keys && !ic.keys_error.empty()) {  // never plaintext instead of the keys it was run with
    outcome.detail = ic.keys_error;
    return outcome;
  }
  InstrumentTiming timing;
  timing.connect_timeout = std::chrono::milliseconds(static_cast<long long>(ic.connect_timeout_s * 1000));
  Instrument link(context, ic.name, ic.endpoint, timing, [](const std::string&) {}, ic.keys);
  try {
    // The campaign's own hello: a driver holding it for this campaign welcomes it as the holder
    // (a resume does the same), one free or without exclusive control names no holder.
    (void)link.hello(config.name, {}, campaign_id);
  } catch (const InstrumentError& e) {
    // Busy: the driver's own words ("instrument held by campaign …"), not hello()'s advice to a run.
    const bool busy = !link.busy_answer().empty();
    outcome.outcome = busy ? InstrumentRelease::Outcome::held_by_another : InstrumentRelease::Outcome::unreachable;
    outcome.detail = busy ? link.busy_answer() : e.what();
    return outcome;
  }
  if (!link.holder()) {
    outcome.outcome = InstrumentRelease::Outcome::not_held;
    outcome.detail = "its driver names no holder: it is free, or not under exclusive control";
    return outcome;
  }
  link.send(protocol::Release{campaign_id});
  const auto deadline = std::chrono::steady_clock::now() + timing.connect_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto message = link.receive(std::chrono::milliseconds(50));
    if (!message) continue;
    if (const auto* released = std::get_if<protocol::Released>(&*message); released && released->campaign_id == campaign_id) {
      outcome.outcome = InstrumentRelease::Outcome::released;
      return outcome;
    }
    if (const auto* error = std::get_if<protocol::Error>(&*message)) {
      outcome.detail = fmt::format("its driver answered release with {}: {}", error->code, protocol::truncate_utf8(error->message, 200));
      return outcome;
    }
  }
  outcome.detail = fmt::format("its driver welcomed this campaign as its holder but did not answer release within {:g} s", ic.connect_timeout_s);
  return outcome;
}

}  // namespace

std::vector<InstrumentRelease> release_instruments(const CampaignConfig& config, const std::string& campaign_id) {
  zmq::context_t context;
  std::vector<InstrumentRelease> outcomes;
  for (const InstrumentConfig& ic : config.instruments)
    if (!ic.endpoint.empty() && !ic.is_simulator() && !ic.is_manual()) outcomes.push_back(release_one(context, config, ic, campaign_id));
  return outcomes;
}

}  // namespace labloop
