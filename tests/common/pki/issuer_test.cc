#include "common/pki/issuer.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "common/pki/certs.h"
#include "common/pki/keys.h"
#include "tests/common/pki/test_util.h"

namespace tether::pki {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Now;
using ::testing::UnorderedElementsAre;

// ExtensionNids lists `cert`'s extensions with their criticality, in order.
std::vector<std::pair<int, bool>> Extensions(const X509* cert) {
  std::vector<std::pair<int, bool>> out;
  for (int i = 0; i < X509_get_ext_count(cert); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    out.emplace_back(OBJ_obj2nid(X509_EXTENSION_get_object(ext)),
                     X509_EXTENSION_get_critical(ext) == 1);
  }
  return out;
}

std::string Bytes(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
}

std::string KeyIdOf(const X509* cert) {
  const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(cert);
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(ASN1_STRING_get0_data(bits), ASN1_STRING_length(bits), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

// KeyUsageBits returns the keyUsage BIT STRING's set bit positions.
std::vector<int> KeyUsageBits(const X509* cert) {
  bssl::UniquePtr<ASN1_BIT_STRING> ku(
      static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(cert, NID_key_usage, nullptr, nullptr)));
  std::vector<int> bits;
  for (int i = 0; ku != nullptr && i < 16; ++i) {
    if (ASN1_BIT_STRING_get_bit(ku.get(), i)) bits.push_back(i);
  }
  return bits;
}

std::vector<int> ExtKeyUsages(const X509* cert) {
  bssl::UniquePtr<EXTENDED_KEY_USAGE> eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  std::vector<int> nids;
  for (size_t i = 0; eku != nullptr && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    nids.push_back(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)));
  }
  return nids;
}

absl::Time NotBefore(const X509* cert) { return DescribeCert(cert).not_before; }
absl::Time NotAfter(const X509* cert) { return DescribeCert(cert).not_after; }

// SerialBytes returns the DER INTEGER content of the serial (after BoringSSL's
// own parsing, which keeps it minimal).
std::string SerialBytes(const X509* cert) { return Bytes(X509_get0_serialNumber(cert)); }

bool SignedBy(const X509* cert, const EVP_PKEY* key) {
  return X509_verify(const_cast<X509*>(cert), const_cast<EVP_PKEY*>(key)) == 1;
}

Issuer MakeIssuer(const Authority& a) {
  Authority copy;
  copy.cert = bssl::UpRef(a.cert);
  copy.key = bssl::UpRef(a.key);
  copy.chain = CopyChain(a.chain);
  return Issuer(std::move(copy));
}

class IssuerTest : public ::testing::Test {
 protected:
  absl::StatusOr<bssl::UniquePtr<X509>> Sign(const LeafRequest& request) {
    return issuer_.SignLeaf(request);
  }
  LeafRequest Request() {
    return LeafRequest{.public_key = leaf_key_.get(), .spiffe_id = id_, .now = Now()};
  }

  Authority root_ = testing::RootAuthority("mesh.local", Now() - absl::Hours(24));
  Issuer issuer_ = MakeIssuer(root_);
  bssl::UniquePtr<EVP_PKEY> leaf_key_ = testing::P256();
  SpiffeId id_ = testing::Id("mesh.local", "shop", "cart");
};

