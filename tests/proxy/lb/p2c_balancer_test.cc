#include "proxy/lb/p2c_balancer.h"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/testing/fake_clock.h"
#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

using Result = P2cBalancer::Result;
using State = FailureAccrual::State;

SocketAddress Addr(const char* host_port) { return *SocketAddress::Parse(host_port); }

const SocketAddress kA = Addr("10.0.0.1:80");
const SocketAddress kB = Addr("10.0.0.2:80");
const SocketAddress kC = Addr("[2001:db8::3]:80");

// TestRandom: what the balancer draws: scripted values first, then a fixed
// value if one is set, else a seeded generator. A pick with n backends draws
// `v % n` for the first candidate and `v % (n - 1)` (skipping the first) for
// the second; an ejection draws its jitter (0: none).
class TestRandom {
 public:
  uint64_t operator()() {
    if (!script_.empty()) {
      uint64_t v = script_.front();
      script_.pop_front();
      return v;
    }
    return fixed_ ? *fixed_ : gen_();
  }
  void Script(std::vector<uint64_t> values) { script_.assign(values.begin(), values.end()); }
  void Fix(uint64_t value) { fixed_ = value; }
  void Unfix() { fixed_.reset(); }

 private:
  std::deque<uint64_t> script_;
  std::optional<uint64_t> fixed_;
  std::mt19937_64 gen_{20240601};
};

class P2cBalancerTest : public ::testing::Test {
 protected:
  explicit P2cBalancerTest(P2cBalancer::Options options = {})
      : lb_(clock_, options, [this] { return random_(); }) {}

  P2cBalancer::Pick MustPick() {
    std::optional<P2cBalancer::Pick> pick = lb_.PickBackend();
    EXPECT_TRUE(pick.has_value());
    return pick.value_or(P2cBalancer::Pick{});
  }

  void Done(const P2cBalancer::Pick& pick, Result result, absl::Duration latency) {
    lb_.Done(pick, {.result = result, .latency = latency});
  }

  // Prime gives each backend (all still at default_rtt, nothing in flight)
  // its first sample: backend i is drawn first on the i-th pick and wins the
  // tie (or beats a backend already in flight), then all are Done at once.
  void Prime(const std::vector<absl::Duration>& latencies) {
    std::vector<uint64_t> script;
    for (size_t i = 0; i < latencies.size(); ++i) script.insert(script.end(), {i, 0});
    random_.Script(script);
    std::vector<P2cBalancer::Pick> picks;
    for (size_t i = 0; i < latencies.size(); ++i) picks.push_back(MustPick());
    for (size_t i = 0; i < latencies.size(); ++i) Done(picks[i], Result::kSuccess, latencies[i]);
  }

  std::optional<P2cBalancer::BackendView> View(const SocketAddress& address) {
    for (const P2cBalancer::BackendView& view : lb_.Snapshot()) {
      if (view.address == address) return view;
    }
    return std::nullopt;
  }

  FakeClock clock_;
  TestRandom random_;
  P2cBalancer lb_;
};

TEST_F(P2cBalancerTest, EmptySetGivesNone) {
  EXPECT_FALSE(lb_.PickBackend().has_value());
  lb_.SetBackends({kA});
  EXPECT_TRUE(lb_.PickBackend().has_value());
  lb_.SetBackends({});
  EXPECT_FALSE(lb_.PickBackend().has_value());
  EXPECT_EQ(lb_.size(), 0u);
}

TEST_F(P2cBalancerTest, OneBackendIsAlwaysPicked) {
  lb_.SetBackends({kA});
  for (int i = 0; i < 100; ++i) {
    P2cBalancer::Pick pick = MustPick();
    EXPECT_EQ(pick.address, kA);
    EXPECT_EQ(pick.key, KeyOf(kA));
    EXPECT_EQ(pick.start, clock_.Monotonic());
    Done(pick, Result::kSuccess, absl::Milliseconds(5));
  }
}

