// RunEndpoints: `tetherctl endpoints`, what the control plane's endpoint
// registry holds: for each address, the identities that may answer there,
// where the fact comes from and how long it has held.
//
//   ADDRESS         IDENTITIES                               SOURCE      ORIGIN AGE 10.0.0.5
//   spiffe://mesh.local/ns/shop/sa/cart      join_token  join token for spiffe://…     3m
//   10.96.0.12:80   spiffe://mesh.local/ns/shop/sa/web       kubernetes_service  service shop/web
//   (2 of 2 meshed)  1h
//
// An address with no identity is known and not meshed: proxies pass
// traffic to it through as plain TCP.
#ifndef TETHER_CONTROL_TETHERCTL_ENDPOINTS_COMMAND_H_
#define TETHER_CONTROL_TETHERCTL_ENDPOINTS_COMMAND_H_

#include <ostream>

#include "absl/time/time.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"

namespace tether::tetherctl {

// PrintEndpoints writes the table for `resp` as of `now`.
void PrintEndpoints(const tether::admin::v1::ListEndpointsResponse& resp, absl::Time now,
                    std::ostream& out);

// RunEndpoints asks `stub` and prints; the exit code.
int RunEndpoints(tether::admin::v1::AdminService::StubInterface& stub, std::ostream& out,
                 std::ostream& err);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_ENDPOINTS_COMMAND_H_
