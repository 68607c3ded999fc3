// ParseTokenReviewResponse: what a Kubernetes TokenReview answer
// (authentication.k8s.io/v1) says about a token, as a mesh identity. A pure
// function over untrusted bytes, fuzzed by tests/fuzz/token_review_fuzz.cc.
//
//   absl::StatusOr<ReviewedToken> r =
//       ParseTokenReviewResponse(body, "tether", "mesh.local");
//   // r->id: spiffe://mesh.local/ns/<namespace>/sa/<service-account>
//
// The token is accepted only when status.authenticated is true, the API
// server confirms the audience in status.audiences, and status.user.username
// is "system:serviceaccount:<namespace>:<name>" with a valid Kubernetes
// namespace (DNS-1123 label) and service-account name (DNS-1123 subdomain).
//
// Errors:
//   Unauthenticated  the token does not prove a service account:
//                    "token rejected by the Kubernetes API: <status.error>",
//                    "token is for audience [...] not tether",
//                    "token belongs to user X, not a service account", ...
//   Unavailable      the answer is not a TokenReview ("malformed TokenReview
//                    response: ..."): the API server misbehaved, the token is
//                    not at fault
//   InvalidArgument  `audience` is empty or `trust_domain` is not a valid
//                    trust domain name
#ifndef TETHER_CONTROL_KUBERNETES_TOKEN_REVIEW_RESPONSE_H_
#define TETHER_CONTROL_KUBERNETES_TOKEN_REVIEW_RESPONSE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/spiffe_id.h"

namespace tether::control::kubernetes {

inline constexpr size_t kMaxTokenReviewResponseBytes = size_t{1} << 20;

// ReviewedToken is the identity a token proves, plus what the API server
// told about the pod it was issued for (bound tokens only; else empty).
struct ReviewedToken {
  pki::SpiffeId id;
  std::string pod_name;  // status.user.extra["authentication.kubernetes.io/pod-name"]
  std::string pod_uid;   // status.user.extra["authentication.kubernetes.io/pod-uid"]
};

absl::StatusOr<ReviewedToken> ParseTokenReviewResponse(absl::string_view json,
                                                       absl::string_view audience,
                                                       absl::string_view trust_domain);

// IsDns1123Label reports whether `s` is a Kubernetes namespace-style name:
// 1..63 of [a-z0-9-], starting and ending with [a-z0-9].
bool IsDns1123Label(absl::string_view s);

// IsDns1123Subdomain reports whether `s` is a Kubernetes object name: at most
// 253 bytes of dot-separated DNS-1123 labels.
bool IsDns1123Subdomain(absl::string_view s);

// PrintableText makes text from the API server safe to put in an error
// message or the audit log: it is cut to `max` bytes (then "..." is added)
// and every byte outside printable ASCII is written as \xNN.
std::string PrintableText(absl::string_view s, size_t max);

// IsValidTrustDomain reports whether `s` is usable as a SPIFFE trust domain:
// 1..255 of [a-z0-9.-_].
bool IsValidTrustDomain(absl::string_view s);

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_TOKEN_REVIEW_RESPONSE_H_
