#include "control/ca/ca_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/pki/keys.h"
#include "common/testing/fake_clock.h"
#include "tests/common/pki/test_util.h"
#include "tests/testing/net_helpers.h"

namespace tether::control {
namespace {

namespace tu = pki::testing;

// WriteCacerts lays out an operator's CA as Istio's cacerts Secret does:
// root -> intermediate, the intermediate signs.
struct Cacerts {
  std::string dir;
  std::string root_pem;
};
Cacerts WriteCacerts(absl::Time now) {
  Cacerts out;
  out.dir = testing::MakeTempDir("cacerts");
  pki::Authority root = tu::RootAuthority("mesh.test", now, absl::Hours(24 * 365));
  pki::Authority inter = tu::IntermediateAuthority(root, "Corp issuing CA", now);
  out.root_pem = pki::CertToPem(root.cert.get());
  EXPECT_TRUE(WriteFileAtomic(out.dir + "/ca-cert.pem", pki::CertToPem(inter.cert.get())).ok());
  EXPECT_TRUE(
      WriteFileAtomic(out.dir + "/ca-key.pem", pki::PrivateKeyToPem(inter.key.get()), 0600).ok());
  EXPECT_TRUE(
      WriteFileAtomic(out.dir + "/cert-chain.pem", pki::CertToPem(inter.cert.get()) + out.root_pem)
          .ok());
  EXPECT_TRUE(WriteFileAtomic(out.dir + "/root-cert.pem", out.root_pem).ok());
  return out;
}

absl::Status VerifyLeafFrom(const CaSnapshot& ca, const pki::TrustBundle& bundle, absl::Time now) {
  auto key = pki::GenerateP256Key();
  pki::LeafRequest req;
  req.public_key = key->get();
  req.spiffe_id = *pki::SpiffeId::Parse("spiffe://mesh.test/ns/shop/sa/cart");
  req.now = now;
  auto leaf = ca.issuer->SignLeaf(req);
  if (!leaf.ok()) return leaf.status();
  pki::CertChain chain = ca.issuer->ChainFor(leaf->get());
  std::vector<X509*> raw;
  for (auto& c : chain) raw.push_back(c.get());
  return pki::VerifyChain(raw, bundle, now, {}, pki::Purpose::kAny, "mesh.test").status();
}

TEST(CaStore, SelfManagedRootIsCreatedOnceAndKeptPrivate) {
  FakeClock clock(tu::Now());
  CaOptions opts{.state_dir = testing::MakeTempDir("state"), .trust_domain = "mesh.test"};
  auto first = CaStore::Open(opts, &clock);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string serial = (*first)->Current()->active_root_serial;
  struct stat st;
  ASSERT_EQ(stat((opts.state_dir + "/ca/" + serial + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto again = CaStore::Open(opts, &clock);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Current()->active_root_serial, serial);
  EXPECT_TRUE(VerifyLeafFrom(*(*again)->Current(), (*first)->Current()->bundle, clock.Now()).ok());
}

TEST(CaStore, AnotherTrustDomainOrACorruptStateIsRefused) {
  FakeClock clock(tu::Now());
  CaOptions opts{.state_dir = testing::MakeTempDir("state"), .trust_domain = "mesh.test"};
  ASSERT_TRUE(CaStore::Open(opts, &clock).ok());
  CaOptions other = opts;
  other.trust_domain = "other.test";
  auto refused = CaStore::Open(other, &clock);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "mesh.test"));
  ASSERT_TRUE(WriteFileAtomic(opts.state_dir + "/ca/state.json", "{").ok());
  EXPECT_EQ(CaStore::Open(opts, &clock).status().code(), absl::StatusCode::kDataLoss);
}

TEST(CaStore, OperatorCaSignsChainsToTheEnterpriseRoot) {
  FakeClock clock(tu::Now());
  Cacerts cacerts = WriteCacerts(clock.Now());
  CaOptions opts{.state_dir = testing::MakeTempDir("state"),
                 .trust_domain = "mesh.test",
                 .plugged_dir = cacerts.dir};
  auto store = CaStore::Open(opts, &clock);
  ASSERT_TRUE(store.ok()) << store.status();
  auto ca = (*store)->Current();
  EXPECT_EQ(ca->bundle.ToPem(), cacerts.root_pem);
  // The presented chain is leaf + intermediate; the root comes from the bundle.
  auto bundle = pki::TrustBundle::FromPem(cacerts.root_pem);
  EXPECT_TRUE(VerifyLeafFrom(*ca, *bundle, clock.Now()).ok());
  EXPECT_EQ((*store)->Rotate(absl::Hours(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Stateless: a second replica given the same files signs alike; nothing
  // was written to the operator's directory.
  auto replica = CaStore::Open(opts, &clock);
  ASSERT_TRUE(replica.ok());
  EXPECT_TRUE(VerifyLeafFrom(*(*replica)->Current(), *bundle, clock.Now()).ok());
  EXPECT_FALSE(FileExists(cacerts.dir + "/state.json"));
}

TEST(CaStore, OperatorCaProblemsNameTheFile) {
  FakeClock clock(tu::Now());
  Cacerts cacerts = WriteCacerts(clock.Now());
  CaOptions opts{.state_dir = testing::MakeTempDir("state"),
                 .trust_domain = "mesh.test",
                 .plugged_dir = cacerts.dir};
  // A key that does not belong to ca-cert.pem.
  ASSERT_TRUE(WriteFileAtomic(cacerts.dir + "/ca-key.pem",
                              pki::PrivateKeyToPem(pki::GenerateP256Key()->get()), 0600)
                  .ok());
  auto mismatch = CaStore::Open(opts, &clock);
  EXPECT_FALSE(mismatch.ok());
  EXPECT_TRUE(absl::StrContains(mismatch.status().message(), cacerts.dir));
  std::remove((cacerts.dir + "/root-cert.pem").c_str());
  auto missing = CaStore::Open(opts, &clock);
  EXPECT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "root-cert.pem"))
      << missing.status().message();
}

// A crash between Rotate's state write and its removal of the old root's
// key (or during a key write) leaves keys on disk that nothing names; the
// next Open removes them and keeps the signing root's key.
TEST(CaStore, OpenRemovesKeysAnInterruptedRotationLeftBehind) {
  FakeClock clock(tu::Now());
  CaOptions opts{.state_dir = testing::MakeTempDir("state"), .trust_domain = "mesh.test"};
  const std::string ca_dir = opts.state_dir + "/ca";
  std::string old_serial, new_serial, old_key_pem;
  {
    auto store = CaStore::Open(opts, &clock);
    ASSERT_TRUE(store.ok()) << store.status();
    old_serial = (*store)->Current()->active_root_serial;
    auto key = ReadFile(ca_dir + "/" + old_serial + ".key");
    ASSERT_TRUE(key.ok());
    old_key_pem = *key;
    auto rotated = (*store)->Rotate(absl::Hours(1));
    ASSERT_TRUE(rotated.ok()) << rotated.status();
    new_serial = rotated->new_root_serial;
    EXPECT_TRUE((*store)->removed_orphan_keys().empty());
  }
  EXPECT_FALSE(FileExists(ca_dir + "/" + old_serial + ".key"));
  // As the crash would leave it: the state names the new root, the old
  // root's key is still there, and so is a temporary file of a key write.
  ASSERT_TRUE(WriteFileAtomic(ca_dir + "/" + old_serial + ".key", old_key_pem, 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(ca_dir + "/" + old_serial + ".key.tmp.4242", old_key_pem, 0600).ok());
  auto new_key = ReadFile(ca_dir + "/" + new_serial + ".key");
  ASSERT_TRUE(new_key.ok());

  auto reopened = CaStore::Open(opts, &clock);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_FALSE(FileExists(ca_dir + "/" + old_serial + ".key"));
  EXPECT_FALSE(FileExists(ca_dir + "/" + old_serial + ".key.tmp.4242"));
  EXPECT_EQ((*reopened)->removed_orphan_keys().size(), 2u);
  // The signing key is intact and still signs; the old root is still trusted
  // (its certificate stays for the overlap).
  EXPECT_EQ((*reopened)->Current()->active_root_serial, new_serial);
  auto kept = ReadFile(ca_dir + "/" + new_serial + ".key");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, *new_key);
  EXPECT_TRUE(FileExists(ca_dir + "/" + old_serial + ".crt"));
  EXPECT_EQ((*reopened)->Current()->bundle.roots().size(), 2u);
  EXPECT_TRUE(VerifyLeafFrom(*(*reopened)->Current(), (*reopened)->Current()->bundle,
                             clock.Now())
                  .ok());
}

}  // namespace
}  // namespace tether::control
