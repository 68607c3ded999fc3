#include "common/pki/keys.h"

#include <string>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/pki/internal/x509_util.h"

namespace tether::pki {
namespace {

// Refuses to prompt for a passphrase: encrypted PEM keys are not supported.
int NoPassword(char* buf, int size, int rwflag, void* userdata) { return 0; }

std::string CurveName(int nid) {
  const char* name = OBJ_nid2sn(nid);
  return name != nullptr ? name : absl::StrCat("curve ", nid);
}

}  // namespace

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> GenerateP256Key() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (ec == nullptr || key == nullptr || !EC_KEY_generate_key(ec.get()) ||
      !EVP_PKEY_assign_EC_KEY(key.get(), ec.release())) {
    return absl::InternalError(
        absl::StrCat("generating a P-256 key failed: ", internal::TakeErrors()));
  }
  return key;
}

std::string PrivateKeyToPem(const EVP_PKEY* key) {
  if (key == nullptr) return "";
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !PEM_write_bio_PKCS8PrivateKey(bio.get(), internal::Mut(key), nullptr,
                                                       nullptr, 0, nullptr, nullptr)) {
    ERR_clear_error();
    return "";
  }
  return internal::BioContents(bio.get());
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> PrivateKeyFromPem(absl::string_view pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), pem.size()));
  if (bio == nullptr) return absl::InternalError("out of memory");
  // Reads PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" and PKCS#1 "RSA PRIVATE
  // KEY" blocks, skipping any other block before the first key.
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no parsable PEM private key: ", internal::TakeErrors()));
  }
  return key;
}

std::string PublicKeyDer(const EVP_PKEY* key) {
  if (key == nullptr) return "";
  bssl::ScopedCBB cbb;
  uint8_t* der = nullptr;
  size_t len = 0;
  if (!CBB_init(cbb.get(), 128) || !EVP_marshal_public_key(cbb.get(), key) ||
      !CBB_finish(cbb.get(), &der, &len)) {
    ERR_clear_error();
    return "";
  }
  bssl::UniquePtr<uint8_t> owned(der);
  return std::string(reinterpret_cast<const char*>(der), len);
}

absl::Status CheckKeyStrength(const EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("no key");
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC: {
      const EC_GROUP* group = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key));
      int nid = group == nullptr ? NID_undef : EC_GROUP_get_curve_name(group);
      if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("ECDSA key on ", CurveName(nid), " is not allowed (need P-256 or P-384)"));
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_bits(key);
      if (bits >= 2048) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("RSA-", bits, " key is too weak (need >= 2048 bits)"));
    }
    case EVP_PKEY_ED25519:
      return absl::InvalidArgumentError(
          "Ed25519 key is not allowed (need ECDSA P-256/P-384 or RSA >= 2048 bits)");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("key type ", EVP_PKEY_id(key),
                       " is not allowed (need ECDSA P-256/P-384 or RSA >= 2048 bits)"));
  }
}

}  // namespace tether::pki
