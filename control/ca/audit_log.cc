#include "control/ca/audit_log.h"

#include <cstdio>

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tether::control {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                         const Clock* clock,
                                                         AuditLogOptions options) {
  if (options.max_files < 0) {
    return absl::InvalidArgumentError("the number of rotated audit logs kept must be >= 0");
  }
  if (path.empty()) {
    return std::unique_ptr<AuditLog>(new AuditLog(nullptr, false, "", 0, clock, options));
  }
  if (path == "-") {
    return std::unique_ptr<AuditLog>(new AuditLog(stderr, false, "", 0, clock, options));
  }
  FILE* f = fopen(path.c_str(), "ae");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot open audit log ", path));
  // Appending to what an earlier run wrote: its size counts toward rotation.
  struct stat st;
  const uint64_t size = fstat(fileno(f), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return std::unique_ptr<AuditLog>(new AuditLog(f, true, path, size, clock, options));
}

AuditLog::~AuditLog() {
  MutexLock lock(&mu_);
  if (owned_ && out_ != nullptr) fclose(out_);
}

void AuditLog::RotateLocked() {
  if (out_ != nullptr) fclose(out_);
  out_ = nullptr;
  // Oldest first, so that no rename overwrites a file still to be moved.
  const int keep = options_.max_files;
  if (keep == 0) {
    std::remove(path_.c_str());
  } else {
    std::remove(absl::StrCat(path_, ".", keep).c_str());
    for (int i = keep - 1; i >= 1; --i) {
      std::rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
    }
    std::rename(path_.c_str(), absl::StrCat(path_, ".1").c_str());
  }
  ++rotations_;
  size_ = 0;
  out_ = fopen(path_.c_str(), "ae");
}

void AuditLog::Record(absl::string_view event, nlohmann::json fields) {
  {
    MutexLock lock(&mu_);
    if (out_ == nullptr && !owned_) return;  // discarding
  }
  nlohmann::json line = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", clock_->Now(), absl::UTCTimeZone())},
      {"event", std::string(event)}};
  for (auto& [k, v] : fields.items()) line[k] = v;
  // Invalid UTF-8 from a client is replaced, never thrown.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  MutexLock lock(&mu_);
  if (owned_ && options_.max_bytes > 0 && size_ > 0 && size_ + text.size() > options_.max_bytes) {
    RotateLocked();
  }
  if (owned_ && out_ == nullptr) out_ = fopen(path_.c_str(), "ae");  // an earlier reopen failed
  if (out_ == nullptr) {
    ++write_errors_;
    return;
  }
  if (fwrite(text.data(), 1, text.size(), out_) != text.size() || fflush(out_) != 0) {
    ++write_errors_;
    return;
  }
  size_ += text.size();
}

uint64_t AuditLog::write_errors() const {
  MutexLock lock(&mu_);
  return write_errors_;
}

uint64_t AuditLog::rotations() const {
  MutexLock lock(&mu_);
  return rotations_;
}

}  // namespace tether::control
