// tether-proxy end to end in explicit mode on loopback: a real control plane
// (the mesh CA), two real proxies, a backend, and hostile clients. Every
// refusal must be counted with its reason at the proxy's /metrics.
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "control/control_plane.h"
#include "proxy/server/config.h"
#include "proxy/server/proxy_server.h"
#include "tests/proxy/integration/in_process_mesh.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::ConnectLoopback;
using testing::HttpGet;
using testing::LoopbackAddress;
using testing::Presented;
using testing::Roundtrip;
using testing::TlsClient;
using testing::WaitFor;

constexpr const char* kTd = testing::kTrustDomain;

class ExplicitModeTest : public testing::InProcessMeshTest {
 protected:
  explicit ExplicitModeTest(bool close_denied_connections = false)
      : InProcessMeshTest({.close_denied_connections = close_denied_connections,
                           .handshake_timeout = absl::Seconds(5)}) {}

  // HasMetric waits until `series` at the proxy's /metrics is at least `at_least`.
  static bool HasMetric(proxy::ProxyServer* p, const std::string& series, int at_least = 1) {
    return testing::WaitForMetric(p->admin_port(), series, at_least);
  }
};

TEST_F(ExplicitModeTest, BytesArriveExactlyThroughBothProxies) {
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "");
  auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()), SpiffeId("b"));
  std::string data(3 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : data) c = static_cast<char>(rng());
  EXPECT_TRUE(Roundtrip(a->outbound_port(), data) == data);
  EXPECT_TRUE(HasMetric(b, "tether_proxy_connections_total{direction=\"inbound\",outcome=\"ok\"}"));
  EXPECT_TRUE(
      HasMetric(a, "tether_proxy_connections_total{direction=\"outbound\",outcome=\"ok\"}"));
  EXPECT_TRUE(HasMetric(b, "tether_proxy_authorization_decisions_total{decision=\"allow\"}"));
  EXPECT_TRUE(HasMetric(a, "tether_proxy_control_stream_connected"));
  EXPECT_TRUE(HasMetric(a, "tether_proxy_certificate_renewals_total"));
  std::string certs = HttpGet(a->admin_port(), "/certs");
  EXPECT_NE(certs.find("spiffe://mesh.test/ns/shop/sa/a"), std::string::npos) << certs;
  EXPECT_NE(HttpGet(a->admin_port(), "/ready").find("200"), std::string::npos);
}

