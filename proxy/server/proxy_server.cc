#include "proxy/server/proxy_server.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/policy/policy_proto.h"
#include "common/version.h"
#include "proxy/server/admin.h"

namespace tether::proxy {

absl::StatusOr<std::unique_ptr<ProxyServer>> ProxyServer::Start(const ProxyConfig& config,
                                                                CaConnector* connector,
                                                                const Clock* clock) {
  if (absl::Status st = Validate(config); !st.ok()) return st;
  // BoringSSL writes to sockets with write(2): a peer that has gone away must
  // give EPIPE, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<ProxyServer> server(new ProxyServer(config, clock));
  if (absl::Status st = server->Init(connector); !st.ok()) {
    server->Drain(absl::ZeroDuration());
    return st;
  }
  return server;
}

ProxyServer::~ProxyServer() { Drain(absl::ZeroDuration()); }

absl::Status ProxyServer::Init(CaConnector* connector) {
  absl::StatusOr<std::string> bundle = ReadFile(config_.ca_bundle_file, 1 << 20);
  if (!bundle.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--ca-bundle: ", bundle.status().message()));
  }
  if (!config_.policy_file.empty()) {
    absl::StatusOr<std::string> yaml = ReadFile(config_.policy_file, 1 << 20);
    if (!yaml.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--policy-file: ", yaml.status().message()));
    }
    auto set = policy::ParsePolicies(*yaml, config_.policy_file);
    if (!set.ok()) return set.status();
    policies_ = std::move(*set);
    StoreTraffic(*policies_);
    policy_held_.store(true);
  }
  if (!config_.access_log.empty()) {
    auto log = AccessLog::Open(config_.access_log);
    if (!log.ok()) return log.status();
    access_log_ = std::move(*log);
  }

  IdentityOptions id_opts;
  id_opts.initial_bundle_pem = *bundle;
  id_opts.bootstrap = config_.bootstrap;
  id_opts.workload_name = config_.workload_name;
  id_opts.proxy_version = kTetherVersion;
  id_opts.ttl = config_.cert_ttl;
  identity_ = std::make_unique<IdentityManager>(std::move(id_opts), connector, clock_);
  identity_->SetOnChange([this](const IdentitySnapshot& snap) { OnIdentityChange(snap); });
  identity_->SetOnPolicy([this](const tether::policy::v1::PolicySnapshot& msg) { OnPolicy(msg); });
  identity_->SetOnDiscovery(
      [this](const tether::discovery::v1::DiscoveryUpdate& msg) { OnDiscovery(msg); });
  identity_->SetOnRevocations([this](const RevocationUpdate& update) { OnRevocations(update); });

  ProxyContext ctx;
  ctx.config = &config_;
  ctx.identity = identity_.get();
  ctx.metrics = &metrics_;
  ctx.clock = clock_;
  ctx.policy = &compiled_policy_;
  ctx.policy_held = &policy_held_;
  ctx.traffic = &traffic_;
  ctx.endpoints = &endpoints_;
  ctx.access_log = access_log_.get();
  ctx.limiter = &limiter_;
  if (config_.http_metrics) {
    HttpStatsOptions http_opts;
    http_opts.max_routes = config_.http_max_routes;
    http_stats_ = std::make_unique<HttpStats>(config_.workers, http_opts);
    metrics_.AddCollectable(http_stats_->collector());
    ctx.http_stats = http_stats_.get();
    request_tap_ = std::make_unique<RequestTap>(config_.workers);
    ctx.tap = request_tap_.get();
  }
  if (config_.transparent) ctx.own_listeners = &own_listeners_;
  std::optional<SocketAddress> inbound, outbound;
  if (!config_.inbound_listen.empty()) {
    auto a = SocketAddress::Parse(config_.inbound_listen);
    if (!a.ok())
      return absl::InvalidArgumentError(absl::StrCat("--inbound-listen: ", a.status().message()));
    inbound = *a;
  }
  if (!config_.outbound_listen.empty()) {
    auto a = SocketAddress::Parse(config_.outbound_listen);
    if (!a.ok())
      return absl::InvalidArgumentError(absl::StrCat("--outbound-listen: ", a.status().message()));
    outbound = *a;
  }
  if (!config_.inbound_forward.empty()) {
    auto a = SocketAddress::Parse(config_.inbound_forward);
    if (!a.ok())
      return absl::InvalidArgumentError(absl::StrCat("--inbound-forward: ", a.status().message()));
    ctx.inbound_forward = *a;
  }
  if (!config_.outbound_forward.empty()) {
    auto a = SocketAddress::Parse(config_.outbound_forward);
    if (!a.ok())
      return absl::InvalidArgumentError(absl::StrCat("--outbound-forward: ", a.status().message()));
    ctx.outbound_forward = *a;
  }
  for (int i = 0; i < config_.workers; ++i) {
    auto worker = std::make_unique<Worker>(ctx, i);
    if (absl::Status st = worker->Listen(inbound, outbound); !st.ok()) return st;
    // With port 0, the first worker picks the port and the others share it.
    inbound = worker->inbound_address();
    outbound = worker->outbound_address();
    workers_.push_back(std::move(worker));
  }

  http::AdminServerOptions admin_opts;
  admin_ = std::make_unique<http::AdminServer>(admin_opts);
  AdminHooks hooks;
  hooks.drain = [this] {
    draining_ = true;
    for (auto& w : workers_) w->StopAccepting();
  };
  hooks.quit = [this] { Quit(); };
  hooks.draining = [this] { return draining_.load(); };
  hooks.policy_held = [this] { return policy_held_.load(); };
  hooks.endpoints = [this] { return EndpointsJson(endpoints_.Load().get()); };
  hooks.traffic = [this] { return traffic_.Load(); };
  hooks.requests = [this](uint64_t since) {
    return request_tap_ ? request_tap_->Read(since, clock_->Monotonic())
                        : std::vector<TappedRequest>();
  };
  hooks.failures = [this](uint64_t* total) {
    std::vector<std::vector<FailureRecord>> snapshots;
    *total = 0;
    for (const auto& w : workers_) {
      snapshots.push_back(w->failures().Snapshot());
      *total += w->failures().total();
    }
    return MergeNewestFirst(std::move(snapshots));
  };
  if (!config_.health_listen.empty()) {
    http::AdminServerOptions health_opts;
    health_opts.allow_remote = true;  // the kubelet probes from the node
    health_ = std::make_unique<http::AdminServer>(health_opts);
    RegisterHealthEndpoints(*health_, identity_.get(), clock_, hooks);
    RegisterAppProbeEndpoints(*health_, config_.app_probes, config_.app_probe_host);
    auto health_port = health_->Start(config_.health_listen);
    if (!health_port.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--health-listen ", config_.health_listen,
                                                     ": ", health_port.status().message()));
    }
    health_port_ = *health_port;
  }
  if (!config_.metrics_listen.empty()) {
    http::AdminServerOptions metrics_opts;
    metrics_opts.allow_remote = true;  // Prometheus scrapes from another pod
    metrics_server_ = std::make_unique<http::AdminServer>(metrics_opts);
    RegisterMetricsEndpoint(*metrics_server_, identity_.get(), &metrics_);
    auto metrics_port = metrics_server_->Start(config_.metrics_listen);
    if (!metrics_port.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--metrics-listen ", config_.metrics_listen,
                                                     ": ", metrics_port.status().message()));
    }
    metrics_port_ = *metrics_port;
  }
  RegisterAdminEndpoints(*admin_, config_, identity_.get(), &metrics_, clock_, hooks);
  auto port = admin_->Start(config_.admin_listen);
  if (!port.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin-listen ", config_.admin_listen, ": ", port.status().message()));
  }
  admin_port_ = *port;

  // Before the workers start (their threads then see the whole set).
  own_listeners_.Add(static_cast<uint16_t>(inbound_port()), "inbound");
  own_listeners_.Add(static_cast<uint16_t>(outbound_port()), "outbound");
  own_listeners_.Add(static_cast<uint16_t>(admin_port_), "admin");
  own_listeners_.Add(static_cast<uint16_t>(health_port_), "health");
  own_listeners_.Add(static_cast<uint16_t>(metrics_port_), "metrics");

  if (absl::Status st = identity_->Start(); !st.ok()) return st;
  for (auto& w : workers_) w->Start();
  return absl::OkStatus();
}

