// Notification: a one-shot event between threads (absl::Notification's
// interface) on std::mutex and std::condition_variable.
//
// Tests of the data plane use it instead of absl::Notification / absl::Mutex:
// ThreadSanitizer sees pthread locks but not the atomics inside Debian's
// uninstrumented Abseil, so hand-offs through Abseil look like data races.
#ifndef TETHER_TESTS_PROXY_TESTING_NOTIFICATION_H_
#define TETHER_TESTS_PROXY_TESTING_NOTIFICATION_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace tether::proxy::testing {

class Notification {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }
  bool HasBeenNotified() {
    std::lock_guard<std::mutex> lock(mu_);
    return notified_;
  }
  void WaitForNotification() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return notified_; });
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

}  // namespace tether::proxy::testing

#endif  // TETHER_TESTS_PROXY_TESTING_NOTIFICATION_H_
