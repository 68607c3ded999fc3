// MuxChannel lifecycle: the transport ending or failing under open streams,
// a channel destroyed under its streams, Drain, and garbage on the wire.
#include "proxy/mux/mux_channel.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/proxy/mux/mux_test_util.h"
#include "tests/proxy/testing/dispatcher_thread.h"
#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

using testing::MuxPair;
using testing::Peer;
using testing::RandomBytes;

// Opens three streams that stay open (no FIN) and waits until the server
// echoed their first bytes.
std::vector<Peer*> OpenThree(MuxPair& pair) {
  std::vector<Peer*> peers;
  for (int i = 0; i < 3; ++i) peers.push_back(pair.Open("open " + std::to_string(i), false));
  EXPECT_TRUE(pair.WaitFor([&] {
    for (Peer* p : peers) {
      if (p->received.empty()) return false;
    }
    return true;
  }));
  return peers;
}

TEST(MuxLifecycleTest, TransportEofFailsEveryStream) {
  MuxPair pair;
  pair.Start();
  std::vector<Peer*> peers = OpenThree(pair);
  // The server's side of the socket ends its sending direction under the
  // server channel: the client channel reads EOF.
  ASSERT_EQ(shutdown(pair.server_fd, SHUT_WR), 0);
  ASSERT_TRUE(pair.WaitFor([&] { return pair.client_closed && pair.server_closed; }));
  pair.Run([&] {
    EXPECT_EQ(pair.client_error, "eof");
    for (Peer* p : peers) EXPECT_EQ(p->error, "mux_reset");
    for (auto& p : pair.server_peers) EXPECT_EQ(p->error, "mux_reset");
    EXPECT_FALSE(pair.client->CanOpenStream());
    EXPECT_FALSE(pair.client->OpenStream({"10.0.0.1:80", "tcp"}).ok());
  });
}

TEST(MuxLifecycleTest, TransportErrorAndDestroyedChannelFailEveryStream) {
  MuxPair pair;
  pair.Start();
  std::vector<Peer*> peers = OpenThree(pair);
  // Destroying the server channel aborts its transport; its own streams
  // (still held by their consumers) fail at once, the client's on EOF/reset.
  pair.Run([&] { pair.server.reset(); });
  ASSERT_TRUE(pair.WaitFor([&] {
    for (auto& p : pair.server_peers) {
      if (p->error.empty()) return false;
    }
    return pair.client_closed;
  }));
  pair.Run([&] {
    EXPECT_FALSE(pair.client_error.empty());
    for (Peer* p : peers) EXPECT_EQ(p->error, "mux_reset");
    for (auto& p : pair.server_peers) {
      EXPECT_EQ(p->error, "mux_reset");
      size_t n = 0;
      uint8_t b[8];
      EXPECT_EQ(p->t->Write(b, sizeof(b), &n), IoStatus::kError);  // after the channel: no crash
    }
  });
}

