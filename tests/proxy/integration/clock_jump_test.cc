// Wall-clock jumps, as after a suspend and resume: the control plane, two
// proxies and a backend in this process, all on one FakeClock that the test
// moves forward at once (the world's time went on while the machine slept).
// The proxies must notice within seconds, never use a certificate the new
// time says has expired, renew by themselves, and carry traffic again.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "proxy/identity/ca_connector.h"
#include "proxy/server/proxy_server.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/echo_server.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::Roundtrip;
using testing::WaitFor;

constexpr const char* kTd = testing::kTrustDomain;
constexpr absl::Duration kCertTtl = absl::Minutes(10);

class ClockJumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("clock");
    control::ControlPlaneOptions opts;
    opts.state_dir = dir_ + "/state";
    opts.trust_domain = kTd;
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.cert_ttl = kCertTtl;
    opts.requests_per_minute = 600;
    auto cp = control::ControlPlane::Start(opts, &clock_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/roots.pem", cp_->store()->Current()->bundle.ToPem()).ok());
    b_ = Start("b", absl::StrCat("127.0.0.1:", backend_.port()), "");
    ASSERT_NE(b_, nullptr);
    a_ = Start("a", "", absl::StrCat("127.0.0.1:", b_->inbound_port()));
    ASSERT_NE(a_, nullptr);
    ASSERT_EQ(Roundtrip(a_->outbound_port(), "before"), "before");
  }

  void TearDown() override {
    for (auto& p : proxies_) p->Drain(absl::ZeroDuration());
    proxies_.clear();
    if (cp_) cp_->Stop();
  }

  proxy::ProxyServer* Start(const std::string& sa, const std::string& inbound_forward,
                            const std::string& outbound_forward) {
    auto minted =
        cp_->tokens()->Create(*pki::SpiffeId::Make(kTd, "shop", sa), absl::ZeroDuration());
    EXPECT_TRUE(minted.ok());
    const std::string token_file = absl::StrCat(dir_, "/", sa, ".token");
    EXPECT_TRUE(WriteFileAtomic(token_file, minted->token).ok());
    proxy::ProxyConfig c;
    c.control_address = absl::StrCat("127.0.0.1:", cp_->grpc_port());
    c.ca_bundle_file = dir_ + "/roots.pem";
    c.bootstrap.join_token_file = token_file;
    c.transparent = false;
    c.admin_listen = "127.0.0.1:0";
    if (!inbound_forward.empty()) {
      c.inbound_listen = "127.0.0.1:0";
      c.inbound_forward = inbound_forward;
    }
    if (!outbound_forward.empty()) {
      c.outbound_listen = "127.0.0.1:0";
      c.outbound_forward = outbound_forward;
      c.outbound_expect_identity = *pki::SpiffeId::Make(kTd, "shop", "b");
    }
    connectors_.push_back(proxy::MakeGrpcCaConnector(c.control_address, c.control_server_name));
    auto server = proxy::ProxyServer::Start(c, connectors_.back().get(), &clock_);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return nullptr;
    proxy::ProxyServer* raw = server->get();
    proxies_.push_back(std::move(*server));
    EXPECT_TRUE(WaitFor([raw] { return raw->identity()->Current() != nullptr; }));
    return raw;
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
  std::string dir_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::vector<std::unique_ptr<proxy::CaConnector>> connectors_;
  std::vector<std::unique_ptr<proxy::ProxyServer>> proxies_;
  proxy::ProxyServer* a_ = nullptr;
  proxy::ProxyServer* b_ = nullptr;
  testing::EchoServer backend_;
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
