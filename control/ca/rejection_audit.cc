#include "control/ca/rejection_audit.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tether::control {

nlohmann::json RejectionAudit::Summary(const Window& w) {
  return {{w.key_field, w.key},
          {"suppressed", w.suppressed},
          {"since", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", w.start, absl::UTCTimeZone())},
          {"message", absl::StrCat("suppressed ", w.suppressed, " rejection lines")}};
}

void RejectionAudit::Record(absl::string_view key_field, absl::string_view key,
                            absl::string_view event, nlohmann::json fields) {
  const absl::Time now = clock_->Now();
  std::vector<nlohmann::json> summaries;
  bool write = false;
  {
    MutexLock lock(&mu_);
    std::string map_key = absl::StrCat(key_field, "=", key);
    auto it = windows_.find(map_key);
    if (it == windows_.end() && windows_.size() >= options_.max_keys) {
      // Make room from intervals that are over before lumping keys together.
      for (auto w = windows_.begin(); w != windows_.end();) {
        if (now - w->second.start >= options_.interval) {
          if (w->second.suppressed > 0) summaries.push_back(Summary(w->second));
          windows_.erase(w++);
        } else {
          ++w;
        }
      }
      if (windows_.size() >= options_.max_keys) {
        key = "(other)";
        map_key = absl::StrCat(key_field, "=", key);
      }
      it = windows_.find(map_key);
    }
    if (it == windows_.end()) {
      it = windows_.emplace(map_key, Window{std::string(key_field), std::string(key), now}).first;
    }
    Window& w = it->second;
    if (now - w.start >= options_.interval) {
      if (w.suppressed > 0) summaries.push_back(Summary(w));
      w.start = now;
      w.written = 0;
      w.suppressed = 0;
    }
    if (w.written < options_.lines_per_interval) {
      ++w.written;
      write = true;
    } else {
      ++w.suppressed;
      ++suppressed_;
    }
  }
  // Written outside mu_: the audit log has its own lock, and may rotate.
  for (auto& s : summaries) audit_->Record(kRejectionsSuppressedEvent, std::move(s));
  if (write) {
    fields[std::string(key_field)] = std::string(key);
    audit_->Record(event, std::move(fields));
  }
}

void RejectionAudit::Flush() {
  const absl::Time now = clock_->Now();
  std::vector<nlohmann::json> summaries;
  {
    MutexLock lock(&mu_);
    for (auto w = windows_.begin(); w != windows_.end();) {
      if (now - w->second.start >= options_.interval) {
        if (w->second.suppressed > 0) summaries.push_back(Summary(w->second));
        windows_.erase(w++);
      } else {
        ++w;
      }
    }
  }
  for (auto& s : summaries) audit_->Record(kRejectionsSuppressedEvent, std::move(s));
}

uint64_t RejectionAudit::suppressed() const {
  MutexLock lock(&mu_);
  return suppressed_;
}

}  // namespace tether::control
