#include "proxy/server/config.h"

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ip_text.h"

ABSL_FLAG(std::string, control, "", "Address of tether-control's certificate stream (host:port)");
ABSL_FLAG(std::string, control_server_name, "tether-control.tether-system.svc",
          "Name checked in the control plane's certificate");
ABSL_FLAG(std::string, ca_bundle, "", "PEM file with the mesh's root certificates");
ABSL_FLAG(std::string, join_token_file, "", "File holding a join token (outside Kubernetes)");
ABSL_FLAG(std::string, kubernetes_token_file, "",
          "File holding a projected service-account token with audience tether");
ABSL_FLAG(std::string, workload_name, "", "Name shown by `tetherctl workloads` (e.g. the pod)");
ABSL_FLAG(absl::Duration, cert_ttl, absl::ZeroDuration(),
          "Requested certificate lifetime (0: the CA's default)");
ABSL_FLAG(std::string, inbound_listen, "", "Inbound listener (default 0.0.0.0:15006)");
ABSL_FLAG(std::string, inbound_forward, "",
          "Explicit mode: where inbound connections go (the local app)");
ABSL_FLAG(std::string, outbound_listen, "", "Outbound listener (default 127.0.0.1:15001)");
ABSL_FLAG(std::string, outbound_forward, "",
          "Explicit mode: where outbound connections go (the peer's proxy)");
ABSL_FLAG(std::string, outbound_expect_identity, "",
          "Explicit mode: the SPIFFE ID the outbound peer must present");
ABSL_FLAG(bool, permissive, false, "Inbound also accepts plaintext (migration)");
ABSL_FLAG(std::string, policy_file, "", "Authorization policies (YAML) enforced on inbound");
ABSL_FLAG(std::string, default_policy, "allow-authenticated",
          "Inbound, when no DefaultPolicy is mesh-wide: allow-authenticated (mesh peers unless a "
          "policy says otherwise) or deny (only what an AuthorizationPolicy allows)");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:15000", "Admin endpoint");
ABSL_FLAG(std::string, health_listen, "",
          "Health endpoint (/ready, /live) for any peer, e.g. 0.0.0.0:15021 for the kubelet's "
          "probes; empty: none");
ABSL_FLAG(std::string, app_probes, "",
          "The app's kubelet probes, served on the health listener under /app-health/ "
          "(JSON; `tetherctl inject` writes it)");
ABSL_FLAG(std::string, app_probe_host, "127.0.0.1",
          "Where app probes go: the pod's IP, as the kubelet would probe it");
ABSL_FLAG(std::string, metrics_listen, "",
          "Metrics endpoint (/metrics only) for any peer, e.g. 0.0.0.0:15090 for Prometheus; "
          "empty: none (the admin endpoint serves /metrics on loopback)");
ABSL_FLAG(int, peer_metrics_max_identities, 100,
          "Distinct peer identities labelled in tether_proxy_peer_* metrics; beyond: \"other\"");
ABSL_FLAG(std::string, log_level, "info",
          "error, warning, info or debug (debug: access log on stdout unless --access-log)");
ABSL_FLAG(bool, session_resumption, true,
          "Outbound: resume TLS sessions with upstream peers (the peer is re-verified each time)");
ABSL_FLAG(std::string, outbound_unknown, "passthrough",
          "Outbound to a destination the control plane's endpoint registry does not know: "
          "passthrough (plain TCP, untouched), deny, or mtls (any mesh identity); in explicit "
          "mode passthrough means mtls");
ABSL_FLAG(int, workers, 1, "Worker threads, each with its own event loop");
ABSL_FLAG(int, max_connections, 65536, "Open connections per direction before refusing");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5), "Upstream connect timeout");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10), "TLS handshake timeout");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Hours(1), "Close connections idle this long");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM, how long open connections may finish");
ABSL_FLAG(std::string, access_log, "", "JSON-lines access log path ('-' for stdout)");
ABSL_FLAG(bool, access_log_requests, false,
          "Also one access-log line per HTTP request (route, status, duration, bytes, both "
          "identities); implies --access-log=- unless it names a file");
ABSL_FLAG(bool, http_metrics, true,
          "Count HTTP/1.x requests per route (tether_proxy_http_*); the bytes are never changed");
ABSL_FLAG(std::string, opaque_ports, "25,587,3306,4444,5432,6379,9300,11211",
          "Ports whose connections are never parsed as HTTP (server-first protocols), comma "
          "separated; \"\": none");
