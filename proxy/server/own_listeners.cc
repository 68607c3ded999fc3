#include "proxy/server/own_listeners.h"

#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tether::proxy {
namespace {

bool IsUnspecified(const SocketAddress& addr) {
  if (addr.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&addr.storage);
    return sin->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (addr.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
    return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
           (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
            std::memcmp(&sin6->sin6_addr.s6_addr[12], "\0\0\0\0", 4) == 0);
  }
  return false;
}

}  // namespace

void OwnListeners::Add(uint16_t port, absl::string_view name) {
  if (port == 0 || NameOf(port).has_value()) return;
  ports_.emplace_back(port, std::string(name));
}

std::optional<absl::string_view> OwnListeners::NameOf(uint16_t port) const {
  for (const auto& [p, name] : ports_) {
    if (p == port) return absl::string_view(name);
  }
  return std::nullopt;
}

bool IsLoopback(const SocketAddress& addr) {
  if (addr.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&addr.storage);
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
           (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127);
  }
  return false;
}

std::optional<absl::string_view> OwnListenerAt(
    const OwnListeners& own, const SocketAddress& dst,
    absl::FunctionRef<bool(const SocketAddress&)> is_local) {
  std::optional<absl::string_view> name = own.NameOf(dst.port());
  if (!name.has_value()) return std::nullopt;
  if (IsLoopback(dst) || IsUnspecified(dst) || is_local(dst)) return name;
  return std::nullopt;
}

bool IsLocalAddress(const SocketAddress& addr) {
  if (addr.family() != AF_INET && addr.family() != AF_INET6) return false;
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  SocketAddress any_port = addr;
  if (addr.family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&any_port.storage)->sin_port = 0;
  } else {
    reinterpret_cast<sockaddr_in6*>(&any_port.storage)->sin6_port = 0;
  }
#ifdef IP_BIND_ADDRESS_NO_PORT
  // Only the address is being checked: take no ephemeral port for it.
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
  const bool local = bind(fd, any_port.addr(), any_port.len) == 0;
  close(fd);
  return local;
}

}  // namespace tether::proxy
