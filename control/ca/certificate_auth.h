// AuthenticateByCertificate: the identity a certificate stream proves with
// its TLS client certificate (a renewal), which gRPC requested but did not
// verify.
//
//   absl::StatusOr<pki::VerifiedPeer> peer = AuthenticateByCertificate(
//       context->auth_context().get(), *store->Current(), *registry->Revocations(), clock->Now());
//
// The chain is verified against the current bundle, the revocations and
// `now`; the result names the identity and the presented serial (which the
// stream then answers for: revoking it closes the stream). Errors: Unauthenticated (no certificate,
// unparsable, not chaining, expired, ...), PermissionDenied (revoked); the message says why.
#ifndef TETHER_CONTROL_CA_CERTIFICATE_AUTH_H_
#define TETHER_CONTROL_CA_CERTIFICATE_AUTH_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pki/spiffe_id.h"
#include "control/ca/ca_store.h"
#include "control/ca/registry.h"

namespace tether::control {

absl::StatusOr<pki::VerifiedPeer> AuthenticateByCertificate(const grpc::AuthContext* auth,
                                                            const CaSnapshot& ca,
                                                            const RevocationSnapshot& revoked,
                                                            absl::Time now);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_CERTIFICATE_AUTH_H_
