// Outbound HTTP under a TrafficPolicy, or balanced over a Service's
// endpoints (outbound_balance.cc). When the endpoint registry names the
// destination's identities and a TrafficPolicy selects one of them (or the
// destination is a Service port with meshed endpoints), the worker waits (--http-detect-timeout)
// for the app's first bytes, peeked, not read. HTTP/1.1 goes to an Http1Forwarder, which applies
// the policy's timeouts and retries and dials the destination over mTLS itself, once per upstream
// connection it needs. Anything else (HTTP/1.0, a WebSocket or CONNECT request, TLS, a server that
// speaks first) is relayed as TCP with nothing lost: ConnectOutbound, as for every other
// destination.
#include <algorithm>

#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "proxy/net/plain_transport.h"
#include "proxy/server/worker.h"
#include "proxy/sniff/http1_detect.h"

namespace tether::proxy {

std::vector<pki::SpiffeId> Worker::PolicyIdentities(const OutboundPlan& plan) const {
  // Explicit mode: the one identity the forward address must prove.
  if (ctx_.config->outbound_expect_identity) return {*ctx_.config->outbound_expect_identity};
  return plan.allowed;
}

bool Worker::WantsHttpForwarding(const Connection& conn, const OutboundPlan& plan) {
  if (IsOpaque(conn)) return false;
  if (ctx_.config->http_forward_all || plan.balancer != nullptr) return true;
  const std::vector<pki::SpiffeId> identities = PolicyIdentities(plan);
  if (identities.empty()) return false;
  const std::shared_ptr<const policy::TrafficTable>& table = traffic_.Get();
  return table != nullptr && table->FindPolicy(identities, conn.destination.port()) != nullptr;
}

void Worker::DetectHttp(Connection* conn, UniqueFd fd, OutboundPlan plan) {
  const uint64_t id = conn->id;
  auto shared = std::make_shared<OutboundPlan>(std::move(plan));
  conn->pending_fd = std::move(fd);
  conn->pending_event = dispatcher_->CreateFileEvent(
      conn->pending_fd.get(), FileEvent::kRead,
      [this, id, shared](uint32_t) { OnDetectEvent(id, shared, /*timed_out=*/false); });
  conn->pending_timer =
      dispatcher_->CreateTimer([this, id, shared] { OnDetectEvent(id, shared, true); });
  conn->pending_timer->Enable(ctx_.config->http_detect_timeout);
}

void Worker::OnDetectEvent(uint64_t id, std::shared_ptr<OutboundPlan> plan, bool timed_out) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection* conn = it->second.get();
  Http11Detection d = Http11Detection::kOther;
  if (!timed_out) {
    uint8_t buf[kMaxDetectRequestLine];
    const ssize_t n = recv(conn->pending_fd.get(), buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // The end or an error: the relay reports it as for any connection.
    if (n > 0) d = DetectHttp11Request(absl::MakeConstSpan(buf, static_cast<size_t>(n)));
    if (d == Http11Detection::kNeedMore) return;  // the next bytes bring another event
  }
  conn->pending_event.reset();
  conn->pending_timer.reset();
  UniqueFd fd = std::move(conn->pending_fd);
  if (d == Http11Detection::kHttp11) {
    StartForwarder(conn, std::move(fd), std::move(*plan));
  } else {
    ConnectOutbound(conn, std::move(fd), std::move(*plan));
  }
}

void Worker::StartForwarder(Connection* conn, UniqueFd fd, OutboundPlan plan) {
  ctx_.metrics->OutboundRoute(plan.route);
  const uint64_t id = conn->id;
  const uint16_t port = conn->destination.port();
  auto shared = std::make_shared<const OutboundPlan>(std::move(plan));
  Http1Forwarder::Options o;
  // Balanced: each attempt's target is a Service endpoint, which must prove
  // its own identity; otherwise the destination, as planned.
  auto to = [conn, shared](const Http1Forwarder::Target& target) -> const SocketAddress& {
    return shared->balancer != nullptr ? target.address : conn->destination;
  };
  auto allowed = [this, shared](const SocketAddress& address) {
    return shared->balancer != nullptr ? BackendIdentities(*shared, address) : shared->allowed;
  };
  o.dial = [this, conn, to, allowed](
               const Http1Forwarder::Target& target) -> absl::StatusOr<Http1Forwarder::Dialed> {
    std::shared_ptr<const IdentitySnapshot> identity = ValidIdentity();
    if (identity == nullptr) return absl::FailedPreconditionError(NoCertificateDetail());
    const SocketAddress& address = to(target);
    bool connecting = false;
    absl::StatusOr<UniqueFd> up = ConnectNonBlocking(address, &connecting);
    if (!up.ok()) return up.status();
    SetNoDelay(up->get()).IgnoreError();
    return Http1Forwarder::Dialed{
        std::make_unique<TlsTransport>(
            std::move(*up), OutboundTls(conn, address, allowed(address), std::move(identity))),
        connecting};
  };
  if (shared->balancer != nullptr) SetBalancing(o, conn, shared);
  // Looked up for every request, so that a policy change applies to the
  // next request on a kept-alive connection.
  o.behaviour = [this, ids = PolicyIdentities(*shared), port](absl::string_view method,
                                                              absl::string_view path) {
    const std::shared_ptr<const policy::TrafficTable>& table = traffic_.Get();
    const policy::TrafficPolicy* p = table != nullptr ? table->FindPolicy(ids, port) : nullptr;
    if (p == nullptr) return policy::RequestBehaviour();
    return policy::TrafficTable::Behaviour(*p, table->IndexOf(p), method, path);
  };
  o.budget = [this](const policy::RequestBehaviour& b) { return BudgetFor(b); };
  if (upstream_pool_ == nullptr && !draining_) {
    upstream_pool_ = std::make_unique<UpstreamPool>(*dispatcher_, UpstreamPool::Options{});
  }
  const std::string key = UpstreamKey(conn->destination, shared->allowed);
  auto key_of = [this, shared, key, to, allowed](const Http1Forwarder::Target& target) {
    if (shared->balancer == nullptr) return key;
    const SocketAddress& address = to(target);
    return UpstreamKey(address, allowed(address));
  };
  o.take_idle = [this, conn,
                 key_of](const Http1Forwarder::Target& target) -> std::unique_ptr<Transport> {
    if (upstream_pool_ == nullptr) return nullptr;  // draining
    std::unique_ptr<Transport> t = upstream_pool_->Take(key_of(target));
    if (t != nullptr && !conn->tls.done) {
      // The server this connection verified, for metrics and revocation.
      const auto& tls = static_cast<const TlsTransport&>(*t);
      conn->tls.done = true;
      conn->tls.peer = tls.peer();
      conn->tls.peer_serial = tls.peer_serial();
    }
    return t;
  };
  o.give_back = [this, key_of](const Http1Forwarder::Target& target, std::unique_ptr<Transport> t) {
    if (upstream_pool_ != nullptr) upstream_pool_->Give(key_of(target), std::move(t));
  };
  o.clock = ctx_.clock;
  if (ctx_.http_stats != nullptr) {
    o.stats = &ctx_.http_stats->worker(index_);
    o.peer = [this, conn] {
      return ctx_.metrics->PeerLabel(conn->tls.done ? conn->tls.peer.ToString() : "");
    };
  }
  SetRequestHooks(o, conn);
  o.on_retry = [this](absl::string_view reason) { ctx_.metrics->HttpRetry(reason); };
  o.on_budget_exhausted = [this] { ctx_.metrics->HttpRetryBudgetExhausted(); };
  o.connect_timeout = ctx_.config->connect_timeout;
  o.handshake_timeout = ctx_.config->handshake_timeout;
  o.idle_timeout = ctx_.config->idle_timeout;
  conn->forwarder = std::make_unique<Http1Forwarder>(
      *dispatcher_, std::make_unique<PlainTransport>(std::move(fd)), std::move(o),
      [this, id](const RelayStats& stats) { Close(id, &stats, ""); });
  conn->forwarder->Start();
  if (draining_) conn->forwarder->Drain();
}

RetryBudget* Worker::BudgetFor(const policy::RequestBehaviour& b) {
  if (b.policy_index < 0) return nullptr;
  // "namespace/name", without " route N".
  const std::string key = b.decided_by.substr(0, b.decided_by.find(' '));
  std::unique_ptr<RetryBudget>& budget = budgets_[key];
  if (budget == nullptr || budget->config().ratio != b.budget.ratio ||
      budget->config().min_per_second != b.budget.min_per_second ||
      budget->config().ttl != b.budget.ttl) {
    budget = std::make_unique<RetryBudget>(b.budget);
  }
  return budget.get();
}

}  // namespace tether::proxy
