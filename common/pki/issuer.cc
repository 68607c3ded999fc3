#include "common/pki/issuer.h"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/pki/certs.h"
#include "common/pki/internal/x509_util.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {
namespace {

using internal::Mut;

// KeyUsage bit positions (RFC 5280 4.2.1.3).
constexpr int kDigitalSignature = 0;
constexpr int kKeyEncipherment = 2;
constexpr int kKeyCertSign = 5;
constexpr int kCrlSign = 6;

// The root CA's NotBefore, and a leaf's default backdate, absorb clock skew.
constexpr absl::Duration kRootBackdate = absl::Minutes(1);

absl::Status Failed(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, " failed: ", internal::TakeErrors()));
}

// AddNameEntry appends "<nid>=<value>" as a UTF8String. The value is set as is
// (no ub-* length table applies), so long trust domains still fit.
bool AddNameEntry(X509_NAME* name, int nid, absl::string_view value) {
  return X509_NAME_add_entry_by_NID(name, nid, V_ASN1_UTF8STRING,
                                    reinterpret_cast<const uint8_t*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

bool AddExt(X509* cert, int nid, void* value, bool critical) {
  return X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) == 1;
}

bool AddBasicConstraints(X509* cert, bool ca) {
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  if (bc == nullptr) return false;
  bc->ca = ca ? 0xff : 0;
  return AddExt(cert, NID_basic_constraints, bc.get(), /*critical=*/true);
}

bool AddKeyUsage(X509* cert, std::initializer_list<int> bits) {
  bssl::UniquePtr<ASN1_BIT_STRING> ku(ASN1_BIT_STRING_new());
  if (ku == nullptr) return false;
  for (int bit : bits) {
    if (!ASN1_BIT_STRING_set_bit(ku.get(), bit, 1)) return false;
  }
  return AddExt(cert, NID_key_usage, ku.get(), /*critical=*/true);
}

bool AddExtKeyUsage(X509* cert) {
  bssl::UniquePtr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
  if (eku == nullptr) return false;
  for (int nid : {NID_server_auth, NID_client_auth}) {
    ASN1_OBJECT* obj = OBJ_nid2obj(nid);  // static; freeing it is a no-op
    if (obj == nullptr || !sk_ASN1_OBJECT_push(eku.get(), obj)) return false;
  }
  return AddExt(cert, NID_ext_key_usage, eku.get(), /*critical=*/false);
}

bssl::UniquePtr<ASN1_OCTET_STRING> OctetString(absl::string_view bytes) {
  bssl::UniquePtr<ASN1_OCTET_STRING> out(ASN1_OCTET_STRING_new());
  if (out == nullptr ||
      !ASN1_OCTET_STRING_set(out.get(), reinterpret_cast<const uint8_t*>(bytes.data()),
                             static_cast<int>(bytes.size()))) {
    return nullptr;
  }
  return out;
}

bool AddSubjectKeyId(X509* cert) {
  std::string id = internal::KeyId(cert);
  bssl::UniquePtr<ASN1_OCTET_STRING> ski = OctetString(id);
  return !id.empty() && ski != nullptr &&
         AddExt(cert, NID_subject_key_identifier, ski.get(), /*critical=*/false);
}

// AddAuthorityKeyId uses the issuer's subjectKeyIdentifier, or derives one the
// same way we derive ours when the issuer (an operator's CA) has none.
bool AddAuthorityKeyId(X509* cert, const X509* issuer) {
  const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(Mut(issuer));
  std::string id =
      issuer_ski != nullptr
          ? std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(issuer_ski)),
                        ASN1_STRING_length(issuer_ski))
          : internal::KeyId(issuer);
  bssl::UniquePtr<AUTHORITY_KEYID> akid(AUTHORITY_KEYID_new());
  if (id.empty() || akid == nullptr) return false;
  akid->keyid = OctetString(id).release();
  return akid->keyid != nullptr &&
         AddExt(cert, NID_authority_key_identifier, akid.get(), /*critical=*/false);
}

bool PushName(GENERAL_NAMES* names, int type, absl::string_view value) {
  bssl::UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
  bssl::UniquePtr<ASN1_IA5STRING> ia5(ASN1_IA5STRING_new());
  if (name == nullptr || ia5 == nullptr ||
      !ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size()))) {
    return false;
  }
  GENERAL_NAME_set0_value(name.get(), type, ia5.release());
  if (!sk_GENERAL_NAME_push(names, name.get())) return false;
  (void)name.release();  // owned by `names` now
  return true;
}

bool AddSubjectAltName(X509* cert, absl::string_view uri, const std::vector<std::string>& dns,
                       bool critical) {
  bssl::UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr || !PushName(names.get(), GEN_URI, uri)) return false;
  for (const std::string& name : dns) {
    if (!PushName(names.get(), GEN_DNS, name)) return false;
  }
  return AddExt(cert, NID_subject_alt_name, names.get(), critical);
}

