#include "tests/common/pki/test_util.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "common/pki/certs.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"

namespace tether::pki::testing {
namespace {

[[noreturn]] void Die(absl::string_view what) {
  (void)std::fprintf(stderr, "test_util: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

void Check(bool ok, absl::string_view what) {
  if (!ok) Die(what);
}

bssl::UniquePtr<ASN1_TIME> AsnTime(absl::Time t) {
  return bssl::UniquePtr<ASN1_TIME>(ASN1_TIME_set(nullptr, absl::ToTimeT(t)));
}

}  // namespace

absl::Time Now() { return absl::FromUnixSeconds(1900000000); }

bssl::UniquePtr<EVP_PKEY> P256() { return EcKey(NID_X9_62_prime256v1); }

bssl::UniquePtr<EVP_PKEY> EcKey(int nid) {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(nid));
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  Check(
      ec && key && EC_KEY_generate_key(ec.get()) && EVP_PKEY_assign_EC_KEY(key.get(), ec.release()),
      "EC key generation");
  return key;
}

bssl::UniquePtr<EVP_PKEY> Rsa(int bits) {
  bssl::UniquePtr<RSA> rsa(RSA_new());
  bssl::UniquePtr<BIGNUM> e(BN_new());
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  Check(rsa && e && key && BN_set_word(e.get(), RSA_F4) &&
            RSA_generate_key_ex(rsa.get(), bits, e.get(), nullptr) &&
            EVP_PKEY_assign_RSA(key.get(), rsa.release()),
        "RSA key generation");
  return key;
}

bssl::UniquePtr<EVP_PKEY> Ed25519() {
  uint8_t pub[32];
  uint8_t priv[64];
  ED25519_keypair(pub, priv);
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, priv, 32));
  Check(key != nullptr, "Ed25519 key");
  return key;
}

SpiffeId Id(absl::string_view td, absl::string_view ns, absl::string_view sa) {
  absl::StatusOr<SpiffeId> id = SpiffeId::Make(td, ns, sa);
  Check(id.ok(), "SpiffeId::Make");
  return *id;
}

Authority RootAuthority(absl::string_view td, absl::Time now, absl::Duration ttl) {
  Authority a;
  a.key = P256();
  absl::StatusOr<bssl::UniquePtr<X509>> cert = CreateRootCa(a.key.get(), td, now, ttl);
  if (!cert.ok()) Die(cert.status().ToString());
  a.cert = *std::move(cert);
  return a;
}

Authority IntermediateAuthority(const Authority& parent, absl::string_view cn, absl::Time now,
                                absl::Duration ttl) {
  Authority a;
  a.key = P256();
  bssl::UniquePtr<X509> cert(X509_new());
  bssl::UniquePtr<X509_NAME> name(X509_NAME_new());
  bssl::UniquePtr<ASN1_INTEGER> serial(ASN1_INTEGER_new());
  bssl::UniquePtr<ASN1_TIME> nb = AsnTime(now - absl::Minutes(1));
  bssl::UniquePtr<ASN1_TIME> na = AsnTime(now + ttl);
  std::string cn_str(cn);
  Check(
      cert && name && serial && nb && na && X509_set_version(cert.get(), X509_VERSION_3) &&
          ASN1_INTEGER_set(serial.get(), 4242) && X509_set_serialNumber(cert.get(), serial.get()) &&
          X509_NAME_add_entry_by_NID(name.get(), NID_organizationName, MBSTRING_UTF8,
                                     reinterpret_cast<const uint8_t*>("Tether"), -1, -1, 0) &&
          X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                     reinterpret_cast<const uint8_t*>(cn_str.c_str()), -1, -1, 0) &&
          X509_set_subject_name(cert.get(), name.get()) &&
          X509_set_issuer_name(cert.get(), X509_get_subject_name(parent.cert.get())) &&
          X509_set1_notBefore(cert.get(), nb.get()) && X509_set1_notAfter(cert.get(), na.get()) &&
          X509_set_pubkey(cert.get(), a.key.get()),
      "building an intermediate");
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
  bc->ca = 0xff;
  SetExt(cert.get(), NID_basic_constraints, bc.get(), true);
  bssl::UniquePtr<ASN1_BIT_STRING> ku(ASN1_BIT_STRING_new());
  Check(ASN1_BIT_STRING_set_bit(ku.get(), 5, 1) && ASN1_BIT_STRING_set_bit(ku.get(), 6, 1),
        "key usage");
  SetExt(cert.get(), NID_key_usage, ku.get(), true);
  // SKI: SHA-1 of the public key bits; AKI: the parent's SKI.
  const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(cert.get());
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(ASN1_STRING_get0_data(bits), ASN1_STRING_length(bits), digest);
  bssl::UniquePtr<ASN1_OCTET_STRING> ski(ASN1_OCTET_STRING_new());
  Check(ASN1_OCTET_STRING_set(ski.get(), digest, sizeof(digest)), "ski");
  SetExt(cert.get(), NID_subject_key_identifier, ski.get(), false);
  bssl::UniquePtr<AUTHORITY_KEYID> akid(AUTHORITY_KEYID_new());
  akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(parent.cert.get()));
  SetExt(cert.get(), NID_authority_key_identifier, akid.get(), false);
  Check(X509_sign(cert.get(), parent.key.get(), EVP_sha256()), "signing an intermediate");
  absl::StatusOr<bssl::UniquePtr<X509>> parsed = CertFromDer(Der(cert.get()));
  if (!parsed.ok()) Die(parsed.status().ToString());
  a.cert = *std::move(parsed);
  CertChain above;
  above.push_back(bssl::UpRef(parent.cert));
  for (const auto& c : parent.chain) above.push_back(bssl::UpRef(c));
  a.chain = std::move(above);
  return a;
}

