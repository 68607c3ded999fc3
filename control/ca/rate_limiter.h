// RateLimiter: a token bucket per key (here: per identity).
//
//   RateLimiter limiter(clock, /*per_minute=*/30, /*burst=*/10);
//   if (!limiter.Allow(spiffe_id)) return ResourceExhausted(...);
//
// Keys idle long enough to have a full bucket are forgotten, so memory stays
// bounded by the number of recently active keys. Thread-safe.
#ifndef TETHER_CONTROL_CA_RATE_LIMITER_H_
#define TETHER_CONTROL_CA_RATE_LIMITER_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "common/clock.h"
#include "common/sync/mutex.h"

namespace tether::control {

class RateLimiter {
 public:
  RateLimiter(const Clock* clock, double per_minute, double burst)
      : clock_(clock), per_second_(per_minute / 60.0), burst_(burst) {}

  // Allow takes one token for `key`; false when its bucket is empty.
  bool Allow(absl::string_view key);

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  const Clock* const clock_;
  const double per_second_;
  const double burst_;
  Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_RATE_LIMITER_H_
