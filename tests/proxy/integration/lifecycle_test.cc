// The proxy's own end (real processes): SIGTERM stops accepting, reports
// not ready, lets open connections finish and exits 0 as soon as they have,
// or at --drain-timeout with the rest cut; SIGKILL followed by a restart on
// the same ports serves again.
#include <csignal>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

// CleanEnd half-closes and expects EOF with nothing before it.
bool CleanEnd(int fd) {
  shutdown(fd, SHUT_WR);
  char c;
  return read(fd, &c, 1) == 0;
}

bool ExitedZero(const std::optional<int>& st) {
  return st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
}

class LifecycleTest : public MeshTest {};

TEST_F(LifecycleTest, SigtermDrainsOpenConnectionsAndExitsWhenTheyFinish) {
  StartControl("10m");
  StartPair({"--drain-timeout", "60s"});
  ASSERT_FALSE(HasFatalFailure());
  const int port = a()->outbound_port();
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(ConnectLoopback(port));
    ASSERT_TRUE(Echo(open.back(), absl::StrCat("before ", i)));
  }

  const absl::Time term = absl::Now();
  EXPECT_FALSE(a()->Terminate(absl::ZeroDuration()).has_value());
  // Draining: new callers are refused (the listener is gone), /ready says
  // so, the open connections go on.
  EXPECT_TRUE(WaitFor([&] {
    int fd = ConnectLoopback(port);
    if (fd >= 0) close(fd);
    return fd < 0;
  })) << "still accepting after SIGTERM";
  const std::string ready = a()->ReadyResponse();
  EXPECT_TRUE(absl::StartsWith(ready, "HTTP/1.1 503")) << ready;
  EXPECT_TRUE(absl::StrContains(ready, "draining")) << ready;
  for (size_t i = 0; i < open.size(); ++i) {
    EXPECT_TRUE(Echo(open[i], absl::StrCat("during ", i))) << i;
  }
  EXPECT_TRUE(a()->Running());
  // The last one finishes: the proxy exits 0 then, not at the deadline.
  for (int fd : open) {
    EXPECT_TRUE(CleanEnd(fd));
    close(fd);
  }
  const std::optional<int> st = a()->Terminate(absl::Seconds(45));
  const absl::Duration took = absl::Now() - term;
  ASSERT_TRUE(st.has_value()) << "still running 45 s after its last connection ended";
  EXPECT_TRUE(ExitedZero(st)) << DescribeExit(*st);
  EXPECT_LT(took, absl::Seconds(60)) << "waited for the drain deadline";
  std::cerr << "drained 3 connections and exited " << took << " after SIGTERM\n";
  // b saw every connection end cleanly.
  EXPECT_TRUE(WaitForMetric(
      b()->admin_port(), R"(tether_proxy_connections_total{direction="inbound",outcome="ok"})", 3));
}

TEST_F(LifecycleTest, SigtermWithAConnectionThatStaysOpenExitsAtTheDrainDeadline) {
  StartControl("10m");
  StartPair({"--drain-timeout", "3s"});
  ASSERT_FALSE(HasFatalFailure());
  int fd = ConnectLoopback(a()->outbound_port());
  ASSERT_TRUE(Echo(fd, "hold on"));

  const absl::Time term = absl::Now();
  const std::optional<int> st = a()->Terminate(absl::Seconds(45));
  const absl::Duration took = absl::Now() - term;
  ASSERT_TRUE(st.has_value()) << "still running 45 s after SIGTERM with --drain-timeout 3s";
  EXPECT_TRUE(ExitedZero(st)) << DescribeExit(*st);
  EXPECT_GE(took, absl::Seconds(3)) << "did not wait for the open connection";
  EXPECT_TRUE(Ends(fd)) << "the held connection survived the proxy";
  close(fd);
  std::cerr << "exited " << took << " after SIGTERM with a connection held open\n";
  // b's side of it ends too.
  EXPECT_TRUE(WaitForMetric(b()->admin_port(),
                            R"(tether_proxy_connections_active{direction="inbound"})", 0));
  EXPECT_TRUE(WaitFor([&] {
    auto m = b()->Scrape();
    return m && SumMetric(*m, "tether_proxy_connections_total") == 1;
  }));
}

TEST_F(LifecycleTest, SigkilledProxyRestartedOnItsPortsServesAgain) {
  StartControl("10m");
  StartPair();
  ASSERT_FALSE(HasFatalFailure());
  const int out_port = a()->outbound_port();
  int fd = ConnectLoopback(out_port);
  ASSERT_TRUE(Echo(fd, "before the crash"));

  a()->Kill();
  EXPECT_TRUE(Ends(fd)) << "a connection outlived its proxy";
  close(fd);
  EXPECT_EQ(Roundtrip(out_port, "nobody home"), "<connect failed>");

  // The same ports again, a fresh join token (the old one was used).
  ProxyProcess* again = StartProxy("a", "", LoopbackAddress(b()->inbound_port()), SpiffeId("b"),
                                   {"--outbound-listen", LoopbackAddress(out_port)});
  ASSERT_NE(again, nullptr);
  ASSERT_EQ(again->outbound_port(), out_port);
  for (int i = 0; i < 5; ++i) {
    const std::string msg = absl::StrCat("after the restart ", i);
    EXPECT_EQ(Roundtrip(out_port, msg), msg);
  }
  EXPECT_TRUE(again->Ready());
}

}  // namespace
}  // namespace tether::testing
