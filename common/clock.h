// Clock: the time source, injected so tests can move time by hand: wall
// time (Now: certificates, logs) and a monotonic reading (Monotonic:
// durations, which must not jump when the wall clock is set).
//
//   RealClock clock;                 // production
//   FakeClock clock(absl::FromUnixSeconds(1700000000));  // tests
//   clock.Advance(absl::Hours(2));
#ifndef TETHER_COMMON_CLOCK_H_
#define TETHER_COMMON_CLOCK_H_

#include <time.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tether {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Monotonic: time since an arbitrary fixed point; never goes back.
  virtual absl::Duration Monotonic() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  absl::Duration Monotonic() const override {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return absl::DurationFromTimespec(ts);
  }
  // Default returns a process-wide RealClock.
  static Clock* Default() {
    static RealClock clock;
    return &clock;
  }
};

}  // namespace tether

#endif  // TETHER_COMMON_CLOCK_H_
