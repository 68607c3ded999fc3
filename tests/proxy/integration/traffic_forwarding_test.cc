// TrafficPolicy through a real proxy pair (a: outbound, b: inbound, mTLS
// between them) with curl as the client: a request timeout answers 504 at
// the configured time; retries recover from an origin that fails one request
// in two, and stop at the retry budget when it fails them all; the metrics
// at a equal what curl saw; a server-first protocol and a WebSocket-style
// Upgrade to the same destination are relayed untouched.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/http_test_server.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

// Budget: ratio 0.2 and no minimum, so that the budget test sees it bite;
// the retry test uses the Linkerd-like default minimum (10/s) instead.
constexpr char kPolicy[] = R"(apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: b-calls, namespace: shop}
spec:
  destination: {serviceAccount: b}
  retry:
    attempts: 2
    on: [5xx, connect-failure]
  retryBudget: {ratio: 0.2, minPerSecond: 0, ttl: 60s}
  routes:
    - match: {pathPrefix: /slow/}
      timeout: 300ms
)";

class TrafficForwardingTest : public MeshTest {
 protected:
  void Pair(int backend_port, std::string policy_yaml = kPolicy) {
    StartControl();
    b_ = StartProxy("b", absl::StrCat("127.0.0.1:", backend_port), "", "");
    ASSERT_NE(b_, nullptr);
    const std::string policy = dir() + "/a-traffic.yaml";
    ASSERT_TRUE(WriteFileAtomic(policy, policy_yaml).ok());
    a_ = StartProxy("a", "", absl::StrCat("127.0.0.1:", b_->inbound_port()), SpiffeId("b"),
                    {"--policy-file", policy});
    ASSERT_NE(a_, nullptr);
  }

  // Curl: the status codes curl printed, one per URL (relative to a).
  std::vector<std::string> Curl(const std::vector<std::string>& args) {
    return MeshTest::Curl(a_->outbound_port(), args);
  }

  double Metric(ProxyProcess* p, const std::string& name, std::vector<std::string> with = {}) {
    auto m = p->Scrape();
    EXPECT_TRUE(m.has_value());
    return m ? SumMetric(*m, name, with) : -1;
  }

  // The origin outlives the proxies (stopped in TearDown), whose kept-alive
  // connections it serves.
  HttpTestServer origin;
  ProxyProcess* a_ = nullptr;
  ProxyProcess* b_ = nullptr;
};

TEST_F(TrafficForwardingTest, RetriesRecoverFromAnOriginFailingOneInTwo) {
  std::string policy = kPolicy;
  policy.replace(policy.find("minPerSecond: 0"), 15, "minPerSecond: 10");
  Pair(origin.port(), policy);
  std::vector<std::string> urls(10, "/flaky");
  const std::vector<std::string> seen = Curl(urls);
  EXPECT_EQ(seen, std::vector<std::string>(10, "200"));
  EXPECT_EQ(origin.requests(), 20);  // each failed once and was sent again
  EXPECT_EQ(Metric(a_, "tether_proxy_http_retries_total", {"reason=\"5xx\""}), 10);
  // a counts what curl saw (10 answers, all 200); b saw every try.
  EXPECT_EQ(Metric(a_, "tether_proxy_http_responses_total",
                   {"direction=\"outbound\"", "status_code=\"200\""}),
            10);
  EXPECT_EQ(Metric(a_, "tether_proxy_http_requests_total", {"direction=\"outbound\""}), 10);
  ASSERT_TRUE(WaitFor([&] {
    return Metric(b_, "tether_proxy_http_responses_total", {"direction=\"inbound\""}) == 20;
  }));
}

