// Faults around a real proxy pair (tether-control, a -> b -> backend, real
// processes): the backend refuses, resets or stalls; the peer proxy dies
// mid-stream and comes back. Every client must see its connection end
// (never hang), the proxies must count why, and afterwards hold exactly the
// file descriptors they held before (counted in /proc/<pid>/fd) and serve
// again by themselves.
#include <csignal>
#include <map>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/faulty_backend.h"
#include "tests/testing/net_helpers.h"
#include "tests/testing/proc_stats.h"

namespace tether::testing {
namespace {

// UnusedPort: a loopback port nothing listens on (bound once, then released).
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

double Metric(ProxyProcess* p, const std::string& series) {
  auto m = p->Scrape();
  return m ? MetricValue(*m, series) : -1;
}

double Total(ProxyProcess* p, const char* direction) {
  auto m = p->Scrape();
  return m ? SumMetric(*m, "tether_proxy_connections_total",
                       {absl::StrCat("direction=\"", direction, "\"")})
           : -1;
}

class FaultTest : public MeshTest {
 protected:
  // StartPairTo: b forwards inbound to `backend_port`, a sends outbound to b.
  void StartPairTo(int backend_port, const std::vector<std::string>& b_flags = {}) {
    pb_ = StartProxy("b", LoopbackAddress(backend_port), "", "", b_flags);
    ASSERT_NE(pb_, nullptr);
    pa_ = StartProxy("a", "", LoopbackAddress(pb_->inbound_port()), SpiffeId("b"));
    ASSERT_NE(pa_, nullptr);
  }

  // Baseline records each proxy's open descriptors once it is idle.
  void Baseline() {
    for (ProxyProcess* p : {pa_, pb_}) {
      ASSERT_TRUE(WaitFor([p] { return Metric(p, kActiveIn) + Metric(p, kActiveOut) == 0; }));
      fds_[p] = OpenFds(p->pid());
      ASSERT_GT(fds_[p], 0);
    }
  }

  // ExpectBackToBaseline: no connection left open and no descriptor more
  // than at Baseline (waiting for closes still in flight).
  void ExpectBackToBaseline(const std::string& when) {
    for (ProxyProcess* p : {pa_, pb_}) {
      if (!p->Running()) continue;
      EXPECT_TRUE(WaitFor([p] { return Metric(p, kActiveIn) + Metric(p, kActiveOut) == 0; }))
          << p->options().name << " still has open connections " << when;
      const int base = fds_[p];
      EXPECT_TRUE(WaitFor([p, base] { return OpenFds(p->pid()) <= base; }))
          << p->options().name << " holds " << OpenFds(p->pid()) << " descriptors " << when << ", "
          << base << " before:\n"
          << DescribeFds(p->pid());
    }
  }

  static constexpr char kActiveIn[] = R"(tether_proxy_connections_active{direction="inbound"})";
  static constexpr char kActiveOut[] = R"(tether_proxy_connections_active{direction="outbound"})";

