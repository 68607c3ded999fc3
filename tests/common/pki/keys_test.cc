#include "common/pki/keys.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "tests/common/pki/test_util.h"

namespace tether::pki {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string BioString(BIO* bio) {
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

TEST(KeysTest, GeneratesDistinctP256Keys) {
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> a = GenerateP256Key();
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> b = GenerateP256Key();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(EVP_PKEY_id(a->get()), EVP_PKEY_EC);
  EXPECT_EQ(EC_GROUP_get_curve_name(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(a->get()))),
            NID_X9_62_prime256v1);
  EXPECT_NE(PublicKeyDer(a->get()), PublicKeyDer(b->get()));
  EXPECT_TRUE(CheckKeyStrength(a->get()).ok());
}

TEST(KeysTest, Pkcs8PemRoundTrip) {
  bssl::UniquePtr<EVP_PKEY> key = *GenerateP256Key();
  std::string pem = PrivateKeyToPem(key.get());
  EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> back = PrivateKeyFromPem(pem);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(EVP_PKEY_cmp(key.get(), back->get()), 1);
  EXPECT_EQ(PrivateKeyToPem(back->get()), pem);
  EXPECT_EQ(PrivateKeyToPem(nullptr), "");
}

TEST(KeysTest, ReadsSec1AndPkcs1Pem) {
  bssl::UniquePtr<EVP_PKEY> ec = testing::P256();
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_ECPrivateKey(bio.get(), EVP_PKEY_get0_EC_KEY(ec.get()), nullptr,
                                         nullptr, 0, nullptr, nullptr));
  std::string sec1 = BioString(bio.get());
  ASSERT_THAT(sec1, StartsWith("-----BEGIN EC PRIVATE KEY-----"));
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> ec_back = PrivateKeyFromPem(sec1);
  ASSERT_TRUE(ec_back.ok()) << ec_back.status();
  EXPECT_EQ(EVP_PKEY_cmp(ec.get(), ec_back->get()), 1);

  bssl::UniquePtr<EVP_PKEY> rsa = testing::Rsa(2048);
  bio.reset(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_RSAPrivateKey(bio.get(), EVP_PKEY_get0_RSA(rsa.get()), nullptr, nullptr,
                                          0, nullptr, nullptr));
  std::string pkcs1 = BioString(bio.get());
  ASSERT_THAT(pkcs1, StartsWith("-----BEGIN RSA PRIVATE KEY-----"));
  absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> rsa_back = PrivateKeyFromPem(pkcs1);
  ASSERT_TRUE(rsa_back.ok()) << rsa_back.status();
  EXPECT_EQ(EVP_PKEY_cmp(rsa.get(), rsa_back->get()), 1);
  EXPECT_TRUE(CheckKeyStrength(rsa_back->get()).ok());
}

TEST(KeysTest, RejectsUnparsablePem) {
  std::string good = PrivateKeyToPem(testing::P256().get());
  std::string corrupt = good;
  corrupt[40] = '!';  // not base64
  std::string truncated = good.substr(0, good.size() / 2);
  for (const std::string& pem : {std::string(""), std::string("hello"), corrupt, truncated,
                                 std::string("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                             "-----END PRIVATE KEY-----\n")}) {
    absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> key = PrivateKeyFromPem(pem);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << pem;
  }
}

TEST(KeysTest, PublicKeyDerIsSubjectPublicKeyInfo) {
  bssl::UniquePtr<EVP_PKEY> key = testing::P256();
  std::string der = PublicKeyDer(key.get());
  ASSERT_FALSE(der.empty());
  CBS cbs;
  CBS_init(&cbs, reinterpret_cast<const uint8_t*>(der.data()), der.size());
  bssl::UniquePtr<EVP_PKEY> parsed(EVP_parse_public_key(&cbs));
  ASSERT_NE(parsed, nullptr);
  EXPECT_EQ(CBS_len(&cbs), 0u);
  EXPECT_EQ(EVP_PKEY_cmp(key.get(), parsed.get()), 1);
  EXPECT_EQ(PublicKeyDer(nullptr), "");
}

TEST(KeysTest, CheckKeyStrength) {
  EXPECT_TRUE(CheckKeyStrength(testing::P256().get()).ok());
  EXPECT_TRUE(CheckKeyStrength(testing::EcKey(NID_secp384r1).get()).ok());
  EXPECT_TRUE(CheckKeyStrength(testing::Rsa(2048).get()).ok());

  absl::Status rsa1024 = CheckKeyStrength(testing::Rsa(1024).get());
  EXPECT_EQ(rsa1024.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rsa1024.message(), "RSA-1024 key is too weak (need >= 2048 bits)");

  absl::Status p224 = CheckKeyStrength(testing::EcKey(NID_secp224r1).get());
  EXPECT_EQ(p224.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p224.message(), HasSubstr("secp224r1"));
  EXPECT_EQ(CheckKeyStrength(testing::EcKey(NID_secp521r1).get()).code(),
            absl::StatusCode::kInvalidArgument);

  absl::Status ed = CheckKeyStrength(testing::Ed25519().get());
  EXPECT_EQ(ed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ed.message(), HasSubstr("Ed25519"));

  EXPECT_EQ(CheckKeyStrength(nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether::pki
