// CachingAuthenticator: remembers what another Authenticator (the TokenReview
// one) said about a token, so that a proxy reconnecting with the same token,
// or many Hellos with one bad token, cost one TokenReview instead of one each.
//
//   CachingAuthenticator cached(&token_review, clock, {.max_entries = 10000});
//   cached.Authenticate(token);   // asks token_review
//   cached.Authenticate(token);   // answered from the cache
//
// Entries are keyed by the SHA-256 of the token: the token itself (a bearer
// credential) is never kept. An accepted token is remembered until the
// expiry in its JWT payload ("exp", which the API server just verified), and
// at most `max_ttl` (a bound token stays valid in the cache after its pod is
// deleted for up to that long); a token without "exp" for `max_ttl`. A
// refused token (Unauthenticated) is remembered for `negative_ttl` only, so
// a token the cluster starts accepting is accepted soon. Other errors (the
// API server unreachable: Unavailable) are never cached. At most
// `max_entries` are kept; the least recently used goes first. Thread-safe;
// concurrent misses for one token each ask the wrapped authenticator.
//
// Review never answers from the cache (a stream re-checking its token must
// hear the API server, or a withdrawn token would be trusted for up to
// `max_ttl` more); its answer replaces the entry as a miss's does, so a token
// found withdrawn is refused from the cache to a reconnecting proxy too. An
// Unavailable review leaves the entry as it was.
#ifndef TETHER_CONTROL_CA_TOKEN_CACHE_H_
#define TETHER_CONTROL_CA_TOKEN_CACHE_H_

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/spiffe_id.h"
#include "common/sync/mutex.h"
#include "control/ca/authenticator.h"

namespace tether::control {

struct TokenCacheOptions {
  size_t max_entries = 10000;  // 0: no cache
  absl::Duration max_ttl = absl::Minutes(10);
  absl::Duration negative_ttl = absl::Seconds(5);
};

// JwtExpiry returns the "exp" claim of a JWT's payload, read without
// checking the signature; nullopt when `token` is not a JWT with one.
std::optional<absl::Time> JwtExpiry(absl::string_view token);

class CachingAuthenticator final : public Authenticator {
 public:
  // `inner` and `clock` must outlive this.
  CachingAuthenticator(Authenticator* inner, const Clock* clock, TokenCacheOptions options)
      : inner_(inner), clock_(clock), options_(options) {}

  absl::StatusOr<pki::SpiffeId> Authenticate(absl::string_view token) override;
  absl::StatusOr<Authentication> AuthenticateWorkload(absl::string_view token) override;
  absl::StatusOr<Authentication> Review(absl::string_view token) override;

  // Observes every lookup: true for an answer from the cache (metrics).
  void SetObserver(std::function<void(bool hit)> observer) { observer_ = std::move(observer); }
  size_t size() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Entry {
    absl::StatusOr<Authentication> result;
    absl::Time expires;
    std::list<std::string>::iterator lru;  // in lru_
  };
  // Remember caches `result`, the wrapped authenticator's answer about
  // `token` (whose hash is `key`), for as long as its kind is kept.
  void Remember(const std::string& key, absl::string_view token,
                const absl::StatusOr<Authentication>& result);
  // InsertLocked adds or replaces `key`, evicting the least recently used.
  void InsertLocked(const std::string& key, absl::StatusOr<Authentication> result,
                    absl::Time expires) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Authenticator* const inner_;
  const Clock* const clock_;
  const TokenCacheOptions options_;
  std::function<void(bool)> observer_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by SHA-256
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);                       // most recent first
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_TOKEN_CACHE_H_