TEST(CreateRootCaTest, EveryField) {
  bssl::UniquePtr<EVP_PKEY> key = testing::P256();
  absl::StatusOr<bssl::UniquePtr<X509>> root =
      CreateRootCa(key.get(), "mesh.local", Now(), absl::Hours(24 * 3650));
  ASSERT_TRUE(root.ok()) << root.status();
  // Re-parse from DER so nothing is read from an in-memory cache.
  bssl::UniquePtr<X509> cert = *CertFromDer(CertToDer(root->get()));
  const X509* c = cert.get();

  EXPECT_EQ(X509_get_version(c), X509_VERSION_3);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_serialNumber(c)), V_ASN1_INTEGER);  // positive
  EXPECT_LE(SerialBytes(c).size(), 16u);
  EXPECT_GE(SerialBytes(c).size(), 8u);  // 127 random bits; shorter is 2^-64 unlikely
  CertInfo info = DescribeCert(c);
  EXPECT_EQ(info.subject, "CN=Tether root CA mesh.local,O=Tether");
  EXPECT_EQ(info.issuer, info.subject);
  EXPECT_EQ(info.not_before, Now() - absl::Minutes(1));
  EXPECT_EQ(info.not_after, Now() + absl::Hours(24 * 3650));
  EXPECT_THAT(info.uri_sans, ElementsAre("spiffe://mesh.local"));
  EXPECT_TRUE(info.dns_names.empty());

  EXPECT_THAT(Extensions(c), UnorderedElementsAre(std::pair(NID_basic_constraints, true),
                                                  std::pair(NID_key_usage, true),
                                                  std::pair(NID_subject_key_identifier, false),
                                                  std::pair(NID_subject_alt_name, false)));
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(c, NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_TRUE(bc->ca);
  EXPECT_THAT(KeyUsageBits(c), ElementsAre(5, 6));  // keyCertSign, cRLSign
  ASSERT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  EXPECT_EQ(Bytes(X509_get0_subject_key_id(cert.get())), KeyIdOf(c));

  EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
  EXPECT_TRUE(SignedBy(c, key.get()));
  EXPECT_TRUE(ValidateAuthority(Authority{bssl::UpRef(cert), bssl::UpRef(key), {}}, Now()).ok());
}

TEST(CreateRootCaTest, P384UsesSha384) {
  bssl::UniquePtr<EVP_PKEY> key = testing::EcKey(NID_secp384r1);
  absl::StatusOr<bssl::UniquePtr<X509>> root =
      CreateRootCa(key.get(), "mesh.local", Now(), absl::Hours(1));
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(X509_get_signature_nid(root->get()), NID_ecdsa_with_SHA384);
}

TEST(CreateRootCaTest, HugeTtlStopsAtTheEndOfX509Time) {
  bssl::UniquePtr<EVP_PKEY> key = testing::P256();
  absl::StatusOr<bssl::UniquePtr<X509>> root =
      CreateRootCa(key.get(), "mesh.local", Now(), absl::InfiniteDuration());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(NotAfter(root->get()), absl::FromUnixSeconds(253402300799));  // 9999-12-31
}

