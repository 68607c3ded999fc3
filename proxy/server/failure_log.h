// FailureLog: a bounded ring of a worker's recent connection failures
// (handshake failures, authorization denials, connects to the app or the
// destination that failed), for the admin endpoint's GET /debug/failures and
// `tetherctl diagnose`.
//
//   FailureLog log(128);
//   log.Add({.time = now, .direction = Direction::kInbound, .peer_address = "10.0.0.7:41822",
//            .reason = "untrusted", .detail = "certificate verify failed"});
//   std::string json = FailuresJson(MergeNewestFirst({log.Snapshot()}), 100);
//
// Each worker owns one and is its only writer; a write happens only when a
// connection fails, never on the relay's path, and takes a lock that only the
// admin endpoint's reader can contend for. When the ring is full the oldest
// record is overwritten. Strings are cut to kMaxFailureFieldBytes.
#ifndef TETHER_PROXY_SERVER_FAILURE_LOG_H_
#define TETHER_PROXY_SERVER_FAILURE_LOG_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "proxy/server/metrics.h"

namespace tether::proxy {

inline constexpr size_t kFailuresPerWorker = 128;
inline constexpr size_t kMaxFailureFieldBytes = 512;

struct FailureRecord {
  absl::Time time;
  Direction direction = Direction::kInbound;
  std::string peer_address;  // who connected to us (inbound) or the app (outbound)
  // The peer's SPIFFE ID: verified when identity_verified, otherwise what its
  // certificate claims (a failed verification), or empty (no certificate).
  std::string peer_identity;
  bool identity_verified = false;
  std::string destination;  // where the connection was going
  // The same word as the metric label: a handshake failure's reason
  // (tether_proxy_tls_handshake_failures_total{reason}) or the connection's
  // outcome (tether_proxy_connections_total{outcome}: denied,
  // connect_failed, ...).
  std::string reason;
  std::string detail;  // the library's or the policy's sentence
};

class FailureLog {
 public:
  explicit FailureLog(size_t capacity = kFailuresPerWorker);
  FailureLog(const FailureLog&) = delete;
  FailureLog& operator=(const FailureLog&) = delete;

  void Add(FailureRecord record);
  // Snapshot copies the records held, oldest first.
  std::vector<FailureRecord> Snapshot() const;
  // total: every record ever added, kept or overwritten.
  uint64_t total() const;

 private:
  const size_t capacity_;
  mutable Mutex mu_;
  std::vector<FailureRecord> ring_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // where the next record goes once full
  uint64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

// MergeNewestFirst merges snapshots (each oldest first) into one list,
// newest first.
std::vector<FailureRecord> MergeNewestFirst(std::vector<std::vector<FailureRecord>> snapshots);

// FailuresJson renders /debug/failures: {"failures":[...]} with at most
// `limit` records, in the order given, and "total" (failures ever recorded).
std::string FailuresJson(const std::vector<FailureRecord>& records, size_t limit, uint64_t total);

// IsFailureOutcome says whether a connection that ended with `outcome` (a
// tether_proxy_connections_total outcome) failed to get through: refused,
// a failed handshake or connect, or denied by policy.
bool IsFailureOutcome(absl::string_view outcome);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_FAILURE_LOG_H_
