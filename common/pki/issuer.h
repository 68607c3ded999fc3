// Issuer: makes CA and leaf certificates with BoringSSL.
//
//   auto key = pki::GenerateP256Key();
//   auto root = pki::CreateRootCa(key->get(), "mesh.local", now, absl::Hours(24 * 3650));
//   pki::Issuer issuer(pki::Authority{...});
//   auto leaf = issuer.SignLeaf({.public_key = csr.public_key.get(), .spiffe_id = csr.spiffe_id,
//                                .now = now, .ttl = absl::Hours(1)});
#ifndef TETHER_COMMON_PKI_ISSUER_H_
#define TETHER_COMMON_PKI_ISSUER_H_

#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/certs.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {

// CreateRootCa makes a self-signed CA certificate for `key`: subject
// "O=Tether, CN=Tether root CA <trust_domain>", random 128-bit serial,
// basicConstraints critical CA:TRUE, keyUsage critical keyCertSign+cRLSign,
// subjectKeyIdentifier, a URI SAN "spiffe://<trust_domain>" (SPIFFE's
// convention for a trust domain's CA), valid from now-1m to now+ttl.
absl::StatusOr<bssl::UniquePtr<X509>> CreateRootCa(const EVP_PKEY* key,
                                                   absl::string_view trust_domain, absl::Time now,
                                                   absl::Duration ttl);

// Authority is the signing material: the CA certificate whose key signs, its
// key, and the certificates above it, nearest first, as with an operator's
// intermediate CA. `chain` may end with the root or stop below it; either way
// ChainFor never sends a self-signed certificate, and SignLeaf caps NotAfter at
// every certificate listed. For a self-signed root, `chain` is empty.
struct Authority {
  bssl::UniquePtr<X509> cert;
  bssl::UniquePtr<EVP_PKEY> key;
  CertChain chain;
};

// ValidateAuthority checks that `cert` is a CA certificate (basicConstraints
// CA:TRUE, keyUsage present with keyCertSign), that `key` matches it and
// passes CheckKeyStrength, that it is valid at `now`, and that `chain` links
// it upwards (each certificate is a CA, names and signs the one below it, and
// is valid at `now`). InvalidArgument with the reason.
absl::Status ValidateAuthority(const Authority& authority, absl::Time now);

struct LeafRequest {
  const EVP_PKEY* public_key = nullptr;
  SpiffeId spiffe_id;
  absl::Time now;
  absl::Duration ttl = absl::Hours(1);
  // NotBefore = now - backdate, for peers whose clocks run behind.
  absl::Duration backdate = absl::Minutes(1);
  // Extra DNS SANs (the control plane's own serving certificate uses them).
  std::vector<std::string> dns_names;
};

class Issuer {
 public:
  explicit Issuer(Authority authority) : authority_(std::move(authority)) {}

  // SignLeaf makes a leaf certificate: version 3, random 128-bit serial
  // (positive), subject "O=<trust domain>" with no CN, issuer = the
  // authority's subject, the SPIFFE ID as the only URI SAN (plus dns_names),
  // keyUsage critical digitalSignature (+ keyEncipherment for RSA keys),
  // extKeyUsage serverAuth+clientAuth, basicConstraints critical CA:FALSE,
  // subject and authority key identifiers, ECDSA-SHA256 (or the authority
  // key's natural digest) signature. NotAfter is capped at the authority's
  // (and every chain certificate's) NotAfter. InvalidArgument when the
  // request is unusable (no key, a key failing CheckKeyStrength, an invalid
  // SPIFFE ID or DNS name, ttl <= 0, backdate < 0, authority or a chain
  // certificate already expired at `now`). The SPIFFE ID's trust domain is
  // not compared with the authority's: the caller decides who gets what.
  absl::StatusOr<bssl::UniquePtr<X509>> SignLeaf(const LeafRequest& request) const;

  // ChainFor returns the chain a workload presents: `leaf` followed by the
  // authority certificate and `chain` (the root itself is left out when the
  // authority is an intermediate; a self-signed authority is left out too).
  CertChain ChainFor(const X509* leaf) const;

  const Authority& authority() const { return authority_; }

 private:
  Authority authority_;
};

}  // namespace tether::pki

#endif  // TETHER_COMMON_PKI_ISSUER_H_
