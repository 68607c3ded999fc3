#include "proxy/server/worker.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "proxy/http/http1_observer.h"
#include "proxy/net/plain_transport.h"
#include "proxy/tls/revocation.h"

namespace tether::proxy {
namespace {

constexpr int kBacklog = 1024;
constexpr int kMaxAcceptsPerEvent = 64;

}  // namespace

Worker::Worker(ProxyContext context, int index)
    : ctx_(std::move(context)),
      index_(index),
      identity_(ctx_.identity != nullptr ? &ctx_.identity->snapshots() : nullptr),
      policy_(ctx_.policy),
      endpoints_(ctx_.endpoints),
      traffic_(ctx_.traffic),
      dispatcher_(Dispatcher::Create()),
      buffer_pool_(2 * ctx_.config->buffer_size, /*max_free=*/64) {}

Worker::~Worker() { Stop(); }

absl::Status Worker::Listen(const std::optional<SocketAddress>& inbound,
                            const std::optional<SocketAddress>& outbound) {
  for (auto [want, fd, bound, dir] :
       {std::tuple{&inbound, &inbound_listener_, &inbound_address_, Direction::kInbound},
        std::tuple{&outbound, &outbound_listener_, &outbound_address_, Direction::kOutbound}}) {
    if (!want->has_value()) continue;
    auto listener = proxy::Listen(**want, kBacklog, /*reuse_port=*/true);
    if (!listener.ok()) {
      return absl::Status(listener.status().code(),
                          absl::StrCat("cannot listen on ", (*want)->ToString(), " (",
                                       DirectionName(dir), "): ", listener.status().message()));
    }
    auto local = LocalAddress(listener->get());
    if (!local.ok()) return local.status();
    *bound = *local;
    *fd = std::move(*listener);
  }
  return absl::OkStatus();
}

void Worker::Start() {
  if (inbound_listener_.valid()) {
    inbound_accept_ =
        dispatcher_->CreateFileEvent(inbound_listener_.get(), FileEvent::kRead,
                                     [this](uint32_t) { OnAccept(Direction::kInbound); });
  }
  if (outbound_listener_.valid()) {
    outbound_accept_ =
        dispatcher_->CreateFileEvent(outbound_listener_.get(), FileEvent::kRead,
                                     [this](uint32_t) { OnAccept(Direction::kOutbound); });
  }
  accept_retry_ = dispatcher_->CreateTimer([this] {
    if (inbound_accept_) inbound_accept_->Activate(FileEvent::kRead);
    if (outbound_accept_) outbound_accept_->Activate(FileEvent::kRead);
  });
  thread_ = std::thread([this] { dispatcher_->Run(); });
}

void Worker::StopAccepting() {
  dispatcher_->Post([this] {
    inbound_accept_.reset();
    outbound_accept_.reset();
    inbound_listener_.reset();
    outbound_listener_.reset();
    // Keep-alive HTTP holds connections open that nobody uses: a draining
    // proxy closes what is idle between requests, as an HTTP server would.
    draining_ = true;
    upstream_pool_.reset();
    std::vector<uint64_t> idle;
    for (const auto& [id, conn] : connections_) {
      if (conn->forwarder != nullptr) conn->forwarder->Drain();
      if (conn->relay != nullptr && conn->http_observer != nullptr &&
          conn->http_observer->IdleBetweenRequests()) {
        idle.push_back(id);
      }
    }
    for (uint64_t id : idle) Close(id, nullptr, "drained_idle");
  });
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  dispatcher_->Post([this] {
    inbound_accept_.reset();
    outbound_accept_.reset();
    accept_retry_.reset();
    for (const auto& [id, conn] : connections_) ctx_.limiter->Release(conn->direction);
    connections_.clear();  // relays abort both sides
    upstream_pool_.reset();
    active_.store(0, std::memory_order_relaxed);
    dispatcher_->Exit();
  });
  thread_.join();
}

RelayOptions Worker::MakeRelayOptions() const {
  RelayOptions o;
  o.buffer_size = ctx_.config->buffer_size;
  o.buffer_pool = &buffer_pool_;
  o.connect_timeout = ctx_.config->connect_timeout;
  o.handshake_timeout = ctx_.config->handshake_timeout;
  o.idle_timeout = ctx_.config->idle_timeout;
  return o;
}

std::shared_ptr<const IdentitySnapshot> Worker::ValidIdentity() const {
  std::shared_ptr<const IdentitySnapshot> identity = identity_.Get();
  if (identity == nullptr || ctx_.clock->Now() >= identity->not_after) return nullptr;
  return identity;
}

std::string Worker::NoCertificateDetail() const {
  std::shared_ptr<const IdentitySnapshot> identity = ctx_.identity->Current();
  IdentityStatus st = ctx_.identity->status();
  std::string stream = absl::StrCat("control stream ", st.stream_state,
                                    st.last_error.empty() ? "" : ": ", st.last_error);
  if (identity == nullptr && !st.revoked_reason.empty()) {
    if (st.last_error == st.revoked_reason)
      stream = absl::StrCat("control stream ", st.stream_state);
    return absl::StrCat("this proxy holds no valid certificate: ", st.revoked_reason, " (", stream,
                        ")");
  }
  if (identity == nullptr) {
    return absl::StrCat("this proxy holds no certificate yet (", stream, ")");
  }
  return absl::StrCat(
      "this proxy's certificate expired at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", identity->not_after, absl::UTCTimeZone()), " (",
      stream, ")");
}

