// Rules: the pod's traffic-redirection rules, rendered for iptables-restore.
//
//   InterceptionConfig config;                    // defaults as an injected pod
//   config.exclude_inbound_ports = {8081};
//   std::string v4 = RenderRules(config, Family::kIpv4);  // feed to iptables-restore --noflush
//
// What the rules do (nat table):
//   PREROUTING -> TETHER_INBOUND: inbound TCP, except excluded ports and the
//     proxy's own admin port, is redirected to the inbound listener (15006).
//   OUTPUT -> TETHER_OUTPUT: outbound TCP from anyone but the proxy's UID,
//     except loopback, excluded ports and excluded CIDRs, is redirected to
//     the outbound listener (15001).
//
// Inbound, the proxy forwards to the pod's own address the peer dialled
// (never 127.0.0.1). That connection needs no rule of its own: it comes
// from the proxy's UID, which TETHER_OUTPUT returns first, and a locally
// generated connection's nat decision is made in OUTPUT only; its packets
// loop back through lo and PREROUTING, but the nat table sees just a
// connection's first packet, already translated (here: left alone), so
// TETHER_INBOUND never catches it and it is not redirected to 15006 again.
// (Istio, whose rules redirect the proxy's own traffic to its pod IP over lo
// to the inbound listener, needs a source-address exemption for its inbound
// upstream; ours returns the proxy's UID before any such rule.)
// tests/proxy/integration:inbound_destination_netns_test checks it with
// TETHER_IN_REDIRECT's packet counter.
#ifndef TETHER_PROXY_INIT_RULES_H_
#define TETHER_PROXY_INIT_RULES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::proxy {

enum class Family { kIpv4, kIpv6 };

struct InterceptionConfig {
  int proxy_uid = 1337;
  int inbound_port = 15006;
  int outbound_port = 15001;
  // Never redirected inbound (the proxy's admin port always is).
  int admin_port = 15000;
  std::vector<int> exclude_inbound_ports;
  std::vector<int> exclude_outbound_ports;
  // Destinations reached directly, e.g. "169.254.169.254/32" or "fd00::/8".
  std::vector<std::string> exclude_outbound_cidrs;
  bool ipv6 = true;
};

// Chain names, for callers that inspect or remove the rules.
inline constexpr const char* kChains[] = {"TETHER_INBOUND", "TETHER_IN_REDIRECT", "TETHER_OUTPUT",
                                          "TETHER_REDIRECT"};

// Validate checks ports (1..65535), the UID, and every CIDR; InvalidArgument
// naming the bad value.
absl::Status Validate(const InterceptionConfig& config);

// RenderRules returns an iptables-restore input for the nat table that
// (re)creates Tether's chains. It does not touch the built-in chains; the
// jumps into TETHER_INBOUND / TETHER_OUTPUT are added separately, once.
// CIDRs of the other family are skipped.
std::string RenderRules(const InterceptionConfig& config, Family family);

// ParsePorts parses "8080,9090" (spaces allowed, empty = none).
absl::StatusOr<std::vector<int>> ParsePorts(absl::string_view list);
// ParseCidrs parses "10.0.0.0/8, fd00::/8"; a bare address gets /32 or /128.
absl::StatusOr<std::vector<std::string>> ParseCidrs(absl::string_view list);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_INIT_RULES_H_
