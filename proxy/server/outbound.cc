// Outbound: the app's plaintext connection, intercepted (transparent mode)
// or sent to the outbound listener (explicit mode), leaves as mTLS.
#include "absl/strings/str_cat.h"
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
  std::shared_ptr<const IdentitySnapshot> identity = ValidIdentity();
  if (identity == nullptr) {
    // Without a valid certificate there is no mTLS to offer; never fall back
    // to plaintext.
    conn->failure_detail = NoCertificateDetail();
    AbortiveClose(std::move(fd));
    Refuse(conn, "no_certificate");
    return;
  }
  bool connecting = false;
  absl::StatusOr<UniqueFd> up = ConnectNonBlocking(conn->destination, &connecting);
  if (!up.ok()) {
    conn->failure_detail = std::string(up.status().message());
    AbortiveClose(std::move(fd));
    Refuse(conn, "connect_failed");
    return;
  }
  SetNoDelay(up->get()).IgnoreError();
  TlsTransport::Options tls;
  tls.role = TlsTransport::Role::kClient;
  tls.identity = std::move(identity);
  tls.clock = ctx_.clock;
  tls.expected_peer = ctx_.config->outbound_expect_identity;
  tls.observation = &conn->tls;
  tls.peer_cache = &peer_cache_;
  if (ctx_.config->session_resumption) {
    tls.session_cache = &session_cache_;
    tls.session_key = conn->destination.ToString();
    if (tls.expected_peer) absl::StrAppend(&tls.session_key, "|", tls.expected_peer->ToString());
  }
  StartRelay(conn, std::make_unique<PlainTransport>(std::move(fd)), UniqueFd(), connecting,
             std::make_unique<TlsTransport>(std::move(*up), std::move(tls)));
}

}  // namespace tether::proxy
