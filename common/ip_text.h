// IP addresses as text, one spelling for each: the endpoint registry keys
// its entries by it, on the control plane and in every proxy, so both must
// spell an address the same way.
//
//   CanonicalIp("FD00:0::1")          -> "fd00::1"
//   CanonicalIp("::ffff:10.0.0.5")    -> "10.0.0.5"  (IPv4-mapped: its IPv4 form)
//   CanonicalIp("cart.shop")          -> nullopt
//   JoinHostPort("fd00::1", 443)      -> "[fd00::1]:443"
#ifndef TETHER_COMMON_IP_TEXT_H_
#define TETHER_COMMON_IP_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace tether {

// CanonicalIp: the inet_ntop text of an IPv4 or IPv6 literal (an IPv4-mapped
// IPv6 address gives its IPv4 text), or nullopt when `text` is not one.
std::optional<std::string> CanonicalIp(absl::string_view text);

// CanonicalIpOfBytes: the same for a binary address, `len` 4 or 16 bytes
// (network order); empty for another length.
std::string CanonicalIpOfBytes(const unsigned char* addr, size_t len);

// JoinHostPort: "10.0.0.5:80"; an IPv6 host in brackets, "[fd00::1]:80".
std::string JoinHostPort(absl::string_view host, uint16_t port);

}  // namespace tether

#endif  // TETHER_COMMON_IP_TEXT_H_
