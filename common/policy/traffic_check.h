// TrafficCheck: the rules every TrafficPolicy keeps, wherever it comes from
// (YAML in traffic_yaml.cc, a PolicySnapshot from the stream in
// policy_proto.cc), checked on the model itself so that both refuse alike.
//
//   if (absl::Status st = CheckTrafficPolicy(p, "TrafficPolicy shop/cart"); !st.ok()) ...
//   // InvalidArgument "TrafficPolicy shop/cart: spec.retry.attempts: 11 is more than 10"
#ifndef TETHER_COMMON_POLICY_TRAFFIC_CHECK_H_
#define TETHER_COMMON_POLICY_TRAFFIC_CHECK_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/policy/traffic.h"

namespace tether::policy {

inline constexpr size_t kMaxTrafficRoutes = 100;
// How many TrafficPolicies a snapshot may hold (FromProto).
inline constexpr size_t kMaxTrafficPolicies = 10000;
// timeout, perTryTimeout and the budget's ttl: at most this, in whole milliseconds.
inline constexpr absl::Duration kMaxTrafficDuration = absl::Hours(1);
inline constexpr absl::Duration kMinBudgetTtl = absl::Seconds(1);
inline constexpr int kMaxBudgetMinPerSecond = 10000;
inline constexpr size_t kMaxRoutePathBytes = 1024;

// CheckTrafficPolicy returns OK or InvalidArgument "<where>: <field>: <what>"
// for the first rule `p` breaks, the field spelled as in YAML
// ("spec.routes[1].match.pathPrefix"): name (a Kubernetes object name),
// namespace and destination service account (SPIFFE ID rules), port 0-65535
// (0: every port), durations (0 or 1ms-1h, whole milliseconds; a route's
// timeout, when set, above 0), attempts 0-kMaxRetryAttempts, retry statuses
// 100-599 and not twice, conditions named when attempts > 0, budget ratio
// 0-1, minPerSecond 0-10000, ttl 1s-1h, at most kMaxTrafficRoutes routes,
// methods upper-case tokens, paths starting with '/'.
absl::Status CheckTrafficPolicy(const TrafficPolicy& p, absl::string_view where);

// ValidObjectName: a Kubernetes object name (DNS subdomain: lower-case
// letters, digits, '-' and '.', at most 253 characters).
bool ValidObjectName(absl::string_view name);
// ValidMethod: an upper-case token, e.g. "GET", "M-SEARCH" (at most 32 bytes).
bool ValidMethod(absl::string_view method);
// ValidRoutePath: starts with '/', at most kMaxRoutePathBytes of printable
// ASCII (percent-encode the rest) without spaces, '?' or '#'.
bool ValidRoutePath(absl::string_view path);

}  // namespace tether::policy

#endif  // TETHER_COMMON_POLICY_TRAFFIC_CHECK_H_
