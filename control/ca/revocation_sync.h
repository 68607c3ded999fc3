// RevocationSync: keeps the revocation list of this control plane and the
// one its replicas share in step, so that every replica refuses and pushes
// the same revocations and a restarted replica forgets none of them.
//
//   ConfigMapRevocations shared(api, "tether-system", "tether-revocations");
//   RevocationSync sync(registry, &shared, clock, {.poll = absl::Seconds(1)});
//   TETHER_RETURN_IF_ERROR(sync.SyncOnce());     // at start, before serving
//   sync.Start();                                // then every poll
//   ... registry->RevokeSerial(s); sync.SyncOnce();  // store it at once
//
// A pass reads the shared list, merges it with the registry's
// (UnionOfRevocations: nothing is lost, revocations only accumulate), writes
// the merge back when the shared list lacks an entry or is numbered lower
// (conditionally on the revision read: when another replica wrote first,
// the pass reads and merges again, up to max_conflicts times), and hands the
// merge to the registry (Adopt), which pushes it to proxies when it changed.
// A merge that differs from both lists gets a new version
// (NextRevocationVersion), so the version a proxy holds only grows, and two
// replicas that agree on the entries agree on the version.
//
// A shared list that cannot be parsed is never overwritten: the pass fails
// with DataLoss until an operator repairs or deletes it (the replicas then
// write back what they hold). Thread-safe; passes run one at a time.
#ifndef TETHER_CONTROL_CA_REVOCATION_SYNC_H_
#define TETHER_CONTROL_CA_REVOCATION_SYNC_H_

#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sync/mutex.h"
#include "control/ca/registry.h"
#include "control/ca/revocation_state.h"

namespace tether::control {

// SharedRevocations: where the replicas of a control plane keep one list.
class SharedRevocations {
 public:
  struct Stored {
    RevocationState state;
    std::string revision;  // opaque; Write's precondition
  };
  virtual ~SharedRevocations() = default;

  // Read: nullopt when no list is stored yet; Unavailable when the store
  // cannot be reached; DataLoss when what is stored is not a list.
  virtual absl::StatusOr<std::optional<Stored>> Read() = 0;
  // Write stores `state` if the stored revision is still `revision`
  // (nullopt: if none is stored) and returns the new revision: Aborted when
  // another writer came first, Unavailable when the store cannot be reached.
  virtual absl::StatusOr<std::string> Write(const RevocationState& state,
                                            const std::optional<std::string>& revision) = 0;
  // Describe names the store for operators: "ConfigMap tether-system/...".
  virtual std::string Describe() const = 0;
};

struct RevocationSyncOptions {
  absl::Duration poll = absl::Seconds(1);
  int max_conflicts = 8;
};

class RevocationSync {
 public:
  RevocationSync(CertificateRegistry* registry, SharedRevocations* shared, const Clock* clock,
                 RevocationSyncOptions options = {});
  ~RevocationSync();
  RevocationSync(const RevocationSync&) = delete;
  RevocationSync& operator=(const RevocationSync&) = delete;

  // SyncOnce runs one pass (above). Errors name the store.
  absl::Status SyncOnce();

  // Start runs a pass every `poll` on a thread of its own until Stop (also
  // called by the destructor). `on_result` (may be null) hears every
  // pass's outcome, from that thread.
  void Start(std::function<void(const absl::Status&)> on_result = nullptr);
  void Stop();

  // The store's name, and whether the last pass succeeded.
  std::string Describe() const { return shared_->Describe(); }
  bool healthy() const;

 private:
  absl::Status PassLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pass_mu_);

  CertificateRegistry* const registry_;
  SharedRevocations* const shared_;
  const Clock* const clock_;
  const RevocationSyncOptions options_;

  Mutex pass_mu_;  // one pass at a time
  mutable Mutex mu_;
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar wake_;
  std::thread thread_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_REVOCATION_SYNC_H_
