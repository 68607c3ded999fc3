#include "common/ip_text.h"

#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/str_cat.h"

namespace tether {

std::string CanonicalIpOfBytes(const unsigned char* addr, size_t len) {
  char out[INET6_ADDRSTRLEN];
  const char* r = nullptr;
  if (len == 4) {
    r = inet_ntop(AF_INET, addr, out, sizeof(out));
  } else if (len == 16) {
    in6_addr a6;
    memcpy(&a6, addr, sizeof(a6));
    r = IN6_IS_ADDR_V4MAPPED(&a6) ? inet_ntop(AF_INET, addr + 12, out, sizeof(out))
                                  : inet_ntop(AF_INET6, addr, out, sizeof(out));
  }
  return r != nullptr ? std::string(out) : std::string();
}

std::optional<std::string> CanonicalIp(absl::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  std::string out;
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    out = CanonicalIpOfBytes(buf, 4);
  } else if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    out = CanonicalIpOfBytes(buf, 16);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::string JoinHostPort(absl::string_view host, uint16_t port) {
  if (host.find(':') != absl::string_view::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace tether
