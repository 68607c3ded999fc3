// MuxStreams driven by the real Relay, end to end: app socket -> Relay ->
// client MuxStream -> HTTP/2 -> server MuxStream -> Relay -> backend socket,
// as the outbound and inbound proxies will use them.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/mux/mux_channel.h"
#include "proxy/net/plain_transport.h"
#include "proxy/net/socket.h"
#include "proxy/relay/relay.h"
#include "tests/proxy/mux/mux_test_util.h"
#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

using testing::MuxPair;
using testing::RandomBytes;
using testing::ReadToEof;
using testing::WriteAll;

// Pair returns a socketpair: [0] blocking (the test's end, with timeouts),
// [1] non-blocking (the proxy's end).
void Pair(UniqueFd* test_end, UniqueFd* proxy_end) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK), 0);
  testing::SetTimeouts(sv[0], absl::Seconds(20));
  *test_end = UniqueFd(sv[0]);
  *proxy_end = UniqueFd(sv[1]);
}

struct RelayEnd {
  std::unique_ptr<Relay> relay;
  bool closed = false;
  RelayStats stats;
};

TEST(MuxRelayTest, RelaysCarryAConnectionThroughTheChannel) {
  MuxPair pair;
  UniqueFd backend_test, backend_proxy;
  Pair(&backend_test, &backend_proxy);
  std::vector<std::unique_ptr<RelayEnd>> ends;
  std::string authority;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders& h) {
    authority = h.authority;
    auto end = std::make_unique<RelayEnd>();
    RelayEnd* e = end.get();
    end->relay = std::make_unique<Relay>(
        pair.loop.dispatcher(), std::move(s),
        std::make_unique<PlainTransport>(std::move(backend_proxy)), Relay::Upstream::kConnected,
        RelayOptions{}, [e](const RelayStats& st) {
          e->closed = true;
          e->stats = st;
        });
    end->relay->Start();
    ends.push_back(std::move(end));
  };
  pair.Start();

  UniqueFd app_test, app_proxy;
  Pair(&app_test, &app_proxy);
  RelayEnd client_end;
  pair.Run([&] {
    auto s = pair.client->OpenStream({"10.1.2.3:8080", "tcp"});
    ASSERT_TRUE(s.ok());
    client_end.relay = std::make_unique<Relay>(
        pair.loop.dispatcher(), std::make_unique<PlainTransport>(std::move(app_proxy)),
        *std::move(s), Relay::Upstream::kConnected, RelayOptions{}, [&](const RelayStats& st) {
          client_end.closed = true;
          client_end.stats = st;
        });
    client_end.relay->Start();
  });

  // The backend echoes until EOF, then ends its side.
  std::thread backend([&] {
    int err = 0;
    std::string got = ReadToEof(backend_test.get(), &err);
    EXPECT_EQ(err, 0);
    EXPECT_TRUE(WriteAll(backend_test.get(), got));
    shutdown(backend_test.get(), SHUT_WR);
  });
  const std::string data = RandomBytes(3 << 20, 21);
  std::thread writer([&] {
    EXPECT_TRUE(WriteAll(app_test.get(), data));
    shutdown(app_test.get(), SHUT_WR);
  });
  int err = 0;
  std::string echoed = ReadToEof(app_test.get(), &err);
  writer.join();
  backend.join();
  EXPECT_EQ(err, 0);
  EXPECT_EQ(echoed.size(), data.size());
  EXPECT_TRUE(echoed == data);

  ASSERT_TRUE(pair.WaitFor([&] { return client_end.closed && !ends.empty() && ends[0]->closed; }));
  pair.Run([&] {
    EXPECT_EQ(authority, "10.1.2.3:8080");
    EXPECT_EQ(client_end.stats.outcome, RelayOutcome::kOk) << client_end.stats.error;
    EXPECT_EQ(ends[0]->stats.outcome, RelayOutcome::kOk) << ends[0]->stats.error;
    EXPECT_EQ(client_end.stats.bytes_to_upstream, data.size());
    EXPECT_EQ(ends[0]->stats.bytes_to_upstream, data.size());
  });
  // The finished streams leave both channels; the channel stays usable.
  ASSERT_TRUE(pair.WaitFor([&] {
    return pair.client->active_streams() == 0 && pair.server->active_streams() == 0;
  }));
  pair.Run([&] {
    EXPECT_TRUE(pair.client->CanOpenStream());
    client_end.relay.reset();
    ends.clear();
  });
}

TEST(MuxRelayTest, BackendResetResetsTheAppConnection) {
  // A TCP backend (a reset on a socketpair is only an EOF).
  MuxPair pair;
  testing::BlockingListener listener;
  bool connecting = false;
  absl::StatusOr<UniqueFd> up = ConnectNonBlocking(listener.address(), &connecting);
  ASSERT_TRUE(up.ok());
  UniqueFd backend_test = listener.Accept();
  ASSERT_TRUE(backend_test.valid());
  UniqueFd backend_proxy = *std::move(up);
  std::unique_ptr<Relay> server_relay;
  pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) {
    server_relay = std::make_unique<Relay>(
        pair.loop.dispatcher(), std::move(s),
        std::make_unique<PlainTransport>(std::move(backend_proxy)),
        connecting ? Relay::Upstream::kConnecting : Relay::Upstream::kConnected, RelayOptions{},
        [](const RelayStats&) {});
    server_relay->Start();
  };
  pair.Start();
  UniqueFd app_test, app_proxy;
  Pair(&app_test, &app_proxy);
  RelayStats client_stats;
  bool client_closed = false;
  std::unique_ptr<Relay> client_relay;
  pair.Run([&] {
    client_relay = std::make_unique<Relay>(
        pair.loop.dispatcher(), std::make_unique<PlainTransport>(std::move(app_proxy)),
        *pair.client->OpenStream({"10.1.2.3:8080", "tcp"}), Relay::Upstream::kConnected,
        RelayOptions{}, [&](const RelayStats& st) {
          client_closed = true;
          client_stats = st;
        });
    client_relay->Start();
  });
  ASSERT_TRUE(WriteAll(app_test.get(), "hello"));
  char buf[5];
  ASSERT_TRUE(testing::ReadExactly(backend_test.get(), buf, sizeof(buf)));
  testing::ResetConnection(std::move(backend_test));
  int err = 0;
  EXPECT_EQ(ReadToEof(app_test.get(), &err), "");  // the app's connection is aborted
  ASSERT_TRUE(pair.WaitFor([&] { return client_closed; }));
  pair.Run([&] {
    EXPECT_EQ(client_stats.outcome, RelayOutcome::kResetByUpstream);
    EXPECT_EQ(client_stats.error, "stream_reset");
    client_relay.reset();
    server_relay.reset();
  });
}

}  // namespace
}  // namespace tether::proxy
