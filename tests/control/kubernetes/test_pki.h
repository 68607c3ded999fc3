// Test certificates made with BoringSSL: a CA and server certificates it signs.
//
//   TestCa ca = MakeTestCa("fake cluster CA");
//   TestCert server = MakeServerCert(ca, "DNS:kubernetes.default.svc,IP:127.0.0.1");
//   // ca.cert_pem is the trust anchor; server.cert/key go into an SSL_CTX.
//
// Failures are reported as gtest failures and leave empty fields.
#ifndef TETHER_TESTS_CONTROL_KUBERNETES_TEST_PKI_H_
#define TETHER_TESTS_CONTROL_KUBERNETES_TEST_PKI_H_

#include <string>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace tether::testing {

struct TestCa {
  bssl::UniquePtr<EVP_PKEY> key;
  bssl::UniquePtr<X509> cert;
  std::string cert_pem;
};

struct TestCert {
  bssl::UniquePtr<EVP_PKEY> key;
  bssl::UniquePtr<X509> cert;
  std::string cert_pem;
};

// MakeTestCa returns a self-signed ECDSA P-256 CA named `common_name`.
TestCa MakeTestCa(const std::string& common_name);

// MakeServerCert returns a serverAuth certificate signed by `ca` whose subject
// alternative names are `sans` in OpenSSL config syntax ("DNS:a,IP:127.0.0.1").
// Its subject CN is "cn-is-ignored.invalid", so a name check must use SANs.
TestCert MakeServerCert(const TestCa& ca, const std::string& sans);

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_KUBERNETES_TEST_PKI_H_
