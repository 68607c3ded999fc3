// Socket helpers for the data path: addresses, non-blocking listen / accept /
// connect, SO_ORIGINAL_DST, and closing with a reset.
//
//   absl::StatusOr<SocketAddress> addr = SocketAddress::Parse("127.0.0.1:15001");
//   absl::StatusOr<UniqueFd> listener = Listen(*addr, /*backlog=*/1024, /*reuse_port=*/true);
//   absl::StatusOr<UniqueFd> conn = AcceptNonBlocking(listener->get());
//   if (conn.ok() && conn->valid()) { ... } else if (conn.ok()) { /* EAGAIN */ }
//
// Every socket created here is non-blocking and close-on-exec. Errors carry
// the errno (ErrnoOf) and a stable word for metrics (ErrnoWord).
#ifndef TETHER_PROXY_NET_SOCKET_H_
#define TETHER_PROXY_NET_SOCKET_H_

#include <cstdint>
#include <string>
#include <utility>

#include <sys/socket.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::proxy {

// UniqueFd owns a file descriptor and closes it when destroyed.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// SocketAddress: an IPv4 or IPv6 address and port.
struct SocketAddress {
  // Parse reads "1.2.3.4:80" or "[2001:db8::1]:443" (numeric only; no names,
  // no scope ids). InvalidArgument otherwise.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view host_port);
  // FromSockaddr copies an AF_INET / AF_INET6 address; InvalidArgument otherwise.
  static absl::StatusOr<SocketAddress> FromSockaddr(const sockaddr* sa, socklen_t len);

  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  // ToString: "1.2.3.4:80" or "[2001:db8::1]:443".
  std::string ToString() const;

  sockaddr_storage storage{};
  socklen_t len = 0;
};

bool operator==(const SocketAddress& a, const SocketAddress& b);

// Listen binds a listening TCP socket (SO_REUSEADDR; SO_REUSEPORT when
// `reuse_port`, so that each worker can own a socket on the same port).
absl::StatusOr<UniqueFd> Listen(const SocketAddress& addr, int backlog, bool reuse_port);

// AcceptNonBlocking accepts one connection as a non-blocking socket. An
// invalid UniqueFd (with OK status) means nothing is pending (EAGAIN);
// transient per-connection errors (ECONNABORTED, ...) are skipped. Errors:
// ResourceExhausted for EMFILE/ENFILE/ENOBUFS/ENOMEM, other codes otherwise.
absl::StatusOr<UniqueFd> AcceptNonBlocking(int listen_fd, SocketAddress* peer_out = nullptr);

// ConnectNonBlocking starts a TCP connection. *in_progress_out is true when
// the connection is still being established (EINPROGRESS): wait for
// writability, then check GetSocketError. Immediate failures (no route, no
// local port) are errors.
absl::StatusOr<UniqueFd> ConnectNonBlocking(const SocketAddress& addr, bool* in_progress_out);

// GetSocketError returns and clears the socket's pending error (SO_ERROR):
// 0 if none, else an errno value.
int GetSocketError(int fd);

// IsConnected: the socket has a peer (getpeername succeeds).
bool IsConnected(int fd);

// OriginalDestination returns the address a redirected connection was sent
// to before iptables REDIRECT/DNAT (SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST for
// IPv6). NotFound if the connection was not translated.
absl::StatusOr<SocketAddress> OriginalDestination(int fd);

absl::StatusOr<SocketAddress> LocalAddress(int fd);
absl::StatusOr<SocketAddress> PeerAddress(int fd);

// SetNoDelay disables Nagle's algorithm (TCP_NODELAY).
absl::Status SetNoDelay(int fd);

// AbortiveClose closes the socket with SO_LINGER {1, 0}: the peer gets a
// reset (RST) instead of an orderly end of stream; unsent data is dropped.
void AbortiveClose(UniqueFd fd);

// ErrnoWord: a stable word for an errno value, for metrics and logs:
// "reset" (ECONNRESET, EPIPE, ...), "refused", "timed_out", "unreachable",
// "no_local_address", "no_buffers", "io_error" for anything else.
absl::string_view ErrnoWord(int err);

// ErrnoStatus builds a status for `err` (code from absl::ErrnoToStatusCode,
// message "<what>: <strerror>") that remembers the errno for ErrnoOf.
absl::Status ErrnoStatus(int err, absl::string_view what);

// ErrnoOf returns the errno an ErrnoStatus was built from, or 0.
int ErrnoOf(const absl::Status& status);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_NET_SOCKET_H_
