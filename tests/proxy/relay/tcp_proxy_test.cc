// End-to-end tests of the relay through TcpProxy: real sockets on 127.0.0.1,
// the proxy's dispatcher on a thread of its own, blocking clients and servers
// on the test's threads.
#include "proxy/relay/tcp_proxy.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/proxy/testing/dispatcher_thread.h"
#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

using testing::BlockingListener;
using testing::ConnectBlocking;
using testing::EchoServer;
using testing::Fnv1a;
using testing::PatternStream;
using testing::RandomBytes;
using testing::ReadExactly;
using testing::ReadToEof;
using testing::ResetConnection;
using testing::WriteAll;

constexpr absl::Duration kWait = absl::Seconds(20);

class TcpProxyTest : public ::testing::Test {
 protected:
  ~TcpProxyTest() override {
    loop_.RunSync([&] { proxy_.reset(); });
    loop_.Stop();
  }

  // StartProxy starts a TcpProxy in front of `upstream`; `options` may set
  // anything but the addresses and the close observer.
  void StartProxy(const SocketAddress& upstream, TcpProxyOptions options = {}) {
    options.listen_address = testing::Loopback(0);
    options.upstream_address = upstream;
    options.on_relay_close = [this](const RelayStats& stats) {
      std::lock_guard<std::mutex> lock(mu_);
      closed_.push_back(stats);
      cv_.notify_all();
    };
    loop_.RunSync([&] {
      absl::StatusOr<std::unique_ptr<TcpProxy>> proxy =
          TcpProxy::Create(loop_.dispatcher(), std::move(options));
      ASSERT_TRUE(proxy.ok()) << proxy.status();
      proxy_ = *std::move(proxy);
      address_ = proxy_->listen_address();
    });
  }

  // WaitForClose returns the stats of the n-th (1-based) closed relay.
  RelayStats WaitForClose(size_t n = 1) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(kWait),
                      [&] { return closed_.size() >= n; })) {
      ADD_FAILURE() << "relay " << n << " did not close";
      return RelayStats();
    }
    return closed_[n - 1];
  }

  TcpProxyStats Stats() {
    TcpProxyStats stats;
    loop_.RunSync([&] { stats = proxy_->stats(); });
    return stats;
  }

  size_t BufferedBytes() {
    size_t n = 0;
    loop_.RunSync([&] { n = proxy_->BufferedBytes(); });
    return n;
  }

  size_t ActiveConnections() {
    size_t n = 0;
    loop_.RunSync([&] { n = proxy_->active_connections(); });
    return n;
  }

  UniqueFd Connect() {
    UniqueFd fd = ConnectBlocking(address_);
    EXPECT_TRUE(fd.valid()) << "connect to the proxy: " << errno;
    return fd;
  }

  testing::DispatcherThread loop_;
  std::unique_ptr<TcpProxy> proxy_;
  SocketAddress address_;
  std::mutex mu_;  // guards closed_ (appended on the loop thread)
  std::condition_variable cv_;
  std::vector<RelayStats> closed_;
};

// RoundTrip sends `msg` through an echo and expects it back.
void RoundTrip(int fd, const std::string& msg) {
  ASSERT_TRUE(WriteAll(fd, msg));
  std::string got(msg.size(), '\0');
  ASSERT_TRUE(ReadExactly(fd, got.data(), got.size()));
  EXPECT_EQ(got, msg);
}

