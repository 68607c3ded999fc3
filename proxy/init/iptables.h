// Iptables: applies and removes the interception rules with the host's
// iptables flavour.
//
//   Iptables ipt(&runner, IptablesMode::kAuto);
//   TETHER_RETURN_IF_ERROR(ipt.Apply(config));    // idempotent
//   TETHER_RETURN_IF_ERROR(ipt.Remove());
//
// A host runs either iptables-nft or iptables-legacy; rules written with the
// other one are invisible to it (or fight with it), a classic cause of mesh
// outages. kAuto picks the flavour that already holds rules (as Kubernetes'
// iptables-wrapper does), preferring the one whose tables mention KUBE- or
// TETHER_ chains, then the one with more rules, then nft.
#ifndef TETHER_PROXY_INIT_IPTABLES_H_
#define TETHER_PROXY_INIT_IPTABLES_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/subprocess.h"
#include "proxy/init/rules.h"

namespace tether::proxy {

enum class IptablesMode { kAuto, kNft, kLegacy };

absl::StatusOr<IptablesMode> ParseIptablesMode(absl::string_view name);

class Iptables {
 public:
  Iptables(CommandRunner* runner, IptablesMode mode) : runner_(runner), mode_(mode) {}

  // Mode resolves kAuto (once) by looking at both flavours' rules.
  absl::StatusOr<IptablesMode> Mode();

  // Apply (re)writes Tether's chains for IPv4 and, if config.ipv6, IPv6,
  // each in one atomic iptables-restore, and adds the jumps from PREROUTING
  // and OUTPUT if they are missing. Running it twice leaves one set of rules.
  absl::Status Apply(const InterceptionConfig& config);

  // Remove deletes the jumps and Tether's chains; no error if absent.
  absl::Status Remove();

  // Save returns `iptables-save -t nat` (or ip6tables) of the chosen flavour.
  absl::StatusOr<std::string> Save(Family family);

 private:
  std::string Tool(Family family, absl::string_view suffix);
  absl::Status Run(const std::vector<std::string>& argv, absl::string_view stdin_data = "");

  CommandRunner* const runner_;
  IptablesMode mode_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_INIT_IPTABLES_H_
