#include "control/ca/worker_pool.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "common/sync/notification.h"

namespace tether::control {
namespace {

// Gate blocks tasks until opened and counts how many are waiting at it.
class Gate {
 public:
  void Pass() {
    MutexLock lock(&mu_);
    ++waiting_;
    changed_.SignalAll();
    while (!open_) changed_.Wait(&mu_);
    --waiting_;
  }
  void Open() {
    MutexLock lock(&mu_);
    open_ = true;
    changed_.SignalAll();
  }
  // WaitForWaiting blocks until `n` tasks wait at the gate (false after 30 s).
  bool WaitForWaiting(int n) {
    MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return waiting_ >= n; };
    return changed_.WaitFor(&mu_, reached, absl::Seconds(30));
  }

 private:
  Mutex mu_;
  CondVar changed_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(WorkerPool, RunsTasksConcurrentlyOnEveryWorker) {
  WorkerPool pool(/*threads=*/3, /*max_queued=*/10);
  Gate gate;
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      gate.Pass();
      ++done;
    }));
  }
  // All three block at once: each has a worker of its own.
  ASSERT_TRUE(gate.WaitForWaiting(3));
  EXPECT_EQ(pool.running(), 3u);
  EXPECT_EQ(pool.queued(), 0u);
  gate.Open();
  pool.Stop();
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(pool.running(), 0u);
}

TEST(WorkerPool, RefusesWhenTheQueueIsFull) {
  WorkerPool pool(/*threads=*/1, /*max_queued=*/2);
  Gate gate;
  std::atomic<int> done{0};
  auto task = [&] {
    gate.Pass();
    ++done;
  };
  ASSERT_TRUE(pool.TrySubmit(task));
  ASSERT_TRUE(gate.WaitForWaiting(1));  // the worker is busy
  EXPECT_TRUE(pool.TrySubmit(task));
  EXPECT_TRUE(pool.TrySubmit(task));
  EXPECT_EQ(pool.queued(), 2u);
  bool ran = false;
  EXPECT_FALSE(pool.TrySubmit([&] { ran = true; }));
  gate.Open();
  pool.Stop();
  EXPECT_EQ(done.load(), 3);
  EXPECT_FALSE(ran);  // a refused task is dropped, never run
}

TEST(WorkerPool, StopRunsWhatIsQueuedThenRefuses) {
  std::atomic<int> done{0};
  auto pool = std::make_unique<WorkerPool>(/*threads=*/1, /*max_queued=*/100);
  Gate gate;
  ASSERT_TRUE(pool->TrySubmit([&] { gate.Pass(); }));
  ASSERT_TRUE(gate.WaitForWaiting(1));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool->TrySubmit([&] { ++done; }));
  std::thread stopper([&] { pool->Stop(); });
  gate.Open();
  stopper.join();
  EXPECT_EQ(done.load(), 50);
  EXPECT_FALSE(pool->TrySubmit([] {}));
  pool.reset();  // destroying a stopped pool is fine
}

TEST(WorkerPool, TasksMayOwnMoveOnlyState) {
  WorkerPool pool(/*threads=*/2, /*max_queued=*/4);
  Notification ran;
  auto value = std::make_unique<int>(42);
  ASSERT_TRUE(pool.TrySubmit([v = std::move(value), &ran] {
    EXPECT_EQ(*v, 42);
    ran.Notify();
  }));
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

}  // namespace
}  // namespace tether::control