TEST(CreateRootCaTest, RejectsBadArguments) {
  bssl::UniquePtr<EVP_PKEY> key = testing::P256();
  EXPECT_EQ(CreateRootCa(key.get(), "Mesh", Now(), absl::Hours(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRootCa(key.get(), "", Now(), absl::Hours(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRootCa(key.get(), "mesh.local", Now(), absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateRootCa(nullptr, "mesh.local", Now(), absl::Hours(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status weak =
      CreateRootCa(testing::Rsa(1024).get(), "mesh.local", Now(), absl::Hours(1)).status();
  EXPECT_EQ(weak.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(weak.message(), HasSubstr("RSA-1024"));
}

TEST_F(IssuerTest, LeafEveryField) {
  absl::StatusOr<bssl::UniquePtr<X509>> signed_leaf = Sign(Request());
  ASSERT_TRUE(signed_leaf.ok()) << signed_leaf.status();
  bssl::UniquePtr<X509> leaf = *CertFromDer(CertToDer(signed_leaf->get()));
  const X509* c = leaf.get();

  // Version and serial.
  EXPECT_EQ(X509_get_version(c), X509_VERSION_3);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_serialNumber(c)), V_ASN1_INTEGER);  // not negative
  std::string serial = SerialBytes(c);
  EXPECT_LE(serial.size(), 16u);
  EXPECT_GE(serial.size(), 8u);
  EXPECT_NE(serial, std::string(serial.size(), '\0'));
  EXPECT_EQ(static_cast<uint8_t>(serial[0]) & 0x80, 0);  // DER needs no sign padding

  // Names.
  CertInfo info = DescribeCert(c);
  EXPECT_EQ(info.subject, "O=mesh.local");
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(c)), 1);
  EXPECT_EQ(X509_NAME_get_index_by_NID(X509_get_subject_name(c), NID_commonName, -1), -1);
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(root_.cert.get())), 0);

  // Validity: backdated a minute, one hour long.
  EXPECT_EQ(info.not_before, Now() - absl::Minutes(1));
  EXPECT_EQ(info.not_after, Now() + absl::Hours(1));

  // Extensions: exactly these six, with these criticalities.
  EXPECT_THAT(Extensions(c), UnorderedElementsAre(std::pair(NID_basic_constraints, true),
                                                  std::pair(NID_key_usage, true),
                                                  std::pair(NID_ext_key_usage, false),
                                                  std::pair(NID_subject_key_identifier, false),
                                                  std::pair(NID_authority_key_identifier, false),
                                                  std::pair(NID_subject_alt_name, false)));
  bssl::UniquePtr<GENERAL_NAMES> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_NE(sans, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(sans.get()), 1u);
  const GENERAL_NAME* san = sk_GENERAL_NAME_value(sans.get(), 0);
  ASSERT_EQ(san->type, GEN_URI);
  EXPECT_EQ(Bytes(san->d.uniformResourceIdentifier), "spiffe://mesh.local/ns/shop/sa/cart");

  EXPECT_THAT(KeyUsageBits(c), ElementsAre(0));  // digitalSignature only
  EXPECT_THAT(ExtKeyUsages(c), ElementsAre(NID_server_auth, NID_client_auth));
  bssl::UniquePtr<BASIC_CONSTRAINTS> bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(c, NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_FALSE(bc->ca);
  EXPECT_EQ(bc->pathlen, nullptr);
  EXPECT_FALSE(info.is_ca);

  ASSERT_NE(X509_get0_subject_key_id(leaf.get()), nullptr);
  EXPECT_EQ(Bytes(X509_get0_subject_key_id(leaf.get())), KeyIdOf(c));
  ASSERT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);
  EXPECT_EQ(Bytes(X509_get0_authority_key_id(leaf.get())),
            Bytes(X509_get0_subject_key_id(root_.cert.get())));

  // The public key is the requested one; the signature is the CA's.
  bssl::UniquePtr<EVP_PKEY> pub(X509_get_pubkey(leaf.get()));
  EXPECT_EQ(EVP_PKEY_cmp(pub.get(), leaf_key_.get()), 1);
  EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
  EXPECT_TRUE(SignedBy(c, root_.key.get()));
  EXPECT_FALSE(SignedBy(c, leaf_key_.get()));
  EXPECT_FALSE(SignedBy(c, testing::P256().get()));
}

TEST_F(IssuerTest, SerialsAreRandom) {
  bssl::UniquePtr<X509> a = *Sign(Request());
  bssl::UniquePtr<X509> b = *Sign(Request());
  EXPECT_NE(SerialHex(a.get()), SerialHex(b.get()));
  EXPECT_NE(SerialHex(a.get()), SerialHex(root_.cert.get()));
}

TEST_F(IssuerTest, CustomTtlAndBackdate) {
  LeafRequest request = Request();
  request.ttl = absl::Minutes(5);
  request.backdate = absl::Seconds(30);
  bssl::UniquePtr<X509> leaf = *Sign(request);
  EXPECT_EQ(NotBefore(leaf.get()), Now() - absl::Seconds(30));
  EXPECT_EQ(NotAfter(leaf.get()), Now() + absl::Minutes(5));

  request.backdate = absl::ZeroDuration();
  EXPECT_EQ(NotBefore(Sign(request)->get()), Now());
}

TEST_F(IssuerTest, NotAfterIsCappedAtTheAuthority) {
  Authority short_root = testing::RootAuthority("mesh.local", Now(), absl::Minutes(30));
  Issuer issuer = MakeIssuer(short_root);
  absl::StatusOr<bssl::UniquePtr<X509>> leaf = issuer.SignLeaf(Request());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(NotAfter(leaf->get()), Now() + absl::Minutes(30));
  EXPECT_EQ(NotAfter(leaf->get()), NotAfter(short_root.cert.get()));
}

TEST_F(IssuerTest, NotAfterIsCappedAtEveryChainCertificate) {
  // The root ends in 20 minutes, the intermediate (signed earlier) in 30 days.
  Authority short_root = testing::RootAuthority("mesh.local", Now(), absl::Minutes(20));
  Authority intermediate = testing::IntermediateAuthority(short_root, "Tether intermediate");
  ASSERT_GT(NotAfter(intermediate.cert.get()), Now() + absl::Hours(1));
  Issuer issuer = MakeIssuer(intermediate);
  absl::StatusOr<bssl::UniquePtr<X509>> leaf = issuer.SignLeaf(Request());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(NotAfter(leaf->get()), Now() + absl::Minutes(20));
}

TEST_F(IssuerTest, IntermediateSignsWithItsOwnIdentity) {
  Authority intermediate = testing::IntermediateAuthority(root_, "Tether intermediate");
  Issuer issuer = MakeIssuer(intermediate);
  bssl::UniquePtr<X509> leaf = *issuer.SignLeaf(Request());
  EXPECT_EQ(DescribeCert(leaf.get()).issuer, "CN=Tether intermediate,O=Tether");
  EXPECT_EQ(Bytes(X509_get0_authority_key_id(leaf.get())),
            Bytes(X509_get0_subject_key_id(intermediate.cert.get())));
  EXPECT_TRUE(SignedBy(leaf.get(), intermediate.key.get()));
  EXPECT_FALSE(SignedBy(leaf.get(), root_.key.get()));
}

TEST_F(IssuerTest, DnsNamesFollowTheUri) {
  LeafRequest request = Request();
  request.dns_names = {"control.tether.svc", "*.tether.svc"};
  bssl::UniquePtr<X509> leaf = *Sign(request);
  CertInfo info = DescribeCert(leaf.get());
  EXPECT_THAT(info.uri_sans, ElementsAre("spiffe://mesh.local/ns/shop/sa/cart"));
  EXPECT_THAT(info.dns_names, ElementsAre("control.tether.svc", "*.tether.svc"));
}

TEST_F(IssuerTest, RsaLeafAlsoGetsKeyEncipherment) {
  bssl::UniquePtr<EVP_PKEY> rsa = testing::Rsa(2048);
  LeafRequest request = Request();
  request.public_key = rsa.get();
  bssl::UniquePtr<X509> leaf = *Sign(request);
  EXPECT_THAT(KeyUsageBits(leaf.get()), ElementsAre(0, 2));
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);  // the CA's key
}

TEST_F(IssuerTest, RejectsUnusableRequests) {
  auto expect_invalid = [&](const LeafRequest& request, absl::string_view message) {
    absl::Status status = Sign(request).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_THAT(status.message(), HasSubstr(std::string(message)));
  };
  LeafRequest r = Request();
  r.public_key = nullptr;
  expect_invalid(r, "no public key");
  r = Request();
  r.ttl = absl::ZeroDuration();
  expect_invalid(r, "ttl must be positive");
  r.ttl = -absl::Hours(1);
  expect_invalid(r, "ttl must be positive");
  r = Request();
  r.backdate = -absl::Minutes(1);
  expect_invalid(r, "backdate");
  r = Request();
  r.spiffe_id.trust_domain = "Mesh.Local";
  expect_invalid(r, "trust domain");
  r = Request();
  r.spiffe_id.service_account = "";
  expect_invalid(r, "service account");
  r = Request();
  r.dns_names = {"bad name"};
  expect_invalid(r, "DNS name");
  r = Request();
  bssl::UniquePtr<EVP_PKEY> weak = testing::Rsa(1024);
  r.public_key = weak.get();
  expect_invalid(r, "RSA-1024 key is too weak");
  r = Request();
  r.now = NotAfter(root_.cert.get()) + absl::Seconds(1);
  expect_invalid(r, "authority certificate expired");
}

TEST_F(IssuerTest, RejectsAnExpiredChainCertificate) {
  Authority old_root = testing::RootAuthority("mesh.local", Now() - absl::Hours(2), absl::Hours(1));
  Authority intermediate =
      testing::IntermediateAuthority(old_root, "Tether intermediate", Now() - absl::Hours(2));
  Issuer issuer = MakeIssuer(intermediate);
  absl::Status status = issuer.SignLeaf(Request()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("chain certificate 1 expired"));
}

TEST_F(IssuerTest, ChainForLeavesSelfSignedCertificatesOut) {
  bssl::UniquePtr<X509> leaf = *Sign(Request());
  CertChain chain = issuer_.ChainFor(leaf.get());
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0].get(), leaf.get());

  Authority intermediate = testing::IntermediateAuthority(root_, "Tether intermediate");
  ASSERT_EQ(intermediate.chain.size(), 1u);  // [root]
  Issuer issuer = MakeIssuer(intermediate);
  bssl::UniquePtr<X509> leaf2 = *issuer.SignLeaf(Request());
  chain = issuer.ChainFor(leaf2.get());
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].get(), leaf2.get());
  EXPECT_EQ(chain[1].get(), intermediate.cert.get());

  // Two levels: leaf, int2, int1 (root left out).
  Authority int2 = testing::IntermediateAuthority(intermediate, "Tether intermediate 2");
  Issuer issuer2 = MakeIssuer(int2);
  bssl::UniquePtr<X509> leaf3 = *issuer2.SignLeaf(Request());
  chain = issuer2.ChainFor(leaf3.get());
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[1].get(), int2.cert.get());
  EXPECT_EQ(chain[2].get(), intermediate.cert.get());
}

