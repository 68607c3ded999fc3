// ConnectionLimiter: the proxy's open connections per direction, shared by
// every worker, against --max-connections. A worker asks before it takes on
// an accepted connection and gives the slot back when the connection ends.
//
//   ConnectionLimiter limiter(config.max_connections);
//   if (!limiter.TryAcquire(Direction::kInbound)) { /* reset it: over_limit */ }
//   ...
//   limiter.Release(Direction::kInbound);  // when that connection ends
//
// Lock-free (one atomic per direction); thread-safe.
#ifndef TETHER_PROXY_SERVER_CONNECTION_LIMITER_H_
#define TETHER_PROXY_SERVER_CONNECTION_LIMITER_H_

#include <atomic>
#include <cstddef>

#include "proxy/server/metrics.h"

namespace tether::proxy {

class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(size_t max_per_direction) : max_(max_per_direction) {}

  // TryAcquire takes a slot in `d`: false (nothing taken) at the limit.
  bool TryAcquire(Direction d) {
    std::atomic<size_t>& n = open_[Index(d)];
    size_t cur = n.load(std::memory_order_relaxed);
    do {
      if (cur >= max_) return false;
    } while (!n.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed));
    return true;
  }
  // Release gives back a slot taken with TryAcquire.
  void Release(Direction d) { open_[Index(d)].fetch_sub(1, std::memory_order_relaxed); }
  size_t open(Direction d) const { return open_[Index(d)].load(std::memory_order_relaxed); }

 private:
  static int Index(Direction d) { return d == Direction::kInbound ? 0 : 1; }
  const size_t max_;
  std::atomic<size_t> open_[2] = {0, 0};
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_CONNECTION_LIMITER_H_
