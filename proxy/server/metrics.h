// ProxyMetrics: the proxy's Prometheus metrics, served at the admin /metrics
// (and --metrics-listen). Updated once per connection (at its end), never per
// read or write. Label values come from small fixed sets, except the peer's
// identity in tether_proxy_peer_*, which is capped: after
// `max_peer_identities` distinct identities, new ones are counted as
// "other". Thread-safe.
#ifndef TETHER_PROXY_SERVER_METRICS_H_
#define TETHER_PROXY_SERVER_METRICS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"

namespace tether::proxy {

enum class Direction { kInbound, kOutbound };
absl::string_view DirectionName(Direction d);

inline constexpr size_t kDefaultMaxPeerIdentities = 100;
// Peer identity label values besides SPIFFE IDs.
inline constexpr char kPeerUnauthenticated[] = "unauthenticated";  // no verified identity
inline constexpr char kPeerOther[] = "other";                      // over the cap

class ProxyMetrics {
 public:
  explicit ProxyMetrics(size_t max_peer_identities = kDefaultMaxPeerIdentities);
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // AddCollectable adds series built at scrape time (HttpStats); call
  // before serving /metrics.
  void AddCollectable(std::shared_ptr<prometheus::Collectable> c) {
    collectables_.push_back(std::move(c));
  }
  const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables() const {
    return collectables_;
  }

  void ConnectionOpened(Direction d);
  // outcome: a RelayOutcome word, or "denied", "no_certificate", "no_policy",
  // "over_limit", "own_listener", "not_pod_address", "closed_by_policy",
  // "closed_by_revocation" (the peer's certificate was revoked while open).
  void ConnectionClosed(Direction d, absl::string_view outcome, uint64_t bytes_up,
                        uint64_t bytes_down);
  // Connections refused before a relay existed (never opened).
  void ConnectionRefused(Direction d, absl::string_view outcome);
  void HandshakeFailed(Direction d, absl::string_view reason);
  // resumed: the handshake resumed a TLS session (no certificate exchange).
  void HandshakeDone(Direction d, absl::Duration latency, bool resumed);
  // Inbound: a client's session ticket was declined and a full handshake
  // ran instead (reason: TlsObservation::ticket_declined).
  void TicketDeclined(absl::string_view reason);
  // decision: "allow", "deny"; audited: an AUDIT policy matched.
  void Authorization(absl::string_view decision, bool audited);
  void SetCertificate(absl::Time not_after);
  void SetControlStreamConnected(bool connected);
  void CertificateRenewed();
  // result: "applied", "rejected" (invalid), "ignored" (--policy-file wins).
  void PolicyUpdate(absl::string_view result, uint64_t version);
  void ClosedByPolicy();
  // result: "applied", "rejected" (invalid or out of order: the table stays).
  void DiscoveryUpdate(absl::string_view result, uint64_t version, size_t endpoints);
  // An outbound connection's route: "mtls_verified" (the registry names the
  // server), "mtls_expected" (--outbound-expect-identity), "mtls_any_identity"
  // (unknown, --outbound-unknown=mtls), "passthrough", "denied".
  void OutboundRoute(absl::string_view route);
  // HTTP requests a TrafficPolicy applies to: a retry sent, by reason
  // ("5xx", "status", "connect-failure", "reset", "per-try-timeout",
  // "stale_connection"), and a retry the retry budget refused.
  void HttpRetry(absl::string_view reason);
  void HttpRetryBudgetExhausted();
  // PeerConnectionClosed counts a connection that ended by its peer's
  // verified SPIFFE ID (empty: none), whether it failed to get through
  // (IsFailureOutcome), and its bytes.
  void PeerConnectionClosed(Direction d, absl::string_view peer_identity, bool failed,
                            uint64_t bytes_up, uint64_t bytes_down);
  // PeerLabel: the label value for `peer_identity` (see the banner).
  std::string PeerLabel(absl::string_view peer_identity);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  prometheus::Family<prometheus::Counter>* connections_;
  prometheus::Family<prometheus::Gauge>* active_;
  prometheus::Family<prometheus::Counter>* bytes_;
  prometheus::Family<prometheus::Counter>* handshake_failures_;
  prometheus::Family<prometheus::Histogram>* handshake_seconds_;
  prometheus::Family<prometheus::Counter>* sessions_resumed_;
  prometheus::Family<prometheus::Counter>* tickets_declined_;
  prometheus::Family<prometheus::Counter>* authorization_;
  prometheus::Gauge* cert_expiry_;
  prometheus::Gauge* control_connected_;
  prometheus::Counter* renewals_;
  prometheus::Family<prometheus::Counter>* policy_updates_;
  prometheus::Gauge* policy_version_;
  prometheus::Counter* closed_by_policy_;
  prometheus::Family<prometheus::Counter>* discovery_updates_;
  prometheus::Gauge* discovery_version_;
  prometheus::Gauge* discovery_endpoints_;
  prometheus::Family<prometheus::Counter>* outbound_routes_;
  prometheus::Family<prometheus::Counter>* peer_connections_;
  prometheus::Family<prometheus::Counter>* peer_bytes_;
  prometheus::Family<prometheus::Counter>* http_retries_;
  prometheus::Counter* http_budget_exhausted_;

  const size_t max_peer_identities_;
  Mutex peers_mu_;
  absl::flat_hash_set<std::string> peers_ ABSL_GUARDED_BY(peers_mu_);
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_METRICS_H_
