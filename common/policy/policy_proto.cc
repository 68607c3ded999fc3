#include "common/policy/policy_proto.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "common/policy/traffic_check.h"
#include "common/policy/traffic_yaml.h"

namespace tether::policy {
namespace {

namespace v1 = ::tether::policy::v1;

absl::Status Invalid(absl::string_view where, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, ": ", what));
}

bool ValidNamespace(const std::string& ns) { return pki::SpiffeId::Make("x", ns, "x").ok(); }
bool ValidServiceAccount(const std::string& sa) { return pki::SpiffeId::Make("x", "x", sa).ok(); }

absl::StatusOr<Source> SourceFromProto(const v1::Source& msg, absl::string_view where,
                                       const std::string& field) {
  Source s;
  switch (msg.kind_case()) {
    case v1::Source::kSpiffeId: {
      auto id = pki::SpiffeId::Parse(msg.spiffe_id());
      if (!id.ok()) return Invalid(where, field + ".spiffeId", id.status().message());
      s.kind = Source::kSpiffeId;
      s.value = id->ToString();
      return s;
    }
    case v1::Source::kNamespace:
      if (!ValidNamespace(msg.namespace_())) {
        return Invalid(where, field + ".namespace", "not a valid namespace");
      }
      s.kind = Source::kNamespace;
      s.value = msg.namespace_();
      return s;
    case v1::Source::kTrustDomain:
      if (!pki::ValidTrustDomain(msg.trust_domain())) {
        return Invalid(where, field + ".trustDomain", "not a valid trust domain");
      }
      s.kind = Source::kTrustDomain;
      s.value = msg.trust_domain();
      return s;
    case v1::Source::kAuthenticated:
    case v1::Source::kUnauthenticated:
      if (!(msg.authenticated() || msg.unauthenticated()))
        return Invalid(where, field, "must be true");
      s.kind = msg.has_authenticated() ? Source::kAuthenticated : Source::kUnauthenticated;
      return s;
    case v1::Source::KIND_NOT_SET:
      break;
  }
  return Invalid(where, field, "no kind of source set");
}

absl::StatusOr<AuthorizationPolicy> PolicyFromProto(const v1::AuthorizationPolicy& msg) {
  AuthorizationPolicy p;
  p.name = msg.name();
  p.namespace_name = msg.namespace_();
  const std::string where = absl::StrCat("AuthorizationPolicy ", p.namespace_name, "/", p.name);
  if (p.name.empty() || p.name.size() > 253) return Invalid(where, "metadata.name", "invalid");
  if (!ValidNamespace(p.namespace_name)) return Invalid(where, "metadata.namespace", "invalid");
  for (int i = 0; i < msg.service_accounts_size(); ++i) {
    if (!ValidServiceAccount(msg.service_accounts(i))) {
      return Invalid(where, absl::StrCat("spec.selector.serviceAccounts[", i, "]"), "invalid");
    }
    p.service_accounts.push_back(msg.service_accounts(i));
  }
  switch (msg.action()) {
    case v1::ALLOW:
      p.action = Action::kAllow;
      break;
    case v1::DENY:
      p.action = Action::kDeny;
      break;
    case v1::AUDIT:
      p.action = Action::kAudit;
      break;
    default:
      return Invalid(where, "spec.action", "not ALLOW, DENY or AUDIT");
  }
  for (int r = 0; r < msg.rules_size(); ++r) {
    const v1::Rule& rule_msg = msg.rules(r);
    Rule rule;
    for (int f = 0; f < rule_msg.from_size(); ++f) {
      auto source = SourceFromProto(rule_msg.from(f), where,
                                    absl::StrCat("spec.rules[", r, "].from[", f, "]"));
      if (!source.ok()) return source.status();
      rule.from.push_back(*std::move(source));
    }
    for (int i = 0; i < rule_msg.ports_size(); ++i) {
      const int port = rule_msg.ports(i);
      if (port < 1 || port > 65535) {
        return Invalid(where, absl::StrCat("spec.rules[", r, "].ports[", i, "]"),
                       absl::StrCat(port, " is not a port"));
      }
      rule.ports.push_back(port);
    }
    p.rules.push_back(std::move(rule));
  }
  return p;
}

