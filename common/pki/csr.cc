#include "common/pki/csr.h"

#include <cstdint>
#include <string>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/pki/internal/x509_util.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {
namespace {

using internal::Mut;

constexpr char kCsrErrorPayload[] = "type.tether.io/CsrError";

absl::Status Invalid(absl::string_view message, CsrError error = CsrError::kMalformed) {
  ERR_clear_error();
  absl::Status st = absl::InvalidArgumentError(message);
  st.SetPayload(kCsrErrorPayload, absl::Cord(std::string(1, static_cast<char>(error))));
  return st;
}

// PemToDer extracts the single "CERTIFICATE REQUEST" block of `pem`.
absl::StatusOr<std::string> PemToDer(absl::string_view pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (bio == nullptr) return absl::InternalError("out of memory");
  char* name = nullptr;
  char* header = nullptr;
  uint8_t* data = nullptr;
  long len = 0;  // NOLINT(google-runtime-int): PEM_read_bio takes a long*
  if (!PEM_read_bio(bio.get(), &name, &header, &data, &len)) {
    return Invalid("CSR PEM block is malformed");
  }
  bssl::UniquePtr<char> owned_name(name);
  bssl::UniquePtr<char> owned_header(header);
  bssl::UniquePtr<uint8_t> owned_data(data);
  if (absl::string_view(name) != "CERTIFICATE REQUEST") {
    return Invalid(absl::StrCat("CSR PEM block is \"", name, "\", not \"CERTIFICATE REQUEST\""));
  }
  char* name2 = nullptr;
  char* header2 = nullptr;
  uint8_t* data2 = nullptr;
  long len2 = 0;  // NOLINT(google-runtime-int)
  if (PEM_read_bio(bio.get(), &name2, &header2, &data2, &len2)) {
    OPENSSL_free(name2);
    OPENSSL_free(header2);
    OPENSSL_free(data2);
    return Invalid("CSR PEM input holds more than one block");
  }
  ERR_clear_error();
  return std::string(reinterpret_cast<const char*>(data), len);
}

// RequestedNames returns the subjectAltName of the request's extension
// request, or an error if there is none, more than one, or it is malformed.
absl::StatusOr<internal::Sans> RequestedNames(X509_REQ* req) {
  bool has_ext_req = X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0;
  bssl::UniquePtr<STACK_OF(X509_EXTENSION)> exts(X509_REQ_get_extensions(req));
  if (exts == nullptr) {
    return Invalid(has_ext_req ? "CSR extension request is malformed"
                               : "CSR has no subjectAltName (no extension request)");
  }
  int found = 0;
  bssl::UniquePtr<GENERAL_NAMES> names;
  for (size_t i = 0; i < sk_X509_EXTENSION_num(exts.get()); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    if (++found > 1) return Invalid("CSR has more than one subjectAltName extension");
    names.reset(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
    if (names == nullptr) return Invalid("CSR subjectAltName is malformed");
  }
  if (found == 0) return Invalid("CSR has no subjectAltName");
  return internal::ReadSans(names.get());
}

}  // namespace

absl::StatusOr<std::string> CreateCsr(const EVP_PKEY* key, const SpiffeId& id) {
  if (key == nullptr) return absl::InvalidArgumentError("CSR needs a key");
  absl::StatusOr<SpiffeId> valid =
      SpiffeId::Make(id.trust_domain, id.namespace_name, id.service_account);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid SPIFFE ID for CSR: ", valid.status().message()));
  }
  std::string uri = valid->ToString();

