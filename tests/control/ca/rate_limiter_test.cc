#include "control/ca/rate_limiter.h"

#include <gtest/gtest.h>

#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

TEST(RateLimiter, BurstThenSustainedRatePerKey) {
  FakeClock clock;
  RateLimiter limiter(&clock, /*per_minute=*/6, /*burst=*/3);
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_FALSE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("b"));  // keys are independent
  clock.Advance(absl::Seconds(9));
  EXPECT_FALSE(limiter.Allow("a"));
  clock.Advance(absl::Seconds(1));  // 10 s at 6/min = one token
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_FALSE(limiter.Allow("a"));
  clock.Advance(absl::Hours(1));  // refills to the burst, not beyond
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_FALSE(limiter.Allow("a"));
}

TEST(RateLimiter, ClockGoingBackwardsGrantsNothingExtra) {
  FakeClock clock;
  RateLimiter limiter(&clock, 60, 1);
  EXPECT_TRUE(limiter.Allow("a"));
  clock.Advance(-absl::Hours(1));
  EXPECT_FALSE(limiter.Allow("a"));
}

}  // namespace
}  // namespace tether::control
