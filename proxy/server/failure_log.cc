#include "proxy/server/failure_log.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

namespace tether::proxy {
namespace {

void Cut(std::string* s) {
  if (s->size() > kMaxFailureFieldBytes) s->resize(kMaxFailureFieldBytes);
}

}  // namespace

FailureLog::FailureLog(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void FailureLog::Add(FailureRecord record) {
  Cut(&record.peer_address);
  Cut(&record.peer_identity);
  Cut(&record.destination);
  Cut(&record.reason);
  Cut(&record.detail);
  MutexLock lock(&mu_);
  ++total_;
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(record));
    return;
  }
  ring_[next_] = std::move(record);
  next_ = (next_ + 1) % capacity_;
}

std::vector<FailureRecord> FailureLog::Snapshot() const {
  MutexLock lock(&mu_);
  std::vector<FailureRecord> out;
  out.reserve(ring_.size());
  for (size_t i = 0; i < ring_.size(); ++i) out.push_back(ring_[(next_ + i) % ring_.size()]);
  return out;
}

uint64_t FailureLog::total() const {
  MutexLock lock(&mu_);
  return total_;
}

std::vector<FailureRecord> MergeNewestFirst(std::vector<std::vector<FailureRecord>> snapshots) {
  std::vector<FailureRecord> all;
  for (auto& s : snapshots) {
    for (auto& r : s) all.push_back(std::move(r));
  }
  // Stable: records of one worker with equal times keep their order (reversed below).
  std::stable_sort(all.begin(), all.end(),
                   [](const FailureRecord& a, const FailureRecord& b) { return a.time < b.time; });
  std::reverse(all.begin(), all.end());
  return all;
}

std::string FailuresJson(const std::vector<FailureRecord>& records, size_t limit, uint64_t total) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < records.size() && i < limit; ++i) {
    const FailureRecord& r = records[i];
    list.push_back({
        {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.time, absl::UTCTimeZone())},
        {"direction", std::string(DirectionName(r.direction))},
        {"peer_address", r.peer_address},
        {"peer_identity", r.peer_identity},
        {"peer_identity_verified", r.identity_verified},
        {"destination", r.destination},
        {"reason", r.reason},
        {"detail", r.detail},
    });
  }
  nlohmann::json j = {{"failures", std::move(list)}, {"total", total}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool IsFailureOutcome(absl::string_view outcome) {
  static constexpr absl::string_view kFailures[] = {
      "connect_failed",   "connect_timeout",      "handshake_failed",        "handshake_timeout",
      "denied",           "no_certificate",       "no_original_destination", "over_limit",
      "closed_by_policy", "own_listener",         "not_pod_address",         "unknown_destination",
      "no_policy",        "closed_by_revocation",
  };
  return std::find(std::begin(kFailures), std::end(kFailures), outcome) != std::end(kFailures);
}

}  // namespace tether::proxy
