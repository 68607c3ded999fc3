// MuxChannel and MuxStream between a client and a server channel over a
// socketpair: data both ways, half-close, reset, refusal, many streams,
// back-pressure, and stream limits.
#include "proxy/mux/mux_channel.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/proxy/mux/mux_test_util.h"
#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

using testing::MuxPair;
using testing::Peer;
using testing::RandomBytes;

TEST(MuxChannelTest, OneStreamEcho) {
  MuxPair pair;
  pair.Start();
  Peer* c = pair.Open("hello over mux", /*fin=*/true);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(pair.WaitFor([&] { return c->eof || !c->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(c->error, "");
    EXPECT_EQ(c->received, "hello over mux");
    ASSERT_EQ(pair.seen_headers.size(), 1u);
    EXPECT_EQ(pair.seen_headers[0].authority, "10.0.0.1:80");
    EXPECT_EQ(pair.seen_headers[0].protocol, "tcp");
    EXPECT_EQ(pair.server_peers[0]->received, "hello over mux");
    EXPECT_TRUE(pair.server_peers[0]->eof);
  });
  // Both ends finished: the streams leave the channels once their
  // consumers let go.
  pair.Run([&] {
    pair.client_peers.clear();
    pair.server_peers.clear();
  });
  ASSERT_TRUE(pair.WaitFor([&] {
    return pair.client->active_streams() == 0 && pair.server->active_streams() == 0;
  }));
  pair.Run([&] { EXPECT_TRUE(pair.client->CanOpenStream()); });
}

TEST(MuxChannelTest, HundredConcurrentStreamsRandomSizes) {
  MuxPair pair;
  pair.Start();
  std::mt19937 rng(42);
  std::uniform_int_distribution<size_t> size(0, 1 << 20);
  std::vector<std::string> payloads;
  std::vector<Peer*> peers;
  for (int i = 0; i < 100; ++i) {
    payloads.push_back(RandomBytes(size(rng), static_cast<uint64_t>(i) + 1));
    peers.push_back(pair.Open(payloads.back(), /*fin=*/true));
    ASSERT_NE(peers.back(), nullptr) << i;
  }
  ASSERT_TRUE(pair.WaitFor([&] {
    for (Peer* p : peers) {
      if (!p->eof && p->error.empty()) return false;
    }
    return true;
  }));
  pair.Run([&] {
    for (size_t i = 0; i < peers.size(); ++i) {
      EXPECT_EQ(peers[i]->error, "") << i;
      EXPECT_EQ(peers[i]->received.size(), payloads[i].size()) << i;
      EXPECT_TRUE(peers[i]->received == payloads[i]) << i;
    }
    EXPECT_EQ(pair.server_peers.size(), 100u);
    pair.client_peers.clear();
    pair.server_peers.clear();
  });
  ASSERT_TRUE(pair.WaitFor([&] {
    return pair.client->active_streams() == 0 && pair.server->active_streams() == 0;
  }));
}

TEST(MuxChannelTest, HalfCloseClientToServer) {
  // The client finishes sending first; the server answers only after it saw
  // the client's end, then ends too.
  MuxPair pair;
  Peer* server = nullptr;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    auto p = std::make_unique<Peer>(pair.loop.dispatcher(), std::move(s));
    server = p.get();
    pair.server_peers.push_back(std::move(p));
  };
  pair.Start();
  Peer* c = pair.Open("question", /*fin=*/true);
  ASSERT_TRUE(pair.WaitFor([&] { return server != nullptr && server->eof; }));
  pair.Run([&] {
    EXPECT_EQ(server->received, "question");
    EXPECT_FALSE(c->eof);
    server->to_send = "answer after your FIN";
    server->shutdown_after = true;
    server->Pump();
  });
  ASSERT_TRUE(pair.WaitFor([&] { return c->eof || !c->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(c->error, "");
    EXPECT_EQ(c->received, "answer after your FIN");
  });
}

TEST(MuxChannelTest, HalfCloseServerToClient) {
  // The server sends and ends at once; the client keeps sending afterwards.
  MuxPair pair;
  Peer* server = nullptr;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    auto p = std::make_unique<Peer>(pair.loop.dispatcher(), std::move(s));
    p->to_send = "banner";
    p->shutdown_after = true;
    server = p.get();
    pair.server_peers.push_back(std::move(p));
  };
  pair.Start();
  Peer* c = pair.Open("", /*fin=*/false);
  ASSERT_TRUE(pair.WaitFor([&] { return c->eof; }));
  const std::string late = RandomBytes(300000, 7);
  pair.Run([&] {
    EXPECT_EQ(c->received, "banner");
    c->to_send = late;
    c->shutdown_after = true;
    c->Pump();
  });
  ASSERT_TRUE(pair.WaitFor([&] { return server->eof || !server->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(server->error, "");
    EXPECT_TRUE(server->received == late);
    EXPECT_EQ(c->write_error, "");
  });
}

TEST(MuxChannelTest, AbortByClientIsAResetForTheServer) {
  MuxPair pair;
  Peer* server = nullptr;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    auto p = std::make_unique<Peer>(pair.loop.dispatcher(), std::move(s));
    server = p.get();
    pair.server_peers.push_back(std::move(p));
  };
  pair.Start();
  Peer* c = pair.Open("partial", /*fin=*/false);
  ASSERT_TRUE(pair.WaitFor([&] { return server != nullptr && server->received == "partial"; }));
  pair.Run([&] { c->t->Abort(); });
  ASSERT_TRUE(pair.WaitFor([&] { return !server->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(server->error, "stream_reset");
    EXPECT_FALSE(server->eof);
  });
}

TEST(MuxChannelTest, AbortByServerIsAResetForTheClient) {
  MuxPair pair;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    ASSERT_EQ(s->Handshake(), IoStatus::kOk);
    s->Abort();
  };
  pair.Start();
  Peer* c = pair.Open("x", /*fin=*/false);
  ASSERT_TRUE(pair.WaitFor([&] { return !c->error.empty(); }));
  pair.Run([&] { EXPECT_EQ(c->error, "stream_reset"); });
}

