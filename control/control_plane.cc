#include "control/control_plane.h"

#include <iostream>

#include <fcntl.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_posix.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/http/metrics_handler.h"
#include "common/pki/certs.h"
#include "common/pki/keys.h"
#include "control/webhook/admission.h"

namespace tether::control {

// Largest message either gRPC server accepts: a CSR is well under 16 KiB.
constexpr int kMaxMessageBytes = 64 * 1024;

bool IsLoopbackListen(absl::string_view host_port) {
  return UnixSocketPath(host_port).has_value() || absl::StartsWith(host_port, "127.") ||
         absl::StartsWith(host_port, "[::1]:") || absl::StartsWith(host_port, "localhost:");
}

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(
    const ControlPlaneOptions& options, const Clock* clock) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(options, clock));
  if (absl::Status st = cp->Init(); !st.ok()) return st;
  return cp;
}

absl::Status ControlPlane::Init() {
  if (options_.state_dir.empty()) return absl::InvalidArgumentError("--state-dir is required");
  if (options_.cert_ttl < absl::Minutes(1)) {
    return absl::InvalidArgumentError("--cert-ttl must be at least 1m");
  }
  if (options_.hello_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the Hello timeout must be positive");
  }
  if (options_.token_rereview_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--token-rereview-interval must be positive");
  }
  if (options_.kubernetes_workers < 1) {
    return absl::InvalidArgumentError("Kubernetes authentication needs at least one worker");
  }
  if (!options_.admin_allow_remote && !IsLoopbackListen(options_.admin_listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin-listen ", options_.admin_listen,
                     " is not a loopback address; the admin API has no authentication of its own "
                     "(use --admin-allow-remote to accept this)"));
  }
  if (!UnixSocketPath(options_.admin_listen).has_value()) {
    std::cerr << "tether-control: warning: the admin API on TCP " << options_.admin_listen
              << " is open to every local user (join tokens, revocation, CA rotation, policy); "
                 "prefer --admin-listen unix:PATH, whose file mode and group decide who may use it"
              << std::endl;
  }
  if (absl::Status st = MakeDirs(options_.state_dir, 0700); !st.ok()) return st;

  CaOptions ca_opts;
  ca_opts.state_dir = options_.state_dir;
  ca_opts.trust_domain = options_.trust_domain;
  ca_opts.plugged_dir = options_.ca_dir;
  auto store = CaStore::Open(ca_opts, clock_);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  auto registry = CertificateRegistry::Open(options_.state_dir, clock_);
  if (!registry.ok()) return registry.status();
  registry_ = std::move(*registry);
  auto tokens = JoinTokens::Load(options_.state_dir + "/join-tokens.jsonl", clock_);
  if (!tokens.ok()) return tokens.status();
  tokens_ = std::move(*tokens);
  auto endpoints = EndpointRegistry::Load(options_.state_dir + "/endpoints.json", clock_);
  if (!endpoints.ok()) return endpoints.status();
  endpoints_ = std::move(*endpoints);
  if (options_.expect_kubernetes_endpoints) endpoints_->ExpectKubernetes();
  if (options_.policy_poll <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--policy-poll must be positive");
  }
  if (options_.policy_source != nullptr) {
    // Starts even when the source cannot be read: the CA does not need it,
    // and no workload is sent a policy before it was read (PolicyState::Knows).
    policies_ =
        PolicyStore::FromSource(options_.policy_source, options_.state_dir + "/policy-last-good");
  } else {
    auto policies = PolicyStore::Open(options_.policy_dir.empty() ? options_.state_dir + "/policies"
                                                                  : options_.policy_dir);
    if (!policies.ok()) return policies.status();
    policies_ = std::move(*policies);
  }
  auto audit = AuditLog::Open(
      options_.audit_log.empty() ? options_.state_dir + "/audit.jsonl" : options_.audit_log, clock_,
      options_.audit_rotation);
  if (!audit.ok()) return audit.status();
  audit_ = std::move(*audit);
  if (options_.audit_rejections.interval <= absl::ZeroDuration() ||
      options_.audit_rejections.lines_per_interval < 0) {
    return absl::InvalidArgumentError("the audit's rejection lines and interval must be positive");
  }
  for (const std::string& path : store_->removed_orphan_keys()) {
    audit_->Record("ca_orphan_key_removed", {{"path", path}});
  }
  rejections_ = std::make_unique<RejectionAudit>(audit_.get(), clock_, options_.audit_rejections);
  if (options_.stream_limits.max_streams == 0 ||
      options_.stream_limits.max_streams_per_identity == 0 ||
      options_.stream_limits.max_unauthenticated_streams == 0 ||
      options_.stream_limits.max_unauthenticated_per_peer == 0 ||
      options_.max_queued_answers == 0 || options_.max_queued_answer_bytes == 0) {
    return absl::InvalidArgumentError("stream limits must be at least 1");
  }
  Authenticator* kubernetes = options_.kubernetes;
  if (kubernetes != nullptr && options_.token_review_cache.max_entries > 0) {
    token_cache_ =
        std::make_unique<CachingAuthenticator>(kubernetes, clock_, options_.token_review_cache);
    token_cache_->SetObserver([this](bool hit) { metrics_.RecordTokenCacheLookup(hit); });
    kubernetes = token_cache_.get();
  }

  AuthorityOptions auth_opts;
  auth_opts.default_ttl = options_.cert_ttl;
  auth_opts.requests_per_minute = options_.requests_per_minute;
  auth_opts.burst = options_.request_burst;
  auth_opts.identity_requests_per_minute = options_.identity_requests_per_minute;
  auth_opts.identity_burst = options_.identity_request_burst;
  if (auth_opts.requests_per_minute <= 0 || auth_opts.burst < 1 ||
      auth_opts.identity_requests_per_minute <= 0 || auth_opts.identity_burst < 1) {
    return absl::InvalidArgumentError(
        "--rate-limit and --identity-rate-limit must be positive, their bursts at least 1");
  }
  ca_ = std::make_unique<CertificateAuthority>(store_.get(), registry_.get(), audit_.get(), clock_,
                                               auth_opts);
  ca_->SetRejectionAudit(rejections_.get());
  StreamServiceOptions stream_opts;
  stream_opts.hello_timeout = options_.hello_timeout;
  stream_opts.kubernetes_workers = options_.kubernetes_workers;
  stream_opts.kubernetes_queue = options_.kubernetes_queue;
  stream_opts.limits = options_.stream_limits;
  stream_opts.max_queued_answers = options_.max_queued_answers;
  stream_opts.max_queued_answer_bytes = options_.max_queued_answer_bytes;
  stream_opts.token_rereview_interval = options_.token_rereview_interval;
  streams_ =
      std::make_unique<StreamService>(ca_.get(), store_.get(), registry_.get(), tokens_.get(),
                                      kubernetes, audit_.get(), clock_, stream_opts);
  streams_->SetRejectionAudit(rejections_.get());
  streams_->SetLimitObserver([this](StreamLimit limit) { metrics_.RecordStreamLimited(limit); });
  admin_ =
      std::make_unique<AdminService>(store_.get(), registry_.get(), tokens_.get(), policies_.get(),
                                     streams_.get(), audit_.get(), options_.cert_ttl, clock_);
  if (absl::Status st = RenewServingCertificate(); !st.ok()) return st;

  store_->SetOnChange([this] {
    (void)RenewServingCertificate();
    streams_->BroadcastTrustBundle();
    UpdateCaMetrics();
    MutexLock lock(&publish_mu_);
    publish_requested_ = true;
    publish_cv_.SignalAll();
  });
  ca_->SetObserver([this](absl::string_view outcome, absl::Duration latency) {
    metrics_.RecordSign(outcome, latency);
  });
  streams_->SetRejectObserver(
      [this](absl::string_view reason) { metrics_.RecordStreamRejected(reason); });
  streams_->SetStreamObserver([this](int delta) {
    if (delta > 0) {
      metrics_.StreamOpened();
    } else {
      metrics_.StreamClosed();
    }
  });
  registry_->SetOnChange([this] {
    streams_->BroadcastRevocations();
    MutexLock lock(&revocation_sync_mu_);
    metrics_.SetRevocations(registry_->Revocations()->version, !revocation_sync_error_.empty());
  });
  metrics_.SetRevocations(registry_->Revocations()->version, false);
  ShareRevocations();
  streams_->SetPolicies(policies_.get(), options_.close_denied_connections);
  streams_->SetEndpoints(endpoints_.get());
  admin_->SetEndpoints(endpoints_.get());
  endpoints_->SetOnChange([this] {
    streams_->BroadcastDiscovery();
    UpdateEndpointMetrics();
  });
  UpdateEndpointMetrics();
  policies_->SetOnChange([this] {
    audit_->Record("policy_changed", {{"version", std::to_string(policies_->Current()->version)}});
    streams_->BroadcastPolicy();
    UpdatePolicyMetrics();
  });
  if (const std::string error = policies_->reload_error(); !error.empty()) {
    audit_->Record("policy_rejected", {{"reason", error}});
  }

  // The certificate stream: TLS with the serving certificate; the client
  // certificate is requested but checked by the stream itself (VerifyChain),
  // so that a proxy whose certificate expired can still reach the CA with
  // its bootstrap credential.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      ServingDir() + "/key.pem", ServingDir() + "/chain.pem", ServingDir() + "/roots.pem",
      std::max<int64_t>(1, absl::ToInt64Seconds(options_.serving_refresh)));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.grpc_listen, grpc::experimental::TlsServerCredentials(tls),
                           &grpc_port_);
  builder.RegisterService(streams_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.grpc_listen, " (--grpc-listen)"));
  }

  // The admin port: gRPC (tetherctl) and HTTP (/metrics, /healthz, /ready) on
  // one socket; connections opening with the HTTP/2 preface go to gRPC.
  grpc::ServerBuilder admin_builder;
  admin_builder.RegisterService(admin_.get());
  admin_builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  admin_grpc_ = admin_builder.BuildAndStart();
  http::AdminServerOptions http_opts;
  http_opts.allow_remote = options_.admin_allow_remote;
  http_opts.unix_socket = options_.admin_socket;
  admin_http_ = std::make_unique<http::AdminServer>(http_opts);
  admin_http_->SetHttp2Handoff([server = admin_grpc_.get()](int fd) {
    // gRPC takes the socket as is; its pollers need it non-blocking, or one
    // of them blocks in read() and the connection's calls hang.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    grpc::AddInsecureChannelFromFd(server, fd);
  });
  admin_http_->Handle("GET", "/metrics", http::MetricsHandler(metrics_.registry()));
  RegisterHealth(*admin_http_);
  absl::StatusOr<int> admin_port = admin_http_->Start(options_.admin_listen);
  if (!admin_port.ok()) {
    grpc_server_->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.admin_listen,
                     " (--admin-listen): ", admin_port.status().message()));
  }
  admin_port_ = *admin_port;
  if (!options_.metrics_listen.empty()) {
    http::AdminServerOptions metrics_opts;
    metrics_opts.allow_remote = true;  // Prometheus scrapes from another pod
    metrics_http_ = std::make_unique<http::AdminServer>(metrics_opts);
    metrics_http_->Handle("GET", "/metrics", http::MetricsHandler(metrics_.registry()));
    absl::StatusOr<int> port = metrics_http_->Start(options_.metrics_listen);
    if (!port.ok()) {
      grpc_server_->Shutdown();
      admin_http_->Stop();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.metrics_listen,
                                                 " (--metrics-listen): ", port.status().message()));
    }
    metrics_port_ = *port;
  }
  if (absl::Status st = StartWebhook(); !st.ok()) {
    grpc_server_->Shutdown();
    admin_http_->Stop();
    if (metrics_http_) metrics_http_->Stop();
    return st;
  }
  if (absl::Status st = StartHealth(); !st.ok()) {
    grpc_server_->Shutdown();
    admin_http_->Stop();
    if (metrics_http_) metrics_http_->Stop();
    if (webhook_) webhook_->Stop();
    return st;
  }
  UpdateCaMetrics();
  UpdatePolicyMetrics();

  maintenance_ = std::thread([this] {
    while (!stopping_.WaitForNotificationWithTimeout(absl::Seconds(1))) RunMaintenance();
  });
  policy_watch_ = std::thread([this, last_error = policies_->reload_error()]() mutable {
    while (!stopping_.WaitForNotificationWithTimeout(options_.policy_poll)) {
      absl::StatusOr<bool> reloaded = policies_->ReloadIfChanged();
      std::string error = reloaded.ok() ? "" : std::string(reloaded.status().message());
      if (!error.empty() && error != last_error) {
        audit_->Record("policy_rejected", {{"reason", error}});
      }
      last_error = std::move(error);
      UpdatePolicyMetrics();
    }
  });
  if (options_.publish_trust_bundle) publisher_ = std::thread([this] { PublishLoop(); });
  if (revocation_sync_) {
    revocation_sync_->Start([this](const absl::Status& st) { OnRevocationSync(st); });
  }
  return absl::OkStatus();
}

