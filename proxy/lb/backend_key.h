// BackendKey: a backend's address as a fixed-size value (16 address bytes,
// port, family), so that a balancer can compare, hash and copy it on every
// request without allocating (SocketAddress is a 128-byte sockaddr_storage
// and has no hash).
//
//   absl::flat_hash_map<BackendKey, uint32_t> index;
//   index[KeyOf(*SocketAddress::Parse("10.0.0.7:8080"))] = 0;
//
// IPv4 addresses fill the first 4 bytes and leave the rest zero; the family
// keeps 1.2.3.4 apart from ::ffff:1.2.3.4 (they are different sockets to
// connect to). Scope ids and flow labels are not part of the key.
#ifndef TETHER_PROXY_LB_BACKEND_KEY_H_
#define TETHER_PROXY_LB_BACKEND_KEY_H_

#include <array>
#include <cstdint>
#include <utility>

#include "proxy/net/socket.h"

namespace tether::proxy {

struct BackendKey {
  std::array<uint8_t, 16> ip{};
  uint16_t port = 0;   // host byte order
  uint8_t family = 0;  // AF_INET, AF_INET6, or 0 for an address of neither

  friend bool operator==(const BackendKey& a, const BackendKey& b) = default;

  template <typename H>
  friend H AbslHashValue(H h, const BackendKey& k) {
    return H::combine(std::move(h), k.ip, k.port, k.family);
  }
};

// KeyOf: the key of an AF_INET or AF_INET6 address. Any other address (an
// empty SocketAddress) maps to the all-zero key with family 0.
BackendKey KeyOf(const SocketAddress& address);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_LB_BACKEND_KEY_H_