ABSL_FLAG(std::string, http_forward, "policy",
          "Which outbound HTTP/1.1 is terminated (timeouts, retries, pooled mTLS connections): "
          "\"policy\" (to destinations a TrafficPolicy names) or \"all\" (every meshed "
          "destination); the rest is relayed byte for byte");
ABSL_FLAG(bool, http_balance, true,
          "HTTP/1.1 to a Kubernetes Service port whose endpoints are meshed is terminated and "
          "each request sent to one of them (peak-EWMA, power of two choices, failure "
          "accrual); false: to the ClusterIP, balanced per connection by kube-proxy");
ABSL_FLAG(absl::Duration, http_detect_timeout, absl::Milliseconds(50),
          "For a destination a TrafficPolicy names: how long to wait for the app's first "
          "bytes before relaying the connection as TCP (server-first protocols)");
ABSL_FLAG(int, http_max_routes, 100,
          "Distinct routes labelled per direction and worker; beyond: \"[other]\"");

namespace tether::proxy {

absl::Status Validate(const ProxyConfig& c) {
  if (c.control_address.empty()) return absl::InvalidArgumentError("--control is required");
  if (c.ca_bundle_file.empty()) return absl::InvalidArgumentError("--ca-bundle is required");
  if (c.bootstrap.join_token_file.empty() && c.bootstrap.kubernetes_token_file.empty()) {
    return absl::InvalidArgumentError(
        "a bootstrap credential is required: --join-token-file or --kubernetes-token-file");
  }
  if (!c.transparent) {
    if (c.inbound_listen.empty() != c.inbound_forward.empty()) {
      return absl::InvalidArgumentError(
          "explicit mode: give --inbound-listen and --inbound-forward together");
    }
    if (c.outbound_listen.empty() != c.outbound_forward.empty()) {
      return absl::InvalidArgumentError(
          "explicit mode: give --outbound-listen and --outbound-forward together");
    }
    if (c.inbound_listen.empty() && c.outbound_listen.empty()) {
      return absl::InvalidArgumentError("explicit mode needs an inbound or an outbound pair");
    }
  }
  if (c.workers < 1 || c.workers > 256) {
    return absl::InvalidArgumentError("--workers must be between 1 and 256");
  }
  if (c.max_peer_identities < 0 || c.max_peer_identities > 100000) {
    return absl::InvalidArgumentError("--peer-metrics-max-identities must be between 0 and 100000");
  }
  if (!c.app_probes.empty() && c.health_listen.empty()) {
    return absl::InvalidArgumentError("--app-probes needs --health-listen, where they are served");
  }
  if (!c.app_probes.empty() && !CanonicalIp(c.app_probe_host).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--app-probe-host \"", c.app_probe_host, "\" is not an IP address"));
  }
  if (c.max_connections < 1) return absl::InvalidArgumentError("--max-connections must be >= 1");
  if (c.log_level != "error" && c.log_level != "warning" && c.log_level != "info" &&
      c.log_level != "debug") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level \"", c.log_level, "\" is not error, warning, info or debug"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint16_t>> ParsePortList(absl::string_view list) {
  std::vector<uint16_t> out;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    int port = 0;
    if (!absl::SimpleAtoi(item, &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("\"", item, "\" is not a port number"));
    }
    out.push_back(static_cast<uint16_t>(port));
  }
  return out;
}

