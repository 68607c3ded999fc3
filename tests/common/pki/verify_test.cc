#include "common/pki/verify.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "common/pki/certs.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "tests/common/pki/test_util.h"

namespace tether::pki {
namespace {

using ::testing::HasSubstr;
using testing::Now;
using ::testing::StartsWith;

std::vector<X509*> Ptrs(const CertChain& chain) {
  std::vector<X509*> out;
  for (const auto& cert : chain) out.push_back(cert.get());
  return out;
}

TrustBundle Bundle(std::initializer_list<const Authority*> roots) {
  CertChain certs;
  for (const Authority* a : roots) certs.push_back(bssl::UpRef(a->cert));
  absl::StatusOr<TrustBundle> bundle = TrustBundle::FromCerts(std::move(certs));
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  return *std::move(bundle);
}

class VerifyTest : public ::testing::Test {
 protected:
  // Verify checks `chain` at `now` and, on failure, that the message starts
  // with `reason` and ReasonOf agrees.
  absl::StatusOr<VerifiedPeer> Verify(const std::vector<X509*>& chain, absl::Time now = Now(),
                                      Purpose purpose = Purpose::kAny,
                                      absl::string_view trust_domain = "") {
    return VerifyChain(chain, bundle_, now, revoked_, purpose, trust_domain);
  }
  void ExpectDenied(const absl::StatusOr<VerifiedPeer>& result, absl::string_view reason) {
    ASSERT_FALSE(result.ok()) << "verified; wanted " << reason;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
    EXPECT_THAT(std::string(result.status().message()), StartsWith(std::string(reason) + ": "));
    EXPECT_EQ(ReasonOf(result.status()), reason);
  }

  Authority root_ = testing::RootAuthority("mesh.local", Now() - absl::Hours(24 * 30));
  TrustBundle bundle_ = Bundle({&root_});
  Revocations revoked_;
  SpiffeId id_ = testing::Id("mesh.local", "shop", "cart");
  bssl::UniquePtr<X509> leaf_ = testing::Leaf(root_, id_);
};

TEST_F(VerifyTest, AcceptsALeafOfTheRoot) {
  for (Purpose purpose : {Purpose::kClient, Purpose::kServer, Purpose::kAny}) {
    absl::StatusOr<VerifiedPeer> peer = Verify({leaf_.get()}, Now(), purpose, "mesh.local");
    ASSERT_TRUE(peer.ok()) << peer.status();
    EXPECT_EQ(peer->spiffe_id, id_);
    EXPECT_EQ(peer->serial_hex, SerialHex(leaf_.get()));
    EXPECT_EQ(peer->not_after, Now() + absl::Hours(1));
  }
  // Anywhere inside the validity period: from NotBefore on, and until the
  // last second before NotAfter (BoringSSL counts NotAfter itself as expired).
  EXPECT_TRUE(Verify({leaf_.get()}, Now() - absl::Minutes(1)).ok());
  EXPECT_TRUE(Verify({leaf_.get()}, Now() + absl::Hours(1) - absl::Seconds(1)).ok());
  ExpectDenied(Verify({leaf_.get()}, Now() + absl::Hours(1)), "expired");
}

TEST_F(VerifyTest, AcceptsAChainThroughAnIntermediate) {
  Authority intermediate = testing::IntermediateAuthority(root_, "Tether intermediate");
  Authority copy{bssl::UpRef(intermediate.cert), bssl::UpRef(intermediate.key),
                 CopyChain(intermediate.chain)};
  Issuer issuer(std::move(copy));
  bssl::UniquePtr<EVP_PKEY> key = testing::P256();
  bssl::UniquePtr<X509> leaf =
      *issuer.SignLeaf({.public_key = key.get(), .spiffe_id = id_, .now = Now()});
  CertChain chain = issuer.ChainFor(leaf.get());
  ASSERT_EQ(chain.size(), 2u);
  absl::StatusOr<VerifiedPeer> peer = Verify(Ptrs(chain), Now(), Purpose::kServer, "mesh.local");
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->spiffe_id, id_);
  EXPECT_EQ(peer->serial_hex, SerialHex(leaf.get()));

  // Sending the root along does no harm; leaving the intermediate out does.
  EXPECT_TRUE(Verify({leaf.get(), intermediate.cert.get(), root_.cert.get()}).ok());
  ExpectDenied(Verify({leaf.get()}), "untrusted");
}

TEST_F(VerifyTest, RejectsAnEmptyChain) {
  absl::StatusOr<VerifiedPeer> peer = Verify({});
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ReasonOf(peer.status()), "untrusted");
}

