// Wall-clock jumps, as after a suspend and resume: the control plane, two
// proxies and a backend in this process, all on one FakeClock that the test
// moves forward at once (the world's time went on while the machine slept).
// The proxies must notice within seconds, never use a certificate the new
// time says has expired, renew by themselves, and carry traffic again.
//
// Their join tokens live an hour, longer than the longest jump here: a
// certificate stream's authority ends with its bootstrap credential, so a
// jump past the token's expiry too closes the stream, and a proxy whose
// certificate has expired as well needs a new token (ca_stream_expiry_test).
#include <gtest/gtest.h>

#include "common/testing/fake_clock.h"
#include "proxy/server/proxy_server.h"
#include "tests/proxy/integration/in_process_mesh.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::LoopbackAddress;
using testing::Roundtrip;
using testing::WaitFor;

constexpr absl::Duration kCertTtl = absl::Minutes(10);

class ClockJumpTest : public testing::InProcessMeshTest {
 protected:
  ClockJumpTest()
      : InProcessMeshTest({.name = "clock",
                           .clock = &clock_,
                           .cert_ttl = kCertTtl,
                           .join_token_ttl = absl::Hours(1)}) {}

  void SetUp() override {
    InProcessMeshTest::SetUp();
    if (HasFatalFailure()) return;
    b_ = StartProxy("b", LoopbackAddress(backend().port()), "");
    ASSERT_NE(b_, nullptr);
    a_ = StartProxy("a", "", LoopbackAddress(b_->inbound_port()), SpiffeId("b"));
    ASSERT_NE(a_, nullptr);
    ASSERT_EQ(Roundtrip(a_->outbound_port(), "before"), "before");
  }

  // ValidNow: the proxy holds a certificate valid at the (fake) current time.
  bool ValidNow(proxy::ProxyServer* p) {
    auto id = p->identity()->Current();
    return id != nullptr && clock_.Now() < id->not_after;
  }
  std::string Serial(proxy::ProxyServer* p) {
    auto id = p->identity()->Current();
    return id ? id->serial_hex : "";
  }

  // ExpectRecovered: both proxies hold certificates valid at the new time,
  // renewed after the jump, and carry a request, within `limit` (real time).
  void ExpectRecovered(const std::string& serial_a, const std::string& serial_b,
                       absl::Duration limit) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return ValidNow(a_) && ValidNow(b_) && Serial(a_) != serial_a && Serial(b_) != serial_b;
        },
        limit))
        << "a: " << a_->identity()->status().last_error
        << "; b: " << b_->identity()->status().last_error;
    for (proxy::ProxyServer* p : {a_, b_}) {
      auto id = p->identity()->Current();
      ASSERT_NE(id, nullptr);
      EXPECT_GE(id->not_after, clock_.Now() + kCertTtl - absl::Minutes(2));
    }
    EXPECT_TRUE(WaitFor([&] { return Roundtrip(a_->outbound_port(), "after") == "after"; }));
  }

  FakeClock clock_{absl::Now()};
  proxy::ProxyServer* a_ = nullptr;
  proxy::ProxyServer* b_ = nullptr;
};

TEST_F(ClockJumpTest, JumpPastTheRenewalTimeRenewsAtOnceWhileServing) {
  const std::string serial_a = Serial(a_), serial_b = Serial(b_);
  // 7 of the certificates' 10 minutes pass at once: past their renewal
  // time (5-6 min), before their expiry. Without noticing the jump a proxy
  // would renew minutes later.
  clock_.Advance(absl::Minutes(7));
  EXPECT_EQ(Roundtrip(a_->outbound_port(), "still valid"), "still valid");
  ExpectRecovered(serial_a, serial_b, absl::Seconds(20));
}

TEST_F(ClockJumpTest, JumpPastTheExpiryRenewsBeforeServingAgain) {
  const std::string serial_a = Serial(a_), serial_b = Serial(b_);
  // Asleep for half an hour: the certificates have expired by the new time.
  clock_.Advance(absl::Minutes(30));
  ExpectRecovered(serial_a, serial_b, absl::Seconds(20));
}

}  // namespace
}  // namespace tether
