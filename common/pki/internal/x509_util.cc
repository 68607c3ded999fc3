#include "common/pki/internal/x509_util.h"

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tether::pki::internal {

std::optional<absl::Time> TimeFromAsn1(const ASN1_TIME* t) {
  if (t == nullptr) return std::nullopt;
  bssl::UniquePtr<ASN1_TIME> epoch(ASN1_TIME_set(nullptr, 0));
  int days = 0;
  int seconds = 0;
  if (epoch == nullptr || !ASN1_TIME_diff(&days, &seconds, epoch.get(), t)) {
    ERR_clear_error();
    return std::nullopt;
  }
  return absl::UnixEpoch() + absl::Hours(24) * days + absl::Seconds(seconds);
}

absl::Time MaxX509Time() { return absl::FromUnixSeconds(253402300799); }

bssl::UniquePtr<ASN1_TIME> Asn1FromTime(absl::Time t) {
  if (t < absl::FromUnixSeconds(-62167219200) || t > MaxX509Time()) return nullptr;
  bssl::UniquePtr<ASN1_TIME> out(
      ASN1_TIME_set(nullptr, static_cast<time_t>(absl::ToUnixSeconds(t))));
  if (out == nullptr) ERR_clear_error();
  return out;
}

std::string FormatTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

bssl::UniquePtr<ASN1_INTEGER> RandomSerial() {
  uint8_t bytes[16];
  if (!RAND_bytes(bytes, sizeof(bytes))) return nullptr;
  bytes[0] &= 0x7f;  // positive, and at most 16 bytes of DER content
  bool zero = true;
  for (uint8_t b : bytes) zero = zero && b == 0;
  if (zero) bytes[sizeof(bytes) - 1] = 1;  // a serial must not be zero
  bssl::UniquePtr<BIGNUM> bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (bn == nullptr) return nullptr;
  return bssl::UniquePtr<ASN1_INTEGER>(BN_to_ASN1_INTEGER(bn.get(), nullptr));
}

const EVP_MD* DigestFor(const EVP_PKEY* key) {
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC: {
      const EC_GROUP* group = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key));
      int nid = group == nullptr ? NID_undef : EC_GROUP_get_curve_name(group);
      if (nid == NID_secp384r1) return EVP_sha384();
      if (nid == NID_secp521r1) return EVP_sha512();
      return EVP_sha256();
    }
    case EVP_PKEY_ED25519:
      return nullptr;
    default:
      return EVP_sha256();
  }
}

std::string TakeErrors() {
  std::string out;
  uint32_t err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out.empty() ? "no detail" : out;
}

std::string BioContents(BIO* bio) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!BIO_mem_contents(bio, &data, &len)) return "";
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string NameToString(const X509_NAME* name) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

Sans ReadSans(const GENERAL_NAMES* names) {
  Sans sans;
  if (names == nullptr) return sans;
  for (size_t i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    switch (name->type) {
      case GEN_URI:
        sans.uris.emplace_back(
            reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
            ASN1_STRING_length(name->d.uniformResourceIdentifier));
        break;
      case GEN_DNS:
        sans.dns_names.emplace_back(
            reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
            ASN1_STRING_length(name->d.dNSName));
        break;
      case GEN_IPADD:
        ++sans.ip_addresses;
        break;
      case GEN_EMAIL:
        ++sans.emails;
        break;
      default:
        ++sans.others;
        break;
    }
  }
  return sans;
}

std::string KeyId(const X509* cert) {
  const ASN1_BIT_STRING* key = X509_get0_pubkey_bitstr(cert);
  if (key == nullptr) return "";
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(ASN1_STRING_get0_data(key), ASN1_STRING_length(key), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace tether::pki::internal