TEST_F(ExplicitModeTest, RefusalsAreCountedByReason) {
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "");
  const int port = b->inbound_port();
  auto series = [](const char* reason) {
    return absl::StrCat("tether_proxy_tls_handshake_failures_total{direction=\"inbound\",reason=\"",
                        reason, "\"}");
  };

  // Plaintext to a strict inbound: at most a TLS alert comes back.
  std::string reply = Roundtrip(port, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(reply.empty() || reply[0] == '\x15') << reply;
  EXPECT_TRUE(HasMetric(b, series("plaintext")));

  // Garbage bytes.
  reply = Roundtrip(port, std::string("\x16\x03\x01\x00\x05garbage", 12));
  EXPECT_TRUE(reply.empty() || reply[0] == '\x15') << reply;

  // A client without a certificate.
  EXPECT_FALSE(TlsClient(port, nullptr));
  EXPECT_TRUE(HasMetric(b, series("no_client_certificate")));

  // TLS 1.2 only.
  Presented good = MeshLeaf("c", absl::Now(), absl::Hours(1));
  EXPECT_FALSE(TlsClient(port, &good, TLS1_2_VERSION));
  EXPECT_TRUE(HasMetric(b, series("protocol_version")));

  // A certificate from a foreign CA.
  auto foreign_key = pki::GenerateP256Key();
  auto foreign_root = pki::CreateRootCa(foreign_key->get(), kTd, absl::Now(), absl::Hours(24));
  pki::Authority foreign;
  foreign.cert = std::move(*foreign_root);
  foreign.key = std::move(*foreign_key);
  pki::Issuer foreign_issuer(std::move(foreign));
  Presented alien;
  alien.key = std::move(*pki::GenerateP256Key());
  pki::LeafRequest req;
  req.public_key = alien.key.get();
  req.spiffe_id = *pki::SpiffeId::Make(kTd, "shop", "alien");
  req.now = absl::Now();
  alien.chain.push_back(std::move(*foreign_issuer.SignLeaf(req)));
  EXPECT_FALSE(TlsClient(port, &alien));
  EXPECT_TRUE(HasMetric(b, series("untrusted")));

  // An expired mesh certificate.
  Presented old = MeshLeaf("c", absl::Now() - absl::Hours(3), absl::Hours(1));
  EXPECT_FALSE(TlsClient(port, &old));
  EXPECT_TRUE(HasMetric(b, series("expired")));

  // A revoked identity: pushed to B over its stream, then refused.
  ASSERT_TRUE(control()->registry()->RevokeIdentity(SpiffeId("c")).ok());
  ASSERT_TRUE(WaitFor([b] {
    auto snap = b->identity()->Current();
    return snap && !snap->revocations.spiffe_ids.empty();
  }));
  EXPECT_FALSE(TlsClient(port, &good));
  EXPECT_TRUE(HasMetric(b, series("revoked")));

  // The backend saw none of it.
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(ExplicitModeTest, WrongPeerIdentityIsRefusedByTheClientSide) {
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "");
  auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()), SpiffeId("not-b"));
  EXPECT_EQ(Roundtrip(a->outbound_port(), "hello"), "");
  EXPECT_TRUE(HasMetric(a,
                        "tether_proxy_tls_handshake_failures_total{direction=\"outbound\","
                        "reason=\"identity_mismatch\"}"));
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(ExplicitModeTest, PolicyDeniesOneCallerAndAllowsAnother) {
  const std::string policy = absl::StrCat(R"(
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: only-a, namespace: shop}
spec:
  rules:
    - from: [{spiffeId: spiffe://)",
                                          kTd, R"(/ns/shop/sa/a}]
)");
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "", "", policy);
  auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()));
  auto* c = StartProxy("c", "", LoopbackAddress(b->inbound_port()));
  EXPECT_EQ(Roundtrip(a->outbound_port(), "from a"), "from a");
  EXPECT_EQ(Roundtrip(c->outbound_port(), "from c"), "");
  EXPECT_TRUE(HasMetric(b, "tether_proxy_authorization_decisions_total{decision=\"deny\"}"));
  EXPECT_TRUE(
      HasMetric(b, "tether_proxy_connections_total{direction=\"inbound\",outcome=\"denied\"}"));
  EXPECT_EQ(backend().connections(), 1);
}

TEST_F(ExplicitModeTest, PermissiveInboundAcceptsPlaintextAndMtls) {
  // Permissive: plaintext from outside the mesh is passed through.
  proxy::ProxyConfig conf = BaseConfig("b");
  conf.inbound_listen = "127.0.0.1:0";
  conf.inbound_forward = LoopbackAddress(backend().port());
  conf.permissive = true;
  proxy::ProxyServer* b = Run(conf);
  ASSERT_NE(b, nullptr);
  auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()));
  EXPECT_EQ(Roundtrip(b->inbound_port(), "plain hello"), "plain hello");
  EXPECT_EQ(Roundtrip(a->outbound_port(), "mesh hello"), "mesh hello");
  EXPECT_EQ(backend().connections(), 2);
}

TEST_F(ExplicitModeTest, OutboundWithoutCertificateNeverSendsPlaintext) {
  // A proxy whose join token is not valid never gets a certificate.
  proxy::ProxyConfig conf = BaseConfig("bad", "tjt_not-a-token");
  conf.outbound_listen = "127.0.0.1:0";
  conf.outbound_forward = LoopbackAddress(backend().port());
  proxy::ProxyServer* p = Run(conf, /*wait_ready=*/false);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitFor([p] { return !p->identity()->status().last_error.empty(); }));
  EXPECT_NE(p->identity()->status().last_error.find("unknown join token"), std::string::npos)
      << p->identity()->status().last_error;
  std::string ready = HttpGet(p->admin_port(), "/ready");
  EXPECT_NE(ready.find("503"), std::string::npos) << ready;
  EXPECT_EQ(Roundtrip(p->outbound_port(), "secret"), "");
  EXPECT_EQ(backend().connections(), 0);
  EXPECT_TRUE(HasMetric(
      p, "tether_proxy_connections_total{direction=\"outbound\",outcome=\"no_certificate\"}"));
}

// Policy from the control plane: `tetherctl policy apply` (here the store it
// calls) reaches the proxies over their certificate stream.

