// Certificates: PEM/DER conversion and the facts Tether reads from an X.509
// certificate, with BoringSSL.
//
//   auto chain = pki::CertsFromPem(pem);            // leaf first
//   pki::CertInfo info = pki::DescribeCert(chain->front().get());
//   std::cout << info.spiffe_id << " " << info.serial_hex << "\n";
#ifndef TETHER_COMMON_PKI_CERTS_H_
#define TETHER_COMMON_PKI_CERTS_H_

#include <optional>
#include <string>
#include <vector>

#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tether::pki {

using CertChain = std::vector<bssl::UniquePtr<X509>>;

// CertsFromPem parses every CERTIFICATE block of `pem`, in order.
// InvalidArgument if there is none or one does not parse.
absl::StatusOr<CertChain> CertsFromPem(absl::string_view pem);

// CertFromDer parses one DER certificate (the whole input must be consumed).
absl::StatusOr<bssl::UniquePtr<X509>> CertFromDer(absl::string_view der);

// CertToPem, CertToDer and ChainToPem return "" on error (or a null cert).
std::string CertToPem(const X509* cert);
std::string CertToDer(const X509* cert);
std::string ChainToPem(const CertChain& chain);

// CopyChain returns new references to the same certificates.
CertChain CopyChain(const CertChain& chain);

struct CertInfo {
  std::string subject;  // one-line RFC 2253 form
  std::string issuer;
  std::string serial_hex;  // lowercase hex, no leading zeros beyond one byte
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;  // basicConstraints CA:TRUE
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_names;
  // The URI SAN starting with "spiffe://" when there is exactly one, as
  // written (not validated: a root CA's is "spiffe://<trust-domain>"); else empty.
  std::string spiffe_id;
  std::string sha256_hex;  // fingerprint of the DER encoding
};

// DescribeCert reads the fields above; never fails on a parsed certificate
// (an unreadable validity time reads as absl::InfinitePast()).
CertInfo DescribeCert(const X509* cert);

// SerialHex returns the certificate serial as lowercase hex, two digits per
// byte of its magnitude without leading zero bytes ("00" for zero, a leading
// "-" for a negative serial).
std::string SerialHex(const X509* cert);

}  // namespace tether::pki

#endif  // TETHER_COMMON_PKI_CERTS_H_
