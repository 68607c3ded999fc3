#include "proxy/tls/tls_transport.h"

#include <algorithm>
#include <climits>
#include <vector>

#include <errno.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tether::proxy {
namespace {

int TransportIndex() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// ReasonFromQueue names a handshake failure from BoringSSL's error queue.
std::string ReasonFromQueue(uint32_t err) {
  if (ERR_GET_LIB(err) != ERR_LIB_SSL) return "tls_error";
  switch (ERR_GET_REASON(err)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return "protocol_version";
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
      return "plaintext";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_CERTIFICATE_REQUIRED:
      return "no_client_certificate";
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      return "no_tether_alpn";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
      return "peer_rejected";
    default:
      return "tls_error";
  }
}

uint8_t AlertFor(absl::string_view reason) {
  if (reason == "expired" || reason == "not_yet_valid") return SSL_AD_CERTIFICATE_EXPIRED;
  if (reason == "revoked") return SSL_AD_CERTIFICATE_REVOKED;
  if (reason == "untrusted") return SSL_AD_UNKNOWN_CA;
  if (reason == "identity_mismatch" || reason == "wrong_server_identity") {
    return SSL_AD_ACCESS_DENIED;
  }
  return SSL_AD_BAD_CERTIFICATE;
}

}  // namespace

TlsTransport::TlsTransport(UniqueFd fd, Options options)
    : fd_(std::move(fd)), bio_(fd_.get()), options_(std::move(options)) {
  const IdentitySnapshot& id = *options_.identity;
  ssl_.reset(SSL_new(options_.role == Role::kServer ? id.server_ctx.get() : id.client_ctx.get()));
  SSL_set_ex_data(ssl_.get(), TransportIndex(), this);
  BIO_up_ref(bio_.bio());  // SSL_set_bio takes one reference for both directions
  SSL_set_bio(ssl_.get(), bio_.bio(), bio_.bio());
  if (options_.role == Role::kServer) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
    if (options_.session_cache != nullptr) {
      bssl::UniquePtr<SSL_SESSION> session = options_.session_cache->Take(
          options_.session_key, id.credentials_id, options_.clock->Now(), id.revocations);
      if (session != nullptr) SSL_set_session(ssl_.get(), session.get());
    }
  }
}

TlsTransport::~TlsTransport() { ssl_.reset(); }

enum ssl_verify_result_t TlsTransport::VerifyPeer(SSL* ssl, uint8_t* out_alert) {
  auto* self = static_cast<TlsTransport*>(SSL_get_ex_data(ssl, TransportIndex()));
  return self->CheckPeer(out_alert) ? ssl_verify_ok : ssl_verify_invalid;
}

int TlsTransport::NewSession(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsTransport*>(SSL_get_ex_data(ssl, TransportIndex()));
  if (self == nullptr || self->options_.session_cache == nullptr) return 0;
  // Only a session whose handshake verified its peer is worth keeping.
  if (self->peer_.serial_hex.empty()) return 0;
  TicketBound bound = self->SessionBound();
  self->options_.session_cache->Put(
      self->options_.session_key, self->options_.identity->credentials_id,
      CachedSession{bssl::UniquePtr<SSL_SESSION>(session), bound.valid_until,
                    std::move(bound.peer_serial), std::move(bound.peer_id)});
  return 1;  // the cache owns it now
}

TicketBound TlsTransport::SessionBound() const {
  TicketBound b;
  if (peer_.serial_hex.empty()) return b;  // not verified: never resumable
  b.valid_until = std::min(peer_valid_until_, options_.identity->not_after);
  b.peer_serial = peer_.serial_hex;
  b.peer_id = peer_.spiffe_id.ToString();
  return b;
}

const SSL_TICKET_AEAD_METHOD TlsTransport::kTicketMethod = {
    TlsTransport::TicketOverhead,
    TlsTransport::SealTicket,
    TlsTransport::OpenTicket,
};

size_t TlsTransport::TicketOverhead(SSL*) { return SessionTicketKey::MaxOverhead(); }

int TlsTransport::SealTicket(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out_len,
                             const uint8_t* in, size_t in_len) {
  auto* self = static_cast<TlsTransport*>(SSL_get_ex_data(ssl, TransportIndex()));
  if (self == nullptr) return 0;
  // A full handshake verified the peer before its tickets are sealed. A
  // resumed one seals its tickets before CheckPeer runs again: they inherit
  // the bound of the ticket it resumed, and so never outlive it.
  TicketBound bound;
  if (!self->peer_.serial_hex.empty()) {
    bound = self->SessionBound();
  } else if (self->resumed_bound_) {
    bound = *self->resumed_bound_;
  }
  return self->options_.identity->ticket_key->Seal(bound, absl::MakeConstSpan(in, in_len), out,
                                                   out_len, max_out_len)
             ? 1
             : 0;
}

