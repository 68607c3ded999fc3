// Relay tests with transports that behave like TLS: handshakes that need the
// peer, handshakes that fail or never finish, data held inside the transport
// (no socket readiness for it), partial writes, and a ShutdownWrite that has
// to wait.
#include "proxy/relay/relay.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "absl/time/time.h"
#include "common/sync/notification.h"
#include "proxy/net/plain_transport.h"
#include "proxy/net/socket.h"
#include "tests/proxy/testing/dispatcher_thread.h"
#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

using testing::Fnv1a;
using testing::RandomBytes;
using testing::ReadExactly;
using testing::ReadToEof;
using testing::WriteAll;

constexpr absl::Duration kWait = absl::Seconds(20);

struct FakeBehavior {
  enum class Handshake { kImmediate, kNeedsPeerByte, kNever, kFails };
  Handshake handshake = Handshake::kImmediate;
  // > 0: Read drains up to this many bytes from the socket into the
  // transport at once and hands them out from there, as TLS does with whole
  // records: the socket is then empty while the transport still has data.
  size_t read_ahead = 0;
  // Write accepts at most this many bytes per call.
  size_t max_write = SIZE_MAX;
  // ShutdownWrite returns kWouldBlock this many times first.
  int shutdown_would_block = 0;
};

// FakeTransport: a PlainTransport with TLS-like behaviour (see FakeBehavior).
class FakeTransport final : public Transport {
 public:
  FakeTransport(UniqueFd fd, FakeBehavior behavior)
      : plain_(std::move(fd)), behavior_(behavior), ahead_(behavior.read_ahead) {}

  IoStatus Handshake() override {
    switch (behavior_.handshake) {
      case FakeBehavior::Handshake::kImmediate:
        return IoStatus::kOk;
      case FakeBehavior::Handshake::kNever:
        return IoStatus::kWouldBlock;
      case FakeBehavior::Handshake::kFails:
        error_ = "tls_handshake_failed";
        return IoStatus::kError;
      case FakeBehavior::Handshake::kNeedsPeerByte: {
        // Consumes exactly one byte ('H'), like a handshake message; bytes
        // behind it stay in the socket.
        uint8_t b;
        ssize_t n = recv(plain_.fd(), &b, 1, 0);
        if (n == 1 && b == 'H') return IoStatus::kOk;
        if (n < 0 && errno == EAGAIN) return IoStatus::kWouldBlock;
        error_ = "bad_hello";
        return IoStatus::kError;
      }
    }
    return IoStatus::kError;
  }

  IoStatus Read(uint8_t* buf, size_t len, size_t* n) override {
    if (behavior_.read_ahead == 0) return Pass(plain_.Read(buf, len, n));
    if (ahead_begin_ == ahead_end_) {
      size_t got = 0;
      IoStatus st = plain_.Read(ahead_.data(), ahead_.size(), &got);
      if (st != IoStatus::kOk) return Pass(st);
      ahead_begin_ = 0;
      ahead_end_ = got;
    }
    *n = std::min(len, ahead_end_ - ahead_begin_);
    std::copy_n(ahead_.data() + ahead_begin_, *n, buf);
    ahead_begin_ += *n;
    return IoStatus::kOk;
  }

  IoStatus Write(const uint8_t* buf, size_t len, size_t* n) override {
    return Pass(plain_.Write(buf, std::min(len, behavior_.max_write), n));
  }

  bool HasBufferedData() const override { return ahead_begin_ != ahead_end_; }

  IoStatus ShutdownWrite() override {
    if (shutdowns_refused_ < behavior_.shutdown_would_block) {
      ++shutdowns_refused_;
      return IoStatus::kWouldBlock;
    }
    return Pass(plain_.ShutdownWrite());
  }

  void Abort() override { plain_.Abort(); }
  int fd() const override { return plain_.fd(); }
  const std::string& error() const override { return error_; }

 private:
  IoStatus Pass(IoStatus st) {
    if (st == IoStatus::kError) error_ = plain_.error();
    return st;
  }

  PlainTransport plain_;
  FakeBehavior behavior_;
  std::vector<uint8_t> ahead_;
  size_t ahead_begin_ = 0;
  size_t ahead_end_ = 0;
  int shutdowns_refused_ = 0;
  std::string error_;
};