void SourceToYaml(YAML::Emitter& out, const Source& s) {
  out << YAML::Flow << YAML::BeginMap;
  switch (s.kind) {
    case Source::kSpiffeId:
      out << YAML::Key << "spiffeId" << YAML::Value << s.value;
      break;
    case Source::kNamespace:
      out << YAML::Key << "namespace" << YAML::Value << s.value;
      break;
    case Source::kTrustDomain:
      out << YAML::Key << "trustDomain" << YAML::Value << s.value;
      break;
    case Source::kAuthenticated:
      out << YAML::Key << "authenticated" << YAML::Value << true;
      break;
    case Source::kUnauthenticated:
      out << YAML::Key << "unauthenticated" << YAML::Value << true;
      break;
  }
  out << YAML::EndMap;
}

const char* ActionName(Action a) {
  switch (a) {
    case Action::kAllow:
      return "ALLOW";
    case Action::kDeny:
      return "DENY";
    case Action::kAudit:
      return "AUDIT";
  }
  return "?";
}

void Metadata(YAML::Emitter& out, const char* kind, const std::string& name,
              const std::string& ns) {
  out << YAML::Key << "apiVersion" << YAML::Value << "tether.io/v1";
  out << YAML::Key << "kind" << YAML::Value << kind;
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << name;
  if (!ns.empty()) out << YAML::Key << "namespace" << YAML::Value << ns;
  out << YAML::EndMap;
}

void RetryToProto(const RetryPolicy& r, v1::RetryPolicy* out) {
  out->set_attempts(r.attempts);
  out->set_connect_failure(r.on.connect_failure);
  out->set_reset(r.on.reset);
  out->set_status_5xx(r.on.status_5xx);
  out->set_gateway_error(r.on.gateway_errors);
  for (int s : r.on.statuses) out->add_statuses(s);
  out->set_per_try_timeout_ms(absl::ToInt64Milliseconds(r.per_try_timeout));
  out->set_non_idempotent(r.non_idempotent);
}

void TrafficToProto(const TrafficPolicy& p, v1::TrafficPolicy* out) {
  out->set_name(p.name);
  out->set_namespace_(p.namespace_name);
  out->set_service_account(p.service_account);
  out->set_port(p.port);
  out->set_timeout_ms(absl::ToInt64Milliseconds(p.behaviour.timeout));
  RetryToProto(p.behaviour.retry, out->mutable_retry());
  v1::RetryBudget* budget = out->mutable_retry_budget();
  budget->set_ratio(p.budget.ratio);
  budget->set_min_per_second(p.budget.min_per_second);
  budget->set_ttl_ms(absl::ToInt64Milliseconds(p.budget.ttl));
  for (const TrafficRoute& r : p.routes) {
    v1::TrafficRoute* route = out->add_routes();
    route->mutable_match()->set_method(r.match.method);
    route->mutable_match()->set_path_prefix(r.match.path_prefix);
    route->mutable_match()->set_path(r.match.path);
    if (r.has_timeout) route->set_timeout_ms(absl::ToInt64Milliseconds(r.behaviour.timeout));
    if (r.has_retry) RetryToProto(r.behaviour.retry, route->mutable_retry());
  }
}

// Millis: a *_ms field as a duration; nullopt when negative or beyond
// any sensible range (the range itself is CheckTrafficPolicy's).
std::optional<absl::Duration> Millis(int64_t ms) {
  if (ms < 0 || ms > int64_t{1} << 40) return std::nullopt;
  return absl::Milliseconds(ms);
}

absl::Status RetryFromProto(const v1::RetryPolicy& msg, absl::string_view where,
                            const std::string& field, RetryPolicy* out) {
  out->attempts = msg.attempts();
  out->on.connect_failure = msg.connect_failure();
  out->on.reset = msg.reset();
  out->on.status_5xx = msg.status_5xx();
  out->on.gateway_errors = msg.gateway_error();
  if (static_cast<size_t>(msg.statuses_size()) > 500) {
    return Invalid(where, field + ".on", "more than 500 statuses");
  }
  out->on.statuses.assign(msg.statuses().begin(), msg.statuses().end());
  std::optional<absl::Duration> per_try = Millis(msg.per_try_timeout_ms());
  if (!per_try) return Invalid(where, field + ".perTryTimeout", "out of range");
  out->per_try_timeout = *per_try;
  out->non_idempotent = msg.non_idempotent();
  return absl::OkStatus();
}

