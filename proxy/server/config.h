// ProxyConfig: how one tether-proxy runs, from its flags.
//
// Transparent mode (a pod, iptables from `tether-proxy init`; what
// `tetherctl inject` writes):
//   tether-proxy --control tether-control.tether-system.svc:15012
//       --ca-bundle /var/run/tether/trust/roots.pem
//       --kubernetes-token-file /var/run/secrets/tether/token --health-listen 0.0.0.0:15021
// Explicit mode (no iptables: a VM, a test, a benchmark):
//   tether-proxy --control 127.0.0.1:15012 --ca-bundle roots.pem --join-token-file token
//       --inbound-listen 127.0.0.1:8443 --inbound-forward 127.0.0.1:8080
//       --outbound-listen 127.0.0.1:9000 --outbound-forward 127.0.0.1:8443
//       --outbound-expect-identity spiffe://mesh.local/ns/shop/sa/cart
#ifndef TETHER_PROXY_SERVER_CONFIG_H_
#define TETHER_PROXY_SERVER_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pki/spiffe_id.h"
#include "common/policy/policy.h"
#include "proxy/identity/bootstrap.h"
#include "proxy/probe/app_probe.h"

namespace tether::proxy {

struct ProxyConfig {
  // Control plane.
  std::string control_address;
  std::string control_server_name = "tether-control.tether-system.svc";
  std::string ca_bundle_file;
  BootstrapOptions bootstrap;
  std::string workload_name;
  absl::Duration cert_ttl = absl::ZeroDuration();  // zero: the CA's default

  // Listeners. In transparent mode both directions forward to the original
  // destination: inbound the pod's own address the peer dialled (never
  // loopback), outbound the address the app dialled; a destination that is
  // one of the proxy's own listeners is refused (proxy/server/own_listeners.h).
  bool transparent = true;
  // Empty: not listened on. ConfigFromFlags fills in transparent mode's
  // defaults (inbound 0.0.0.0:15006, outbound 127.0.0.1:15001).
  std::string inbound_listen;
  std::string inbound_forward;  // explicit mode only
  std::string outbound_listen;
  std::string outbound_forward;  // explicit mode only
  std::optional<pki::SpiffeId> outbound_expect_identity;
  // Outbound to a destination the endpoint registry does not know:
  // kPassthrough forwards it as plain TCP, untouched (transparent mode; an
  // explicit-mode forward address always speaks mTLS), kDeny refuses it
  // (strict egress), kMtls wraps it in mTLS and accepts any mesh identity.
  // A destination the registry knows as not meshed is passed through
  // (transparent mode) whatever this says; before the first registry
  // update every unknown destination gets mTLS with any mesh identity.
  enum class UnknownDestination { kMtls, kPassthrough, kDeny };
  UnknownDestination outbound_unknown = UnknownDestination::kPassthrough;
  // Inbound: strict accepts mTLS only; permissive also plaintext.
  bool permissive = false;
  std::string policy_file;
  // What applies to inbound connections when no DefaultPolicy is mesh-wide:
  // kAllowAuthenticated (mesh peers allowed unless a policy says otherwise)
  // or kDeny (only what an AuthorizationPolicy allows).
  policy::DefaultAction default_policy = policy::DefaultAction::kAllowAuthenticated;

  std::string admin_listen = "127.0.0.1:15000";
  // /ready and /live only, for any peer (the kubelet's probes); empty: off.
  std::string health_listen;
  // The app's kubelet probes, served on the health listener (see
  // proxy/probe/app_probe.h), and the address they go to.
  AppProbes app_probes;
  std::string app_probe_host = "127.0.0.1";
  // /metrics only, for any peer (Prometheus scraping the pod); empty: off.
  std::string metrics_listen;
  // Distinct peer identities labelled in tether_proxy_peer_*; beyond: "other".
  int max_peer_identities = 100;
  // error, warning, info or debug. debug also turns the access log on
  // (stdout) unless access_log names a file; warning and error keep the
  // proxy quiet about its start.
  std::string log_level = "info";
  // Outbound: resume TLS sessions with upstream peers (tickets kept per
  // worker and upstream); the peer is verified again on every resumption.
  bool session_resumption = true;
  int workers = 1;
  size_t buffer_size = 32 * 1024;
  int max_connections = 65536;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Hours(1);
  absl::Duration drain_timeout = absl::Seconds(30);
  // Access log: JSON lines to this path ("-": stdout); empty: off. One line
  // per connection, and with access_log_requests one per HTTP request too.
  std::string access_log;
  bool access_log_requests = false;
  // HTTP golden metrics of HTTP/1.x connections (proxy/http/http1_observer.h),
  // except to or at these ports, which stay opaque (server-first protocols,
  // Linkerd's default list; the injector adds tether.io/opaque-ports).
  bool http_metrics = true;
  std::vector<uint16_t> opaque_ports = {25, 587, 3306, 4444, 5432, 6379, 9300, 11211};
  size_t http_max_routes = 100;
  // Outbound to a destination a TrafficPolicy names: the wait for the app's
  // first bytes (HTTP/1.1 is terminated; anything else, or nothing, relayed).
  absl::Duration http_detect_timeout = absl::Milliseconds(50);
  // --http-forward=all: every outbound HTTP/1.1 to a mesh destination is
  // terminated and sent over pooled mTLS connections, not only what a
  // TrafficPolicy names.
  bool http_forward_all = false;
  // --http-balance: HTTP/1.1 to a Kubernetes Service port with meshed
  // endpoints is terminated and balanced per request over them.
  bool http_balance = true;
};

// ConfigFromFlags reads the flags declared in config.cc and validates them;
// InvalidArgument naming the flag on any problem.
absl::StatusOr<ProxyConfig> ConfigFromFlags();

// ParsePortList: "25, 3306" -> {25, 3306}; "" -> {}; InvalidArgument naming
// an item that is not a port.
absl::StatusOr<std::vector<uint16_t>> ParsePortList(absl::string_view list);

// Validate checks a config however it was made.
absl::Status Validate(const ProxyConfig& config);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_CONFIG_H_