class RelayTest : public ::testing::Test {
 protected:
  ~RelayTest() override {
    loop_.RunSync([&] { relay_.reset(); });
    loop_.Stop();
  }

  // Start connects client -> (downstream) relay (upstream) -> server, with
  // the given transport behaviours, and starts the relay.
  void Start(FakeBehavior down, FakeBehavior up, RelayOptions options = {}) {
    client_ = testing::ConnectBlocking(front_.address());
    ASSERT_TRUE(client_.valid());
    UniqueFd accepted = front_.Accept();
    ASSERT_TRUE(accepted.valid());
    fcntl(accepted.get(), F_SETFL, fcntl(accepted.get(), F_GETFL) | O_NONBLOCK);
    bool connecting = false;
    absl::StatusOr<UniqueFd> upstream = ConnectNonBlocking(back_.address(), &connecting);
    ASSERT_TRUE(upstream.ok());
    server_ = back_.Accept();
    ASSERT_TRUE(server_.valid());
    loop_.RunSync([&] {
      relay_ = std::make_unique<Relay>(
          loop_.dispatcher(), std::make_unique<FakeTransport>(std::move(accepted), down),
          std::make_unique<FakeTransport>(*std::move(upstream), up),
          connecting ? Relay::Upstream::kConnecting : Relay::Upstream::kConnected, options,
          [this](const RelayStats& stats) {
            std::lock_guard<std::mutex> lock(mu_);
            stats_ = stats;
            closed_ = true;
            cv_.notify_all();
          });
      relay_->Start();
    });
  }

  RelayStats WaitForClose() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(kWait), [this] { return closed_; })) {
      ADD_FAILURE() << "the relay did not close";
    }
    return stats_;
  }

  testing::DispatcherThread loop_;
  testing::BlockingListener front_;  // where the client connects: the downstream side
  testing::BlockingListener back_;   // the server: the upstream side
  UniqueFd client_;
  UniqueFd server_;
  std::unique_ptr<Relay> relay_;
  std::mutex mu_;  // guards closed_ and stats_ (written on the loop thread)
  std::condition_variable cv_;
  bool closed_ = false;
  RelayStats stats_;
};

// Exchange sends `up` client->server and `down` server->client at once, each
// followed by a half-close, and checks both arrive byte-exact.
void Exchange(int client, int server, const std::string& up, const std::string& down) {
  std::string server_got, client_got;
  int server_err = -1, client_err = -1;
  std::thread server_side([&] {
    std::thread writer([&] {
      EXPECT_TRUE(WriteAll(server, down));
      shutdown(server, SHUT_WR);
    });
    server_got = ReadToEof(server, &server_err);
    writer.join();
  });
  std::thread writer([&] {
    EXPECT_TRUE(WriteAll(client, up));
    shutdown(client, SHUT_WR);
  });
  client_got = ReadToEof(client, &client_err);
  writer.join();
  server_side.join();
  EXPECT_EQ(server_err, 0);
  EXPECT_EQ(client_err, 0);
  EXPECT_EQ(server_got.size(), up.size());
  EXPECT_EQ(client_got.size(), down.size());
  EXPECT_EQ(Fnv1a(server_got), Fnv1a(up));
  EXPECT_EQ(Fnv1a(client_got), Fnv1a(down));
}

TEST_F(RelayTest, DataHeldInsideATransportIsNeverForgotten) {
  // The transports swallow 64 KiB of socket data at a time while the relay
  // takes 1000 bytes per read: most of the time the rest is only visible
  // through HasBufferedData, never as a socket edge. Writes are partial.
  FakeBehavior tls_like;
  tls_like.read_ahead = 64 * 1024;
  tls_like.max_write = 777;
  RelayOptions options;
  options.buffer_size = 1000;
  options.max_reads_per_event = 3;  // and the fairness budget runs out often
  Start(tls_like, tls_like, options);
  Exchange(client_.get(), server_.get(), RandomBytes(4 << 20, 11), RandomBytes(3 << 20, 12));
  RelayStats stats = WaitForClose();
  EXPECT_EQ(stats.outcome, RelayOutcome::kOk);
  EXPECT_EQ(stats.bytes_to_upstream, 4u << 20);
  EXPECT_EQ(stats.bytes_to_downstream, 3u << 20);
  EXPECT_LE(stats.peak_buffered_bytes, 2000u);
}

