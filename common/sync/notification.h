// Notification: a one-shot event between threads, absl::Notification's
// interface on Tether's Mutex/CondVar (visible to ThreadSanitizer; see
// mutex.h for why).
//
//   tether::Notification done;
//   worker = std::thread([&] { Work(); done.Notify(); });
//   if (!done.WaitForNotificationWithTimeout(absl::Seconds(5))) ...
#ifndef TETHER_COMMON_SYNC_NOTIFICATION_H_
#define TETHER_COMMON_SYNC_NOTIFICATION_H_

#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace tether {

class Notification {
 public:
  // Notify: wakes every waiter; later waits return at once. Call it once.
  void Notify() {
    MutexLock lock(&mu_);
    notified_ = true;
    cv_.SignalAll();
  }
  bool HasBeenNotified() const {
    MutexLock lock(&mu_);
    return notified_;
  }
  void WaitForNotification() const {
    MutexLock lock(&mu_);
    while (!notified_) cv_.Wait(&mu_);
  }
  // WaitForNotificationWithTimeout: true if notified within `timeout`.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    const absl::Time deadline = absl::Now() + timeout;
    MutexLock lock(&mu_);
    while (!notified_) {
      if (absl::Now() >= deadline) return false;
      cv_.WaitWithDeadline(&mu_, deadline);
    }
    return true;
  }

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tether

#endif  // TETHER_COMMON_SYNC_NOTIFICATION_H_