void ProxyServer::OnIdentityChange(const IdentitySnapshot& snapshot) {
  metrics_.SetCertificate(snapshot.not_after);
  metrics_.CertificateRenewed();
  Recompile();
}

void ProxyServer::Recompile() {
  std::shared_ptr<const IdentitySnapshot> identity = identity_->Current();
  if (!policies_ || identity == nullptr) return;
  policy::PolicySet set = *policies_;
  const bool mesh_default = std::any_of(set.defaults.begin(), set.defaults.end(),
                                        [](const auto& d) { return d.namespace_name.empty(); });
  if (config_.default_policy == policy::DefaultAction::kDeny && !mesh_default) {
    set.defaults.push_back({"--default-policy", "", policy::DefaultAction::kDeny});
  }
  if (set.policies.empty() && set.defaults.empty()) {
    // Nothing written for this workload: behave as without a policy (mesh
    // peers allowed; plaintext too on a permissive port).
    compiled_policy_.Store(nullptr);
    return;
  }
  compiled_policy_.Store(policy::CompiledPolicy::Compile(set, identity->spiffe_id));
}

void ProxyServer::StoreTraffic(const policy::PolicySet& set) {
  // Not the workload's own: its client side may call any destination.
  traffic_.Store(policy::TrafficTable::Compile(set.traffic));
}

