// Resource exhaustion at a real proxy pair (tether-control, a -> b ->
// backend, real processes):
//  - the proxy's descriptor limit (RLIMIT_NOFILE, lowered with prlimit) is
//    reached: open connections go on, the proxy backs off rather than
//    spinning, and serves new connections once descriptors free up;
//  - slow-loris handshakes (nothing, a partial ClientHello, a byte now and
//    then): cut at --handshake-timeout whatever trickles in, while real
//    clients are served;
//  - an upstream that never answers the handshake: cut at the same timeout;
//  - a client that never reads a backend that never stops writing: the
//    proxies' memory stays flat and the backend is held back (bounded
//    buffers), then the flow resumes when the client reads.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/faulty_backend.h"
#include "tests/testing/net_helpers.h"
#include "tests/testing/proc_stats.h"

namespace tether::testing {
namespace {

void SetReadTimeout(int fd, absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

class ExhaustionTest : public MeshTest {
 protected:
  static bool Idle(ProxyProcess* p) {
    auto m = p->Scrape();
    return m && SumMetric(*m, "tether_proxy_connections_active") == 0;
  }
  // ExpectFdsAtMost waits until `p` holds at most `n` descriptors.
  static void ExpectFdsAtMost(ProxyProcess* p, int n, const std::string& when) {
    EXPECT_TRUE(WaitFor([p] { return Idle(p); })) << p->options().name << " " << when;
    EXPECT_TRUE(WaitFor([p, n] { return OpenFds(p->pid()) <= n; }))
        << p->options().name << " holds " << OpenFds(p->pid()) << " descriptors " << when << ", "
        << n << " before:\n"
        << DescribeFds(p->pid());
  }
};

TEST_F(ExhaustionTest, AtTheDescriptorLimitTheProxyBacksOffAndServesAgainOnceDescriptorsFree) {
  StartControl("10m");
  StartPair();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Roundtrip(a()->outbound_port(), "warm"), "warm");
  ASSERT_TRUE(WaitFor([&] { return Idle(a()); }));
  // The admin server closes a scrape's socket a little after answering:
  // the fewest descriptors seen over a second is the idle count.
  int base = OpenFds(a()->pid());
  for (int i = 0; i < 10; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    base = std::min(base, OpenFds(a()->pid()));
  }
  ASSERT_GT(base, 0);
  // Room for about a dozen relayed connections (two descriptors each).
  ASSERT_TRUE(SetFdLimit(a()->pid(), base + 24).ok());

  // Fill it: connections that echo are held; the first that does not (left
  // in the listen backlog, or reset because no upstream socket could be
  // made) marks the limit.
  std::vector<int> held;
  int refused_fd = -1;
  for (int i = 0; i < 40 && refused_fd < 0; ++i) {
    int fd = ConnectLoopback(a()->outbound_port());
    ASSERT_GE(fd, 0);
    SetReadTimeout(fd, absl::Seconds(5));
    if (Echo(fd, absl::StrCat("held ", i))) {
      held.push_back(fd);
    } else {
      refused_fd = fd;
    }
  }
  ASSERT_GE(refused_fd, 0) << "the limit was never reached";
  EXPECT_GE(held.size(), 5u);
  EXPECT_LE(held.size(), 12u);

  // More callers queue up at the limit.
  constexpr int kQueued = 5;
  std::vector<int> queued;
  for (int i = 0; i < kQueued; ++i) {
    int fd = ConnectLoopback(a()->outbound_port());
    ASSERT_GE(fd, 0);
    // May fail: at one descriptor short, the proxy accepts and resets at once.
    WriteAll(fd, absl::StrCat("queued ", i));
    queued.push_back(fd);
  }
  // At the limit: no busy loop (a spinning acceptor would burn a whole core
  // for these 3 s), and the open connections still relay.
  const double cpu_before = CpuSeconds(a()->pid());
  absl::SleepFor(absl::Seconds(3));
  const double cpu_used = CpuSeconds(a()->pid()) - cpu_before;
  EXPECT_LT(cpu_used, 0.75) << "the proxy spins at its descriptor limit";
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(Echo(held[i], absl::StrCat("still ", i))) << i;
  }

