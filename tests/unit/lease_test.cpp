// Unit tests of exclusive control's policy (wire/lease.hpp, protocol §12): who may take, use and
// release an instrument, with time passed in — no sockets, no clocks.
#include <catch2/catch.hpp>

#include "labloop/core/utc_time.hpp"
#include "labloop/wire/lease.hpp"

using namespace labloop;

namespace {

const LeaseClaim kCampaignA{"aaaa", "curve:keyA"};
const LeaseClaim kCampaignB{"bbbb", "curve:keyB"};
constexpr double kLease = 3600;
constexpr double kT0 = 1'764'684'127;  // 2025-12-02 14:02:07 UTC

}  // namespace

TEST_CASE("Lease: a free instrument is taken, its holder renews and takes it back, another campaign is refused", "[lease]") {
  HolderLease lease(kLease);
  CHECK_FALSE(lease.holder(kT0));
  CHECK(lease.admit(std::nullopt, kT0));  // free: an old controller is served
  CHECK(lease.take(kCampaignA, kT0) == HolderLease::Take::taken);
  REQUIRE(lease.holder(kT0 + 1));
  CHECK(lease.holder(kT0 + 1)->claim == kCampaignA);
  CHECK(lease.holder(kT0 + 1)->until == kT0 + kLease);

  CHECK(lease.take(kCampaignB, kT0 + 10) == HolderLease::Take::refused);
  CHECK_FALSE(lease.admit(kCampaignB, kT0 + 10));
  CHECK_FALSE(lease.admit(std::nullopt, kT0 + 10));  // an old controller, or a peer that said no hello
  // A resume after kill -9: the same campaign id and key, from a new connection.
  CHECK(lease.take(kCampaignA, kT0 + 100) == HolderLease::Take::renewed);
  CHECK(lease.holder(kT0 + 100)->since == kT0);
  CHECK(lease.holder(kT0 + 100)->until == kT0 + 100 + kLease);
  CHECK(lease.admit(kCampaignA, kT0 + 200));  // its runs and heartbeats renew it
  CHECK(lease.holder(kT0 + 200)->until == kT0 + 200 + kLease);
}

TEST_CASE("Lease: the same campaign id with another controller key is another holder", "[lease]") {
  HolderLease lease(kLease);
  CHECK(lease.take(kCampaignA, kT0) == HolderLease::Take::taken);
  CHECK(lease.take(LeaseClaim{"aaaa", "curve:thief"}, kT0 + 1) == HolderLease::Take::refused);
  CHECK(lease.take(LeaseClaim{"aaaa", ""}, kT0 + 1) == HolderLease::Take::refused);
  CHECK_FALSE(lease.admit(LeaseClaim{"aaaa", "curve:thief"}, kT0 + 1));
  CHECK(lease.release(LeaseClaim{"aaaa", "curve:thief"}, kT0 + 1) == HolderLease::Release::refused);
  CHECK(lease.holder(kT0 + 1));
}

TEST_CASE("Lease: it expires a lease after the holder's last message, and anyone may take it then", "[lease]") {
  HolderLease lease(60);
  CHECK(lease.take(kCampaignA, kT0) == HolderLease::Take::taken);
  CHECK(lease.admit(kCampaignA, kT0 + 50));
  CHECK(lease.holder(kT0 + 109));
  CHECK_FALSE(lease.holder(kT0 + 110));  // 60 s after the last message
  CHECK(lease.admit(kCampaignB, kT0 + 110));
  CHECK(lease.take(kCampaignB, kT0 + 111) == HolderLease::Take::taken);
  CHECK(lease.holder(kT0 + 111)->since == kT0 + 111);
  // The old holder comes back too late: refused, naming the new one.
  CHECK(lease.take(kCampaignA, kT0 + 112) == HolderLease::Take::refused);
  // An expired holder that comes back first simply takes it anew.
  HolderLease again(60);
  again.take(kCampaignA, kT0);
  CHECK(again.take(kCampaignA, kT0 + 500) == HolderLease::Take::taken);
  CHECK(again.holder(kT0 + 500)->since == kT0 + 500);
}

TEST_CASE("Lease: release frees it for its holder only", "[lease]") {
  HolderLease lease(kLease);
  CHECK(lease.release(kCampaignA, kT0) == HolderLease::Release::not_held);
  lease.take(kCampaignA, kT0);
  CHECK(lease.release(kCampaignB, kT0 + 1) == HolderLease::Release::refused);
  CHECK(lease.release(kCampaignA, kT0 + 2) == HolderLease::Release::released);
  CHECK_FALSE(lease.holder(kT0 + 2));
  CHECK(lease.take(kCampaignB, kT0 + 3) == HolderLease::Take::taken);
}

TEST_CASE("Lease: busy names the campaign, its controller and the lease's times", "[lease]") {
  HolderLease lease(kLease);
  lease.take(kCampaignA, kT0);
  CHECK(lease.busy_message(kT0 + 5) ==
        "instrument held by campaign aa… (controller curve:keyA) since 2025-12-02 14:02:07 UTC; its lease runs until "
        "2025-12-02 15:02:07 UTC unless it is released");
  HolderLease plain(kLease);
  plain.take(LeaseClaim{"5f3ac2e19b7d4e0a9c1d2b3e4f5a6b7c", ""}, kT0);
  // On a plaintext link the whole id would make anyone's hello the holder's: only its start is shown.
  CHECK(plain.busy_message(kT0).find("campaign 5f3ac2e19b7d… since") != std::string::npos);
  CHECK(plain.busy_message(kT0).find("5f3ac2e19b7d4") == std::string::npos);
  CHECK(utc_iso8601(kT0) == "2025-12-02T14:02:07Z");
  CHECK(labloop::utc_text(0, "%Y-%m-%d %H:%M UTC") == "1970-01-01 00:00 UTC");  // key files' format
  CHECK(labloop::utc_text(86399, "%Y-%m-%dT%H%M%SZ") == "1970-01-01T235959Z");   // revoked keys' stamp
}

TEST_CASE("Lease: disk hears of takes and releases, and of renewals a tenth of a lease apart", "[lease]") {
  HolderLease lease(1000);
  CHECK_FALSE(lease.needs_saving());
  lease.take(kCampaignA, kT0);
  CHECK(lease.needs_saving());
  lease.saved();
  CHECK(lease.admit(kCampaignA, kT0 + 1));
  CHECK_FALSE(lease.needs_saving());  // a heartbeat a second is not an fsync a second
  CHECK(lease.admit(kCampaignA, kT0 + 100));
  CHECK(lease.needs_saving());
  lease.saved();
  lease.release(kCampaignA, kT0 + 101);
  CHECK(lease.needs_saving());

  // What was saved comes back after a restart, with its own end.
  HolderLease before(1000);
  before.take(kCampaignB, kT0);
  const LeaseHolder kept = *before.holder(kT0);
  const auto read = LeaseHolder::from_json(kept.to_json());
  REQUIRE(read);
  CHECK(*read == kept);
  HolderLease after(1000);
  after.restore(*read);
  CHECK(after.take(kCampaignA, kT0 + 10) == HolderLease::Take::refused);
  CHECK_FALSE(after.needs_saving());
  CHECK_FALSE(LeaseHolder::from_json(nlohmann::json{{"campaign_id", ""}, {"key", ""}, {"since", 1}, {"until", 2}}));
  CHECK_FALSE(LeaseHolder::from_json(nlohmann::json::array()));
}
