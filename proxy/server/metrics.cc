#include "proxy/server/metrics.h"

namespace tether::proxy {

absl::string_view DirectionName(Direction d) {
  return d == Direction::kInbound ? "inbound" : "outbound";
}

ProxyMetrics::ProxyMetrics(size_t max_peer_identities)
    : registry_(std::make_shared<prometheus::Registry>()),
      max_peer_identities_(max_peer_identities) {
  connections_ = &prometheus::BuildCounter()
                      .Name("tether_proxy_connections_total")
                      .Help("Connections ended, by direction and outcome")
                      .Register(*registry_);
  active_ = &prometheus::BuildGauge()
                 .Name("tether_proxy_connections_active")
                 .Help("Open connections, by direction")
                 .Register(*registry_);
  bytes_ = &prometheus::BuildCounter()
                .Name("tether_proxy_bytes_total")
                .Help("Bytes relayed, by direction and flow (to_upstream, to_downstream)")
                .Register(*registry_);
  handshake_failures_ = &prometheus::BuildCounter()
                             .Name("tether_proxy_tls_handshake_failures_total")
                             .Help("mTLS handshakes that failed, by direction and reason")
                             .Register(*registry_);
  handshake_seconds_ = &prometheus::BuildHistogram()
                            .Name("tether_proxy_tls_handshake_seconds")
                            .Help("mTLS handshake latency, by direction")
                            .Register(*registry_);
  sessions_resumed_ = &prometheus::BuildCounter()
                           .Name("tether_proxy_tls_sessions_resumed_total")
                           .Help("mTLS handshakes that resumed a TLS session, by direction")
                           .Register(*registry_);
  tickets_declined_ =
      &prometheus::BuildCounter()
           .Name("tether_proxy_tls_tickets_declined_total")
           .Help(
               "Inbound: session tickets declined (a full handshake ran instead), by reason "
               "(unknown_key, expired, revoked)")
           .Register(*registry_);
  authorization_ = &prometheus::BuildCounter()
                        .Name("tether_proxy_authorization_decisions_total")
                        .Help("Inbound authorization decisions (allow, deny, audit)")
                        .Register(*registry_);
  cert_expiry_ = &prometheus::BuildGauge()
                      .Name("tether_proxy_certificate_expiry_timestamp_seconds")
                      .Help("When the proxy's current certificate expires (Unix time)")
                      .Register(*registry_)
                      .Add({});
  control_connected_ = &prometheus::BuildGauge()
                            .Name("tether_proxy_control_stream_connected")
                            .Help("1 while the certificate stream to the control plane is up")
                            .Register(*registry_)
                            .Add({});
  renewals_ = &prometheus::BuildCounter()
                   .Name("tether_proxy_certificate_renewals_total")
                   .Help("Certificates received from the control plane")
                   .Register(*registry_)
                   .Add({});
  policy_updates_ = &prometheus::BuildCounter()
                         .Name("tether_proxy_policy_updates_total")
                         .Help(
                             "Policies received from the control plane, by result "
                             "(applied, rejected, ignored)")
                         .Register(*registry_);
  policy_version_ = &prometheus::BuildGauge()
                         .Name("tether_proxy_policy_version")
                         .Help("Version of the control plane's policy in force (0: none yet)")
                         .Register(*registry_)
                         .Add({});
  closed_by_policy_ = &prometheus::BuildCounter()
                           .Name("tether_proxy_connections_closed_by_policy_total")
                           .Help(
                               "Open inbound connections closed because a new policy denies "
                               "them")
                           .Register(*registry_)
                           .Add({});
  discovery_updates_ =
      &prometheus::BuildCounter()
           .Name("tether_proxy_discovery_updates_total")
           .Help("Endpoint registry updates received, by result (applied, rejected)")
           .Register(*registry_);
  discovery_version_ = &prometheus::BuildGauge()
                            .Name("tether_proxy_discovery_version")
                            .Help("Version of the endpoint registry in force (0: none yet)")
                            .Register(*registry_)
                            .Add({});
  discovery_endpoints_ = &prometheus::BuildGauge()
                              .Name("tether_proxy_discovery_endpoints")
                              .Help("Entries of the endpoint registry in force")
                              .Register(*registry_)
                              .Add({});
  outbound_routes_ = &prometheus::BuildCounter()
                          .Name("tether_proxy_outbound_routes_total")
                          .Help(
                              "Outbound connections by route (mtls_verified, mtls_expected, "
                              "mtls_any_identity, passthrough, denied)")
                          .Register(*registry_);
  for (const char* route :
       {"mtls_verified", "mtls_expected", "mtls_any_identity", "passthrough", "denied"}) {
    outbound_routes_->Add({{"route", route}});
  }
  peer_connections_ = &prometheus::BuildCounter()
                           .Name("tether_proxy_peer_connections_total")
                           .Help(
                               "Connections ended, by direction, the peer's verified identity "
                               "(capped; 'other' beyond) and result (ok, failed)")
                           .Register(*registry_);
  peer_bytes_ = &prometheus::BuildCounter()
                     .Name("tether_proxy_peer_bytes_total")
                     .Help(
                         "Bytes relayed, by direction, the peer's verified identity (capped; "
                         "'other' beyond) and flow")
                     .Register(*registry_);
  http_retries_ = &prometheus::BuildCounter()
                       .Name("tether_proxy_http_retries_total")
                       .Help(
                           "HTTP requests sent again under a TrafficPolicy, by reason (5xx, "
                           "status, connect-failure, reset, per-try-timeout, stale_connection)")
                       .Register(*registry_);
  http_budget_exhausted_ = &prometheus::BuildCounter()
                                .Name("tether_proxy_http_retry_budget_exhausted_total")
                                .Help("HTTP retries the retry budget refused")
                                .Register(*registry_)
                                .Add({});
}

std::string ProxyMetrics::PeerLabel(absl::string_view peer_identity) {
  if (peer_identity.empty()) return kPeerUnauthenticated;
  MutexLock lock(&peers_mu_);
  if (peers_.contains(peer_identity)) return std::string(peer_identity);
  if (peers_.size() >= max_peer_identities_) return kPeerOther;
  peers_.emplace(peer_identity);
  return std::string(peer_identity);
}

void ProxyMetrics::PeerConnectionClosed(Direction d, absl::string_view peer_identity, bool failed,
                                        uint64_t up, uint64_t down) {
  const std::string dir(DirectionName(d));
  const std::string peer = PeerLabel(peer_identity);
  peer_connections_
      ->Add({{"direction", dir}, {"peer_identity", peer}, {"result", failed ? "failed" : "ok"}})
      .Increment();
  if (up) {
    peer_bytes_->Add({{"direction", dir}, {"peer_identity", peer}, {"flow", "to_upstream"}})
        .Increment(up);
  }
  if (down) {
    peer_bytes_->Add({{"direction", dir}, {"peer_identity", peer}, {"flow", "to_downstream"}})
        .Increment(down);
  }
}

void ProxyMetrics::ConnectionOpened(Direction d) {
  active_->Add({{"direction", std::string(DirectionName(d))}}).Increment();
}

void ProxyMetrics::ConnectionClosed(Direction d, absl::string_view outcome, uint64_t up,
                                    uint64_t down) {
  const std::string dir(DirectionName(d));
  active_->Add({{"direction", dir}}).Decrement();
  connections_->Add({{"direction", dir}, {"outcome", std::string(outcome)}}).Increment();
  if (up) bytes_->Add({{"direction", dir}, {"flow", "to_upstream"}}).Increment(up);
  if (down) bytes_->Add({{"direction", dir}, {"flow", "to_downstream"}}).Increment(down);
}

void ProxyMetrics::ConnectionRefused(Direction d, absl::string_view outcome) {
  connections_
      ->Add({{"direction", std::string(DirectionName(d))}, {"outcome", std::string(outcome)}})
      .Increment();
}

void ProxyMetrics::HandshakeFailed(Direction d, absl::string_view reason) {
  handshake_failures_
      ->Add({{"direction", std::string(DirectionName(d))}, {"reason", std::string(reason)}})
      .Increment();
}

void ProxyMetrics::TicketDeclined(absl::string_view reason) {
  tickets_declined_->Add({{"reason", std::string(reason)}}).Increment();
}

void ProxyMetrics::HandshakeDone(Direction d, absl::Duration latency, bool resumed) {
  if (resumed) {
    sessions_resumed_->Add({{"direction", std::string(DirectionName(d))}}).Increment();
  }
  handshake_seconds_
      ->Add({{"direction", std::string(DirectionName(d))}},
            prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01, 0.025, 0.1, 1})
      .Observe(absl::ToDoubleSeconds(latency));
}

