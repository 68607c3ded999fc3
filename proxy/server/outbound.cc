// Outbound: the app's plaintext connection, intercepted (transparent mode)
// or sent to the outbound listener (explicit mode). The endpoint registry
// decides its route from the destination:
//   - --outbound-expect-identity set: mTLS, that identity (explicit mode);
//   - the registry names identities for it: mTLS, and the server must prove
//     one of them (secure naming; else wrong_server_identity);
//   - the registry knows it as not meshed: plain TCP, untouched (transparent
//     mode; explicit mode's forward address always speaks mTLS);
//   - unknown: --outbound-unknown (plain TCP, untouched, by default; or
//     refused as unknown_destination; or mTLS with any mesh identity);
//   - before the first registry update: mTLS with any mesh identity, so that
//     nothing is sent in plaintext for want of knowing.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxy/net/plain_transport.h"
#include "proxy/server/worker.h"

namespace tether::proxy {

void Worker::HandleOutbound(UniqueFd fd, const SocketAddress& peer) {
  Connection* conn = NewConnection(Direction::kOutbound, peer);
  if (ctx_.outbound_forward) {
    conn->destination = *ctx_.outbound_forward;
  } else {
    absl::StatusOr<SocketAddress> dst = OriginalDestination(fd.get());
    if (!dst.ok()) {
      conn->failure_detail = std::string(dst.status().message());
      AbortiveClose(std::move(fd));
      Refuse(conn, "no_original_destination");
      return;
    }
    conn->destination = *dst;
    // The app dialled one of the proxy's own ports (127.0.0.1:15001 is not
    // redirected, and reports itself as its original destination).
    if (RefuseOwnListener(conn, fd)) return;
  }

  // The route.
  const ProxyConfig& config = *ctx_.config;
  OutboundPlan plan;
  if (!config.outbound_expect_identity) {
    const std::shared_ptr<const EndpointTable>& table = endpoints_.Get();
    const EndpointTable::Entry* known = table ? table->Find(conn->destination) : nullptr;
    if (known != nullptr) {
      conn->declared = known->protocol;
      plan.table = table;
      plan.entry = known;
    }
    if (known != nullptr && !known->identities.empty()) {
      plan.allowed = known->identities;
      plan.route = "mtls_verified";
    } else if (known != nullptr && !ctx_.outbound_forward) {
      plan.passthrough = true;
    } else if (table == nullptr) {
      // No registry yet (just started, or the control plane is still
      // listing the cluster): nothing is known to be outside the mesh, so
      // nothing leaves in plaintext; mTLS to any mesh identity.
      plan.route = "mtls_any_identity";
    } else if (config.outbound_unknown == ProxyConfig::UnknownDestination::kDeny) {
      conn->failure_detail =
          absl::StrCat("the endpoint registry does not know ", conn->destination.ToString(),
                       " (--outbound-unknown=deny)");
      ctx_.metrics->OutboundRoute("denied");
      AbortiveClose(std::move(fd));
      Refuse(conn, "unknown_destination");
      return;
    } else if (config.outbound_unknown == ProxyConfig::UnknownDestination::kPassthrough &&
               !ctx_.outbound_forward) {
      plan.passthrough = true;
    } else {
      plan.route = "mtls_any_identity";
    }
  }
  if (plan.passthrough) plan.route = "passthrough";

  if (!plan.passthrough) {
    if (ValidIdentity() == nullptr) {
      // Without a valid certificate there is no mTLS to offer; never fall
      // back to plaintext.
      conn->failure_detail = NoCertificateDetail();
      AbortiveClose(std::move(fd));
      Refuse(conn, "no_certificate");
      return;
    }
  }
  // HTTP/1.1 to a destination a TrafficPolicy names, or to a Service whose
  // endpoints are balanced: terminated, so that its timeouts and retries
  // apply and each request can go to another endpoint (outbound_http.cc).
  if (!plan.passthrough) plan.balancer = BalancerFor(*conn, plan);
  if (!plan.passthrough && WantsHttpForwarding(*conn, plan)) {
    DetectHttp(conn, std::move(fd), std::move(plan));
    return;
  }
  ConnectOutbound(conn, std::move(fd), std::move(plan));
}

void Worker::ConnectOutbound(Connection* conn, UniqueFd fd, OutboundPlan plan) {
  bool connecting = false;
  absl::StatusOr<UniqueFd> up = ConnectNonBlocking(conn->destination, &connecting);
  if (!up.ok()) {
    conn->failure_detail = std::string(up.status().message());
    AbortiveClose(std::move(fd));
    Refuse(conn, "connect_failed");
    return;
  }
  SetNoDelay(up->get()).IgnoreError();
  ctx_.metrics->OutboundRoute(plan.route);
  if (plan.passthrough) {
    // Outside the mesh: the app's bytes as they are, both ways.
    StartRelay(conn, std::make_unique<PlainTransport>(std::move(fd)), std::move(*up), connecting,
               nullptr);
    return;
  }
  std::shared_ptr<const IdentitySnapshot> identity = ValidIdentity();
  if (identity == nullptr) {
    conn->failure_detail = NoCertificateDetail();
    AbortiveClose(std::move(fd));
    Refuse(conn, "no_certificate");
    return;
  }
  StartRelay(
      conn, std::make_unique<PlainTransport>(std::move(fd)), UniqueFd(), connecting,
      std::make_unique<TlsTransport>(
          std::move(*up), OutboundTls(conn, conn->destination, plan.allowed, std::move(identity))));
}

TlsTransport::Options Worker::OutboundTls(Connection* conn, const SocketAddress& to,
                                          const std::vector<pki::SpiffeId>& allowed,
                                          std::shared_ptr<const IdentitySnapshot> identity) {
  const ProxyConfig& config = *ctx_.config;
  TlsTransport::Options tls;
  tls.role = TlsTransport::Role::kClient;
  tls.identity = std::move(identity);
  tls.clock = ctx_.clock;
  tls.expected_peer = config.outbound_expect_identity;
  tls.allowed_servers = allowed;
  tls.observation = &conn->tls;
  tls.peer_cache = &peer_cache_;
  if (config.session_resumption) {
    tls.session_cache = &session_cache_;
    tls.session_key = UpstreamKey(to, allowed);
  }
  return tls;
}

std::string Worker::UpstreamKey(const SocketAddress& to,
                                const std::vector<pki::SpiffeId>& allowed) const {
  std::string key = to.ToString();
  if (ctx_.config->outbound_expect_identity) {
    absl::StrAppend(&key, "|", ctx_.config->outbound_expect_identity->ToString());
  }
  // A session (or a pooled connection) only serves the server set it was
  // made with.
  for (const pki::SpiffeId& id : allowed) absl::StrAppend(&key, "|", id.ToString());
  return key;
}

}  // namespace tether::proxy
