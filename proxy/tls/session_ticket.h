// SessionTicketKey: how the inbound (server) side seals the TLS 1.3 session
// tickets it issues, so that a ticket says, readable only by this server, how
// long and for which peer it may be resumed.
//
//   auto key = SessionTicketKey::Generate();            // one per certificate
//   TicketBound bound{.valid_until = peer_and_own_expiry, .peer_serial = ..., .peer_id = ...};
//   key->Seal(bound, session_bytes, out, &out_len, max_out);      // issuing
//   std::optional<TicketBound> b = key->Open(ticket, out, &out_len, max_out);
//   if (!b || now >= b->valid_until || revoked(*b)) decline;     // full handshake
//
// Why: a resumed session carries the certificates of the handshake that
// first made it, and every ticket issued on a resumption inherits them. With
// BoringSSL's own ticket keys a ticket made with a client certificate that
// has since expired (the client rotated) is accepted, the resumed handshake
// then fails our check of that certificate, and the tickets sent in the same
// flight breed the failure (issue "handshakes fail in bursts"). With a bound
// inside the ticket, the server declines such a ticket before resuming, and
// the client falls back to a full handshake with its current certificate.
//
// Format (version 1): 0x01 | AES-256-GCM(random nonce) of
//   valid_until (int64 Unix seconds, big-endian) | u8 len | peer serial (hex)
//   | u16 len | peer SPIFFE ID | the session as BoringSSL serialized it
// with the version byte as additional data. The bound is encrypted like the
// session: a ticket crosses the wire in the clear in every ClientHello, and
// must not name its client to an observer.
//
// Open reads bytes from the network (the ClientHello's PSK identity): any
// input gives nullopt or a bound, never a crash (fuzzed).
//
// Thread-safe (immutable once generated).
#ifndef TETHER_PROXY_TLS_SESSION_TICKET_H_
#define TETHER_PROXY_TLS_SESSION_TICKET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <openssl/aead.h>

#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tether::proxy {

// TicketBound: what a session may be resumed for.
struct TicketBound {
  // The earliest NotAfter of the peer's chain, of the roots it chains to and
  // of the server's own certificate: no resumption at or after it.
  absl::Time valid_until = absl::InfinitePast();
  std::string peer_serial;  // the peer's leaf, lowercase hex (revocation by serial)
  std::string peer_id;      // its SPIFFE ID (revocation by identity)
};

inline constexpr size_t kMaxTicketSerialLength = 64;  // hex of a 20-byte serial is 40
inline constexpr size_t kMaxTicketPeerIdLength = 2048;

class SessionTicketKey {
 public:
  // Generate makes a key from fresh random bytes.
  static std::shared_ptr<const SessionTicketKey> Generate();
  // FromBytes uses a 32-byte key (tests and fuzzing); null if not 32 bytes.
  static std::shared_ptr<const SessionTicketKey> FromBytes(absl::Span<const uint8_t> key);

  // MaxOverhead: the most bytes Seal adds to a session.
  static size_t MaxOverhead();

  // Seal writes the ticket for `session` bound by `bound` to `out` (at most
  // `max_out` bytes) and its length to *out_len. False if it does not fit;
  // a serial or identity over the limits above is sealed as never resumable.
  bool Seal(const TicketBound& bound, absl::Span<const uint8_t> session, uint8_t* out,
            size_t* out_len, size_t max_out) const;

  // Open authenticates and decrypts `ticket`, writes the session to `out` (at
  // most `max_out` bytes, which may be `ticket`'s own buffer) and its length
  // to *out_len, and returns its bound; nullopt if the ticket is not one this
  // key sealed (another key, another version, altered or truncated).
  std::optional<TicketBound> Open(absl::Span<const uint8_t> ticket, uint8_t* out,
                                  size_t* out_len, size_t max_out) const;

  SessionTicketKey(const SessionTicketKey&) = delete;
  SessionTicketKey& operator=(const SessionTicketKey&) = delete;
  ~SessionTicketKey();

 private:
  SessionTicketKey() = default;
  EVP_AEAD_CTX aead_;
  bool initialized_ = false;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_SESSION_TICKET_H_
