#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "control/tetherctl/diagnose_command.h"
#include "control/tetherctl/failure_explain.h"
#include "control/tetherctl/proxy_admin.h"

namespace tether::tetherctl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// Every reason word a proxy records (its handshake failure reasons and the
// failure outcomes of proxy/server/failure_log.cc) has its own explanation.
TEST(ExplainFailureTest, EveryReasonHasItsOwnWordsAndFix) {
  for (const char* reason : {"untrusted",
                             "expired",
                             "not_yet_valid",
                             "revoked",
                             "bad_usage",
                             "weak_key",
                             "chain_too_long",
                             "bad_identity",
                             "identity_mismatch",
                             "no_client_certificate",
                             "protocol_version",
                             "plaintext",
                             "no_tether_alpn",
                             "peer_rejected",
                             "reset",
                             "handshake_timeout",
                             "tls_error",
                             "denied",
                             "closed_by_policy",
                             "closed_by_revocation",
                             "connect_failed",
                             "connect_timeout",
                             "no_certificate",
                             "no_original_destination",
                             "over_limit",
                             "own_listener",
                             "not_pod_address",
                             "no_policy",
                             "unknown_destination"}) {
    for (const char* dir : {"inbound", "outbound"}) {
      Explanation e = ExplainFailure(reason, dir);
      EXPECT_FALSE(absl::StrContains(e.what, "the connection failed (")) << reason;
      EXPECT_NE(e.fix, "see the detail") << reason;
      EXPECT_FALSE(e.what.empty() || e.fix.empty()) << reason;
    }
  }
  EXPECT_EQ(ExplainFailure("something_new", "inbound").fix, "see the detail");
  EXPECT_TRUE(absl::StrContains(ExplainFailure("untrusted", "inbound").what,
                                "from a CA that is not in this proxy's trust bundle"));
  EXPECT_TRUE(absl::StrContains(ExplainFailure("plaintext", "outbound").what, "did not answer"));
  EXPECT_TRUE(absl::StrContains(ExplainFailure("own_listener", "inbound").what,
                                "one of this proxy's own ports"));
  EXPECT_TRUE(
      absl::StrContains(ExplainFailure("connect_failed", "inbound").fix, "never to 127.0.0.1"));
  EXPECT_TRUE(
      absl::StrContains(ExplainFailure("peer_rejected", "inbound",
                                       "TLS handshake failed: error:10000418:SSL "
                                       "routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA")
                            .what,
                        "the caller does not trust the CA that signed this proxy's certificate"));
  EXPECT_TRUE(absl::StrContains(
      ExplainFailure("peer_rejected", "outbound", "...SSLV3_ALERT_CERTIFICATE_EXPIRED").what,
      "finds this proxy's certificate expired"));
  EXPECT_TRUE(absl::StrContains(ExplainFailure("closed_by_revocation", "inbound").what,
                                "the caller's certificate"));
  EXPECT_TRUE(absl::StrContains(ExplainFailure("closed_by_revocation", "outbound").what,
                                "the destination's certificate"));
}

TEST(ParseTest, CertsAndFailuresAsTheProxyWritesThem) {
  auto certs = ParseCerts(R"({"now":"2027-01-15T08:00:00Z",
    "control_stream":{"state":"connected","last_error":"","stream_failures":2},
    "certificate":{"spiffe_id":"spiffe://mesh.test/ns/shop/sa/b","serial":"0a",
      "not_before":"2027-01-15T07:59:00Z","not_after":"2027-01-15T08:01:00Z"},
    "trust_bundle":[{"subject":"O=mesh.test","serial":"01","sha256":"abc",
      "not_after":"2037-01-01T00:00:00Z"}]})");
  ASSERT_TRUE(certs.ok()) << certs.status();
  EXPECT_TRUE(certs->has_certificate);
  EXPECT_EQ(certs->spiffe_id, "spiffe://mesh.test/ns/shop/sa/b");
  EXPECT_EQ(certs->stream_failures, 2u);
  ASSERT_EQ(certs->roots.size(), 1u);
  EXPECT_EQ(certs->roots[0].sha256, "abc");
  EXPECT_EQ(certs->not_after - certs->not_before, absl::Minutes(2));
  EXPECT_FALSE(ParseCerts("[]").ok());
  EXPECT_FALSE(ParseCerts("not json").ok());

  uint64_t total = 0;
  auto failures = ParseFailures(R"({"failures":[{"time":"2027-01-15T08:00:00.123Z",
    "direction":"inbound","peer_address":"127.0.0.1:5000","peer_identity":"spiffe://x/ns/a/sa/b",
    "peer_identity_verified":false,"destination":"127.0.0.1:80","reason":"untrusted",
    "detail":"certificate verify failed"}],"total":9})",
                                &total);
  ASSERT_TRUE(failures.ok()) << failures.status();
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ((*failures)[0].reason, "untrusted");
  EXPECT_FALSE((*failures)[0].identity_verified);
  EXPECT_EQ(total, 9u);
  EXPECT_FALSE(ParseFailures("{}", &total).ok());
}