TEST_F(P2cBalancerTest, ACancelledPickOnlyEndsItsRequest) {
  lb_.SetBackends({kA});
  Prime({absl::Milliseconds(5)});
  const absl::Duration before = View(kA)->rtt;
  P2cBalancer::Pick pick = MustPick();
  EXPECT_EQ(View(kA)->pending, 1u);
  clock_.Advance(absl::Seconds(3));  // a long wait the backend is not to blame for
  lb_.Done(pick, {.result = Result::kCancelled});
  EXPECT_EQ(View(kA)->pending, 0u);
  EXPECT_EQ(View(kA)->consecutive_failures, 0);
  // No sample: the estimate only drifted with age, it did not take 3 s.
  EXPECT_LT(View(kA)->rtt, absl::Milliseconds(30));
  EXPECT_GE(View(kA)->rtt, before);
}

TEST_F(P2cBalancerTest, DuplicatesCountOnce) {
  lb_.SetBackends({kA, kA, kB, kA});
  EXPECT_EQ(lb_.size(), 2u);
  EXPECT_EQ(lb_.Snapshot().size(), 2u);
}

// Requirement 5: the two candidates are distinct. Drawing 0 every time, the
// candidates are the first and the second backend; if the second draw could
// repeat the first, the slow first backend would be picked.
TEST_F(P2cBalancerTest, TheTwoCandidatesAreDistinct) {
  lb_.SetBackends({kA, kB, kC});
  Prime({absl::Seconds(1), absl::Milliseconds(30), absl::Milliseconds(30)});
  random_.Fix(0);
  for (int i = 0; i < 10; ++i) {
    P2cBalancer::Pick pick = MustPick();
    EXPECT_EQ(pick.address, kB);
    Done(pick, Result::kSuccess, absl::Milliseconds(30));
  }
}

// With picks Done at once (no load), the most expensive of three backends
// can only win if it is drawn twice: never.
TEST_F(P2cBalancerTest, TheSlowestOfThreeIsNeverPickedWithoutLoad) {
  lb_.SetBackends({kA, kB, kC});
  Prime({absl::Milliseconds(10), absl::Seconds(1), absl::Milliseconds(20)});
  std::map<std::string, int> picks;
  for (int i = 0; i < 1000; ++i) {
    P2cBalancer::Pick pick = MustPick();
    ++picks[pick.address.ToString()];
    Done(pick, Result::kSuccess, pick.address == kB ? absl::Seconds(1) : absl::Milliseconds(10));
    clock_.Advance(absl::Milliseconds(1));
  }
  EXPECT_EQ(picks[kB.ToString()], 0);
  EXPECT_GT(picks[kA.ToString()], 500);  // ~2/3: whenever it is drawn
}

TEST_F(P2cBalancerTest, FavoursTheFastBackend) {
  lb_.SetBackends({kA, kB});
  Prime({absl::Milliseconds(100), absl::Milliseconds(5)});
  int fast = 0;
  for (int i = 0; i < 1000; ++i) {
    P2cBalancer::Pick pick = MustPick();
    const bool is_fast = pick.address == kB;
    fast += is_fast ? 1 : 0;
    Done(pick, Result::kSuccess, is_fast ? absl::Milliseconds(5) : absl::Milliseconds(100));
    clock_.Advance(absl::Milliseconds(1));
  }
  EXPECT_GT(fast, 900);
}