TEST_F(TcpProxyTest, ByteExactSeveralMegabytesBothWaysAtOnce) {
  BlockingListener upstream;
  StartProxy(upstream.address());
  constexpr size_t kUp = 16 << 20;
  constexpr size_t kDown = 12 << 20;
  const std::string to_server = RandomBytes(kUp, 1);
  const std::string to_client = RandomBytes(kDown, 2);
  std::string server_got, client_got;
  int server_err = -1, client_err = -1;

  std::thread server([&] {
    UniqueFd fd = upstream.Accept();
    ASSERT_TRUE(fd.valid());
    std::thread writer([&] {
      EXPECT_TRUE(WriteAll(fd.get(), to_client));
      shutdown(fd.get(), SHUT_WR);
    });
    server_got = ReadToEof(fd.get(), &server_err);
    writer.join();
  });
  UniqueFd client = Connect();
  std::thread writer([&] {
    EXPECT_TRUE(WriteAll(client.get(), to_server));
    shutdown(client.get(), SHUT_WR);
  });
  client_got = ReadToEof(client.get(), &client_err);
  writer.join();
  server.join();

  EXPECT_EQ(server_err, 0);
  EXPECT_EQ(client_err, 0);
  EXPECT_EQ(server_got.size(), kUp);
  EXPECT_EQ(client_got.size(), kDown);
  EXPECT_EQ(Fnv1a(server_got), Fnv1a(to_server));
  EXPECT_EQ(Fnv1a(client_got), Fnv1a(to_client));

  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "ok");
  EXPECT_EQ(stats.bytes_to_upstream, kUp);
  EXPECT_EQ(stats.bytes_to_downstream, kDown);
  EXPECT_LE(stats.peak_buffered_bytes, 2 * RelayOptions().buffer_size);
  TcpProxyStats totals = Stats();
  EXPECT_EQ(totals.accepted, 1u);
  EXPECT_EQ(totals.outcome(RelayOutcome::kOk), 1u);
  EXPECT_EQ(totals.bytes_to_upstream, kUp);
  EXPECT_EQ(ActiveConnections(), 0u);
}

TEST_F(TcpProxyTest, ManyConcurrentConnectionsEchoByteExact) {
  EchoServer echo;
  TcpProxyOptions options;
  options.relay.buffer_size = 4096;  // many wraps and refills
  StartProxy(echo.address(), options);
  constexpr int kConnections = 8;
  constexpr size_t kBytes = 2 << 20;
  std::vector<std::thread> clients;
  clients.reserve(kConnections);
  std::atomic<int> ok{0};
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      UniqueFd fd = ConnectBlocking(address_);
      if (!fd.valid()) return;
      const std::string data = RandomBytes(kBytes, 100 + i);
      std::thread writer([&] {
        WriteAll(fd.get(), data);
        shutdown(fd.get(), SHUT_WR);
      });
      int err = -1;
      std::string got = ReadToEof(fd.get(), &err);
      writer.join();
      if (err == 0 && got.size() == data.size() && Fnv1a(got) == Fnv1a(data)) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kConnections);
  for (int i = 1; i <= kConnections; ++i) {
    EXPECT_EQ(WaitForClose(i).outcome, RelayOutcome::kOk);
  }
  EXPECT_EQ(Stats().bytes_to_downstream, kConnections * kBytes);
}

