// Keys: ECDSA P-256 key generation and PEM encoding, with BoringSSL.
//
//   absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = pki::GenerateP256Key();
//   std::string pem = pki::PrivateKeyToPem(key->get());  // PKCS#8
#ifndef TETHER_COMMON_PKI_KEYS_H_
#define TETHER_COMMON_PKI_KEYS_H_

#include <string>

#include <openssl/evp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::pki {

// GenerateP256Key makes a new ECDSA P-256 key pair. Internal on failure.
absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> GenerateP256Key();

// PrivateKeyToPem encodes `key` as unencrypted PKCS#8 PEM ("PRIVATE KEY").
std::string PrivateKeyToPem(const EVP_PKEY* key);

// PrivateKeyFromPem decodes a PKCS#8, SEC1 ("EC PRIVATE KEY") or PKCS#1 PEM
// private key. InvalidArgument if `pem` holds no parsable key.
absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> PrivateKeyFromPem(absl::string_view pem);

// PublicKeyDer returns the DER SubjectPublicKeyInfo of `key` (empty on error).
std::string PublicKeyDer(const EVP_PKEY* key);

// CheckKeyStrength accepts ECDSA P-256 and P-384 and RSA of 2048 bits or more;
// anything else (RSA-1024, Ed25519, other curves) is InvalidArgument with a
// message naming the key, e.g. "RSA-1024 key is too weak (need >= 2048 bits)".
absl::Status CheckKeyStrength(const EVP_PKEY* key);

}  // namespace tether::pki

#endif  // TETHER_COMMON_PKI_KEYS_H_
