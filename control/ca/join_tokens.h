// JoinTokens: single-use bootstrap credentials for workloads outside
// Kubernetes, minted by `tetherctl token create`.
//
//   JoinTokens tokens(state_dir + "/join-tokens.json", clock);
//   TETHER_ASSIGN_OR_RETURN(auto minted, tokens.Create(id, absl::Minutes(10)));
//   // hand minted.token to the workload; later, on its stream:
//   absl::StatusOr<pki::SpiffeId> who = tokens.Redeem(token_from_hello);
//
// Tokens are 32 random bytes ("tjt_" + base64url). Only their SHA-256 is
// kept, with the identity and expiry, in a JSON file written atomically, so
// a restart loses nothing and a stolen state file yields no usable token.
// Thread-safe.
#ifndef TETHER_CONTROL_CA_JOIN_TOKENS_H_
#define TETHER_CONTROL_CA_JOIN_TOKENS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/spiffe_id.h"
#include "common/sync/mutex.h"

namespace tether::control {

inline constexpr absl::Duration kDefaultJoinTokenTtl = absl::Minutes(10);
inline constexpr absl::Duration kMaxJoinTokenTtl = absl::Hours(24);

class JoinTokens {
 public:
  struct Minted {
    std::string token;
    absl::Time expires;
  };

  // Load reads `path` if it exists (an empty set otherwise). A corrupt file
  // is an error naming the path, never silently dropped.
  static absl::StatusOr<std::unique_ptr<JoinTokens>> Load(std::string path, const Clock* clock);

  // Create mints a token for `id` valid for `ttl` (0: the default; more than
  // kMaxJoinTokenTtl or negative: InvalidArgument).
  absl::StatusOr<Minted> Create(const pki::SpiffeId& id, absl::Duration ttl);

  // Redeem consumes `token` and returns its identity. Unauthenticated with
  // "unknown join token", "join token was already used" or "join token
  // expired at ...". A used token stays recorded until it would have expired,
  // so a replay is told apart from a typo.
  absl::StatusOr<pki::SpiffeId> Redeem(absl::string_view token);

 private:
  struct Entry {
    std::string spiffe_id;
    absl::Time expires;
    bool used = false;
  };
  JoinTokens(std::string path, const Clock* clock) : path_(std::move(path)), clock_(clock) {}
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PruneLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const Clock* const clock_;
  Mutex mu_;
  absl::flat_hash_map<std::string, Entry> by_hash_ ABSL_GUARDED_BY(mu_);
};

// HashToken returns the lowercase hex SHA-256 of `token`.
std::string HashToken(absl::string_view token);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_JOIN_TOKENS_H_
