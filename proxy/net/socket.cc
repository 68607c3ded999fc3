#include "proxy/net/socket.h"

// glibc's <netinet/in.h> must come before the kernel headers, which then skip
// their duplicate definitions.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
// clang-format off
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
// clang-format on

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tether::proxy {
namespace {

constexpr absl::string_view kErrnoPayload = "type.tether.dev/errno";

absl::Status Errno(absl::string_view what) { return ErrnoStatus(errno, what); }

absl::Status SetIntOption(int fd, int level, int name, int value, absl::string_view what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) return Errno(what);
  return absl::OkStatus();
}

absl::StatusOr<SocketAddress> ParseHost(absl::string_view host, uint16_t port, bool v6) {
  SocketAddress out;
  std::string h(host);
  if (v6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv6 address '", host, "'"));
    }
    out.len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (inet_pton(AF_INET, h.c_str(), &sin->sin_addr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("bad IPv4 address '", host, "'"));
    }
    out.len = sizeof(sockaddr_in);
  }
  return out;
}

using NameFn = int (*)(int, sockaddr*, socklen_t*);

absl::StatusOr<SocketAddress> SocketName(int fd, NameFn fn, absl::string_view what) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (fn(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Errno(what);
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(absl::string_view host_port) {
  absl::string_view host;
  absl::string_view port_str;
  bool v6 = false;
  if (!host_port.empty() && host_port.front() == '[') {
    size_t close = host_port.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected [IPv6]:PORT, got '", host_port, "'"));
    }
    host = host_port.substr(1, close - 1);
    port_str = host_port.substr(close + 2);
    v6 = true;
  } else {
    size_t colon = host_port.rfind(':');
    if (colon == absl::string_view::npos || host_port.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected IP:PORT or [IPv6]:PORT, got '", host_port, "'"));
    }
    host = host_port.substr(0, colon);
    port_str = host_port.substr(colon + 1);
  }
  uint32_t port = 0;
  bool digits = !port_str.empty() && port_str.size() <= 5;
  for (char c : port_str) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits || !absl::SimpleAtoi(port_str, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", host_port, "'"));
  }
  return ParseHost(host, static_cast<uint16_t>(port), v6);
}

absl::StatusOr<SocketAddress> SocketAddress::FromSockaddr(const sockaddr* sa, socklen_t len) {
  SocketAddress out;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    out.len = sizeof(sockaddr_in);
  } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    out.len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported address family ", sa->sa_family));
  }
  std::memcpy(&out.storage, sa, out.len);
  return out;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof(buf));
    return absl::StrCat(buf, ":", port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof(buf));
    return absl::StrCat("[", buf, "]:", port());
  }
  return "(none)";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) {
  return a.len == b.len && std::memcmp(&a.storage, &b.storage, a.len) == 0;
}

absl::StatusOr<UniqueFd> Listen(const SocketAddress& addr, int backlog, bool reuse_port) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  if (absl::Status s = SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
      !s.ok()) {
    return s;
  }
  if (reuse_port) {
    if (absl::Status s = SetIntOption(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
        !s.ok()) {
      return s;
    }
  }
  if (bind(fd.get(), addr.addr(), addr.len) != 0) {
    int err = errno;
    return ErrnoStatus(err, absl::StrCat("bind ", addr.ToString()));
  }
  if (listen(fd.get(), backlog) != 0) {
    int err = errno;
    return ErrnoStatus(err, absl::StrCat("listen ", addr.ToString()));
  }
  return fd;
}

absl::StatusOr<UniqueFd> AcceptNonBlocking(int listen_fd, SocketAddress* peer_out) {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (peer_out != nullptr) {
        absl::StatusOr<SocketAddress> peer =
            SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        *peer_out = peer.ok() ? *peer : SocketAddress();
      }
      return UniqueFd(fd);
    }
    switch (errno) {
      case EAGAIN:
        return UniqueFd();
      // Errors of one pending connection (accept(2)): skip it, try the next.
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
      case EPERM:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
        continue;
      default:
        return Errno("accept");
    }
  }
}

absl::StatusOr<UniqueFd> ConnectNonBlocking(const SocketAddress& addr, bool* in_progress_out) {
  *in_progress_out = false;
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket");
  int rc;
  do {
    rc = connect(fd.get(), addr.addr(), addr.len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    if (err != EINPROGRESS) return ErrnoStatus(err, absl::StrCat("connect ", addr.ToString()));
    *in_progress_out = true;
  }
  return fd;
}

int GetSocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

bool IsConnected(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
}

absl::StatusOr<SocketAddress> OriginalDestination(int fd) {
  absl::StatusOr<SocketAddress> local = LocalAddress(fd);
  if (!local.ok()) return local.status();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc;
  if (local->family() == AF_INET6) {
    rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  } else {
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  }
  if (rc != 0) {
    if (errno == ENOENT) return absl::NotFoundError("connection was not redirected");
    return Errno("SO_ORIGINAL_DST");
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

absl::StatusOr<SocketAddress> LocalAddress(int fd) {
  return SocketName(fd, &getsockname, "getsockname");
}

absl::StatusOr<SocketAddress> PeerAddress(int fd) {
  return SocketName(fd, &getpeername, "getpeername");
}

absl::Status SetNoDelay(int fd) {
  return SetIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
}

void AbortiveClose(UniqueFd fd) {
  if (!fd.valid()) return;
  linger lg{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  fd.reset();
}

absl::string_view ErrnoWord(int err) {
  switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
    case ENOTCONN:
      return "reset";
    case ECONNREFUSED:
      return "refused";
    case ETIMEDOUT:
      return "timed_out";
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
      return "unreachable";
    case EADDRNOTAVAIL:
    case EADDRINUSE:
      return "no_local_address";
    case ENOBUFS:
    case ENOMEM:
      return "no_buffers";
    default:
      return "io_error";
  }
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  absl::Status s = absl::ErrnoToStatus(err, what);
  s.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return s;
}

int ErrnoOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(payload->Flatten(), &err)) return 0;
  return err;
}

}  // namespace tether::proxy