TEST(MuxLifecycleTest, DrainLetsOpenStreamsFinishAndRefusesNewOnes) {
  MuxPair pair;
  pair.Start();
  const std::string data = RandomBytes(500000, 5);
  Peer* open = pair.Open(data.substr(0, 1000), /*fin=*/false);
  ASSERT_TRUE(pair.WaitFor([&] { return open->received.size() == 1000; }));
  Peer* late = nullptr;
  pair.Run([&] {
    pair.server->Drain();
    // Opened before the client heard of the GOAWAY: refused, retryable.
    auto s = pair.client->OpenStream({"10.0.0.1:80", "tcp"});
    ASSERT_TRUE(s.ok());
    auto p = std::make_unique<Peer>(pair.loop.dispatcher(), *std::move(s));
    p->to_send = "late";
    late = p.get();
    pair.client_peers.push_back(std::move(p));
  });
  ASSERT_TRUE(pair.WaitFor([&] { return pair.client->draining() && !late->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(late->error, "mux_refused");
    EXPECT_FALSE(pair.client->CanOpenStream());
    EXPECT_FALSE(pair.client->OpenStream({"10.0.0.1:80", "tcp"}).ok());
    EXPECT_FALSE(pair.client_closed);
    // The open stream carries on to its end.
    open->to_send = data;
    open->shutdown_after = true;
    open->Pump();
  });
  ASSERT_TRUE(pair.WaitFor([&] { return open->eof || !open->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(open->error, "");
    EXPECT_TRUE(open->received == data);
  });
  ASSERT_TRUE(pair.WaitFor([&] { return pair.client_closed && pair.server_closed; }));
  pair.Run([&] {
    EXPECT_EQ(pair.client_error, "");
    EXPECT_EQ(pair.server_error, "");
  });
}

TEST(MuxLifecycleTest, ClientDrainClosesOnceIdle) {
  MuxPair pair;
  pair.Start();
  Peer* open = pair.Open("abc", /*fin=*/false);
  ASSERT_TRUE(pair.WaitFor([&] { return open->received == "abc"; }));
  pair.Run([&] {
    pair.client->Drain();
    EXPECT_FALSE(pair.client->CanOpenStream());
    open->shutdown_after = true;
    open->Pump();
  });
  ASSERT_TRUE(pair.WaitFor([&] { return pair.client_closed && pair.server_closed; }));
  pair.Run([&] {
    EXPECT_TRUE(open->eof);
    EXPECT_EQ(pair.client_error, "");
  });
}

// Solo: one channel on a socketpair whose other end the test writes raw.
struct Solo {
  explicit Solo(MuxRole role) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    raw = UniqueFd(sv[1]);
    loop.RunSync([&] {
      channel = std::make_unique<MuxChannel>(
          loop.dispatcher(), std::make_unique<PlainTransport>(UniqueFd(sv[0])), role,
          MuxChannelOptions{}, [this](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
            streams.push_back(std::move(s));
          },
          [this](absl::string_view e) {
            closed = true;
            error = std::string(e);
          });
      channel->Start();
    });
  }
  ~Solo() {
    loop.RunSync([&] {
      streams.clear();
      channel.reset();
    });
    loop.Stop();
  }
  bool WaitClosed() {
    for (int i = 0; i < 10000; ++i) {
      bool done = false;
      loop.RunSync([&] { done = closed; });
      if (done) return true;
      usleep(1000);
    }
    return false;
  }
  // Received drains what the channel wrote to the raw end.
  std::string Received() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(raw.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  testing::DispatcherThread loop;
  UniqueFd raw;
  std::unique_ptr<MuxChannel> channel;
  std::vector<std::unique_ptr<MuxStream>> streams;
  bool closed = false;
  std::string error;
};

TEST(MuxLifecycleTest, GarbageInsteadOfThePrefaceFailsTheServer) {
  Solo solo(MuxRole::kServer);
  const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + RandomBytes(5000, 9);
  ASSERT_EQ(write(solo.raw.get(), junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  ASSERT_TRUE(solo.WaitClosed());
  EXPECT_EQ(solo.error, "protocol_error");
}

TEST(MuxLifecycleTest, BadFrameAfterThePrefaceGetsAGoaway) {
  Solo solo(MuxRole::kServer);
  // The preface, then SETTINGS on stream 1 (a connection error).
  std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  bytes += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // empty SETTINGS
  bytes += std::string("\x00\x00\x06\x04\x00\x00\x00\x00\x01\x00\x03\x00\x00\x00\x01", 15);
  ASSERT_EQ(write(solo.raw.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_TRUE(solo.WaitClosed());
  EXPECT_EQ(solo.error, "protocol_error");
  const std::string out = solo.Received();
  // Somewhere in what the server wrote: a GOAWAY frame (type 7).
  bool goaway = false;
  for (size_t i = 0; i + 9 <= out.size();) {
    const size_t len = (uint8_t(out[i]) << 16) | (uint8_t(out[i + 1]) << 8) | uint8_t(out[i + 2]);
    if (out[i + 3] == 7) goaway = true;
    i += 9 + len;
  }
  EXPECT_TRUE(goaway);
}

TEST(MuxLifecycleTest, GarbageFromTheServerFailsTheClient) {
  Solo solo(MuxRole::kClient);
  std::unique_ptr<MuxStream> s;
  solo.loop.RunSync([&] { s = *solo.channel->OpenStream({"10.0.0.1:80", "tcp"}); });
  const std::string junk = RandomBytes(3000, 13);
  ASSERT_EQ(write(solo.raw.get(), junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  ASSERT_TRUE(solo.WaitClosed());
  solo.loop.RunSync([&] {
    EXPECT_FALSE(solo.error.empty());
    uint8_t b[16];
    size_t n = 0;
    EXPECT_EQ(s->Read(b, sizeof(b), &n), IoStatus::kError);
    // "mux_refused" if the broken session never sent the stream's HEADERS
    // (a race with the garbage's arrival): safe to retry then.
    EXPECT_TRUE(s->error() == "mux_reset" || s->error() == "mux_refused") << s->error();
    s.reset();
  });
}

}  // namespace
}  // namespace tether::proxy
