// `tetherctl check`: the health of a mesh, one line per check, like
// `linkerd check`: ✔ passed, ! a warning, ✖ failed, each problem with a fix.
//
//   tetherctl --admin 127.0.0.1:15014 check --proxy 127.0.0.1:15000,127.0.0.1:15001
//
// The control plane (--admin): reachable and ready, its signing CA and trust
// bundle roots more than 30 days from expiry, every connected workload holding
// a valid certificate, its policy source healthy. Each proxy (--proxy):
// ready, its certificate not expired nor overdue for renewal, its control
// stream up, its clock near this machine's, no recent failed connections;
// and every proxy trusting the same roots as the control plane.
// `--no-control` checks the proxies only.
//
// Exit status: 0 when no check failed (warnings allowed), 1 otherwise.
#ifndef TETHER_CONTROL_TETHERCTL_CHECK_COMMAND_H_
#define TETHER_CONTROL_TETHERCTL_CHECK_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "control/tetherctl/check_rules.h"

namespace tether::tetherctl {

// FetchControl reads the control plane at `address` (its admin port: gRPC
// and HTTP) through `stub`.
ControlView FetchControl(const std::string& address, tether::admin::v1::AdminService::Stub& stub);

// PrintChecks writes the results by section and a summary line; returns the
// exit status.
int PrintChecks(const std::vector<CheckResult>& results, std::ostream& out);

int RunCheck(tether::admin::v1::AdminService::Stub* stub, const std::string& control_address,
             const std::vector<std::string>& proxies, std::ostream& out);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_CHECK_COMMAND_H_
