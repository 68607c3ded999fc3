// RetryBudget: how many retries a worker may send for one TrafficPolicy, so
// that retries never amplify an outage (as Finagle's and Linkerd's budgets):
// within the last `ttl`, retries may number at most
//   ratio * requests + min_per_second * ttl(seconds).
// When every request fails, retries stop at that bound instead of doubling
// the load.
//
//   RetryBudget budget(policy.budget);
//   budget.Deposit(now);                      // every original request
//   if (budget.TryWithdraw(now)) Retry(); else Give up ("budget_exhausted");
//
// Counts are kept in ten slots across the ttl, so a slot's worth (ttl / 10)
// is the resolution. One thread (a worker's) only; time is the caller's
// monotonic clock.
#ifndef TETHER_PROXY_HTTP_RETRY_BUDGET_H_
#define TETHER_PROXY_HTTP_RETRY_BUDGET_H_

#include <array>
#include <cstdint>

#include "absl/time/time.h"
#include "common/policy/traffic.h"

namespace tether::proxy {

class RetryBudget {
 public:
  explicit RetryBudget(const policy::RetryBudget& config);

  void Deposit(absl::Duration now);
  // TryWithdraw takes one retry from the budget if there is room.
  bool TryWithdraw(absl::Duration now);
  // Room: retries that may be sent now.
  int64_t Room(absl::Duration now);
  const policy::RetryBudget& config() const { return config_; }

 private:
  static constexpr int kSlots = 10;
  struct Slot {
    int64_t index = -1;  // which ttl/10 period it counts
    int64_t requests = 0;
    int64_t retries = 0;
  };
  Slot& Current(absl::Duration now);

  const policy::RetryBudget config_;
  const absl::Duration slot_;
  std::array<Slot, kSlots> slots_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_RETRY_BUDGET_H_
