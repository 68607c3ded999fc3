// ControlPlane: tether-control assembled: the CA, its certificate stream
// (mTLS gRPC), the admin API, the injection webhook (HTTPS), and the
// background maintenance (serving
// certificate renewal, dropping rotated-out roots, forgetting expired
// certificates).
//
//   ControlPlaneOptions opts;
//   opts.state_dir = dir; opts.trust_domain = "mesh.local";
//   opts.grpc_listen = "127.0.0.1:0"; opts.admin_listen = "127.0.0.1:0";
//   auto cp = ControlPlane::Start(opts, RealClock::Default());
//   int port = (*cp)->grpc_port();
//   ...
//   (*cp)->Stop();
#ifndef TETHER_CONTROL_CONTROL_PLANE_H_
#define TETHER_CONTROL_CONTROL_PLANE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/http/server.h"
#include "common/http/tls_stream.h"
#include "common/sync/notification.h"
#include "common/unix_socket.h"
#include "control/admin_address.h"
#include "control/admin_service.h"
#include "control/ca/audit_log.h"
#include "control/ca/authenticator.h"
#include "control/ca/authority.h"
#include "control/ca/ca_store.h"
#include "control/ca/join_tokens.h"
#include "control/ca/registry.h"
#include "control/ca/rejection_audit.h"
#include "control/ca/revocation_sync.h"
#include "control/ca/stream_service.h"
#include "control/ca/token_cache.h"
#include "control/discovery/endpoint_registry.h"
#include "control/inject/injector.h"
#include "control/metrics.h"
#include "control/policy/policy_store.h"

namespace tether::control {

struct ControlPlaneOptions {
  std::string state_dir;
  std::string trust_domain;
  std::string grpc_listen = "0.0.0.0:15012";
  // unix:PATH (the socket file's mode and group, `admin_socket`, decide who
  // may use it) or a loopback IP:PORT (which every local user may use).
  std::string admin_listen = kDefaultAdminAddress;
  UnixListenOptions admin_socket;
  // Let the admin API listen on a non-loopback address. It has no
  // authentication of its own; keep it behind a port-forward or a firewall.
  bool admin_allow_remote = false;
  // /metrics only, for any peer (Prometheus from another pod); empty: off.
  std::string metrics_listen;
  // /healthz and /ready only, for any peer (the kubelet's probes), on a
  // listener of their own; empty: off (they are on the admin API too).
  std::string health_listen;
  absl::Duration cert_ttl = absl::Hours(1);
  // Operator's CA (Istio cacerts layout); empty: self-managed root.
  std::string ca_dir;
  // Audit log path ("-": stderr, "": <state_dir>/audit.jsonl), its rotation
  // by size, and how many lines of refusals it takes per identity (or peer
  // address) and interval.
  std::string audit_log;
  AuditLogOptions audit_rotation;
  RejectionAuditOptions audit_rejections;
  // DNS names for the control plane's own serving certificate, besides
  // tether-control[.tether-system[.svc]] and localhost.
  std::vector<std::string> serving_dns_names;
  // Certificate requests per minute, and bursts: per workload instance, and
  // per identity over all its instances (authority.h).
  double requests_per_minute = 30;
  double request_burst = 10;
  double identity_requests_per_minute = 300;
  double identity_request_burst = 100;
  // Kubernetes token checker; null: join tokens and certificates only. Must
  // outlive the control plane.
  Authenticator* kubernetes = nullptr;
  // Threads that run Kubernetes authentication, and how many Hellos may wait
  // for them before streams are refused with UNAVAILABLE "busy, retry".
  int kubernetes_workers = 4;
  size_t kubernetes_queue = 128;
  // A certificate stream that sends no Hello in this time is finished with
  // DEADLINE_EXCEEDED.
  absl::Duration hello_timeout = absl::Seconds(10);
  // Caps on certificate streams (stream_limits.h) and on the answers one
  // stream queues for a proxy that does not read them.
  StreamLimitsOptions stream_limits;
  size_t max_queued_answers = 64;
  size_t max_queued_answer_bytes = size_t{4} << 20;
  // TokenReview results cached by token hash (with `kubernetes`).
  TokenCacheOptions token_review_cache;
  // How often each Kubernetes-authenticated stream's token is reviewed again
  // (past the cache); a withdrawn token closes its stream within about this.
  absl::Duration token_rereview_interval = absl::Minutes(5);
  // Authorization policies: a directory of YAML files ("": STATE/policies),
  // re-read every `policy_poll` when files change, and written by
  // `tetherctl policy apply|delete`; or, when `policy_source` is set, what
  // it holds (read-only), polled as often.
  std::string policy_dir;
  std::shared_ptr<PolicySource> policy_source;
  absl::Duration policy_poll = absl::Milliseconds(200);
  // Tell proxies to close open inbound connections a new policy denies.
  bool close_denied_connections = false;
  // The endpoint registry waits for a Kubernetes set (SetKubernetes on
  // endpoints()) before it is streamed to proxies.
  bool expect_kubernetes_endpoints = false;
  // How often the serving-certificate files are re-read by gRPC.
  absl::Duration serving_refresh = absl::Seconds(1);
  // The sidecar-injection webhook (HTTPS, POST /inject, with the serving
  // certificate, which names tether-control.tether-system.svc); empty: off.
  std::string webhook_listen;
  inject::InjectOptions inject;
  // Writes the trust bundle (PEM) where the cluster needs it (the trust
  // bundle ConfigMaps, the webhook's caBundle: kubernetes::ClusterPublisher).
  // Called from a thread of its own at start, on every change of the bundle,
  // and every publish_interval; a failure is audited (once per message) and
  // retried. Null: nothing is published.
  std::function<absl::Status(const std::string& roots_pem)> publish_trust_bundle;
  absl::Duration publish_interval = absl::Seconds(30);
  // Where the replicas keep one revocation list (revocation_sync.h: the
  // ConfigMap of kubernetes::ConfigMapRevocations); null: the state dir
  // only. Must outlive the control plane. It is read once before the
  // certificate stream opens, then every
  // revocation_sync_poll, and written at once by every revocation. Until it
  // was first read, /ready is 503 and every Hello is refused (UNAVAILABLE):
  // a replica that lost its volume would otherwise accept revoked
  // credentials.
  SharedRevocations* shared_revocations = nullptr;
  absl::Duration revocation_sync_poll = absl::Seconds(1);
};

// The identity of the control plane's serving certificate.
inline constexpr char kControlNamespace[] = "tether-system";
inline constexpr char kControlServiceAccount[] = "tether-control";
// The name proxies verify in the control plane's certificate.
inline constexpr char kControlServerName[] = "tether-control.tether-system.svc";

class ControlPlane {
 public:
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options,
                                                             const Clock* clock);
  ~ControlPlane();

