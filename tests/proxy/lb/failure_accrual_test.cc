#include "proxy/lb/failure_accrual.h"

#include <cstdint>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

using State = FailureAccrual::State;

const absl::Duration kT0 = absl::Hours(1);

uint64_t Zero() { return 0; }  // no jitter: every ejection lasts its full backoff

// Fail sends `n` requests, one after the other, that fail at `now`.
void Fail(FailureAccrual& accrual, int n, absl::Duration now) {
  for (int i = 0; i < n; ++i) accrual.OnOutcome(accrual.OnPick(now), false, now, Zero);
}

TEST(FailureAccrualTest, EjectsAfterConsecutiveFailures) {
  FailureAccrual accrual(FailureAccrual::Options{});  // 5 failures, 1s
  Fail(accrual, 4, kT0);
  EXPECT_EQ(accrual.state(), State::kClosed);
  EXPECT_TRUE(accrual.Available(kT0));
  Fail(accrual, 1, kT0);
  EXPECT_EQ(accrual.state(), State::kOpen);
  EXPECT_EQ(accrual.ejected_until(), kT0 + absl::Seconds(1));
  EXPECT_FALSE(accrual.Available(kT0));
  EXPECT_FALSE(accrual.Available(kT0 + absl::Milliseconds(999)));
  EXPECT_TRUE(accrual.Available(kT0 + absl::Seconds(1)));
}

TEST(FailureAccrualTest, ACancelledTrialLetsTheNextPickBeTheTrial) {
  FailureAccrual accrual(FailureAccrual::Options{});
  Fail(accrual, 5, kT0);
  const absl::Duration later = kT0 + absl::Seconds(1);
  FailureAccrual::Ticket trial = accrual.OnPick(later);
  ASSERT_TRUE(trial.trial);
  EXPECT_FALSE(accrual.Available(later));
  accrual.OnCancel(trial);  // the app went away: says nothing of the backend
  EXPECT_TRUE(accrual.Available(later));
  EXPECT_EQ(accrual.ejections(), 1);
  FailureAccrual::Ticket again = accrual.OnPick(later);
  EXPECT_TRUE(again.trial);
  accrual.OnCancel(trial);  // stale: changes nothing
  EXPECT_EQ(accrual.state(), State::kHalfOpen);
  accrual.OnOutcome(again, true, later, Zero);
  EXPECT_EQ(accrual.state(), State::kClosed);
  // A cancelled ordinary pick counts nothing.
  Fail(accrual, 4, later);
  accrual.OnCancel(accrual.OnPick(later));
  EXPECT_EQ(accrual.consecutive_failures(), 4);
}

TEST(FailureAccrualTest, AnUnreachableBackendIsEjectedAtOnce) {
  FailureAccrual accrual(FailureAccrual::Options{});
  FailureAccrual::Ticket first = accrual.OnPick(kT0);
  FailureAccrual::Ticket second = accrual.OnPick(kT0);
  accrual.OnUnreachable(first, kT0, Zero);
  EXPECT_EQ(accrual.state(), State::kOpen);
  EXPECT_EQ(accrual.ejected_until(), kT0 + absl::Seconds(1));
  accrual.OnUnreachable(second, kT0, Zero);  // picked before the ejection: stale
  EXPECT_EQ(accrual.ejections(), 1);
  // The trial cannot connect either: out for twice as long.
  const absl::Duration later = kT0 + absl::Seconds(1);
  accrual.OnUnreachable(accrual.OnPick(later), later, Zero);
  EXPECT_EQ(accrual.ejected_until(), later + absl::Seconds(2));
}

TEST(FailureAccrualTest, SuccessResetsTheCount) {
  FailureAccrual accrual(FailureAccrual::Options{});
  Fail(accrual, 4, kT0);
  accrual.OnOutcome(accrual.OnPick(kT0), true, kT0, Zero);
  EXPECT_EQ(accrual.consecutive_failures(), 0);
  Fail(accrual, 4, kT0);
  EXPECT_EQ(accrual.state(), State::kClosed);
}

TEST(FailureAccrualTest, HalfOpenAllowsExactlyOneTrial) {
  FailureAccrual accrual(FailureAccrual::Options{});
  Fail(accrual, 5, kT0);
  const absl::Duration t1 = kT0 + absl::Seconds(1);
  ASSERT_TRUE(accrual.Available(t1));
  FailureAccrual::Ticket trial = accrual.OnPick(t1);
  EXPECT_TRUE(trial.trial);
  EXPECT_EQ(accrual.state(), State::kHalfOpen);
  EXPECT_FALSE(accrual.Available(t1));
  EXPECT_FALSE(accrual.Available(t1 + absl::Hours(1)));  // until the trial ends
  // A pick made anyway (a balancer failing open) is no second trial.
  FailureAccrual::Ticket extra = accrual.OnPick(t1);
  EXPECT_FALSE(extra.trial);
  accrual.OnOutcome(extra, true, t1, Zero);
  EXPECT_EQ(accrual.state(), State::kHalfOpen);

  accrual.OnOutcome(trial, true, t1, Zero);
  EXPECT_EQ(accrual.state(), State::kClosed);
  EXPECT_EQ(accrual.ejections(), 0);
  EXPECT_TRUE(accrual.Available(t1));
  // Closed again with the past forgotten: the next ejection is the first.
  Fail(accrual, 5, t1);
  EXPECT_EQ(accrual.ejected_until(), t1 + absl::Seconds(1));
}

