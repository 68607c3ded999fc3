// FakeClock: a Clock that only moves when a test says so; Monotonic moves
// with Advance only (Set changes the wall clock, as an operator or NTP
// would). Thread-safe.
#ifndef TETHER_COMMON_TESTING_FAKE_CLOCK_H_
#define TETHER_COMMON_TESTING_FAKE_CLOCK_H_

#include "common/clock.h"
#include "common/sync/mutex.h"

namespace tether {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1800000000)) : now_(start) {}
  absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }
  absl::Duration Monotonic() const override {
    MutexLock lock(&mu_);
    return monotonic_;
  }
  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    now_ += d;
    if (d > absl::ZeroDuration()) monotonic_ += d;
  }
  void Set(absl::Time t) {
    MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Duration monotonic_ ABSL_GUARDED_BY(mu_) = absl::Hours(1);
};

}  // namespace tether

#endif  // TETHER_COMMON_TESTING_FAKE_CLOCK_H_
