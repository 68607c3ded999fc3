// Policy fails closed: a proxy serves inbound traffic only once it holds an
// authorization policy. The attack: a namespace whose policy ConfigMap has
// never parsed, so that the control plane has no policy to send for its
// workloads; before, such a proxy served every mesh peer (no policy meant
// allow). Also --default-policy=deny for workloads no policy selects.
//
// Real tether-control processes and proxies; the Kubernetes API server is a
// stand-in (FakeKubernetesApi over loopback HTTPS) that serves the
// ConfigMaps.
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";
constexpr char kNoPolicy[] =
    R"(tether_proxy_connections_total{direction="inbound",outcome="no_policy"})";
constexpr char kDenied[] =
    R"(tether_proxy_connections_total{direction="inbound",outcome="denied"})";

bool EchoThrough(int port) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  const bool ok = Echo(fd, "policy");
  close(fd);
  return ok;
}

std::string AllowFrom(const std::string& sa) {
  return absl::StrCat(
      "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: b-callers, namespace: "
      "shop}\n"
      "spec:\n  selector: {serviceAccounts: [b]}\n  rules:\n"
      "    - from: [{spiffeId: ",
      "spiffe://", kTrustDomain, "/ns/shop/sa/", sa, "}]\n");
}

class PolicyFailClosedTest : public MeshTest {
 protected:
  PolicyFailClosedTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        server_(cert_, [this](const RecordedRequest& r) { return api_.Answer(r); }) {
    api_.SetCallerToken(kOwnToken);
  }

  // Policies from ConfigMaps, read every 100 ms; no discovery, no publishing.
  void StartConfigMapControl() {
    StartKubernetesControl(server_.port(), ca_.cert_pem, kOwnToken,
                           {"--kubernetes-discovery=false", "--policy-source", "kubernetes",
                            "--policy-poll", "100ms"});
  }

  TestCa ca_;
  TestCert cert_;
  FakeKubernetesApi api_;
  FakeHttpsServer server_;
};

TEST_F(PolicyFailClosedTest, NoInboundConnectionIsServedUntilThePolicyArrives) {
  // shop's only policy ConfigMap has never parsed: the control plane knows
  // no policy for shop's workloads and sends them none.
  api_.PutConfigMap("shop", "policies", {{"b.yaml", "kind: AuthorizationPolicy\nspec: ["}});
  StartConfigMapControl();
  // Neither shop proxy becomes ready; a's outbound works all the same.
  ProxyProcess* b = LaunchProxy("b", absl::StrCat("127.0.0.1:", backend().port()), "");
  ASSERT_NE(b, nullptr);
  ProxyProcess* a =
      LaunchProxy("a", "", absl::StrCat("127.0.0.1:", b->inbound_port()), SpiffeId("b"));
  ASSERT_NE(a, nullptr);
  for (ProxyProcess* p : {a, b}) {
    ASSERT_TRUE(WaitFor([&] {
      auto certs = p->Certs();
      return certs.has_value() && !certs->serial.empty();
    })) << p->Log();
  }

  // b holds a certificate but no policy: not ready, and it refuses a's calls.
  EXPECT_TRUE(absl::StrContains(b->ReadyResponse(), "503")) << b->ReadyResponse();
  EXPECT_TRUE(absl::StrContains(b->ReadyResponse(), "no authorization policy"))
      << b->ReadyResponse();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(EchoThrough(a->outbound_port()));
  EXPECT_TRUE(WaitForMetric(b->admin_port(), kNoPolicy, 3));
  EXPECT_EQ(backend().connections(), 0) << "a byte reached b's app without a policy";
  const std::string failures = HttpGet(b->admin_port(), "/debug/failures");
  EXPECT_TRUE(absl::StrContains(failures, "no authorization policy from the control plane yet"))
      << failures;
  // tetherctl diagnose fails (b is not ready) and names the refusals.
  auto diag = control()->Tetherctl({"diagnose", "--proxy", LoopbackAddress(b->admin_port())});
  ASSERT_FALSE(diag.ok());
  EXPECT_TRUE(absl::StrContains(diag.status().message(), "no_policy")) << diag.status();
  EXPECT_TRUE(absl::StrContains(diag.status().message(), "fail closed")) << diag.status();

  // The ConfigMap is fixed (a allowed): b gets its policy, becomes ready and
  // serves a.
  api_.PutConfigMap("shop", "policies", {{"b.yaml", AllowFrom("a")}});
  ASSERT_TRUE(WaitFor([&] { return b->Ready(); })) << b->ReadyResponse() << control()->Log();
  EXPECT_TRUE(EchoThrough(a->outbound_port()));
  EXPECT_EQ(backend().connections(), 1);

  // Broken again: b keeps the last good policy (still serves a).
  api_.PutConfigMap("shop", "policies", {{"b.yaml", "kind: AuthorizationPolicy\nspec: ["}});
  absl::SleepFor(absl::Milliseconds(500));  // several polls
  EXPECT_TRUE(b->Ready()) << b->ReadyResponse();
  EXPECT_TRUE(EchoThrough(a->outbound_port()));

  // The control plane restarts while the ConfigMap is still broken: it
  // enforces the last good policy it kept on disk, so a new shop workload
  // gets that policy (and becomes ready) rather than none.
  control()->Kill();
  RestartControl();
  ProxyProcess* d = StartProxy("d", absl::StrCat("127.0.0.1:", backend().port()), "");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->Ready()) << d->ReadyResponse() << control()->Log();
  absl::StatusOr<std::string> audit = ReadFile(control()->audit_log());
  ASSERT_TRUE(audit.ok()) << audit.status();
  EXPECT_TRUE(absl::StrContains(*audit, "enforcing the last valid version")) << *audit;
  EXPECT_TRUE(api_.problems().empty()) << api_.problems().front();
}

TEST_F(PolicyFailClosedTest, DefaultPolicyDenyServesOnlyWhatAPolicyAllows) {
  StartControl("1h");  // policies from a directory: none written
  ProxyProcess* b = StartProxy("b", absl::StrCat("127.0.0.1:", backend().port()), "", "",
                               {"--default-policy", "deny"});
  ASSERT_NE(b, nullptr);
  ProxyProcess* a =
      StartProxy("a", "", absl::StrCat("127.0.0.1:", b->inbound_port()), SpiffeId("b"));
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return a->Ready() && b->Ready(); })) << b->ReadyResponse();
  EXPECT_FALSE(EchoThrough(a->outbound_port()));
  EXPECT_TRUE(WaitForMetric(b->admin_port(), kDenied, 1));
  EXPECT_EQ(backend().connections(), 0);

  const std::string policy_file = dir() + "/b-callers.yaml";
  ASSERT_TRUE(WriteFileAtomic(policy_file, AllowFrom("a")).ok());
  auto applied = control()->Tetherctl({"policy", "apply", "-f", policy_file});
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_TRUE(WaitFor([&] { return EchoThrough(a->outbound_port()); })) << b->Log();

  // A bad value is refused by name.
  ProxyProcess bad({.name = "bad",
                    .control_address = control()->address(),
                    .ca_bundle_file = bundle_file(),
                    .join_token_file = TokenFile("b"),
                    .inbound_forward = "127.0.0.1:9",
                    .extra_flags = {"--default-policy", "allow"}});
  EXPECT_FALSE(bad.Start().ok());
  EXPECT_TRUE(absl::StrContains(bad.Log(), "--default-policy: \"allow\" is not one of"))
      << bad.Log();
}

}  // namespace
}  // namespace tether::testing
