// StreamLimits: each cap refuses the stream over it with its typed limit
// and counts nothing for it; giving back an admission frees its places.
#include "control/ca/stream_limits.h"

#include <gtest/gtest.h>

#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

using Admission = StreamLimits::Admission;

TEST(PeerAddress, StripsSchemeAndPort) {
  EXPECT_EQ(PeerAddress("ipv4:10.0.0.5:4711"), "10.0.0.5");
  EXPECT_EQ(PeerAddress("ipv6:[fd00::5]:4711"), "fd00::5");
  EXPECT_EQ(PeerAddress("ipv6:%5Bfd00::5%5D:4711"), "fd00::5");
  EXPECT_EQ(PeerAddress("ipv6:%5B::ffff:127.0.0.1%5D:80"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("ipv6:[fe80::1%25eth0]:80"), "fe80::1");
  EXPECT_EQ(PeerAddress("unix:/run/x.sock"), "unix:/run/x.sock");
}

TEST(StreamLimits, UnauthenticatedCapsPerPeerAndInTotal) {
  FakeClock clock;
  StreamLimits limits(&clock,
                      {.max_unauthenticated_streams = 3, .max_unauthenticated_per_peer = 2});
  Admission a1, a2, a3, b1, c1;
  EXPECT_EQ(limits.Open("a", &a1), std::nullopt);
  EXPECT_EQ(limits.Open("a", &a2), std::nullopt);
  EXPECT_EQ(limits.Open("a", &a3), StreamLimit::kUnauthenticatedPerPeer);
  EXPECT_FALSE(a3.open);
  EXPECT_EQ(limits.Open("b", &b1), std::nullopt);
  EXPECT_EQ(limits.Open("c", &c1), StreamLimit::kUnauthenticated);
  EXPECT_EQ(limits.unauthenticated(), 3u);
  // Authenticating leaves the unauthenticated count; the stream stays open.
  EXPECT_EQ(limits.Authenticated(&a1, "spiffe://t/ns/a/sa/a"), std::nullopt);
  EXPECT_EQ(limits.unauthenticated(), 2u);
  EXPECT_EQ(limits.open(), 3u);
  EXPECT_EQ(limits.Open("a", &a3), std::nullopt);
  limits.Release(&a1);
  limits.Release(&a1);  // idempotent
  limits.Release(&a2);
  limits.Release(&a3);
  limits.Release(&b1);
  EXPECT_EQ(limits.open(), 0u);
  EXPECT_EQ(limits.unauthenticated(), 0u);
}

TEST(StreamLimits, TotalAndPerIdentityCaps) {
  FakeClock clock;
  StreamLimits limits(&clock, {.max_streams = 3, .max_streams_per_identity = 2});
  Admission s[4];
  for (int i = 0; i < 3; ++i) ASSERT_EQ(limits.Open("p", &s[i]), std::nullopt);
  EXPECT_EQ(limits.Open("p", &s[3]), StreamLimit::kStreams);
  EXPECT_EQ(limits.Authenticated(&s[0], "id"), std::nullopt);
  EXPECT_EQ(limits.Authenticated(&s[1], "id"), std::nullopt);
  EXPECT_EQ(limits.Authenticated(&s[2], "id"), StreamLimit::kStreamsPerIdentity);
  EXPECT_NE(
      limits.Refusal(StreamLimit::kStreamsPerIdentity, s[2]).message().find("id already has 2"),
      std::string::npos);
  EXPECT_EQ(limits.Refusal(StreamLimit::kStreams, s[3]).code(),
            absl::StatusCode::kResourceExhausted);
  limits.Release(&s[2]);  // held no identity: the others' count is unchanged
  ASSERT_EQ(limits.Open("p", &s[2]), std::nullopt);
  EXPECT_EQ(limits.Authenticated(&s[2], "id"), StreamLimit::kStreamsPerIdentity);
  limits.Release(&s[0]);  // "id" has one stream now
  Admission again, more;
  ASSERT_EQ(limits.Open("p", &again), std::nullopt);
  EXPECT_EQ(limits.Authenticated(&again, "id"), std::nullopt);
  EXPECT_EQ(limits.Open("p", &more), StreamLimit::kStreams);  // s[1], s[2], again
}

TEST(StreamLimits, HelloRatePerPeerOnTheInjectedClock) {
  FakeClock clock;
  StreamLimits limits(&clock, {.hellos_per_minute_per_peer = 60, .hello_burst_per_peer = 2});
  Admission a, b;
  ASSERT_EQ(limits.Open("a", &a), std::nullopt);
  ASSERT_EQ(limits.Open("b", &b), std::nullopt);
  EXPECT_EQ(limits.Hello(a), std::nullopt);
  EXPECT_EQ(limits.Hello(a), std::nullopt);
  EXPECT_EQ(limits.Hello(a), StreamLimit::kHelloRate);
  EXPECT_EQ(limits.Hello(b), std::nullopt);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(limits.Hello(a), std::nullopt);
  EXPECT_EQ(limits.Hello(a), StreamLimit::kHelloRate);
}

}  // namespace
}  // namespace tether::control
