// Csr: certificate signing requests (PKCS#10) carrying a SPIFFE ID.
//
//   Proxy:  std::string der = *pki::CreateCsr(key.get(), id);
//   CA:     absl::StatusOr<pki::ParsedCsr> csr = pki::ParseCsr(der);
//           // csr->spiffe_id, csr->public_key (signature already verified)
#ifndef TETHER_COMMON_PKI_CSR_H_
#define TETHER_COMMON_PKI_CSR_H_

#include <string>

#include <openssl/evp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {

// Largest CSR the CA will look at; anything longer is rejected unparsed.
inline constexpr size_t kMaxCsrBytes = 16 * 1024;

// CreateCsr makes a DER PKCS#10 request signed by `key`, with an empty subject
// and whose only subject alternative name is the URI `id`. InvalidArgument for
// a null key or an invalid `id`; Internal if BoringSSL fails.
absl::StatusOr<std::string> CreateCsr(const EVP_PKEY* key, const SpiffeId& id);

struct ParsedCsr {
  bssl::UniquePtr<EVP_PKEY> public_key;
  SpiffeId spiffe_id;
};

// ParseCsr accepts DER (or PEM "CERTIFICATE REQUEST") input and checks, in
// order, each with InvalidArgument and a precise message on failure:
//  - size <= kMaxCsrBytes, and it parses as exactly one PKCS#10 request;
//  - its self-signature verifies with its own public key;
//  - the key is strong enough (CheckKeyStrength);
//  - it has exactly one URI SAN, and that URI is a valid SPIFFE ID;
//  - no other SAN kind (DNS, IP, email) is requested.
// Never crashes on any input. Each failure carries its CsrError (CsrErrorOf).
absl::StatusOr<ParsedCsr> ParseCsr(absl::string_view der_or_pem);

// CsrError: why ParseCsr refused a request, as a type rather than words of
// its message.
enum class CsrError {
  kMalformed,     // not one PKCS#10 request, or SANs other than one SPIFFE ID
  kBadSignature,  // the self-signature does not verify with its own key
  kWeakKey,       // a key too weak or of an unsupported type or curve
};

// CsrErrorOf: the CsrError a ParseCsr failure carries (kMalformed for any
// status without one).
CsrError CsrErrorOf(const absl::Status& status);

}  // namespace tether::pki

#endif  // TETHER_COMMON_PKI_CSR_H_
