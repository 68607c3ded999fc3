// Inbound: a peer's connection to this workload. Strict mode accepts mTLS
// only; permissive mode also plaintext (detected from the first bytes). The
// peer is authorized by policy after its handshake and before anything
// reaches the app.
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "proxy/net/plain_transport.h"
#include "proxy/server/worker.h"
#include "proxy/sniff/protocol_detector.h"

namespace tether::proxy {
namespace {

// Permissive mode: a client that has sent nothing by then is taken for a
// plaintext protocol where the server speaks first.
constexpr absl::Duration kDetectTimeout = absl::Milliseconds(200);

}  // namespace

void Worker::HandleInbound(UniqueFd fd, const SocketAddress& peer) {
  Connection* conn = NewConnection(Direction::kInbound, peer);
  if (ctx_.inbound_forward) {
    conn->destination = *ctx_.inbound_forward;
  } else {
    absl::StatusOr<SocketAddress> dst = OriginalDestination(fd.get());
    if (!dst.ok()) {
      conn->failure_detail = std::string(dst.status().message());
      AbortiveClose(std::move(fd));
      Refuse(conn, "no_original_destination");
      return;
    }
    // The app is reached on the address the peer dialled, the pod's own,
    // never on loopback: what the app bound to 127.0.0.1 only stays private
    // to the pod. The proxy's connection there comes from its UID, which
    // TETHER_OUTPUT exempts, and a locally generated connection never passes
    // through PREROUTING's nat rules, so it is not redirected again
    // (proxy/init/rules.h). A destination that is loopback or not this pod's
    // (a crafted packet routed through the pod) is refused: forwarding it
    // would make the proxy an open relay, or reach loopback after all.
    conn->destination = *dst;
    if (IsLoopback(*dst) || !IsLocalAddress(*dst)) {
      conn->failure_detail = absl::StrCat(
          "the original destination ", dst->ToString(),
          " is not an address of this pod; inbound connections are forwarded only to the "
          "pod's own addresses, never to loopback or another host");
      AbortiveClose(std::move(fd));
      Refuse(conn, "not_pod_address");
      return;
    }
    if (RefuseOwnListener(conn, fd)) return;
  }
  std::shared_ptr<const IdentitySnapshot> identity = ValidIdentity();
  if (identity == nullptr) {
    conn->failure_detail = NoCertificateDetail();
    AbortiveClose(std::move(fd));
    Refuse(conn, "no_certificate");
    return;
  }
  if (ctx_.policy_held != nullptr && !ctx_.policy_held->load(std::memory_order_acquire)) {
    conn->failure_detail =
        "no authorization policy from the control plane yet; inbound connections are refused "
        "until it arrives (fail closed)";
    AbortiveClose(std::move(fd));
    Refuse(conn, "no_policy");
    return;
  }
  const int raw_fd = fd.get();
  const uint64_t id = conn->id;
  if (ctx_.config->permissive) {
    conn->pending_fd = std::move(fd);
    conn->pending_timer = dispatcher_->CreateTimer([this, id] {
      auto it = connections_.find(id);
      if (it == connections_.end()) return;
      Connection* c = it->second.get();
      if (c->pending_fd.valid()) {
        // Nothing sent yet: a server-speaks-first plaintext protocol.
        c->pending = std::make_unique<PlainTransport>(std::move(c->pending_fd));
        InboundReady(c, /*authenticated=*/false);
      } else {
        ctx_.metrics->HandshakeFailed(Direction::kInbound, "handshake_timeout");
        Refuse(c, "handshake_timeout");
      }
    });
    conn->pending_timer->Enable(kDetectTimeout);
  } else {
    TlsTransport::Options tls;
    tls.role = TlsTransport::Role::kServer;
    tls.identity = std::move(identity);
    tls.clock = ctx_.clock;
    tls.observation = &conn->tls;
    tls.peer_cache = &peer_cache_;
    conn->pending = std::make_unique<TlsTransport>(std::move(fd), std::move(tls));
    conn->pending_timer = dispatcher_->CreateTimer([this, id] {
      auto it = connections_.find(id);
      if (it == connections_.end()) return;
      ctx_.metrics->HandshakeFailed(Direction::kInbound, "handshake_timeout");
      Refuse(it->second.get(), "handshake_timeout");
    });
    conn->pending_timer->Enable(ctx_.config->handshake_timeout);
  }
  conn->pending_event = dispatcher_->CreateFileEvent(raw_fd, FileEvent::kRead | FileEvent::kWrite,
                                                     [this, id](uint32_t ready) {
                                                       auto it = connections_.find(id);
                                                       if (it != connections_.end()) {
                                                         ContinueInbound(it->second.get(), ready);
                                                       }
                                                     });
  ContinueInbound(conn, 0);
}

void Worker::ContinueInbound(Connection* conn, uint32_t ready) {
  if (conn->pending_fd.valid()) {
    uint8_t buf[kMaxDetectBytes];
    ssize_t n = recv(conn->pending_fd.get(), buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      Refuse(conn, n == 0 ? "closed_before_data" : "reset_by_downstream");
      return;
    }
    Detection d = DetectProtocol(absl::MakeConstSpan(buf, static_cast<size_t>(n)));
    if (d.kind == Detection::kNeedMore && static_cast<size_t>(n) < sizeof(buf)) return;
    if (d.kind == Detection::kTls && d.tether_alpn) {
      TlsTransport::Options tls;
      tls.role = TlsTransport::Role::kServer;
      tls.identity = identity_.Get();
      tls.clock = ctx_.clock;
      tls.observation = &conn->tls;
      tls.peer_cache = &peer_cache_;
      conn->pending = std::make_unique<TlsTransport>(std::move(conn->pending_fd), std::move(tls));
      conn->pending_timer->Enable(ctx_.config->handshake_timeout);
    } else {
      // Plaintext, or TLS that is not the mesh's (the app's own): passed through.
      conn->pending = std::make_unique<PlainTransport>(std::move(conn->pending_fd));
      InboundReady(conn, /*authenticated=*/false);
      return;
    }
  }
  IoStatus st = conn->pending->Handshake();
  if (st == IoStatus::kWouldBlock) return;
  if (st != IoStatus::kOk) {
    const std::string& reason = conn->pending->error();
    ctx_.metrics->HandshakeFailed(Direction::kInbound, reason.empty() ? "tls_error" : reason);
    Refuse(conn, "handshake_failed");
    return;
  }
  InboundReady(conn, /*authenticated=*/true);
}

void Worker::CloseDenied() {
  dispatcher_->Post([this] {
    std::shared_ptr<const policy::CompiledPolicy> compiled = policy_.Get();
    if (compiled == nullptr) return;
    std::vector<uint64_t> denied;
    for (const auto& [id, conn] : connections_) {
      if (conn->direction != Direction::kInbound || conn->relay == nullptr) continue;
      policy::Peer peer;
      if (conn->tls.done) peer.id = conn->tls.peer;
      policy::Decision d = compiled->Evaluate(peer, conn->destination.port());
      if (d.allowed) continue;
      conn->authz = absl::StrCat(policy::Describe(d), " (policy changed)");
      denied.push_back(id);
    }
    for (uint64_t id : denied) {
      ctx_.metrics->ClosedByPolicy();
      Close(id, nullptr, "closed_by_policy");
    }
  });
}

void Worker::InboundReady(Connection* conn, bool authenticated) {
  conn->pending_event.reset();
  conn->pending_timer.reset();
  if (authenticated) {
    // The handshake verified against the revocations of the snapshot taken
    // at accept; a list pushed meanwhile reached this worker already.
    std::string why = RevokedPeer(*conn);
    if (!why.empty()) {
      conn->failure_detail = std::move(why);
      conn->pending->Abort();
      Refuse(conn, "closed_by_revocation");
      return;
    }
  }
  policy::Peer peer;
  if (authenticated) peer.id = conn->tls.peer;
  std::shared_ptr<const policy::CompiledPolicy> compiled = policy_.Get();
  bool allowed;
  bool audited = false;
  if (compiled != nullptr) {
    policy::Decision d = compiled->Evaluate(peer, conn->destination.port());
    allowed = d.allowed;
    audited = !d.audited_by.empty();
    conn->authz = policy::Describe(d);
  } else {
    // No policy: mesh peers are allowed; plaintext only where permissive.
    allowed = authenticated || ctx_.config->permissive;
    conn->authz = allowed ? "allowed (no policy)" : "denied (no policy, plaintext)";
  }
  ctx_.metrics->Authorization(allowed ? "allow" : "deny", audited);
  if (!allowed) {
    conn->pending->ShutdownWrite();
    Refuse(conn, "denied");
    return;
  }
  bool connecting = false;
  absl::StatusOr<UniqueFd> up = ConnectNonBlocking(conn->destination, &connecting);
  if (!up.ok()) {
    conn->failure_detail = std::string(up.status().message());
    conn->pending->Abort();
    Refuse(conn, "connect_failed");
    return;
  }
  SetNoDelay(up->get()).IgnoreError();
  StartRelay(conn, std::move(conn->pending), std::move(*up), connecting, nullptr);
}

}  // namespace tether::proxy
