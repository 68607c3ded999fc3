// Verify: checks a peer's certificate chain against a trust bundle, the
// validity period and revocations, and extracts its SPIFFE ID.
//
//   pki::TrustBundle bundle = *pki::TrustBundle::FromPem(roots_pem);
//   absl::StatusOr<pki::VerifiedPeer> peer = pki::VerifyChain(chain, bundle, now, revoked);
#ifndef TETHER_COMMON_PKI_VERIFY_H_
#define TETHER_COMMON_PKI_VERIFY_H_

#include <string>
#include <vector>

#include <openssl/x509.h>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/pki/certs.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {

// TrustBundle: the set of root CA certificates of one trust domain.
class TrustBundle {
 public:
  // FromPem parses one or more CA certificates. InvalidArgument if none, if
  // one does not parse, or if one is not a CA certificate.
  static absl::StatusOr<TrustBundle> FromPem(absl::string_view pem);
  static absl::StatusOr<TrustBundle> FromCerts(CertChain roots);

  const CertChain& roots() const { return roots_; }
  std::string ToPem() const;

  // store holds the roots as a BoringSSL trust store (never null for a bundle
  // made by FromPem/FromCerts); safe to share between threads for verifying.
  X509_STORE* store() const { return store_.get(); }

 private:
  CertChain roots_;
  // The roots as a BoringSSL store, built once; read-only and shared by
  // concurrent VerifyChain calls.
  bssl::UniquePtr<X509_STORE> store_;
};

// Revocations: serials (lowercase hex, as SerialHex) and whole identities.
struct Revocations {
  absl::flat_hash_set<std::string> serials;
  absl::flat_hash_set<std::string> spiffe_ids;
};

// Maximum certificates in a presented chain (leaf + intermediates).
inline constexpr int kMaxChainLength = 4;

struct VerifiedPeer {
  SpiffeId spiffe_id;
  std::string serial_hex;
  absl::Time not_after;
};

// VerifyChain checks `chain` (leaf first, then intermediates) and returns the
// leaf's identity. Failures are PermissionDenied (Unauthenticated, "untrusted:
// no certificate presented", for an empty chain) with a message that starts
// with a stable reason word, used as a metric label:
//   "untrusted: ..."     no path to a root of `bundle` (foreign CA, bad signature)
//   "expired: ..."       a certificate's NotAfter is before `now`
//   "not_yet_valid: ..." a certificate's NotBefore is after `now`
//   "revoked: ..."       the leaf's serial or identity is in `revoked`
//   "bad_usage: ..."     the leaf is a CA, lacks digitalSignature, or lacks the
//                        needed extended key usage (`purpose`)
//   "weak_key: ..."      the leaf's key fails CheckKeyStrength
//   "chain_too_long: ..." more than kMaxChainLength certificates
//   "bad_identity: ..."  no single valid spiffe:// URI SAN, or a trust domain
//                        other than `trust_domain` when that is non-empty
// The length check runs first (before any signature work); then BoringSSL's
// path verification at `now` (untrusted / expired / not_yet_valid); then, on
// the leaf: revoked, bad_usage, weak_key, bad_identity, in that order. The
// leaf must carry keyUsage (with digitalSignature) and extendedKeyUsage with
// clientAuth (kClient), serverAuth (kServer), or either one (kAny).
enum class Purpose { kClient, kServer, kAny };
absl::StatusOr<VerifiedPeer> VerifyChain(absl::Span<X509* const> chain, const TrustBundle& bundle,
                                         absl::Time now, const Revocations& revoked,
                                         Purpose purpose, absl::string_view trust_domain = "");

// ReasonOf returns the stable reason word of a VerifyChain error ("untrusted",
// "expired", ...), or "other" (also for an OK status).
std::string ReasonOf(const absl::Status& status);

}  // namespace tether::pki

#endif  // TETHER_COMMON_PKI_VERIFY_H_
