#include "proxy/http/http_stats.h"

#include <algorithm>
#include <limits>

#include <prometheus/metric_family.h>

#include "absl/strings/str_cat.h"

namespace tether::proxy {
namespace {

constexpr uint16_t kCodeNone = 1;   // no response
constexpr uint16_t kCodeOther = 2;  // over kMaxStatusCodes

constexpr uint16_t kGrpcFactor = 1000;

// The (status_code, grpc_status) labels of a slot's code.
std::pair<std::string, std::string> CodeLabels(uint16_t code) {
  const uint16_t status = code % kGrpcFactor;
  const int grpc = code / kGrpcFactor - 1;
  std::string grpc_label = grpc >= 0 ? absl::StrCat(grpc) : "";
  if (status == kCodeNone) return {"none", std::move(grpc_label)};
  if (status == kCodeOther) return {"other", ""};
  return {absl::StrCat(status), std::move(grpc_label)};
}

}  // namespace

void RouteStats::RecordResponse(int status, absl::Duration duration, uint64_t bytes,
                                int grpc_status) {
  uint16_t code = status >= 100 && status <= 999 ? static_cast<uint16_t>(status) : kCodeNone;
  if (grpc_status >= 0 && grpc_status <= 16) {
    code = static_cast<uint16_t>(code + kGrpcFactor * (grpc_status + 1));
  }
  const size_t used = codes_used_.load(std::memory_order_relaxed);
  size_t slot = used;
  for (size_t i = 0; i < used; ++i) {
    if (codes_[i].load(std::memory_order_relaxed) == code) {
      slot = i;
      break;
    }
  }
  if (slot == used) {
    if (used + 1 < kMaxStatusCodes) {
      codes_[used].store(code, std::memory_order_relaxed);
      codes_used_.store(used + 1, std::memory_order_release);
    } else {
      // The last slot is "other".
      slot = kMaxStatusCodes - 1;
      if (codes_[slot].load(std::memory_order_relaxed) == 0) {
        codes_[slot].store(kCodeOther, std::memory_order_release);
      }
    }
  }
  Add(code_counts_[slot], 1);
  Add(response_bytes_, bytes);
  const double seconds = absl::ToDoubleSeconds(duration);
  const size_t bucket =
      std::lower_bound(kDurationBuckets.begin(), kDurationBuckets.end(), seconds) -
      kDurationBuckets.begin();
  Add(buckets_[bucket], 1);
  Add(duration_sum_us_, static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Microseconds(duration))));
}

void RouteStats::AddTo(Snapshot& s) const {
  s.requests += requests_.load(std::memory_order_relaxed);
  s.request_bytes += request_bytes_.load(std::memory_order_relaxed);
  s.response_bytes += response_bytes_.load(std::memory_order_relaxed);
  const size_t used = codes_used_.load(std::memory_order_acquire);
  for (size_t i = 0; i < kMaxStatusCodes; ++i) {
    const uint16_t code = codes_[i].load(std::memory_order_acquire);
    if (code == 0 || (i >= used && i != kMaxStatusCodes - 1)) continue;
    const uint64_t n = code_counts_[i].load(std::memory_order_relaxed);
    if (n > 0) s.responses[CodeLabels(code)] += n;
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    s.buckets[i] += buckets_[i].load(std::memory_order_relaxed);
  }
  s.duration_sum += static_cast<double>(duration_sum_us_.load(std::memory_order_relaxed)) / 1e6;
}

RouteStats* WorkerHttpStats::Find(bool inbound, absl::string_view peer, absl::string_view route) {
  std::string id = absl::StrCat(inbound ? "i" : "o", peer, "\n", route);
  MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) return it->second.get();
  auto& routes = routes_[inbound ? 0 : 1];
  if (!routes.contains(route)) {
    if (routes.size() >= max_routes_) {
      route = kOtherRoute;
      id = absl::StrCat(inbound ? "i" : "o", peer, "\n", route);
      it = entries_.find(id);
      if (it != entries_.end()) return it->second.get();
    } else {
      routes.emplace(route);
    }
  }
  auto [pos, inserted] = entries_.emplace(id, std::make_unique<RouteStats>());
  keys_[id] = Key{inbound, std::string(peer), std::string(route)};
  return pos->second.get();
}

