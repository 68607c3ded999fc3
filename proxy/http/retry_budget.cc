#include "proxy/http/retry_budget.h"

#include <algorithm>
#include <cmath>

namespace tether::proxy {

RetryBudget::RetryBudget(const policy::RetryBudget& config)
    : config_(config), slot_(std::max(config.ttl, absl::Milliseconds(10)) / kSlots) {}

RetryBudget::Slot& RetryBudget::Current(absl::Duration now) {
  const int64_t index = absl::ToInt64Nanoseconds(now) / absl::ToInt64Nanoseconds(slot_);
  Slot& s = slots_[static_cast<size_t>(((index % kSlots) + kSlots) % kSlots)];
  if (s.index != index) s = Slot{index, 0, 0};
  return s;
}

void RetryBudget::Deposit(absl::Duration now) { ++Current(now).requests; }

int64_t RetryBudget::Room(absl::Duration now) {
  const int64_t newest = Current(now).index;
  int64_t requests = 0;
  int64_t retries = 0;
  for (const Slot& s : slots_) {
    if (s.index < 0 || s.index <= newest - kSlots) continue;  // older than the ttl
    requests += s.requests;
    retries += s.retries;
  }
  const double allowed = config_.ratio * static_cast<double>(requests) +
                         config_.min_per_second * absl::ToDoubleSeconds(slot_ * kSlots);
  return static_cast<int64_t>(std::floor(allowed)) - retries;
}

bool RetryBudget::TryWithdraw(absl::Duration now) {
  if (Room(now) <= 0) return false;
  ++Current(now).retries;
  return true;
}

}  // namespace tether::proxy
