// AuditLog: one JSON object per line for every issuance, rejection,
// revocation, token mint and CA rotation.
//
//   AuditLog audit(*AuditLog::Open("/var/lib/tether/audit.jsonl", clock,
//                                  {.max_bytes = 64 << 20, .max_files = 5}));  // "-": stderr
//   audit.Record("issued", {{"spiffe_id", id}, {"serial", serial}});
//   // {"time":"2026-11-23T10:00:00Z","event":"issued","spiffe_id":...,"serial":...}
//
// A file log rotates by size: when a line would take the file past
// `max_bytes`, audit.jsonl becomes audit.jsonl.1 (.1 becomes .2, ..., the
// oldest beyond `max_files` is deleted) and a new audit.jsonl is started, so
// the log's disk use stays under about (max_files + 1) * max_bytes whatever a
// client makes the CA write. A line is never split across files.
//
// Write errors (and a rotation that cannot reopen the file) are counted,
// never thrown; the CA keeps serving, and the next line tries to reopen.
// Thread-safe.
#ifndef TETHER_CONTROL_CA_AUDIT_LOG_H_
#define TETHER_CONTROL_CA_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/sync/mutex.h"

namespace tether::control {

struct AuditLogOptions {
  // Rotate before the file would exceed this many bytes; 0: never rotate.
  uint64_t max_bytes = uint64_t{64} << 20;
  // Rotated files kept (audit.jsonl.1 ... .N); 0: the full file is deleted.
  int max_files = 5;
};

class AuditLog {
 public:
  // Open appends to `path`; "-" writes to stderr; "" discards. Only a file
  // rotates. InvalidArgument for a negative max_files, Internal when the file
  // cannot be opened.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path, const Clock* clock,
                                                        AuditLogOptions options = {});
  ~AuditLog();

  void Record(absl::string_view event, nlohmann::json fields);
  uint64_t write_errors() const;
  // rotations counts the rotations done since Open.
  uint64_t rotations() const;

 private:
  AuditLog(FILE* out, bool owned, std::string path, uint64_t size, const Clock* clock,
           AuditLogOptions options)
      : out_(out),
        owned_(owned),
        path_(std::move(path)),
        size_(size),
        clock_(clock),
        options_(options) {}
  // RotateLocked shifts the files by one and reopens `path_` empty.
  void RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  FILE* out_ ABSL_GUARDED_BY(mu_);
  const bool owned_;
  const std::string path_;  // "" unless owned_
  uint64_t size_ ABSL_GUARDED_BY(mu_);
  const Clock* const clock_;
  const AuditLogOptions options_;
  uint64_t write_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rotations_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_AUDIT_LOG_H_