TEST(MuxChannelTest, RefusalWithStatus) {
  MuxPair pair;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    s->Refuse(403);
    pair.held.push_back(std::move(s));
  };
  pair.Start();
  Peer* c = pair.Open(RandomBytes(100000, 3), /*fin=*/false);
  Peer* waiting = pair.Open("", /*fin=*/false, MuxOpenOptions{/*wait_for_response=*/true});
  ASSERT_TRUE(pair.WaitFor([&] { return !c->error.empty() && !waiting->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(c->error, "mux_refused");
    EXPECT_EQ(static_cast<MuxStream*>(c->t.get())->response_status(), 403);
    EXPECT_FALSE(waiting->handshaken);  // Handshake itself failed
    EXPECT_EQ(waiting->error, "mux_refused");
  });
  // Refused streams do not linger on either side once let go.
  pair.Run([&] {
    pair.client_peers.clear();
    pair.held.clear();
  });
  ASSERT_TRUE(pair.WaitFor([&] {
    return pair.client->active_streams() == 0 && pair.server->active_streams() == 0;
  }));
}

TEST(MuxChannelTest, RefusalByDroppingOrResetting) {
  MuxPair pair;
  int n = 0;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    if (n++ == 0) s->Refuse(0);  // REFUSED_STREAM; the second is just dropped
  };
  pair.Start();
  Peer* a = pair.Open("a", /*fin=*/true);
  Peer* b = pair.Open("b", /*fin=*/true, MuxOpenOptions{/*wait_for_response=*/true});
  ASSERT_TRUE(pair.WaitFor([&] { return !a->error.empty() && !b->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(a->error, "mux_refused");
    EXPECT_EQ(b->error, "mux_refused");
    EXPECT_EQ(static_cast<MuxStream*>(a->t.get())->response_status(), 0);
  });
}

TEST(MuxChannelTest, WaitForResponseHandshakesOnAccept) {
  MuxPair pair;
  pair.Start();
  Peer* c = pair.Open("ping", /*fin=*/true, MuxOpenOptions{/*wait_for_response=*/true});
  ASSERT_TRUE(pair.WaitFor([&] { return c->eof || !c->error.empty(); }));
  pair.Run([&] {
    EXPECT_TRUE(c->handshaken);
    EXPECT_EQ(c->received, "ping");
    EXPECT_EQ(static_cast<MuxStream*>(c->t.get())->response_status(), 200);
  });
}