TEST(ValidateAuthorityTest, AcceptsRootsAndIntermediates) {
  Authority root = testing::RootAuthority();
  EXPECT_TRUE(ValidateAuthority(root, Now()).ok());
  Authority intermediate = testing::IntermediateAuthority(root, "Tether intermediate");
  EXPECT_TRUE(ValidateAuthority(intermediate, Now()).ok());
  intermediate.chain.clear();  // stopping below the root is fine too
  EXPECT_TRUE(ValidateAuthority(intermediate, Now()).ok());
}

TEST(ValidateAuthorityTest, RejectsANonCaCertificate) {
  Authority root = testing::RootAuthority();
  bssl::UniquePtr<EVP_PKEY> key = testing::P256();
  Issuer issuer = MakeIssuer(root);
  bssl::UniquePtr<X509> leaf = *issuer.SignLeaf(
      {.public_key = key.get(), .spiffe_id = testing::Id("mesh.local", "a", "b"), .now = Now()});
  absl::Status status = ValidateAuthority(Authority{std::move(leaf), std::move(key), {}}, Now());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not a CA"));
}

TEST(ValidateAuthorityTest, RejectsACaWithoutKeyCertSign) {
  Authority root = testing::RootAuthority();
  bssl::UniquePtr<X509> no_sign = testing::Resign(root.cert.get(), root.key.get(), [](X509* x) {
    bssl::UniquePtr<ASN1_BIT_STRING> ku(ASN1_BIT_STRING_new());
    ASSERT_TRUE(ASN1_BIT_STRING_set_bit(ku.get(), 0, 1));
    testing::SetExt(x, NID_key_usage, ku.get(), true);
  });
  absl::Status status =
      ValidateAuthority(Authority{std::move(no_sign), bssl::UpRef(root.key), {}}, Now());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("keyCertSign"));
}

