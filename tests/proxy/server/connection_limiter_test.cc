#include "proxy/server/connection_limiter.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tether::proxy {
namespace {

TEST(ConnectionLimiterTest, EachDirectionHasItsOwnLimit) {
  ConnectionLimiter limiter(2);
  EXPECT_TRUE(limiter.TryAcquire(Direction::kOutbound));
  EXPECT_TRUE(limiter.TryAcquire(Direction::kOutbound));
  EXPECT_FALSE(limiter.TryAcquire(Direction::kOutbound));
  EXPECT_EQ(limiter.open(Direction::kOutbound), 2u);
  EXPECT_TRUE(limiter.TryAcquire(Direction::kInbound));
  EXPECT_TRUE(limiter.TryAcquire(Direction::kInbound));
  EXPECT_FALSE(limiter.TryAcquire(Direction::kInbound));
  limiter.Release(Direction::kOutbound);
  EXPECT_FALSE(limiter.TryAcquire(Direction::kInbound));
  EXPECT_TRUE(limiter.TryAcquire(Direction::kOutbound));
  EXPECT_FALSE(limiter.TryAcquire(Direction::kOutbound));
}

TEST(ConnectionLimiterTest, ConcurrentWorkersNeverExceedTheLimit) {
  constexpr size_t kLimit = 3;
  ConnectionLimiter limiter(kLimit);
  std::atomic<size_t> held{0};
  std::atomic<size_t> most{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!limiter.TryAcquire(Direction::kInbound)) continue;
        size_t now = ++held;
        size_t seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --held;
        limiter.Release(Direction::kInbound);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_LE(most.load(), kLimit);
  EXPECT_EQ(limiter.open(Direction::kInbound), 0u);
}

}  // namespace
}  // namespace tether::proxy
