#include "common/policy/traffic.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace tether::policy {
namespace {

bool RouteMatches(const RouteMatch& m, absl::string_view method, absl::string_view path) {
  if (!m.method.empty() && m.method != method) return false;
  if (!m.path.empty() && m.path != path) return false;
  if (!m.path_prefix.empty() && !absl::StartsWith(path, m.path_prefix)) return false;
  return true;
}

}  // namespace

std::shared_ptr<const TrafficTable> TrafficTable::Compile(std::vector<TrafficPolicy> policies) {
  std::sort(policies.begin(), policies.end(), [](const TrafficPolicy& a, const TrafficPolicy& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  });
  auto table = std::shared_ptr<TrafficTable>(new TrafficTable());
  table->policies_ = std::move(policies);
  return table;
}

const TrafficPolicy* TrafficTable::FindPolicy(absl::Span<const pki::SpiffeId> identities,
                                              int port) const {
  const TrafficPolicy* best = nullptr;
  for (const TrafficPolicy& p : policies_) {
    if (p.port != 0 && p.port != port) continue;
    bool selects = false;
    for (const pki::SpiffeId& id : identities) {
      if (id.namespace_name == p.namespace_name && id.service_account == p.service_account) {
        selects = true;
        break;
      }
    }
    if (!selects) continue;
    // A policy naming the port beats one for every port; otherwise the first.
    if (best == nullptr || (best->port == 0 && p.port != 0)) best = &p;
  }
  return best;
}

RequestBehaviour TrafficTable::Behaviour(const TrafficPolicy& policy, int policy_index,
                                         absl::string_view method, absl::string_view path) {
  RequestBehaviour out;
  out.decided_by = absl::StrCat(policy.namespace_name, "/", policy.name);
  out.behaviour = policy.behaviour;
  out.budget = policy.budget;
  out.policy_index = policy_index;
  for (size_t i = 0; i < policy.routes.size(); ++i) {
    const TrafficRoute& r = policy.routes[i];
    if (!RouteMatches(r.match, method, path)) continue;
    absl::StrAppend(&out.decided_by, " route ", i);
    if (r.has_timeout) out.behaviour.timeout = r.behaviour.timeout;
    if (r.has_retry) out.behaviour.retry = r.behaviour.retry;
    break;
  }
  return out;
}

bool IsIdempotent(absl::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

bool RetryableStatus(const RetryConditions& on, int status) {
  if (on.status_5xx && status >= 500 && status <= 599) return true;
  if (on.gateway_errors && (status == 502 || status == 503 || status == 504)) return true;
  return std::find(on.statuses.begin(), on.statuses.end(), status) != on.statuses.end();
}

}  // namespace tether::policy