void ControlPlane::ShareRevocations() {
  if (options_.shared_revocations == nullptr) return;
  // Another replica may have issued a certificate this one is asked to
  // revoke: it is kept as long as any certificate of this CA can live.
  registry_->AcceptUnknownSerials(std::max(absl::Minutes(1), options_.cert_ttl) +
                                  absl::Minutes(5));
  RevocationSyncOptions sync_opts;
  sync_opts.poll = options_.revocation_sync_poll;
  revocation_sync_ = std::make_unique<RevocationSync>(registry_.get(), options_.shared_revocations,
                                                      clock_, sync_opts);
  admin_->SetRevocationSync(revocation_sync_.get(), options_.revocation_sync_poll);
  streams_->SetHelloGate([this] { return RevocationsRead(); });
  OnRevocationSync(revocation_sync_->SyncOnce());
  std::cerr << "tether-control: revocations are shared with the other replicas in "
            << revocation_sync_->Describe() << ", read every "
            << absl::FormatDuration(options_.revocation_sync_poll) << std::endl;
}

absl::Status ControlPlane::RevocationsRead() {
  if (revocation_sync_ == nullptr) return absl::OkStatus();
  MutexLock lock(&revocation_sync_mu_);
  if (revocations_read_) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "this replica has not read the revocations yet, so it could not refuse every revoked "
      "credential: ",
      revocation_sync_error_.empty() ? "reading" : revocation_sync_error_, "; retry"));
}

