#include "control/ca/revocation_sync.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tether::control {

RevocationSync::RevocationSync(CertificateRegistry* registry, SharedRevocations* shared,
                               const Clock* clock, RevocationSyncOptions options)
    : registry_(registry), shared_(shared), clock_(clock), options_(options) {}

RevocationSync::~RevocationSync() { Stop(); }

absl::Status RevocationSync::SyncOnce() {
  absl::Status st;
  {
    MutexLock pass(&pass_mu_);
    st = PassLocked();
  }
  MutexLock lock(&mu_);
  healthy_ = st.ok();
  return st;
}

absl::Status RevocationSync::PassLocked() {
  auto named = [this](const absl::Status& st) {
    return absl::Status(st.code(), absl::StrCat(shared_->Describe(), ": ", st.message()));
  };
  for (int attempt = 0; attempt <= options_.max_conflicts; ++attempt) {
    absl::StatusOr<std::optional<SharedRevocations::Stored>> stored = shared_->Read();
    if (!stored.ok()) return named(stored.status());
    const RevocationState mine = registry_->RevocationEntries();
    const absl::Time now = clock_->Now();
    RevocationState theirs;
    std::optional<std::string> revision;
    if (stored->has_value()) {
      theirs = (*stored)->state;
      revision = (*stored)->revision;
    }
    RevocationState merged = UnionOfRevocations(mine, theirs, now);
    const bool store_lacks = !stored->has_value() || !merged.SameEntries(theirs) ||
                             theirs.version < mine.version;
    if (store_lacks) {
      // Numbered past both, unless the merge is exactly what this replica
      // already holds under a version the store has not reached.
      if (!(merged.SameEntries(mine) && mine.version > theirs.version)) {
        merged.version = NextRevocationVersion(merged.version, now);
      }
      absl::StatusOr<std::string> written = shared_->Write(merged, revision);
      if (absl::IsAborted(written.status())) continue;  // another replica wrote first
      if (!written.ok()) return named(written.status());
    }
    absl::Status adopted = registry_->Adopt(merged);
    // The registry moved on during the pass (a revocation just made):
    // merge again.
    if (absl::IsFailedPrecondition(adopted)) continue;
    return adopted;
  }
  return named(absl::AbortedError(absl::StrCat("the list changed under ", options_.max_conflicts + 1,
                                               " passes in a row; retrying later")));
}

void RevocationSync::Start(std::function<void(const absl::Status&)> on_result) {
  thread_ = std::thread([this, on_result = std::move(on_result)] {
    for (;;) {
      {
        MutexLock lock(&mu_);
        if (!stopping_) wake_.WaitWithTimeout(&mu_, options_.poll);
        if (stopping_) return;
      }
      absl::Status st = SyncOnce();
      if (on_result) on_result(st);
    }
  });
}

void RevocationSync::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

bool RevocationSync::healthy() const {
  MutexLock lock(&mu_);
  return healthy_;
}

}  // namespace tether::control
