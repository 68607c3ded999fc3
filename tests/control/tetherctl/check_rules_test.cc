#include "control/tetherctl/check_rules.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tether::tetherctl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

ControlView HealthyControl() {
  ControlView c;
  c.address = "127.0.0.1:15014";
  c.trust_domain = "mesh.test";
  c.roots = {{"O=mesh.test", "01", "aaaa1111aaaa1111aaaa", kNow + absl::Hours(24 * 3650)}};
  c.ca_expiry = kNow + absl::Hours(24 * 3650);
  c.ready_status = 200;
  c.ready_body = "ready: CA for mesh.test, 2 streams";
  c.workloads = {{"spiffe://mesh.test/ns/shop/sa/a", "a", "0a", kNow + absl::Minutes(50)}};
  return c;
}

ProxyState HealthyProxy(const std::string& sa, const std::string& address) {
  ProxyState p;
  p.address = address;
  p.ready_status = 200;
  p.ready_body = "ready: spiffe://mesh.test/ns/shop/sa/" + sa;
  CertsView c;
  c.has_certificate = true;
  c.spiffe_id = "spiffe://mesh.test/ns/shop/sa/" + sa;
  c.serial = "0a";
  c.not_before = kNow - absl::Minutes(10);
  c.not_after = kNow + absl::Minutes(50);
  c.roots = {{"O=mesh.test", "01", "aaaa1111aaaa1111aaaa", kNow + absl::Hours(24 * 3650)}};
  c.stream_state = "connected";
  c.now = kNow;
  p.certs = c;
  p.certs_sent = kNow - absl::Milliseconds(2);
  p.certs_received = kNow + absl::Milliseconds(2);
  p.failures = std::vector<FailureView>{};
  return p;
}

int Count(const std::vector<CheckResult>& r, CheckLevel level) {
  int n = 0;
  for (const auto& c : r) n += c.level == level;
  return n;
}

// Find returns the first result whose text contains `needle`, or null.
const CheckResult* Find(const std::vector<CheckResult>& r, absl::string_view needle) {
  for (const auto& c : r) {
    if (absl::StrContains(c.text, needle)) return &c;
  }
  return nullptr;
}

std::string Dump(const std::vector<CheckResult>& r) {
  std::string s;
  for (const auto& c : r) s += std::string(Symbol(c.level)) + " " + c.text + "\n";
  return s;
}

TEST(CheckRulesTest, HealthyMeshPasses) {
  auto r = EvaluateChecks(HealthyControl(), {HealthyProxy("a", "p:1"), HealthyProxy("b", "p:2")},
                          kNow, {});
  EXPECT_EQ(Count(r, CheckLevel::kFail), 0) << Dump(r);
  EXPECT_EQ(Count(r, CheckLevel::kWarn), 0) << Dump(r);
  EXPECT_NE(Find(r, "trust bundles identical across 2 proxies and the control plane"), nullptr)
      << Dump(r);
  EXPECT_NE(Find(r, "clocks of 2 proxies within"), nullptr) << Dump(r);
}

TEST(CheckRulesTest, AServiceWithEndpointsOutsideTheMeshWarns) {
  ControlView c = HealthyControl();
  c.partly_meshed = {{"10.96.0.10:80", "service shop/web (2 of 3 endpoints meshed)", 1}};
  auto r = EvaluateChecks(c, {}, kNow, {});
  const CheckResult* w = Find(r, "service shop/web");
  ASSERT_NE(w, nullptr) << Dump(r);
  EXPECT_EQ(w->level, CheckLevel::kWarn);
  EXPECT_TRUE(absl::StrContains(w->text, "10.96.0.10:80")) << w->text;
  EXPECT_TRUE(absl::StrContains(w->text, "1 ready endpoint is not meshed")) << w->text;
  EXPECT_FALSE(w->fix.empty());
}

