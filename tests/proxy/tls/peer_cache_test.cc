#include "proxy/tls/peer_cache.h"

#include <gtest/gtest.h>

#include "common/pki/spiffe_id.h"

namespace tether::proxy {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

VerifiedPeerCache::Entry MakeEntry() {
  VerifiedPeerCache::Entry e;
  e.peer.spiffe_id = *pki::SpiffeId::Parse("spiffe://mesh.test/ns/shop/sa/b");
  e.peer.serial_hex = "0a1b";
  e.valid_from = kT0;
  e.valid_until = kT0 + absl::Hours(1);
  return e;
}

std::string KeyOf(absl::string_view bundle, pki::Purpose purpose,
                  std::vector<absl::string_view> chain, absl::string_view td = "mesh.test") {
  return VerifiedPeerCache::Key(bundle, td, purpose, chain);
}

TEST(VerifiedPeerCacheTest, KeyDependsOnEveryPart) {
  const std::string k = KeyOf("bundle", pki::Purpose::kClient, {"leaf", "ca"});
  EXPECT_EQ(k, KeyOf("bundle", pki::Purpose::kClient, {"leaf", "ca"}));
  EXPECT_NE(k, KeyOf("bundle2", pki::Purpose::kClient, {"leaf", "ca"}));
  EXPECT_NE(k, KeyOf("bundle", pki::Purpose::kServer, {"leaf", "ca"}));
  EXPECT_NE(k, KeyOf("bundle", pki::Purpose::kClient, {"leaf"}));
  EXPECT_NE(k, KeyOf("bundle", pki::Purpose::kClient, {"lea", "fca"}));
  EXPECT_NE(k, KeyOf("bundle", pki::Purpose::kClient, {"leaf", "ca"}, "other.test"));
}

TEST(VerifiedPeerCacheTest, HitOnlyInsideTheValidityWindow) {
  VerifiedPeerCache cache;
  cache.Insert("k", MakeEntry());
  const pki::Revocations none;
  EXPECT_EQ(cache.Find("k", kT0 - absl::Seconds(1), none), nullptr);
  ASSERT_NE(cache.Find("k", kT0, none), nullptr);
  EXPECT_EQ(cache.Find("k", kT0, none)->peer.serial_hex, "0a1b");
  EXPECT_NE(cache.Find("k", kT0 + absl::Minutes(59), none), nullptr);
  EXPECT_EQ(cache.Find("k", kT0 + absl::Hours(1), none), nullptr);
  EXPECT_EQ(cache.Find("other", kT0, none), nullptr);
}

TEST(VerifiedPeerCacheTest, RevokedSerialOrIdentityIsAMiss) {
  VerifiedPeerCache cache;
  cache.Insert("k", MakeEntry());
  pki::Revocations by_serial;
  by_serial.serials.insert("0a1b");
  EXPECT_EQ(cache.Find("k", kT0, by_serial), nullptr);
  pki::Revocations by_id;
  by_id.spiffe_ids.insert("spiffe://mesh.test/ns/shop/sa/b");
  EXPECT_EQ(cache.Find("k", kT0, by_id), nullptr);
  pki::Revocations other;
  other.serials.insert("ffff");
  EXPECT_NE(cache.Find("k", kT0, other), nullptr);
}

TEST(VerifiedPeerCacheTest, Bounded) {
  VerifiedPeerCache cache(/*max_entries=*/2);
  cache.Insert("a", MakeEntry());
  cache.Insert("b", MakeEntry());
  cache.Insert("c", MakeEntry());
  EXPECT_LE(cache.size(), 2u);
  EXPECT_NE(cache.Find("c", kT0, {}), nullptr);
}

}  // namespace
}  // namespace tether::proxy
