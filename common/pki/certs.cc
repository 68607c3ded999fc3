#include "common/pki/certs.h"

#include <cstdint>
#include <string>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/pki/internal/x509_util.h"

namespace tether::pki {

using internal::NameToString;

absl::StatusOr<CertChain> CertsFromPem(absl::string_view pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (bio == nullptr) return absl::InternalError("out of memory");
  CertChain certs;
  for (int block = 1;; ++block) {
    char* name = nullptr;
    char* header = nullptr;
    uint8_t* data = nullptr;
    long len = 0;  // NOLINT(google-runtime-int): PEM_read_bio takes a long*
    if (!PEM_read_bio(bio.get(), &name, &header, &data, &len)) {
      uint32_t err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // the normal end of input
        break;
      }
      return absl::InvalidArgumentError(
          absl::StrCat("PEM block ", block, " is malformed: ", internal::TakeErrors()));
    }
    bssl::UniquePtr<char> owned_name(name);
    bssl::UniquePtr<char> owned_header(header);
    bssl::UniquePtr<uint8_t> owned_data(data);
    if (absl::string_view(name) != "CERTIFICATE") continue;
    absl::StatusOr<bssl::UniquePtr<X509>> cert =
        CertFromDer(absl::string_view(reinterpret_cast<const char*>(data), len));
    if (!cert.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PEM certificate ", certs.size() + 1, " (block ", block, "): ", cert.status().message()));
    }
    certs.push_back(*std::move(cert));
  }
  if (certs.empty()) return absl::InvalidArgumentError("no CERTIFICATE block in PEM input");
  return certs;
}

absl::StatusOr<bssl::UniquePtr<X509>> CertFromDer(absl::string_view der) {
  if (der.empty()) return absl::InvalidArgumentError("empty certificate");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  const uint8_t* end = p + der.size();
  bssl::UniquePtr<X509> cert(d2i_X509(nullptr, &p, der.size()));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate does not parse: ", internal::TakeErrors()));
  }
  if (p != end) {
    return absl::InvalidArgumentError(
        absl::StrCat(end - p, " bytes of trailing data after the certificate"));
  }
  return cert;
}

std::string CertToPem(const X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (cert == nullptr || bio == nullptr || !PEM_write_bio_X509(bio.get(), internal::Mut(cert))) {
    ERR_clear_error();
    return "";
  }
  return internal::BioContents(bio.get());
}

std::string CertToDer(const X509* cert) {
  uint8_t* der = nullptr;
  int len = cert == nullptr ? -1 : i2d_X509(internal::Mut(cert), &der);
  if (len <= 0) {
    ERR_clear_error();
    return "";
  }
  bssl::UniquePtr<uint8_t> owned(der);
  return std::string(reinterpret_cast<const char*>(der), len);
}

std::string ChainToPem(const CertChain& chain) {
  std::string out;
  for (const auto& cert : chain) out += CertToPem(cert.get());
  return out;
}

CertChain CopyChain(const CertChain& chain) {
  CertChain out;
  out.reserve(chain.size());
  for (const auto& cert : chain) {
    X509_up_ref(cert.get());
    out.emplace_back(cert.get());
  }
  return out;
}

std::string SerialHex(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  const uint8_t* data = ASN1_STRING_get0_data(serial);
  size_t len = ASN1_STRING_length(serial);
  while (len > 1 && data[0] == 0) {  // BER input may carry redundant zero bytes
    ++data;
    --len;
  }
  std::string hex =
      len == 0
          ? "00"
          : absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(data), len));
  return ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" + hex : hex;
}

CertInfo DescribeCert(const X509* cert) {
  CertInfo info;
  info.subject = NameToString(X509_get_subject_name(cert));
  info.issuer = NameToString(X509_get_issuer_name(cert));
  info.serial_hex = SerialHex(cert);
  info.not_before =
      internal::TimeFromAsn1(X509_get0_notBefore(cert)).value_or(absl::InfinitePast());
  info.not_after = internal::TimeFromAsn1(X509_get0_notAfter(cert)).value_or(absl::InfinitePast());
  info.is_ca = (X509_get_extension_flags(internal::Mut(cert)) & EXFLAG_CA) != 0;
  bssl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  internal::Sans sans = internal::ReadSans(names.get());
  info.uri_sans = std::move(sans.uris);
  info.dns_names = std::move(sans.dns_names);
  int spiffe_uris = 0;
  for (const std::string& uri : info.uri_sans) {
    if (absl::StartsWith(uri, "spiffe://")) {
      ++spiffe_uris;
      info.spiffe_id = uri;
    }
  }
  if (spiffe_uris != 1) info.spiffe_id.clear();
  std::string der = CertToDer(cert);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(der.data()), der.size(), digest);
  info.sha256_hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
  return info;
}

}  // namespace tether::pki