TEST(CheckRulesTest, UnreachableControlPlaneFails) {
  ControlView c;
  c.address = "127.0.0.1:1";
  c.error = "failed to connect to all addresses";
  auto r = EvaluateChecks(c, {}, kNow, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].level, CheckLevel::kFail);
  EXPECT_TRUE(absl::StrContains(r[0].text, "unreachable at 127.0.0.1:1"));
  EXPECT_FALSE(r[0].fix.empty());
}

TEST(CheckRulesTest, CaExpiryWarnsWithin30DaysAndFailsOnceExpired) {
  ControlView c = HealthyControl();
  c.ca_expiry = kNow + absl::Hours(24 * 10);
  auto r = EvaluateChecks(c, {}, kNow, {});
  const CheckResult* ca = Find(r, "signing CA certificate expires in 10d");
  ASSERT_NE(ca, nullptr) << Dump(r);
  EXPECT_EQ(ca->level, CheckLevel::kWarn);
  c.ca_expiry = kNow - absl::Minutes(5);
  c.roots[0].not_after = kNow - absl::Minutes(5);
  r = EvaluateChecks(c, {}, kNow, {});
  ca = Find(r, "signing CA certificate expired");
  ASSERT_NE(ca, nullptr) << Dump(r);
  EXPECT_EQ(ca->level, CheckLevel::kFail);
  const CheckResult* root = Find(r, "trust bundle root aaaa1111aaaa1111");
  ASSERT_NE(root, nullptr) << Dump(r);
  EXPECT_EQ(root->level, CheckLevel::kFail);
}

TEST(CheckRulesTest, ProxyWithAnotherCaFailsByName) {
  ProxyState x = HealthyProxy("x", "p:3");
  x.certs->roots = {{"O=mesh.test", "02", "bbbb2222bbbb2222bbbb", kNow + absl::Hours(24 * 3650)}};
  auto r = EvaluateChecks(HealthyControl(), {HealthyProxy("a", "p:1"), x}, kNow, {});
  const CheckResult* f = Find(r, "trusts another CA");
  ASSERT_NE(f, nullptr) << Dump(r);
  EXPECT_EQ(f->level, CheckLevel::kFail);
  EXPECT_TRUE(absl::StrContains(f->text, "spiffe://mesh.test/ns/shop/sa/x (p:3)")) << f->text;
  EXPECT_TRUE(absl::StrContains(f->text, "bbbb2222bbbb2222")) << f->text;
  EXPECT_EQ(Count(r, CheckLevel::kFail), 1) << Dump(r);
  // Without a control plane, the odd one out is named against the majority.
  r = EvaluateChecks(std::nullopt, {HealthyProxy("a", "p:1"), HealthyProxy("b", "p:2"), x}, kNow,
                     {});
  f = Find(r, "trusts another CA");
  ASSERT_NE(f, nullptr) << Dump(r);
  EXPECT_TRUE(absl::StrContains(f->text, "sa/x")) << f->text;
}

TEST(CheckRulesTest, ExpiredAndLateCertificates) {
  ProxyState e = HealthyProxy("e", "p:4");
  e.ready_status = 503;
  e.ready_body = "not ready: certificate expired at 2027-01-15T08:00:00Z";
  e.certs->not_after = kNow - absl::Minutes(2);
  e.certs->stream_state = "backoff";
  e.certs->last_error = "connection refused";
  ProxyState late = HealthyProxy("l", "p:5");
  // Issued 55 minutes ago (NotBefore is backdated a minute) for an hour.
  late.certs->not_after = kNow + absl::Minutes(5);
  late.certs->not_before = kNow - absl::Minutes(56);
  // A 1-minute certificate with 28 s left, backdated a minute: renewal is
  // not late yet (due at 50-60% of the minute from issuance).
  ProxyState fresh = HealthyProxy("f", "p:6");
  fresh.certs->not_before = kNow - absl::Seconds(92);
  fresh.certs->not_after = kNow + absl::Seconds(28);
  auto r = EvaluateChecks(std::nullopt, {e, late, fresh}, kNow, {});
  EXPECT_NE(Find(r, "sa/f (p:6): certificate valid for 28s"), nullptr) << Dump(r);
  const CheckResult* expired = Find(r, "certificate 0a expired at");
  ASSERT_NE(expired, nullptr) << Dump(r);
  EXPECT_EQ(expired->level, CheckLevel::kFail);
  EXPECT_TRUE(absl::StrContains(expired->text, "control stream backoff: connection refused"));
  const CheckResult* not_ready = Find(r, "sa/e (p:4) is not ready");
  ASSERT_NE(not_ready, nullptr) << Dump(r);
  EXPECT_EQ(not_ready->level, CheckLevel::kFail);
  const CheckResult* overdue = Find(r, "due for renewal");
  ASSERT_NE(overdue, nullptr) << Dump(r);
  EXPECT_EQ(overdue->level, CheckLevel::kWarn);
}

