#include "proxy/init/rules.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::proxy {
namespace {

bool IsV6(absl::string_view cidr) { return cidr.find(':') != absl::string_view::npos; }

absl::Status CheckPort(int port, absl::string_view what) {
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", port, " is not a port (1-65535)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeCidr(absl::string_view text) {
  std::string addr(text);
  std::string prefix;
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    addr = std::string(text.substr(0, slash));
    prefix = std::string(text.substr(slash + 1));
  }
  const bool v6 = IsV6(addr);
  unsigned char buf[16];
  if (inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IP address or CIDR"));
  }
  int bits = v6 ? 128 : 32;
  if (!prefix.empty()) {
    int p;
    if (!absl::SimpleAtoi(prefix, &p) || p < 0 || p > bits) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" has a bad prefix length"));
    }
    bits = p;
  }
  return absl::StrCat(addr, "/", bits);
}

}  // namespace

absl::Status Validate(const InterceptionConfig& c) {
  if (c.proxy_uid < 0) return absl::InvalidArgumentError("the proxy UID must be >= 0");
  for (auto [port, what] :
       {std::pair{c.inbound_port, "inbound port"}, std::pair{c.outbound_port, "outbound port"},
        std::pair{c.admin_port, "admin port"}}) {
    if (absl::Status st = CheckPort(port, what); !st.ok()) return st;
  }
  for (int p : c.exclude_inbound_ports) {
    if (absl::Status st = CheckPort(p, "excluded inbound port"); !st.ok()) return st;
  }
  for (int p : c.exclude_outbound_ports) {
    if (absl::Status st = CheckPort(p, "excluded outbound port"); !st.ok()) return st;
  }
  for (const auto& cidr : c.exclude_outbound_cidrs) {
    if (auto n = NormalizeCidr(cidr); !n.ok()) return n.status();
  }
  return absl::OkStatus();
}

std::string RenderRules(const InterceptionConfig& c, Family family) {
  const bool v6 = family == Family::kIpv6;
  std::string out = "*nat\n";
  for (const char* chain : kChains) absl::StrAppend(&out, ":", chain, " - [0:0]\n");

  // Inbound.
  absl::StrAppend(&out, "-A TETHER_INBOUND -p tcp --dport ", c.admin_port, " -j RETURN\n");
  for (int p : c.exclude_inbound_ports) {
    absl::StrAppend(&out, "-A TETHER_INBOUND -p tcp --dport ", p, " -j RETURN\n");
  }
  absl::StrAppend(&out, "-A TETHER_INBOUND -p tcp -j TETHER_IN_REDIRECT\n");
  absl::StrAppend(&out, "-A TETHER_IN_REDIRECT -p tcp -j REDIRECT --to-ports ", c.inbound_port,
                  "\n");

  // Outbound: the proxy's own connections and loopback go out untouched. The
  // UID rule comes first: it also covers the proxy's inbound upstream, a
  // connection to the pod's own IP (out via lo), which must not be redirected
  // (rules.h).
  absl::StrAppend(&out, "-A TETHER_OUTPUT -m owner --uid-owner ", c.proxy_uid, " -j RETURN\n");
  absl::StrAppend(&out, "-A TETHER_OUTPUT -o lo -j RETURN\n");
  absl::StrAppend(&out, "-A TETHER_OUTPUT -d ", v6 ? "::1/128" : "127.0.0.0/8", " -j RETURN\n");
  for (int p : c.exclude_outbound_ports) {
    absl::StrAppend(&out, "-A TETHER_OUTPUT -p tcp --dport ", p, " -j RETURN\n");
  }
  for (const auto& cidr : c.exclude_outbound_cidrs) {
    if (IsV6(cidr) != v6) continue;
    absl::StrAppend(&out, "-A TETHER_OUTPUT -d ", *NormalizeCidr(cidr), " -j RETURN\n");
  }
  absl::StrAppend(&out, "-A TETHER_OUTPUT -p tcp -j TETHER_REDIRECT\n");
  absl::StrAppend(&out, "-A TETHER_REDIRECT -p tcp -j REDIRECT --to-ports ", c.outbound_port, "\n");
  out += "COMMIT\n";
  return out;
}

absl::StatusOr<std::vector<int>> ParsePorts(absl::string_view list) {
  std::vector<int> out;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    int port;
    if (!absl::SimpleAtoi(item, &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("\"", item, "\" is not a port (1-65535)"));
    }
    out.push_back(port);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ParseCidrs(absl::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    auto cidr = NormalizeCidr(absl::StripAsciiWhitespace(item));
    if (!cidr.ok()) return cidr.status();
    out.push_back(*cidr);
  }
  return out;
}

}  // namespace tether::proxy