std::string OnlyFrom(const std::string& name, const std::vector<std::string>& callers) {
  std::string yaml = absl::StrCat(
      "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ", name,
      ", namespace: shop}\nspec:\n  selector: {serviceAccounts: [b]}\n  rules:\n    - from:\n");
  for (const std::string& sa : callers) {
    absl::StrAppend(&yaml, "        - spiffeId: spiffe://", kTd, "/ns/shop/sa/", sa, "\n");
  }
  return yaml;
}

// PolicyVersionWithin waits up to `limit` for `p` to enforce policy version
// `version` and returns how long it took (or InfiniteDuration).
absl::Duration PolicyVersionWithin(proxy::ProxyServer* p, uint64_t version, absl::Duration limit) {
  const absl::Time start = absl::Now();
  const std::string series = "\ntether_proxy_policy_version ";
  while (absl::Now() - start < limit) {
    std::string text = HttpGet(p->admin_port(), "/metrics");
    size_t at = text.find(series);
    if (at != std::string::npos &&
        std::strtoull(text.c_str() + at + series.size(), nullptr, 10) >= version) {
      return absl::Now() - start;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::InfiniteDuration();
}

TEST_F(ExplicitModeTest, PolicyChangesFromTheControlPlaneReachTheProxyWithinASecond) {
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "");
  auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()));
  auto* c = StartProxy("c", "", LoopbackAddress(b->inbound_port()));
  // No policy yet: every mesh peer is allowed.
  EXPECT_EQ(Roundtrip(c->outbound_port(), "c before"), "c before");

  auto applied = control()->policies()->Apply(OnlyFrom("callers", {"a"}), "callers.yaml");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->front(), "AuthorizationPolicy shop/callers created");
  absl::Duration took =
      PolicyVersionWithin(b, control()->policies()->Current()->version, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(1)) << "deny did not reach b within a second";
  std::cerr << "policy reached the proxy in " << took << "\n";
  EXPECT_EQ(Roundtrip(c->outbound_port(), "c denied"), "");
  EXPECT_EQ(Roundtrip(a->outbound_port(), "a allowed"), "a allowed");

  // The live deny flips to allow.
  ASSERT_TRUE(control()->policies()->Apply(OnlyFrom("callers", {"a", "c"}), "callers.yaml").ok());
  took = PolicyVersionWithin(b, control()->policies()->Current()->version, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(1)) << "allow did not reach b within a second";
  EXPECT_EQ(Roundtrip(c->outbound_port(), "c allowed"), "c allowed");

  // An edit by hand in the policy directory is picked up the same way.
  const std::string file = dir() + "/state/policies/authorizationpolicy.shop.callers.yaml";
  ASSERT_TRUE(WriteFileAtomic(file, OnlyFrom("callers", {"a"})).ok());
  const uint64_t before = control()->policies()->Current()->version;
  took = PolicyVersionWithin(b, before + 1, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(1)) << "a hand edit did not reach b within a second";
  EXPECT_EQ(Roundtrip(c->outbound_port(), "c denied again"), "");

  // A broken edit changes nothing: the last good policy stays in force.
  ASSERT_TRUE(WriteFileAtomic(file, "kind: AuthorizationPolicy\nspec: [").ok());
  EXPECT_TRUE(WaitFor([&] { return !control()->policies()->reload_error().empty(); }));
  EXPECT_EQ(control()->policies()->Current()->version, before + 1);
  EXPECT_EQ(Roundtrip(a->outbound_port(), "a still"), "a still");
  EXPECT_EQ(Roundtrip(c->outbound_port(), "c still denied"), "");
  EXPECT_TRUE(HasMetric(b, "tether_proxy_policy_updates_total{result=\"applied\"}", 3));
}

TEST_F(ExplicitModeTest, ProxyWithAPolicyFileIgnoresTheControlPlanesPolicy) {
  const std::string allow_all =
      "apiVersion: tether.io/v1\nkind: DefaultPolicy\nmetadata: {name: open}\n"
      "spec: {default: ALLOW_AUTHENTICATED}\n";
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "", "", allow_all);
  auto* c = StartProxy("c", "", LoopbackAddress(b->inbound_port()));
  ASSERT_TRUE(control()->policies()->Apply(OnlyFrom("callers", {"a"}), "callers.yaml").ok());
  EXPECT_TRUE(HasMetric(b, "tether_proxy_policy_updates_total{result=\"ignored\"}"));
  EXPECT_EQ(Roundtrip(c->outbound_port(), "c by file"), "c by file");
}