TEST(MuxChannelTest, SlowConsumerBackPressuresTheSender) {
  MuxChannelOptions options;
  options.stream_window = 64 * 1024;
  options.stream_send_buffer = 16 * 1024;
  MuxPair pair;
  Peer* server = nullptr;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    auto p = std::make_unique<Peer>(pair.loop.dispatcher(), std::move(s));
    p->paused = true;  // reads nothing for now
    server = p.get();
    pair.server_peers.push_back(std::move(p));
  };
  pair.Start(options);
  const std::string data = RandomBytes(8 << 20, 11);
  Peer* c = pair.Open(data, /*fin=*/true);
  // The sender stalls: its Write says kWouldBlock and no byte moves any more.
  size_t stalled_at = 0;
  int same_polls = 0;
  ASSERT_TRUE(pair.WaitFor([&] {
    if (c->would_block == 0 || server == nullptr) return false;
    same_polls = c->sent == stalled_at ? same_polls + 1 : 0;
    stalled_at = c->sent;
    return same_polls >= 20;  // no byte moved for 20 polls (>= 20 ms)
  }));
  absl::SleepFor(absl::Milliseconds(50));  // no progress even given time
  pair.Run([&] {
    EXPECT_EQ(c->sent, stalled_at);
    EXPECT_LT(c->sent, data.size());
    // Bounded memory: the receiver holds at most its window.
    size_t held = 0;
    uint8_t buf[4096];
    size_t n = 0;
    while (server->t->Read(buf, sizeof(buf), &n) == IoStatus::kOk) held += n;
    EXPECT_GT(held, 0u);
    EXPECT_LE(held, options.stream_window);
    server->received.assign(data.data(), held);  // what the Peer would have read
    // Everything in flight: the window, a send buffer, the channel's output
    // buffer and the socketpair's kernel buffers.
    EXPECT_LT(c->sent, size_t{4} << 20);
    server->paused = false;
    server->Pump();
  });
  ASSERT_TRUE(pair.WaitFor([&] { return server->eof || !server->error.empty(); }));
  pair.Run([&] {
    EXPECT_EQ(server->error, "");
    EXPECT_EQ(server->received.size(), data.size());
    EXPECT_TRUE(server->received == data);
  });
}

TEST(MuxChannelTest, ConcurrentStreamLimit) {
  MuxChannelOptions options;
  options.max_concurrent_streams = 4;
  MuxPair pair;
  pair.Start(options);
  std::vector<Peer*> open;
  for (int i = 0; i < 4; ++i) open.push_back(pair.Open("x", /*fin=*/false));
  pair.Run([&] {
    EXPECT_FALSE(pair.client->CanOpenStream());
    EXPECT_FALSE(pair.client->OpenStream({"10.0.0.1:80", "tcp"}).ok());
    open[0]->shutdown_after = true;
    open[0]->Pump();
  });
  ASSERT_TRUE(pair.WaitFor([&] { return open[0]->eof; }));
  pair.Run([&] { EXPECT_TRUE(pair.client->CanOpenStream()); });
}

TEST(MuxChannelTest, ReadinessEdgesForSingleKindWatchers) {
  // A consumer watching only kRead gets an edge when bytes arrive; one
  // watching only kWrite gets an edge when a full send buffer drains.
  MuxChannelOptions options;
  options.stream_send_buffer = 1024;
  MuxPair pair;
  pair.Start(options);
  std::unique_ptr<MuxStream> s;
  std::unique_ptr<FileEvent> read_ev, write_ev;
  int reads = 0, writes = 0;
  pair.Run([&] {
    s = *pair.client->OpenStream({"10.0.0.1:80", "tcp"});
    Dispatcher& d = pair.loop.dispatcher();
    read_ev = d.CreateFileEvent(s->fd(), FileEvent::kRead, [&](uint32_t) { ++reads; });
    write_ev = d.CreateFileEvent(s->fd(), FileEvent::kWrite, [&](uint32_t) { ++writes; });
  });
  ASSERT_TRUE(pair.WaitFor([&] { return writes >= 1; }));  // registration reports writable
  pair.Run([&] {
    EXPECT_EQ(reads, 0);  // nothing to read yet: the fd is not readable
    const std::string block(4096, 'w');
    size_t n = 0;
    ASSERT_EQ(s->Write(reinterpret_cast<const uint8_t*>(block.data()), block.size(), &n),
              IoStatus::kOk);
    EXPECT_EQ(n, 1024u);
    EXPECT_EQ(s->Write(reinterpret_cast<const uint8_t*>(block.data()), block.size(), &n),
              IoStatus::kWouldBlock);
    writes = 0;
  });
  ASSERT_TRUE(pair.WaitFor([&] { return writes >= 1 && reads >= 1; }));  // echo came back
  pair.Run([&] {
    uint8_t buf[2048];
    size_t n = 0;
    EXPECT_EQ(s->Read(buf, sizeof(buf), &n), IoStatus::kOk);
    read_ev.reset();
    write_ev.reset();
    s.reset();
  });
}

}  // namespace
}  // namespace tether::proxy