TEST_F(VerifyTest, RejectsAForeignCa) {
  Authority foreign = testing::RootAuthority("mesh.local");  // same name, other key
  bssl::UniquePtr<X509> leaf = testing::Leaf(foreign, id_);
  ExpectDenied(Verify({leaf.get()}), "untrusted");
  Authority other = testing::RootAuthority("other.local");
  bssl::UniquePtr<X509> leaf2 = testing::Leaf(other, id_);
  ExpectDenied(Verify({leaf2.get()}), "untrusted");
  // Presenting the foreign root itself does not help.
  ExpectDenied(Verify({leaf2.get(), other.cert.get()}), "untrusted");
}

TEST_F(VerifyTest, RejectsABadSignature) {
  std::string der = testing::Der(leaf_.get());
  der.back() ^= 0x01;
  absl::StatusOr<bssl::UniquePtr<X509>> tampered = CertFromDer(der);
  ASSERT_TRUE(tampered.ok()) << tampered.status();
  ExpectDenied(Verify({tampered->get()}), "untrusted");
}

TEST_F(VerifyTest, RejectsExpiredAndNotYetValid) {
  bssl::UniquePtr<X509> old_leaf = testing::Leaf(root_, id_, Now() - absl::Hours(10));
  absl::StatusOr<VerifiedPeer> old = Verify({old_leaf.get()});
  ExpectDenied(old, "expired");
  EXPECT_THAT(old.status().message(), HasSubstr("expired at"));
  EXPECT_TRUE(Verify({old_leaf.get()}, Now() - absl::Hours(10)).ok());

  bssl::UniquePtr<X509> future_leaf = testing::Leaf(root_, id_, Now() + absl::Hours(10));
  absl::StatusOr<VerifiedPeer> future = Verify({future_leaf.get()});
  ExpectDenied(future, "not_yet_valid");
  EXPECT_THAT(future.status().message(), HasSubstr("not valid until"));
  EXPECT_TRUE(Verify({future_leaf.get()}, Now() + absl::Hours(10)).ok());

  // One second past NotAfter.
  ExpectDenied(Verify({leaf_.get()}, Now() + absl::Hours(1) + absl::Seconds(1)), "expired");
}

TEST_F(VerifyTest, RejectsAnExpiredRoot) {
  Authority root = testing::RootAuthority("mesh.local", Now(), absl::Hours(2));
  TrustBundle bundle = Bundle({&root});
  bssl::UniquePtr<X509> leaf = testing::Leaf(root, id_, Now() + absl::Minutes(90));
  // The leaf (capped at the root's NotAfter) and the root both end at +2h.
  absl::StatusOr<VerifiedPeer> peer =
      VerifyChain({leaf.get()}, bundle, Now() + absl::Hours(3), revoked_, Purpose::kAny);
  ExpectDenied(peer, "expired");
}

TEST_F(VerifyTest, RejectsRevokedSerialsAndIdentities) {
  revoked_.serials.insert(SerialHex(leaf_.get()));
  absl::StatusOr<VerifiedPeer> by_serial = Verify({leaf_.get()});
  ExpectDenied(by_serial, "revoked");
  EXPECT_THAT(by_serial.status().message(), HasSubstr(SerialHex(leaf_.get())));

  revoked_.serials.clear();
  revoked_.spiffe_ids.insert("spiffe://mesh.local/ns/shop/sa/cart");
  absl::StatusOr<VerifiedPeer> by_id = Verify({leaf_.get()});
  ExpectDenied(by_id, "revoked");
  EXPECT_THAT(by_id.status().message(), HasSubstr("identity spiffe://mesh.local/ns/shop/sa/cart"));

  // Other identities and serials are unaffected.
  bssl::UniquePtr<X509> other = testing::Leaf(root_, testing::Id("mesh.local", "shop", "pay"));
  revoked_.serials.insert("01");
  EXPECT_TRUE(Verify({other.get()}).ok());
}

