// original_dst_probe LISTEN CONNECT: listens on LISTEN, connects to CONNECT
// (which iptables is expected to redirect to LISTEN), accepts, and prints
// OriginalDestination of the accepted connection. Exit code 1 on any error.
#include <cstdint>
#include <cstdio>

#include <poll.h>

#include "proxy/net/socket.h"

namespace {

int Fail(const char* what, const absl::Status& status) {
  (void)std::fprintf(stderr, "original_dst_probe: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

bool WaitFor(int fd, int16_t events) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, 10000) == 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tether::proxy;  // NOLINT(google-build-using-namespace): a tiny tool
  if (argc != 3) {
    (void)std::fprintf(stderr, "usage: original_dst_probe LISTEN_ADDR CONNECT_ADDR\n");
    return 2;
  }
  absl::StatusOr<SocketAddress> listen_addr = SocketAddress::Parse(argv[1]);
  if (!listen_addr.ok()) return Fail("listen address", listen_addr.status());
  absl::StatusOr<SocketAddress> connect_addr = SocketAddress::Parse(argv[2]);
  if (!connect_addr.ok()) return Fail("connect address", connect_addr.status());
  absl::StatusOr<UniqueFd> listener = Listen(*listen_addr, 16, false);
  if (!listener.ok()) return Fail("listen", listener.status());
  bool in_progress = false;
  absl::StatusOr<UniqueFd> client = ConnectNonBlocking(*connect_addr, &in_progress);
  if (!client.ok()) return Fail("connect", client.status());
  if (!WaitFor(listener->get(), POLLIN)) return Fail("accept", absl::DeadlineExceededError("10s"));
  absl::StatusOr<UniqueFd> conn = AcceptNonBlocking(listener->get());
  if (!conn.ok()) return Fail("accept", conn.status());
  if (!conn->valid()) return Fail("accept", absl::UnavailableError("nothing accepted"));
  absl::StatusOr<SocketAddress> local = LocalAddress(conn->get());
  absl::StatusOr<SocketAddress> original = OriginalDestination(conn->get());
  if (!original.ok()) return Fail("OriginalDestination", original.status());
  (void)std::fprintf(stderr, "accepted on %s\n", local.ok() ? local->ToString().c_str() : "?");
  (void)std::printf("%s\n", original->ToString().c_str());
  return 0;
}
