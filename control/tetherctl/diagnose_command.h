// `tetherctl diagnose --proxy HOST:PORT[,...]`: a proxy's recent handshake,
// authorization and connect failures (its /debug/failures), each with the
// reason in plain words and what to do, after its readiness, certificate and
// control stream.
//
//   tetherctl diagnose --proxy 127.0.0.1:15000 [--limit 20]
//
// Exit status: 0 when every proxy is ready and has no recent failure, 1
// otherwise (or when one cannot be reached), 2 for a usage error.
#ifndef TETHER_CONTROL_TETHERCTL_DIAGNOSE_COMMAND_H_
#define TETHER_CONTROL_TETHERCTL_DIAGNOSE_COMMAND_H_

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "control/tetherctl/proxy_admin.h"

namespace tether::tetherctl {

// RenderDiagnosis writes what is known of one proxy, showing at most
// `limit` failures; returns true when something is wrong.
bool RenderDiagnosis(const ProxyState& proxy, absl::Time now, size_t limit, std::ostream& out);

int RunDiagnose(const std::vector<std::string>& proxies, size_t limit, std::ostream& out);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_DIAGNOSE_COMMAND_H_
