#include "common/pki/csr.h"

#include <initializer_list>
#include <string>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "common/pki/keys.h"
#include "tests/common/pki/test_util.h"

namespace tether::pki {
namespace {

using ::testing::HasSubstr;

constexpr absl::string_view kId = "spiffe://mesh.local/ns/shop/sa/cart";

// CsrSpec describes a hand-made request, to reach the parser's every branch.
struct CsrSpec {
  const EVP_PKEY* key = nullptr;
  // One subjectAltName extension per entry; none means no extension request.
  std::vector<bssl::UniquePtr<GENERAL_NAMES>> sans;
};

std::string Encode(X509_REQ* req) {
  uint8_t* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  EXPECT_GT(len, 0);
  bssl::UniquePtr<uint8_t> owned(der);
  return std::string(reinterpret_cast<const char*>(der), len);
}

std::string BuildCsr(const CsrSpec& spec) {
  bssl::UniquePtr<X509_REQ> req(X509_REQ_new());
  EXPECT_TRUE(X509_REQ_set_version(req.get(), X509_REQ_VERSION_1));
  EXPECT_TRUE(X509_REQ_set_pubkey(req.get(), const_cast<EVP_PKEY*>(spec.key)));
  if (!spec.sans.empty()) {
    bssl::UniquePtr<STACK_OF(X509_EXTENSION)> exts(sk_X509_EXTENSION_new_null());
    for (const auto& names : spec.sans) {
      X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
      EXPECT_NE(ext, nullptr);
      EXPECT_TRUE(sk_X509_EXTENSION_push(exts.get(), ext));
    }
    EXPECT_TRUE(X509_REQ_add_extensions(req.get(), exts.get()));
  }
  EXPECT_TRUE(X509_REQ_sign(req.get(), const_cast<EVP_PKEY*>(spec.key), EVP_sha256()));
  return Encode(req.get());
}

std::string BuildCsr(const EVP_PKEY* key,
                     std::initializer_list<std::pair<int, std::string>> names) {
  CsrSpec spec;
  spec.key = key;
  spec.sans.push_back(testing::Names(names));
  return BuildCsr(spec);
}

class CsrTest : public ::testing::Test {
 protected:
  void ExpectRejected(absl::string_view input, absl::string_view message,
                      CsrError error = CsrError::kMalformed) {
    absl::StatusOr<ParsedCsr> csr = ParseCsr(input);
    EXPECT_EQ(csr.status().code(), absl::StatusCode::kInvalidArgument)
        << "accepted; wanted: " << message;
    EXPECT_THAT(csr.status().message(), HasSubstr(std::string(message)));
    EXPECT_EQ(CsrErrorOf(csr.status()), error) << csr.status();
  }

  bssl::UniquePtr<EVP_PKEY> key_ = testing::P256();
  SpiffeId id_ = testing::Id("mesh.local", "shop", "cart");
};

TEST_F(CsrTest, RoundTrip) {
  absl::StatusOr<std::string> der = CreateCsr(key_.get(), id_);
  ASSERT_TRUE(der.ok()) << der.status();
  absl::StatusOr<ParsedCsr> csr = ParseCsr(*der);
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_EQ(csr->spiffe_id, id_);
  EXPECT_EQ(EVP_PKEY_cmp(csr->public_key.get(), key_.get()), 1);
}

TEST_F(CsrTest, CreatedRequestHasOnlyTheUriSan) {
  std::string der = *CreateCsr(key_.get(), id_);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  bssl::UniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, der.size()));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(X509_REQ_get_version(req.get()), X509_REQ_VERSION_1);
  EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req.get())), 0);
  bssl::UniquePtr<STACK_OF(X509_EXTENSION)> exts(X509_REQ_get_extensions(req.get()));
  ASSERT_NE(exts, nullptr);
  ASSERT_EQ(sk_X509_EXTENSION_num(exts.get()), 1u);
  X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), 0);
  EXPECT_EQ(OBJ_obj2nid(X509_EXTENSION_get_object(ext)), NID_subject_alt_name);
  bssl::UniquePtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
  ASSERT_EQ(sk_GENERAL_NAME_num(names.get()), 1u);
  const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), 0);
  ASSERT_EQ(name->type, GEN_URI);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(
                            ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
                        ASN1_STRING_length(name->d.uniformResourceIdentifier)),
            kId);
  bssl::UniquePtr<EVP_PKEY> pub(X509_REQ_get_pubkey(req.get()));
  EXPECT_EQ(X509_REQ_verify(req.get(), pub.get()), 1);
  EXPECT_EQ(X509_REQ_get_signature_nid(req.get()), NID_ecdsa_with_SHA256);
}

TEST_F(CsrTest, AcceptsPem) {
  std::string der = *CreateCsr(key_.get(), id_);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  bssl::UniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, der.size()));
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_TRUE(PEM_write_bio_X509_REQ(bio.get(), req.get()));
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  std::string pem(reinterpret_cast<const char*>(data), len);
  ASSERT_THAT(pem, HasSubstr("-----BEGIN CERTIFICATE REQUEST-----"));
  absl::StatusOr<ParsedCsr> csr = ParseCsr(pem);
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_EQ(csr->spiffe_id, id_);
  EXPECT_TRUE(ParseCsr("\n  " + pem).ok());

  std::string relabeled = pem;
  for (size_t at; (at = relabeled.find("CERTIFICATE REQUEST")) != std::string::npos;) {
    relabeled.replace(at, 19, "CERTIFICATE");
  }
  ExpectRejected(relabeled, "not \"CERTIFICATE REQUEST\"");
  ExpectRejected(pem + pem, "more than one block");
  ExpectRejected(pem.substr(0, pem.size() - 10), "PEM block is malformed");
}