bool SetValidity(X509* cert, absl::Time not_before, absl::Time not_after) {
  bssl::UniquePtr<ASN1_TIME> nb = internal::Asn1FromTime(not_before);
  bssl::UniquePtr<ASN1_TIME> na = internal::Asn1FromTime(not_after);
  return nb != nullptr && na != nullptr && X509_set1_notBefore(cert, nb.get()) &&
         X509_set1_notAfter(cert, na.get());
}

// ValidDnsName accepts a host name of letters, digits, '-' and '.', with an
// optional leading "*." wildcard label.
bool ValidDnsName(absl::string_view name) {
  if (absl::ConsumePrefix(&name, "*.") && name.empty()) return false;
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return name.find("..") == absl::string_view::npos;
}

bool IsSelfSigned(const X509* cert) {
  return (X509_get_extension_flags(Mut(cert)) & EXFLAG_SS) != 0;
}

bool IsCa(const X509* cert) { return (X509_get_extension_flags(Mut(cert)) & EXFLAG_CA) != 0; }

bool CanSignCerts(const X509* cert) {
  return (X509_get_extension_flags(Mut(cert)) & EXFLAG_KUSAGE) != 0 &&
         (X509_get_key_usage(Mut(cert)) & KU_KEY_CERT_SIGN) != 0;
}

absl::Status CheckValidAt(absl::string_view what, const X509* cert, absl::Time now) {
  std::optional<absl::Time> not_before = internal::TimeFromAsn1(X509_get0_notBefore(cert));
  std::optional<absl::Time> not_after = internal::TimeFromAsn1(X509_get0_notAfter(cert));
  if (!not_before || !not_after) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has a malformed validity period"));
  }
  if (now < *not_before) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid until ", internal::FormatTime(*not_before)));
  }
  if (now > *not_after) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " expired at ", internal::FormatTime(*not_after)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bssl::UniquePtr<X509>> CreateRootCa(const EVP_PKEY* key,
                                                   absl::string_view trust_domain, absl::Time now,
                                                   absl::Duration ttl) {
  if (absl::Status s = CheckKeyStrength(key); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("root CA key: ", s.message()));
  }
  if (!ValidTrustDomain(trust_domain)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid trust domain \"", trust_domain, "\""));
  }
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("root CA ttl must be positive");
  }
  absl::Time not_before = now - kRootBackdate;
  absl::Time not_after = std::min(now + ttl, internal::MaxX509Time());
  if (internal::Asn1FromTime(not_before) == nullptr || not_after <= now) {
    return absl::InvalidArgumentError(
        absl::StrCat("root CA validity starting ", internal::FormatTime(now), " is out of range"));
  }

  bssl::UniquePtr<X509> cert(X509_new());
  bssl::UniquePtr<ASN1_INTEGER> serial = internal::RandomSerial();
  bssl::UniquePtr<X509_NAME> name(X509_NAME_new());
  if (cert == nullptr || serial == nullptr || name == nullptr) return Failed("allocating");
  if (!X509_set_version(cert.get(), X509_VERSION_3) ||
      !X509_set_serialNumber(cert.get(), serial.get()) ||
      !AddNameEntry(name.get(), NID_organizationName, "Tether") ||
      !AddNameEntry(name.get(), NID_commonName, absl::StrCat("Tether root CA ", trust_domain)) ||
      !X509_set_subject_name(cert.get(), name.get()) ||
      !X509_set_issuer_name(cert.get(), name.get()) ||
      !SetValidity(cert.get(), not_before, not_after) || !X509_set_pubkey(cert.get(), Mut(key))) {
    return Failed("building the root CA certificate");
  }
  if (!AddBasicConstraints(cert.get(), /*ca=*/true) ||
      !AddKeyUsage(cert.get(), {kKeyCertSign, kCrlSign}) || !AddSubjectKeyId(cert.get()) ||
      !AddSubjectAltName(cert.get(), absl::StrCat("spiffe://", trust_domain), {},
                         /*critical=*/false)) {
    return Failed("adding root CA extensions");
  }
  if (!X509_sign(cert.get(), Mut(key), internal::DigestFor(key))) {
    return Failed("signing the root CA certificate");
  }
  return cert;
}

