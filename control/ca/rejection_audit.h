// RejectionAudit: audit lines for refusals, at most `lines_per_interval` per
// key (an identity, or a peer address before authentication) in each
// `interval`; what is held back is summed up in one line per key and
// interval instead, so a client that is refused in a loop costs the audit
// log a bounded number of lines.
//
//   RejectionAudit rejections(&audit, clock, {.lines_per_interval = 10});
//   rejections.Record("spiffe_id", id, "rejected", {{"reason", "rate_limited"}, ...});
//   // the 11th .. Kth line of the minute for `id` are not written; once the
//   // minute is over (at its next Record or Flush):
//   // {"event":"rejections_suppressed","spiffe_id":id,"suppressed":K-10,
//   //  "since":"...","message":"suppressed K-10 rejection lines"}
//
// Memory: one small entry per key refused in the current interval, at most
// `max_keys`; refusals of further keys share the key "(other)". Flush (the
// control plane's maintenance calls it every second) writes the summaries
// of intervals that are over and forgets their keys. Thread-safe.
#ifndef TETHER_CONTROL_CA_REJECTION_AUDIT_H_
#define TETHER_CONTROL_CA_REJECTION_AUDIT_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sync/mutex.h"
#include "control/ca/audit_log.h"

namespace tether::control {

struct RejectionAuditOptions {
  // Lines written per key and interval; 0 writes none (only the summaries).
  int lines_per_interval = 10;
  absl::Duration interval = absl::Minutes(1);
  size_t max_keys = 10000;
};

inline constexpr char kRejectionsSuppressedEvent[] = "rejections_suppressed";

class RejectionAudit {
 public:
  // `audit` and `clock` must outlive this.
  RejectionAudit(AuditLog* audit, const Clock* clock, RejectionAuditOptions options)
      : audit_(audit), clock_(clock), options_(options) {}

  // Record writes `event` with `fields` plus {key_field: key}, unless `key`
  // has had its lines for this interval.
  void Record(absl::string_view key_field, absl::string_view key, absl::string_view event,
              nlohmann::json fields);
  // Flush writes the summary of every interval that is over.
  void Flush();
  // suppressed counts the lines held back since construction.
  uint64_t suppressed() const;

 private:
  struct Window {
    std::string key_field;
    std::string key;
    absl::Time start;
    int written = 0;
    uint64_t suppressed = 0;
  };
  // Summary returns the summary line's fields for a window with suppressed lines.
  static nlohmann::json Summary(const Window& w);

  AuditLog* const audit_;
  const Clock* const clock_;
  const RejectionAuditOptions options_;
  mutable Mutex mu_;
  // By key_field + "=" + key.
  absl::flat_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
  uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_REJECTION_AUDIT_H_