// Requirement 1: cost = estimate * (pending + 1). B is 2.5 times slower: A
// takes the first two requests in flight (10, 20 < 25), B the third (30 > 25).
TEST_F(P2cBalancerTest, RequestsInFlightRaiseTheCost) {
  lb_.SetBackends({kA, kB});
  Prime({absl::Milliseconds(10), absl::Milliseconds(25)});
  std::vector<P2cBalancer::Pick> in_flight;
  for (int i = 0; i < 3; ++i) in_flight.push_back(MustPick());
  EXPECT_EQ(in_flight[0].address, kA);
  EXPECT_EQ(in_flight[1].address, kA);
  EXPECT_EQ(in_flight[2].address, kB);
  EXPECT_EQ(View(kA)->pending, 2u);
  EXPECT_EQ(View(kB)->pending, 1u);
  // Done decrements.
  for (const P2cBalancer::Pick& pick : in_flight)
    Done(pick, Result::kSuccess, absl::Milliseconds(10));
  EXPECT_EQ(View(kA)->pending, 0u);
  EXPECT_EQ(View(kB)->pending, 0u);
}

TEST_F(P2cBalancerTest, EqualBackendsShareTheLoad) {
  lb_.SetBackends({kA, kB});
  Prime({absl::Milliseconds(10), absl::Milliseconds(10)});
  for (int i = 0; i < 100; ++i) MustPick();
  EXPECT_EQ(View(kA)->pending, 50u);
  EXPECT_EQ(View(kB)->pending, 50u);
}

// Requirement 1: picking reads costs without changing the estimates. Two
// balancers see the same samples; one of them also picks 1200 times (each
// Done as a failure with no latency, which changes no estimate). Then both
// take the same sample: every estimate must be the same.
TEST(P2cBalancerReadTest, PickingDoesNotChangeTheEstimates) {
  FakeClock clock;
  P2cBalancer::Options options;
  options.accrual.failures_to_eject = 0;  // the failures above must not eject
  TestRandom random1, random2;
  P2cBalancer lb1(clock, options, [&] { return random1(); });
  P2cBalancer lb2(clock, options, [&] { return random2(); });
  for (auto [lb, random] : {std::pair{&lb1, &random1}, std::pair{&lb2, &random2}}) {
    lb->SetBackends({kA, kB});
    random->Script({0, 0, 1, 0});
    P2cBalancer::Pick a = *lb->PickBackend();
    P2cBalancer::Pick b = *lb->PickBackend();
    ASSERT_EQ(a.address, kA);
    ASSERT_EQ(b.address, kB);
    lb->Done(a, {.result = Result::kSuccess, .latency = absl::Seconds(1)});
    lb->Done(b, {.result = Result::kSuccess, .latency = absl::Milliseconds(20)});
  }
  for (int i = 0; i < 1000; ++i) {
    clock.Advance(absl::Milliseconds(5));
    P2cBalancer::Pick pick = *lb1.PickBackend();
    lb1.Done(pick, {.result = Result::kFailure, .latency = absl::ZeroDuration()});
    lb1.Snapshot();
  }
  // A request to B in both, and while it is in flight lb1 keeps picking:
  // the sample must be blended by the time since B's last sample, not since
  // the last time anything looked at B.
  P2cBalancer::Pick held1 = *lb1.PickBackend();
  P2cBalancer::Pick held2 = *lb2.PickBackend();
  ASSERT_EQ(held1.address, kB);
  ASSERT_EQ(held2.address, kB);
  for (int i = 0; i < 200; ++i) {
    clock.Advance(absl::Milliseconds(5));
    P2cBalancer::Pick pick = *lb1.PickBackend();
    lb1.Done(pick, {.result = Result::kFailure, .latency = absl::ZeroDuration()});
  }
  lb1.Done(held1, {.result = Result::kSuccess, .latency = absl::Milliseconds(5)});
  lb2.Done(held2, {.result = Result::kSuccess, .latency = absl::Milliseconds(5)});
  clock.Advance(absl::Seconds(1));
  std::vector<P2cBalancer::BackendView> v1 = lb1.Snapshot(), v2 = lb2.Snapshot();
  ASSERT_EQ(v1.size(), 2u);
  ASSERT_EQ(v2.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(v1[i].address, v2[i].address);
    EXPECT_EQ(v1[i].rtt, v2[i].rtt) << v1[i].address.ToString();
  }
}