absl::StatusOr<ProxyConfig> ConfigFromFlags() {
  ProxyConfig c;
  c.control_address = absl::GetFlag(FLAGS_control);
  c.control_server_name = absl::GetFlag(FLAGS_control_server_name);
  c.ca_bundle_file = absl::GetFlag(FLAGS_ca_bundle);
  c.bootstrap.join_token_file = absl::GetFlag(FLAGS_join_token_file);
  c.bootstrap.kubernetes_token_file = absl::GetFlag(FLAGS_kubernetes_token_file);
  c.workload_name = absl::GetFlag(FLAGS_workload_name);
  c.cert_ttl = absl::GetFlag(FLAGS_cert_ttl);
  const std::string in_fwd = absl::GetFlag(FLAGS_inbound_forward);
  const std::string out_fwd = absl::GetFlag(FLAGS_outbound_forward);
  c.transparent = in_fwd.empty() && out_fwd.empty();
  if (c.transparent) {
    c.inbound_listen = absl::GetFlag(FLAGS_inbound_listen);
    c.outbound_listen = absl::GetFlag(FLAGS_outbound_listen);
    if (c.inbound_listen.empty()) c.inbound_listen = "0.0.0.0:15006";
    if (c.outbound_listen.empty()) c.outbound_listen = "127.0.0.1:15001";
  } else {
    c.inbound_listen = absl::GetFlag(FLAGS_inbound_listen);
    c.outbound_listen = absl::GetFlag(FLAGS_outbound_listen);
    c.inbound_forward = in_fwd;
    c.outbound_forward = out_fwd;
  }
  const std::string expect = absl::GetFlag(FLAGS_outbound_expect_identity);
  if (!expect.empty()) {
    auto id = pki::SpiffeId::Parse(expect);
    if (!id.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--outbound-expect-identity: ", id.status().message()));
    }
    c.outbound_expect_identity = *id;
  }
  const std::string unknown = absl::GetFlag(FLAGS_outbound_unknown);
  if (unknown == "mtls") {
    c.outbound_unknown = ProxyConfig::UnknownDestination::kMtls;
  } else if (unknown == "passthrough") {
    c.outbound_unknown = ProxyConfig::UnknownDestination::kPassthrough;
  } else if (unknown == "deny") {
    c.outbound_unknown = ProxyConfig::UnknownDestination::kDeny;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--outbound-unknown: \"", unknown,
                                                   "\" is not one of mtls, passthrough, deny"));
  }
  c.permissive = absl::GetFlag(FLAGS_permissive);
  c.policy_file = absl::GetFlag(FLAGS_policy_file);
  if (const std::string d = absl::GetFlag(FLAGS_default_policy); d == "allow-authenticated") {
    c.default_policy = policy::DefaultAction::kAllowAuthenticated;
  } else if (d == "deny") {
    c.default_policy = policy::DefaultAction::kDeny;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--default-policy: \"", d, "\" is not one of allow-authenticated, deny"));
  }
  c.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  c.session_resumption = absl::GetFlag(FLAGS_session_resumption);
  c.workers = absl::GetFlag(FLAGS_workers);
  c.max_connections = absl::GetFlag(FLAGS_max_connections);
  c.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  c.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  c.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  c.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  c.access_log = absl::GetFlag(FLAGS_access_log);
  c.http_metrics = absl::GetFlag(FLAGS_http_metrics);
  const std::string forward = absl::GetFlag(FLAGS_http_forward);
  if (forward == "policy") {
    c.http_forward_all = false;
  } else if (forward == "all") {
    c.http_forward_all = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-forward: \"", forward, "\" is not one of policy, all"));
  }
  c.http_balance = absl::GetFlag(FLAGS_http_balance);
  c.http_detect_timeout = absl::GetFlag(FLAGS_http_detect_timeout);
  if (c.http_detect_timeout <= absl::ZeroDuration() || c.http_detect_timeout > absl::Seconds(10)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-detect-timeout=", absl::FormatDuration(c.http_detect_timeout),
                     ": must be more than 0 and at most 10s"));
  }
  c.access_log_requests = absl::GetFlag(FLAGS_access_log_requests);
  if (c.access_log_requests) {
    if (!c.http_metrics) {
      return absl::InvalidArgumentError("--access-log-requests needs --http-metrics");
    }
    if (c.access_log.empty()) c.access_log = "-";
  }
  absl::StatusOr<std::vector<uint16_t>> opaque = ParsePortList(absl::GetFlag(FLAGS_opaque_ports));
  if (!opaque.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--opaque-ports: ", opaque.status().message()));
  }
  c.opaque_ports = *std::move(opaque);
  if (absl::GetFlag(FLAGS_http_max_routes) < 1) {
    return absl::InvalidArgumentError("--http-max-routes must be at least 1");
  }
  c.http_max_routes = static_cast<size_t>(absl::GetFlag(FLAGS_http_max_routes));
  c.health_listen = absl::GetFlag(FLAGS_health_listen);
  c.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  absl::StatusOr<AppProbes> probes = ParseAppProbes(absl::GetFlag(FLAGS_app_probes));
  if (!probes.ok()) return probes.status();
  c.app_probes = *std::move(probes);
  c.app_probe_host = absl::GetFlag(FLAGS_app_probe_host);
  c.max_peer_identities = absl::GetFlag(FLAGS_peer_metrics_max_identities);
  c.log_level = absl::GetFlag(FLAGS_log_level);
  if (c.log_level == "debug" && c.access_log.empty()) c.access_log = "-";
  if (absl::Status st = Validate(c); !st.ok()) return st;
  return c;
}

}  // namespace tether::proxy