Connection* Worker::NewConnection(Direction direction, const SocketAddress& peer) {
  auto conn = std::make_unique<Connection>();
  conn->id = next_id_++;
  conn->direction = direction;
  conn->peer = peer;
  conn->started = ctx_.clock->Now();
  Connection* raw = conn.get();
  connections_[raw->id] = std::move(conn);
  active_.fetch_add(1, std::memory_order_relaxed);
  ctx_.metrics->ConnectionOpened(direction);
  return raw;
}

void Worker::OnAccept(Direction direction) {
  const UniqueFd& listener =
      direction == Direction::kInbound ? inbound_listener_ : outbound_listener_;
  for (int i = 0; i < kMaxAcceptsPerEvent && listener.valid(); ++i) {
    SocketAddress peer;
    absl::StatusOr<UniqueFd> fd = AcceptNonBlocking(listener.get(), &peer);
    if (!fd.ok()) {
      // Out of descriptors or memory: back off instead of spinning.
      ctx_.metrics->ConnectionRefused(direction, "accept_error");
      accept_retry_->Enable(absl::Milliseconds(100));
      return;
    }
    if (!fd->valid()) return;  // drained
    // The slot is given back in Close (or Stop) when the connection ends.
    if (!ctx_.limiter->TryAcquire(direction)) {
      ctx_.metrics->ConnectionRefused(direction, "over_limit");
      AbortiveClose(std::move(*fd));
      continue;
    }
    SetNoDelay(fd->get()).IgnoreError();
    if (direction == Direction::kOutbound) {
      HandleOutbound(std::move(*fd), peer);
    } else {
      HandleInbound(std::move(*fd), peer);
    }
  }
  // Budget used up with more possibly pending: come back after other events.
  if (listener.valid()) {
    (direction == Direction::kInbound ? inbound_accept_ : outbound_accept_)
        ->Activate(FileEvent::kRead);
  }
}

void Worker::StartRelay(Connection* conn, std::unique_ptr<Transport> downstream,
                        UniqueFd upstream_fd, bool connecting,
                        std::unique_ptr<Transport> upstream) {
  if (!upstream) upstream = std::make_unique<PlainTransport>(std::move(upstream_fd));
  const uint64_t id = conn->id;
  conn->relay = std::make_unique<Relay>(
      *dispatcher_, std::move(downstream), std::move(upstream),
      connecting ? Relay::Upstream::kConnecting : Relay::Upstream::kConnected, MakeRelayOptions(),
      [this, id](const RelayStats& stats) { Close(id, &stats, ""); });
  if (std::unique_ptr<HttpObserver> tap = MakeHttpObserver(*conn)) {
    conn->http_observer = tap.get();
    conn->relay->SetTap(std::move(tap));
  }
  conn->relay->Start();
}

bool Worker::IsOpaque(const Connection& conn) const {
  if (conn.declared == DeclaredProtocol::kOpaque) return true;
  if (conn.declared == DeclaredProtocol::kHttp) return false;
  const std::vector<uint16_t>& opaque = ctx_.config->opaque_ports;
  return std::find(opaque.begin(), opaque.end(), conn.destination.port()) != opaque.end();
}

std::unique_ptr<HttpObserver> Worker::MakeHttpObserver(const Connection& conn) {
  if (ctx_.http_stats == nullptr) return nullptr;
  if (IsOpaque(conn)) return nullptr;
  Http1Observer::Options o;
  o.inbound = conn.direction == Direction::kInbound;
  // After the handshake: the verified peer (the client inbound, the server
  // outbound); none when plaintext (permissive inbound, passthrough out).
  o.peer = [this, c = &conn] {
    return ctx_.metrics->PeerLabel(c->tls.done ? c->tls.peer.ToString() : "");
  };
  o.clock = ctx_.clock;
  o.stats = &ctx_.http_stats->worker(index_);
  SetRequestHooks(o, &conn);
  return std::make_unique<HttpObserver>(std::move(o));
}

