// What a proxy shows an operator about connections that failed: GET
// /debug/failures (newest first, the metric's reason word, the peer's address
// and identity), the per-peer-identity metrics, and --metrics-listen.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

nlohmann::json GetJson(int port, const std::string& path) {
  const std::optional<std::string> body = HttpGetBody(port, path);
  return body ? nlohmann::json::parse(*body, nullptr, false) : nullptr;
}

int PortAfter(const std::string& log, const std::string& label) {
  size_t at = log.find(label);
  if (at == std::string::npos) return 0;
  return atoi(log.c_str() + at + label.size());
}

class FailuresTest : public MeshTest {};

TEST_F(FailuresTest, DebugFailuresNamesPlaintextAndDeniedPeers) {
  StartControl();
  // b admits a only.
  const std::string policy = absl::StrCat(dir(), "/b.policy.yaml");
  ASSERT_TRUE(WriteFileAtomic(policy, absl::StrCat(R"(apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: b-callers, namespace: shop}
spec:
  selector: {serviceAccounts: [b]}
  rules:
    - from: [{spiffeId: )",
                                                   SpiffeId("a"), "}]\n"))
                  .ok());
  StartPair({}, {"--policy-file", policy, "--metrics-listen", "127.0.0.1:0"});
  ASSERT_FALSE(HasFatalFailure());
  ProxyProcess* c =
      StartProxy("c", "", absl::StrCat("127.0.0.1:", b()->inbound_port()), SpiffeId("b"));
  ASSERT_NE(c, nullptr);

  EXPECT_EQ(Roundtrip(a()->outbound_port(), "from a"), "from a");
  // Plaintext straight to b's mTLS port, then c, whom the policy refuses.
  EXPECT_EQ(Roundtrip(b()->inbound_port(), "GET / HTTP/1.0\r\n\r\n"), "");
  ASSERT_TRUE(WaitForMetric(b()->admin_port(),
                            R"(tether_proxy_tls_handshake_failures_total{direction="inbound",)"
                            R"(reason="plaintext"})"));
  EXPECT_EQ(Roundtrip(c->outbound_port(), "from c"), "");
  ASSERT_TRUE(WaitForMetric(b()->admin_port(),
                            R"(tether_proxy_authorization_decisions_total{decision="deny"})"));

  nlohmann::json j = GetJson(b()->admin_port(), "/debug/failures");
  ASSERT_TRUE(j.is_object()) << HttpGet(b()->admin_port(), "/debug/failures");
  ASSERT_EQ(j["failures"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["total"], 2);
  const nlohmann::json& denied = j["failures"][0];  // newest first
  EXPECT_EQ(denied["direction"], "inbound");
  EXPECT_EQ(denied["reason"], "denied");
  EXPECT_EQ(denied["peer_identity"], SpiffeId("c"));
  EXPECT_EQ(denied["peer_identity_verified"], true);
  EXPECT_TRUE(absl::StartsWith(denied["peer_address"].get<std::string>(), "127.0.0.1:"));
  EXPECT_TRUE(absl::StrContains(denied["detail"].get<std::string>(), "no ALLOW rule matches"))
      << denied.dump();
  EXPECT_EQ(denied["destination"], absl::StrCat("127.0.0.1:", backend().port()));
  const nlohmann::json& plaintext = j["failures"][1];
  EXPECT_EQ(plaintext["reason"], "plaintext");
  EXPECT_EQ(plaintext["peer_identity"], "");
  EXPECT_FALSE(plaintext["detail"].get<std::string>().empty());
  EXPECT_GE(denied["time"].get<std::string>(), plaintext["time"].get<std::string>());

  // a's and c's outbound side saw no failure of their own making, but c's
  // connection was cut by b: c's log of failures holds nothing it refused.
  nlohmann::json a_failures = GetJson(a()->admin_port(), "/debug/failures");
  EXPECT_EQ(a_failures["failures"].size(), 0u) << a_failures.dump(2);

  // Per-peer-identity metrics: a got through, c did not.
  auto m = b()->Scrape();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(
      MetricValue(
          *m,
          absl::StrCat(R"(tether_proxy_peer_connections_total{direction="inbound",peer_identity=")",
                       SpiffeId("a"), R"(",result="ok"})")),
      1);
  EXPECT_EQ(
      MetricValue(
          *m,
          absl::StrCat(R"(tether_proxy_peer_connections_total{direction="inbound",peer_identity=")",
                       SpiffeId("c"), R"(",result="failed"})")),
      1);
  EXPECT_EQ(
      MetricValue(
          *m,
          R"(tether_proxy_peer_connections_total{direction="inbound",peer_identity="unauthenticated",result="failed"})"),
      1);
  EXPECT_GT(
      MetricValue(
          *m,
          absl::StrCat(
              R"(tether_proxy_peer_bytes_total{direction="inbound",flow="to_upstream",peer_identity=")",
              SpiffeId("a"), R"("})")),
      0);

  // /certs carries the proxy's clock for `tetherctl check`.
  nlohmann::json certs = GetJson(b()->admin_port(), "/certs");
  EXPECT_TRUE(certs["now"].is_string() && !certs["now"].get<std::string>().empty());

  // --metrics-listen serves /metrics and nothing else.
  const int metrics_port = PortAfter(b()->Log(), ", metrics :");
  ASSERT_GT(metrics_port, 0) << b()->Log();
  EXPECT_TRUE(absl::StartsWith(HttpGet(metrics_port, "/metrics"), "HTTP/1.1 200"));
  EXPECT_TRUE(absl::StrContains(HttpGet(metrics_port, "/metrics"),
                                "tether_proxy_control_stream_connected 1"));
  EXPECT_TRUE(absl::StartsWith(HttpGet(metrics_port, "/certs"), "HTTP/1.1 404"));
  EXPECT_TRUE(absl::StartsWith(HttpGet(metrics_port, "/debug/failures"), "HTTP/1.1 404"));
}

}  // namespace
}  // namespace tether::testing
