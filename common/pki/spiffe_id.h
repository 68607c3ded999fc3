// SpiffeId: a workload identity, spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
//
//   absl::StatusOr<SpiffeId> id = SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/cart");
//   if (id.ok()) std::cout << id->namespace_name << "\n";  // "shop"
#ifndef TETHER_COMMON_PKI_SPIFFE_ID_H_
#define TETHER_COMMON_PKI_SPIFFE_ID_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::pki {

struct SpiffeId {
  std::string trust_domain;
  std::string namespace_name;
  std::string service_account;

  // Make validates each part (see Parse) and returns the identity, or
  // InvalidArgument naming the bad part.
  static absl::StatusOr<SpiffeId> Make(absl::string_view trust_domain, absl::string_view ns,
                                       absl::string_view sa);

  // Parse accepts exactly "spiffe://TD/ns/NS/sa/SA": a lowercase trust domain
  // of [a-z0-9.-_] (at most 255 bytes), and namespace and service account of
  // [A-Za-z0-9.-_] (1..253 bytes each). Anything else is InvalidArgument.
  // There is no normalization: no percent-encoding, no uppercase scheme, no
  // port, userinfo, query or fragment, no extra or empty path segments. Dots
  // are ordinary characters ("a..b" is a valid name), but no part may be a
  // whole dot segment ("." or ".."), which URI normalizers would rewrite.
  static absl::StatusOr<SpiffeId> Parse(absl::string_view uri);

  std::string ToString() const;

  friend bool operator==(const SpiffeId& a, const SpiffeId& b) {
    return a.trust_domain == b.trust_domain && a.namespace_name == b.namespace_name &&
           a.service_account == b.service_account;
  }
  friend bool operator!=(const SpiffeId& a, const SpiffeId& b) { return !(a == b); }
};

// ValidTrustDomain reports whether `td` is a usable trust domain name.
bool ValidTrustDomain(absl::string_view td);

}  // namespace tether::pki

#endif  // TETHER_COMMON_PKI_SPIFFE_ID_H_
