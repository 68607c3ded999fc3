// TlsTransport: a Transport speaking TLS 1.3 with BoringSSL directly on a
// non-blocking socket, authenticated by the mesh's certificates.
//
//   TlsTransport::Options opts{.role = TlsTransport::Role::kClient,
//                              .identity = manager.Current(), .clock = clock,
//                              .expected_peer = spiffe_id};
//   auto t = std::make_unique<TlsTransport>(fd, std::move(opts));
//   // relay drives t->Handshake(), then Read/Write; t->peer() after.
//
// Both sides present their certificate; the peer's chain is checked by
// pki::VerifyChain against the snapshot's bundle and revocations at the
// injected clock's time, for the right purpose (clientAuth on the server
// side, serverAuth on the client side), and against `expected_peer` when
// given. A resumed session (TLS 1.3 PSK, offered by a client from its
// TlsSessionCache) skips the certificate exchange, so the peer chain that the
// session remembers is verified again, the same way, when the handshake
// completes: a peer revoked, expired or not `expected_peer` since cannot
// resume.
//
// A resumption that would fail that check is not attempted, so that it
// never costs the application its connection: the client offers only
// sessions made with its current certificate and bundle whose peer is still
// valid and unrevoked (session_cache.h), and the server seals the same bound
// into every ticket it issues (session_ticket.h) and declines a ticket past
// it, which makes the handshake a full one (TlsObservation::ticket_declined
// says why). A ticket issued on a resumed session inherits that session's
// bound, so no chain of resumptions outlives the certificates it began with.
//
// A failed handshake leaves a reason word in error():
//   untrusted, expired, not_yet_valid, revoked, bad_usage, weak_key,
//   chain_too_long, bad_identity   (from VerifyChain)
//   identity_mismatch              (the peer is not `expected_peer`)
//   wrong_server_identity          (the server is none of `allowed_servers`)
//   no_client_certificate, protocol_version (TLS < 1.3), no_tether_alpn,
//   plaintext (the peer did not speak TLS), peer_rejected (the peer sent an
//   alert about us), reset, tls_error.
#ifndef TETHER_PROXY_TLS_TLS_TRANSPORT_H_
#define TETHER_PROXY_TLS_TLS_TRANSPORT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "common/clock.h"
#include "common/pki/spiffe_id.h"
#include "proxy/net/socket.h"
#include "proxy/net/transport.h"
#include "proxy/tls/identity_snapshot.h"
#include "proxy/tls/peer_cache.h"
#include "proxy/tls/session_cache.h"
#include "proxy/tls/socket_bio.h"

namespace tether::proxy {

// TlsObservation: what a connection learns from its handshake, written by the
// transport for its owner (access log, metrics), which outlives it.
struct TlsObservation {
  bool done = false;  // the handshake succeeded
  pki::SpiffeId peer;
  std::string peer_serial;
  absl::Duration handshake_time;
  bool resumed = false;
  std::string error;         // a reason word when the handshake failed
  std::string error_detail;  // a sentence
  // When the handshake failed after the peer sent a certificate: the SPIFFE
  // ID its leaf names, unverified (for diagnostics only; never trust it).
  std::string claimed_peer;
  // Server: the client offered a ticket that was declined (a full handshake
  // followed): "unknown_key" (sealed for an earlier certificate of ours, or
  // not ours), "expired" (a certificate it was made with has expired),
  // "revoked" (the peer's serial or identity).
  std::string ticket_declined;
};

class TlsTransport final : public Transport {
 public:
  enum class Role { kClient, kServer };
  struct Options {
    Role role = Role::kClient;
    std::shared_ptr<const IdentitySnapshot> identity;
    const Clock* clock = nullptr;
    std::optional<pki::SpiffeId> expected_peer;
    // Client: the identities the endpoint registry names for the destination
    // (secure naming). A server proving none of them is refused as
    // wrong_server_identity. Ignored when expected_peer is set; empty: any
    // mesh identity.
    std::vector<pki::SpiffeId> allowed_servers;
    TlsObservation* observation = nullptr;  // optional, not owned
    // Client only, optional, not owned (must outlive the transport): offers a
    // session stored under `session_key` (the upstream), and stores the
    // tickets the peer sends.
    TlsSessionCache* session_cache = nullptr;
    std::string session_key;
    // Optional, not owned: peers verified before (see peer_cache.h).
    VerifiedPeerCache* peer_cache = nullptr;
  };

  TlsTransport(UniqueFd fd, Options options);
  ~TlsTransport() override;

  IoStatus Handshake() override;
  IoStatus Read(uint8_t* buf, size_t len, size_t* n) override;
  IoStatus Write(const uint8_t* buf, size_t len, size_t* n) override;
  bool HasBufferedData() const override;
  IoStatus ShutdownWrite() override;
  void Abort() override;
  int fd() const override { return fd_.get(); }
  const std::string& error() const override { return error_; }

  // After a successful handshake: the peer's verified identity and serial.
  const pki::SpiffeId& peer() const { return peer_.spiffe_id; }
  const std::string& peer_serial() const { return peer_.serial_hex; }
  // A longer explanation of the last failure, for logs and `diagnose`.
  const std::string& error_detail() const { return error_detail_; }
  bool resumed() const { return SSL_session_reused(ssl_.get()); }

  // Used by the contexts' verify and new-session callbacks.
  static enum ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert);
  static int NewSession(SSL* ssl, SSL_SESSION* session);
  // Seals and opens the server's tickets with the snapshot's ticket key.
  static const SSL_TICKET_AEAD_METHOD kTicketMethod;

 private:
  IoStatus Fail(int ssl_result, absl::string_view during);
  // CheckPeer verifies the peer's chain (fresh or remembered by a resumed
  // session) and sets peer_, or sets error_ and *out_alert and returns false.
  bool CheckPeer(uint8_t* out_alert);
  // AcceptPeer checks a verified peer against `expected_peer` and keeps it.
  bool AcceptPeer(pki::VerifiedPeer peer, uint8_t* out_alert);
  // The bound of a session made now: until the peer's chain, its roots or
  // our certificate expires.
  TicketBound SessionBound() const;
  static size_t TicketOverhead(SSL* ssl);
  static int SealTicket(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out_len,
                        const uint8_t* in, size_t in_len);
  static enum ssl_ticket_aead_result_t OpenTicket(SSL* ssl, uint8_t* out, size_t* out_len,
                                                  size_t max_out_len, const uint8_t* in,
                                                  size_t in_len);

  UniqueFd fd_;
  SocketBio bio_;
  Options options_;
  absl::Time handshake_start_ = absl::InfinitePast();
  bssl::UniquePtr<SSL> ssl_;
  pki::VerifiedPeer peer_;
  // When every certificate of the peer's verified chain and the roots are
  // valid until (set with peer_).
  absl::Time peer_valid_until_ = absl::InfinitePast();
  // Server: the bound of the ticket this handshake resumes, if any.
  std::optional<TicketBound> resumed_bound_;
  std::string ticket_declined_;
  std::string error_;
  std::string error_detail_;
  std::string claimed_peer_;  // see TlsObservation::claimed_peer
  bool shutdown_sent_ = false;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_TLS_TRANSPORT_H_