TEST_F(CsrTest, AcceptsOtherStrongKeys) {
  for (const bssl::UniquePtr<EVP_PKEY>& key : {testing::EcKey(NID_secp384r1), testing::Rsa(2048)}) {
    absl::StatusOr<ParsedCsr> csr = ParseCsr(*CreateCsr(key.get(), id_));
    ASSERT_TRUE(csr.ok()) << csr.status();
    EXPECT_EQ(EVP_PKEY_cmp(csr->public_key.get(), key.get()), 1);
  }
}

TEST_F(CsrTest, CreateCsrRejectsBadArguments) {
  EXPECT_EQ(CreateCsr(nullptr, id_).status().code(), absl::StatusCode::kInvalidArgument);
  SpiffeId bad = id_;
  bad.namespace_name = "a/b";
  absl::Status status = CreateCsr(key_.get(), bad).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("namespace"));
}

TEST_F(CsrTest, RejectsGarbage) {
  ExpectRejected("", "empty");
  ExpectRejected("hello, CA", "not a DER PKCS#10 request");
  ExpectRejected(std::string(100, '\0'), "not a DER PKCS#10 request");
  ExpectRejected(std::string("\x30\x03\x02\x01\x00", 5), "not a DER PKCS#10 request");
  // A certificate is not a request.
  Authority root = testing::RootAuthority();
  ExpectRejected(testing::Der(root.cert.get()), "not a DER PKCS#10 request");
}

TEST_F(CsrTest, RejectsEveryTruncation) {
  std::string der = *CreateCsr(key_.get(), id_);
  for (size_t len = 1; len < der.size(); ++len) {
    EXPECT_EQ(ParseCsr(der.substr(0, len)).status().code(), absl::StatusCode::kInvalidArgument)
        << "length " << len;
  }
}

TEST_F(CsrTest, RejectsTrailingData) {
  std::string der = *CreateCsr(key_.get(), id_);
  ExpectRejected(der + "x", "1 bytes of trailing data");
}

TEST_F(CsrTest, RejectsATamperedSignature) {
  std::string der = *CreateCsr(key_.get(), id_);
  std::string tampered = der;
  tampered.back() ^= 0x01;  // the last byte of the ECDSA signature's s
  ExpectRejected(tampered, "signature does not verify", CsrError::kBadSignature);
}

TEST_F(CsrTest, RejectsATamperedBody) {
  std::string der = *CreateCsr(key_.get(), id_);
  size_t at = der.find("cart");
  ASSERT_NE(at, std::string::npos);
  der[at] = 'k';  // asks for ".../sa/kart" under the original signature
  ExpectRejected(der, "signature does not verify", CsrError::kBadSignature);
}

TEST_F(CsrTest, RejectsWeakKeys) {
  bssl::UniquePtr<EVP_PKEY> rsa1024 = testing::Rsa(1024);
  ExpectRejected(BuildCsr(rsa1024.get(), {{GEN_URI, std::string{kId}}}),
                 "RSA-1024 key is too weak (need >= 2048 bits)", CsrError::kWeakKey);
  // Typed, not read from the message, which does not say "weak".
  bssl::UniquePtr<EVP_PKEY> p224 = testing::EcKey(NID_secp224r1);
  ExpectRejected(BuildCsr(p224.get(), {{GEN_URI, std::string{kId}}}), "secp224r1",
                 CsrError::kWeakKey);
}

TEST_F(CsrTest, RejectsWrongSubjectAltNames) {
  const EVP_PKEY* k = key_.get();
  std::string id(kId);
  ExpectRejected(BuildCsr(CsrSpec{.key = k}), "no subjectAltName");
  ExpectRejected(BuildCsr(k, {}), "no URI SAN");
  ExpectRejected(BuildCsr(k, {{GEN_DNS, "cart.shop.svc"}}), "no URI SAN");
  ExpectRejected(BuildCsr(k, {{GEN_URI, id}, {GEN_URI, "spiffe://mesh.local/ns/shop/sa/pay"}}),
                 "2 URI SANs");
  ExpectRejected(BuildCsr(k, {{GEN_URI, id}, {GEN_DNS, "cart.shop.svc"}}), "DNS SAN");
  ExpectRejected(BuildCsr(k, {{GEN_URI, id}, {GEN_IPADD, std::string("\x0a\x00\x00\x01", 4)}}),
                 "IP SAN");
  ExpectRejected(BuildCsr(k, {{GEN_URI, id}, {GEN_EMAIL, "cart@shop"}}), "email SAN");
  ExpectRejected(BuildCsr(k, {{GEN_URI, "https://mesh.local/ns/shop/sa/cart"}}),
                 "not a valid SPIFFE ID");
  ExpectRejected(BuildCsr(k, {{GEN_URI, "spiffe://mesh.local/ns/shop/cart"}}),
                 "not a valid SPIFFE ID");
  ExpectRejected(BuildCsr(k, {{GEN_URI, "spiffe://Mesh.local/ns/shop/sa/cart"}}),
                 "not a valid SPIFFE ID");

  CsrSpec two;
  two.key = k;
  two.sans.push_back(testing::Names({{GEN_URI, id}}));
  two.sans.push_back(testing::Names({{GEN_URI, id}}));
  ExpectRejected(BuildCsr(two), "more than one subjectAltName");
}

TEST_F(CsrTest, RejectsOversizedInput) {
  std::string der = *CreateCsr(key_.get(), id_);
  ExpectRejected(std::string(kMaxCsrBytes + 1, '\x30'), "16385 bytes (limit 16384)");
  // Even a valid request padded past the limit is not looked at.
  ExpectRejected(der + std::string(kMaxCsrBytes, '\n'), "limit 16384");
}

}  // namespace
}  // namespace tether::pki
