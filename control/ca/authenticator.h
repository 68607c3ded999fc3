// Authenticator: turns a bootstrap credential into an identity. The
// Kubernetes one checks projected service-account tokens with the cluster's
// TokenReview API; tests use a fake.
//
//   absl::StatusOr<Authentication> who = authn->AuthenticateWorkload(token);
//   // who->id: the identity; who->instance: "pod:<uid>" when the issuer says
//   // later, on the stream that authenticated with it:
//   absl::StatusOr<Authentication> still = authn->Review(token);  // never from a cache
#ifndef TETHER_CONTROL_CA_AUTHENTICATOR_H_
#define TETHER_CONTROL_CA_AUTHENTICATOR_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/spiffe_id.h"

namespace tether::control {

// Authentication: what a credential proved about the workload that holds it.
struct Authentication {
  pki::SpiffeId id;
  // The workload instance the credential was issued to, as a key that tells
  // the replicas of one identity apart ("pod:<uid>", "join:<token id>"); empty
  // when the issuer does not say.
  std::string instance;
  // When the credential stops being valid; InfiniteFuture when unknown.
  absl::Time expires = absl::InfiniteFuture();
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Authenticate returns the identity `token` proves, or Unauthenticated
  // saying why. The identity comes from the issuer of the token, never from
  // anything else the client sent. May block on network I/O.
  virtual absl::StatusOr<pki::SpiffeId> Authenticate(absl::string_view token) = 0;

  // AuthenticateWorkload is Authenticate plus what the issuer said about the
  // instance and the credential's lifetime. The default knows neither.
  virtual absl::StatusOr<Authentication> AuthenticateWorkload(absl::string_view token) {
    absl::StatusOr<pki::SpiffeId> id = Authenticate(token);
    if (!id.ok()) return id.status();
    Authentication out;
    out.id = *std::move(id);
    return out;
  }

  // Review asks the issuer again whether `token` still holds (a stream
  // re-checking the token it authenticated with: a pod's token is withdrawn
  // when the pod is deleted), past any cache of earlier answers. Errors as
  // Authenticate: Unauthenticated means the token no longer proves anything;
  // Unavailable means the issuer could not be asked, which says nothing about
  // the token.
  virtual absl::StatusOr<Authentication> Review(absl::string_view token) {
    return AuthenticateWorkload(token);
  }
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_AUTHENTICATOR_H_
