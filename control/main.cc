// tether-control: the control plane and mesh CA.
//
//   tether-control --state-dir /var/lib/tether --trust-domain mesh.local
//       --grpc-listen 0.0.0.0:15012 [--admin-listen unix:/run/tether/control.sock] --cert-ttl 1h
//       [--kubernetes]   # also accept projected service-account tokens (TokenReview)
//                        # and take authorization policies from ConfigMaps
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <signal.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/unix_socket.h"
#include "common/version.h"
#include "control/admin_address.h"
#include "control/control_plane.h"
#include "control/inject/flags.h"
#include "control/kubernetes/api_client.h"
#include "control/kubernetes/cluster_publisher.h"
#include "control/kubernetes/configmap_policy_source.h"
#include "control/kubernetes/endpoint_source.h"
#include "control/kubernetes/revocation_configmap.h"
#include "control/kubernetes/token_review.h"

ABSL_FLAG(std::string, state_dir, "", "Directory for the CA key, tokens and records (required)");
ABSL_FLAG(std::string, trust_domain, "cluster.local", "The mesh's SPIFFE trust domain");
ABSL_FLAG(std::string, grpc_listen, "0.0.0.0:15012", "Address of the certificate stream (mTLS)");
ABSL_FLAG(std::string, admin_listen, tether::control::kDefaultAdminAddress,
          "Address of the admin API: unix:PATH (a socket whose mode and group decide who may "
          "use it) or a loopback IP:PORT (any local user may use it)");
ABSL_FLAG(std::string, admin_socket_mode, tether::control::kDefaultAdminSocketMode,
          "With --admin-listen unix:PATH: the socket file's mode (octal)");
ABSL_FLAG(std::string, admin_socket_group, "",
          "With --admin-listen unix:PATH: the socket file's group (name or number), whose "
          "members may use the admin API; default: the process's group");
ABSL_FLAG(bool, admin_allow_remote, false, "Allow a non-loopback --admin-listen");
ABSL_FLAG(std::string, health_listen, "",
          "/healthz and /ready for any peer (the kubelet's probes) on a listener of their own, "
          "e.g. 0.0.0.0:15021; empty: none (they are on the admin API too)");
ABSL_FLAG(std::string, metrics_listen, "",
          "Metrics endpoint (/metrics only) for any peer, e.g. 0.0.0.0:15090 for Prometheus; "
          "empty: none (the admin port serves /metrics on loopback)");
ABSL_FLAG(absl::Duration, cert_ttl, absl::Hours(1), "Lifetime of workload certificates (>= 1m)");
ABSL_FLAG(std::string, ca_dir, "",
          "Operator's CA: a directory with ca-cert.pem, ca-key.pem, cert-chain.pem, "
          "root-cert.pem (as Istio's cacerts); default: a self-managed root in --state-dir");
ABSL_FLAG(std::string, audit_log, "", "Audit log path ('-' for stderr; default STATE/audit.jsonl)");
ABSL_FLAG(std::string, serving_dns_names, "",
          "Extra comma-separated DNS names for the control plane's serving certificate");
ABSL_FLAG(std::string, policy_source, "",
          "Where authorization policies come from: 'dir' (--policy-dir, written by tetherctl "
          "policy apply) or 'kubernetes' (ConfigMaps labelled tether.io/policy, in every "
          "namespace); default: kubernetes with --kubernetes, else dir");
ABSL_FLAG(std::string, policy_dir, "",
          "Directory of authorization policy YAML files (default STATE/policies); edits are "
          "picked up within --policy-poll");
ABSL_FLAG(absl::Duration, policy_poll, absl::ZeroDuration(),
          "How often the policy source is checked for changes (default: 200ms for dir, 1s for "
          "kubernetes)");
ABSL_FLAG(std::string, policy_root_namespace,
          tether::control::kubernetes::kDefaultPolicyRootNamespace,
          "With --policy-source kubernetes: the control plane's own namespace, whose ConfigMaps "
          "alone may set the mesh-wide DefaultPolicy");