void ControlPlane::OnRevocationSync(const absl::Status& st) {
  const std::string error(st.message());
  std::string last;
  {
    MutexLock lock(&revocation_sync_mu_);
    last = std::exchange(revocation_sync_error_, error);
    if (st.ok()) revocations_read_ = true;
    metrics_.SetRevocations(registry_->Revocations()->version, !error.empty());
  }
  if (!error.empty() && error != last) {
    std::cerr << "tether-control: sharing revocations: " << error << std::endl;
    audit_->Record("revocation_sync_error", {{"message", error}});
  } else if (error.empty() && !last.empty()) {
    audit_->Record("revocation_sync_recovered", nlohmann::json::object());
  }
}

void ControlPlane::PublishLoop() {
  std::string last_error;
  for (;;) {
    {
      MutexLock lock(&publish_mu_);
      publish_cv_.WaitFor(
          &publish_mu_,
          [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(publish_mu_) {
            return publish_requested_ || publish_stopping_;
          },
          options_.publish_interval);
      if (publish_stopping_) return;
      publish_requested_ = false;
    }
    const absl::Status st = options_.publish_trust_bundle(store_->Current()->bundle.ToPem());
    const std::string error(st.message());
    if (!st.ok() && error != last_error) {
      audit_->Record("kubernetes_publish_error", {{"message", error}});
    } else if (st.ok() && !last_error.empty()) {
      audit_->Record("kubernetes_publish_recovered", nlohmann::json::object());
    }
    last_error = st.ok() ? "" : error;
  }
}

absl::Status ControlPlane::StartWebhook() {
  if (options_.webhook_listen.empty()) return absl::OkStatus();
  http::AdminServerOptions opts;
  opts.allow_remote = true;  // the API server calls it
  opts.max_connections = 64;
  // A pod's AdmissionReview (object and, on updates, old object) stays
  // under etcd's 1.5 MiB object limit twice over.
  opts.limits.max_body = 4 << 20;
  opts.stream_factory = webhook_tls_.Factory();
  webhook_ = std::make_unique<http::AdminServer>(opts);
  webhook_->Handle("POST", "/inject", [this](const http::HttpRequest& request) {
    std::optional<absl::string_view> type = request.Header("Content-Type");
    if (!type.has_value() || !absl::StartsWithIgnoreCase(*type, "application/json")) {
      metrics_.RecordAdmission(
          webhook::AdmissionOutcomeName(webhook::AdmissionOutcome::kMalformed));
      return http::HttpResponse::Text("an AdmissionReview is sent as application/json\n", 415);
    }
    webhook::WebhookAnswer answer = webhook::ReviewAdmission(request.body, options_.inject);
    metrics_.RecordAdmission(webhook::AdmissionOutcomeName(answer.outcome));
    http::HttpResponse response;
    response.status = answer.http_status;
    response.content_type = answer.content_type;
    response.body = std::move(answer.body);
    return response;
  });
  webhook_->Handle("GET", "/healthz",
                   [](const http::HttpRequest&) { return http::HttpResponse::Text("ok\n"); });
  absl::StatusOr<int> port = webhook_->Start(options_.webhook_listen);
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.webhook_listen,
                                               " (--webhook-listen): ", port.status().message()));
  }
  webhook_port_ = *port;
  return absl::OkStatus();
}

