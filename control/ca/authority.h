// CertificateAuthority: the CA's decision for one certificate request, apart
// from any transport.
//
//   CertificateAuthority ca(store, registry, audit, clock, {.default_ttl = absl::Hours(1)});
//   absl::StatusOr<Issued> out =
//       ca.Sign(authenticated_id, "pod:<uid>", csr_der, absl::ZeroDuration(), peer);
//   if (!out.ok()) ReasonOf(out.status());  // "identity_mismatch", ...
//
// Every outcome is audited. Rejections are a CaError (a stable reason word)
// mapped to a status code; nothing is issued on any rejection.
#ifndef TETHER_CONTROL_CA_AUTHORITY_H_
#define TETHER_CONTROL_CA_AUTHORITY_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/certs.h"
#include "common/pki/spiffe_id.h"
#include "control/ca/audit_log.h"
#include "control/ca/ca_store.h"
#include "control/ca/rate_limiter.h"
#include "control/ca/registry.h"
#include "control/ca/rejection_audit.h"

namespace tether::control {

enum class CaError {
  kMalformedCsr,      // INVALID_ARGUMENT
  kBadSignature,      // INVALID_ARGUMENT
  kWeakKey,           // INVALID_ARGUMENT
  kIdentityMismatch,  // PERMISSION_DENIED
  kRevoked,           // PERMISSION_DENIED
  kRateLimited,       // RESOURCE_EXHAUSTED
  kInternal,          // INTERNAL
};

// ReasonWord: "malformed_csr", "bad_signature", "weak_key", "identity_mismatch",
// "revoked", "rate_limited", "internal".
absl::string_view ReasonWord(CaError error);

// CaErrorStatus returns a status with the error's code whose message is
// "<reason word>: <message>", carrying the error as a typed payload.
absl::Status CaErrorStatus(CaError error, absl::string_view message);

// CaReasonOf returns the reason word of a CaErrorStatus (read from its
// payload, never its message), or "internal" for any other status.
std::string CaReasonOf(const absl::Status& status);

struct Issued {
  pki::CertChain chain;  // leaf first, then intermediates (no root)
  std::string serial_hex;
  std::string spiffe_id;
  absl::Time not_before;
  absl::Time not_after;
  absl::Time renew_after;
};

// Certificate requests are limited twice, by token buckets: per workload
// instance (a pod, a join token's workload, ...), so that one noisy replica
// cannot starve the others of its identity, which share its service account;
// and per identity, a larger bucket, so that an identity with many instances
// still cannot flood the CA without bound. A request refused by its
// instance's bucket takes nothing from the identity's.
struct AuthorityOptions {
  absl::Duration default_ttl = absl::Hours(1);
  // Per workload instance: sustained rate and burst.
  double requests_per_minute = 30;
  double burst = 10;
  // Per identity, over all its instances.
  double identity_requests_per_minute = 300;
  double identity_burst = 100;
};

// Observes each decision: the reason word ("issued" on success) and the time
// spent signing. Used for metrics.
using SignObserver = std::function<void(absl::string_view outcome, absl::Duration latency)>;

class CertificateAuthority {
 public:
  CertificateAuthority(CaStore* store, CertificateRegistry* registry, AuditLog* audit,
                       const Clock* clock, AuthorityOptions options);

  // Sign checks `csr_der` against the identity the stream authenticated as,
  // signs it with the current signer, and records it (with `instance`, the
  // workload instance that asked, which renewals inherit). `requested_ttl`
  // of 0 means the default; it is clamped to [1 minute, default].
  absl::StatusOr<Issued> Sign(const pki::SpiffeId& authenticated, absl::string_view instance,
                              absl::string_view csr_der, absl::Duration requested_ttl,
                              absl::string_view peer);

  void SetObserver(SignObserver observer) { observer_ = std::move(observer); }
  // SetRejectionAudit sends the audit lines of rejections through
  // `rejections` (rate-limited per identity; must outlive this) instead of
  // writing every one; call before signing.
  void SetRejectionAudit(RejectionAudit* rejections) { rejections_ = rejections; }
  const AuthorityOptions& options() const { return options_; }

 private:
  absl::StatusOr<Issued> SignUnobserved(const pki::SpiffeId& authenticated,
                                        absl::string_view instance, absl::string_view csr_der,
                                        absl::Duration requested_ttl);
  // Admit takes a token from `instance`'s bucket, then from the identity's;
  // RateLimited saying which when one is empty.
  absl::Status Admit(const std::string& id, absl::string_view instance);

  CaStore* const store_;
  CertificateRegistry* const registry_;
  AuditLog* const audit_;
  const Clock* const clock_;
  const AuthorityOptions options_;
  RateLimiter instance_limiter_;  // by "<identity> <instance>"
  RateLimiter identity_limiter_;
  SignObserver observer_;
  RejectionAudit* rejections_ = nullptr;
};

// RenewAfter returns when a certificate issued at `issued` and valid until
// `not_after` should be renewed: at half its remaining lifetime, plus up to
// 10% of it of jitter drawn from `jitter01` in [0, 1).
absl::Time RenewAfter(absl::Time issued, absl::Time not_after, double jitter01);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_AUTHORITY_H_
