#pragma once
// Exclusive control of an instrument (docs/decisions/0011-exclusive-control.md, protocol §12): the
// policy alone — who holds the instrument, for how long, and what each request gets — with time
// passed in, so it is tested without sockets or clocks. serve() and the Python SDK apply it.
//
// A holder is a campaign id and, on an encrypted link, the controller's key (its fingerprint,
// from the connection's authentication, never from a message). The lease lasts `lease_s` from
// the holder's last message; a hello of the same holder takes it back at any time (a `resume`
// after a crash), a hello of anyone else is refused until it is released or has expired.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace labloop {

// How much of the holder's campaign id `busy` shows (at most half of it): labloop's ids are 32
// hex characters and its experiment ids carry their first 12.
constexpr std::size_t kShownCampaignIdChars = 12;

// Who asks: the campaign id of the peer's hello and the key its connection authenticated with
// ("" on a plaintext link: then the campaign id alone decides, a courtesy and not a defence).
struct LeaseClaim {
  std::string campaign_id;
  std::string key;
  bool operator==(const LeaseClaim&) const = default;
};

struct LeaseHolder {
  LeaseClaim claim;
  double since = 0;  // unix seconds, when it was taken
  double until = 0;  // unix seconds, when it expires unless renewed
  bool operator==(const LeaseHolder&) const = default;

  // The form kept on disk beside the result cache: {"campaign_id", "key", "since", "until"}.
  nlohmann::json to_json() const;
  // nullopt when `j` is not that form (a corrupt line is skipped, never fatal).
  static std::optional<LeaseHolder> from_json(const nlohmann::json& j);
};

class HolderLease {
 public:
  explicit HolderLease(double lease_s) : lease_s_(lease_s) {}

  enum class Take {
    taken,    // it was free (or its lease had expired): `claim` holds it from now
    renewed,  // `claim` already held it (a resume): it keeps it, its lease runs again from now
    refused,  // someone else holds it: answer `busy` with busy_message()
  };
  // A hello with a campaign id.
  Take take(const LeaseClaim& claim, double now);

  // Whether a peer may use the instrument (hello without a campaign id, run, abort): yes when it
  // is free, or when the peer is the holder (whose lease then runs again from now). `peer` is
  // nullopt for a peer that gave no campaign id (an old controller) or said no hello.
  bool admit(const std::optional<LeaseClaim>& peer, double now);

  enum class Release {
    released,  // it was `claim`'s; now it is free
    not_held,  // nobody held it (or the lease had expired): nothing to do
    refused,   // someone else holds it: a campaign cannot release another's instrument
  };
  Release release(const LeaseClaim& claim, double now);

  // The holder whose lease has not expired at `now`; nullopt when free.
  std::optional<LeaseHolder> holder(double now) const;
  // A holder read back from disk after a driver restart (its lease runs to its recorded `until`).
  void restore(const LeaseHolder& holder);

  // For `busy`: "instrument held by campaign 5f3ac2e19b7d… (controller curve:…) since 14:02:07
  // UTC; its lease runs until 15:02:07 UTC unless it is released". The campaign id is cut to its
  // first kShownCampaignIdChars characters (at most half of it): the whole id is the holder's
  // credential on a plaintext link. Only meaningful while held.
  std::string busy_message(double now) const;

  // Whether the state changed in a way that disk must know (taken, released, or renewed by more
  // than a tenth of the lease since last saved, so a restarted driver's lease is never more than a
  // tenth short and a heartbeat a second does not mean an fsync a second). saved() after writing.
  bool needs_saving() const { return dirty_; }
  void saved() {
    dirty_ = false;
    saved_until_ = holder_ ? holder_->until : 0;
  }

  double lease_s() const { return lease_s_; }

 private:
  void renew(double now);

  double lease_s_;
  std::optional<LeaseHolder> holder_;  // may have expired: holder() checks
  bool dirty_ = false;
  double saved_until_ = 0;
};

// UTC ISO 8601 to the second ("2026-12-02T14:02:07Z"), as `welcome.holder` and the journal write it.
std::string utc_iso8601(double unix_seconds);

}  // namespace labloop
