// FailureAccrual: one backend's circuit breaker, driven by consecutive
// failures as Finagle's FailureAccrualFactory and Linkerd's
// consecutive-failures accrual: `failures_to_eject` failures in a row eject
// the backend for a backoff; when it ends, exactly one trial request may go
// (half-open); the trial's success closes the breaker and forgets the past,
// its failure ejects the backend again for twice as long, up to eject_max.
//
//   if (accrual.Available(now)) {
//     FailureAccrual::Ticket ticket = accrual.OnPick(now);  // maybe the trial
//     ...
//     accrual.OnOutcome(ticket, success, now, random);
//   }
//
//   closed    --N failures in a row-->   open (for the backoff)
//   open      --backoff over, a pick-->  half-open (that pick is the trial)
//   half-open --trial succeeds-->        closed (failures, backoff forgotten)
//   half-open --trial fails-->           open (for twice as long, capped)
//
// Outcomes count only for the state they were picked in: a ticket carries an
// epoch that every transition advances, so a request sent before an ejection
// (or before a recovery) that ends after it changes nothing. Otherwise the
// stragglers of an outage would re-eject a backend whose trial just passed.
//
// The caller must report every pick, timeouts included (as failures): an
// unreported trial keeps the backend half-open: out of rotation for good.
// Not thread-safe; time is the caller's monotonic clock.
#ifndef TETHER_PROXY_LB_FAILURE_ACCRUAL_H_
#define TETHER_PROXY_LB_FAILURE_ACCRUAL_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace tether::proxy {

class FailureAccrual {
 public:
  struct Options {
    // failures_to_eject: consecutive failures that eject; 5 as Finagle
    // (Linkerd uses 7). Zero or less never ejects.
    int failures_to_eject = 5;
    // The k-th ejection in a row lasts min(eject_base * 2^(k-1), eject_max),
    // shortened by up to `jitter` of itself (uniformly): 1s to 60s as
    // Linkerd's penalties. Jitter spreads the trials of many proxies that
    // ejected a backend at the same moment, at the cap too; taking it off
    // (Linkerd adds it) keeps every ejection within eject_max, and with 0.5,
    // below the cap, the shortest (k+1)-th ejection is as long as the
    // longest k-th (Finagle's "equal jitter").
    absl::Duration eject_base = absl::Seconds(1);
    absl::Duration eject_max = absl::Seconds(60);
    double jitter = 0.5;  // clamped to [0, 1]
  };

  enum class State { kClosed, kOpen, kHalfOpen };

  // Ticket: what OnPick hands out and OnOutcome takes back.
  struct Ticket {
    uint32_t epoch = 0;
    bool trial = false;  // this request is the half-open trial
  };

  explicit FailureAccrual(const Options& options) : options_(options) {}

  // Available: a request may be sent now: closed, or ejected with the
  // backoff over (the next pick is the trial). False while ejected and while
  // the trial is in flight.
  bool Available(absl::Duration now) const;

  // OnPick records that a request is sent. On an ejected backend whose
  // backoff is over it becomes the trial and the breaker goes half-open.
  // Picking an unavailable backend (the balancer failing open) is allowed;
  // its outcome will not count.
  Ticket OnPick(absl::Duration now);

  // OnOutcome records how the request of `ticket` ended. `random` (uniform
  // 64-bit values) jitters a new ejection; it is called only then.
  void OnOutcome(const Ticket& ticket, bool success, absl::Duration now,
                 absl::FunctionRef<uint64_t()> random);
  // OnUnreachable: the request of `ticket` could not even connect: ejected
  // now (closed or half-open), for the next backoff. A stale ticket, or a
  // pick made while ejected, changes nothing.
  void OnUnreachable(const Ticket& ticket, absl::Duration now,
                     absl::FunctionRef<uint64_t()> random);
  // OnCancel: the request of `ticket` ended for reasons not the backend's
  // (the client left): nothing is counted, and a cancelled trial lets the
  // next pick be the trial.
  void OnCancel(const Ticket& ticket);

  State state() const { return state_; }
  // ejected_until: when the current (or last) ejection ends; meaningful
  // unless state() is kClosed.
  absl::Duration ejected_until() const { return ejected_until_; }
  int consecutive_failures() const { return consecutive_failures_; }
  // ejections: ejections in a row since the breaker last closed.
  int ejections() const { return ejections_; }

  // Backoff: how long the `ejection`-th ejection in a row lasts (1-based),
  // `unit` in [0, 1) choosing within the jitter. Public for tests and docs.
  absl::Duration Backoff(int ejection, double unit) const;

 private:
  void Eject(absl::Duration now, absl::FunctionRef<uint64_t()> random);

  Options options_;
  State state_ = State::kClosed;
  uint32_t epoch_ = 0;
  int consecutive_failures_ = 0;
  int ejections_ = 0;
  absl::Duration ejected_until_ = absl::ZeroDuration();
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_LB_FAILURE_ACCRUAL_H_