bssl::UniquePtr<X509> Leaf(const Authority& authority, const SpiffeId& id, absl::Time now,
                           absl::Duration ttl) {
  bssl::UniquePtr<EVP_PKEY> key = P256();
  Authority copy;
  copy.cert = bssl::UpRef(authority.cert);
  copy.key = bssl::UpRef(authority.key);
  copy.chain = CopyChain(authority.chain);
  Issuer issuer(std::move(copy));
  absl::StatusOr<bssl::UniquePtr<X509>> leaf =
      issuer.SignLeaf({.public_key = key.get(), .spiffe_id = id, .now = now, .ttl = ttl});
  if (!leaf.ok()) Die(leaf.status().ToString());
  return *std::move(leaf);
}

bssl::UniquePtr<X509> Resign(const X509* cert, const EVP_PKEY* key,
                             absl::FunctionRef<void(X509*)> edit) {
  bssl::UniquePtr<X509> copy(X509_dup(const_cast<X509*>(cert)));
  Check(copy != nullptr, "X509_dup");
  edit(copy.get());
  Check(X509_sign(copy.get(), const_cast<EVP_PKEY*>(key), EVP_sha256()), "re-signing");
  absl::StatusOr<bssl::UniquePtr<X509>> parsed = CertFromDer(Der(copy.get()));
  if (!parsed.ok()) Die(parsed.status().ToString());
  return *std::move(parsed);
}

void SetExt(X509* cert, int nid, void* value, bool critical) {
  int loc;
  while ((loc = X509_get_ext_by_NID(cert, nid, -1)) >= 0) {
    X509_EXTENSION_free(X509_delete_ext(cert, loc));
  }
  if (value != nullptr) {
    Check(X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_APPEND),
          "adding an extension");
  }
}

bssl::UniquePtr<GENERAL_NAMES> Names(std::initializer_list<std::pair<int, std::string>> names) {
  bssl::UniquePtr<GENERAL_NAMES> out(sk_GENERAL_NAME_new_null());
  for (const auto& [type, value] : names) {
    bssl::UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
    bssl::UniquePtr<ASN1_STRING> str(type == GEN_IPADD ? ASN1_OCTET_STRING_new()
                                                       : ASN1_IA5STRING_new());
    Check(name && str && ASN1_STRING_set(str.get(), value.data(), static_cast<int>(value.size())),
          "general name");
    GENERAL_NAME_set0_value(name.get(), type, str.release());
    Check(sk_GENERAL_NAME_push(out.get(), name.get()), "push");
    (void)name.release();  // owned by `out` now
  }
  return out;
}

std::string Der(const X509* cert) { return CertToDer(cert); }

}  // namespace tether::pki::testing
