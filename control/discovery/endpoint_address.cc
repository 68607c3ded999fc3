#include "control/discovery/endpoint_address.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/ip_text.h"

namespace tether::control {

std::string EndpointAddress::ToString() const { return port == 0 ? ip : JoinHostPort(ip, port); }

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
  std::optional<std::string> ip = CanonicalIp(host);
  if (!ip) return bad("not an IP address");
  out.ip = *std::move(ip);
  if (!port.empty()) {
    uint32_t p = 0;
    if (!absl::SimpleAtoi(port, &p) || p == 0 || p > 65535) return bad("port not in 1-65535");
    out.port = static_cast<uint16_t>(p);
  }
  return out;
}

}  // namespace tether::control