absl::StatusOr<TrafficPolicy> TrafficFromProto(const v1::TrafficPolicy& msg) {
  TrafficPolicy p;
  p.name = msg.name();
  p.namespace_name = msg.namespace_();
  p.service_account = msg.service_account();
  p.port = msg.port();
  const std::string where = absl::StrCat("TrafficPolicy ", p.namespace_name, "/", p.name);
  std::optional<absl::Duration> timeout = Millis(msg.timeout_ms());
  if (!timeout) return Invalid(where, "spec.timeout", "out of range");
  p.behaviour.timeout = *timeout;
  if (msg.has_retry()) {
    if (absl::Status st = RetryFromProto(msg.retry(), where, "spec.retry", &p.behaviour.retry);
        !st.ok()) {
      return st;
    }
  }
  if (msg.has_retry_budget()) {
    p.budget.ratio = msg.retry_budget().ratio();
    p.budget.min_per_second = msg.retry_budget().min_per_second();
    std::optional<absl::Duration> ttl = Millis(msg.retry_budget().ttl_ms());
    if (!ttl) return Invalid(where, "spec.retryBudget.ttl", "out of range");
    p.budget.ttl = *ttl;
  }
  if (static_cast<size_t>(msg.routes_size()) > kMaxTrafficRoutes) {
    return Invalid(where, "spec.routes",
                   absl::StrCat(msg.routes_size(), " routes, more than ", kMaxTrafficRoutes));
  }
  for (int i = 0; i < msg.routes_size(); ++i) {
    const v1::TrafficRoute& r = msg.routes(i);
    const std::string field = absl::StrCat("spec.routes[", i, "]");
    TrafficRoute route;
    route.match.method = r.match().method();
    route.match.path_prefix = r.match().path_prefix();
    route.match.path = r.match().path();
    if (r.has_timeout_ms()) {
      std::optional<absl::Duration> t = Millis(r.timeout_ms());
      if (!t) return Invalid(where, field + ".timeout", "out of range");
      route.has_timeout = true;
      route.behaviour.timeout = *t;
    }
    if (r.has_retry()) {
      route.has_retry = true;
      if (absl::Status st =
              RetryFromProto(r.retry(), where, field + ".retry", &route.behaviour.retry);
          !st.ok()) {
        return st;
      }
    }
    p.routes.push_back(std::move(route));
  }
  if (absl::Status st = CheckTrafficPolicy(p, where); !st.ok()) return st;
  return p;
}

}  // namespace

v1::PolicySnapshot ToProto(const PolicySet& set) {
  v1::PolicySnapshot msg;
  for (const AuthorizationPolicy& p : set.policies) {
    v1::AuthorizationPolicy* out = msg.add_policies();
    out->set_name(p.name);
    out->set_namespace_(p.namespace_name);
    for (const std::string& sa : p.service_accounts) out->add_service_accounts(sa);
    out->set_action(p.action == Action::kAllow  ? v1::ALLOW
                    : p.action == Action::kDeny ? v1::DENY
                                                : v1::AUDIT);
    for (const Rule& r : p.rules) {
      v1::Rule* rule = out->add_rules();
      for (int port : r.ports) rule->add_ports(port);
      for (const Source& s : r.from) {
        v1::Source* src = rule->add_from();
        switch (s.kind) {
          case Source::kSpiffeId:
            src->set_spiffe_id(s.value);
            break;
          case Source::kNamespace:
            src->set_namespace_(s.value);
            break;
          case Source::kTrustDomain:
            src->set_trust_domain(s.value);
            break;
          case Source::kAuthenticated:
            src->set_authenticated(true);
            break;
          case Source::kUnauthenticated:
            src->set_unauthenticated(true);
            break;
        }
      }
    }
  }
  for (const DefaultPolicy& d : set.defaults) {
    v1::DefaultPolicy* out = msg.add_defaults();
    out->set_name(d.name);
    out->set_namespace_(d.namespace_name);
    out->set_action(d.action == DefaultAction::kDeny ? v1::DENY_ALL : v1::ALLOW_AUTHENTICATED);
  }
  for (const TrafficPolicy& t : set.traffic) TrafficToProto(t, msg.add_traffic_policies());
  return msg;
}