  // Descriptors free up: every queued caller is either served now or was
  // reset while the limit held; none hangs. New callers are served.
  for (int fd : held) close(fd);
  close(refused_fd);
  int served = 0;
  for (int i = 0; i < kQueued; ++i) {
    SetReadTimeout(queued[i], absl::Seconds(20));
    const std::string want = absl::StrCat("queued ", i);
    std::string got(want.size(), '\0');
    size_t n = 0;
    while (n < want.size()) {
      ssize_t r = read(queued[i], got.data() + n, want.size() - n);
      if (r <= 0) {
        EXPECT_TRUE(r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            << "queued caller " << i << " hangs after descriptors freed up";
        break;
      }
      n += static_cast<size_t>(r);
    }
    if (n == want.size() && got == want) ++served;
    close(queued[i]);
  }
  // Every connection closed on our side; once a has closed its ends too,
  // new callers are served.
  EXPECT_TRUE(WaitFor([&] { return Idle(a()); }));
  for (int i = 0; i < 10; ++i) {
    const std::string msg = absl::StrCat("after ", i);
    EXPECT_EQ(Roundtrip(a()->outbound_port(), msg), msg);
  }
  EXPECT_TRUE(a()->Ready()) << a()->ReadyResponse();
  auto m = a()->Scrape();
  ASSERT_TRUE(m.has_value()) << "the admin endpoint did not come back";
  const double accept_errors = MetricValue(*m, OutcomeSeries("outbound", "accept_error"));
  const double connect_failed = MetricValue(*m, OutcomeSeries("outbound", "connect_failed"));
  std::cerr << "descriptor limit " << base + 24 << ": " << held.size() << " held, " << served
            << " of " << kQueued << " queued served after, " << accept_errors << " accept retries, "
            << connect_failed << " resets, " << cpu_used << " s CPU in 3 s at the limit\n";
  EXPECT_GT(accept_errors + connect_failed, 0) << "the limit was never felt";
  ExpectFdsAtMost(a(), base, "after the limit");
}

TEST_F(ExhaustionTest, SlowLorisHandshakesAreCutAtTheHandshakeTimeoutWhileOthersAreServed) {
  StartControl("10m");
  StartPair({}, {"--handshake-timeout", "2s"});
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Roundtrip(a()->outbound_port(), "warm"), "warm");
  ASSERT_TRUE(WaitFor([&] { return Idle(b()); }));
  const int base = OpenFds(b()->pid());
  const int port = b()->inbound_port();

  // Silent ones and ones that stop inside their ClientHello.
  constexpr int kSilent = 50, kPartial = 50, kDrip = 10;
  std::vector<int> slow;
  const std::string hello_start("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  for (int i = 0; i < kSilent + kPartial; ++i) {
    slow.push_back(ConnectLoopback(port));
    ASSERT_GE(slow.back(), 0);
    if (i >= kSilent) {
      ASSERT_TRUE(WriteAll(slow.back(), hello_start));
    }
  }
  // Drippers: a byte of ClientHello every 300 ms, which must not extend the
  // deadline.
  std::atomic<int> dripper_cut{0};
  std::vector<std::thread> drippers;
  const absl::Time drip_start = absl::Now();
  for (int i = 0; i < kDrip; ++i) {
    drippers.emplace_back([&, port] {
      int fd = ConnectLoopback(port);
      if (fd < 0) return;
      for (size_t sent = 0; absl::Now() - drip_start < absl::Seconds(60); ++sent) {
        char byte = sent < hello_start.size() ? hello_start[sent] : 'x';
        if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) {
          ++dripper_cut;
          break;
        }
        absl::SleepFor(absl::Milliseconds(300));
      }
      close(fd);
    });
  }
  // Meanwhile real callers go through b.
  for (int i = 0; i < 10; ++i) {
    const std::string msg = absl::StrCat("real ", i);
    EXPECT_EQ(Roundtrip(a()->outbound_port(), msg), msg);
  }
  for (size_t i = 0; i < slow.size(); ++i) {
    EXPECT_TRUE(Ends(slow[i])) << "slow client " << i << " still open";
    close(slow[i]);
  }
  for (auto& t : drippers) t.join();
  EXPECT_EQ(dripper_cut.load(), kDrip) << "a dripping handshake outlived the timeout by 60 s";
  const int total = kSilent + kPartial + kDrip;
  EXPECT_TRUE(
      WaitForMetric(b()->admin_port(), OutcomeSeries("inbound", "handshake_timeout"), total));
  EXPECT_TRUE(WaitForMetric(
      b()->admin_port(),
      R"(tether_proxy_tls_handshake_failures_total{direction="inbound",reason="handshake_timeout"})",
      total));
  EXPECT_EQ(backend().connections(), 11);  // only the real callers reached the app
  ExpectFdsAtMost(b(), base, "after the slow handshakes");
}