enum ssl_ticket_aead_result_t TlsTransport::OpenTicket(SSL* ssl, uint8_t* out, size_t* out_len,
                                                       size_t max_out_len, const uint8_t* in,
                                                       size_t in_len) {
  auto* self = static_cast<TlsTransport*>(SSL_get_ex_data(ssl, TransportIndex()));
  if (self == nullptr) return ssl_ticket_aead_ignore_ticket;
  const IdentitySnapshot& id = *self->options_.identity;
  std::optional<TicketBound> bound =
      id.ticket_key->Open(absl::MakeConstSpan(in, in_len), out, out_len, max_out_len);
  // Each refusal makes this a full handshake, never a failed one.
  if (!bound) {
    self->ticket_declined_ = "unknown_key";
  } else if (self->options_.clock->Now() >= bound->valid_until) {
    self->ticket_declined_ = "expired";
  } else if (id.revocations.serials.contains(bound->peer_serial) ||
             id.revocations.spiffe_ids.contains(bound->peer_id)) {
    self->ticket_declined_ = "revoked";
  } else {
    self->ticket_declined_.clear();
    self->resumed_bound_ = std::move(bound);
    return ssl_ticket_aead_success;
  }
  return ssl_ticket_aead_ignore_ticket;
}

bool TlsTransport::CheckPeer(uint8_t* out_alert) {
  const STACK_OF(CRYPTO_BUFFER)* bufs = SSL_get0_peer_certificates(ssl_.get());
  if (bufs == nullptr || sk_CRYPTO_BUFFER_num(bufs) == 0) {
    error_ = "no_client_certificate";
    error_detail_ = "the peer presented no certificate";
    *out_alert = SSL_AD_CERTIFICATE_REQUIRED;
    return false;
  }
  const IdentitySnapshot& id = *options_.identity;
  const pki::Purpose purpose =
      options_.role == Role::kServer ? pki::Purpose::kClient : pki::Purpose::kServer;
  const absl::Time now = options_.clock->Now();
  std::string key;
  if (options_.peer_cache != nullptr) {
    std::vector<absl::string_view> ders;
    for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(bufs); ++i) {
      const CRYPTO_BUFFER* buf = sk_CRYPTO_BUFFER_value(bufs, i);
      ders.emplace_back(reinterpret_cast<const char*>(CRYPTO_BUFFER_data(buf)),
                        CRYPTO_BUFFER_len(buf));
    }
    key = VerifiedPeerCache::Key(id.bundle_digest, id.spiffe_id.trust_domain, purpose, ders);
    if (const VerifiedPeerCache::Entry* e = options_.peer_cache->Find(key, now, id.revocations)) {
      peer_valid_until_ = e->valid_until;
      return AcceptPeer(e->peer, out_alert);
    }
  }
  std::vector<bssl::UniquePtr<X509>> owned;
  std::vector<X509*> chain;
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(bufs) && i <= pki::kMaxChainLength; ++i) {
    X509* cert = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(bufs, i));
    if (cert == nullptr) {
      ERR_clear_error();
      error_ = "untrusted";
      error_detail_ = "the peer's certificate does not parse";
      *out_alert = SSL_AD_BAD_CERTIFICATE;
      return false;
    }
    owned.emplace_back(cert);
    chain.push_back(cert);
  }
  absl::StatusOr<pki::VerifiedPeer> peer =
      pki::VerifyChain(chain, id.bundle, now, id.revocations, purpose, id.spiffe_id.trust_domain);
  if (!peer.ok()) {
    if (!chain.empty()) claimed_peer_ = pki::DescribeCert(chain[0]).spiffe_id;
    error_ = pki::ReasonOf(peer.status());
    error_detail_ = std::string(peer.status().message());
    *out_alert = AlertFor(error_);
    return false;
  }
  VerifiedPeerCache::Entry entry{*peer, id.roots_valid_from, id.roots_valid_until};
  for (X509* cert : chain) {
    pki::CertInfo info = pki::DescribeCert(cert);
    entry.valid_from = std::max(entry.valid_from, info.not_before);
    entry.valid_until = std::min(entry.valid_until, info.not_after);
  }
  peer_valid_until_ = entry.valid_until;
  if (options_.peer_cache != nullptr) options_.peer_cache->Insert(std::move(key), std::move(entry));
  return AcceptPeer(*std::move(peer), out_alert);
}

bool TlsTransport::AcceptPeer(pki::VerifiedPeer peer, uint8_t* out_alert) {
  if (options_.expected_peer && peer.spiffe_id != *options_.expected_peer) {
    claimed_peer_ = peer.spiffe_id.ToString();
    error_ = "identity_mismatch";
    error_detail_ = absl::StrCat("expected ", options_.expected_peer->ToString(), ", the peer is ",
                                 peer.spiffe_id.ToString());
    *out_alert = AlertFor(error_);
    return false;
  }
  if (!options_.expected_peer && !options_.allowed_servers.empty() &&
      std::find(options_.allowed_servers.begin(), options_.allowed_servers.end(),
                peer.spiffe_id) == options_.allowed_servers.end()) {
    claimed_peer_ = peer.spiffe_id.ToString();
    error_ = "wrong_server_identity";
    std::vector<std::string> names;
    for (const auto& id : options_.allowed_servers) names.push_back(id.ToString());
    error_detail_ = absl::StrCat("the endpoint registry names ", absl::StrJoin(names, " or "),
                                 " for this address; the server is ", peer.spiffe_id.ToString());
    *out_alert = AlertFor(error_);
    return false;
  }
  peer_ = std::move(peer);
  return true;
}

