// WorkerPool: a fixed number of threads running tasks from a bounded queue,
// for blocking work that must stay off gRPC's callback threads (a TokenReview
// call to the Kubernetes API server can take seconds).
//
//   WorkerPool pool(/*threads=*/4, /*max_queued=*/128);
//   if (!pool.TrySubmit([] { SlowCall(); })) {
//     // full: refuse the work ("busy, retry") instead of queueing without bound
//   }
//
// TrySubmit never blocks. Tasks start in submission order, each on one
// worker. Stop (or destroying the pool) runs every task already queued, then
// joins the threads; after Stop, TrySubmit refuses.
#ifndef TETHER_CONTROL_CA_WORKER_POOL_H_
#define TETHER_CONTROL_CA_WORKER_POOL_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "common/sync/mutex.h"

namespace tether::control {

class WorkerPool {
 public:
  // `threads` workers (at least one); at most `max_queued` tasks wait for a
  // worker (tasks being run do not count).
  WorkerPool(int threads, size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // TrySubmit queues `task` and returns true, or returns false (dropping
  // `task` unrun) when `max_queued` tasks are already waiting or the pool is
  // stopping.
  [[nodiscard]] bool TrySubmit(absl::AnyInvocable<void() &&> task);

  // Stop runs what is queued, then joins the workers. Idempotent; must not
  // be called from a task.
  void Stop();

  // queued counts tasks waiting for a worker; running counts tasks being run.
  size_t queued() const;
  size_t running() const;

 private:
  void Work();

  const size_t max_queued_;
  mutable Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar work_or_stop_;  // signalled when a task is queued or Stop begins
  std::vector<std::thread> threads_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_WORKER_POOL_H_