void ControlPlane::RegisterHealth(http::AdminServer& server) {
  server.Handle("GET", "/healthz",
                [](const http::HttpRequest&) { return http::HttpResponse::Text("ok\n"); });
  server.Handle("GET", "/ready", [this](const http::HttpRequest&) {
    // Unready from the first moment of a shutdown, so that no new stream
    // or admission review is routed here while the servers drain.
    if (shutting_down_.load()) return http::HttpResponse::Text("not ready: shutting down\n", 503);
    // Not before the policies were read: a replica that cannot tell the
    // policy should not take streams that another one could serve fully.
    if (!policies_->Current()->loaded) {
      return http::HttpResponse::Text(
          absl::StrCat("not ready: no policy read yet: ", policies_->reload_error(), "\n"), 503);
    }
    if (absl::Status st = RevocationsRead(); !st.ok()) {
      return http::HttpResponse::Text(absl::StrCat("not ready: ", st.message(), "\n"), 503);
    }
    return http::HttpResponse::Text(absl::StrCat("ready: CA for ", store_->Current()->trust_domain,
                                                 ", ", streams_->stream_count(), " streams\n"));
  });
}

absl::Status ControlPlane::StartHealth() {
  if (options_.health_listen.empty()) return absl::OkStatus();
  // Its own listener: the kubelet's probes must not queue behind admission
  // reviews or idle clients of the webhook (which once restarted the
  // control plane by starving its liveness probe). Probes are quick, so a
  // client that sends nothing is dropped after 2 s.
  http::AdminServerOptions opts;
  opts.allow_remote = true;
  opts.read_timeout = absl::Seconds(2);
  opts.max_connections = 32;
  health_http_ = std::make_unique<http::AdminServer>(opts);
  RegisterHealth(*health_http_);
  absl::StatusOr<int> port = health_http_->Start(options_.health_listen);
  if (!port.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.health_listen,
                                               " (--health-listen): ", port.status().message()));
  }
  health_port_ = *port;
  return absl::OkStatus();
}

