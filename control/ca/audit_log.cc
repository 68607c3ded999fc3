#include "control/ca/audit_log.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tether::control {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         const Clock* clock) {
  if (path.empty()) return std::unique_ptr<AuditLog>(new AuditLog(nullptr, false, clock));
  if (path == "-") return std::unique_ptr<AuditLog>(new AuditLog(stderr, false, clock));
  FILE* f = fopen(path.c_str(), "ae");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot open audit log ", path));
  return std::unique_ptr<AuditLog>(new AuditLog(f, true, clock));
}

AuditLog::~AuditLog() {
  if (owned_) fclose(out_);
}

void AuditLog::Record(absl::string_view event, nlohmann::json fields) {
  if (out_ == nullptr) return;
  nlohmann::json line = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", clock_->Now(), absl::UTCTimeZone())},
      {"event", std::string(event)}};
  for (auto& [k, v] : fields.items()) line[k] = v;
  // Invalid UTF-8 from a client is replaced, never thrown.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  MutexLock lock(&mu_);
  if (fwrite(text.data(), 1, text.size(), out_) != text.size() || fflush(out_) != 0) {
    ++write_errors_;
  }
}

uint64_t AuditLog::write_errors() const {
  MutexLock lock(&mu_);
  return write_errors_;
}

}  // namespace tether::control