void ProxyMetrics::PolicyUpdate(absl::string_view result, uint64_t version) {
  policy_updates_->Add({{"result", std::string(result)}}).Increment();
  if (result == "applied") policy_version_->Set(static_cast<double>(version));
}

void ProxyMetrics::ClosedByPolicy() { closed_by_policy_->Increment(); }

void ProxyMetrics::DiscoveryUpdate(absl::string_view result, uint64_t version, size_t endpoints) {
  discovery_updates_->Add({{"result", std::string(result)}}).Increment();
  if (result == "applied") {
    discovery_version_->Set(static_cast<double>(version));
    discovery_endpoints_->Set(static_cast<double>(endpoints));
  }
}

void ProxyMetrics::HttpRetry(absl::string_view reason) {
  http_retries_->Add({{"reason", std::string(reason)}}).Increment();
}

void ProxyMetrics::HttpRetryBudgetExhausted() { http_budget_exhausted_->Increment(); }

void ProxyMetrics::OutboundRoute(absl::string_view route) {
  outbound_routes_->Add({{"route", std::string(route)}}).Increment();
}

void ProxyMetrics::Authorization(absl::string_view decision, bool audited) {
  authorization_->Add({{"decision", std::string(decision)}}).Increment();
  if (audited) authorization_->Add({{"decision", "audit"}}).Increment();
}

void ProxyMetrics::SetCertificate(absl::Time not_after) {
  cert_expiry_->Set(absl::ToDoubleSeconds(not_after - absl::UnixEpoch()));
}

void ProxyMetrics::SetControlStreamConnected(bool connected) {
  control_connected_->Set(connected ? 1 : 0);
}

void ProxyMetrics::CertificateRenewed() { renewals_->Increment(); }

}  // namespace tether::proxy