void ProxyServer::OnPolicy(const tether::policy::v1::PolicySnapshot& msg) {
  if (!config_.policy_file.empty()) {
    metrics_.PolicyUpdate("ignored", msg.version());
    return;
  }
  if (msg.version() < policy_version_) return;  // an older one overtaken
  absl::StatusOr<policy::PolicySet> set = policy::FromProto(msg);
  if (!set.ok()) {
    // Keep enforcing the previous policy rather than none.
    metrics_.PolicyUpdate("rejected", msg.version());
    std::cerr << "tether-proxy: ignored an invalid policy from the control plane: "
              << set.status().message() << "\n";
    return;
  }
  policies_ = *std::move(set);
  policy_version_ = msg.version();
  StoreTraffic(*policies_);
  Recompile();
  // After the compiled policy is stored, so that a worker that sees the
  // flag also sees the policy (release pairs with the workers' acquire).
  policy_held_.store(true, std::memory_order_release);
  metrics_.PolicyUpdate("applied", msg.version());
  if (msg.close_denied_connections()) {
    for (auto& w : workers_) w->CloseDenied();
  }
}

void ProxyServer::OnRevocations(const RevocationUpdate& update) {
  // The certificate was withdrawn: no expiry to show until a new one.
  if (update.own_certificate_revoked) metrics_.SetCertificate(absl::UnixEpoch());
  // Every list, not only growing ones: a worker keeps the latest to check
  // handshakes that complete after it.
  for (auto& w : workers_) w->CloseRevoked(update);
}

void ProxyServer::OnDiscovery(const tether::discovery::v1::DiscoveryUpdate& msg) {
  std::shared_ptr<const EndpointTable> current = endpoints_.Load();
  absl::StatusOr<std::shared_ptr<const EndpointTable>> next =
      EndpointTable::Apply(current.get(), msg);
  if (!next.ok()) {
    // Keep the table in force: a stale registry beats none.
    metrics_.DiscoveryUpdate("rejected", msg.version(), 0);
    std::cerr << "tether-proxy: ignored a discovery update from the control plane: "
              << next.status().message() << "\n";
    return;
  }
  metrics_.DiscoveryUpdate("applied", (*next)->version(), (*next)->size());
  endpoints_.Store(*std::move(next));
}

int ProxyServer::inbound_port() const {
  auto a = workers_.empty() ? std::nullopt : workers_[0]->inbound_address();
  return a ? a->port() : 0;
}

int ProxyServer::outbound_port() const {
  auto a = workers_.empty() ? std::nullopt : workers_[0]->outbound_address();
  return a ? a->port() : 0;
}

size_t ProxyServer::active_connections() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->active_connections();
  return n;
}

void ProxyServer::Drain(absl::Duration deadline) {
  if (stopped_) return;
  stopped_ = true;
  draining_ = true;
  for (auto& w : workers_) w->StopAccepting();
  const absl::Time until = clock_->Now() + deadline;
  while (active_connections() > 0 && clock_->Now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& w : workers_) w->Stop();
  if (admin_) admin_->Stop();
  if (health_) health_->Stop();
  if (metrics_server_) metrics_server_->Stop();
  if (identity_) identity_->Stop();
}

}  // namespace tether::proxy