  // Stop ends every stream and waits for in-flight calls (up to 5 s).
  void Stop();

  int grpc_port() const { return grpc_port_; }
  int admin_port() const { return admin_port_; }
  // metrics_port: the metrics_listen port; 0 when there is none.
  int metrics_port() const { return metrics_port_; }
  // health_port: the health_listen port; 0 when there is none.
  int health_port() const { return health_port_; }
  int webhook_port() const { return webhook_port_; }
  CaStore* store() { return store_.get(); }
  CertificateRegistry* registry() { return registry_.get(); }
  StreamService* streams() { return streams_.get(); }
  JoinTokens* tokens() { return tokens_.get(); }
  PolicyStore* policies() { return policies_.get(); }
  EndpointRegistry* endpoints() { return endpoints_.get(); }
  ControlMetrics* metrics() { return &metrics_; }
  // The TokenReview cache; null without `kubernetes` or with the cache off.
  CachingAuthenticator* token_cache() { return token_cache_.get(); }
  RejectionAudit* rejections() { return rejections_.get(); }

  // RunMaintenance does one round of background work now (tests call it
  // after moving a fake clock; the maintenance thread calls it every second).
  void RunMaintenance();

 private:
  explicit ControlPlane(ControlPlaneOptions options, const Clock* clock)
      : options_(std::move(options)), clock_(clock) {}
  absl::Status Init();
  absl::Status StartWebhook();
  absl::Status StartHealth();
  // RegisterHealth: GET /healthz (alive) and /ready on `server`.
  void RegisterHealth(http::AdminServer& server);
  void PublishLoop();
  // ShareRevocations makes revocation_sync_ and runs its first pass, before
  // any stream is served; when that fails, the sync thread retries.
  void ShareRevocations();
  // RevocationsRead: OK once the shared list was read (or is not shared),
  // else UNAVAILABLE saying why.
  absl::Status RevocationsRead();
  void OnRevocationSync(const absl::Status& st);
  absl::Status RenewServingCertificate();
  void UpdateCaMetrics();
  void UpdatePolicyMetrics();
  void UpdateEndpointMetrics();
  std::string ServingDir() const { return options_.state_dir + "/serving"; }

  const ControlPlaneOptions options_;
  const Clock* const clock_;
  std::unique_ptr<CaStore> store_;
  std::unique_ptr<CertificateRegistry> registry_;
  std::unique_ptr<RevocationSync> revocation_sync_;
  Mutex revocation_sync_mu_;
  std::string revocation_sync_error_ ABSL_GUARDED_BY(revocation_sync_mu_);
  bool revocations_read_ ABSL_GUARDED_BY(revocation_sync_mu_) = false;
  std::unique_ptr<JoinTokens> tokens_;
  std::unique_ptr<EndpointRegistry> endpoints_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RejectionAudit> rejections_;
  Mutex suppressed_mu_;  // RunMaintenance runs on its thread and in tests
  uint64_t suppressed_reported_ ABSL_GUARDED_BY(suppressed_mu_) = 0;
  std::unique_ptr<CachingAuthenticator> token_cache_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<StreamService> streams_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<grpc::Server> admin_grpc_;
  std::unique_ptr<http::AdminServer> admin_http_;
  ControlMetrics metrics_;
  int grpc_port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<http::AdminServer> metrics_http_;
  int metrics_port_ = 0;
  std::unique_ptr<http::AdminServer> health_http_;
  int health_port_ = 0;
  std::atomic<bool> shutting_down_{false};
  http::TlsServerContext webhook_tls_;
  std::unique_ptr<http::AdminServer> webhook_;
  int webhook_port_ = 0;

  Mutex mu_;
  absl::Time serving_renew_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t serving_ca_version_ ABSL_GUARDED_BY(mu_) = 0;
  Notification stopping_;
  std::thread maintenance_;
  std::thread policy_watch_;
  std::thread publisher_;
  Mutex publish_mu_;
  CondVar publish_cv_;  // signalled when a publish is requested or Stop begins
  bool publish_requested_ ABSL_GUARDED_BY(publish_mu_) = true;
  bool publish_stopping_ ABSL_GUARDED_BY(publish_mu_) = false;
  bool stopped_ = false;
};

// IsLoopbackListen reports whether "HOST:PORT" names a loopback address.
bool IsLoopbackListen(absl::string_view host_port);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CONTROL_PLANE_H_
