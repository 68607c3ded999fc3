// ProxyServer: tether-proxy assembled: the identity manager, the policy, the
// workers, the admin endpoint; and the drain on shutdown.
//
//   auto server = ProxyServer::Start(config, connector.get(), RealClock::Default());
//   (*server)->inbound_port();  // the bound ports, useful with port 0
//   (*server)->Drain(absl::Seconds(30));  // SIGTERM: stop accepting, let connections finish
#ifndef TETHER_PROXY_SERVER_PROXY_SERVER_H_
#define TETHER_PROXY_SERVER_PROXY_SERVER_H_

#include <atomic>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/http/server.h"
#include "common/policy/policy.h"
#include "common/policy/traffic.h"
#include "common/sync/notification.h"
#include "proxy/discovery/endpoint_table.h"
#include "proxy/identity/ca_connector.h"
#include "proxy/identity/identity_manager.h"
#include "proxy/server/access_log.h"
#include "proxy/server/config.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/server/metrics.h"
#include "proxy/server/own_listeners.h"
#include "proxy/server/worker.h"

namespace tether::proxy {

class ProxyServer {
 public:
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Start(const ProxyConfig& config,
                                                            CaConnector* connector,
                                                            const Clock* clock);
  ~ProxyServer();

  int inbound_port() const;
  int outbound_port() const;
  int admin_port() const { return admin_port_; }
  // health_port: the --health-listen port; 0 when there is none.
  int health_port() const { return health_port_; }
  // metrics_port: the --metrics-listen port; 0 when there is none.
  int metrics_port() const { return metrics_port_; }
  IdentityManager* identity() { return identity_.get(); }
  ProxyMetrics* metrics() { return &metrics_; }
  // traffic: the TrafficPolicies in force (null before any policy is held).
  std::shared_ptr<const policy::TrafficTable> traffic() const { return traffic_.Load(); }

  // Drain stops accepting, waits up to `deadline` for open connections to end,
  // then resets the rest and stops everything.
  void Drain(absl::Duration deadline);
  // Quit asks the process to end (POST /quitquitquit): WaitForQuit returns.
  void Quit() { quit_.Notify(); }
  bool WaitForQuit(absl::Duration timeout) { return quit_.WaitForNotificationWithTimeout(timeout); }
  size_t active_connections() const;

 private:
  ProxyServer(ProxyConfig config, const Clock* clock)
      : config_(std::move(config)),
        clock_(clock),
        metrics_(static_cast<size_t>(config_.max_peer_identities)),
        limiter_(config_.max_connections) {}
  absl::Status Init(CaConnector* connector);
  void OnIdentityChange(const IdentitySnapshot& snapshot);
  void OnPolicy(const tether::policy::v1::PolicySnapshot& msg);
  void OnDiscovery(const tether::discovery::v1::DiscoveryUpdate& msg);
  // OnRevocations hands a revocation list to every worker, which closes the
  // open connections whose peers it revokes.
  void OnRevocations(const RevocationUpdate& update);
  // Recompile compiles the policy in force for the current identity.
  void Recompile();
  // StoreTraffic compiles and installs the TrafficPolicies of `set`.
  void StoreTraffic(const policy::PolicySet& set);

  const ProxyConfig config_;
  const Clock* const clock_;
  ProxyMetrics metrics_;
  // HTTP golden metrics (--http-metrics); before the workers, which use it.
  std::unique_ptr<HttpStats> http_stats_;
  std::unique_ptr<RequestTap> request_tap_;  // with http_stats_
  ConnectionLimiter limiter_;
  std::unique_ptr<IdentityManager> identity_;
  // The policy in force: --policy-file's, or the control plane's; touched only
  // on the identity manager's thread (and in Init, before it starts).
  std::optional<policy::PolicySet> policies_;
  uint64_t policy_version_ = 0;  // the control plane's; 0: none received
  // Set once a policy is held (see ProxyContext::policy_held); never unset.
  std::atomic<bool> policy_held_{false};
  AtomicSharedPtr<const policy::CompiledPolicy> compiled_policy_;
  // The TrafficPolicies in force (client side: timeouts, retries), compiled
  // from policies_->traffic; null until a policy is held. Read by the HTTP
  // forwarder through ProxyContext::traffic.
  AtomicSharedPtr<const policy::TrafficTable> traffic_;
  // The endpoint registry; written on the identity manager's thread.
  AtomicSharedPtr<const EndpointTable> endpoints_;
  std::unique_ptr<AccessLog> access_log_;
  // The ports of every listener below, for the workers (transparent mode):
  // filled in Init before they start, read-only afterwards.
  OwnListeners own_listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<http::AdminServer> admin_;
  int admin_port_ = 0;
  std::unique_ptr<http::AdminServer> health_;
  int health_port_ = 0;
  std::unique_ptr<http::AdminServer> metrics_server_;
  int metrics_port_ = 0;
  std::atomic<bool> draining_{false};
  Notification quit_;
  bool stopped_ = false;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_PROXY_SERVER_H_