TEST(FailureAccrualTest, FailedTrialEjectsForLonger) {
  FailureAccrual accrual(FailureAccrual::Options{});
  Fail(accrual, 5, kT0);
  absl::Duration now = kT0 + absl::Seconds(1);
  FailureAccrual::Ticket trial = accrual.OnPick(now);
  accrual.OnOutcome(trial, false, now, Zero);
  EXPECT_EQ(accrual.state(), State::kOpen);
  EXPECT_EQ(accrual.ejections(), 2);
  EXPECT_EQ(accrual.ejected_until(), now + absl::Seconds(2));
}

// Requirement: the backoff grows (doubling) and stops at eject_max.
TEST(FailureAccrualTest, BackoffGrowsAndCaps) {
  FailureAccrual accrual(FailureAccrual::Options{});
  Fail(accrual, 5, kT0);
  absl::Duration now = kT0;
  const int64_t expected_seconds[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
  for (int64_t seconds : expected_seconds) {
    EXPECT_EQ(accrual.ejected_until() - now, absl::Seconds(seconds));
    now = accrual.ejected_until();
    FailureAccrual::Ticket trial = accrual.OnPick(now);
    ASSERT_TRUE(trial.trial);
    accrual.OnOutcome(trial, false, now, Zero);
  }
  // A very long outage neither overflows nor passes the cap.
  EXPECT_EQ(accrual.Backoff(1000, 0.0), absl::Seconds(60));
  EXPECT_EQ(accrual.Backoff(std::numeric_limits<int>::max(), 0.0), absl::Seconds(60));
}

TEST(FailureAccrualTest, JitterShortensByUpToHalf) {
  FailureAccrual accrual(FailureAccrual::Options{});
  EXPECT_EQ(accrual.Backoff(1, 0.0), absl::Seconds(1));
  EXPECT_EQ(accrual.Backoff(1, 0.5), absl::Milliseconds(750));
  EXPECT_GT(accrual.Backoff(1, 0.999999), absl::Milliseconds(500));
  for (int k = 1; k <= 5; ++k) {  // 1s .. 32s, below the 60s cap
    // The shortest next ejection is at least the longest current one.
    EXPECT_GE(accrual.Backoff(k + 1, 0.999999), accrual.Backoff(k, 0.0) - absl::Microseconds(1));
  }
  // At the cap the jitter stays, so trials remain spread.
  EXPECT_EQ(accrual.Backoff(20, 0.5), absl::Seconds(45));
  // Through OnOutcome, with real random values.
  std::mt19937_64 gen(7);
  auto random = [&gen]() -> uint64_t { return gen(); };
  for (int round = 0; round < 100; ++round) {
    FailureAccrual a(FailureAccrual::Options{});
    for (int i = 0; i < 5; ++i) a.OnOutcome(a.OnPick(kT0), false, kT0, random);
    ASSERT_EQ(a.state(), State::kOpen);
    EXPECT_GE(a.ejected_until() - kT0, absl::Milliseconds(500));
    EXPECT_LE(a.ejected_until() - kT0, absl::Seconds(1));
  }
}

// Outcomes of requests picked before a transition do not count after it.
TEST(FailureAccrualTest, StaleOutcomesDoNotCount) {
  FailureAccrual accrual(FailureAccrual::Options{});
  FailureAccrual::Ticket old_requests[10];
  for (auto& ticket : old_requests) ticket = accrual.OnPick(kT0);
  Fail(accrual, 5, kT0);
  ASSERT_EQ(accrual.state(), State::kOpen);
  // Stragglers from before the ejection neither close nor extend it.
  accrual.OnOutcome(old_requests[0], true, kT0, Zero);
  accrual.OnOutcome(old_requests[1], false, kT0, Zero);
  EXPECT_EQ(accrual.state(), State::kOpen);
  EXPECT_EQ(accrual.ejected_until(), kT0 + absl::Seconds(1));
  // Nor, after the trial closed the breaker, count toward a new ejection.
  const absl::Duration t1 = kT0 + absl::Seconds(1);
  accrual.OnOutcome(accrual.OnPick(t1), true, t1, Zero);
  ASSERT_EQ(accrual.state(), State::kClosed);
  for (int i = 2; i < 10; ++i) accrual.OnOutcome(old_requests[i], false, t1, Zero);
  EXPECT_EQ(accrual.state(), State::kClosed);
  EXPECT_EQ(accrual.consecutive_failures(), 0);
}

TEST(FailureAccrualTest, ZeroFailuresToEjectNeverEjects) {
  FailureAccrual accrual(FailureAccrual::Options{.failures_to_eject = 0});
  Fail(accrual, 1000, kT0);
  EXPECT_EQ(accrual.state(), State::kClosed);
}

}  // namespace
}  // namespace tether::proxy