TEST_F(ExhaustionTest, UpstreamThatNeverAnswersTheHandshakeIsCutAtTheTimeout) {
  FaultyBackend silent(FaultyBackend::Mode::kStall);
  StartControl("10m");
  ProxyProcess* a = StartProxy("a", "", LoopbackAddress(silent.port()), SpiffeId("b"),
                               {"--handshake-timeout", "2s"});
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitFor([&] { return Idle(a); }));
  const int base = OpenFds(a->pid());
  constexpr int kTries = 5;
  for (int i = 0; i < kTries; ++i) EXPECT_EQ(Roundtrip(a->outbound_port(), "hello?"), "");
  EXPECT_TRUE(
      WaitForMetric(a->admin_port(), OutcomeSeries("outbound", "handshake_timeout"), kTries));
  EXPECT_TRUE(WaitFor([&] { return silent.open() == 0; })) << "the proxy kept its upstream open";
  ExpectFdsAtMost(a, base, "after the silent upstream");
}

TEST_F(ExhaustionTest, ClientThatNeverReadsHoldsTheBackendBackWithFlatProxyMemory) {
  FaultyBackend firehose(FaultyBackend::Mode::kFirehose);
  StartControl("10m");
  ProxyProcess* b = StartProxy("b", LoopbackAddress(firehose.port()), "");
  ASSERT_NE(b, nullptr);
  ProxyProcess* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()), SpiffeId("b"));
  ASSERT_NE(a, nullptr);
  const int64_t rss_a = RssBytes(a->pid()), rss_b = RssBytes(b->pid());
  ASSERT_GT(rss_a, 0);

  constexpr int kClients = 4;
  std::vector<int> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(ConnectLoopback(a->outbound_port()));
    ASSERT_GE(clients.back(), 0);
  }
  ASSERT_TRUE(WaitFor([&] { return firehose.accepted() == kClients; }));
  // The backend is held back: what it could send stops growing (socket
  // buffers and the proxies' bounded buffers are full).
  uint64_t last = 0;
  int still = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::SleepFor(absl::Milliseconds(500));
        const uint64_t now = firehose.bytes_sent();
        still = now == last ? still + 1 : 0;
        last = now;
        return still >= 4;  // 2 s without a byte more
      },
      absl::Seconds(60)))
      << "the backend is never held back: " << firehose.bytes_sent() << " bytes sent";
  const int64_t grew_a = RssBytes(a->pid()) - rss_a, grew_b = RssBytes(b->pid()) - rss_b;
  std::cerr << "never-reading clients: backend held at " << (last >> 20) << " MiB; RSS grew by "
            << (grew_a >> 10) << " KiB (a), " << (grew_b >> 10) << " KiB (b)\n";
  EXPECT_LT(last, uint64_t{256} << 20);
  EXPECT_LT(grew_a, (int64_t{16} << 20) * kMemoryScale)
      << "a buffers what its client does not read";
  EXPECT_LT(grew_b, (int64_t{16} << 20) * kMemoryScale) << "b buffers what its peer does not read";

  // The clients read: the flow resumes.
  for (int fd : clients) {
    std::string got = ReadAll(fd, 4 << 20);
    EXPECT_GE(got.size(), size_t{4} << 20);
  }
  EXPECT_TRUE(WaitFor([&] { return firehose.bytes_sent() > last; }));
  for (int fd : clients) close(fd);
  EXPECT_TRUE(WaitFor([&] { return firehose.open() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return Idle(a) && Idle(b); }));
}

}  // namespace
}  // namespace tether::testing
