// Traffic policy: what a client-side proxy does for HTTP requests to a
// destination: a request timeout (504 when it passes), retries of failed
// requests, and the retry budget that keeps retries from amplifying an
// outage. The resource operators write (YAML, beside AuthorizationPolicy):
//
//   apiVersion: tether.io/v1
//   kind: TrafficPolicy
//   metadata: {name: cart, namespace: shop}
//   spec:
//     destination: {serviceAccount: cart, port: 8080}  # port optional: every port
//     timeout: 2s                                      # whole request, retries included
//     retry:
//       attempts: 2                       # retries after the first try (0-10)
//       on: [5xx, connect-failure]        # also single codes ("503"), "reset"
//       perTryTimeout: 500ms              # optional
//       nonIdempotent: false              # true: POST/PATCH are retried too
//     retryBudget: {ratio: 0.2, minPerSecond: 10, ttl: 10s}
//     routes:                             # first match wins; its fields replace the spec's
//       - match: {method: GET, pathPrefix: /slow}
//         timeout: 500ms
//
// Destination: the workloads of the policy's namespace running as that
// service account, i.e. whatever the endpoint registry says must prove
// spiffe://<any trust domain>/ns/<namespace>/sa/<serviceAccount>.
//
// Requests are never retried when their body is larger than
// kMaxRetryBodyBytes (it is not kept), nor after any byte of the response
// reached the client.
#ifndef TETHER_COMMON_POLICY_TRAFFIC_H_
#define TETHER_COMMON_POLICY_TRAFFIC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/pki/spiffe_id.h"

namespace tether::policy {

inline constexpr size_t kMaxRetryBodyBytes = 64 * 1024;
inline constexpr int kMaxRetryAttempts = 10;

struct RetryConditions {
  bool connect_failure = false;  // "connect-failure": no connection could be made
  bool reset = false;            // "reset": the connection failed before a response
  bool status_5xx = false;       // "5xx"
  bool gateway_errors = false;   // "gateway-error": 502, 503, 504
  std::vector<int> statuses;     // single codes, 100-599
};

struct RetryPolicy {
  int attempts = 0;  // retries after the first try; 0: none
  RetryConditions on;
  absl::Duration per_try_timeout = absl::ZeroDuration();  // zero: none
  // false: only idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
  bool non_idempotent = false;
};

// RetryBudget, as Linkerd's: retries may add `ratio` of the requests of the
// last `ttl`, plus `min_per_second` retries per second whatever the load.
struct RetryBudget {
  double ratio = 0.2;
  int min_per_second = 10;
  absl::Duration ttl = absl::Seconds(10);
};

struct RouteMatch {
  std::string method;       // empty: any; upper case
  std::string path_prefix;  // empty: any; starts with '/'
  std::string path;         // exact path (without query); empty: not used
};

// HttpBehaviour: what applies to one request.
struct HttpBehaviour {
  absl::Duration timeout = absl::ZeroDuration();  // zero: none
  RetryPolicy retry;
};

struct TrafficRoute {
  RouteMatch match;
  // Which of the spec's fields the route sets (unset ones keep the spec's).
  bool has_timeout = false;
  bool has_retry = false;
  HttpBehaviour behaviour;
};

struct TrafficPolicy {
  std::string name;
  std::string namespace_name;
  std::string service_account;  // the destination's
  int port = 0;                 // 0: every port
  HttpBehaviour behaviour;      // spec.timeout and spec.retry
  RetryBudget budget;
  std::vector<TrafficRoute> routes;
};

// RequestBehaviour: what TrafficTable::Find returns for one request.
struct RequestBehaviour {
  // "shop/cart" (the policy), "shop/cart route 0"; empty when no policy.
  std::string decided_by;
  HttpBehaviour behaviour;
  // The policy's budget; one budget per policy (index into the table).
  RetryBudget budget;
  int policy_index = -1;
};

// TrafficTable: every TrafficPolicy a proxy holds, compiled for lookup.
// Immutable; shared by every worker through a snapshot.
class TrafficTable {
 public:
  static std::shared_ptr<const TrafficTable> Compile(std::vector<TrafficPolicy> policies);

  // Find: the policy for a request to a destination that must prove one of
  // `identities`, on `port`. The most specific policy wins (one naming the
  // port over one for every port); among equals, the first by namespace/name.
  // nullptr when none applies.
  const TrafficPolicy* FindPolicy(absl::Span<const pki::SpiffeId> identities, int port) const;

  // Behaviour: the spec's behaviour with the first matching route's fields
  // over it. `path` is without its query.
  static RequestBehaviour Behaviour(const TrafficPolicy& policy, int policy_index,
                                    absl::string_view method, absl::string_view path);

  // Index of `p` (a result of FindPolicy) in policies().
  int IndexOf(const TrafficPolicy* p) const { return static_cast<int>(p - policies_.data()); }
  const std::vector<TrafficPolicy>& policies() const { return policies_; }

 private:
  std::vector<TrafficPolicy> policies_;  // sorted by namespace/name
};

// IsIdempotent: GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
bool IsIdempotent(absl::string_view method);

// Retryable: whether `status` is one of `on`'s statuses.
bool RetryableStatus(const RetryConditions& on, int status);

}  // namespace tether::policy

#endif  // TETHER_COMMON_POLICY_TRAFFIC_H_
