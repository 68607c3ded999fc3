#include "proxy/http/request_tap.h"

#include <algorithm>

namespace tether::proxy {

RequestTap::RequestTap(int workers, size_t per_worker) : per_worker_(per_worker) {
  for (int i = 0; i < std::max(workers, 1); ++i) rings_.push_back(std::make_unique<Ring>());
}

void RequestTap::Record(int worker, TappedRequest r) {
  Ring& ring = *rings_[static_cast<size_t>(worker) % rings_.size()];
  r.seq = seq_.fetch_add(1, std::memory_order_relaxed) + 1;
  MutexLock lock(&ring.mu);
  ring.records.push_back(std::move(r));
  while (ring.records.size() > per_worker_) ring.records.pop_front();
}

std::vector<TappedRequest> RequestTap::Read(uint64_t since, absl::Duration now) {
  watched_until_ns_.store(absl::ToInt64Nanoseconds(now + kWatchFor), std::memory_order_relaxed);
  std::vector<TappedRequest> out;
  for (const auto& ring : rings_) {
    MutexLock lock(&ring->mu);
    for (const TappedRequest& r : ring->records) {
      if (r.seq > since) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const TappedRequest& a, const TappedRequest& b) { return a.seq < b.seq; });
  return out;
}

}  // namespace tether::proxy
