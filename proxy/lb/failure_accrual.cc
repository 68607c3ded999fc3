#include "proxy/lb/failure_accrual.h"

#include <algorithm>

namespace tether::proxy {

bool FailureAccrual::Available(absl::Duration now) const {
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return now >= ejected_until_;
    case State::kHalfOpen:
      return false;
  }
  return false;
}

FailureAccrual::Ticket FailureAccrual::OnPick(absl::Duration now) {
  if (state_ == State::kOpen && now >= ejected_until_) {
    state_ = State::kHalfOpen;
    ++epoch_;
    return Ticket{epoch_, /*trial=*/true};
  }
  return Ticket{epoch_, /*trial=*/false};
}

void FailureAccrual::OnOutcome(const Ticket& ticket, bool success, absl::Duration now,
                               absl::FunctionRef<uint64_t()> random) {
  // A stale ticket (picked before the last transition) or a pick made while
  // ejected (failing open) says nothing about the current state.
  if (ticket.epoch != epoch_) return;
  if (ticket.trial) {
    if (state_ != State::kHalfOpen) return;
    if (success) {
      state_ = State::kClosed;
      consecutive_failures_ = 0;
      ejections_ = 0;
      ++epoch_;
    } else {
      Eject(now, random);
    }
    return;
  }
  if (state_ != State::kClosed) return;
  if (success) {
    consecutive_failures_ = 0;
    return;
  }
  ++consecutive_failures_;
  if (options_.failures_to_eject > 0 && consecutive_failures_ >= options_.failures_to_eject) {
    Eject(now, random);
  }
}

void FailureAccrual::OnUnreachable(const Ticket& ticket, absl::Duration now,
                                   absl::FunctionRef<uint64_t()> random) {
  if (ticket.epoch != epoch_ || state_ == State::kOpen) return;
  if (state_ == State::kHalfOpen && !ticket.trial) return;
  Eject(now, random);
}

void FailureAccrual::OnCancel(const Ticket& ticket) {
  // A trial that ended for reasons not the backend's: the next pick is a
  // trial again (the backoff is already over).
  if (ticket.trial && ticket.epoch == epoch_ && state_ == State::kHalfOpen) state_ = State::kOpen;
}

void FailureAccrual::Eject(absl::Duration now, absl::FunctionRef<uint64_t()> random) {
  ++ejections_;
  // 53 random bits: a uniform double in [0, 1).
  const double unit = static_cast<double>(random() >> 11) * 0x1.0p-53;
  ejected_until_ = now + Backoff(ejections_, unit);
  state_ = State::kOpen;
  consecutive_failures_ = 0;
  ++epoch_;
}

absl::Duration FailureAccrual::Backoff(int ejection, double unit) const {
  const absl::Duration cap = std::max(options_.eject_base, options_.eject_max);
  absl::Duration full = options_.eject_base;
  // Doubling stops at the cap, so a long outage cannot overflow.
  for (int i = 1; i < ejection && full < cap; ++i) full *= 2;
  full = std::min(full, cap);
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  return full * (1.0 - jitter * std::clamp(unit, 0.0, 1.0));
}

}  // namespace tether::proxy
