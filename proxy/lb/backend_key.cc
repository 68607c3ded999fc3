#include "proxy/lb/backend_key.h"

#include <cstring>

#include <netinet/in.h>

namespace tether::proxy {

BackendKey KeyOf(const SocketAddress& address) {
  BackendKey key;
  if (address.family() == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &address.storage, sizeof(sin));
    std::memcpy(key.ip.data(), &sin.sin_addr, 4);
    key.port = ntohs(sin.sin_port);
    key.family = AF_INET;
  } else if (address.family() == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &address.storage, sizeof(sin6));
    std::memcpy(key.ip.data(), &sin6.sin6_addr, 16);
    key.port = ntohs(sin6.sin6_port);
    key.family = AF_INET6;
  }
  return key;
}

}  // namespace tether::proxy
