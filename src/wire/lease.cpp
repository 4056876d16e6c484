#include "labloop/wire/lease.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "labloop/core/utc_time.hpp"

namespace labloop {

namespace {

// Whole seconds within years 1970 to 9999, whatever a holder file says (a cast of a double past
// time_t's range is undefined, and a year past 9999 has no ISO 8601 text).
std::time_t whole_seconds(double unix_seconds) {
  constexpr double kLatest = 253402300799.0;  // 9999-12-31T23:59:59Z
  if (!(unix_seconds > 0)) return 0;
  return static_cast<std::time_t>(std::floor(std::min(unix_seconds, kLatest)));
}

// `busy` goes to anyone who connects, and on a plaintext link the campaign id alone makes a hello
// the holder's: the whole id would let any peer take the instrument over. Its start is enough to
// tell campaigns apart (experiment ids carry the first 12 characters of labloop's 32).
std::string shown_campaign_id(const std::string& id) {
  const std::size_t shown = std::min<std::size_t>(kShownCampaignIdChars, id.size() / 2);
  return id.substr(0, shown) + "…";
}

}  // namespace

std::string utc_iso8601(double unix_seconds) { return utc_text(whole_seconds(unix_seconds), "%Y-%m-%dT%H:%M:%SZ"); }

nlohmann::json LeaseHolder::to_json() const {
  return {{"campaign_id", claim.campaign_id}, {"key", claim.key}, {"since", since}, {"until", until}};
}

std::optional<LeaseHolder> LeaseHolder::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  const auto id = j.find("campaign_id"), key = j.find("key"), since = j.find("since"), until = j.find("until");
  if (id == j.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) return std::nullopt;
  if (key == j.end() || !key->is_string() || since == j.end() || !since->is_number() || until == j.end() || !until->is_number())
    return std::nullopt;
  return LeaseHolder{{id->get<std::string>(), key->get<std::string>()}, since->get<double>(), until->get<double>()};
}

std::optional<LeaseHolder> HolderLease::holder(double now) const {
  if (holder_ && now < holder_->until) return holder_;
  return std::nullopt;
}

void HolderLease::restore(const LeaseHolder& holder) {
  holder_ = holder;
  dirty_ = false;
  saved_until_ = holder.until;
}

void HolderLease::renew(double now) {
  holder_->until = now + lease_s_;
  if (holder_->until - saved_until_ >= lease_s_ / 10) dirty_ = true;
}

HolderLease::Take HolderLease::take(const LeaseClaim& claim, double now) {
  if (const auto current = holder(now)) {
    if (current->claim != claim) return Take::refused;
    renew(now);
    return Take::renewed;
  }
  holder_ = LeaseHolder{claim, now, now + lease_s_};
  dirty_ = true;
  return Take::taken;
}

bool HolderLease::admit(const std::optional<LeaseClaim>& peer, double now) {
  const auto current = holder(now);
  if (!current) return true;
  if (!peer || *peer != current->claim) return false;
  renew(now);
  return true;
}

HolderLease::Release HolderLease::release(const LeaseClaim& claim, double now) {
  const auto current = holder(now);
  if (!current) {
    // An expired holder is dropped from disk too, so a restart does not bring it back to mind.
    if (holder_) {
      holder_.reset();
      dirty_ = true;
    }
    return Release::not_held;
  }
  if (current->claim != claim) return Release::refused;
  holder_.reset();
  dirty_ = true;
  return Release::released;
}

std::string HolderLease::busy_message(double now) const {
  const auto current = holder(now);
  if (!current) return "instrument is free";
  const std::string controller = current->claim.key.empty() ? "" : fmt::format(" (controller {})", current->claim.key);
  return fmt::format("instrument held by campaign {}{} since {} UTC; its lease runs until {} UTC unless it is released",
                     shown_campaign_id(current->claim.campaign_id), controller, utc_text(whole_seconds(current->since), "%Y-%m-%d %H:%M:%S"),
                     utc_text(whole_seconds(current->until), "%Y-%m-%d %H:%M:%S"));
}

}  // namespace labloop