  ProxyProcess* pa_ = nullptr;
  ProxyProcess* pb_ = nullptr;
  std::map<ProxyProcess*, int> fds_;
};

TEST_F(FaultTest, BackendRefusingConnectionsEndsEachClientCleanly) {
  const int dead = UnusedPort();
  StartControl("10m");
  StartPairTo(dead);
  ASSERT_FALSE(HasFatalFailure());
  Baseline();

  constexpr int kTries = 20;
  for (int i = 0; i < kTries; ++i) {
    EXPECT_EQ(Roundtrip(pa_->outbound_port(), absl::StrCat("refused ", i)), "") << i;
  }
  EXPECT_TRUE(WaitForMetric(pb_->admin_port(), OutcomeSeries("inbound", "connect_failed"), kTries));
  EXPECT_TRUE(WaitFor([&] { return Total(pa_, "outbound") == kTries; }));
  EXPECT_EQ(Metric(pa_, OutcomeSeries("outbound", "ok")), 0);
  EXPECT_EQ(Total(pb_, "inbound"), kTries);
  ExpectBackToBaseline("after the refusals");

  // The app comes up on that port: served at once, nothing to reset.
  FaultyBackend app(FaultyBackend::Mode::kEcho, dead);
  EXPECT_EQ(Roundtrip(pa_->outbound_port(), "app is up"), "app is up");
  EXPECT_TRUE(pa_->Ready());
  ExpectBackToBaseline("after the app came up");
}

TEST_F(FaultTest, BackendResettingMidStreamResetsTheClientThroughBothProxies) {
  FaultyBackend app(FaultyBackend::Mode::kResetAfterFirstRead);
  StartControl("10m");
  StartPairTo(app.port());
  ASSERT_FALSE(HasFatalFailure());
  Baseline();

  constexpr int kTries = 20;
  for (int i = 0; i < kTries; ++i) {
    int fd = ConnectLoopback(pa_->outbound_port());
    ASSERT_GE(fd, 0);
    const std::string hello = absl::StrCat("hello ", i);
    ASSERT_TRUE(WriteAll(fd, hello));
    std::string got;
    EXPECT_TRUE(Ends(fd, &got)) << "connection " << i << " still open after the backend's reset";
    // Whatever arrived before the reset is the echo's beginning, never more.
    EXPECT_EQ(hello.substr(0, got.size()), got) << i;
    close(fd);
  }
  EXPECT_TRUE(
      WaitForMetric(pb_->admin_port(), OutcomeSeries("inbound", "reset_by_upstream"), kTries));
  EXPECT_EQ(Total(pb_, "inbound"), kTries);
  EXPECT_TRUE(WaitFor([&] { return Total(pa_, "outbound") == kTries; }));
  EXPECT_TRUE(WaitFor([&] { return app.open() == 0; }));
  ExpectBackToBaseline("after the resets");
  EXPECT_TRUE(pa_->Ready());
  EXPECT_TRUE(pb_->Ready());
}

TEST_F(FaultTest, StalledBackendIsLetGoWhenTheClientGivesUpOrAtTheIdleTimeout) {
  FaultyBackend app(FaultyBackend::Mode::kStall);
  StartControl("10m");
  StartPairTo(app.port(), {"--idle-timeout", "8s"});
  ASSERT_FALSE(HasFatalFailure());
  Baseline();

  // Clients that give up (reset) while the backend stalls: both proxies let
  // go of both sides at once, long before the idle timeout.
  constexpr int kGiveUp = 10;
  std::vector<int> fds;
  for (int i = 0; i < kGiveUp; ++i) {
    fds.push_back(ConnectLoopback(pa_->outbound_port()));
    ASSERT_GE(fds.back(), 0);
    ASSERT_TRUE(WriteAll(fds.back(), "anyone there?"));
  }
  ASSERT_TRUE(WaitFor([&] { return app.accepted() == kGiveUp; }));
  for (int fd : fds) ResetClose(fd);
  EXPECT_TRUE(WaitFor([&] { return app.open() == 0; }))
      << app.open() << " backend connections still held";
  EXPECT_TRUE(
      WaitForMetric(pb_->admin_port(), OutcomeSeries("inbound", "reset_by_downstream"), kGiveUp));
  EXPECT_TRUE(
      WaitForMetric(pa_->admin_port(), OutcomeSeries("outbound", "reset_by_downstream"), kGiveUp));
  EXPECT_EQ(Metric(pb_, OutcomeSeries("inbound", "idle_timeout")), 0)
      << "b waited for the idle timeout instead of noticing the client left";
  ExpectBackToBaseline("after the clients gave up");

  // Clients that wait: b's idle timeout (8 s) ends them, each is told.
  constexpr int kWait = 5;
  fds.clear();
  for (int i = 0; i < kWait; ++i) {
    fds.push_back(ConnectLoopback(pa_->outbound_port()));
    ASSERT_GE(fds.back(), 0);
    ASSERT_TRUE(WriteAll(fds.back(), "still there?"));
  }
  for (int fd : fds) {
    EXPECT_TRUE(Ends(fd)) << "a client still waits past b's idle timeout";
    close(fd);
  }
  EXPECT_TRUE(WaitForMetric(pb_->admin_port(), OutcomeSeries("inbound", "idle_timeout"), kWait));
  EXPECT_TRUE(WaitFor([&] { return app.open() == 0; }));
  ExpectBackToBaseline("after the idle timeouts");
}

TEST_F(FaultTest, PeerProxyKilledMidStreamEndsItsConnectionsAndIsReachedAgainAfterARestart) {
  StartControl("10m");
  StartPairTo(backend().port());
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Roundtrip(pa_->outbound_port(), "warm"), "warm");
  Baseline();
  const int b_port = pb_->inbound_port();

  constexpr int kStreams = 4;
  std::vector<int> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(ConnectLoopback(pa_->outbound_port()));
    ASSERT_TRUE(Echo(streams.back(), RandomBytes(64 * 1024, i))) << i;
  }
  pb_->Kill();
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_TRUE(Ends(streams[i])) << "stream " << i << " still open after its peer proxy died";
    close(streams[i]);
  }
  // While b is gone: a refuses new connections at once, stays ready (its
  // certificate is fine), and holds nothing for the dead peer.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Roundtrip(pa_->outbound_port(), "b is gone"), "");
  EXPECT_TRUE(WaitForMetric(pa_->admin_port(), OutcomeSeries("outbound", "connect_failed"), 5));
  EXPECT_TRUE(pa_->Ready());
  ExpectBackToBaseline("with the peer proxy dead");

  // b restarted on the same port (a new join token): a reaches it again by
  // itself; its cached TLS sessions with the old b fall back to a full
  // handshake.
  pb_ = StartProxy("b", LoopbackAddress(backend().port()), "", "",
                   {"--inbound-listen", LoopbackAddress(b_port)});
  ASSERT_NE(pb_, nullptr);
  ASSERT_EQ(pb_->inbound_port(), b_port);
  Baseline();  // of the new b
  for (int i = 0; i < 5; ++i) {
    const std::string msg = absl::StrCat("b is back ", i);
    EXPECT_EQ(Roundtrip(pa_->outbound_port(), msg), msg);
  }
  ExpectBackToBaseline("after the restart");
}

TEST_F(FaultTest, CallerProxyKilledMidStreamReleasesTheBackendConnections) {
  FaultyBackend app(FaultyBackend::Mode::kEcho);
  StartControl("10m");
  StartPairTo(app.port());
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Roundtrip(pa_->outbound_port(), "warm"), "warm");
  Baseline();

  constexpr int kStreams = 4;
  std::vector<int> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(ConnectLoopback(pa_->outbound_port()));
    ASSERT_TRUE(Echo(streams.back(), RandomBytes(64 * 1024, 10 + i))) << i;
  }
  ASSERT_EQ(app.open(), kStreams);
  pa_->Kill();
  for (int fd : streams) {
    EXPECT_TRUE(Ends(fd));
    close(fd);
  }
  // b ends each backend connection once its caller is gone.
  EXPECT_TRUE(WaitFor([&] { return app.open() == 0; }))
      << app.open() << " backend connections still open";
  EXPECT_TRUE(WaitFor([&] { return Total(pb_, "inbound") == kStreams + 1; }));
  EXPECT_TRUE(pb_->Ready());
  ExpectBackToBaseline("after the caller died");
}

}  // namespace
}  // namespace tether::testing