absl::Status ControlPlane::RenewServingCertificate() {
  std::shared_ptr<const CaSnapshot> ca = store_->Current();
  {
    MutexLock lock(&mu_);
    if (clock_->Now() < serving_renew_at_ && ca->version == serving_ca_version_) {
      return absl::OkStatus();
    }
  }
  auto key = pki::GenerateP256Key();
  if (!key.ok()) return key.status();
  auto id = pki::SpiffeId::Make(ca->trust_domain, kControlNamespace, kControlServiceAccount);
  if (!id.ok()) return id.status();
  pki::LeafRequest req;
  req.public_key = key->get();
  req.spiffe_id = *id;
  req.now = clock_->Now();
  req.ttl = std::max(options_.cert_ttl, absl::Hours(24));
  req.dns_names = {"localhost", "tether-control", "tether-control.tether-system",
                   kControlServerName};
  for (const auto& n : options_.serving_dns_names) req.dns_names.push_back(n);
  auto leaf = ca->issuer->SignLeaf(req);
  if (!leaf.ok()) return leaf.status();
  if (absl::Status st = MakeDirs(ServingDir(), 0700); !st.ok()) return st;
  // Key first: gRPC re-reads all three, and a key/cert mismatch is skipped.
  const std::string key_pem = pki::PrivateKeyToPem(key->get());
  const std::string chain_pem = pki::ChainToPem(ca->issuer->ChainFor(leaf->get()));
  if (absl::Status st = WriteFileAtomic(ServingDir() + "/key.pem", key_pem, 0600); !st.ok()) {
    return st;
  }
  if (absl::Status st = WriteFileAtomic(ServingDir() + "/chain.pem", chain_pem, 0644); !st.ok()) {
    return st;
  }
  // The webhook serves the same certificate, from its next connection on.
  if (absl::Status st = webhook_tls_.SetCertificate(key_pem, chain_pem); !st.ok()) return st;
  if (absl::Status st = WriteFileAtomic(ServingDir() + "/roots.pem", ca->bundle.ToPem(), 0644);
      !st.ok()) {
    return st;
  }
  pki::CertInfo info = pki::DescribeCert(leaf->get());
  MutexLock lock(&mu_);
  serving_renew_at_ = info.not_before + (info.not_after - info.not_before) / 2;
  serving_ca_version_ = ca->version;
  return absl::OkStatus();
}

