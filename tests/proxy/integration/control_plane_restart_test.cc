// The control plane crashes (SIGKILL) under a running pair of proxies:
//  - a short outage: the proxies keep serving on their certificates, stay
//    ready, retry with backoff, reconnect by themselves to the restarted
//    control plane (same state directory, same port) and renew there;
//  - an outage longer than the certificates' lifetime: the proxies stop
//    being ready and refuse new connections once their certificates expire,
//    and when the control plane is back they re-authenticate with a new join
//    token dropped into their --join-token-file, and are ready again.
#include <csignal>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/proxy/integration/traffic.h"

namespace tether::testing {
namespace {

constexpr char kOutboundOk[] =
    R"(tether_proxy_connections_total{direction="outbound",outcome="ok"})";
constexpr char kInboundOk[] = R"(tether_proxy_connections_total{direction="inbound",outcome="ok"})";

// How long the short outage lasts. Well under the certificates' remaining
// lifetime (at least ~24 s of a 1-minute certificate that renews at 30-36 s).
constexpr absl::Duration kShortOutage = absl::Seconds(10);

class ControlPlaneRestartTest : public MeshTest {
 protected:
  // StreamState is the control stream's state at /certs ("" if unreadable).
  static std::string StreamState(ProxyProcess* p) {
    auto c = p->Certs();
    return c ? c->stream_state : "";
  }
  static std::string Serial(ProxyProcess* p) {
    auto c = p->Certs();
    return c ? c->serial : "";
  }
  static uint64_t StreamFailures(ProxyProcess* p) {
    auto c = p->Certs();
    return c ? c->stream_failures : 0;
  }
  // IssuedByControl: certificates the running control plane signed.
  double IssuedByControl() {
    auto m = ScrapeMetrics(control()->admin_port());
    return m ? MetricValue(*m, "tether_control_certificates_issued_total") : -1;
  }
};

TEST_F(ControlPlaneRestartTest, ProxiesKeepServingAndReconnectAfterTheControlPlaneIsKilled) {
  StartControl("1m");
  StartPair();
  ASSERT_FALSE(HasFatalFailure());
  Traffic traffic({.port = a()->outbound_port()});
  ASSERT_TRUE(traffic.Start()) << absl::StrJoin(traffic.Snapshot().errors, "\n");
  ASSERT_TRUE(WaitFor([&] { return traffic.Snapshot().requests_ok >= 20; }));

  ProxyProcess* const pair[] = {a(), b()};
  std::string serial_at_kill[2];
  uint64_t failures_at_kill[2];
  for (int i = 0; i < 2; ++i) {
    serial_at_kill[i] = Serial(pair[i]);
    failures_at_kill[i] = StreamFailures(pair[i]);
    ASSERT_EQ(StreamState(pair[i]), "connected");
  }

  control()->Kill();
  const absl::Time killed = absl::Now();
  for (ProxyProcess* p : pair) {
    EXPECT_TRUE(WaitFor([p] { return StreamState(p) != "connected"; }))
        << p->options().name << " did not notice the control plane is gone";
  }
  // The outage: both proxies stay ready and traffic flows.
  const uint64_t requests_at_kill = traffic.Snapshot().requests_ok;
  int not_ready = 0;
  std::string why_not_ready;
  WaitFor(
      [&] {
        for (ProxyProcess* p : pair) {
          std::string r = p->ReadyResponse();
          if (!absl::StartsWith(r, "HTTP/1.1 200")) {
            ++not_ready;
            why_not_ready = r;
          }
        }
        return false;
      },
      kShortOutage - (absl::Now() - killed));
  EXPECT_EQ(not_ready, 0) << why_not_ready;
  EXPECT_GT(traffic.Snapshot().requests_ok, requests_at_kill + 20)
      << "too little traffic during the outage";
  EXPECT_EQ(traffic.Snapshot().requests_failed, 0u)
      << absl::StrJoin(traffic.Snapshot().errors, "\n");
  // Retries with backoff (1 s, 2 s, 4 s, 8 s, each +-20%): a few attempts in
  // 10 s, not a tight loop and not giving up.
  for (int i = 0; i < 2; ++i) {
    const uint64_t attempts = StreamFailures(pair[i]) - failures_at_kill[i];
    EXPECT_GE(attempts, 2u) << pair[i]->options().name << " did not retry";
    EXPECT_LE(attempts, 6u) << pair[i]->options().name << " retried without backing off";
  }

  RestartControl();
  ASSERT_FALSE(HasFatalFailure());
  const absl::Time restarted = absl::Now();
  // Reconnected by themselves: the next attempt is at most one backoff away.
  for (ProxyProcess* p : pair) {
    EXPECT_TRUE(WaitFor([p] { return StreamState(p) == "connected"; }, absl::Seconds(30)))
        << p->options().name << " did not reconnect: " << p->Certs()->last_error;
  }
  const absl::Duration reconnect = absl::Now() - restarted;
  // And renewed from the new control plane.
  for (int i = 0; i < 2; ++i) {
    ProxyProcess* p = pair[i];
    EXPECT_TRUE(WaitFor([&] { return Serial(p) != serial_at_kill[i]; }, absl::Seconds(60)))
        << p->options().name << " did not renew after the restart";
  }
  EXPECT_GE(IssuedByControl(), 2);

  // Traffic on the renewed certificates, then the verdict.
  const uint64_t after_renewal = traffic.Snapshot().requests_ok;
  WaitFor([&] { return traffic.Snapshot().requests_ok >= after_renewal + 20; });
  const Traffic::Counts counts = traffic.Stop();
  std::cerr << "control plane restart: outage " << absl::FormatDuration(restarted - killed)
            << ", reconnected " << absl::FormatDuration(reconnect) << " after the restart; "
            << counts.requests_ok << " requests, " << counts.exchanges_ok
            << " long-lived exchanges\n";
  EXPECT_EQ(counts.requests_failed, 0u) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_failed, 0) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_open, 4);
  const uint64_t connections = counts.requests_ok + 4;
  EXPECT_TRUE(WaitForMetric(a()->admin_port(), kOutboundOk, connections));
  EXPECT_TRUE(WaitForMetric(b()->admin_port(), kInboundOk, connections));
  EXPECT_EQ(MetricValue(*a()->Scrape(), kOutboundOk), connections);
  EXPECT_EQ(MetricValue(*b()->Scrape(), kInboundOk), connections);
  ExpectNoFailures();
}

