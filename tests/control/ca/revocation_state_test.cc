// The revocation list's JSON form and the merge replicas agree with.
#include "control/ca/revocation_state.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tether::control {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

RevocationState List(std::map<std::string, absl::Time, std::less<>> serials,
                     std::set<std::string, std::less<>> ids, uint64_t version) {
  RevocationState s;
  s.serials = std::move(serials);
  s.spiffe_ids = std::move(ids);
  s.version = version;
  return s;
}

TEST(RevocationStateTest, EncodesAndDecodesEveryEntry) {
  RevocationState s = List({{"9f3a", kNow + absl::Hours(1)}, {"01", kNow + absl::Minutes(5)}},
                           {"spiffe://mesh.test/ns/shop/sa/cart"}, 1'800'000'123);
  absl::StatusOr<RevocationState> back = DecodeRevocations(EncodeRevocations(s), "test");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->SameEntries(s));
  EXPECT_EQ(back->version, s.version);
}

TEST(RevocationStateTest, ReadsTheFileEarlierVersionsWrote) {
  // revocations.json as the control plane wrote it before lists were shared.
  absl::StatusOr<RevocationState> s = DecodeRevocations(
      R"({"version": 3, "serials": {"abc123": 1800003600},
          "spiffe_ids": ["spiffe://mesh.test/ns/shop/sa/cart"]})",
      "revocations.json");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->version, 3u);
  EXPECT_EQ(s->serials.at("abc123"), absl::FromUnixSeconds(1800003600));
  EXPECT_TRUE(s->spiffe_ids.contains("spiffe://mesh.test/ns/shop/sa/cart"));
}

TEST(RevocationStateTest, RefusesWhatIsNotAList) {
  for (const char* bad : {
           "",
           "[]",
           "{\"serials\": {}, \"spiffe_ids\": []}",
           "{\"version\": -1, \"serials\": {}, \"spiffe_ids\": []}",
           "{\"version\": 1, \"serials\": [], \"spiffe_ids\": []}",
           "{\"version\": 1, \"serials\": {\"ZZ\": 1}, \"spiffe_ids\": []}",
           "{\"version\": 1, \"serials\": {\"ab\": \"soon\"}, \"spiffe_ids\": []}",
           "{\"version\": 1, \"serials\": {}, \"spiffe_ids\": [\"not an id\"]}",
           "{\"version\": 1, \"serials\": {}, \"spiffe_ids\": [7]}",
       }) {
    absl::StatusOr<RevocationState> s = DecodeRevocations(bad, "ConfigMap x/y");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_TRUE(absl::StrContains(s.status().message(), "ConfigMap x/y is corrupt"))
        << s.status();
  }
}

TEST(RevocationStateTest, TheUnionLosesNothingButExpiredSerials) {
  RevocationState a = List({{"aa", kNow + absl::Hours(1)}, {"cc", kNow - absl::Seconds(1)}},
                           {"spiffe://mesh.test/ns/a/sa/a"}, 10);
  RevocationState b = List({{"bb", kNow + absl::Hours(2)}, {"aa", kNow + absl::Hours(3)}},
                           {"spiffe://mesh.test/ns/b/sa/b"}, 12);
  RevocationState u = UnionOfRevocations(a, b, kNow);
  EXPECT_EQ(u.serials.size(), 2u);
  EXPECT_EQ(u.serials.at("aa"), kNow + absl::Hours(3));  // the later expiry
  EXPECT_TRUE(u.serials.contains("bb"));
  EXPECT_FALSE(u.serials.contains("cc"));  // expired: it authenticates nothing
  EXPECT_EQ(u.spiffe_ids.size(), 2u);
  EXPECT_EQ(u.version, 12u);
  // Either order gives the same list.
  EXPECT_TRUE(UnionOfRevocations(b, a, kNow).SameEntries(u));
}

TEST(RevocationStateTest, VersionsOnlyGrowEvenAfterTheStateWasLost) {
  EXPECT_EQ(NextRevocationVersion(5, absl::UnixEpoch()), 6u);
  // A fresh control plane (version 0) numbers past the lists of its last
  // life, which were numbered from the clock as well.
  EXPECT_EQ(NextRevocationVersion(0, kNow), 1'800'000'000u);
  EXPECT_EQ(NextRevocationVersion(1'800'000'500, kNow), 1'800'000'501u);
}

TEST(RevocationStateTest, SerialsAreLowercaseHex) {
  EXPECT_TRUE(IsSerialHex("0a1b2c"));
  EXPECT_FALSE(IsSerialHex(""));
  EXPECT_FALSE(IsSerialHex("0A"));
  EXPECT_FALSE(IsSerialHex("xyz"));
  EXPECT_FALSE(IsSerialHex(std::string(41, 'a')));
}

}  // namespace
}  // namespace tether::control