TEST(ValidateAuthorityTest, RejectsAMismatchedKey) {
  Authority root = testing::RootAuthority();
  root.key = testing::P256();
  absl::Status status = ValidateAuthority(root, Now());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("does not match"));
}

TEST(ValidateAuthorityTest, RejectsAnExpiredOrNotYetValidCa) {
  Authority root = testing::RootAuthority("mesh.local", Now(), absl::Hours(1));
  absl::Status expired = ValidateAuthority(root, Now() + absl::Hours(2));
  EXPECT_EQ(expired.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(expired.message(), HasSubstr("expired at"));
  absl::Status early = ValidateAuthority(root, Now() - absl::Hours(2));
  EXPECT_EQ(early.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(early.message(), HasSubstr("not valid until"));
}

TEST(ValidateAuthorityTest, RejectsMissingParts) {
  Authority root = testing::RootAuthority();
  EXPECT_EQ(ValidateAuthority(Authority{nullptr, bssl::UpRef(root.key), {}}, Now()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAuthority(Authority{bssl::UpRef(root.cert), nullptr, {}}, Now()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidateAuthorityTest, RejectsABrokenChain) {
  Authority root = testing::RootAuthority();
  Authority other_root = testing::RootAuthority("other.local");
  Authority intermediate = testing::IntermediateAuthority(root, "Tether intermediate");
  intermediate.chain.clear();
  intermediate.chain.push_back(bssl::UpRef(other_root.cert));
  absl::Status status = ValidateAuthority(intermediate, Now());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not the issuer"));

  // Same name as the real root, different key: the signature gives it away.
  Authority impostor = testing::RootAuthority("mesh.local");
  intermediate.chain.clear();
  intermediate.chain.push_back(bssl::UpRef(impostor.cert));
  status = ValidateAuthority(intermediate, Now());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("did not sign"));
}

}  // namespace
}  // namespace tether::pki