IoStatus TlsTransport::Fail(int ssl_result, absl::string_view during) {
  int err = SSL_get_error(ssl_.get(), ssl_result);
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return IoStatus::kWouldBlock;
    case SSL_ERROR_ZERO_RETURN:
      return IoStatus::kEof;
    case SSL_ERROR_SYSCALL: {
      const int sys = errno;
      ERR_clear_error();
      // sys == 0: the peer's TCP stream ended without close_notify. A mesh
      // proxy always ends its data with close_notify, so this is a peer that
      // went away (an abortive close, a crash) or a truncation by someone on
      // the path: never a clean end of the data.
      error_ = "reset";
      error_detail_ = sys == 0 ? absl::StrCat("the peer closed the connection during the ", during)
                               : absl::StrCat(strerror(sys), " during the ", during);
      return IoStatus::kError;
    }
    default: {
      uint32_t queued = ERR_peek_error();
      if (error_.empty()) error_ = ReasonFromQueue(queued);
      if (error_detail_.empty()) {
        char buf[256];
        ERR_error_string_n(queued, buf, sizeof(buf));
        error_detail_ = absl::StrCat("TLS ", during, " failed: ", buf);
      }
      ERR_clear_error();
      return IoStatus::kError;
    }
  }
}

IoStatus TlsTransport::Handshake() {
  if (handshake_start_ == absl::InfinitePast()) handshake_start_ = options_.clock->Now();
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  TlsObservation* obs = options_.observation;
  if (obs != nullptr && !ticket_declined_.empty()) obs->ticket_declined = ticket_declined_;
  if (rc == 1 && SSL_session_reused(ssl_.get()) && peer_.serial_hex.empty()) {
    // Resumed: no certificate crossed the wire, so the verify callback did
    // not run. Check the chain the session remembers, as for a new one.
    uint8_t alert = SSL_AD_BAD_CERTIFICATE;
    if (!CheckPeer(&alert)) {
      SSL_send_fatal_alert(ssl_.get(), alert);
      if (obs != nullptr) {
        obs->error = error_;
        obs->error_detail = absl::StrCat(error_detail_, " (resumed session)");
        obs->claimed_peer = claimed_peer_;
      }
      return IoStatus::kError;
    }
  }
  if (rc == 1) {
    if (obs != nullptr && !obs->done) {
      obs->done = true;
      obs->peer = peer_.spiffe_id;
      obs->peer_serial = peer_.serial_hex;
      obs->handshake_time = options_.clock->Now() - handshake_start_;
      obs->resumed = SSL_session_reused(ssl_.get());
    }
    return IoStatus::kOk;
  }
  IoStatus st = Fail(rc, "handshake");
  if (st == IoStatus::kEof) st = IoStatus::kError;
  if (st == IoStatus::kError && obs != nullptr) {
    obs->error = error_;
    obs->error_detail = error_detail_;
    obs->claimed_peer = claimed_peer_;
  }
  return st;
}

IoStatus TlsTransport::Read(uint8_t* buf, size_t len, size_t* n) {
  ERR_clear_error();
  int rc = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (rc > 0) {
    *n = static_cast<size_t>(rc);
    return IoStatus::kOk;
  }
  return Fail(rc, "read");
}

IoStatus TlsTransport::Write(const uint8_t* buf, size_t len, size_t* n) {
  ERR_clear_error();
  int rc = SSL_write(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (rc > 0) {
    *n = static_cast<size_t>(rc);
    return IoStatus::kOk;
  }
  IoStatus st = Fail(rc, "write");
  return st == IoStatus::kEof ? IoStatus::kError : st;
}

bool TlsTransport::HasBufferedData() const {
  return SSL_pending(ssl_.get()) > 0 || SSL_has_pending(ssl_.get());
}

IoStatus TlsTransport::ShutdownWrite() {
  if (!shutdown_sent_) {
    ERR_clear_error();
    int rc = SSL_shutdown(ssl_.get());
    if (rc < 0) {
      IoStatus st = Fail(rc, "shutdown");
      if (st == IoStatus::kWouldBlock) return st;
    }
    shutdown_sent_ = true;
  }
  if (fd_.valid()) shutdown(fd_.get(), SHUT_WR);
  return IoStatus::kOk;
}

void TlsTransport::Abort() {
  if (fd_.valid()) AbortiveClose(std::move(fd_));
}

}  // namespace tether::proxy
