// RequestTap: the HTTP requests a proxy answered lately, for `tetherctl
// top` (GET /requests on the admin port). One ring per worker; a request is
// recorded only while someone watches (a read within the last 10 s), so
// that nothing is built per request when nobody looks.
//
//   RequestTap tap(workers);
//   if (tap.watching(now)) tap.Record(worker, {...});   // worker thread
//   std::vector<TappedRequest> r = tap.Read(since, now); // admin thread
//
// Each worker's ring has its own lock, taken by that worker and by readers
// only. Records carry a sequence number across workers, so a reader asks
// for what came after the last one it saw.
#ifndef TETHER_PROXY_HTTP_REQUEST_TAP_H_
#define TETHER_PROXY_HTTP_REQUEST_TAP_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace tether::proxy {

struct TappedRequest {
  uint64_t seq = 0;
  absl::Time time;
  bool inbound = true;
  std::string client;  // SPIFFE IDs ("" for a plaintext peer)
  std::string server;
  std::string method;
  std::string path;  // without the query
  int status = 0;    // 0: no response
  int grpc_status = -1;  // -1: not gRPC (or no grpc-status)
  absl::Duration duration;
};

class RequestTap {
 public:
  static constexpr absl::Duration kWatchFor = absl::Seconds(10);

  explicit RequestTap(int workers, size_t per_worker = 512);

  // watching: a reader came within kWatchFor of `now` (monotonic).
  bool watching(absl::Duration now) const {
    return absl::Nanoseconds(watched_until_ns_.load(std::memory_order_relaxed)) > now;
  }
  void Record(int worker, TappedRequest r);
  // Read: the records after `since`, oldest first; watching from now on.
  std::vector<TappedRequest> Read(uint64_t since, absl::Duration now);

 private:
  struct Ring {
    Mutex mu;
    std::deque<TappedRequest> records ABSL_GUARDED_BY(mu);
  };
  const size_t per_worker_;
  std::atomic<int64_t> watched_until_ns_{0};
  std::atomic<uint64_t> seq_{0};
  std::vector<std::unique_ptr<Ring>> rings_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_REQUEST_TAP_H_