TEST_F(ControlPlaneRestartTest, AfterAnOutageLongerThanTheCertificateTheProxyBootstrapsAgain) {
  StartControl("1m");
  StartPair();
  ASSERT_FALSE(HasFatalFailure());
  // Only long-lived connections across the outage: new connections are
  // refused by design while the certificates are expired.
  Traffic traffic({.port = a()->outbound_port(), .long_lived = 2, .request_threads = 0});
  ASSERT_TRUE(traffic.Start()) << absl::StrJoin(traffic.Snapshot().errors, "\n");
  EXPECT_EQ(Roundtrip(a()->outbound_port(), "before"), "before");
  ProxyProcess* const pair[] = {a(), b()};
  const std::string serial_a = Serial(a());
  const std::string serial_b = Serial(b());

  control()->Kill();
  // The certificates expire (1 minute at most) and readiness drops.
  for (ProxyProcess* p : pair) {
    EXPECT_TRUE(
        WaitFor([p] { return absl::StrContains(p->ReadyResponse(), "503"); }, absl::Seconds(90)))
        << p->options().name << " still ready: " << p->ReadyResponse();
    EXPECT_TRUE(absl::StrContains(p->ReadyResponse(), "certificate expired")) << p->ReadyResponse();
  }
  // A new connection is refused, never sent in plaintext.
  const int backend_before = backend().connections();
  EXPECT_EQ(Roundtrip(a()->outbound_port(), "while expired"), "");
  EXPECT_TRUE(WaitForMetric(
      a()->admin_port(),
      R"(tether_proxy_connections_total{direction="outbound",outcome="no_certificate"})", 1));
  EXPECT_EQ(backend().connections(), backend_before);

  // The control plane is back, but the join tokens in the files were used
  // at the first start: the proxies are refused and stay unready...
  RestartControl();
  ASSERT_FALSE(HasFatalFailure());
  for (ProxyProcess* p : pair) {
    EXPECT_TRUE(WaitFor(
        [p] {
          auto c = p->Certs();
          return c && absl::StrContains(c->last_error, "join token was already used");
        },
        absl::Seconds(45)))
        << p->options().name << ": " << p->Certs()->last_error;
    EXPECT_TRUE(absl::StrContains(p->ReadyResponse(), "503"));
  }
  // ...until an operator drops new tokens into the files: re-read on the
  // next attempt (at most one backoff, 30 s +20%, away).
  const absl::Time new_tokens = absl::Now();
  WriteToken("a");
  WriteToken("b");
  for (ProxyProcess* p : pair) {
    EXPECT_TRUE(WaitFor([p] { return p->Ready(); }, absl::Seconds(45)))
        << p->options().name << " not ready: " << p->ReadyResponse();
  }
  const absl::Duration recovered = absl::Now() - new_tokens;
  EXPECT_NE(Serial(a()), serial_a);
  EXPECT_NE(Serial(b()), serial_b);
  EXPECT_EQ(Roundtrip(a()->outbound_port(), "after"), "after");

  // The long-lived connections lived through all of it.
  const Traffic::Counts counts = traffic.Stop();
  std::cerr << "outage past expiry: ready " << absl::FormatDuration(recovered)
            << " after new tokens; " << counts.exchanges_ok << " long-lived exchanges\n";
  EXPECT_EQ(counts.long_lived_failed, 0) << absl::StrJoin(counts.errors, "\n");
  EXPECT_EQ(counts.long_lived_open, 2);
  // Counted: 2 long-lived + 2 requests ok, the one refusal, no failed handshake.
  EXPECT_TRUE(WaitForMetric(a()->admin_port(), kOutboundOk, 4));
  EXPECT_TRUE(WaitForMetric(b()->admin_port(), kInboundOk, 4));
  auto ma = a()->Scrape();
  auto mb = b()->Scrape();
  ASSERT_TRUE(ma && mb);
  EXPECT_EQ(SumMetric(*ma, "tether_proxy_connections_total"), 5);
  EXPECT_EQ(SumMetric(*mb, "tether_proxy_connections_total"), 4);
  EXPECT_EQ(SumMetric(*ma, "tether_proxy_tls_handshake_failures_total"), 0);
  EXPECT_EQ(SumMetric(*mb, "tether_proxy_tls_handshake_failures_total"), 0);
}

}  // namespace
}  // namespace tether::testing
