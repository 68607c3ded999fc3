// CertificateRegistry: what the CA has issued and what it has revoked.
//
//   registry->RecordIssued({serial, spiffe_id, not_before, not_after, issuer_serial});
//   registry->RevokeSerial("9f3a...");           // pushes to every proxy
//   std::shared_ptr<const RevocationSnapshot> r = registry->Revocations();
//
// Issued certificates are appended to <state_dir>/issued.jsonl (compacted at
// start, dropping expired ones); revocations live in revocations.json
// (revocation_state.h). A revoked serial is forgotten once its certificate
// has expired; a revoked identity stays. Replicas that share one list
// (revocation_sync.h) read it with RevocationEntries and hand back the
// merged list with Adopt. Thread-safe.
#ifndef TETHER_CONTROL_CA_REGISTRY_H_
#define TETHER_CONTROL_CA_REGISTRY_H_

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/verify.h"
#include "common/sync/mutex.h"
#include "control/ca/revocation_state.h"

namespace tether::control {

struct IssuedRecord {
  std::string serial_hex;
  std::string spiffe_id;
  absl::Time not_before;
  absl::Time not_after;
  std::string issuer_serial_hex;
  // The workload instance whose stream asked for it (authority.h); a
  // renewal stream authenticated by this certificate speaks for the same
  // one. Empty in records written before it was kept.
  std::string instance;
};

struct RevocationSnapshot {
  pki::Revocations revoked;
  uint64_t version = 0;
};

class CertificateRegistry {
 public:
  // Open loads the registry from `state_dir` (empty: nothing persisted).
  static absl::StatusOr<std::unique_ptr<CertificateRegistry>> Open(const std::string& state_dir,
                                                                   const Clock* clock);
  ~CertificateRegistry();

  absl::Status RecordIssued(const IssuedRecord& record);

  // Unexpired certificates, of `spiffe_id` only when non-empty, newest first.
  std::vector<IssuedRecord> List(absl::string_view spiffe_id = "") const;
  // Find: the unexpired certificate with `serial_hex`, if this CA issued it.
  std::optional<IssuedRecord> Find(absl::string_view serial_hex) const;

  // RevokeSerial: NotFound if this CA issued no unexpired certificate with
  // that serial (unless AcceptUnknownSerials), InvalidArgument if it is not
  // hex. RevokeIdentity: InvalidArgument for a malformed SPIFFE ID. Both
  // return the new revocation version and run the change callback.
  absl::StatusOr<uint64_t> RevokeSerial(absl::string_view serial_hex);
  absl::StatusOr<uint64_t> RevokeIdentity(absl::string_view spiffe_id);

  // AcceptUnknownSerials: RevokeSerial also takes serials this CA did not
  // record issuing (another replica of the control plane may have), kept
  // for `max_lifetime`, the longest a certificate of this CA lives.
  void AcceptUnknownSerials(absl::Duration max_lifetime);

  // RevocationEntries: the list as it stands, with its version.
  RevocationState RevocationEntries() const;
  // Adopt replaces the list with `state` (a merge that holds every entry of
  // RevocationEntries, see RevocationSync), persists it, and runs the change
  // callback when the entries or the version changed. FailedPrecondition,
  // changing nothing, when `state` is older than the list held or drops one
  // of its unexpired entries.
  absl::Status Adopt(const RevocationState& state);

  std::shared_ptr<const RevocationSnapshot> Revocations() const;
  bool IsRevoked(absl::string_view serial_hex) const;

  // Prune forgets expired certificates and revoked serials that expired.
  // Returns whether the revocation list changed (then the callback ran).
  bool Prune();

  void SetOnChange(std::function<void()> callback);

 private:
  CertificateRegistry(std::string state_dir, const Clock* clock)
      : state_dir_(std::move(state_dir)), clock_(clock) {}
  absl::Status Load();
  absl::Status LoadRevocationsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SaveRevocationsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ChangeRevocationsLocked applies `change` to a copy of the list, numbers
  // it, persists it, then makes it current: on a failure nothing changed.
  absl::Status ChangeRevocationsLocked(const std::function<void(RevocationState&)>& change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RewriteIssuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyChange();

  const std::string state_dir_;
  const Clock* const clock_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, IssuedRecord> issued_ ABSL_GUARDED_BY(mu_);
  RevocationState revoked_ ABSL_GUARDED_BY(mu_);
  absl::Duration unknown_serial_lifetime_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::shared_ptr<const RevocationSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  FILE* issued_log_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::function<void()> on_change_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_REGISTRY_H_