  bssl::UniquePtr<X509_REQ> req(X509_REQ_new());
  bssl::UniquePtr<STACK_OF(X509_EXTENSION)> exts(sk_X509_EXTENSION_new_null());
  bssl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  bssl::UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
  bssl::UniquePtr<ASN1_IA5STRING> ia5(ASN1_IA5STRING_new());
  if (req == nullptr || exts == nullptr || names == nullptr || name == nullptr || ia5 == nullptr ||
      !ASN1_STRING_set(ia5.get(), uri.data(), static_cast<int>(uri.size()))) {
    return absl::InternalError(absl::StrCat("allocating a CSR failed: ", internal::TakeErrors()));
  }
  GENERAL_NAME_set0_value(name.get(), GEN_URI, ia5.release());
  if (!sk_GENERAL_NAME_push(names.get(), name.get())) {
    return absl::InternalError("out of memory");
  }
  (void)name.release();  // owned by `names` now
  bssl::UniquePtr<X509_EXTENSION> san(
      X509V3_EXT_i2d(NID_subject_alt_name, /*crit=*/0, names.get()));
  if (san == nullptr || !sk_X509_EXTENSION_push(exts.get(), san.get())) {
    return absl::InternalError(
        absl::StrCat("encoding the CSR SAN failed: ", internal::TakeErrors()));
  }
  (void)san.release();  // owned by `exts` now
  // The subject is empty: the identity is the URI SAN, and the CA sets the
  // certificate's subject itself.
  if (!X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
      !X509_REQ_set_pubkey(req.get(), Mut(key)) ||
      !X509_REQ_add_extensions(req.get(), exts.get()) ||
      !X509_REQ_sign(req.get(), Mut(key), internal::DigestFor(key))) {
    return absl::InternalError(absl::StrCat("building the CSR failed: ", internal::TakeErrors()));
  }
  uint8_t* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) {
    return absl::InternalError(absl::StrCat("encoding the CSR failed: ", internal::TakeErrors()));
  }
  bssl::UniquePtr<uint8_t> owned(der);
  return std::string(reinterpret_cast<const char*>(der), len);
}

absl::StatusOr<ParsedCsr> ParseCsr(absl::string_view der_or_pem) {
  if (der_or_pem.empty()) return Invalid("CSR is empty");
  if (der_or_pem.size() > kMaxCsrBytes) {
    return Invalid(absl::StrCat("CSR is ", der_or_pem.size(), " bytes (limit ", kMaxCsrBytes, ")"));
  }
  std::string from_pem;
  absl::string_view der = der_or_pem;
  absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(der_or_pem);
  if (absl::StartsWith(trimmed, "-----BEGIN ")) {
    absl::StatusOr<std::string> decoded = PemToDer(trimmed);
    if (!decoded.ok()) return decoded.status();
    from_pem = *std::move(decoded);
    der = from_pem;
  }

  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  const uint8_t* end = p + der.size();
  bssl::UniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, der.size()));
  if (req == nullptr) return Invalid("CSR is not a DER PKCS#10 request");
  if (p != end) {
    return Invalid(absl::StrCat("CSR has ", end - p, " bytes of trailing data"));
  }

  bssl::UniquePtr<EVP_PKEY> key(X509_REQ_get_pubkey(req.get()));
  if (key == nullptr) {
    return Invalid("CSR public key is malformed or of an unsupported type", CsrError::kWeakKey);
  }
  if (X509_REQ_verify(req.get(), key.get()) != 1) {
    return Invalid("CSR signature does not verify with its public key", CsrError::kBadSignature);
  }
  if (absl::Status s = CheckKeyStrength(key.get()); !s.ok()) {
    return Invalid(absl::StrCat("CSR key: ", s.message()), CsrError::kWeakKey);
  }

  absl::StatusOr<internal::Sans> sans = RequestedNames(req.get());
  if (!sans.ok()) return sans.status();
  if (sans->uris.empty()) return Invalid("CSR requests no URI SAN (need one SPIFFE ID)");
  if (sans->uris.size() > 1) {
    return Invalid(
        absl::StrCat("CSR requests ", sans->uris.size(), " URI SANs (need exactly one SPIFFE ID)"));
  }
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(sans->uris.front());
  if (!id.ok()) {
    return Invalid(absl::StrCat("CSR URI SAN is not a valid SPIFFE ID: ", id.status().message()));
  }
  if (!sans->dns_names.empty()) return Invalid("CSR requests a DNS SAN (only a URI is allowed)");
  if (sans->ip_addresses > 0) return Invalid("CSR requests an IP SAN (only a URI is allowed)");
  if (sans->emails > 0) return Invalid("CSR requests an email SAN (only a URI is allowed)");
  if (sans->others > 0) return Invalid("CSR requests an unsupported SAN kind");

  ParsedCsr parsed;
  parsed.public_key = std::move(key);
  parsed.spiffe_id = *std::move(id);
  return parsed;
}

CsrError CsrErrorOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kCsrErrorPayload);
  if (!payload.has_value() || payload->size() != 1) return CsrError::kMalformed;
  switch (static_cast<CsrError>((*payload)[0])) {
    case CsrError::kBadSignature:
      return CsrError::kBadSignature;
    case CsrError::kWeakKey:
      return CsrError::kWeakKey;
    case CsrError::kMalformed:
      break;
  }
  return CsrError::kMalformed;
}

}  // namespace tether::pki
