// VerifiedPeerCache: peer chains a worker has verified, so that a peer that
// connects again (every connection of a sidecar pair is the same two
// certificates) costs a SHA-256 of its chain instead of parsing it and
// checking the CA's ECDSA signature again.
//
//   VerifiedPeerCache cache;                      // one per worker: no locks
//   std::string key = VerifiedPeerCache::Key(bundle_digest, trust_domain, purpose, chain_ders);
//   if (const auto* e = cache.Find(key, now, revocations)) use e->peer;
//   else { full pki::VerifyChain; cache.Insert(key, {peer, valid_from, valid_until}); }
//
// What a hit skips never changes for the same bytes: the signatures of the
// chain up to a root of the same bundle (the key includes the bundle's digest,
// the trust domain and the purpose). What can change is checked on every
// hit: the time, against the window in which every certificate of the chain
// and every root is valid, and the revocations (the leaf's serial and
// identity), which the caller passes in. A miss or a failed check means a full
// verification, which gives the precise error. The TLS handshake's own
// signature (CertificateVerify, the peer's proof that it holds the key) is
// checked by BoringSSL on every full handshake whatever this cache says.
//
// Bounded: when full (`max_entries`), it starts over. Not thread-safe.
#ifndef TETHER_PROXY_TLS_PEER_CACHE_H_
#define TETHER_PROXY_TLS_PEER_CACHE_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/pki/verify.h"

namespace tether::proxy {

class VerifiedPeerCache {
 public:
  struct Entry {
    pki::VerifiedPeer peer;
    absl::Time valid_from;   // the latest NotBefore of the chain and the roots
    absl::Time valid_until;  // the earliest NotAfter
  };

  explicit VerifiedPeerCache(size_t max_entries = 1024) : max_entries_(max_entries) {}

  // Key: a digest of everything a verification's outcome depends on besides
  // the time and the revocations.
  static std::string Key(absl::string_view bundle_digest, absl::string_view trust_domain,
                         pki::Purpose purpose, absl::Span<const absl::string_view> chain_der);

  // Find returns the entry for `key` if `now` is inside its window and its
  // leaf is not in `revoked`; null otherwise.
  const Entry* Find(absl::string_view key, absl::Time now, const pki::Revocations& revoked) const;
  void Insert(std::string key, Entry entry);
  size_t size() const { return entries_.size(); }

 private:
  const size_t max_entries_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_PEER_CACHE_H_
