// HttpStats: the golden metrics of HTTP requests (count, responses by
// status, duration, bytes), per direction, peer and route, kept per worker
// without a lock on the request path, and served as Prometheus series by
// merging every worker's table at scrape time.
//
//   HttpStats stats(/*workers=*/2, {.max_routes = 100});
//   registry_collectables.push_back(stats.collector());      // /metrics
//   RouteStats* r = stats.worker(0).Find(true, peer, "GET /users/{id}");  // worker 0 only
//   r->RecordRequest(); ... r->RecordResponse(200, duration, bytes_in, bytes_out);
//
// Series (README "HTTP metrics"):
//   tether_proxy_http_requests_total{direction,peer,route}
//   tether_proxy_http_responses_total{direction,peer,route,status_code,classification}
//   tether_proxy_http_request_duration_seconds{direction,peer,route} (histogram,
//     kDurationBuckets; from the request's first byte to the response's last)
//   tether_proxy_http_request_bytes_total / _response_bytes_total{direction,peer,route}
// status_code is the final status (3 digits), or "none" when the
// connection ended (or the HTTP/2 stream was reset) before a response;
// gRPC responses add grpc_status (0..16, from the trailers). classification
// is "failure" for 5xx, "none" and a grpc_status other than 0, else
// "success" (as Linkerd classifies).
//
// Cardinality is bounded: a worker's table holds at most max_routes
// distinct routes per direction (later ones are counted under the route
// "[other]"), and at most kMaxStatusCodes status codes per route (later
// ones under "other"); peers are capped by the caller (ProxyMetrics::PeerLabel).
//
// Threading: worker(i) and the RouteStats it returns are used by worker
// i's thread only; collector() is read by any thread.
#ifndef TETHER_PROXY_HTTP_HTTP_STATS_H_
#define TETHER_PROXY_HTTP_HTTP_STATS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace tether::proxy {

// Upper bounds of the duration histogram, in seconds (+Inf follows).
inline constexpr std::array<double, 15> kDurationBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
inline constexpr size_t kMaxStatusCodes = 16;
inline constexpr size_t kDefaultMaxRoutes = 100;
inline constexpr char kOtherRoute[] = "[other]";

// RouteStats: the counters of one (direction, peer, route); one writer.
class RouteStats {
 public:
  void RecordRequest(uint64_t bytes) {
    Add(requests_, 1);
    Add(request_bytes_, bytes);
  }
  void AddRequestBytes(uint64_t bytes) { Add(request_bytes_, bytes); }
  // status 0: no response (the connection ended first); grpc_status: a
  // gRPC response's grpc-status (0..16), -1 when not gRPC or none came.
  void RecordResponse(int status, absl::Duration duration, uint64_t bytes, int grpc_status = -1);

  struct Snapshot {
    uint64_t requests = 0;
    uint64_t request_bytes = 0;
    uint64_t response_bytes = 0;
    // (status code label, grpc status label or "") -> count
    std::map<std::pair<std::string, std::string>, uint64_t> responses;
    std::array<uint64_t, kDurationBuckets.size() + 1> buckets{};  // not cumulative
    double duration_sum = 0;
  };
  void AddTo(Snapshot& s) const;

 private:
  static void Add(std::atomic<uint64_t>& a, uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> request_bytes_{0};
  std::atomic<uint64_t> response_bytes_{0};
  // Status codes in the order first seen; 0 unused, 1: "none", 2: "other";
  // plus 1000 * (grpc status + 1) for gRPC responses.
  std::array<std::atomic<uint16_t>, kMaxStatusCodes> codes_{};
  std::array<std::atomic<uint64_t>, kMaxStatusCodes> code_counts_{};
  std::atomic<size_t> codes_used_{0};
  std::array<std::atomic<uint64_t>, kDurationBuckets.size() + 1> buckets_{};
  std::atomic<uint64_t> duration_sum_us_{0};
};

// WorkerHttpStats: one worker's table.
class WorkerHttpStats {
 public:
  explicit WorkerHttpStats(size_t max_routes) : max_routes_(max_routes) {}
  // Find returns the stats of (inbound, peer, route), made on first use;
  // stable for the table's life.
  RouteStats* Find(bool inbound, absl::string_view peer, absl::string_view route);

  struct Key {
    bool inbound;
    std::string peer;
    std::string route;
    bool operator<(const Key& o) const {
      return std::tie(inbound, peer, route) < std::tie(o.inbound, o.peer, o.route);
    }
  };
  void AddTo(std::map<Key, RouteStats::Snapshot>& out) const;

 private:
  const size_t max_routes_;
  mutable Mutex mu_;  // taken to add an entry, and by the collector
  absl::flat_hash_map<std::string, std::unique_ptr<RouteStats>> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Key> keys_ ABSL_GUARDED_BY(mu_);
  std::array<absl::flat_hash_set<std::string>, 2> routes_ ABSL_GUARDED_BY(mu_);
};

struct HttpStatsOptions {
  size_t max_routes = kDefaultMaxRoutes;
};

class HttpStats {
 public:
  HttpStats(int workers, HttpStatsOptions options = {});
  WorkerHttpStats& worker(int i) { return *(*workers_)[static_cast<size_t>(i)]; }
  // collector serves the series above; it shares the workers' tables, so
  // it may outlive this object.
  std::shared_ptr<prometheus::Collectable> collector() const { return collector_; }

 private:
  using Tables = std::vector<std::unique_ptr<WorkerHttpStats>>;
  std::shared_ptr<Tables> workers_;
  std::shared_ptr<prometheus::Collectable> collector_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_HTTP_STATS_H_