TEST_F(VerifyTest, RejectsACaPresentedAsLeaf) {
  absl::StatusOr<VerifiedPeer> root_as_leaf = Verify({root_.cert.get()});
  ExpectDenied(root_as_leaf, "bad_usage");
  EXPECT_THAT(root_as_leaf.status().message(), HasSubstr("is a CA"));

  Authority intermediate = testing::IntermediateAuthority(root_, "Tether intermediate");
  ExpectDenied(Verify({intermediate.cert.get()}), "bad_usage");
}

TEST_F(VerifyTest, RejectsMissingUsages) {
  bssl::UniquePtr<X509> server_only = testing::Resign(leaf_.get(), root_.key.get(), [](X509* x) {
    bssl::UniquePtr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
    ASSERT_TRUE(sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth)));
    testing::SetExt(x, NID_ext_key_usage, eku.get(), false);
  });
  EXPECT_TRUE(Verify({server_only.get()}, Now(), Purpose::kServer).ok());
  EXPECT_TRUE(Verify({server_only.get()}, Now(), Purpose::kAny).ok());
  absl::StatusOr<VerifiedPeer> as_client = Verify({server_only.get()}, Now(), Purpose::kClient);
  ExpectDenied(as_client, "bad_usage");
  EXPECT_THAT(as_client.status().message(), HasSubstr("clientAuth"));

  bssl::UniquePtr<X509> no_eku = testing::Resign(leaf_.get(), root_.key.get(), [](X509* x) {
    testing::SetExt(x, NID_ext_key_usage, nullptr, false);
  });
  ExpectDenied(Verify({no_eku.get()}, Now(), Purpose::kAny), "bad_usage");

  bssl::UniquePtr<X509> no_signing = testing::Resign(leaf_.get(), root_.key.get(), [](X509* x) {
    bssl::UniquePtr<ASN1_BIT_STRING> ku(ASN1_BIT_STRING_new());
    ASSERT_TRUE(ASN1_BIT_STRING_set_bit(ku.get(), 2, 1));  // keyEncipherment only
    testing::SetExt(x, NID_key_usage, ku.get(), true);
  });
  absl::StatusOr<VerifiedPeer> no_sig = Verify({no_signing.get()});
  ExpectDenied(no_sig, "bad_usage");
  EXPECT_THAT(no_sig.status().message(), HasSubstr("digitalSignature"));
}

TEST_F(VerifyTest, RejectsAChainLongerThanTheMaximum) {
  // root -> i1 -> i2 -> i3 -> i4: a leaf of i3 makes 4 certificates, of i4 five.
  std::vector<Authority> cas;
  cas.push_back(testing::IntermediateAuthority(root_, "i1"));
  for (int i = 2; i <= 4; ++i) {
    cas.push_back(testing::IntermediateAuthority(cas.back(), "i" + std::to_string(i)));
  }
  bssl::UniquePtr<X509> leaf3 = testing::Leaf(cas[2], id_);
  std::vector<X509*> four = {leaf3.get(), cas[2].cert.get(), cas[1].cert.get(), cas[0].cert.get()};
  ASSERT_EQ(four.size(), static_cast<size_t>(kMaxChainLength));
  absl::StatusOr<VerifiedPeer> ok = Verify(four);
  EXPECT_TRUE(ok.ok()) << ok.status();

  bssl::UniquePtr<X509> leaf4 = testing::Leaf(cas[3], id_);
  std::vector<X509*> five = {leaf4.get(), cas[3].cert.get(), cas[2].cert.get(), cas[1].cert.get(),
                             cas[0].cert.get()};
  absl::StatusOr<VerifiedPeer> too_long = Verify(five);
  ExpectDenied(too_long, "chain_too_long");
  EXPECT_THAT(too_long.status().message(), HasSubstr("5 certificates (max 4)"));
}

TEST_F(VerifyTest, RejectsAWrongTrustDomain) {
  bssl::UniquePtr<X509> leaf = testing::Leaf(root_, testing::Id("other.local", "shop", "cart"));
  EXPECT_TRUE(Verify({leaf.get()}).ok());  // no trust domain asked for
  absl::StatusOr<VerifiedPeer> peer = Verify({leaf.get()}, Now(), Purpose::kAny, "mesh.local");
  ExpectDenied(peer, "bad_identity");
  EXPECT_THAT(peer.status().message(), HasSubstr("\"other.local\""));
}