TEST_F(TcpProxyTest, ClientHalfCloseStillReceivesTheReply) {
  BlockingListener upstream;
  StartProxy(upstream.address());
  const std::string reply = RandomBytes(1 << 20, 3);
  std::string request_seen;
  std::thread server([&] {
    UniqueFd fd = upstream.Accept();
    ASSERT_TRUE(fd.valid());
    int err = -1;
    request_seen = ReadToEof(fd.get(), &err);  // the client's FIN arrived
    EXPECT_EQ(err, 0);
    EXPECT_TRUE(WriteAll(fd.get(), reply));
  });  // closes
  UniqueFd client = Connect();
  ASSERT_TRUE(WriteAll(client.get(), std::string("GET / HTTP/1.0\r\n\r\n")));
  ASSERT_EQ(shutdown(client.get(), SHUT_WR), 0);
  int err = -1;
  std::string got = ReadToEof(client.get(), &err);
  server.join();
  EXPECT_EQ(err, 0);
  EXPECT_EQ(request_seen, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(got.size(), reply.size());
  EXPECT_EQ(Fnv1a(got), Fnv1a(reply));
  EXPECT_EQ(WaitForClose().outcome, RelayOutcome::kOk);
}

TEST_F(TcpProxyTest, ServerHalfCloseStillReceivesTheClientsData) {
  BlockingListener upstream;
  StartProxy(upstream.address());
  const std::string greeting = RandomBytes(1 << 20, 4);
  const std::string answer = RandomBytes(1 << 20, 5);
  std::string server_got;
  std::thread server([&] {
    UniqueFd fd = upstream.Accept();
    ASSERT_TRUE(fd.valid());
    EXPECT_TRUE(WriteAll(fd.get(), greeting));
    ASSERT_EQ(shutdown(fd.get(), SHUT_WR), 0);
    int err = -1;
    server_got = ReadToEof(fd.get(), &err);
    EXPECT_EQ(err, 0);
  });
  UniqueFd client = Connect();
  int err = -1;
  std::string got = ReadToEof(client.get(), &err);  // the server's FIN arrived
  EXPECT_EQ(err, 0);
  EXPECT_EQ(Fnv1a(got), Fnv1a(greeting));
  ASSERT_TRUE(WriteAll(client.get(), answer));
  client.reset();
  server.join();
  EXPECT_EQ(server_got.size(), answer.size());
  EXPECT_EQ(Fnv1a(server_got), Fnv1a(answer));
  EXPECT_EQ(WaitForClose().outcome, RelayOutcome::kOk);
}

TEST_F(TcpProxyTest, UpstreamResetReachesTheClientAsReset) {
  BlockingListener upstream;
  StartProxy(upstream.address());
  std::thread server([&] {
    UniqueFd fd = upstream.Accept();
    ASSERT_TRUE(fd.valid());
    char c;
    ASSERT_TRUE(ReadExactly(fd.get(), &c, 1));
    ResetConnection(std::move(fd));
  });
  UniqueFd client = Connect();
  ASSERT_TRUE(WriteAll(client.get(), std::string("x")));
  int err = -1;
  ReadToEof(client.get(), &err);
  server.join();
  EXPECT_EQ(err, ECONNRESET);
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "reset_by_upstream");
  EXPECT_EQ(stats.error_side, RelaySide::kUpstream);
  EXPECT_EQ(stats.error, "reset");
}

// An upstream that answers and resets at once (an app that closes with
// unread bytes, or crashes right after writing): the answer and the reset
// reach the proxy together, in one readiness event (EPOLLIN with EPOLLERR,
// which libevent reports as plain read+write, without EV_CLOSED). The relay
// must still see the reset after the short read that emptied the socket.
TEST_F(TcpProxyTest, AnswerAndResetArrivingTogetherReachTheClientAsAnswerThenReset) {
  BlockingListener upstream;
  StartProxy(upstream.address());
  UniqueFd server_fd;
  std::thread accept([&] {
    server_fd = upstream.Accept();
    char c;
    ASSERT_TRUE(ReadExactly(server_fd.get(), &c, 1));
  });
  UniqueFd client = Connect();
  ASSERT_TRUE(WriteAll(client.get(), std::string("q")));
  accept.join();
  ASSERT_TRUE(server_fd.valid());
  // Hold the proxy's loop while the answer and the reset arrive, so that it
  // sees both in one event.
  loop_.RunSync([&] {
    ASSERT_TRUE(WriteAll(server_fd.get(), std::string("answer")));
    ResetConnection(std::move(server_fd));
    absl::SleepFor(absl::Milliseconds(100));
  });
  int err = -1;
  EXPECT_EQ(ReadToEof(client.get(), &err), "answer");
  EXPECT_EQ(err, ECONNRESET) << "the client did not see the upstream's reset";
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "reset_by_upstream");
}

TEST_F(TcpProxyTest, ClientResetReachesTheServerAsReset) {
  BlockingListener upstream;
  StartProxy(upstream.address());
  int server_err = -1;
  std::thread server([&] {
    UniqueFd fd = upstream.Accept();
    ASSERT_TRUE(fd.valid());
    char c;
    ASSERT_TRUE(ReadExactly(fd.get(), &c, 1));
    ASSERT_TRUE(WriteAll(fd.get(), &c, 1));
    ReadToEof(fd.get(), &server_err);
  });
  UniqueFd client = Connect();
  RoundTrip(client.get(), "y");  // the relay is up end to end
  ResetConnection(std::move(client));
  server.join();
  EXPECT_EQ(server_err, ECONNRESET);
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "reset_by_downstream");
  EXPECT_EQ(stats.error_side, RelaySide::kDownstream);
}

