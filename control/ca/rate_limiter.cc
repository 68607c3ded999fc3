#include "control/ca/rate_limiter.h"

#include <algorithm>

namespace tether::control {

bool RateLimiter::Allow(absl::string_view key) {
  MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  const absl::Duration refill = absl::Seconds(burst_ / per_second_);
  if (now - last_sweep_ > refill) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      if (now - it->second.last >= refill) {
        buckets_.erase(it++);
      } else {
        ++it;
      }
    }
    last_sweep_ = now;
  }
  auto [it, inserted] = buckets_.try_emplace(std::string(key), Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted) {
    double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.last));
    b.tokens = std::min(burst_, b.tokens + elapsed * per_second_);
    b.last = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace tether::control
