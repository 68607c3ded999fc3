// TlsSessionCache: TLS 1.3 sessions (tickets) the outbound side received from
// its upstream peers, kept per upstream so that the next connection to the
// same peer resumes instead of running a full handshake (no certificate
// signatures to make or check: one X25519 exchange, PSK-DHE).
//
//   TlsSessionCache cache;                      // one per worker: no locks
//   bssl::UniquePtr<SSL_SESSION> s = cache.Take("10.0.0.7:15006|spiffe://...");
//   if (s) SSL_set_session(ssl, s.get());
//   ... the handshake's new-session callback: cache.Put(key, std::move(session));
//
// A TLS 1.3 ticket is used once (RFC 8446 C.4): Take removes it, and every
// handshake, resumed or not, brings new ones. At most `per_key` sessions are
// kept per upstream and `max_keys` upstreams (the least recently stored one
// goes first). Expired sessions are dropped when taken. A resumed session is
// only a shortcut for the key exchange: TlsTransport verifies the peer's chain
// and identity again on every resumption (see tls_transport.h).
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

namespace tether::proxy {

class TlsSessionCache {
 public:
  explicit TlsSessionCache(size_t per_key = 8, size_t max_keys = 1024)
      : per_key_(per_key), max_keys_(max_keys) {}

  // Take returns a resumable session for `key` and forgets it, or null.
  // `now_unix` is the current time in seconds (sessions past their lifetime
  // are skipped).
  bssl::UniquePtr<SSL_SESSION> Take(absl::string_view key, uint64_t now_unix);
  // Put stores a session received from the upstream `key`.
  void Put(absl::string_view key, bssl::UniquePtr<SSL_SESSION> session);

  size_t size() const;

 private:
  struct Entry {
    std::deque<bssl::UniquePtr<SSL_SESSION>> sessions;  // newest at the back
    uint64_t stored = 0;                                // Put counter at the last Put
  };
  void EvictOldestKey();

  const size_t per_key_;
  const size_t max_keys_;
  uint64_t puts_ = 0;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_SESSION_CACHE_H_