// ResidentBytes: this process's resident set size.
size_t ResidentBytes() {
  int64_t pages_total = 0;
  int64_t pages_resident = 0;
  std::ifstream statm("/proc/self/statm");
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return static_cast<size_t>(pages_resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST_F(TcpProxyTest, ClientThatNeverReadsHoldsAtMostTwoBuffersInTheProxy) {
  BlockingListener upstream;
  TcpProxyOptions options;
  options.relay.buffer_size = 32 * 1024;
  StartProxy(upstream.address(), options);
  constexpr size_t kTotal = 100 << 20;
  std::atomic<size_t> written{0};

  UniqueFd client = Connect();
  testing::SetTimeouts(client.get(), kWait);
  UniqueFd server_fd = upstream.Accept();
  ASSERT_TRUE(server_fd.valid());
  testing::SetTimeouts(server_fd.get(), absl::ZeroDuration());  // block as long as needed
  size_t rss_before = ResidentBytes();
  std::thread server([&] {
    PatternStream pattern(7);
    std::vector<uint8_t> chunk(64 * 1024);
    for (size_t sent = 0; sent < kTotal; sent += chunk.size()) {
      pattern.Fill(chunk.data(), chunk.size());
      if (!WriteAll(server_fd.get(), chunk.data(), chunk.size())) return;
      written += chunk.size();
    }
    server_fd.reset();
  });

  // The client reads nothing: wait until the server cannot write any more.
  size_t last = 0;
  int unchanged = 0;
  absl::Time deadline = absl::Now() + kWait;
  while (unchanged < 5 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    size_t now = written.load();
    unchanged = (now == last && now > 0) ? unchanged + 1 : 0;
    last = now;
  }
  EXPECT_EQ(unchanged, 5) << "the server never stalled";
  EXPECT_LT(written.load(), kTotal) << "nothing pushed back on the server";
  EXPECT_LE(BufferedBytes(), 2 * options.relay.buffer_size);
  size_t rss_stalled = ResidentBytes();
  EXPECT_LT(rss_stalled, rss_before + (16 << 20)) << "memory grew while the client did not read";

  // Now read everything: byte-exact, then EOF.
  PatternStream expected(7);
  std::vector<uint8_t> got(64 * 1024), want(64 * 1024);
  size_t received = 0;
  bool same = true;
  while (received < kTotal) {
    ssize_t n = recv(client.get(), got.data(), got.size(), 0);
    if (n <= 0) break;
    expected.Fill(want.data(), static_cast<size_t>(n));
    same = same && std::equal(got.begin(), got.begin() + n, want.begin());
    received += static_cast<size_t>(n);
  }
  server.join();
  EXPECT_EQ(received, kTotal);
  EXPECT_TRUE(same);
  int err = -1;
  EXPECT_EQ(ReadToEof(client.get(), &err), "");
  EXPECT_EQ(err, 0);
  client.reset();
  RelayStats stats = WaitForClose();
  EXPECT_EQ(stats.outcome, RelayOutcome::kOk);
  EXPECT_EQ(stats.bytes_to_downstream, kTotal);
  EXPECT_LE(stats.peak_buffered_bytes, 2 * options.relay.buffer_size);
}

TEST_F(TcpProxyTest, ConnectFailureResetsTheClient) {
  // A bound socket that does not listen: the port refuses connections.
  UniqueFd holder(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress any = testing::Loopback(0);
  ASSERT_EQ(bind(holder.get(), any.addr(), any.len), 0);
  StartProxy(*LocalAddress(holder.get()));
  UniqueFd client = Connect();
  int err = -1;
  std::string got = ReadToEof(client.get(), &err);
  EXPECT_EQ(got, "");
  EXPECT_EQ(err, ECONNRESET);
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "connect_failed");
  EXPECT_EQ(stats.error, "refused");
  EXPECT_EQ(Stats().outcome(RelayOutcome::kConnectFailed), 1u);
}

TEST_F(TcpProxyTest, ConnectTimeoutResetsTheClient) {
  // A listener that never accepts, with its accept queue full: further SYNs
  // are dropped, so connecting hangs.
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress any = testing::Loopback(0);
  ASSERT_EQ(bind(listener.get(), any.addr(), any.len), 0);
  ASSERT_EQ(listen(listener.get(), 0), 0);
  SocketAddress black_hole = *LocalAddress(listener.get());
  UniqueFd filler = ConnectBlocking(black_hole);
  ASSERT_TRUE(filler.valid());

  TcpProxyOptions options;
  options.relay.connect_timeout = absl::Milliseconds(200);
  StartProxy(black_hole, options);
  UniqueFd client = Connect();
  int err = -1;
  ReadToEof(client.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "connect_timeout");
}

TEST_F(TcpProxyTest, IdleConnectionIsClosed) {
  EchoServer echo;
  TcpProxyOptions options;
  options.relay.idle_timeout = absl::Milliseconds(200);
  StartProxy(echo.address(), options);
  UniqueFd client = Connect();
  RoundTrip(client.get(), "ping");
  int err = -1;
  ReadToEof(client.get(), &err);  // returns once the proxy gave up on the idle connection
  EXPECT_EQ(err, ECONNRESET);
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "idle_timeout");
  EXPECT_EQ(stats.bytes_to_upstream, 4u);
  EXPECT_EQ(stats.bytes_to_downstream, 4u);
}

TEST_F(TcpProxyTest, ConnectionsOverTheLimitAreResetAndCounted) {
  EchoServer echo;
  TcpProxyOptions options;
  options.max_connections = 2;
  StartProxy(echo.address(), options);
  UniqueFd a = Connect();
  UniqueFd b = Connect();
  RoundTrip(a.get(), "a");
  RoundTrip(b.get(), "b");
  EXPECT_EQ(ActiveConnections(), 2u);

  UniqueFd c = Connect();  // the kernel completes the handshake; the proxy resets it
  int err = -1;
  std::string got = ReadToEof(c.get(), &err);
  EXPECT_EQ(got, "");
  EXPECT_EQ(err, ECONNRESET);
  EXPECT_EQ(Stats().rejected_over_limit, 1u);
  EXPECT_EQ(echo.accepted(), 2);

  // Below the limit again: new connections are relayed.
  a.reset();
  EXPECT_EQ(WaitForClose().outcome, RelayOutcome::kOk);
  UniqueFd d = Connect();
  RoundTrip(d.get(), "d");
  TcpProxyStats stats = Stats();
  EXPECT_EQ(stats.accepted, 3u);
  EXPECT_EQ(stats.rejected_over_limit, 1u);
}

TEST_F(TcpProxyTest, DestroyingTheProxyResetsOpenConnections) {
  EchoServer echo;
  StartProxy(echo.address());
  UniqueFd client = Connect();
  RoundTrip(client.get(), "hello");
  loop_.RunSync([&] { proxy_.reset(); });
  int err = -1;
  ReadToEof(client.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(closed_.empty());  // no on_close for relays torn down by their owner
}

TEST_F(TcpProxyTest, TwoProxiesShareAPortWithReusePort) {
  EchoServer echo;
  TcpProxyOptions options;
  options.reuse_port = true;
  StartProxy(echo.address(), options);
  std::unique_ptr<TcpProxy> second;
  loop_.RunSync([&] {
    TcpProxyOptions o;
    o.listen_address = address_;
    o.upstream_address = echo.address();
    o.reuse_port = true;
    absl::StatusOr<std::unique_ptr<TcpProxy>> p = TcpProxy::Create(loop_.dispatcher(), o);
    ASSERT_TRUE(p.ok()) << p.status();
    second = *std::move(p);
  });
  for (int i = 0; i < 8; ++i) {
    UniqueFd client = Connect();
    RoundTrip(client.get(), "r");
  }
  loop_.RunSync([&] { second.reset(); });
}

}  // namespace
}  // namespace tether::proxy