TEST(RenderDiagnosisTest, NamesEachFailureWithWordsAndFix) {
  ProxyState p;
  p.address = "127.0.0.1:15000";
  p.ready_status = 200;
  p.ready_body = "ready: spiffe://mesh.test/ns/shop/sa/b";
  CertsView c;
  c.has_certificate = true;
  c.spiffe_id = "spiffe://mesh.test/ns/shop/sa/b";
  c.serial = "0a";
  c.not_after = kNow + absl::Minutes(30);
  c.stream_state = "connected";
  p.certs = c;
  p.failures = std::vector<FailureView>{
      {kNow, "inbound", "127.0.0.1:5000", "spiffe://mesh.test/ns/shop/sa/c", true, "127.0.0.1:80",
       "denied", "denied by no ALLOW rule matches"},
      {kNow - absl::Seconds(5), "inbound", "127.0.0.1:5001", "spiffe://mesh.test/ns/shop/sa/x",
       false, "127.0.0.1:80", "untrusted", "certificate verify failed"},
  };
  p.failures_total = 2;
  std::ostringstream out;
  EXPECT_TRUE(RenderDiagnosis(p, kNow, 10, out));
  const std::string text = out.str();
  EXPECT_TRUE(absl::StrContains(text, "proxy spiffe://mesh.test/ns/shop/sa/b (127.0.0.1:15000)"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "2 recent failures (2 since the proxy started)")) << text;
  EXPECT_TRUE(absl::StrContains(
      text, "inbound  denied  from 127.0.0.1:5000 spiffe://mesh.test/ns/shop/sa/c\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "what: the authorization policy refused this caller"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "untrusted  from 127.0.0.1:5001 claiming spiffe://mesh.test/ns/shop/sa/x (not verified)"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "fix: the peer belongs to another mesh")) << text;
  EXPECT_TRUE(absl::StrContains(text, "summary: 1 denied, 1 untrusted")) << text;

  std::ostringstream limited;
  RenderDiagnosis(p, kNow, 1, limited);
  EXPECT_TRUE(absl::StrContains(limited.str(), "1 older failures not shown")) << limited.str();

  p.failures->clear();
  std::ostringstream clean;
  EXPECT_FALSE(RenderDiagnosis(p, kNow, 10, clean));
  EXPECT_TRUE(absl::StrContains(clean.str(), "✔ no handshake, authorization or connect failure"));
}

TEST(RenderDiagnosisTest, ExpiredCertificateAndUnreachable) {
  ProxyState p;
  p.address = "127.0.0.1:15000";
  p.ready_status = 503;
  p.ready_body = "not ready: certificate expired at 2027-01-15T07:58:00Z";
  CertsView c;
  c.has_certificate = true;
  c.spiffe_id = "spiffe://mesh.test/ns/shop/sa/e";
  c.serial = "0e";
  c.not_after = kNow - absl::Minutes(2);
  c.stream_state = "backoff";
  c.last_error = "failed to connect";
  p.certs = c;
  p.failures = std::vector<FailureView>{};
  std::ostringstream out;
  EXPECT_TRUE(RenderDiagnosis(p, kNow, 10, out));
  EXPECT_TRUE(absl::StrContains(out.str(),
                                "✖ certificate 0e for spiffe://mesh.test/ns/shop/sa/e "
                                "expired at"))
      << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(),
                                "! control stream backoff (last error: failed to "
                                "connect)"))
      << out.str();

  ProxyState gone;
  gone.address = "127.0.0.1:9";
  gone.error = "cannot connect to 127.0.0.1:9: Connection refused";
  std::ostringstream out2;
  EXPECT_TRUE(RenderDiagnosis(gone, kNow, 10, out2));
  EXPECT_TRUE(absl::StrContains(out2.str(), "✖ unreachable: cannot connect")) << out2.str();
}

}  // namespace
TEST(DiagnoseTest, AServerWithAnotherValidIdentityIsSaidToProveIt) {
  FailureView f;
  f.direction = "outbound";
  f.reason = "wrong_server_identity";
  f.peer_address = "10.0.0.12:80";
  f.destination = "10.0.0.12:80";
  f.peer_identity = "spiffe://mesh.test/ns/shop/sa/impostor";
  f.identity_verified = false;
  ProxyState p;
  p.address = "127.0.0.1:15000";
  p.ready_status = 200;
  p.ready_body = "ready: spiffe://mesh.test/ns/shop/sa/a";
  p.failures = std::vector<FailureView>{f};
  std::ostringstream out;
  RenderDiagnosis(p, kNow, 10, out);
  EXPECT_TRUE(absl::StrContains(out.str(),
                                "proving spiffe://mesh.test/ns/shop/sa/impostor (a valid "
                                "certificate, not the identity expected)"))
      << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "endpoint registry")) << out.str();
}

}  // namespace tether::tetherctl
