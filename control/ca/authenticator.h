// Authenticator: turns a bootstrap credential into an identity. The
// Kubernetes one checks projected service-account tokens with the cluster's
// TokenReview API; tests use a fake.
#ifndef TETHER_CONTROL_CA_AUTHENTICATOR_H_
#define TETHER_CONTROL_CA_AUTHENTICATOR_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/spiffe_id.h"

namespace tether::control {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Authenticate returns the identity `token` proves, or Unauthenticated
  // saying why. The identity comes from the issuer of the token, never from
  // anything else the client sent. May block on network I/O.
  virtual absl::StatusOr<pki::SpiffeId> Authenticate(absl::string_view token) = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_AUTHENTICATOR_H_
