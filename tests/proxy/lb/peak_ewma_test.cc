#include "proxy/lb/peak_ewma.h"

#include <cmath>

#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

constexpr double kMs = 1e6;  // nanoseconds

PeakEwma::Options Defaults() { return PeakEwma::Options{}; }  // 30ms, 10s

const absl::Duration kT0 = absl::Hours(1);

TEST(PeakEwmaTest, StartsAtTheDefault) {
  PeakEwma rtt(Defaults(), kT0);
  EXPECT_FALSE(rtt.measured());
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0), 30 * kMs);
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0 + absl::Hours(5)), 30 * kMs);
}

TEST(PeakEwmaTest, FirstSuccessReplacesTheDefault) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.Observe(kT0, absl::Milliseconds(2));
  EXPECT_TRUE(rtt.measured());
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0), 2 * kMs);
}

TEST(PeakEwmaTest, SampleAboveReplacesAtOnce) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.Observe(kT0, absl::Milliseconds(10));
  rtt.Observe(kT0 + absl::Milliseconds(1), absl::Milliseconds(400));
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0 + absl::Milliseconds(1)), 400 * kMs);
}

TEST(PeakEwmaTest, SampleBelowDecaysInByTimeSinceTheLastSample) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.Observe(kT0, absl::Milliseconds(100));
  // No time since the last sample: weight 1, the estimate stays.
  rtt.Observe(kT0, absl::Milliseconds(10));
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0), 100 * kMs);
  // One decay later: w = e^-1.
  const absl::Duration t1 = kT0 + absl::Seconds(10);
  rtt.Observe(t1, absl::Milliseconds(10));
  const double w = std::exp(-1.0);
  EXPECT_NEAR(rtt.EstimateNanos(t1), 100 * kMs * w + 10 * kMs * (1 - w), 1.0);
}

TEST(PeakEwmaTest, ManyFastSamplesDoNotEraseAPeakFasterThanTheDecay) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.Observe(kT0, absl::Seconds(1));
  absl::Duration t = kT0;
  for (int i = 0; i < 1000; ++i) {  // 1000 samples in one second
    t += absl::Milliseconds(1);
    rtt.Observe(t, absl::Milliseconds(1));
  }
  // 1s * e^-0.1 + 1ms * (1 - e^-0.1), whatever the number of samples.
  EXPECT_NEAR(rtt.EstimateNanos(t), 1000 * kMs * std::exp(-0.1) + kMs * (1 - std::exp(-0.1)), 1e3);
}

// Requirement: reading (what a pick does) must not change the estimate.
// A twin that is never read must see exactly the same values.
TEST(PeakEwmaTest, ReadingDoesNotChangeTheEstimate) {
  PeakEwma read(Defaults(), kT0);
  PeakEwma unread(Defaults(), kT0);
  read.Observe(kT0, absl::Milliseconds(300));
  unread.Observe(kT0, absl::Milliseconds(300));
  for (int i = 0; i < 1000; ++i) read.EstimateNanos(kT0 + absl::Milliseconds(7 * i));
  read.EstimateNanos(kT0 + absl::Hours(1));
  const absl::Duration t1 = kT0 + absl::Seconds(4);
  EXPECT_EQ(read.EstimateNanos(t1), unread.EstimateNanos(t1));
  read.Observe(t1, absl::Milliseconds(20));
  unread.Observe(t1, absl::Milliseconds(20));
  EXPECT_EQ(read.EstimateNanos(t1), unread.EstimateNanos(t1));
  EXPECT_EQ(read.EstimateNanos(t1 + absl::Seconds(3)), unread.EstimateNanos(t1 + absl::Seconds(3)));
}

TEST(PeakEwmaTest, IdleEstimateDriftsTowardTheDefault) {
  PeakEwma slow(Defaults(), kT0);
  slow.Observe(kT0, absl::Seconds(1));
  EXPECT_NEAR(slow.EstimateNanos(kT0 + absl::Seconds(10)), 30 * kMs + 970 * kMs * std::exp(-1.0),
              1.0);
  EXPECT_NEAR(slow.EstimateNanos(kT0 + absl::Minutes(5)), 30 * kMs, 1.0);

  // A backend fast long ago is no longer trusted over the default either.
  PeakEwma fast(Defaults(), kT0);
  fast.Observe(kT0, absl::Milliseconds(1));
  EXPECT_LT(fast.EstimateNanos(kT0 + absl::Seconds(1)), 5 * kMs);
  EXPECT_NEAR(fast.EstimateNanos(kT0 + absl::Minutes(5)), 30 * kMs, 1.0);
}

// Requirement: a failure's latency may raise the estimate, never lower it.
TEST(PeakEwmaTest, FailureLatencyNeverLowers) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.ObserveFailure(kT0, absl::Milliseconds(1));
  EXPECT_FALSE(rtt.measured());
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0), 30 * kMs);

  rtt.Observe(kT0, absl::Milliseconds(100));
  for (int i = 1; i <= 100; ++i) rtt.ObserveFailure(kT0 + absl::Seconds(i), absl::Microseconds(50));
  // Only the drift toward the default, as if the failures never happened.
  EXPECT_NEAR(rtt.EstimateNanos(kT0 + absl::Seconds(100)), 30 * kMs + 70 * kMs * std::exp(-10.0),
              1.0);

  rtt.ObserveFailure(kT0 + absl::Seconds(100), absl::Seconds(2));
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0 + absl::Seconds(100)), 2000 * kMs);
}

// A failure compares with what a pick reads, not with the stored value: a
// fast backend idle long enough reads near the default; a failure between
// the two must not bring the read value down.
TEST(PeakEwmaTest, FailureComparesWithTheDriftedEstimate) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.Observe(kT0, absl::Milliseconds(10));
  const absl::Duration later = kT0 + absl::Seconds(20);
  const double before = rtt.EstimateNanos(later);  // ~27ms
  ASSERT_GT(before, 25 * kMs);
  rtt.ObserveFailure(later, absl::Milliseconds(15));
  EXPECT_EQ(rtt.EstimateNanos(later), before);
  rtt.ObserveFailure(later, absl::Milliseconds(40));
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(later), 40 * kMs);
}

TEST(PeakEwmaTest, WithoutDecayEachSampleReplaces) {
  PeakEwma rtt(
      PeakEwma::Options{.default_rtt = absl::Milliseconds(30), .decay = absl::ZeroDuration()}, kT0);
  rtt.Observe(kT0, absl::Milliseconds(100));
  rtt.Observe(kT0 + absl::Milliseconds(1), absl::Milliseconds(5));
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0 + absl::Milliseconds(1)), 5 * kMs);
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0 + absl::Milliseconds(2)), 30 * kMs);
}

TEST(PeakEwmaTest, NegativeLatencyCountsAsZero) {
  PeakEwma rtt(Defaults(), kT0);
  rtt.Observe(kT0, -absl::Seconds(1));
  EXPECT_DOUBLE_EQ(rtt.EstimateNanos(kT0), 0.0);
}

}  // namespace
}  // namespace tether::proxy