class CloseDeniedTest : public ExplicitModeTest {
 protected:
  CloseDeniedTest() : ExplicitModeTest(/*close_denied_connections=*/true) {}
};

// Exchange writes `data` on `fd` and reads the echo (empty if the connection
// was closed; reads give up after 5 s).
std::string Exchange(int fd, const std::string& data) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (!testing::WriteAll(fd, data)) return "";
  std::string got;
  char buf[256];
  while (got.size() < data.size()) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, n);
  }
  return got;
}

TEST_F(CloseDeniedTest, OpenConnectionsThatANewPolicyDeniesAreClosed) {
  auto* b = StartProxy("b", LoopbackAddress(backend().port()), "");
  auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()));
  auto* c = StartProxy("c", "", LoopbackAddress(b->inbound_port()));
  int from_a = ConnectLoopback(a->outbound_port());
  int from_c = ConnectLoopback(c->outbound_port());
  ASSERT_EQ(Exchange(from_a, "a1"), "a1");
  ASSERT_EQ(Exchange(from_c, "c1"), "c1");

  ASSERT_TRUE(control()->policies()->Apply(OnlyFrom("callers", {"a"}), "callers.yaml").ok());
  EXPECT_TRUE(HasMetric(b, "tether_proxy_connections_closed_by_policy_total", 1));
  EXPECT_EQ(Exchange(from_c, "c2"), "");    // closed by b's proxy
  EXPECT_EQ(Exchange(from_a, "a2"), "a2");  // still allowed, still open
  EXPECT_TRUE(HasMetric(
      b, "tether_proxy_connections_total{direction=\"inbound\",outcome=\"closed_by_policy\"}"));
  close(from_a);
  close(from_c);
}

TEST_F(ExplicitModeTest, HealthListenerServesOnlyReadinessAndLiveness) {
  // A proxy that cannot get a certificate: not ready on either port.
  proxy::ProxyConfig conf = BaseConfig("bad", "tjt_not-a-token");
  conf.outbound_listen = "127.0.0.1:0";
  conf.outbound_forward = LoopbackAddress(backend().port());
  conf.health_listen = "127.0.0.1:0";
  proxy::ProxyServer* bad = Run(conf, /*wait_ready=*/false);
  ASSERT_NE(bad, nullptr);
  ASSERT_NE(bad->health_port(), 0);
  EXPECT_NE(HttpGet(bad->health_port(), "/ready").find("503"), std::string::npos);
  EXPECT_NE(HttpGet(bad->health_port(), "/live").find("200"), std::string::npos);

  conf = BaseConfig("a");
  conf.outbound_listen = "127.0.0.1:0";
  conf.outbound_forward = LoopbackAddress(backend().port());
  conf.health_listen = "127.0.0.1:0";
  proxy::ProxyServer* a = Run(conf);
  ASSERT_NE(a, nullptr);
  std::string ready = HttpGet(a->health_port(), "/ready");
  EXPECT_NE(ready.find("200"), std::string::npos) << ready;
  EXPECT_NE(ready.find("spiffe://mesh.test/ns/shop/sa/a"), std::string::npos) << ready;
  // The operator's endpoints stay on the admin port only.
  for (const char* path : {"/metrics", "/certs", "/config"}) {
    EXPECT_NE(HttpGet(a->health_port(), path).find("404"), std::string::npos) << path;
  }
  EXPECT_NE(HttpGet(a->admin_port(), "/ready").find("200"), std::string::npos);
  EXPECT_NE(HttpGet(a->admin_port(), "/config").find("\"health_listen\": \"127.0.0.1:0\""),
            std::string::npos);
  // Without --health-listen there is no health port.
  EXPECT_EQ(StartProxy("b", LoopbackAddress(backend().port()), "")->health_port(), 0);
}

TEST(ProxyConfigTest, LogLevelIsChecked) {
  proxy::ProxyConfig c;
  c.control_address = "127.0.0.1:1";
  c.ca_bundle_file = "roots.pem";
  c.bootstrap.join_token_file = "token";
  for (const char* level : {"error", "warning", "info", "debug"}) {
    c.log_level = level;
    EXPECT_TRUE(proxy::Validate(c).ok()) << level;
  }
  c.log_level = "verbose";
  absl::Status st = proxy::Validate(c);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--log-level"), std::string::npos) << st;
}

}  // namespace
}  // namespace tether
