#include "common/pki/certs.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "tests/common/pki/test_util.h"

namespace tether::pki {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Now;

class CertsTest : public ::testing::Test {
 protected:
  Authority root_ = testing::RootAuthority();
  bssl::UniquePtr<X509> leaf_ = testing::Leaf(root_, testing::Id("mesh.local", "shop", "cart"));
};

TEST_F(CertsTest, DerRoundTrip) {
  std::string der = CertToDer(leaf_.get());
  ASSERT_FALSE(der.empty());
  absl::StatusOr<bssl::UniquePtr<X509>> back = CertFromDer(der);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(X509_cmp(leaf_.get(), back->get()), 0);
  EXPECT_EQ(CertToDer(back->get()), der);
  EXPECT_EQ(CertToDer(nullptr), "");
}

TEST_F(CertsTest, CertFromDerRejectsBadInput) {
  std::string der = CertToDer(leaf_.get());
  EXPECT_EQ(CertFromDer("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CertFromDer("garbage").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CertFromDer(der.substr(0, der.size() - 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status trailing = CertFromDer(der + "x").status();
  EXPECT_EQ(trailing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(trailing.message(), HasSubstr("trailing"));
}

TEST_F(CertsTest, PemRoundTripKeepsOrderAndSkipsOtherBlocks) {
  std::string leaf_pem = CertToPem(leaf_.get());
  std::string root_pem = CertToPem(root_.cert.get());
  EXPECT_TRUE(absl::StartsWith(leaf_pem, "-----BEGIN CERTIFICATE-----\n"));
  std::string key_pem = PrivateKeyToPem(root_.key.get());
  absl::StatusOr<CertChain> chain = CertsFromPem("comment\n" + leaf_pem + key_pem + root_pem);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ(X509_cmp((*chain)[0].get(), leaf_.get()), 0);
  EXPECT_EQ(X509_cmp((*chain)[1].get(), root_.cert.get()), 0);
  EXPECT_EQ(ChainToPem(*chain), leaf_pem + root_pem);
}

TEST_F(CertsTest, CertsFromPemRejectsBadInput) {
  std::string pem = CertToPem(leaf_.get());
  std::string corrupt = pem;
  corrupt[50] = '*';
  // A well-formed PEM block whose contents are not a certificate.
  std::string not_a_cert = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
  for (const std::string& input :
       {std::string(""), std::string("no pem here"), PrivateKeyToPem(root_.key.get()), corrupt,
        pem.substr(0, pem.size() / 2), pem + not_a_cert}) {
    EXPECT_EQ(CertsFromPem(input).status().code(), absl::StatusCode::kInvalidArgument) << input;
  }
  EXPECT_THAT(CertsFromPem("").status().message(), HasSubstr("no CERTIFICATE"));
  EXPECT_THAT(CertsFromPem(pem + not_a_cert).status().message(), HasSubstr("certificate 2"));
}

TEST_F(CertsTest, CopyChainSharesCertificates) {
  CertChain chain;
  chain.push_back(bssl::UpRef(leaf_));
  chain.push_back(bssl::UpRef(root_.cert));
  CertChain copy = CopyChain(chain);
  ASSERT_EQ(copy.size(), 2u);
  EXPECT_EQ(copy[0].get(), leaf_.get());
  EXPECT_EQ(copy[1].get(), root_.cert.get());
  chain.clear();
  EXPECT_EQ(X509_cmp(copy[0].get(), leaf_.get()), 0);  // still alive
}

TEST_F(CertsTest, DescribeLeaf) {
  CertInfo info = DescribeCert(leaf_.get());
  EXPECT_EQ(info.subject, "O=mesh.local");
  EXPECT_EQ(info.issuer, "CN=Tether root CA mesh.local,O=Tether");
  EXPECT_EQ(info.serial_hex, SerialHex(leaf_.get()));
  EXPECT_EQ(info.not_before, Now() - absl::Minutes(1));
  EXPECT_EQ(info.not_after, Now() + absl::Hours(1));
  EXPECT_FALSE(info.is_ca);
  EXPECT_THAT(info.uri_sans, ElementsAre("spiffe://mesh.local/ns/shop/sa/cart"));
  EXPECT_THAT(info.dns_names, IsEmpty());
  EXPECT_EQ(info.spiffe_id, "spiffe://mesh.local/ns/shop/sa/cart");
  std::string der = CertToDer(leaf_.get());
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(der.data()), der.size(), digest);
  EXPECT_EQ(info.sha256_hex, absl::BytesToHexString(absl::string_view(
                                 reinterpret_cast<const char*>(digest), sizeof(digest))));
  EXPECT_EQ(info.sha256_hex.size(), 64u);
}

TEST_F(CertsTest, DescribeRoot) {
  CertInfo info = DescribeCert(root_.cert.get());
  EXPECT_EQ(info.subject, "CN=Tether root CA mesh.local,O=Tether");
  EXPECT_EQ(info.issuer, info.subject);
  EXPECT_TRUE(info.is_ca);
  EXPECT_THAT(info.uri_sans, ElementsAre("spiffe://mesh.local"));
  EXPECT_EQ(info.spiffe_id, "spiffe://mesh.local");
}

TEST_F(CertsTest, DescribeWithDnsNamesAndSeveralUris) {
  bssl::UniquePtr<X509> cert = testing::Resign(leaf_.get(), root_.key.get(), [](X509* x) {
    bssl::UniquePtr<GENERAL_NAMES> names =
        testing::Names({{GEN_URI, "spiffe://mesh.local/ns/a/sa/b"},
                        {GEN_DNS, "control.mesh.local"},
                        {GEN_URI, "spiffe://mesh.local/ns/c/sa/d"}});
    testing::SetExt(x, NID_subject_alt_name, names.get(), false);
  });
  CertInfo info = DescribeCert(cert.get());
  EXPECT_THAT(info.uri_sans,
              ElementsAre("spiffe://mesh.local/ns/a/sa/b", "spiffe://mesh.local/ns/c/sa/d"));
  EXPECT_THAT(info.dns_names, ElementsAre("control.mesh.local"));
  EXPECT_EQ(info.spiffe_id, "");  // not a single one
}

TEST_F(CertsTest, SerialHexFormat) {
  auto with_serial = [&](const char* hex) {
    return testing::Resign(leaf_.get(), root_.key.get(), [hex](X509* x) {
      BIGNUM* bn = nullptr;
      ASSERT_TRUE(BN_hex2bn(&bn, hex));
      bssl::UniquePtr<BIGNUM> owned(bn);
      bssl::UniquePtr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(bn, nullptr));
      ASSERT_TRUE(X509_set_serialNumber(x, serial.get()));
    });
  };
  EXPECT_EQ(SerialHex(with_serial("A1B2").get()), "a1b2");
  EXPECT_EQ(SerialHex(with_serial("0A1B").get()), "0a1b");
  EXPECT_EQ(SerialHex(with_serial("ff").get()), "ff");  // DER pads it to 00 ff
  EXPECT_EQ(SerialHex(with_serial("1").get()), "01");
  EXPECT_EQ(SerialHex(with_serial("0").get()), "00");
  EXPECT_EQ(SerialHex(with_serial("-5").get()), "-05");
}

}  // namespace
}  // namespace tether::pki