TEST_F(TrafficForwardingTest, RetriesStopAtTheBudgetWhenEverythingFails) {
  Pair(origin.port());
  std::vector<std::string> urls(30, "/status/503");
  EXPECT_EQ(Curl(urls), std::vector<std::string>(30, "503"));
  // 20% of 30 requests: 6 retries, where attempts alone would allow 60.
  EXPECT_EQ(Metric(a_, "tether_proxy_http_retries_total"), 6);
  EXPECT_EQ(origin.requests(), 36);
  EXPECT_GT(Metric(a_, "tether_proxy_http_retry_budget_exhausted_total"), 0);
}

TEST_F(TrafficForwardingTest, ATimeoutAnswers504AtTheConfiguredTime) {
  Pair(origin.port());
  const absl::Time start = absl::Now();
  EXPECT_EQ(Curl({"/slow/1500"}), std::vector<std::string>{"504"});
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Milliseconds(1200)) << took;
  std::cerr << "504 after " << took << " (timeout 300ms)" << std::endl;
  EXPECT_EQ(Metric(a_, "tether_proxy_http_responses_total",
                   {"direction=\"outbound\"", "status_code=\"504\""}),
            1);
  // Routes without the timeout are not cut short.
  EXPECT_EQ(Curl({"/users/1", "-H", "Connection: close", "/users/2"}),
            (std::vector<std::string>{"200", "200"}));
}

TEST_F(TrafficForwardingTest, AServerFirstProtocolToThePolicysDestinationIsRelayed) {
  const std::string greeting = "220 smtp.test ready\r\n";
  LoopbackServer server([&](int fd) {
    (void)!write(fd, greeting.data(), greeting.size());
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) (void)!write(fd, buf, static_cast<size_t>(n));
    shutdown(fd, SHUT_WR);
    close(fd);
  });
  Pair(server.port());
  int fd = ConnectLoopback(a_->outbound_port());
  ASSERT_GE(fd, 0);
  const absl::Time start = absl::Now();
  const std::string got = ReadAll(fd, greeting.size());  // the server then waits
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(got, greeting);
  EXPECT_LT(waited, absl::Milliseconds(100)) << waited;
  std::cerr << "server-first greeting under a TrafficPolicy in " << waited << std::endl;
  ASSERT_EQ(write(fd, "EHLO a\r\n", 8), 8);
  char echo[64];
  EXPECT_EQ(read(fd, echo, sizeof(echo)), 8);
  close(fd);
}

TEST_F(TrafficForwardingTest, AnUpgradeIsRelayedAsATunnel) {
  // A WebSocket-style origin: 101, then echoes bytes both ways.
  LoopbackServer server([&](int fd) {
    char buf[4096];
    std::string in;
    while (in.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    const std::string head =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    (void)!write(fd, head.data(), head.size());
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      (void)!write(fd, buf, static_cast<size_t>(n));
    }
    close(fd);
  });
  Pair(server.port());
  int fd = ConnectLoopback(a_->outbound_port());
  ASSERT_GE(fd, 0);
  const std::string req =
      "GET /chat HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[512];
  while (got.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_TRUE(absl::StartsWith(got, "HTTP/1.1 101")) << got;
  ASSERT_EQ(write(fd, "\x81\x02hi", 4), 4);
  EXPECT_EQ(ReadAll(fd, 4), "\x81\x02hi");  // echoed, then the origin waits
  close(fd);
}

TEST_F(TrafficForwardingTest, DrainingClosesIdleKeepAliveConnectionsAtOnce) {
  Pair(origin.port());
  // One request leaves a pooled mTLS connection idle at a, and its relay
  // idle at b: neither may hold up a shutdown for the drain timeout.
  ASSERT_EQ(Curl({"/users/1"}), std::vector<std::string>{"200"});
  for (ProxyProcess* p : {b_, a_}) {
    const absl::Time start = absl::Now();
    EXPECT_EQ(p->Terminate(absl::Seconds(40)), 0);
    const absl::Duration took = absl::Now() - start;
    EXPECT_LT(took, absl::Seconds(3)) << "drained in " << took;
    std::cerr << "drained in " << took << std::endl;
  }
}

}  // namespace
}  // namespace tether::testing
