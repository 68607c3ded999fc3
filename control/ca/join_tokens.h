// JoinTokens: single-use bootstrap credentials for workloads outside
// Kubernetes, minted by `tetherctl token create`.
//
//   auto tokens = JoinTokens::Load(state_dir + "/join-tokens.jsonl", clock);
//   TETHER_ASSIGN_OR_RETURN(auto minted, tokens.Create(id, absl::Minutes(10)));
//   // hand minted.token to the workload; later, on its stream:
//   absl::StatusOr<pki::SpiffeId> who = tokens.Redeem(token_from_hello);
//
// Tokens are 32 random bytes ("tjt_" + base64url). Only their SHA-256 is
// kept, with the identity and expiry, so a stolen state file yields no usable
// token. Every mint and use is appended to a journal (JSON lines) and synced
// before it takes effect, so a restart loses nothing; concurrent callers share
// one sync, and the journal is compacted (expired tokens dropped) once it holds
// twice as many records as after the last compaction. Thread-safe; Create and
// Redeem block for a disk sync, so call them off latency-sensitive threads.
#ifndef TETHER_CONTROL_CA_JOIN_TOKENS_H_
#define TETHER_CONTROL_CA_JOIN_TOKENS_H_

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/spiffe_id.h"
#include "common/sync/mutex.h"
#include "control/ca/journal.h"

namespace tether::control {

inline constexpr absl::Duration kDefaultJoinTokenTtl = absl::Minutes(10);
inline constexpr absl::Duration kMaxJoinTokenTtl = absl::Hours(24);

class JoinTokens {
 public:
  struct Minted {
    std::string token;
    absl::Time expires;
  };

  // Load replays the journal at `path` if it exists (an empty set otherwise)
  // and compacts it. A corrupt record is an error naming the path and line,
  // never silently dropped; a last line cut short by a crash is dropped.
  static absl::StatusOr<std::unique_ptr<JoinTokens>> Load(std::string path, const Clock* clock);

  // Create mints a token for `id` valid for `ttl` (0: the default; more than
  // kMaxJoinTokenTtl or negative: InvalidArgument). `addresses` (canonical
  // "IP" or "IP:PORT", see control/discovery/endpoint_address.h) are where the
  // workload will answer; Redeem hands them back for the endpoint registry.
  absl::StatusOr<Minted> Create(const pki::SpiffeId& id, absl::Duration ttl,
                                std::vector<std::string> addresses = {});

  // What Redeem tells about a redeemed token besides its identity.
  struct Redeemed {
    std::vector<std::string> addresses;  // as minted
    absl::Time expires;                  // the token's expiry
    // A short name of the token that is no credential (a prefix of its
    // hash): which workload instance redeemed it.
    std::string token_id;
  };

  // Redeem consumes `token` and returns its identity. Unauthenticated with
  // "unknown join token", "join token was already used" or "join token
  // expired at ...". A used token stays recorded until it would have expired,
  // so a replay is told apart from a typo. Unavailable if the use cannot be
  // recorded (the token then stays unused). `redeemed`, when given, is filled
  // on success.
  absl::StatusOr<pki::SpiffeId> Redeem(absl::string_view token, Redeemed* redeemed = nullptr);

 private:
  struct Entry {
    std::string spiffe_id;
    absl::Time expires;
    bool used = false;
    std::vector<std::string> addresses;
  };
  explicit JoinTokens(const Clock* clock) : clock_(clock) {}
  absl::Status ApplyRecord(const nlohmann::json& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CompactLocked drops expired tokens and rewrites the journal with the rest.
  absl::Status CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // AppendLocked compacts when due, then appends `record`.
  absl::StatusOr<uint64_t> AppendLocked(const nlohmann::json& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  Mutex mu_;
  std::unique_ptr<Journal> journal_;            // set by Load; thread-safe itself
  size_t compact_at_ ABSL_GUARDED_BY(mu_) = 0;  // journal records that trigger a compaction
  absl::flat_hash_map<std::string, Entry> by_hash_ ABSL_GUARDED_BY(mu_);
};

// HashToken returns the lowercase hex SHA-256 of `token`.
std::string HashToken(absl::string_view token);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_JOIN_TOKENS_H_
