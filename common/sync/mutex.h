// Mutex, MutexLock, CondVar: the subset of absl::Mutex's interface Tether
// uses, built on std::mutex and std::condition_variable.
//
//   tether::Mutex mu_;
//   int count_ ABSL_GUARDED_BY(mu_);
//   { tether::MutexLock lock(&mu_); ++count_; }
//
// Why not absl::Mutex: Debian's Abseil is not built with ThreadSanitizer, and
// absl::Mutex synchronizes through its own atomics and futexes inside that
// library, which TSan cannot see; every hand-off through it would be reported
// as a data race. std::mutex goes through pthread, which TSan intercepts. The
// Clang thread-safety annotations (ABSL_GUARDED_BY and friends) still apply.
#ifndef TETHER_COMMON_SYNC_MUTEX_H_
#define TETHER_COMMON_SYNC_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tether {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // AssertHeld: documents (and tells the analysis) that the caller holds it.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// MutexLock: holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// CondVar: waits release `mu` (which the caller holds) and hold it again on
// return. Spurious wake-ups happen: wait in a loop over the condition.
class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // WaitWithTimeout: true if `timeout` passed without a signal.
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool timed_out =
        cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout)) == std::cv_status::timeout;
    lock.release();
    return timed_out;
  }
  // WaitWithDeadline: true if `deadline` passed without a signal.
  bool WaitWithDeadline(Mutex* mu, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return WaitWithTimeout(mu, deadline - absl::Now());
  }
  // WaitFor: waits until `ready()` (evaluated with `mu` held) is true or
  // `timeout` passed; returns the last `ready()`.
  template <typename Predicate>
  bool WaitFor(Mutex* mu, Predicate ready, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!ready()) {
      if (absl::Now() >= deadline) return false;
      WaitWithDeadline(mu, deadline);
    }
    return true;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace tether

#endif  // TETHER_COMMON_SYNC_MUTEX_H_
