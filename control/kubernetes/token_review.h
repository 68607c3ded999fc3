// TokenReviewAuthenticator: authenticates a workload by its projected
// service-account token (audience "tether"), asking the cluster's API server
// with the TokenReview API (authentication.k8s.io/v1).
//
//   TokenReviewAuthenticator::Options opts;
//   opts.trust_domain = "cluster.local";  // API server from KUBERNETES_SERVICE_HOST/PORT
//   TETHER_ASSIGN_OR_RETURN(auto authn, TokenReviewAuthenticator::Create(opts));
//   absl::StatusOr<pki::SpiffeId> id = authn->Authenticate(token_from_hello);
//   // spiffe://cluster.local/ns/<namespace>/sa/<service-account>
//
// The identity comes only from the API server's answer (see
// token_review_response.h for what is accepted). The control plane calls the
// API with its own service-account token, re-read from `token_file` on every
// call because the kubelet rotates it; its service account needs permission
// to create tokenreviews.authentication.k8s.io (the ClusterRole
// system:auth-delegator grants it). The CA bundle is re-read on every call too.
//
// Errors of Authenticate:
//   Unauthenticated  the token is empty, longer than 16 KiB or not printable
//                    ASCII (checked without a network call), or the API server
//                    did not accept it as a service account's token for the
//                    audience; the message says which
//   Unavailable      the API server could not be asked or answered nonsense:
//                    unreachable, TLS failure, timeout, HTTP 5xx, HTTP 401/403
//                    (the control plane's own credentials or RBAC), a malformed
//                    answer, or the control plane's token / CA file unreadable
//
// Thread-safe; each call is one blocking HTTPS request of at most `timeout`.
#ifndef TETHER_CONTROL_KUBERNETES_TOKEN_REVIEW_H_
#define TETHER_CONTROL_KUBERNETES_TOKEN_REVIEW_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/spiffe_id.h"
#include "control/ca/authenticator.h"
#include "control/kubernetes/api_client.h"
#include "control/kubernetes/https_client.h"
#include "control/kubernetes/token_review_response.h"

namespace tether::control::kubernetes {

inline constexpr char kTokenReviewPath[] = "/apis/authentication.k8s.io/v1/tokenreviews";
inline constexpr size_t kMaxKubernetesTokenBytes = size_t{16} << 10;

class TokenReviewAuthenticator final : public Authenticator {
 public:
  struct Options {
    std::string api_host;     // empty: $KUBERNETES_SERVICE_HOST
    uint16_t api_port = 0;    // 0: $KUBERNETES_SERVICE_PORT, else 443
    std::string server_name;  // name the API server's certificate must carry; empty: api_host
    std::string ca_file = kDefaultCaFile;
    std::string token_file = kDefaultTokenFile;
    std::string audience = "tether";
    std::string trust_domain;  // required
    absl::Duration timeout = absl::Seconds(5);
  };

  // Create resolves the defaults and checks that the options are usable and
  // both files readable now, so a misconfigured control plane fails at start:
  // InvalidArgument for a bad option (or KUBERNETES_SERVICE_PORT),
  // FailedPrecondition when no API server is configured nor known from the
  // environment, or when the token or CA file is unreadable (naming the path).
  static absl::StatusOr<std::unique_ptr<TokenReviewAuthenticator>> Create(Options options);

  absl::StatusOr<pki::SpiffeId> Authenticate(absl::string_view token) override;

  // AuthenticateWorkload names the pod the token was issued for as the
  // instance: "pod:<uid>", else "pod:<namespace>/<name>", else "" (a token
  // not bound to a pod). Each call is a TokenReview, so Review is the same.
  absl::StatusOr<Authentication> AuthenticateWorkload(absl::string_view token) override;

  // AuthenticateWithDetails is Authenticate that also returns the pod the
  // token was issued for, when the API server says (bound tokens).
  absl::StatusOr<ReviewedToken> AuthenticateWithDetails(absl::string_view token);

  // options returns the options with defaults resolved.
  const Options& options() const { return options_; }

 private:
  explicit TokenReviewAuthenticator(Options options) : options_(std::move(options)) {}

  Options options_;
};

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_TOKEN_REVIEW_H_