ABSL_FLAG(bool, close_denied_connections, false,
          "Tell proxies to close open connections that a changed policy denies");
ABSL_FLAG(double, rate_limit, 30,
          "Certificate requests per minute per workload instance (a pod, a join token's "
          "workload; renewals count for the instance that bootstrapped them)");
ABSL_FLAG(double, rate_burst, 10, "Burst of --rate-limit");
ABSL_FLAG(double, identity_rate_limit, 300,
          "Certificate requests per minute per SPIFFE ID, over all its instances: keep it above "
          "--rate-limit times the replicas that renew at once");
ABSL_FLAG(double, identity_rate_burst, 100, "Burst of --identity-rate-limit");
ABSL_FLAG(bool, kubernetes, false,
          "Accept Kubernetes projected service-account tokens, checked with the cluster's "
          "TokenReview API");
ABSL_FLAG(bool, kubernetes_discovery, true,
          "With --kubernetes: fill the endpoint registry from the cluster's Pods, Services and "
          "EndpointSlices (secure naming); it is streamed to proxies once first listed");
ABSL_FLAG(std::string, kubernetes_api_host, "",
          "Kubernetes API server host (default: $KUBERNETES_SERVICE_HOST)");
ABSL_FLAG(int, kubernetes_api_port, 0,
          "Kubernetes API server port (default: $KUBERNETES_SERVICE_PORT, else 443)");
ABSL_FLAG(std::string, kubernetes_ca_file, tether::control::kubernetes::kDefaultCaFile,
          "CA bundle that signed the Kubernetes API server's certificate");
ABSL_FLAG(std::string, kubernetes_token_file, tether::control::kubernetes::kDefaultTokenFile,
          "The control plane's own service-account token, sent to the API server (re-read "
          "on every review)");
ABSL_FLAG(std::string, kubernetes_audience, "tether",
          "Audience the workloads' projected tokens must be issued for");
ABSL_FLAG(bool, kubernetes_publish, true,
          "With --kubernetes: write the trust bundle ConfigMap (--trust-bundle-configmap) into "
          "every namespace matching --injection-namespace-selector, and the mesh root into "
          "--webhook-configuration's caBundle, at start, on every change, and every 30s");
ABSL_FLAG(std::string, injection_namespace_selector, "tether.io/injection=enabled",
          "Label selector of the namespaces whose pods are injected");
ABSL_FLAG(std::string, trust_bundle_namespaces, "",
          "Comma-separated namespaces that get the trust bundle ConfigMap whatever their labels "
          "(e.g. the control plane's own)");
ABSL_FLAG(std::string, webhook_configuration, "tether-sidecar-injector",
          "The MutatingWebhookConfiguration whose caBundle is kept equal to the mesh roots "
          "(empty: left alone)");
ABSL_FLAG(std::string, webhook_listen, "",
          "Address of the sidecar-injection webhook (HTTPS, POST /inject), e.g. 0.0.0.0:15017; "
          "empty: off. Pods are injected as `tetherctl inject` does (--proxy-image, --inject-*)");
ABSL_FLAG(int64_t, audit_log_max_bytes, int64_t{64} << 20,
          "Rotate the audit log file before it grows past this size (audit.jsonl -> "
          "audit.jsonl.1 ...); 0: never");
ABSL_FLAG(int, audit_log_max_files, 5, "Rotated audit log files kept (audit.jsonl.1 .. .N)");
ABSL_FLAG(int, audit_rejection_lines, 10,
          "Audit lines of refusals written per identity (or, before authentication, per peer "
          "address) and --audit-rejection-interval; the rest are summed up in one line");
ABSL_FLAG(absl::Duration, audit_rejection_interval, absl::Minutes(1),
          "The interval of --audit-rejection-lines");
ABSL_FLAG(int64_t, max_streams, 16384, "Certificate streams open at once, in total");
ABSL_FLAG(int64_t, max_streams_per_identity, 1024,
          "Authenticated certificate streams open at once per SPIFFE ID");
