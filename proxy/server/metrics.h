// ProxyMetrics: the proxy's Prometheus metrics, served at the admin /metrics.
// Updated once per connection (at its end), never per read or write. Label
// values come from small fixed sets, so cardinality is bounded. Thread-safe.
#ifndef TETHER_PROXY_SERVER_METRICS_H_
#define TETHER_PROXY_SERVER_METRICS_H_

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tether::proxy {

enum class Direction { kInbound, kOutbound };
absl::string_view DirectionName(Direction d);

class ProxyMetrics {
 public:
  ProxyMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void ConnectionOpened(Direction d);
  // outcome: a RelayOutcome word, or "denied", "no_certificate", "over_limit".
  void ConnectionClosed(Direction d, absl::string_view outcome, uint64_t bytes_up,
                        uint64_t bytes_down);
  // Connections refused before a relay existed (never opened).
  void ConnectionRefused(Direction d, absl::string_view outcome);
  void HandshakeFailed(Direction d, absl::string_view reason);
  // resumed: the handshake resumed a TLS session (no certificate exchange).
  void HandshakeDone(Direction d, absl::Duration latency, bool resumed);
  // decision: "allow", "deny"; audited: an AUDIT policy matched.
  void Authorization(absl::string_view decision, bool audited);
  void SetCertificate(absl::Time not_after);
  void SetControlStreamConnected(bool connected);
  void CertificateRenewed();
  // result: "applied", "rejected" (invalid), "ignored" (--policy-file wins).
  void PolicyUpdate(absl::string_view result, uint64_t version);
  void ClosedByPolicy();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* connections_;
  prometheus::Family<prometheus::Gauge>* active_;
  prometheus::Family<prometheus::Counter>* bytes_;
  prometheus::Family<prometheus::Counter>* handshake_failures_;
  prometheus::Family<prometheus::Histogram>* handshake_seconds_;
  prometheus::Family<prometheus::Counter>* sessions_resumed_;
  prometheus::Family<prometheus::Counter>* authorization_;
  prometheus::Gauge* cert_expiry_;
  prometheus::Gauge* control_connected_;
  prometheus::Counter* renewals_;
  prometheus::Family<prometheus::Counter>* policy_updates_;
  prometheus::Gauge* policy_version_;
  prometheus::Counter* closed_by_policy_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_METRICS_H_
