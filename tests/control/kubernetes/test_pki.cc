#include "tests/control/kubernetes/test_pki.h"

#include <atomic>
#include <cstdint>
#include <utility>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/obj.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace tether::testing {
namespace {

bssl::UniquePtr<EVP_PKEY> NewKey() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  EXPECT_TRUE(EC_KEY_generate_key(ec.get()));
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  EXPECT_TRUE(EVP_PKEY_assign_EC_KEY(key.get(), ec.release()));
  return key;
}

std::string CertPem(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  EXPECT_TRUE(PEM_write_bio_X509(bio.get(), cert));
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

void SetName(X509_NAME* name, const std::string& cn) {
  EXPECT_TRUE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                         reinterpret_cast<const uint8_t*>(cn.c_str()), -1, -1, 0));
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  ASSERT_NE(ext, nullptr) << "extension " << nid << " = " << value;
  EXPECT_TRUE(X509_add_ext(cert, ext.get(), -1));
}

bssl::UniquePtr<X509> NewCert(int64_t serial, EVP_PKEY* key) {
  bssl::UniquePtr<X509> cert(X509_new());
  EXPECT_TRUE(X509_set_version(cert.get(), X509_VERSION_3));
  EXPECT_TRUE(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial));
  EXPECT_NE(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600), nullptr);
  EXPECT_NE(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600), nullptr);
  EXPECT_TRUE(X509_set_pubkey(cert.get(), key));
  return cert;
}

}  // namespace

TestCa MakeTestCa(const std::string& common_name) {
  TestCa ca;
  ca.key = NewKey();
  ca.cert = NewCert(1, ca.key.get());
  X509* x = ca.cert.get();
  SetName(X509_get_subject_name(x), common_name);
  EXPECT_TRUE(X509_set_issuer_name(x, X509_get_subject_name(x)));
  AddExtension(x, x, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(x, x, NID_subject_key_identifier, "hash");
  EXPECT_TRUE(X509_sign(x, ca.key.get(), EVP_sha256()));
  ca.cert_pem = CertPem(x);
  return ca;
}

TestCert MakeServerCert(const TestCa& ca, const std::string& sans) {
  static std::atomic<int64_t> serial{100};
  TestCert out;
  out.key = NewKey();
  out.cert = NewCert(++serial, out.key.get());
  X509* x = out.cert.get();
  SetName(X509_get_subject_name(x), "cn-is-ignored.invalid");
  EXPECT_TRUE(X509_set_issuer_name(x, X509_get_subject_name(ca.cert.get())));
  AddExtension(x, ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(x, ca.cert.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(x, ca.cert.get(), NID_ext_key_usage, "serverAuth");
  AddExtension(x, ca.cert.get(), NID_authority_key_identifier, "keyid:always");
  AddExtension(x, ca.cert.get(), NID_subject_alt_name, sans.c_str());
  EXPECT_TRUE(X509_sign(x, ca.key.get(), EVP_sha256()));
  out.cert_pem = CertPem(x);
  return out;
}

}  // namespace tether::testing
