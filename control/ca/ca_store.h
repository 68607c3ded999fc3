// CaStore: the mesh CA's signing material and trust bundle, on disk.
//
//   CaOptions opts{.state_dir = "/var/lib/tether", .trust_domain = "mesh.local"};
//   auto store = CaStore::Open(opts, clock);            // creates a root on first start
//   std::shared_ptr<const CaSnapshot> ca = (*store)->Current();
//   ca->issuer->SignLeaf(...);  ca->bundle.ToPem();
//
// Two modes:
//  - Self-managed (default): on first start with an empty state dir, a
//    self-signed ECDSA P-256 root valid for `root_ttl` is generated; its key
//    is written with mode 0600 under <state_dir>/ca/. Later starts reuse it.
//    Rotate() makes a new root that signs from then on; the old root stays in
//    the trust bundle for the overlap period, then DropExpiredRoots() removes it.
//    Only the signing root's key is kept: Rotate removes the old one (durably),
//    and Open removes any other *.key in <state_dir>/ca/ (what a crash in the
//    middle of a rotation or of the first start leaves), logging each.
//  - Operator's CA (`plugged_dir`, the layout of Istio's cacerts Secret):
//    ca-cert.pem and ca-key.pem sign, cert-chain.pem holds ca-cert and the
//    intermediates above it, root-cert.pem is the trust bundle. Nothing is
//    written; any replica given the same files signs the same way. Rotation is
//    the operator's (replace the files and restart).
//
// Snapshots are immutable; a change swaps in a new one and calls the change
// callback. Thread-safe.
#ifndef TETHER_CONTROL_CA_CA_STORE_H_
#define TETHER_CONTROL_CA_CA_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/issuer.h"
#include "common/pki/verify.h"
#include "common/sync/mutex.h"

namespace tether::control {

struct CaOptions {
  std::string state_dir;
  std::string trust_domain;
  std::string plugged_dir;
  absl::Duration root_ttl = absl::Hours(24 * 365 * 10);
};

struct CaSnapshot {
  std::shared_ptr<const pki::Issuer> issuer;
  // Every root proxies must trust, the signing one first.
  pki::TrustBundle bundle;
  // Increases with every change of the bundle or the signer.
  uint64_t version = 0;
  std::string trust_domain;
  // Serial of the root at the top of the signer's chain.
  std::string active_root_serial;
};

struct RotateResult {
  std::string new_root_serial;
  std::string old_root_serial;
  absl::Time old_root_dropped;
};

class CaStore {
 public:
  static absl::StatusOr<std::unique_ptr<CaStore>> Open(const CaOptions& options,
                                                       const Clock* clock);

  std::shared_ptr<const CaSnapshot> Current() const;

  // Rotate makes a new self-signed root that signs from now on; the current
  // root stays trusted for `overlap`. FailedPrecondition for an operator's CA.
  absl::StatusOr<RotateResult> Rotate(absl::Duration overlap);

  // DropExpiredRoots removes roots whose overlap period has ended. Returns
  // whether the bundle changed.
  absl::StatusOr<bool> DropExpiredRoots();

  // SetOnChange registers the one callback run (outside the lock) after every
  // change of the snapshot.
  void SetOnChange(std::function<void()> callback);

  bool operator_managed() const { return !options_.plugged_dir.empty(); }

  // removed_orphan_keys: the key files Open removed because the saved state
  // does not name them as the signing root's (for the audit log).
  const std::vector<std::string>& removed_orphan_keys() const { return removed_orphan_keys_; }

 private:
  struct Root {
    std::string serial;
    absl::Time drop_after = absl::InfiniteFuture();
  };
  CaStore(CaOptions options, const Clock* clock) : options_(std::move(options)), clock_(clock) {}
  absl::Status LoadPlugged();
  absl::Status LoadOrCreateSelfManaged();
  absl::Status CreateRootLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SaveStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RemoveOrphanKeysLocked removes every key file in CaDir() but the signing
  // root's, and the temporary files a key write cut short leaves.
  absl::Status RemoveOrphanKeysLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string CaDir() const { return options_.state_dir + "/ca"; }
  void NotifyChange();

  const CaOptions options_;
  const Clock* const clock_;
  mutable Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Root> roots_ ABSL_GUARDED_BY(mu_);  // self-managed: newest first
  std::shared_ptr<const CaSnapshot> current_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_change_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> removed_orphan_keys_;  // set by Open only
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_CA_STORE_H_
