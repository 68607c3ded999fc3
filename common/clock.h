// Clock: the time source, injected so tests can move time by hand.
//
//   RealClock clock;                 // production
//   FakeClock clock(absl::FromUnixSeconds(1700000000));  // tests
//   clock.Advance(absl::Hours(2));
#ifndef TETHER_COMMON_CLOCK_H_
#define TETHER_COMMON_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tether {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // Default returns a process-wide RealClock.
  static Clock* Default() {
    static RealClock clock;
    return &clock;
  }
};

}  // namespace tether

#endif  // TETHER_COMMON_CLOCK_H_