TEST(CheckRulesTest, ClockSkew) {
  ProxyState ahead = HealthyProxy("a", "p:1");
  ahead.certs->now = kNow + absl::Seconds(30);
  ProxyState far = HealthyProxy("b", "p:2");
  far.certs->now = kNow - absl::Minutes(5);
  ProxyState near = HealthyProxy("c", "p:3");
  near.certs->now = kNow + absl::Seconds(1);  // whole seconds: no skew
  auto r = EvaluateChecks(std::nullopt, {ahead, far, near}, kNow, {});
  const CheckResult* a = Find(r, "sa/a (p:1): its clock is 30s ahead");
  ASSERT_NE(a, nullptr) << Dump(r);
  EXPECT_EQ(a->level, CheckLevel::kWarn);
  const CheckResult* b = Find(r, "sa/b (p:2): its clock is 5m behind");
  ASSERT_NE(b, nullptr) << Dump(r);
  EXPECT_EQ(b->level, CheckLevel::kFail);
  EXPECT_EQ(Find(r, "sa/c (p:3): its clock"), nullptr) << Dump(r);
}

TEST(CheckRulesTest, RecentFailuresWarnNamingPeers) {
  ProxyState b = HealthyProxy("b", "p:2");
  b.failures = std::vector<FailureView>{
      {kNow - absl::Minutes(1), "inbound", "127.0.0.1:5000", "spiffe://mesh.test/ns/shop/sa/c",
       true, "127.0.0.1:80", "denied", "no ALLOW rule matches"},
      {kNow - absl::Minutes(2), "inbound", "127.0.0.1:5001", "spiffe://other/ns/shop/sa/x", false,
       "127.0.0.1:80", "untrusted", "certificate verify failed"},
      {kNow - absl::Hours(2), "inbound", "127.0.0.1:5002", "", false, "127.0.0.1:80", "plaintext",
       ""},  // too old
  };
  auto r = EvaluateChecks(std::nullopt, {b}, kNow, {});
  const CheckResult* w = Find(r, "2 failed connections in the last 15m");
  ASSERT_NE(w, nullptr) << Dump(r);
  EXPECT_EQ(w->level, CheckLevel::kWarn);
  EXPECT_TRUE(absl::StrContains(w->text, "1 denied (spiffe://mesh.test/ns/shop/sa/c)")) << w->text;
  EXPECT_TRUE(absl::StrContains(w->text, "1 untrusted (spiffe://other/ns/shop/sa/x?)")) << w->text;
  EXPECT_FALSE(absl::StrContains(w->text, "plaintext")) << w->text;
  EXPECT_TRUE(absl::StrContains(w->fix, "tetherctl diagnose --proxy p:2"));
}

TEST(CheckRulesTest, UnreachableProxyFails) {
  ProxyState p;
  p.address = "127.0.0.1:9";
  p.error = "cannot connect to 127.0.0.1:9: Connection refused";
  auto r = EvaluateChecks(std::nullopt, {p}, kNow, {});
  ASSERT_EQ(Count(r, CheckLevel::kFail), 1) << Dump(r);
  EXPECT_NE(Find(r, "proxy 127.0.0.1:9 unreachable"), nullptr);
}

}  // namespace
}  // namespace tether::tetherctl
