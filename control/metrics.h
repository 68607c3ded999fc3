// ControlMetrics: the control plane's Prometheus metrics, served at the
// admin port's /metrics. Names and labels are documented in README.md.
#ifndef TETHER_CONTROL_METRICS_H_
#define TETHER_CONTROL_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/ca/stream_limits.h"

namespace tether::control {

class ControlMetrics {
 public:
  ControlMetrics();

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // outcome: "issued" or a CaError reason word.
  void RecordSign(absl::string_view outcome, absl::Duration latency);
  void StreamOpened() { streams_->Increment(); }
  void StreamClosed() { streams_->Decrement(); }
  // reason: "unauthenticated", "permission_denied", ... (stream-level refusals).
  void RecordStreamRejected(absl::string_view reason);
  // A stream ended by one of the stream limits (label: StreamLimitName).
  void RecordStreamLimited(StreamLimit limit);
  // SetStreamBacklog: streams not yet authenticated, and the bytes of
  // answers queued for proxies on all streams.
  void SetStreamBacklog(size_t unauthenticated, int64_t queued_answer_bytes) {
    unauthenticated_streams_->Set(static_cast<double>(unauthenticated));
    queued_answer_bytes_->Set(static_cast<double>(queued_answer_bytes));
  }
  void RecordTokenCacheLookup(bool hit) {
    (hit ? token_cache_hits_ : token_cache_misses_)->Increment();
  }
  void AddAuditSuppressed(uint64_t lines) {
    audit_suppressed_->Increment(static_cast<double>(lines));
  }
  void SetRootExpiry(absl::Time t) {
    root_expiry_->Set(absl::ToDoubleSeconds(t - absl::UnixEpoch()));
  }
  void SetBundleRoots(size_t n) { bundle_roots_->Set(static_cast<double>(n)); }
  // outcome: "injected", "skipped", "denied" or "malformed" (the webhook).
  void RecordAdmission(absl::string_view outcome);
  // SetPolicy: the version of the policy in force, and whether its source
  // has a problem now (unreadable, or invalid documents).
  void SetPolicy(uint64_t version, bool error) {
    policy_version_->Set(static_cast<double>(version));
    policy_error_->Set(error ? 1 : 0);
  }
  // SetRevocations: the revocation list's version, and whether sharing it
  // with the other replicas fails now (1) or works or is off (0).
  void SetRevocations(uint64_t version, bool sync_error) {
    revocations_version_->Set(static_cast<double>(version));
    revocation_sync_error_->Set(sync_error ? 1 : 0);
  }
  // SetEndpoints: the endpoint registry's version, its entries by source,
  // and whether it is complete (streamed to proxies).
  void SetEndpoints(uint64_t version, const std::map<std::string, size_t>& by_source,
                    bool complete);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* issued_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* stream_rejected_;
  prometheus::Gauge* streams_;
  prometheus::Family<prometheus::Counter>* streams_limited_;
  prometheus::Gauge* unauthenticated_streams_;
  prometheus::Gauge* queued_answer_bytes_;
  prometheus::Counter* token_cache_hits_;
  prometheus::Counter* token_cache_misses_;
  prometheus::Counter* audit_suppressed_;
  prometheus::Histogram* signing_;
  prometheus::Gauge* root_expiry_;
  prometheus::Gauge* bundle_roots_;
  prometheus::Family<prometheus::Counter>* admissions_;
  prometheus::Gauge* policy_version_;
  prometheus::Gauge* policy_error_;
  prometheus::Gauge* revocations_version_;
  prometheus::Gauge* revocation_sync_error_;
  prometheus::Gauge* endpoints_version_;
  prometheus::Family<prometheus::Gauge>* endpoints_;
  prometheus::Gauge* endpoints_complete_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_METRICS_H_
