#include "control/ca/worker_pool.h"

#include <algorithm>
#include <utility>

namespace tether::control {

WorkerPool::WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  const int n = std::max(threads, 1);
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() { Stop(); }

bool WorkerPool::TrySubmit(absl::AnyInvocable<void() &&> task) {
  MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  work_or_stop_.Signal();
  return true;
}

void WorkerPool::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    work_or_stop_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

size_t WorkerPool::queued() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

size_t WorkerPool::running() const {
  MutexLock lock(&mu_);
  return running_;
}

void WorkerPool::Work() {
  for (;;) {
    absl::AnyInvocable<void() &&> task;
    {
      MutexLock lock(&mu_);
      while (queue_.empty() && !stopping_) work_or_stop_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    std::move(task)();
    MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace tether::control
