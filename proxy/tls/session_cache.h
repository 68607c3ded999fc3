// TlsSessionCache: TLS 1.3 sessions (tickets) the outbound side received from
// its upstream peers, kept per upstream so that the next connection to the
// same peer resumes instead of running a full handshake (no certificate
// signatures to make or check: one X25519 exchange, PSK-DHE).
//
//   TlsSessionCache cache;                      // one per worker: no locks
//   auto s = cache.Take("10.0.0.7:15006|spiffe://...", snapshot.credentials_id, now, revoked);
//   if (s) SSL_set_session(ssl, s.get());
//   ... the handshake's new-session callback:
//   cache.Put(key, snapshot.credentials_id, {std::move(session), valid_until, serial, id});
//
// A session is bound to the credentials it was made with, on both sides:
//  - Ours. The server remembers the client certificate of the handshake that
//    first made a session, and every ticket it issues on a resumption
//    inherits it. A session made before our certificate rotated would make
//    the server see our old certificate, which expires. So every session is
//    stored with the `credentials` (our certificate and trust bundle) it was
//    made with, and the first Take or Put with other credentials drops them
//    all.
//  - The peer's and time. A session is never offered at or after its
//    `valid_until` (the earliest expiry of the peer's chain, of the roots and
//    of our own certificate), nor past the lifetime the server gave the
//    ticket, nor when the peer's serial or identity is revoked.
// A session that cannot be offered is dropped when met. A resumed session is
// still only a shortcut for the key exchange: TlsTransport verifies the
// peer's chain and identity again on every resumption (see tls_transport.h).
//
// A TLS 1.3 ticket is used once (RFC 8446 C.4): Take removes it, and every
// handshake, resumed or not, brings new ones. At most `per_key` sessions are
// kept per upstream and `max_keys` upstreams (the least recently stored one
// goes first).
//
// Not thread-safe: each worker owns its cache.
#ifndef TETHER_PROXY_TLS_SESSION_CACHE_H_
#define TETHER_PROXY_TLS_SESSION_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include <openssl/ssl.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/verify.h"

namespace tether::proxy {

// CachedSession: a session and what it may be offered for.
struct CachedSession {
  bssl::UniquePtr<SSL_SESSION> session;
  absl::Time valid_until = absl::InfinitePast();
  std::string peer_serial;
  std::string peer_id;
};

class TlsSessionCache {
 public:
  explicit TlsSessionCache(size_t per_key = 8, size_t max_keys = 1024)
      : per_key_(per_key), max_keys_(max_keys) {}

  // Take returns a session for upstream `key` that may be offered now with
  // our `credentials`, and forgets it; null if there is none.
  bssl::UniquePtr<SSL_SESSION> Take(absl::string_view key, absl::string_view credentials,
                                    absl::Time now, const pki::Revocations& revoked);
  // Put stores a session received from upstream `key` while holding
  // `credentials`.
  void Put(absl::string_view key, absl::string_view credentials, CachedSession session);

  size_t size() const;
  // Sessions dropped because our credentials changed (for tests and metrics).
  uint64_t flushed() const { return flushed_; }

 private:
  struct Entry {
    std::deque<CachedSession> sessions;  // newest at the back
    uint64_t stored = 0;                 // Put counter at the last Put
  };
  // UseCredentials drops everything stored with other credentials.
  void UseCredentials(absl::string_view credentials);
  void EvictOldestKey();

  const size_t per_key_;
  const size_t max_keys_;
  uint64_t puts_ = 0;
  uint64_t flushed_ = 0;
  std::string credentials_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_SESSION_CACHE_H_