TEST_F(VerifyTest, RejectsBadIdentities) {
  auto with_sans = [&](std::initializer_list<std::pair<int, std::string>> names) {
    return testing::Resign(leaf_.get(), root_.key.get(), [&](X509* x) {
      bssl::UniquePtr<GENERAL_NAMES> sans = testing::Names(names);
      testing::SetExt(x, NID_subject_alt_name, sans.get(), false);
    });
  };
  std::string id = id_.ToString();
  ExpectDenied(Verify({with_sans({{GEN_URI, id}, {GEN_URI, id}}).get()}), "bad_identity");
  ExpectDenied(Verify({with_sans({{GEN_DNS, "cart.shop"}}).get()}), "bad_identity");
  ExpectDenied(Verify({with_sans({{GEN_URI, "https://mesh.local/ns/shop/sa/cart"}}).get()}),
               "bad_identity");
  ExpectDenied(Verify({with_sans({{GEN_URI, "spiffe://mesh.local/shop/cart"}}).get()}),
               "bad_identity");
  bssl::UniquePtr<X509> no_san = testing::Resign(leaf_.get(), root_.key.get(), [](X509* x) {
    testing::SetExt(x, NID_subject_alt_name, nullptr, false);
  });
  ExpectDenied(Verify({no_san.get()}), "bad_identity");
  // A DNS name next to the SPIFFE ID is fine (the control plane has one).
  EXPECT_TRUE(Verify({with_sans({{GEN_URI, id}, {GEN_DNS, "control.tether"}}).get()}).ok());
}

TEST_F(VerifyTest, RejectsAWeakLeafKey) {
  bssl::UniquePtr<EVP_PKEY> rsa1024 = testing::Rsa(1024);
  bssl::UniquePtr<X509> weak = testing::Resign(leaf_.get(), root_.key.get(), [&](X509* x) {
    ASSERT_TRUE(X509_set_pubkey(x, rsa1024.get()));
  });
  absl::StatusOr<VerifiedPeer> peer = Verify({weak.get()});
  ExpectDenied(peer, "weak_key");
  EXPECT_THAT(peer.status().message(), HasSubstr("RSA-1024"));
}

TEST_F(VerifyTest, BundleWithTwoRootsTrustsBoth) {
  Authority next = testing::RootAuthority("mesh.local");
  TrustBundle both =
      *TrustBundle::FromPem(CertToPem(root_.cert.get()) + CertToPem(next.cert.get()));
  ASSERT_EQ(both.roots().size(), 2u);
  bssl::UniquePtr<X509> new_leaf = testing::Leaf(next, id_);
  EXPECT_TRUE(VerifyChain({leaf_.get()}, both, Now(), revoked_, Purpose::kAny).ok());
  EXPECT_TRUE(VerifyChain({new_leaf.get()}, both, Now(), revoked_, Purpose::kAny).ok());
  ExpectDenied(Verify({new_leaf.get()}), "untrusted");  // the old bundle alone

  absl::StatusOr<TrustBundle> again = TrustBundle::FromPem(both.ToPem());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToPem(), both.ToPem());
}

TEST(TrustBundleTest, RejectsBadInput) {
  EXPECT_EQ(TrustBundle::FromPem("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrustBundle::FromPem("junk").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrustBundle::FromCerts({}).status().code(), absl::StatusCode::kInvalidArgument);
  Authority root = testing::RootAuthority();
  bssl::UniquePtr<X509> leaf = testing::Leaf(root, testing::Id("mesh.local", "a", "b"));
  absl::Status not_ca =
      TrustBundle::FromPem(CertToPem(root.cert.get()) + CertToPem(leaf.get())).status();
  EXPECT_EQ(not_ca.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_ca.message(), HasSubstr("certificate 2"));
  EXPECT_THAT(not_ca.message(), HasSubstr("not a CA"));
}

TEST(ReasonOfTest, KnownWordsAndOther) {
  for (const char* word : {"untrusted", "expired", "not_yet_valid", "revoked", "bad_usage",
                           "weak_key", "chain_too_long", "bad_identity"}) {
    EXPECT_EQ(ReasonOf(absl::PermissionDeniedError(std::string(word) + ": x")), word);
  }
  EXPECT_EQ(ReasonOf(absl::OkStatus()), "other");
  EXPECT_EQ(ReasonOf(absl::PermissionDeniedError("nope")), "other");
  EXPECT_EQ(ReasonOf(absl::InternalError("boom: x")), "other");
  EXPECT_EQ(ReasonOf(absl::PermissionDeniedError("expired")), "other");
}

}  // namespace
}  // namespace tether::pki