absl::StatusOr<PolicySet> FromProto(const v1::PolicySnapshot& msg) {
  PolicySet set;
  std::set<std::pair<std::string, std::string>> names;
  for (const v1::AuthorizationPolicy& p : msg.policies()) {
    auto policy = PolicyFromProto(p);
    if (!policy.ok()) return policy.status();
    if (!names.emplace(policy->namespace_name, policy->name).second) {
      return Invalid(absl::StrCat("AuthorizationPolicy ", p.namespace_(), "/", p.name()),
                     "metadata.name", "defined twice");
    }
    set.policies.push_back(*std::move(policy));
  }
  std::set<std::string> default_namespaces;
  for (const v1::DefaultPolicy& d : msg.defaults()) {
    const std::string where = absl::StrCat("DefaultPolicy ", d.namespace_(), "/", d.name());
    DefaultPolicy out;
    out.name = d.name();
    out.namespace_name = d.namespace_();
    if (out.name.empty() || out.name.size() > 253)
      return Invalid(where, "metadata.name", "invalid");
    if (!out.namespace_name.empty() && !ValidNamespace(out.namespace_name)) {
      return Invalid(where, "metadata.namespace", "invalid");
    }
    if (d.action() == v1::ALLOW_AUTHENTICATED) {
      out.action = DefaultAction::kAllowAuthenticated;
    } else if (d.action() == v1::DENY_ALL) {
      out.action = DefaultAction::kDeny;
    } else {
      return Invalid(where, "spec.default", "not ALLOW_AUTHENTICATED or DENY");
    }
    if (!default_namespaces.insert(out.namespace_name).second) {
      return Invalid(where, "kind", "a second DefaultPolicy for the same scope");
    }
    set.defaults.push_back(std::move(out));
  }
  if (static_cast<size_t>(msg.traffic_policies_size()) > kMaxTrafficPolicies) {
    return absl::InvalidArgumentError(absl::StrCat(
        msg.traffic_policies_size(), " TrafficPolicies, more than ", kMaxTrafficPolicies));
  }
  std::set<std::pair<std::string, std::string>> traffic_names;
  for (const v1::TrafficPolicy& t : msg.traffic_policies()) {
    auto traffic = TrafficFromProto(t);
    if (!traffic.ok()) return traffic.status();
    if (!traffic_names.emplace(traffic->namespace_name, traffic->name).second) {
      return Invalid(absl::StrCat("TrafficPolicy ", t.namespace_(), "/", t.name()), "metadata.name",
                     "defined twice");
    }
    set.traffic.push_back(*std::move(traffic));
  }
  return set;
}

PolicySet SelectFor(const PolicySet& set, const pki::SpiffeId& workload) {
  PolicySet out;
  for (const AuthorizationPolicy& p : set.policies) {
    if (p.namespace_name != workload.namespace_name) continue;
    if (!p.service_accounts.empty() &&
        std::find(p.service_accounts.begin(), p.service_accounts.end(), workload.service_account) ==
            p.service_accounts.end()) {
      continue;
    }
    out.policies.push_back(p);
  }
  for (const DefaultPolicy& d : set.defaults) {
    if (d.namespace_name.empty() || d.namespace_name == workload.namespace_name) {
      out.defaults.push_back(d);
    }
  }
  // Every TrafficPolicy: a client's proxy may call any destination.
  out.traffic = set.traffic;
  std::sort(out.traffic.begin(), out.traffic.end(),
            [](const TrafficPolicy& a, const TrafficPolicy& b) {
              return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
            });
  return out;
}

std::string ToYaml(const PolicySet& set) {
  std::string result;
  auto append = [&result](const YAML::Emitter& out) {
    absl::StrAppend(&result, result.empty() ? "" : "---\n", out.c_str(), "\n");
  };
  for (const DefaultPolicy& d : set.defaults) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    Metadata(out, "DefaultPolicy", d.name, d.namespace_name);
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap << YAML::Key << "default"
        << YAML::Value << (d.action == DefaultAction::kDeny ? "DENY" : "ALLOW_AUTHENTICATED")
        << YAML::EndMap << YAML::EndMap;
    append(out);
  }
  for (const AuthorizationPolicy& p : set.policies) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    Metadata(out, "AuthorizationPolicy", p.name, p.namespace_name);
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    if (!p.service_accounts.empty()) {
      out << YAML::Key << "selector" << YAML::Value << YAML::BeginMap << YAML::Key
          << "serviceAccounts" << YAML::Value << YAML::Flow << p.service_accounts << YAML::EndMap;
    }
    out << YAML::Key << "action" << YAML::Value << ActionName(p.action);
    out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
    for (const Rule& r : p.rules) {
      out << YAML::BeginMap;
      if (!r.from.empty()) {
        out << YAML::Key << "from" << YAML::Value << YAML::BeginSeq;
        for (const Source& s : r.from) SourceToYaml(out, s);
        out << YAML::EndSeq;
      }
      if (!r.ports.empty()) out << YAML::Key << "ports" << YAML::Value << YAML::Flow << r.ports;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
    append(out);
  }
  for (const TrafficPolicy& t : set.traffic) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    Metadata(out, "TrafficPolicy", t.name, t.namespace_name);
    out << YAML::Key << "spec" << YAML::Value;
    EmitTrafficSpec(out, t);
    out << YAML::EndMap;
    append(out);
  }
  return result;
}

}  // namespace tether::policy