// Requirement 2: an idle estimate drifts back to default_rtt, so a backend
// that was slow once is picked again.
TEST_F(P2cBalancerTest, ABackendSlowOnceIsPickedAgainAfterIdling) {
  lb_.SetBackends({kA, kB});
  Prime({absl::Seconds(1), absl::Milliseconds(40)});
  std::vector<P2cBalancer::Pick> in_flight;
  for (int i = 0; i < 10; ++i) in_flight.push_back(MustPick());
  for (const P2cBalancer::Pick& pick : in_flight) EXPECT_EQ(pick.address, kB);
  for (const P2cBalancer::Pick& pick : in_flight) {
    lb_.Done(pick, {.result = Result::kSuccess, .latency = absl::Milliseconds(40)});
  }

  clock_.Advance(absl::Minutes(5));
  EXPECT_LT(View(kA)->rtt, absl::Milliseconds(31));
  EXPECT_GE(View(kA)->rtt, absl::Milliseconds(30));
  // Both read as default_rtt now: the second request in flight goes to A.
  P2cBalancer::Pick first = MustPick();
  P2cBalancer::Pick second = MustPick();
  EXPECT_NE(first.address, second.address);
}

// Requirement 3: a backend that fails fast must not look fast. A fails in
// 1ms, B succeeds in 20ms: A stays at default_rtt (30ms), B gets the traffic.
TEST(P2cBalancerFailureTest, FailureLatencyNeverLowersTheEstimate) {
  FakeClock clock;
  P2cBalancer::Options options;
  options.accrual.failures_to_eject = 0;  // only the estimate matters here
  TestRandom random;
  P2cBalancer lb(clock, options, [&] { return random(); });
  lb.SetBackends({kA, kB});
  random.Script({0, 0, 1, 0});
  P2cBalancer::Pick a = *lb.PickBackend();
  P2cBalancer::Pick b = *lb.PickBackend();
  ASSERT_EQ(a.address, kA);
  lb.Done(a, {.result = Result::kFailure, .latency = absl::Milliseconds(1)});
  lb.Done(b, {.result = Result::kSuccess, .latency = absl::Milliseconds(20)});
  int to_b = 0;
  for (int i = 0; i < 200; ++i) {
    P2cBalancer::Pick pick = *lb.PickBackend();
    const bool is_b = pick.address == kB;
    to_b += is_b ? 1 : 0;
    lb.Done(pick, {.result = is_b ? Result::kSuccess : Result::kFailure,
                   .latency = absl::Milliseconds(is_b ? 20 : 1)});
    clock.Advance(absl::Milliseconds(1));
  }
  EXPECT_GT(to_b, 190);
  EXPECT_EQ(lb.Snapshot()[0].rtt, absl::Milliseconds(30));
}

// Requirement 4: 5 consecutive failures eject A for 1s; after it, one trial
// request (and only one while it is in flight); its success brings A back.
TEST_F(P2cBalancerTest, EjectsAfterFailuresThenSendsOneTrial) {
  lb_.SetBackends({kA, kB, kC});
  random_.Fix(0);  // candidates A and B, A on a tie; no jitter
  for (int i = 0; i < 5; ++i) {
    P2cBalancer::Pick pick = MustPick();
    ASSERT_EQ(pick.address, kA);
    ASSERT_EQ(View(kA)->state, State::kClosed);
    Done(pick, Result::kFailure, absl::ZeroDuration());
  }
  EXPECT_EQ(View(kA)->state, State::kOpen);
  EXPECT_EQ(View(kA)->ejected_until, clock_.Monotonic() + absl::Seconds(1));
  for (int i = 0; i < 20; ++i) {
    P2cBalancer::Pick pick = MustPick();
    EXPECT_NE(pick.address, kA);
    Done(pick, Result::kSuccess, absl::Milliseconds(30));
    clock_.Advance(absl::Milliseconds(10));
  }
  clock_.Advance(absl::Seconds(1));
  P2cBalancer::Pick trial = MustPick();
  ASSERT_EQ(trial.address, kA);
  EXPECT_EQ(View(kA)->state, State::kHalfOpen);
  for (int i = 0; i < 20; ++i) {
    P2cBalancer::Pick pick = MustPick();
    EXPECT_NE(pick.address, kA) << "a second request while the trial is in flight";
    Done(pick, Result::kSuccess, absl::Milliseconds(30));
  }
  EXPECT_EQ(View(kA)->pending, 1u);
  Done(trial, Result::kSuccess, absl::Milliseconds(30));
  EXPECT_EQ(View(kA)->state, State::kClosed);
  EXPECT_EQ(MustPick().address, kA);
}