absl::Status ValidateAuthority(const Authority& authority, absl::Time now) {
  if (authority.cert == nullptr) return absl::InvalidArgumentError("authority has no certificate");
  if (authority.key == nullptr) return absl::InvalidArgumentError("authority has no key");
  const X509* cert = authority.cert.get();
  if (!IsCa(cert)) {
    return absl::InvalidArgumentError(
        "authority certificate is not a CA (no basicConstraints CA:TRUE)");
  }
  if (!CanSignCerts(cert)) {
    return absl::InvalidArgumentError(
        "authority certificate may not sign certificates (no keyUsage keyCertSign)");
  }
  if (!X509_check_private_key(Mut(cert), authority.key.get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError("authority key does not match its certificate");
  }
  if (absl::Status s = CheckKeyStrength(authority.key.get()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("authority key: ", s.message()));
  }
  if (absl::Status s = CheckValidAt("authority certificate", cert, now); !s.ok()) return s;

  const X509* child = cert;
  for (size_t i = 0; i < authority.chain.size(); ++i) {
    const X509* parent = authority.chain[i].get();
    std::string what = absl::StrCat("authority chain certificate ", i + 1);
    if (parent == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is null"));
    if (!IsCa(parent) || !CanSignCerts(parent)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is not a CA certificate"));
    }
    if (X509_NAME_cmp(X509_get_issuer_name(child), X509_get_subject_name(parent)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not the issuer of the certificate below it"));
    }
    bssl::UniquePtr<EVP_PKEY> parent_key(X509_get_pubkey(Mut(parent)));
    if (parent_key == nullptr || X509_verify(Mut(child), parent_key.get()) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat(what, " did not sign the certificate below it"));
    }
    if (absl::Status s = CheckValidAt(what, parent, now); !s.ok()) return s;
    child = parent;
  }
  return absl::OkStatus();
}

absl::StatusOr<bssl::UniquePtr<X509>> Issuer::SignLeaf(const LeafRequest& request) const {
  const X509* ca = authority_.cert.get();
  const EVP_PKEY* ca_key = authority_.key.get();
  if (ca == nullptr || ca_key == nullptr) {
    return absl::InvalidArgumentError("authority has no certificate or key");
  }
  if (request.public_key == nullptr) {
    return absl::InvalidArgumentError("leaf request has no public key");
  }
  if (absl::Status s = CheckKeyStrength(request.public_key); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("leaf key: ", s.message()));
  }
  absl::StatusOr<SpiffeId> id =
      SpiffeId::Make(request.spiffe_id.trust_domain, request.spiffe_id.namespace_name,
                     request.spiffe_id.service_account);
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid SPIFFE ID in leaf request: ", id.status().message()));
  }
  if (request.ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("leaf ttl must be positive");
  }
  if (request.backdate < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("leaf backdate must not be negative");
  }
  for (const std::string& dns : request.dns_names) {
    if (!ValidDnsName(dns)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid DNS name \"", dns, "\""));
    }
  }

  // NotAfter: now + ttl, but never past any certificate above the leaf.
  absl::Time not_before = request.now - request.backdate;
  absl::Time not_after = request.now + request.ttl;
  for (size_t i = 0; i <= authority_.chain.size(); ++i) {
    const X509* above = i == 0 ? ca : authority_.chain[i - 1].get();
    std::string what =
        i == 0 ? "authority certificate" : absl::StrCat("authority chain certificate ", i);
    std::optional<absl::Time> end =
        above == nullptr ? std::nullopt : internal::TimeFromAsn1(X509_get0_notAfter(above));
    if (!end) return absl::InvalidArgumentError(absl::StrCat(what, " has no readable NotAfter"));
    if (*end <= request.now) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " expired at ", internal::FormatTime(*end)));
    }
    not_after = std::min(not_after, *end);
  }

  bssl::UniquePtr<X509> cert(X509_new());
  bssl::UniquePtr<ASN1_INTEGER> serial = internal::RandomSerial();
  bssl::UniquePtr<X509_NAME> subject(X509_NAME_new());
  if (cert == nullptr || serial == nullptr || subject == nullptr) return Failed("allocating");
  if (!SetValidity(cert.get(), not_before, not_after)) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf validity ", internal::FormatTime(not_before), " .. ",
                     internal::FormatTime(not_after), " is out of range"));
  }
  if (!X509_set_version(cert.get(), X509_VERSION_3) ||
      !X509_set_serialNumber(cert.get(), serial.get()) ||
      !AddNameEntry(subject.get(), NID_organizationName, id->trust_domain) ||
      !X509_set_subject_name(cert.get(), subject.get()) ||
      !X509_set_issuer_name(cert.get(), X509_get_subject_name(ca)) ||
      !X509_set_pubkey(cert.get(), Mut(request.public_key))) {
    return Failed("building the leaf certificate");
  }
  bool rsa = EVP_PKEY_id(request.public_key) == EVP_PKEY_RSA;
  if (!AddBasicConstraints(cert.get(), /*ca=*/false) ||
      !(rsa ? AddKeyUsage(cert.get(), {kDigitalSignature, kKeyEncipherment})
            : AddKeyUsage(cert.get(), {kDigitalSignature})) ||
      !AddExtKeyUsage(cert.get()) || !AddSubjectKeyId(cert.get()) ||
      !AddAuthorityKeyId(cert.get(), ca) ||
      !AddSubjectAltName(cert.get(), id->ToString(), request.dns_names, /*critical=*/false)) {
    return Failed("adding leaf extensions");
  }
  if (!X509_sign(cert.get(), Mut(ca_key), internal::DigestFor(ca_key))) {
    return Failed("signing the leaf certificate");
  }
  return cert;
}

CertChain Issuer::ChainFor(const X509* leaf) const {
  CertChain out;
  auto add = [&out](const X509* cert) {
    X509_up_ref(Mut(cert));
    out.emplace_back(Mut(cert));
  };
  add(leaf);
  if (authority_.cert != nullptr && !IsSelfSigned(authority_.cert.get())) {
    add(authority_.cert.get());
  }
  for (const auto& cert : authority_.chain) {
    if (cert != nullptr && !IsSelfSigned(cert.get())) add(cert.get());
  }
  return out;
}

}  // namespace tether::pki
