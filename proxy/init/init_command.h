// InitCommand: `tether-proxy init`, what the pod's init container runs.
//
//   tether-proxy init [--proxy-uid 1337] [--inbound-port 15006] [--outbound-port 15001]
//       [--exclude-inbound-ports 8081] [--exclude-outbound-ports 5432]
//       [--exclude-outbound-cidrs 169.254.169.254/32] [--iptables-mode auto|nft|legacy]
//       [--no-ipv6] [--dry-run] [--remove]
#ifndef TETHER_PROXY_INIT_INIT_COMMAND_H_
#define TETHER_PROXY_INIT_INIT_COMMAND_H_

#include <ostream>

#include "common/subprocess.h"

namespace tether::proxy {

// RunInitCommand reads its settings from the flags above and returns the
// process exit code, reporting to `out` / `err`.
int RunInitCommand(CommandRunner* runner, std::ostream& out, std::ostream& err);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_INIT_INIT_COMMAND_H_
