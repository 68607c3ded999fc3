// Admin: the proxy's operator endpoints on --admin-listen (127.0.0.1:15000).
// The health listener (--health-listen, e.g. 0.0.0.0:15021 in a pod) serves
// only /ready and /live, to any peer; the metrics listener (--metrics-listen,
// for Prometheus from outside the pod) only /metrics.
//
//   GET  /ready          200 once a certificate is held (and not draining), else 503 + why
//   GET  /live           200 while the process runs
//   GET  /metrics        Prometheus text format
//   GET  /certs          JSON: identity, serial, validity, chain, trust bundle, stream state
//   GET  /config         JSON: the running configuration (no credentials)
//   GET  /debug/failures JSON: recent handshake, authorization and connect failures, newest first
//   GET  /endpoints      JSON: the endpoint registry as this proxy holds it (secure naming)
//   GET  /traffic        JSON: the TrafficPolicies this proxy holds (timeouts, retries, budgets)
//   GET  /requests?since=N  JSON: HTTP requests answered lately (tetherctl top); recording
//                        starts with the first read and stops 10 s after the last
//   POST /drain          stop accepting; open connections finish (readiness turns 503)
//   POST /quitquitquit   drain, then exit (lets a Job's pod complete)
#ifndef TETHER_PROXY_SERVER_ADMIN_H_
#define TETHER_PROXY_SERVER_ADMIN_H_

#include <functional>
#include <vector>

#include "common/clock.h"
#include "common/http/server.h"
#include "common/policy/traffic.h"
#include "proxy/http/request_tap.h"
#include "proxy/identity/identity_manager.h"
#include "proxy/server/config.h"
#include "proxy/server/failure_log.h"
#include "proxy/server/metrics.h"

namespace tether::proxy {

struct AdminHooks {
  std::function<void()> drain;
  std::function<void()> quit;
  std::function<bool()> draining;
  // policy_held: an authorization policy is held (null: not asked).
  std::function<bool()> policy_held;
  // failures: every worker's recent failures, newest first; `*total` gets
  // the number ever recorded.
  std::function<std::vector<FailureRecord>(uint64_t* total)> failures;
  // endpoints: the JSON of /endpoints.
  std::function<std::string()> endpoints;
  // traffic: the TrafficPolicies held (null: none yet).
  std::function<std::shared_ptr<const policy::TrafficTable>()> traffic;
  // requests: the tap's records after sequence number `since`.
  std::function<std::vector<TappedRequest>(uint64_t since)> requests;
};

// RequestsJson renders /requests: {"seq": LAST, "requests": [{"seq",
// "time", "direction", "client", "server", "method", "path", "status",
// "duration_ms"}]}; LAST is `since` when there are none.
std::string RequestsJson(const std::vector<TappedRequest>& records, uint64_t since);

void RegisterAdminEndpoints(http::AdminServer& server, const ProxyConfig& config,
                            IdentityManager* identity, ProxyMetrics* metrics, const Clock* clock,
                            const AdminHooks& hooks);

// RegisterHealthEndpoints registers only GET /ready and /live: what the
// health listener (--health-listen, reachable by the kubelet's probes)
// serves. The admin endpoints include them.
void RegisterHealthEndpoints(http::AdminServer& server, IdentityManager* identity,
                             const Clock* clock, const AdminHooks& hooks);

// RegisterMetricsEndpoint registers only GET /metrics: what the metrics
// listener serves (the admin endpoints include it).
void RegisterMetricsEndpoint(http::AdminServer& server, IdentityManager* identity,
                             ProxyMetrics* metrics);

// TrafficJson renders what /traffic shows: {"count": N, "policies": [{"name":
// "shop/cart", "destination": "shop/sa/cart", "port": 8080, "timeout": "2s",
// "retry": {...}, "budget": {...}, "routes": [...]}]}; `table` may be null.
std::string TrafficJson(const policy::TrafficTable* table);

// CertsJson renders what /certs shows (exposed for tests and `tetherctl`).
std::string CertsJson(const IdentitySnapshot* snapshot, const IdentityStatus& status,
                      absl::Time now);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_ADMIN_H_
