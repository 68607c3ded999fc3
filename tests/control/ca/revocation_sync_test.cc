// Replicas of the control plane that share one revocation list: what each
// revokes reaches the others, nothing is lost to a race or a restart, and
// versions only grow. The shared store is an in-memory stand-in with the
// ConfigMap's compare-and-swap (kubernetes/revocation_configmap.h is tested
// against a fake API server in tests/control:revocation_replicas_test).
#include "control/ca/revocation_sync.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/fake_clock.h"
#include "tests/testing/net_helpers.h"

namespace tether::control {
namespace {

constexpr char kCart[] = "spiffe://mesh.test/ns/shop/sa/cart";

class MemoryStore : public SharedRevocations {
 public:
  absl::StatusOr<std::optional<Stored>> Read() override {
    ++reads;
    if (!down.ok()) return down;
    if (!corrupt.empty()) return absl::DataLossError(corrupt);
    if (!stored) return std::nullopt;
    return Stored{*stored, absl::StrCat(revision)};
  }
  absl::StatusOr<std::string> Write(const RevocationState& state,
                                    const std::optional<std::string>& rev) override {
    if (!down.ok()) return down;
    if (before_write) std::exchange(before_write, nullptr)();
    const std::optional<std::string> now =
        stored ? std::optional<std::string>(absl::StrCat(revision)) : std::nullopt;
    if (rev != now) return absl::AbortedError("modified since read");
    ++writes;
    stored = state;
    return absl::StrCat(++revision);
  }
  std::string Describe() const override { return "memory"; }

  std::optional<RevocationState> stored;
  int revision = 100;
  int reads = 0;
  int writes = 0;
  absl::Status down;
  std::string corrupt;
  std::function<void()> before_write;  // once: another writer's turn
};

struct Replica {
  Replica(const Clock* clock, SharedRevocations* shared) {
    dir = testing::MakeTempDir("replica");
    registry = std::move(*CertificateRegistry::Open(dir, clock));
    registry->SetOnChange([this] { ++changes; });
    sync = std::make_unique<RevocationSync>(registry.get(), shared, clock);
  }
  std::string dir;
  std::unique_ptr<CertificateRegistry> registry;
  std::unique_ptr<RevocationSync> sync;
  int changes = 0;
};

class RevocationSyncTest : public ::testing::Test {
 protected:
  RevocationSyncTest() : clock_(absl::FromUnixSeconds(1'800'000'000)), a_(&clock_, &store_),
                         b_(&clock_, &store_) {}

  // Issue records a certificate of kCart as replica `r` signed it.
  std::string Issue(Replica& r, const std::string& serial) {
    EXPECT_TRUE(r.registry
                    ->RecordIssued({serial, kCart, clock_.Now(), clock_.Now() + absl::Hours(1),
                                    "root"})
                    .ok());
    return serial;
  }

  FakeClock clock_;
  MemoryStore store_;
  Replica a_;
  Replica b_;
};

TEST_F(RevocationSyncTest, WhatOneReplicaRevokesTheOtherRefusesUnderTheSameVersion) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  const int before = b_.changes;
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  EXPECT_TRUE(b_.registry->IsRevoked("a1"));
  EXPECT_GT(b_.changes, before);  // B pushed it to its proxies
  EXPECT_EQ(b_.registry->Revocations()->version, a_.registry->Revocations()->version);
  EXPECT_EQ(store_.stored->version, a_.registry->Revocations()->version);
  // Nothing new: a pass writes nothing and changes nothing.
  const int writes = store_.writes;
  const int changes = b_.changes;
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  EXPECT_EQ(store_.writes, writes);
  EXPECT_EQ(b_.changes, changes);
}

TEST_F(RevocationSyncTest, RevocationsMadeOnBothReplicasAtOnceAreBothKept) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  ASSERT_TRUE(b_.registry->RevokeIdentity("spiffe://mesh.test/ns/shop/sa/mallory").ok());
  const uint64_t a_before = a_.registry->Revocations()->version;
  const uint64_t b_before = b_.registry->Revocations()->version;
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  for (Replica* r : {&a_, &b_}) {
    RevocationState s = r->registry->RevocationEntries();
    EXPECT_TRUE(s.serials.contains("a1"));
    EXPECT_TRUE(s.spiffe_ids.contains("spiffe://mesh.test/ns/shop/sa/mallory"));
    EXPECT_GT(s.version, std::max(a_before, b_before));
    EXPECT_EQ(s.version, store_.stored->version);
  }
}

TEST_F(RevocationSyncTest, AWriteThatLosesTheRaceIsMergedAgain) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  ASSERT_TRUE(b_.registry->RevokeSerial(Issue(b_, "b1")).ok());
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  // Between A's read and its write, B revokes again and writes first.
  store_.before_write = [&] {
    ASSERT_TRUE(b_.registry->RevokeSerial(Issue(b_, "b2")).ok());
    ASSERT_TRUE(b_.sync->SyncOnce().ok());
  };
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  for (const char* serial : {"a1", "b1", "b2"}) {
    EXPECT_TRUE(store_.stored->serials.contains(serial)) << serial;
    EXPECT_TRUE(a_.registry->IsRevoked(serial)) << serial;
    EXPECT_TRUE(b_.registry->IsRevoked(serial)) << serial;
  }
}

TEST_F(RevocationSyncTest, AReplicaThatLostItsVolumeForgetsNothing) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  ASSERT_TRUE(a_.registry->RevokeIdentity(kCart).ok());
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  const uint64_t version = a_.registry->Revocations()->version;
  Replica fresh(&clock_, &store_);  // an emptyDir: no revocations.json
  ASSERT_TRUE(fresh.sync->SyncOnce().ok());
  EXPECT_TRUE(fresh.registry->IsRevoked("a1"));
  EXPECT_TRUE(fresh.registry->Revocations()->revoked.spiffe_ids.contains(kCart));
  EXPECT_EQ(fresh.registry->Revocations()->version, version);
}