void ControlPlane::UpdateCaMetrics() {
  auto ca = store_->Current();
  metrics_.SetRootExpiry(pki::DescribeCert(ca->issuer->authority().cert.get()).not_after);
  metrics_.SetBundleRoots(ca->bundle.roots().size());
}

void ControlPlane::UpdateEndpointMetrics() {
  std::shared_ptr<const EndpointSnapshot> snap = endpoints_->Current();
  std::map<std::string, size_t> by_source;
  for (const Endpoint& e : snap->endpoints) ++by_source[SourceName(e.source)];
  metrics_.SetEndpoints(snap->version, by_source, snap->complete);
}

void ControlPlane::UpdatePolicyMetrics() {
  metrics_.SetPolicy(policies_->Current()->version, !policies_->reload_error().empty());
}

void ControlPlane::RunMaintenance() {
  // Summaries of the refusals held back in intervals that are over.
  rejections_->Flush();
  {
    MutexLock lock(&suppressed_mu_);
    const uint64_t suppressed = rejections_->suppressed();
    metrics_.AddAuditSuppressed(suppressed - suppressed_reported_);
    suppressed_reported_ = suppressed;
  }
  metrics_.SetStreamBacklog(streams_->unauthenticated_count(), streams_->queued_answer_bytes());
  // Streams whose credential expired are closed; due re-reviews are queued.
  streams_->CheckCredentials();
  if (absl::StatusOr<bool> dropped = store_->DropExpiredRoots(); !dropped.ok()) {
    const std::string message(dropped.status().message());
    audit_->Record("maintenance_error", {{"message", message}});
  }
  registry_->Prune();
  if (absl::Status st = RenewServingCertificate(); !st.ok()) {
    const std::string message(st.message());
    audit_->Record("maintenance_error", {{"message", message}});
  }
}

void ControlPlane::Stop() {
  if (stopped_) return;
  stopped_ = true;
  shutting_down_.store(true);
  stopping_.Notify();
  if (maintenance_.joinable()) maintenance_.join();
  if (policy_watch_.joinable()) policy_watch_.join();
  {
    MutexLock lock(&publish_mu_);
    publish_stopping_ = true;
    publish_cv_.SignalAll();
  }
  if (publisher_.joinable()) publisher_.join();
  if (revocation_sync_) revocation_sync_->Stop();
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  if (grpc_server_) grpc_server_->Shutdown(deadline);
  // Workers and the Hello watchdog report to metrics_ and the audit log:
  // they must be done before any member is destroyed.
  if (streams_) streams_->Stop();
  if (admin_http_) admin_http_->Stop();
  if (metrics_http_) metrics_http_->Stop();
  if (webhook_) webhook_->Stop();
  if (health_http_) health_http_->Stop();
  if (admin_grpc_) admin_grpc_->Shutdown(deadline);
  if (store_) store_->SetOnChange(nullptr);
  if (registry_) registry_->SetOnChange(nullptr);
}

ControlPlane::~ControlPlane() { Stop(); }

}  // namespace tether::control
