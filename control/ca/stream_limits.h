// StreamLimits: admission control for the certificate stream, so that no
// client, authenticated or not, can make the control plane hold an unbounded
// number of streams or spend an unbounded number of authentications.
//
//   StreamLimits limits(clock, options);
//   StreamLimits::Admission a;
//   if (auto hit = limits.Open(PeerAddress(context->peer()), &a)) Refuse(limits.Refusal(*hit, a));
//   if (auto hit = limits.Hello(a)) ...;                 // per-peer Hello rate
//   if (auto hit = limits.Authenticated(&a, id)) ...;    // per-identity cap
//   ...
//   limits.Release(&a);                                  // the stream is done
//
// What is counted: every open stream (cap `max_streams`); streams that have
// not finished authenticating (no Hello yet, or one being checked), in total
// and per peer address; authenticated streams per identity; Hellos per peer
// address (a token bucket on the injected clock). A refusal is a typed
// StreamLimit, turned into RESOURCE_EXHAUSTED by Refusal. Thread-safe.
#ifndef TETHER_CONTROL_CA_STREAM_LIMITS_H_
#define TETHER_CONTROL_CA_STREAM_LIMITS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "common/sync/mutex.h"
#include "control/ca/rate_limiter.h"

namespace tether::control {

enum class StreamLimit {
  kStreams,                 // "streams"
  kStreamsPerIdentity,      // "streams_per_identity"
  kUnauthenticated,         // "unauthenticated_streams"
  kUnauthenticatedPerPeer,  // "unauthenticated_streams_per_peer"
  kHelloRate,               // "hello_rate_per_peer"
  kAnswerQueue,             // "answer_queue" (counted by the stream service)
};

// StreamLimitName: the metric label of a limit (above).
absl::string_view StreamLimitName(StreamLimit limit);

struct StreamLimitsOptions {
  // Defaults allow a large mesh (one stream per proxy; one identity per
  // Kubernetes service account, shared by all of a Deployment's pods) and
  // a control-plane restart, after which every proxy says Hello at once.
  size_t max_streams = 16384;
  size_t max_streams_per_identity = 1024;
  size_t max_unauthenticated_streams = 1024;
  size_t max_unauthenticated_per_peer = 64;
  // Hellos per minute per peer address, and the burst allowed; 0: unlimited.
  double hellos_per_minute_per_peer = 600;
  double hello_burst_per_peer = 100;
};

// PeerAddress is the address in a gRPC peer string, without the port:
// "ipv4:10.0.0.5:4711" -> "10.0.0.5", "ipv6:[fd00::5]:4711" (or
// "ipv6:%5Bfd00::5%5D:4711") -> "fd00::5", an IPv4-mapped IPv6 address ->
// the IPv4 address; anything else (a Unix socket) is returned whole.
std::string PeerAddress(absl::string_view grpc_peer);

class StreamLimits {
 public:
  // Admission is what one stream holds; the stream owns it and gives it back
  // with Release.
  struct Admission {
    std::string peer;      // PeerAddress
    std::string identity;  // set by Authenticated
    bool open = false;
    bool unauthenticated = false;
    bool has_identity = false;
  };

  StreamLimits(const Clock* clock, StreamLimitsOptions options);

  // Open counts a new stream from `peer` as open and unauthenticated, or
  // returns the limit that refuses it (and holds nothing).
  std::optional<StreamLimit> Open(absl::string_view peer, Admission* admission);
  // Hello takes one Hello from the peer's bucket; kHelloRate when empty.
  std::optional<StreamLimit> Hello(const Admission& admission);
  // Authenticated ends the unauthenticated phase and counts the stream for
  // `identity`; kStreamsPerIdentity refuses it (it then holds no identity).
  std::optional<StreamLimit> Authenticated(Admission* admission, absl::string_view identity);
  // HelloFailed ends the unauthenticated phase of a stream refused at
  // authentication. Idempotent.
  void HelloFailed(Admission* admission);
  // Release gives back all `admission` holds. Idempotent.
  void Release(Admission* admission);

  // Refusal is RESOURCE_EXHAUSTED saying which limit refused the stream.
  absl::Status Refusal(StreamLimit limit, const Admission& admission) const;

  size_t open() const;
  size_t unauthenticated() const;
  const StreamLimitsOptions& options() const { return options_; }

 private:
  void LeaveUnauthenticatedLocked(Admission* admission) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StreamLimitsOptions options_;
  RateLimiter hellos_;
  mutable Mutex mu_;
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  size_t unauthenticated_ ABSL_GUARDED_BY(mu_) = 0;
  // Only keys with a count above zero are kept.
  absl::flat_hash_map<std::string, size_t> unauthenticated_by_peer_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> by_identity_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_STREAM_LIMITS_H_