TEST_F(RevocationSyncTest, EntriesRemovedFromTheStoreAreWrittenBack) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  // Someone edits the ConfigMap by hand and drops the entry.
  store_.stored->serials.clear();
  ++store_.revision;
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  EXPECT_TRUE(store_.stored->serials.contains("a1"));
  EXPECT_TRUE(a_.registry->IsRevoked("a1"));
}

TEST_F(RevocationSyncTest, AStoreThatIsDownOrCorruptChangesNothing) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  store_.down = absl::UnavailableError("connection refused");
  absl::Status st = a_.sync->SyncOnce();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(st.message(), "memory: connection refused")) << st;
  EXPECT_FALSE(a_.sync->healthy());
  EXPECT_TRUE(a_.registry->IsRevoked("a1"));  // still refused here

  store_.down = absl::OkStatus();
  store_.corrupt = "key revocations.json is not JSON";
  st = a_.sync->SyncOnce();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_.writes, 0);  // never overwritten
  EXPECT_TRUE(a_.registry->IsRevoked("a1"));

  store_.corrupt.clear();
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  EXPECT_TRUE(a_.sync->healthy());
  EXPECT_TRUE(store_.stored->serials.contains("a1"));
}

TEST_F(RevocationSyncTest, ASerialAnotherReplicaIssuedIsAcceptedWhenShared) {
  // Replica B cannot know every serial: A issued this one.
  const std::string serial = Issue(a_, "a1");
  absl::StatusOr<uint64_t> refused = b_.registry->RevokeSerial(serial);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  b_.registry->AcceptUnknownSerials(absl::Hours(1) + absl::Minutes(5));
  ASSERT_TRUE(b_.registry->RevokeSerial("A1").ok());  // any case
  EXPECT_EQ(b_.registry->RevocationEntries().serials.at("a1"),
            clock_.Now() + absl::Hours(1) + absl::Minutes(5));
  EXPECT_EQ(b_.registry->RevokeSerial("not-hex").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  EXPECT_TRUE(a_.registry->IsRevoked("a1"));
  // Kept until the later of the two expiries, then forgotten by both.
  clock_.Advance(absl::Hours(1) + absl::Minutes(6));
  a_.registry->Prune();
  ASSERT_TRUE(a_.sync->SyncOnce().ok());
  ASSERT_TRUE(b_.sync->SyncOnce().ok());
  EXPECT_FALSE(a_.registry->IsRevoked("a1"));
  EXPECT_FALSE(b_.registry->IsRevoked("a1"));
  EXPECT_TRUE(store_.stored->serials.empty());
}

TEST_F(RevocationSyncTest, AdoptRefusesAnOlderOrShorterList) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  RevocationState held = a_.registry->RevocationEntries();
  RevocationState older = held;
  older.version = held.version - 1;
  EXPECT_EQ(a_.registry->Adopt(older).code(), absl::StatusCode::kFailedPrecondition);
  RevocationState shorter;
  shorter.version = held.version + 1;
  EXPECT_EQ(a_.registry->Adopt(shorter).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(a_.registry->IsRevoked("a1"));
  EXPECT_EQ(a_.registry->Revocations()->version, held.version);
}

TEST_F(RevocationSyncTest, TheListOnDiskSurvivesARestartWithItsVersion) {
  ASSERT_TRUE(a_.registry->RevokeSerial(Issue(a_, "a1")).ok());
  const uint64_t version = a_.registry->Revocations()->version;
  EXPECT_GE(version, 1'800'000'000u);  // numbered from the clock
  auto reopened = CertificateRegistry::Open(a_.dir, &clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE((*reopened)->IsRevoked("a1"));
  EXPECT_EQ((*reopened)->Revocations()->version, version);
}

}  // namespace
}  // namespace tether::control