TEST_F(P2cBalancerTest, AFailedTrialEjectsForLonger) {
  lb_.SetBackends({kA, kB, kC});
  random_.Fix(0);
  for (int i = 0; i < 5; ++i) Done(MustPick(), Result::kFailure, absl::ZeroDuration());
  absl::Duration expected = absl::Seconds(1);
  for (int round = 0; round < 8; ++round) {
    ASSERT_EQ(View(kA)->state, State::kOpen);
    EXPECT_EQ(View(kA)->ejected_until - clock_.Monotonic(), expected) << round;
    clock_.Advance(expected);
    P2cBalancer::Pick trial = MustPick();
    ASSERT_EQ(trial.address, kA);
    Done(trial, Result::kFailure, absl::ZeroDuration());
    expected = std::min(expected * 2, absl::Seconds(60));
  }
}

// When every backend is ejected the balancer fails open, to the backend
// whose ejection ends soonest, not to the first one; that pick is no trial
// and its outcome does not count.
TEST_F(P2cBalancerTest, AllEjectedFailsOpenToTheSoonestEnd) {
  lb_.SetBackends({kA, kB});
  random_.Fix(0);
  const absl::Duration t0 = clock_.Monotonic();
  for (int i = 0; i < 5; ++i) Done(MustPick(), Result::kFailure, absl::ZeroDuration());
  ASSERT_EQ(View(kA)->ejected_until, t0 + absl::Seconds(1));
  clock_.Advance(absl::Seconds(1));
  P2cBalancer::Pick trial = MustPick();
  ASSERT_EQ(trial.address, kA);
  Done(trial, Result::kFailure, absl::ZeroDuration());
  ASSERT_EQ(View(kA)->ejected_until, t0 + absl::Seconds(3));
  for (int i = 0; i < 5; ++i) {
    P2cBalancer::Pick pick = MustPick();
    ASSERT_EQ(pick.address, kB);
    Done(pick, Result::kFailure, absl::ZeroDuration());
  }
  ASSERT_EQ(View(kB)->ejected_until, t0 + absl::Seconds(2));

  P2cBalancer::Pick open = MustPick();
  EXPECT_EQ(open.address, kB);
  EXPECT_EQ(View(kB)->state, State::kOpen);
  Done(open, Result::kSuccess, absl::Milliseconds(1));
  EXPECT_EQ(View(kB)->state, State::kOpen);
  EXPECT_EQ(View(kB)->ejected_until, t0 + absl::Seconds(2));
  // Once B's backoff ends it gets its trial, as usual.
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(MustPick().address, kB);
  EXPECT_EQ(View(kB)->state, State::kHalfOpen);
}

