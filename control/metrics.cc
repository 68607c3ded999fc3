#include "control/metrics.h"

namespace tether::control {

ControlMetrics::ControlMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  issued_ = &prometheus::BuildCounter()
                 .Name("tether_control_certificates_issued_total")
                 .Help("Workload certificates signed")
                 .Register(*registry_)
                 .Add({});
  rejected_ = &prometheus::BuildCounter()
                   .Name("tether_control_certificate_requests_rejected_total")
                   .Help("Certificate requests refused, by reason")
                   .Register(*registry_);
  stream_rejected_ = &prometheus::BuildCounter()
                          .Name("tether_control_streams_rejected_total")
                          .Help("Certificate streams refused at authentication, by reason")
                          .Register(*registry_);
  streams_ = &prometheus::BuildGauge()
                  .Name("tether_control_streams")
                  .Help("Open certificate streams")
                  .Register(*registry_)
                  .Add({});
  streams_limited_ = &prometheus::BuildCounter()
                          .Name("tether_control_streams_limited_total")
                          .Help("Certificate streams ended by a stream limit, by limit")
                          .Register(*registry_);
  for (StreamLimit limit :
       {StreamLimit::kStreams, StreamLimit::kStreamsPerIdentity, StreamLimit::kUnauthenticated,
        StreamLimit::kUnauthenticatedPerPeer, StreamLimit::kHelloRate, StreamLimit::kAnswerQueue}) {
    streams_limited_->Add({{"limit", std::string(StreamLimitName(limit))}});
  }
  unauthenticated_streams_ = &prometheus::BuildGauge()
                                  .Name("tether_control_unauthenticated_streams")
                                  .Help("Certificate streams that have not authenticated yet")
                                  .Register(*registry_)
                                  .Add({});
  queued_answer_bytes_ = &prometheus::BuildGauge()
                              .Name("tether_control_stream_queued_answer_bytes")
                              .Help("Bytes of answers queued for proxies, on all streams")
                              .Register(*registry_)
                              .Add({});
  auto& token_cache = prometheus::BuildCounter()
                          .Name("tether_control_token_review_cache_lookups_total")
                          .Help("Kubernetes token checks, by whether the cache answered")
                          .Register(*registry_);
  token_cache_hits_ = &token_cache.Add({{"result", "hit"}});
  token_cache_misses_ = &token_cache.Add({{"result", "miss"}});
  audit_suppressed_ = &prometheus::BuildCounter()
                           .Name("tether_control_audit_lines_suppressed_total")
                           .Help("Audit lines of refusals held back by the per-key rate limit")
                           .Register(*registry_)
                           .Add({});
  signing_ = &prometheus::BuildHistogram()
                  .Name("tether_control_signing_seconds")
                  .Help("Time to check a CSR and sign a certificate")
                  .Register(*registry_)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                                   0.0025, 0.005, 0.01, 0.05, 0.1});
  root_expiry_ = &prometheus::BuildGauge()
                      .Name("tether_control_ca_expiry_timestamp_seconds")
                      .Help("When the signing CA certificate expires (Unix time)")
                      .Register(*registry_)
                      .Add({});
  bundle_roots_ = &prometheus::BuildGauge()
                       .Name("tether_control_trust_bundle_roots")
                       .Help("Roots in the trust bundle (2 during a CA rotation)")
                       .Register(*registry_)
                       .Add({});
  admissions_ = &prometheus::BuildCounter()
                     .Name("tether_control_webhook_reviews_total")
                     .Help("Admission reviews answered by the injection webhook, by outcome")
                     .Register(*registry_);
  policy_version_ = &prometheus::BuildGauge()
                         .Name("tether_control_policy_version")
                         .Help("Version of the authorization policy in force")
                         .Register(*registry_)
                         .Add({});
  endpoints_version_ = &prometheus::BuildGauge()
                            .Name("tether_control_endpoints_version")
                            .Help("Version of the endpoint registry (the discovery stream's)")
                            .Register(*registry_)
                            .Add({});
  endpoints_ = &prometheus::BuildGauge()
                    .Name("tether_control_endpoints")
                    .Help(
                        "Entries of the endpoint registry, by source (join_token, "
                        "kubernetes_pod, kubernetes_service)")
                    .Register(*registry_);
  for (const char* source : {"join_token", "kubernetes_pod", "kubernetes_service"}) {
    endpoints_->Add({{"source", source}});
  }
  endpoints_complete_ = &prometheus::BuildGauge()
                             .Name("tether_control_endpoints_complete")
                             .Help(
                                 "1 once the endpoint registry is streamed to proxies (with "
                                 "--kubernetes: after the cluster was first listed)")
                             .Register(*registry_)
                             .Add({});
  revocations_version_ = &prometheus::BuildGauge()
                              .Name("tether_control_revocations_version")
                              .Help("Version of the revocation list this control plane pushes")
                              .Register(*registry_)
                              .Add({});
  revocation_sync_error_ =
      &prometheus::BuildGauge()
           .Name("tether_control_revocation_sync_error")
           .Help(
               "1 while the revocation list cannot be shared with the other replicas (read or "
               "written where they keep it, e.g. its ConfigMap)")
           .Register(*registry_)
           .Add({});
  policy_error_ = &prometheus::BuildGauge()
                       .Name("tether_control_policy_error")
                       .Help(
                           "1 while policies cannot be read or some are invalid (the previous "
                           "ones stay in force)")
                       .Register(*registry_)
                       .Add({});
}

void ControlMetrics::RecordSign(absl::string_view outcome, absl::Duration latency) {
  signing_->Observe(absl::ToDoubleSeconds(latency));
  if (outcome == "issued") {
    issued_->Increment();
  } else {
    rejected_->Add({{"reason", std::string(outcome)}}).Increment();
  }
}

void ControlMetrics::RecordStreamLimited(StreamLimit limit) {
  streams_limited_->Add({{"limit", std::string(StreamLimitName(limit))}}).Increment();
}

void ControlMetrics::RecordAdmission(absl::string_view outcome) {
  admissions_->Add({{"outcome", std::string(outcome)}}).Increment();
}

void ControlMetrics::RecordStreamRejected(absl::string_view reason) {
  stream_rejected_->Add({{"reason", std::string(reason)}}).Increment();
}

void ControlMetrics::SetEndpoints(uint64_t version, const std::map<std::string, size_t>& by_source,
                                  bool complete) {
  endpoints_version_->Set(static_cast<double>(version));
  for (const char* source : {"join_token", "kubernetes_pod", "kubernetes_service"}) {
    auto it = by_source.find(source);
    endpoints_->Add({{"source", source}})
        .Set(it == by_source.end() ? 0 : static_cast<double>(it->second));
  }
  endpoints_complete_->Set(complete ? 1 : 0);
}

}  // namespace tether::control
