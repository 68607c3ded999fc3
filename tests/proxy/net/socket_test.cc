#include "proxy/net/socket.h"

#include <cerrno>
#include <cstdint>
#include <utility>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

using testing::Loopback;

// WaitFor polls one fd for `events` (up to 10 s); the revents.
int16_t WaitFor(int fd, int16_t events) {
  pollfd p{fd, events, 0};
  if (poll(&p, 1, 10000) != 1) return 0;
  return p.revents;
}

TEST(SocketAddressTest, ParsesIpv4AndIpv6) {
  absl::StatusOr<SocketAddress> v4 = SocketAddress::Parse("10.1.2.3:8080");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 8080);
  EXPECT_EQ(v4->ToString(), "10.1.2.3:8080");

  absl::StatusOr<SocketAddress> v6 = SocketAddress::Parse("[2001:db8::1]:443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->port(), 443);
  EXPECT_EQ(v6->ToString(), "[2001:db8::1]:443");

  absl::StatusOr<SocketAddress> any6 = SocketAddress::Parse("[::]:0");
  ASSERT_TRUE(any6.ok());
  EXPECT_EQ(any6->ToString(), "[::]:0");
  EXPECT_EQ(*SocketAddress::Parse("127.0.0.1:65535"), *SocketAddress::Parse("127.0.0.1:65535"));
}

TEST(SocketAddressTest, RejectsMalformedInput) {
  for (const char* bad :
       {"", "1.2.3.4", "1.2.3.4:", ":80", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:+80",
        "1.2.3.4:8 0", "1.2.3:80", "localhost:80", "::1:80", "[::1]80", "[::1]:", "[1.2.3.4]:80",
        "[fe80::1%eth0]:80", "1.2.3.4:123456"}) {
    EXPECT_FALSE(SocketAddress::Parse(bad).ok()) << bad;
  }
}

TEST(SocketTest, ListenAcceptConnectNonBlocking) {
  absl::StatusOr<UniqueFd> listener = Listen(Loopback(0), 16, /*reuse_port=*/false);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<SocketAddress> bound = LocalAddress(listener->get());
  ASSERT_TRUE(bound.ok());
  EXPECT_NE(bound->port(), 0);

  // Nothing pending: an invalid fd, not an error.
  absl::StatusOr<UniqueFd> none = AcceptNonBlocking(listener->get());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->valid());

  bool in_progress = false;
  absl::StatusOr<UniqueFd> client = ConnectNonBlocking(*bound, &in_progress);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(WaitFor(client->get(), POLLOUT) & POLLOUT);
  EXPECT_EQ(GetSocketError(client->get()), 0);
  EXPECT_TRUE(IsConnected(client->get()));
  EXPECT_TRUE(SetNoDelay(client->get()).ok());

  ASSERT_TRUE(WaitFor(listener->get(), POLLIN) & POLLIN);
  SocketAddress peer;
  absl::StatusOr<UniqueFd> server = AcceptNonBlocking(listener->get(), &peer);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(server->valid());
  EXPECT_EQ(peer, *LocalAddress(client->get()));
  EXPECT_EQ(*PeerAddress(server->get()), peer);
  // Accepted sockets are non-blocking.
  char c;
  EXPECT_EQ(recv(server->get(), &c, 1, 0), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST(SocketTest, ReusePortLetsTwoListenersShareAPort) {
  absl::StatusOr<UniqueFd> a = Listen(Loopback(0), 16, /*reuse_port=*/true);
  ASSERT_TRUE(a.ok()) << a.status();
  SocketAddress bound = *LocalAddress(a->get());
  absl::StatusOr<UniqueFd> b = Listen(bound, 16, /*reuse_port=*/true);
  EXPECT_TRUE(b.ok()) << b.status();
  absl::StatusOr<UniqueFd> c = Listen(bound, 16, /*reuse_port=*/false);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(ErrnoOf(c.status()), EADDRINUSE);
  EXPECT_EQ(ErrnoWord(ErrnoOf(c.status())), "no_local_address");
}

TEST(SocketTest, ConnectToAClosedPortReportsRefused) {
  // A bound socket that does not listen: connections to it are refused.
  UniqueFd holder(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress any = Loopback(0);
  ASSERT_EQ(bind(holder.get(), any.addr(), any.len), 0);
  SocketAddress closed = *LocalAddress(holder.get());

  bool in_progress = false;
  absl::StatusOr<UniqueFd> client = ConnectNonBlocking(closed, &in_progress);
  if (!client.ok()) {
    EXPECT_EQ(ErrnoOf(client.status()), ECONNREFUSED);
    return;
  }
  ASSERT_TRUE(in_progress);
  WaitFor(client->get(), POLLOUT);
  int err = GetSocketError(client->get());
  EXPECT_EQ(err, ECONNREFUSED);
  EXPECT_EQ(ErrnoWord(err), "refused");
  EXPECT_FALSE(IsConnected(client->get()));
}

TEST(SocketTest, AbortiveCloseResetsThePeer) {
  testing::BlockingListener listener;
  UniqueFd client = testing::ConnectBlocking(listener.address());
  ASSERT_TRUE(client.valid());
  UniqueFd server = listener.Accept();
  ASSERT_TRUE(server.valid());
  AbortiveClose(std::move(server));
  char c;
  EXPECT_EQ(recv(client.get(), &c, 1, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
}

TEST(SocketTest, OriginalDestinationOfAnUnredirectedConnection) {
  // Without NAT there is no original destination to report (or, with
  // conntrack loaded, it is the address itself).
  testing::BlockingListener listener;
  UniqueFd client = testing::ConnectBlocking(listener.address());
  UniqueFd server = listener.Accept();
  ASSERT_TRUE(server.valid());
  absl::StatusOr<SocketAddress> dst = OriginalDestination(server.get());
  if (dst.ok()) {
    EXPECT_EQ(*dst, listener.address());
  } else {
    EXPECT_TRUE(absl::IsNotFound(dst.status())) << dst.status();
  }
}

TEST(SocketTest, ErrnoStatusRoundTrips) {
  absl::Status s = ErrnoStatus(ECONNRESET, "read");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ErrnoOf(s), ECONNRESET);
  EXPECT_EQ(ErrnoOf(absl::InternalError("x")), 0);
  EXPECT_EQ(ErrnoWord(ECONNRESET), "reset");
  EXPECT_EQ(ErrnoWord(EPIPE), "reset");
  EXPECT_EQ(ErrnoWord(ETIMEDOUT), "timed_out");
  EXPECT_EQ(ErrnoWord(ENETUNREACH), "unreachable");
  EXPECT_EQ(ErrnoWord(EIO), "io_error");
}

TEST(UniqueFdTest, ClosesAndReleases) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    UniqueFd a(fds[0]);
    UniqueFd b = std::move(a);
    EXPECT_EQ(b.get(), fds[0]);
  }
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);  // closed
  UniqueFd c(fds[1]);
  int raw = c.release();
  EXPECT_FALSE(c.valid());
  EXPECT_EQ(close(raw), 0);
}

}  // namespace
}  // namespace tether::proxy