TEST_F(RelayTest, WithAPoolBuffersAreHeldOnlyWhileBytesAreInFlight) {
  BufferPool pool(2 * 1000, /*max_free=*/4);
  FakeBehavior tls_like;
  tls_like.read_ahead = 64 * 1024;
  tls_like.max_write = 777;
  RelayOptions options;
  options.buffer_size = 1000;
  options.buffer_pool = &pool;
  Start(tls_like, FakeBehavior(), options);
  // A request and its answer, then the connection idles: the relay gave its
  // buffers back.
  ASSERT_TRUE(WriteAll(client_.get(), "ping"));
  char buf[4];
  ASSERT_TRUE(ReadExactly(server_.get(), buf, 4));
  ASSERT_TRUE(WriteAll(server_.get(), "pong"));
  ASSERT_TRUE(ReadExactly(client_.get(), buf, 4));
  size_t free_blocks = 0;
  for (int i = 0; i < 100 && free_blocks == 0; ++i) {
    loop_.RunSync([&] { free_blocks = pool.free_blocks(); });
    if (free_blocks == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(free_blocks, 1u);
  // And takes them again for more, byte-exact.
  Exchange(client_.get(), server_.get(), RandomBytes(1 << 20, 31), RandomBytes(1 << 20, 32));
  RelayStats stats = WaitForClose();
  EXPECT_EQ(stats.outcome, RelayOutcome::kOk);
  EXPECT_EQ(stats.bytes_to_upstream, 4u + (1u << 20));
  loop_.RunSync([&] { EXPECT_EQ(pool.free_blocks(), 1u); });
}

TEST_F(RelayTest, BytesBehindTheHandshakeAreRelayed) {
  // Each side's handshake takes one byte; the client sends its first data in
  // the same segment, so no socket edge will announce it after the handshake.
  FakeBehavior needs_hello;
  needs_hello.handshake = FakeBehavior::Handshake::kNeedsPeerByte;
  Start(needs_hello, needs_hello);
  ASSERT_TRUE(WriteAll(client_.get(), std::string("Hhello")));
  ASSERT_TRUE(WriteAll(server_.get(), std::string("H")));
  std::string got(5, '\0');
  ASSERT_TRUE(ReadExactly(server_.get(), got.data(), got.size()));
  EXPECT_EQ(got, "hello");
  Exchange(client_.get(), server_.get(), "more", "reply");
  EXPECT_EQ(WaitForClose().outcome, RelayOutcome::kOk);
}

TEST_F(RelayTest, HandshakeFailureClosesThatSideAndResetsTheOther) {
  FakeBehavior fails;
  fails.handshake = FakeBehavior::Handshake::kFails;
  Start(fails, FakeBehavior());
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "handshake_failed");
  EXPECT_EQ(stats.error_side, RelaySide::kDownstream);
  EXPECT_EQ(stats.error, "tls_handshake_failed");
  int err = -1;
  ReadToEof(client_.get(), &err);
  EXPECT_EQ(err, 0) << "the failed side is closed, not reset (its alert must get out)";
  ReadToEof(server_.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
}

TEST_F(RelayTest, HandshakeThatNeverEndsTimesOut) {
  FakeBehavior stuck;
  stuck.handshake = FakeBehavior::Handshake::kNever;
  RelayOptions options;
  options.handshake_timeout = absl::Milliseconds(200);
  Start(FakeBehavior(), stuck, options);
  RelayStats stats = WaitForClose();
  EXPECT_EQ(RelayOutcomeName(stats.outcome), "handshake_timeout");
  EXPECT_EQ(stats.error_side, RelaySide::kUpstream);
  int err = -1;
  ReadToEof(client_.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
  ReadToEof(server_.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
}

TEST_F(RelayTest, ShutdownWriteThatWouldBlockIsRetriedOnTheNextEvent) {
  FakeBehavior slow_close;
  slow_close.shutdown_would_block = 1;
  Start(FakeBehavior(), slow_close);
  ASSERT_TRUE(WriteAll(client_.get(), std::string("bye")));
  ASSERT_EQ(shutdown(client_.get(), SHUT_WR), 0);
  std::string got(3, '\0');
  ASSERT_TRUE(ReadExactly(server_.get(), got.data(), got.size()));
  EXPECT_EQ(got, "bye");
  // The upstream's ShutdownWrite said kWouldBlock; the next event on the
  // upstream socket (the server's reply) lets it through.
  ASSERT_TRUE(WriteAll(server_.get(), std::string("ok")));
  int err = -1;
  EXPECT_EQ(ReadToEof(server_.get(), &err), "");
  EXPECT_EQ(err, 0);
  shutdown(server_.get(), SHUT_WR);
  EXPECT_EQ(ReadToEof(client_.get(), &err), "ok");
  EXPECT_EQ(err, 0);
  EXPECT_EQ(WaitForClose().outcome, RelayOutcome::kOk);
}

TEST_F(RelayTest, DestroyingAnOpenRelayResetsBothSidesWithoutOnClose) {
  Start(FakeBehavior(), FakeBehavior());
  ASSERT_TRUE(WriteAll(client_.get(), std::string("x")));
  char c;
  ASSERT_TRUE(ReadExactly(server_.get(), &c, 1));
  loop_.RunSync([&] { relay_.reset(); });
  int err = -1;
  ReadToEof(client_.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
  ReadToEof(server_.get(), &err);
  EXPECT_EQ(err, ECONNRESET);
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_FALSE(closed_);
}

TEST_F(RelayTest, AlreadyConnectedUpstreamStartsWithoutAnyTraffic) {
  // Upstream::kConnected: nothing but registering the sockets starts the
  // handshakes (epoll reports the current readiness as the first edge). The
  // upstream handshake here needs nothing from the peer; the server waits
  // for the client's bytes.
  client_ = testing::ConnectBlocking(front_.address());
  UniqueFd accepted = front_.Accept();
  ASSERT_TRUE(accepted.valid());
  fcntl(accepted.get(), F_SETFL, fcntl(accepted.get(), F_GETFL) | O_NONBLOCK);
  UniqueFd upstream = testing::ConnectBlocking(back_.address());
  ASSERT_TRUE(upstream.valid());
  fcntl(upstream.get(), F_SETFL, fcntl(upstream.get(), F_GETFL) | O_NONBLOCK);
  server_ = back_.Accept();
  ASSERT_TRUE(server_.valid());
  loop_.RunSync([&] {
    relay_ = std::make_unique<Relay>(
        loop_.dispatcher(), std::make_unique<PlainTransport>(std::move(accepted)),
        std::make_unique<PlainTransport>(std::move(upstream)), Relay::Upstream::kConnected,
        RelayOptions(), [this](const RelayStats& stats) {
          std::lock_guard<std::mutex> lock(mu_);
          stats_ = stats;
          closed_ = true;
          cv_.notify_all();
        });
    relay_->Start();
  });
  Exchange(client_.get(), server_.get(), RandomBytes(100000, 21), RandomBytes(200000, 22));
  EXPECT_EQ(WaitForClose().outcome, RelayOutcome::kOk);
}

TEST_F(RelayTest, OwnerMayDestroyTheRelayInsideOnClose) {
  // (TcpProxy does this; here directly, under ASan in the sanitizer runs.)
  client_ = testing::ConnectBlocking(front_.address());
  UniqueFd accepted = front_.Accept();
  fcntl(accepted.get(), F_SETFL, fcntl(accepted.get(), F_GETFL) | O_NONBLOCK);
  bool connecting = false;
  absl::StatusOr<UniqueFd> upstream = ConnectNonBlocking(back_.address(), &connecting);
  ASSERT_TRUE(upstream.ok());
  server_ = back_.Accept();
  Notification destroyed;
  loop_.RunSync([&] {
    relay_ = std::make_unique<Relay>(
        loop_.dispatcher(), std::make_unique<PlainTransport>(std::move(accepted)),
        std::make_unique<PlainTransport>(*std::move(upstream)),
        connecting ? Relay::Upstream::kConnecting : Relay::Upstream::kConnected, RelayOptions(),
        [&](const RelayStats&) {
          relay_.reset();
          destroyed.Notify();
        });
    relay_->Start();
  });
  shutdown(client_.get(), SHUT_WR);
  shutdown(server_.get(), SHUT_WR);
  EXPECT_TRUE(destroyed.WaitForNotificationWithTimeout(kWait));
}

}  // namespace
}  // namespace tether::proxy
