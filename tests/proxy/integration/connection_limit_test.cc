// --max-connections: open connections per direction before the proxy refuses
// new ones. Over the limit a new connection is reset at once and counted as
// outcome "over_limit"; the open ones are untouched; once one closes, a new
// one is accepted again. The limit holds for the whole proxy (every worker)
// and for each direction on its own.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

constexpr char kOutboundOverLimit[] =
    R"(tether_proxy_connections_total{direction="outbound",outcome="over_limit"})";
constexpr char kInboundOverLimit[] =
    R"(tether_proxy_connections_total{direction="inbound",outcome="over_limit"})";
constexpr char kOutboundActive[] = R"(tether_proxy_connections_active{direction="outbound"})";

// Open: a connection through a proxy that has proven it reaches the backend.
class OpenConnection {
 public:
  explicit OpenConnection(int port) : fd_(ConnectLoopback(port)) {}
  ~OpenConnection() {
    if (fd_ >= 0) close(fd_);
  }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;

  // Echo sends `data` and reads it back.
  bool Echo(const std::string& data) { return fd_ >= 0 && tether::testing::Echo(fd_, data); }
  // CloseCleanly half-closes and expects EOF straight back.
  bool CloseCleanly() {
    shutdown(fd_, SHUT_WR);
    char c;
    bool eof = read(fd_, &c, 1) == 0;
    close(fd_);
    fd_ = -1;
    return eof;
  }

 private:
  int fd_;
};

double Metric(ProxyProcess* p, const std::string& series) {
  auto m = p->Scrape();
  return m ? MetricValue(*m, series) : -1;
}

class ConnectionLimitTest : public MeshTest {};

TEST_F(ConnectionLimitTest, OverTheLimitNewConnectionsAreRefusedUntilOneCloses) {
  StartControl();
  // Two workers: the limit is the proxy's, not each worker's.
  StartPair({"--max-connections", "3", "--workers", "2"});
  ASSERT_FALSE(HasFatalFailure());
  const int port = a()->outbound_port();

  std::vector<std::unique_ptr<OpenConnection>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(std::make_unique<OpenConnection>(port));
    ASSERT_TRUE(open.back()->Echo(absl::StrCat("open ", i))) << i;
  }
  ASSERT_TRUE(WaitForMetric(a()->admin_port(), kOutboundActive, 3));

  // Over the limit: refused (reset, nothing relayed), counted.
  const int backend_before = backend().connections();
  constexpr int kRefused = 8;
  for (int i = 0; i < kRefused; ++i) {
    EXPECT_EQ(Roundtrip(port, absl::StrCat("over ", i)), "") << i;
  }
  EXPECT_TRUE(WaitForMetric(a()->admin_port(), kOutboundOverLimit, kRefused));
  EXPECT_EQ(Metric(a(), kOutboundOverLimit), kRefused);
  EXPECT_EQ(backend().connections(), backend_before);

  // The open ones are unaffected.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(open[i]->Echo(absl::StrCat("still ", i))) << i;

  // One closes: a new connection is accepted again, and the limit holds again.
  EXPECT_TRUE(open[0]->CloseCleanly());
  open.erase(open.begin());
  ASSERT_TRUE(WaitFor([&] { return Metric(a(), kOutboundActive) == 2; }));
  open.push_back(std::make_unique<OpenConnection>(port));
  EXPECT_TRUE(open.back()->Echo("accepted again"));
  EXPECT_EQ(Roundtrip(port, "over again"), "");
  EXPECT_TRUE(WaitForMetric(a()->admin_port(), kOutboundOverLimit, kRefused + 1));
  for (auto& c : open) EXPECT_TRUE(c->CloseCleanly());
  open.clear();
  // Below the limit, requests flow.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(Roundtrip(port, absl::StrCat("after ", i)), "after " + std::to_string(i));

  // Counted: 4 long-lived + 5 requests ok, 9 refusals, nothing else.
  ASSERT_TRUE(WaitFor([&] { return Metric(a(), kOutboundActive) == 0; }));
  auto ma = a()->Scrape();
  auto mb = b()->Scrape();
  ASSERT_TRUE(ma && mb);
  EXPECT_EQ(
      MetricValue(*ma, R"(tether_proxy_connections_total{direction="outbound",outcome="ok"})"), 9);
  EXPECT_EQ(MetricValue(*ma, kOutboundOverLimit), kRefused + 1);
  EXPECT_EQ(SumMetric(*ma, "tether_proxy_connections_total"), 9 + kRefused + 1);
  EXPECT_EQ(SumMetric(*ma, "tether_proxy_tls_handshake_failures_total"), 0);
  EXPECT_TRUE(WaitForMetric(
      b()->admin_port(), R"(tether_proxy_connections_total{direction="inbound",outcome="ok"})", 9));
  EXPECT_EQ(SumMetric(*b()->Scrape(), "tether_proxy_connections_total"), 9);
}

TEST_F(ConnectionLimitTest, TheLimitIsCountedPerDirection) {
  StartControl();
  const std::string backend_addr = absl::StrCat("127.0.0.1:", backend().port());
  // b <- a -> backend, and c -> a: a has both directions, each limited to 2.
  ProxyProcess* b = StartProxy("b", backend_addr, "");
  ASSERT_NE(b, nullptr);
  ProxyProcess* a = StartProxy("a", backend_addr, absl::StrCat("127.0.0.1:", b->inbound_port()),
                               SpiffeId("b"), {"--max-connections", "2"});
  ASSERT_NE(a, nullptr);
  ProxyProcess* c =
      StartProxy("c", "", absl::StrCat("127.0.0.1:", a->inbound_port()), SpiffeId("a"));
  ASSERT_NE(c, nullptr);

  // a's outbound at its limit...
  OpenConnection out1(a->outbound_port()), out2(a->outbound_port());
  ASSERT_TRUE(out1.Echo("out 1"));
  ASSERT_TRUE(out2.Echo("out 2"));
  EXPECT_EQ(Roundtrip(a->outbound_port(), "out 3"), "");
  EXPECT_TRUE(WaitForMetric(a->admin_port(), kOutboundOverLimit, 1));
  // ...does not take from its inbound, which has a limit of its own.
  OpenConnection in1(c->outbound_port()), in2(c->outbound_port());
  EXPECT_TRUE(in1.Echo("in 1"));
  EXPECT_TRUE(in2.Echo("in 2"));
  EXPECT_EQ(Roundtrip(c->outbound_port(), "in 3"), "");
  EXPECT_TRUE(WaitForMetric(a->admin_port(), kInboundOverLimit, 1));
  EXPECT_TRUE(out1.Echo("out 1 again"));
  EXPECT_TRUE(in1.Echo("in 1 again"));

  EXPECT_TRUE(out1.CloseCleanly());
  EXPECT_TRUE(out2.CloseCleanly());
  EXPECT_TRUE(in1.CloseCleanly());
  EXPECT_TRUE(in2.CloseCleanly());
  auto m = a->Scrape();
  ASSERT_TRUE(m);
  EXPECT_EQ(MetricValue(*m, kOutboundOverLimit), 1);
  EXPECT_EQ(MetricValue(*m, kInboundOverLimit), 1);
}

}  // namespace
}  // namespace tether::testing
