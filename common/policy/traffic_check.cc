#include "common/policy/traffic_check.h"

#include <cmath>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/pki/spiffe_id.h"

namespace tether::policy {
namespace {

class Checker {
 public:
  explicit Checker(absl::string_view where) : where_(where) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", field, ": ", what));
  }

  // Duration: 0 (none) or 1ms..1h in whole milliseconds.
  absl::Status Duration(absl::Duration d, absl::Duration min, const std::string& field) const {
    if (d < absl::ZeroDuration()) return Error(field, "must not be negative");
    if (d == absl::ZeroDuration()) return absl::OkStatus();
    if (d % absl::Milliseconds(1) != absl::ZeroDuration()) {
      return Error(field, absl::StrCat(absl::FormatDuration(d), " is not whole milliseconds"));
    }
    if (d < min) {
      return Error(field, absl::StrCat(absl::FormatDuration(d), " is less than ",
                                       absl::FormatDuration(min)));
    }
    if (d > kMaxTrafficDuration) {
      return Error(field, absl::StrCat(absl::FormatDuration(d), " is more than ",
                                       absl::FormatDuration(kMaxTrafficDuration)));
    }
    return absl::OkStatus();
  }

  absl::Status Retry(const RetryPolicy& r, const std::string& f) const {
    if (r.attempts < 0) return Error(f + ".attempts", absl::StrCat(r.attempts, " is less than 0"));
    if (r.attempts > kMaxRetryAttempts) {
      return Error(f + ".attempts", absl::StrCat(r.attempts, " is more than ", kMaxRetryAttempts));
    }
    std::set<int> seen;
    for (size_t i = 0; i < r.on.statuses.size(); ++i) {
      const int s = r.on.statuses[i];
      const std::string field = absl::StrCat(f, ".on[", i, "]");
      if (s < 100 || s > 599) {
        return Error(field, absl::StrCat(s, " is not an HTTP status (100-599)"));
      }
      if (!seen.insert(s).second) return Error(field, absl::StrCat(s, " is listed twice"));
    }
    const RetryConditions& on = r.on;
    const bool any = on.connect_failure || on.reset || on.status_5xx || on.gateway_errors ||
                     !on.statuses.empty();
    if (r.attempts > 0 && !any) {
      return Error(f + ".on",
                   "missing: retries need conditions (5xx, gateway-error, "
                   "connect-failure, reset, or status codes)");
    }
    return Duration(r.per_try_timeout, absl::Milliseconds(1), f + ".perTryTimeout");
  }

  absl::Status Match(const RouteMatch& m, const std::string& f) const {
    if (!m.method.empty() && !ValidMethod(m.method)) {
      return Error(f + ".method",
                   absl::StrCat("\"", m.method, "\" is not an upper-case method (GET, POST, ...)"));
    }
    if (!m.path_prefix.empty() && !ValidRoutePath(m.path_prefix)) {
      return Error(f + ".pathPrefix", absl::StrCat("\"", m.path_prefix, "\" ", PathProblem()));
    }
    if (!m.path.empty() && !ValidRoutePath(m.path)) {
      return Error(f + ".path", absl::StrCat("\"", m.path, "\" ", PathProblem()));
    }
    return absl::OkStatus();
  }

  static const char* PathProblem() {
    return "is not a path (must start with '/'; printable ASCII without spaces, '?' or '#'; "
           "at most 1024 bytes)";
  }

 private:
  absl::string_view where_;
};

}  // namespace

bool ValidObjectName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.')) return false;
  }
  return absl::ascii_isalnum(name.front()) && absl::ascii_isalnum(name.back());
}

bool ValidMethod(absl::string_view method) {
  if (method.empty() || method.size() > 32 || !absl::ascii_isupper(method.front())) return false;
  for (char c : method) {
    if (!(absl::ascii_isupper(c) || absl::ascii_isdigit(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

bool ValidRoutePath(absl::string_view path) {
  if (path.empty() || path.front() != '/' || path.size() > kMaxRoutePathBytes) return false;
  for (char c : path) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '?' || c == '#') return false;
  }
  return true;
}

absl::Status CheckTrafficPolicy(const TrafficPolicy& p, absl::string_view where) {
  const Checker c(where);
  if (!ValidObjectName(p.name)) {
    return c.Error(
        "metadata.name",
        absl::StrCat("\"", p.name,
                     "\" is not a valid name (lower-case letters, digits, '-' and '.')"));
  }
  if (p.namespace_name.empty()) {
    return c.Error("metadata.namespace", "a TrafficPolicy needs a namespace");
  }
  if (!pki::SpiffeId::Make("x", p.namespace_name, "x").ok()) {
    return c.Error("metadata.namespace",
                   absl::StrCat("\"", p.namespace_name, "\" is not a valid namespace"));
  }
  if (p.service_account.empty()) {
    return c.Error("spec.destination.serviceAccount", "missing");
  }
  if (!pki::SpiffeId::Make("x", "x", p.service_account).ok()) {
    return c.Error("spec.destination.serviceAccount",
                   absl::StrCat("\"", p.service_account, "\" is not a valid service account"));
  }
  if (p.port < 0 || p.port > 65535) {
    return c.Error("spec.destination.port", absl::StrCat(p.port, " is not a port"));
  }
  if (absl::Status st = c.Duration(p.behaviour.timeout, absl::Milliseconds(1), "spec.timeout");
      !st.ok()) {
    return st;
  }
  if (absl::Status st = c.Retry(p.behaviour.retry, "spec.retry"); !st.ok()) return st;
  const RetryBudget& b = p.budget;
  if (!std::isfinite(b.ratio) || b.ratio < 0 || b.ratio > 1) {
    return c.Error("spec.retryBudget.ratio", absl::StrCat(b.ratio, " is not between 0 and 1"));
  }
  if (b.min_per_second < 0 || b.min_per_second > kMaxBudgetMinPerSecond) {
    return c.Error("spec.retryBudget.minPerSecond",
                   absl::StrCat(b.min_per_second, " is not 0-", kMaxBudgetMinPerSecond));
  }
  if (b.ttl == absl::ZeroDuration()) return c.Error("spec.retryBudget.ttl", "must be at least 1s");
  if (absl::Status st = c.Duration(b.ttl, kMinBudgetTtl, "spec.retryBudget.ttl"); !st.ok()) {
    return st;
  }
  if (p.routes.size() > kMaxTrafficRoutes) {
    return c.Error("spec.routes",
                   absl::StrCat(p.routes.size(), " routes, more than ", kMaxTrafficRoutes));
  }
  for (size_t i = 0; i < p.routes.size(); ++i) {
    const TrafficRoute& r = p.routes[i];
    const std::string f = absl::StrCat("spec.routes[", i, "]");
    if (absl::Status st = c.Match(r.match, f + ".match"); !st.ok()) return st;
    if (r.has_timeout) {
      if (r.behaviour.timeout == absl::ZeroDuration()) {
        return c.Error(f + ".timeout", "must be more than 0 (omit it for the spec's)");
      }
      if (absl::Status st = c.Duration(r.behaviour.timeout, absl::Milliseconds(1), f + ".timeout");
          !st.ok()) {
        return st;
      }
    }
    if (r.has_retry) {
      if (absl::Status st = c.Retry(r.behaviour.retry, f + ".retry"); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace tether::policy
