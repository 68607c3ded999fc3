// AuditLog: one JSON object per line for every issuance, rejection,
// revocation, token mint and CA rotation.
//
//   AuditLog audit(*AuditLog::Open("/var/lib/tether/audit.jsonl"));  // or "-" for stderr
//   audit.Record("issued", {{"spiffe_id", id}, {"serial", serial}});
//   // {"time":"2026-11-23T10:00:00Z","event":"issued","spiffe_id":...,"serial":...}
//
// Write errors are counted, never thrown; the CA keeps serving. Thread-safe.
#ifndef TETHER_CONTROL_CA_AUDIT_LOG_H_
#define TETHER_CONTROL_CA_AUDIT_LOG_H_

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/sync/mutex.h"

namespace tether::control {

class AuditLog {
 public:
  // Open appends to `path`; "-" writes to stderr; "" discards.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        const Clock* clock);
  ~AuditLog();

  void Record(absl::string_view event, nlohmann::json fields);
  uint64_t write_errors() const;

 private:
  AuditLog(FILE* out, bool owned, const Clock* clock) : out_(out), owned_(owned), clock_(clock) {}
  mutable Mutex mu_;
  FILE* const out_;
  const bool owned_;
  const Clock* const clock_;
  uint64_t write_errors_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_AUDIT_LOG_H_