void WorkerHttpStats::AddTo(std::map<Key, RouteStats::Snapshot>& out) const {
  MutexLock lock(&mu_);
  for (const auto& [id, stats] : entries_) stats->AddTo(out[keys_.at(id)]);
}

class HttpStatsCollector final : public prometheus::Collectable {
 public:
  explicit HttpStatsCollector(std::shared_ptr<const std::vector<std::unique_ptr<WorkerHttpStats>>> t)
      : tables_(std::move(t)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::map<WorkerHttpStats::Key, RouteStats::Snapshot> all;
    for (const auto& table : *tables_) table->AddTo(all);
    auto family = [](const char* name, const char* help, prometheus::MetricType type) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      return f;
    };
    prometheus::MetricFamily requests =
        family("tether_proxy_http_requests_total", "HTTP requests seen, by route",
               prometheus::MetricType::Counter);
    prometheus::MetricFamily responses = family(
        "tether_proxy_http_responses_total",
        "HTTP responses by final status code (\"none\": the connection ended first)",
        prometheus::MetricType::Counter);
    prometheus::MetricFamily duration = family(
        "tether_proxy_http_request_duration_seconds",
        "From a request's first byte to its response's last", prometheus::MetricType::Histogram);
    prometheus::MetricFamily req_bytes =
        family("tether_proxy_http_request_bytes_total", "HTTP request bytes (headers and body)",
               prometheus::MetricType::Counter);
    prometheus::MetricFamily resp_bytes =
        family("tether_proxy_http_response_bytes_total", "HTTP response bytes (headers and body)",
               prometheus::MetricType::Counter);
    for (const auto& [key, s] : all) {
      std::vector<prometheus::ClientMetric::Label> labels = {
          {"direction", key.inbound ? "inbound" : "outbound"},
          {"peer", key.peer},
          {"route", key.route}};
      auto metric = [&labels](double counter) {
        prometheus::ClientMetric m;
        m.label = labels;
        m.counter.value = counter;
        return m;
      };
      requests.metric.push_back(metric(static_cast<double>(s.requests)));
      req_bytes.metric.push_back(metric(static_cast<double>(s.request_bytes)));
      resp_bytes.metric.push_back(metric(static_cast<double>(s.response_bytes)));
      for (const auto& [codes, n] : s.responses) {
        const auto& [code, grpc] = codes;
        prometheus::ClientMetric m = metric(static_cast<double>(n));
        m.label.push_back({"status_code", code});
        if (!grpc.empty()) m.label.push_back({"grpc_status", grpc});
        const bool failure = code == "none" || code[0] == '5' || (!grpc.empty() && grpc != "0");
        m.label.push_back({"classification", failure ? "failure" : "success"});
        responses.metric.push_back(std::move(m));
      }
      prometheus::ClientMetric h;
      h.label = labels;
      uint64_t cumulative = 0;
      for (size_t i = 0; i < s.buckets.size(); ++i) {
        cumulative += s.buckets[i];
        h.histogram.bucket.push_back(
            {cumulative, i < kDurationBuckets.size() ? kDurationBuckets[i]
                                                     : std::numeric_limits<double>::infinity()});
      }
      h.histogram.sample_count = cumulative;
      h.histogram.sample_sum = s.duration_sum;
      duration.metric.push_back(std::move(h));
    }
    return {requests, responses, duration, req_bytes, resp_bytes};
  }

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<WorkerHttpStats>>> tables_;
};

HttpStats::HttpStats(int workers, HttpStatsOptions options)
    : workers_(std::make_shared<Tables>()) {
  for (int i = 0; i < workers; ++i) {
    workers_->push_back(std::make_unique<WorkerHttpStats>(std::max<size_t>(1, options.max_routes)));
  }
  collector_ = std::make_shared<HttpStatsCollector>(workers_);
}

}  // namespace tether::proxy
