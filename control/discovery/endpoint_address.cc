#include "control/discovery/endpoint_address.h"

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tether::control {
namespace {

// CanonicalIp: inet_ntop of `text` as IPv4 or IPv6, or empty.
std::string CanonicalIp(absl::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return "";
  const std::string s(text);
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, s.c_str(), buf) == 1 &&
        inet_ntop(family, buf, out, sizeof(out)) != nullptr) {
      return out;
    }
  }
  return "";
}

}  // namespace

std::string EndpointAddress::ToString() const {
  if (port == 0) return ip;
  if (ip.find(':') != std::string::npos) return absl::StrCat("[", ip, "]:", port);
  return absl::StrCat(ip, ":", port);
}

absl::StatusOr<EndpointAddress> ParseEndpointAddress(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", text.substr(0, 64), "\": ", why,
                     " (want IP or IP:PORT, e.g. 10.1.2.3, 10.1.2.3:8080, [fd00::1]:8080)"));
  };
  absl::string_view host = text;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad("no closing ]");
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("junk after ]");
      port = rest.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else if (const size_t colon = text.find(':');
             colon != absl::string_view::npos &&
             text.find(':', colon + 1) == absl::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return bad("empty port");
  }
  EndpointAddress out;
  out.ip = CanonicalIp(host);
  if (out.ip.empty()) return bad("not an IP address");
  if (!port.empty()) {
    uint32_t p = 0;
    if (!absl::SimpleAtoi(port, &p) || p == 0 || p > 65535) return bad("port not in 1-65535");
    out.port = static_cast<uint16_t>(p);
  }
  return out;
}

}  // namespace tether::control
