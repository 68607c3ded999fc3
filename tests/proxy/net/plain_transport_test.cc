#include "proxy/net/plain_transport.h"

#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

// A PlainTransport on a non-blocking connection, and its blocking peer.
struct Connected {
  Connected() {
    absl::StatusOr<UniqueFd> listener = Listen(testing::Loopback(0), 4, false);
    EXPECT_TRUE(listener.ok());
    bool in_progress;
    absl::StatusOr<UniqueFd> fd = ConnectNonBlocking(*LocalAddress(listener->get()), &in_progress);
    EXPECT_TRUE(fd.ok());
    pollfd p{listener->get(), POLLIN, 0};
    poll(&p, 1, 10000);
    peer = *AcceptNonBlocking(listener->get());
    int flags = fcntl(peer.get(), F_GETFL);
    fcntl(peer.get(), F_SETFL, flags & ~O_NONBLOCK);
    testing::SetTimeouts(peer.get(), testing::kIoTimeout);
    pollfd q{fd->get(), POLLOUT, 0};
    poll(&q, 1, 10000);
    transport = std::make_unique<PlainTransport>(*std::move(fd));
  }
  // WaitReadable polls the transport's socket.
  void WaitReadable() {
    pollfd p{transport->fd(), POLLIN, 0};
    poll(&p, 1, 10000);
  }
  std::unique_ptr<PlainTransport> transport;
  UniqueFd peer;
};

TEST(PlainTransportTest, ReadsWritesAndSeesEof) {
  Connected c;
  EXPECT_EQ(c.transport->Handshake(), IoStatus::kOk);
  EXPECT_FALSE(c.transport->HasBufferedData());
  uint8_t buf[16];
  size_t n = 0;
  EXPECT_EQ(c.transport->Read(buf, sizeof(buf), &n), IoStatus::kWouldBlock);

  ASSERT_TRUE(testing::WriteAll(c.peer.get(), std::string("hello")));
  c.WaitReadable();
  ASSERT_EQ(c.transport->Read(buf, sizeof(buf), &n), IoStatus::kOk);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), n), "hello");

  const uint8_t reply[] = {'o', 'k'};
  ASSERT_EQ(c.transport->Write(reply, sizeof(reply), &n), IoStatus::kOk);
  EXPECT_EQ(n, 2u);
  char got[2];
  ASSERT_TRUE(testing::ReadExactly(c.peer.get(), got, 2));
  EXPECT_EQ(std::string(got, 2), "ok");

  // Half-close both ways.
  EXPECT_EQ(c.transport->ShutdownWrite(), IoStatus::kOk);
  int err = -1;
  EXPECT_EQ(testing::ReadToEof(c.peer.get(), &err), "");
  EXPECT_EQ(err, 0);
  shutdown(c.peer.get(), SHUT_WR);
  c.WaitReadable();
  EXPECT_EQ(c.transport->Read(buf, sizeof(buf), &n), IoStatus::kEof);
  EXPECT_TRUE(c.transport->error().empty());
}

TEST(PlainTransportTest, WriteBlocksWhenThePeerDoesNotRead) {
  Connected c;
  std::string chunk(64 * 1024, 'x');
  size_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    size_t n = 0;
    IoStatus st =
        c.transport->Write(reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size(), &n);
    if (st == IoStatus::kWouldBlock) break;
    ASSERT_EQ(st, IoStatus::kOk);
    total += n;
  }
  EXPECT_GT(total, 0u);
  size_t n = 0;
  EXPECT_EQ(c.transport->Write(reinterpret_cast<const uint8_t*>(chunk.data()), 1, &n),
            IoStatus::kWouldBlock);
}

TEST(PlainTransportTest, PeerResetIsAnErrorNamedReset) {
  Connected c;
  testing::ResetConnection(std::move(c.peer));
  c.WaitReadable();
  uint8_t buf[16];
  size_t n = 0;
  EXPECT_EQ(c.transport->Read(buf, sizeof(buf), &n), IoStatus::kError);
  EXPECT_EQ(c.transport->error(), "reset");
}

TEST(PlainTransportTest, WritingAfterThePeerResetIsAnErrorWithoutSigpipe) {
  Connected c;
  testing::ResetConnection(std::move(c.peer));
  c.WaitReadable();
  const uint8_t data[] = {1, 2, 3};
  size_t n = 0;
  IoStatus st = IoStatus::kOk;
  for (int i = 0; i < 3 && st == IoStatus::kOk; ++i) {
    st = c.transport->Write(data, sizeof(data), &n);
  }
  EXPECT_EQ(st, IoStatus::kError);  // ECONNRESET, then EPIPE: no SIGPIPE kills the test
  EXPECT_EQ(c.transport->error(), "reset");
}

TEST(PlainTransportTest, AbortResetsThePeer) {
  Connected c;
  c.transport->Abort();
  EXPECT_EQ(c.transport->fd(), -1);
  char buf[4];
  EXPECT_EQ(recv(c.peer.get(), buf, sizeof(buf), 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
}

TEST(PlainTransportTest, DestructionClosesInOrder) {
  Connected c;
  const uint8_t data[] = {'b', 'y', 'e'};
  size_t n = 0;
  ASSERT_EQ(c.transport->Write(data, sizeof(data), &n), IoStatus::kOk);
  c.transport.reset();
  int err = -1;
  EXPECT_EQ(testing::ReadToEof(c.peer.get(), &err), "bye");
  EXPECT_EQ(err, 0);
}

}  // namespace
}  // namespace tether::proxy