ABSL_FLAG(int64_t, max_unauthenticated_streams, 1024,
          "Certificate streams that have not authenticated yet (no Hello, or one being checked)");
ABSL_FLAG(int64_t, max_unauthenticated_streams_per_peer, 64, "The same, per peer IP address");
ABSL_FLAG(double, hellos_per_minute_per_peer, 600,
          "Hellos accepted per minute per peer IP address (0: unlimited)");
ABSL_FLAG(double, hello_burst_per_peer, 100, "Burst of --hellos-per-minute-per-peer");
ABSL_FLAG(int64_t, max_queued_answers, 64,
          "Answers one certificate stream may hold for a proxy that does not read them; one "
          "more closes the stream with RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_queued_answer_bytes, int64_t{4} << 20, "The same, in bytes");
ABSL_FLAG(int64_t, token_review_cache_size, 10000,
          "TokenReview results kept, by SHA-256 of the token (0: no cache)");
ABSL_FLAG(absl::Duration, token_review_cache_ttl, absl::Minutes(10),
          "Longest time an accepted Kubernetes token is trusted from the cache (never past its "
          "expiry)");
ABSL_FLAG(absl::Duration, token_review_negative_cache_ttl, absl::Seconds(5),
          "How long a token the API server refused is refused from the cache");
ABSL_FLAG(std::string, revocations_configmap,
          tether::control::kubernetes::kDefaultRevocationsConfigMap,
          "With --kubernetes: NAMESPACE/NAME of the ConfigMap in which the replicas share the "
          "revocation list (\"\": this replica's --state-dir only)");
ABSL_FLAG(absl::Duration, revocation_sync_poll, absl::Seconds(1),
          "How often the shared revocation list is read");
ABSL_FLAG(absl::Duration, token_rereview_interval, absl::Minutes(5),
          "How often the token of each Kubernetes-authenticated certificate stream is reviewed "
          "again with the API server (past the cache); a stream whose token is no longer "
          "accepted (its pod deleted) is closed");
ABSL_FLAG(bool, version, false, "Print the version and exit");

namespace {

namespace k8s = tether::control::kubernetes;

// ApiServerFromFlags: the Kubernetes API server of the --kubernetes-* flags;
// it fails when none is given nor known from the environment.
absl::StatusOr<k8s::ApiServer> ApiServerFromFlags() {
  k8s::ApiServer api;
  api.host = absl::GetFlag(FLAGS_kubernetes_api_host);
  const char* env_host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (api.host.empty() && (env_host == nullptr || *env_host == '\0')) {
    return absl::FailedPreconditionError(
        "no Kubernetes API server: give --kubernetes-api-host, or run in a pod (where "
        "KUBERNETES_SERVICE_HOST is set)");
  }
  int port = absl::GetFlag(FLAGS_kubernetes_api_port);
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kubernetes-api-port ", port, " is not a port number"));
  }
  api.port = static_cast<uint16_t>(port);
  api.ca_file = absl::GetFlag(FLAGS_kubernetes_ca_file);
  api.token_file = absl::GetFlag(FLAGS_kubernetes_token_file);
  return api;
}

// MakeKubernetesAuthenticator builds the TokenReview authenticator from the
// --kubernetes-* flags; it fails when the API server is unknown or the CA or
// token file is unreadable.
absl::StatusOr<std::unique_ptr<k8s::TokenReviewAuthenticator>> MakeKubernetesAuthenticator(
    const std::string& trust_domain) {
  absl::StatusOr<k8s::ApiServer> api = ApiServerFromFlags();
  if (!api.ok()) return api.status();
  k8s::TokenReviewAuthenticator::Options opts;
  opts.api_host = api->host;
  opts.api_port = api->port;
  opts.ca_file = api->ca_file;
  opts.token_file = api->token_file;
  opts.audience = absl::GetFlag(FLAGS_kubernetes_audience);
  opts.trust_domain = trust_domain;
  return k8s::TokenReviewAuthenticator::Create(std::move(opts));
}

// ConfigureLimits applies the audit, stream-limit and token-cache flags to
// `opts`; InvalidArgument names a flag out of range.
absl::Status ConfigureLimits(tether::control::ControlPlaneOptions& opts) {
  struct Positive {
    const char* name;
    int64_t value;
    size_t* out;
  };
  auto& limits = opts.stream_limits;
  for (const Positive& p : {
           Positive{"--max-streams", absl::GetFlag(FLAGS_max_streams), &limits.max_streams},
           Positive{"--max-streams-per-identity", absl::GetFlag(FLAGS_max_streams_per_identity),
                    &limits.max_streams_per_identity},
           Positive{"--max-unauthenticated-streams",
                    absl::GetFlag(FLAGS_max_unauthenticated_streams),
                    &limits.max_unauthenticated_streams},
           Positive{"--max-unauthenticated-streams-per-peer",
                    absl::GetFlag(FLAGS_max_unauthenticated_streams_per_peer),
                    &limits.max_unauthenticated_per_peer},
           Positive{"--max-queued-answers", absl::GetFlag(FLAGS_max_queued_answers),
                    &opts.max_queued_answers},
           Positive{"--max-queued-answer-bytes", absl::GetFlag(FLAGS_max_queued_answer_bytes),
                    &opts.max_queued_answer_bytes},
       }) {
    if (p.value < 1) return absl::InvalidArgumentError(absl::StrCat(p.name, " must be at least 1"));
    *p.out = static_cast<size_t>(p.value);
  }
  limits.hellos_per_minute_per_peer = absl::GetFlag(FLAGS_hellos_per_minute_per_peer);
  limits.hello_burst_per_peer = absl::GetFlag(FLAGS_hello_burst_per_peer);
  if (limits.hellos_per_minute_per_peer < 0 || limits.hello_burst_per_peer < 1) {
    return absl::InvalidArgumentError(
        "--hellos-per-minute-per-peer must be >= 0 and --hello-burst-per-peer >= 1");
  }
  const int64_t audit_bytes = absl::GetFlag(FLAGS_audit_log_max_bytes);
  const int audit_files = absl::GetFlag(FLAGS_audit_log_max_files);
  if (audit_bytes < 0 || audit_files < 0) {
    return absl::InvalidArgumentError(
        "--audit-log-max-bytes and --audit-log-max-files must be >= 0");
  }
  opts.audit_rotation.max_bytes = static_cast<uint64_t>(audit_bytes);
  opts.audit_rotation.max_files = audit_files;
  opts.audit_rejections.lines_per_interval = absl::GetFlag(FLAGS_audit_rejection_lines);
  opts.audit_rejections.interval = absl::GetFlag(FLAGS_audit_rejection_interval);
  if (opts.audit_rejections.lines_per_interval < 0 ||
      opts.audit_rejections.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--audit-rejection-lines must be >= 0 and --audit-rejection-interval positive");
  }
  const int64_t cache_size = absl::GetFlag(FLAGS_token_review_cache_size);
  opts.token_review_cache.max_ttl = absl::GetFlag(FLAGS_token_review_cache_ttl);
  opts.token_review_cache.negative_ttl = absl::GetFlag(FLAGS_token_review_negative_cache_ttl);
  if (cache_size < 0 || opts.token_review_cache.max_ttl < absl::ZeroDuration() ||
      opts.token_review_cache.negative_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--token-review-cache-size and the --token-review-*-ttl flags must be >= 0");
  }
  opts.token_review_cache.max_entries = static_cast<size_t>(cache_size);
  opts.token_rereview_interval = absl::GetFlag(FLAGS_token_rereview_interval);
  if (opts.token_rereview_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--token-rereview-interval must be positive");
  }
  return absl::OkStatus();
}

// ConfigurePolicySource applies the --policy-* flags to `opts`; with
// --policy-source kubernetes it makes the ConfigMap source (and fails as
// MakeKubernetesAuthenticator does).
absl::Status ConfigurePolicySource(tether::control::ControlPlaneOptions& opts) {
  std::string source = absl::GetFlag(FLAGS_policy_source);
  if (source.empty()) source = absl::GetFlag(FLAGS_kubernetes) ? "kubernetes" : "dir";
  absl::Duration poll = absl::GetFlag(FLAGS_policy_poll);
  if (poll < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--policy-poll must be positive");
  }
  opts.policy_dir = absl::GetFlag(FLAGS_policy_dir);
  if (source == "dir") {
    if (poll != absl::ZeroDuration()) opts.policy_poll = poll;
    return absl::OkStatus();
  }
  if (source != "kubernetes") {
    return absl::InvalidArgumentError(
        absl::StrCat("--policy-source \"", source, "\" is not dir or kubernetes"));
  }
  if (!opts.policy_dir.empty()) {
    return absl::InvalidArgumentError(
        "--policy-dir is for --policy-source dir; with kubernetes the policies come from "
        "ConfigMaps labelled tether.io/policy");
  }
  opts.policy_poll = poll != absl::ZeroDuration() ? poll : absl::Seconds(1);
  absl::StatusOr<k8s::ApiServer> api = ApiServerFromFlags();
  if (!api.ok()) return api.status();
  k8s::ConfigMapPolicySource::Options source_opts;
  source_opts.api = *std::move(api);
  source_opts.root_namespace = absl::GetFlag(FLAGS_policy_root_namespace);
  auto configmaps = k8s::ConfigMapPolicySource::Create(std::move(source_opts));
  if (!configmaps.ok()) return configmaps.status();
  std::cerr << "tether-control: policies come from ConfigMaps labelled " << k8s::kPolicyLabel
            << " at " << (*configmaps)->options().api.host << ":"
            << (*configmaps)->options().api.port << " (root namespace "
            << (*configmaps)->options().root_namespace << "), read every "
            << absl::FormatDuration(opts.policy_poll) << std::endl;
  opts.policy_source = *std::move(configmaps);
  return absl::OkStatus();
}

// ConfigureAdmin sets the admin API's address and, for a Unix socket, its
// file's mode and group from the --admin-* flags.
absl::Status ConfigureAdmin(tether::control::ControlPlaneOptions& opts) {
  opts.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  opts.admin_allow_remote = absl::GetFlag(FLAGS_admin_allow_remote);
  absl::StatusOr<mode_t> mode = tether::ParseFileMode(absl::GetFlag(FLAGS_admin_socket_mode));
  if (!mode.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("--admin-socket-mode: ", mode.status().message()));
  opts.admin_socket.mode = *mode;
  if (const std::string group = absl::GetFlag(FLAGS_admin_socket_group); !group.empty()) {
    absl::StatusOr<gid_t> gid = tether::ParseGroup(group);
    if (!gid.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("--admin-socket-group: ", gid.status().message()));
    opts.admin_socket.group = *gid;
  }
  return absl::OkStatus();
}

// ConfigureRevocationSharing: with --kubernetes and --revocations-configmap,
// the ConfigMap the replicas share the revocation list in.
absl::StatusOr<std::unique_ptr<k8s::ConfigMapRevocations>> ConfigureRevocationSharing(
    tether::control::ControlPlaneOptions& opts) {
  const std::string where = absl::GetFlag(FLAGS_revocations_configmap);
  opts.revocation_sync_poll = absl::GetFlag(FLAGS_revocation_sync_poll);
  if (opts.revocation_sync_poll <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--revocation-sync-poll must be positive");
  }
  if (!absl::GetFlag(FLAGS_kubernetes) || where.empty()) return nullptr;
  std::vector<std::string> parts = absl::StrSplit(where, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--revocations-configmap \"", where, "\" is not NAMESPACE/NAME"));
  }
  absl::StatusOr<k8s::ApiServer> api = ApiServerFromFlags();
  if (!api.ok()) return api.status();
  if (absl::Status st = k8s::ResolveApiServer(&*api); !st.ok()) return st;
  auto shared = std::make_unique<k8s::ConfigMapRevocations>(*std::move(api), parts[0], parts[1]);
  opts.shared_revocations = shared.get();
  return shared;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Tether control plane and mesh CA.\n"
      "  tether-control --state-dir DIR --trust-domain TD --grpc-listen IP:PORT "
      "[--admin-listen unix:PATH] [--cert-ttl 1h] [--kubernetes]");
  tether::ParseCommandLineWithDashes(argc, argv);
  if (absl::GetFlag(FLAGS_version)) {
    std::cout << tether::VersionString("tether-control") << "\n";
    return 0;
  }

  // Signals are taken synchronously by the main thread below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  tether::control::ControlPlaneOptions opts;
  opts.state_dir = absl::GetFlag(FLAGS_state_dir);
  opts.trust_domain = absl::GetFlag(FLAGS_trust_domain);
  opts.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  if (absl::Status st = ConfigureAdmin(opts); !st.ok()) {
    std::cerr << "tether-control: " << st.message() << "\n";
    return 1;
  }
  opts.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  opts.health_listen = absl::GetFlag(FLAGS_health_listen);
  opts.cert_ttl = absl::GetFlag(FLAGS_cert_ttl);
  opts.ca_dir = absl::GetFlag(FLAGS_ca_dir);
  opts.audit_log = absl::GetFlag(FLAGS_audit_log);
  opts.requests_per_minute = absl::GetFlag(FLAGS_rate_limit);
  opts.request_burst = absl::GetFlag(FLAGS_rate_burst);
  opts.identity_requests_per_minute = absl::GetFlag(FLAGS_identity_rate_limit);
  opts.identity_request_burst = absl::GetFlag(FLAGS_identity_rate_burst);
  opts.close_denied_connections = absl::GetFlag(FLAGS_close_denied_connections);
  for (absl::string_view n :
       absl::StrSplit(absl::GetFlag(FLAGS_serving_dns_names), ',', absl::SkipEmpty())) {
    opts.serving_dns_names.emplace_back(n);
  }
  opts.webhook_listen = absl::GetFlag(FLAGS_webhook_listen);
  absl::StatusOr<tether::control::inject::InjectOptions> inject =
      tether::control::inject::InjectOptionsFromFlags();
  if (!inject.ok()) {
    std::cerr << "tether-control: " << inject.status().message() << "\n";
    return 1;
  }
  opts.inject = *inject;

  if (absl::Status st = ConfigureLimits(opts); !st.ok()) {
    std::cerr << "tether-control: " << st.message() << "\n";
    return 1;
  }
  if (absl::Status st = ConfigurePolicySource(opts); !st.ok()) {
    std::cerr << "tether-control: policies: " << st.message() << "\n";
    return 1;
  }

  // Declared before the control plane, which uses it until it is destroyed.
  std::unique_ptr<tether::control::kubernetes::TokenReviewAuthenticator> kubernetes;
  if (absl::GetFlag(FLAGS_kubernetes)) {
    auto authn = MakeKubernetesAuthenticator(opts.trust_domain);
    if (!authn.ok()) {
      std::cerr << "tether-control: --kubernetes: " << authn.status().message() << "\n";
      return 1;
    }
    kubernetes = std::move(*authn);
    opts.kubernetes = kubernetes.get();
    std::cerr << "tether-control: Kubernetes tokens (audience " << kubernetes->options().audience
              << ") are checked with the TokenReview API at " << kubernetes->options().api_host
              << ":" << kubernetes->options().api_port << std::endl;
  }

  // Also declared before the control plane, whose publisher thread calls it.
  std::unique_ptr<tether::control::kubernetes::ClusterPublisher> publisher;
  if (kubernetes != nullptr && absl::GetFlag(FLAGS_kubernetes_publish)) {
    tether::control::kubernetes::ClusterPublisherOptions popts;
    const auto& k = kubernetes->options();
    popts.api.host = k.api_host;
    popts.api.port = k.api_port;
    popts.api.server_name = k.server_name;
    popts.api.ca_file = k.ca_file;
    popts.api.token_file = k.token_file;
    popts.configmap = opts.inject.trust_bundle_configmap;
    popts.namespace_selector = absl::GetFlag(FLAGS_injection_namespace_selector);
    popts.webhook_configuration = absl::GetFlag(FLAGS_webhook_configuration);
    for (absl::string_view ns :
         absl::StrSplit(absl::GetFlag(FLAGS_trust_bundle_namespaces), ',', absl::SkipEmpty())) {
      popts.extra_namespaces.emplace_back(ns);
    }
    publisher = std::make_unique<tether::control::kubernetes::ClusterPublisher>(popts);
    opts.publish_trust_bundle = [p = publisher.get()](const std::string& roots_pem) {
      return p->Publish(roots_pem);
    };
    std::cerr << "tether-control: the trust bundle goes to ConfigMap " << popts.configmap
              << " in namespaces matching " << popts.namespace_selector
              << (popts.webhook_configuration.empty()
                      ? std::string()
                      : absl::StrCat(" and to the caBundle of MutatingWebhookConfiguration ",
                                     popts.webhook_configuration))
              << std::endl;
  }

  // Declared before the control plane, which reads and writes it.
  auto shared_revocations = ConfigureRevocationSharing(opts);
  if (!shared_revocations.ok()) {
    std::cerr << "tether-control: revocations: " << shared_revocations.status().message() << "\n";
    return 1;
  }

  const bool discovery = kubernetes != nullptr && absl::GetFlag(FLAGS_kubernetes_discovery);
  opts.expect_kubernetes_endpoints = discovery;
  auto cp = tether::control::ControlPlane::Start(opts, tether::RealClock::Default());
  if (!cp.ok()) {
    std::cerr << "tether-control: " << cp.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<k8s::KubernetesEndpointSource> endpoint_source;
  if (discovery) {
    k8s::KubernetesEndpointSource::Options eopts;
    const auto& k = kubernetes->options();
    eopts.api.host = k.api_host;
    eopts.api.port = k.api_port;
    eopts.api.server_name = k.server_name;
    eopts.api.ca_file = k.ca_file;
    eopts.api.token_file = k.token_file;
    eopts.trust_domain = opts.trust_domain;
    auto source = k8s::KubernetesEndpointSource::Create(
        eopts, [registry = (*cp)->endpoints()](std::vector<tether::control::Endpoint> all) {
          registry->SetKubernetes(std::move(all));
        });
    if (!source.ok()) {
      std::cerr << "tether-control: --kubernetes-discovery: " << source.status().message() << "\n";
      return 1;
    }
    endpoint_source = std::move(*source);
    endpoint_source->Start();
    std::cerr << "tether-control: endpoint registry from the cluster's Pods, Services and "
                 "EndpointSlices"
              << std::endl;
  }
  auto ca = (*cp)->store()->Current();
  std::cerr << "tether-control: CA for trust domain " << ca->trust_domain << " (root "
            << ca->active_root_serial << "), certificate stream on port " << (*cp)->grpc_port()
            << ", admin on "
            << ((*cp)->admin_port() != 0 ? absl::StrCat("port ", (*cp)->admin_port())
                                         : opts.admin_listen);
  if ((*cp)->metrics_port() != 0) std::cerr << ", metrics on port " << (*cp)->metrics_port();
  if ((*cp)->health_port() != 0) std::cerr << ", health on port " << (*cp)->health_port();
  if ((*cp)->webhook_port() != 0) {
    std::cerr << ", injection webhook on port " << (*cp)->webhook_port() << " (proxy image "
              << opts.inject.proxy_image << ")";
  }
  std::cerr << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "tether-control: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", closing streams"
            << std::endl;
  if (endpoint_source) endpoint_source->Stop();
  (*cp)->Stop();
  return 0;
}