TEST_F(P2cBalancerTest, SetBackendsKeepsTheStateOfThoseThatStay) {
  lb_.SetBackends({kA, kB});
  Prime({absl::Seconds(1), absl::Milliseconds(20)});
  random_.Fix(0);
  // Eject B (the cheaper one, so it is picked).
  for (int i = 0; i < 5; ++i) {
    P2cBalancer::Pick pick = MustPick();
    ASSERT_EQ(pick.address, kB);
    Done(pick, Result::kFailure, absl::ZeroDuration());
  }
  const absl::Duration until = View(kB)->ejected_until;

  lb_.SetBackends({kC, kB});  // A leaves (nothing in flight: forgotten), C comes
  std::vector<P2cBalancer::BackendView> views = lb_.Snapshot();
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].address, kC);
  EXPECT_EQ(views[0].rtt, absl::Milliseconds(30));
  EXPECT_EQ(views[1].address, kB);
  EXPECT_EQ(views[1].rtt, absl::Milliseconds(20));
  EXPECT_EQ(views[1].state, State::kOpen);
  EXPECT_EQ(views[1].ejected_until, until);

  // A comes back new: its 1s estimate is gone.
  lb_.SetBackends({kA, kB, kC});
  EXPECT_EQ(View(kA)->rtt, absl::Milliseconds(30));
}

TEST_F(P2cBalancerTest, SetBackendsKeepsThoseInFlightButNeverPicksThem) {
  lb_.SetBackends({kA, kB});
  random_.Fix(0);
  P2cBalancer::Pick held = MustPick();
  ASSERT_EQ(held.address, kA);

  lb_.SetBackends({kB});
  EXPECT_EQ(lb_.size(), 1u);
  ASSERT_TRUE(View(kA).has_value());
  EXPECT_TRUE(View(kA)->draining);
  EXPECT_EQ(View(kA)->pending, 1u);
  random_.Unfix();
  for (int i = 0; i < 100; ++i) {
    P2cBalancer::Pick pick = MustPick();
    EXPECT_EQ(pick.address, kB);
    Done(pick, Result::kSuccess, absl::Milliseconds(10));
  }
  // The last Done of a draining backend forgets it; another is harmless.
  Done(held, Result::kSuccess, absl::Milliseconds(10));
  EXPECT_FALSE(View(kA).has_value());
  Done(held, Result::kFailure, absl::Milliseconds(10));
  EXPECT_EQ(lb_.Snapshot().size(), 1u);
  EXPECT_EQ(View(kB)->pending, 0u);
}

TEST_F(P2cBalancerTest, ABackendBackWhileDrainingKeepsItsState) {
  lb_.SetBackends({kA, kB});
  Prime({absl::Milliseconds(300), absl::Milliseconds(300)});
  random_.Fix(0);
  P2cBalancer::Pick held = MustPick();
  ASSERT_EQ(held.address, kA);
  lb_.SetBackends({kB});
  lb_.SetBackends({kB, kA});
  ASSERT_TRUE(View(kA).has_value());
  EXPECT_FALSE(View(kA)->draining);
  EXPECT_EQ(View(kA)->pending, 1u);
  EXPECT_EQ(View(kA)->rtt, absl::Milliseconds(300));
  Done(held, Result::kSuccess, absl::Milliseconds(300));
  EXPECT_EQ(View(kA)->pending, 0u);
}

// Done finds its backend by key when SetBackends moved it.
TEST_F(P2cBalancerTest, DoneFollowsABackendThatMoved) {
  lb_.SetBackends({kA, kB, kC});
  random_.Script({2, 0});
  P2cBalancer::Pick held = MustPick();
  ASSERT_EQ(held.address, kC);
  lb_.SetBackends({kC});  // A and B forgotten: C moves to the front
  Done(held, Result::kSuccess, absl::Milliseconds(7));
  ASSERT_EQ(lb_.Snapshot().size(), 1u);
  EXPECT_EQ(View(kC)->pending, 0u);
  EXPECT_EQ(View(kC)->rtt, absl::Milliseconds(7));
}

TEST_F(P2cBalancerTest, LatencyDefaultsToTheTimeSinceThePick) {
  lb_.SetBackends({kA});
  P2cBalancer::Pick pick = MustPick();
  clock_.Advance(absl::Milliseconds(123));
  lb_.Done(pick, {.result = Result::kSuccess});
  EXPECT_EQ(View(kA)->rtt, absl::Milliseconds(123));
}

}  // namespace
}  // namespace tether::proxy