bool Worker::WantsRequests() const {
  return LogsRequests() || (ctx_.tap != nullptr && ctx_.tap->watching(ctx_.clock->Monotonic()));
}

void Worker::OnRequest(const Connection& conn, const HttpRequestRecord& r) {
  if (LogsRequests()) LogRequest(conn, r);
  if (ctx_.tap == nullptr || !ctx_.tap->watching(ctx_.clock->Monotonic())) return;
  std::shared_ptr<const IdentitySnapshot> own = identity_.Get();
  const std::string self = own ? own->spiffe_id.ToString() : "";
  const std::string peer = conn.tls.done ? conn.tls.peer.ToString() : "";
  TappedRequest t;
  t.time = ctx_.clock->Now();
  t.inbound = conn.direction == Direction::kInbound;
  t.client = t.inbound ? peer : self;
  t.server = t.inbound ? self : peer;
  t.method = std::string(r.method);
  t.path = r.path;
  t.status = r.status;
  t.grpc_status = r.grpc_status;
  t.duration = r.duration;
  ctx_.tap->Record(index_, std::move(t));
}

void Worker::LogRequest(const Connection& conn, const HttpRequestRecord& r) {
  std::shared_ptr<const IdentitySnapshot> own = identity_.Get();
  const std::string self = own ? own->spiffe_id.ToString() : "";
  const std::string peer = conn.tls.done ? conn.tls.peer.ToString() : "";
  const bool inbound = conn.direction == Direction::kInbound;
  nlohmann::json line = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ctx_.clock->Now(), absl::UTCTimeZone())},
      {"kind", "request"},
      {"direction", std::string(DirectionName(conn.direction))},
      {"client_identity", inbound ? peer : self},
      {"server_identity", inbound ? self : peer},
      {"peer", conn.peer.ToString()},
      {"destination", conn.destination.ToString()},
      {"method", std::string(r.method)},
      {"path", r.path},
      {"route", r.route},
      {"status", r.status},
      {"duration_ms", absl::ToDoubleMilliseconds(r.duration)},
      {"request_bytes", r.request_bytes},
      {"response_bytes", r.response_bytes},
  };
  if (r.grpc_status >= 0) line["grpc_status"] = r.grpc_status;
  ctx_.access_log->Write(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Worker::Refuse(Connection* conn, absl::string_view outcome) {
  // The caller still holds the accepted socket inside conn->pending (or has
  // dropped it); closing the connection resets it.
  Close(conn->id, nullptr, outcome);
}

bool Worker::RefuseOwnListener(Connection* conn, UniqueFd& fd) {
  if (ctx_.own_listeners == nullptr) return false;
  std::optional<absl::string_view> name =
      OwnListenerAt(*ctx_.own_listeners, conn->destination, IsLocalAddress);
  if (!name.has_value()) return false;
  conn->failure_detail = absl::StrCat(
      "the original destination ", conn->destination.ToString(), " is this proxy's own ", *name,
      " listener: refused, so that a peer cannot make the proxy connect to itself (a loop) or "
      "reach its admin, health or metrics ports through the mesh");
  AbortiveClose(std::move(fd));
  Refuse(conn, "own_listener");
  return true;
}

void Worker::Close(uint64_t id, const RelayStats* stats, absl::string_view outcome) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> conn = std::move(it->second);
  connections_.erase(it);
  active_.fetch_sub(1, std::memory_order_relaxed);
  ctx_.limiter->Release(conn->direction);
  std::string result(outcome);
  uint64_t up = 0, down = 0;
  if (stats != nullptr) {
    result = std::string(RelayOutcomeName(stats->outcome));
    up = stats->bytes_to_upstream;
    down = stats->bytes_to_downstream;
    if (stats->outcome == RelayOutcome::kHandshakeFailed) {
      ctx_.metrics->HandshakeFailed(conn->direction,
                                    stats->error.empty() ? "tls_error" : stats->error);
    }
  }
  if (!conn->tls.ticket_declined.empty()) ctx_.metrics->TicketDeclined(conn->tls.ticket_declined);
  if (conn->tls.done) {
    ctx_.metrics->HandshakeDone(conn->direction, conn->tls.handshake_time, conn->tls.resumed);
  }
  ctx_.metrics->ConnectionClosed(conn->direction, result, up, down);
  const bool failed = IsFailureOutcome(result);
  ctx_.metrics->PeerConnectionClosed(
      conn->direction, conn->tls.done ? conn->tls.peer.ToString() : "", failed, up, down);
  if (failed) RecordFailure(*conn, stats, result);
  if (ctx_.access_log != nullptr) {
    nlohmann::json line = {
        {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ctx_.clock->Now(), absl::UTCTimeZone())},
        {"direction", std::string(DirectionName(conn->direction))},
        {"peer", conn->peer.ToString()},
        {"peer_identity", conn->tls.done ? conn->tls.peer.ToString() : ""},
        {"destination", conn->destination.ToString()},
        {"outcome", result},
        {"bytes_to_upstream", up},
        {"bytes_to_downstream", down},
        {"duration_ms", absl::ToDoubleMilliseconds(ctx_.clock->Now() - conn->started)},
    };
    if (!conn->tls.error.empty()) line["tls_error"] = conn->tls.error_detail;
    if (!conn->authz.empty()) line["authz"] = conn->authz;
    ctx_.access_log->Write(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  // `conn` (and its relay, whose close callback may be running us) goes here:
  // the relay allows its owner to destroy it from that callback.
}

std::string Worker::RevokedPeer(const Connection& conn) const {
  if (revocations_.revocations == nullptr || !conn.tls.done) return "";
  const std::string id = conn.tls.peer.ToString();
  RevokedBy by = CheckRevoked(*revocations_.revocations, conn.tls.peer_serial, id);
  if (by == RevokedBy::kNone) return "";
  return absl::StrCat(DescribeRevoked("peer", by, conn.tls.peer_serial, id),
                      " at revocations version ", revocations_.version);
}

void Worker::CloseRevoked(RevocationUpdate update) {
  dispatcher_->Post([this, update = std::move(update)]() mutable {
    // The newest list, as the identity manager holds it (posts from its one
    // thread arrive in order).
    revocations_ = std::move(update);
    std::vector<uint64_t> revoked;
    for (const auto& [id, conn] : connections_) {
      // Not relaying yet: checked when it is.
      if (conn->relay == nullptr && conn->forwarder == nullptr) continue;
      std::string why = RevokedPeer(*conn);
      if (why.empty()) continue;
      conn->failure_detail = std::move(why);
      revoked.push_back(id);
    }
    for (uint64_t id : revoked) Close(id, nullptr, "closed_by_revocation");
    // Idle pooled connections to a revoked server are closed too.
    if (upstream_pool_ != nullptr && revocations_.revocations != nullptr) {
      upstream_pool_->RemoveIf([this](const Transport& t) {
        const auto& tls = static_cast<const TlsTransport&>(t);
        return CheckRevoked(*revocations_.revocations, tls.peer_serial(), tls.peer().ToString()) !=
               RevokedBy::kNone;
      });
    }
  });
}

void Worker::RecordFailure(const Connection& conn, const RelayStats* stats,
                           absl::string_view outcome) {
  FailureRecord r;
  r.time = ctx_.clock->Now();
  r.direction = conn.direction;
  // The other side of the mesh hop: the caller inbound, the upstream outbound.
  r.peer_address =
      conn.direction == Direction::kInbound ? conn.peer.ToString() : conn.destination.ToString();
  r.destination = conn.destination.ToString();
  if (conn.tls.done) {
    r.peer_identity = conn.tls.peer.ToString();
    r.identity_verified = true;
  } else {
    r.peer_identity = conn.tls.claimed_peer;
  }
  r.reason = std::string(outcome);
  if (outcome == "handshake_failed") {
    // The handshake's own reason word, as in tether_proxy_tls_handshake_failures_total.
    r.reason = stats != nullptr && !stats->error.empty() ? stats->error : conn.tls.error;
    if (r.reason.empty()) r.reason = "tls_error";
    r.detail = conn.tls.error_detail;
  } else if (outcome == "denied" || outcome == "closed_by_policy") {
    r.detail = conn.authz;
  } else if (!conn.failure_detail.empty()) {
    r.detail = conn.failure_detail;
  } else if (stats != nullptr) {
    r.detail = stats->error;
  }
  if (outcome == "handshake_timeout" && r.detail.empty()) {
    r.detail = absl::StrCat("no TLS handshake within ",
                            absl::FormatDuration(ctx_.config->handshake_timeout));
  }
  failures_.Add(std::move(r));
}

}  // namespace tether::proxy
