#include "common/policy/traffic_yaml.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/policy/traffic_check.h"

namespace tether::policy {
namespace {

using internal::CheckKeys;
using internal::Ctx;
using internal::Str;

absl::StatusOr<int> Int(const YAML::Node& node, const Ctx& ctx, const std::string& field) {
  auto text = Str(node, ctx, field);
  if (!text.ok()) return text.status();
  int value = 0;
  if (!absl::SimpleAtoi(*text, &value)) {
    return ctx.Error(field, absl::StrCat("\"", *text, "\" is not a whole number"));
  }
  return value;
}

absl::StatusOr<bool> Bool(const YAML::Node& node, const Ctx& ctx, const std::string& field) {
  auto text = Str(node, ctx, field);
  if (!text.ok()) return text.status();
  if (*text == "true") return true;
  if (*text == "false") return false;
  return ctx.Error(field, absl::StrCat("\"", *text, "\" is not true or false"));
}

// Duration: absl::ParseDuration's syntax, above 0 (the range is CheckTrafficPolicy's).
absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, const Ctx& ctx,
                                        const std::string& field) {
  auto text = Str(node, ctx, field);
  if (!text.ok()) return text.status();
  absl::Duration d;
  if (!absl::ParseDuration(*text, &d) || d == absl::InfiniteDuration() ||
      d == -absl::InfiniteDuration()) {
    return ctx.Error(field, absl::StrCat("\"", *text, "\" is not a duration (e.g. 500ms, 2s, 1m)"));
  }
  if (d <= absl::ZeroDuration()) {
    return ctx.Error(field, absl::StrCat("\"", *text, "\" must be more than 0 (omit it for none)"));
  }
  return d;
}

absl::Status ParseConditions(const YAML::Node& node, const Ctx& ctx, const std::string& f,
                             RetryConditions* out) {
  if (!node.IsSequence()) return ctx.Error(f, "must be a list");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string field = absl::StrCat(f, "[", i, "]");
    auto word = Str(node[i], ctx, field);
    if (!word.ok()) return word.status();
    bool* flag = *word == "5xx"               ? &out->status_5xx
                 : *word == "gateway-error"   ? &out->gateway_errors
                 : *word == "connect-failure" ? &out->connect_failure
                 : *word == "reset"           ? &out->reset
                                              : nullptr;
    if (flag != nullptr) {
      if (*flag) return ctx.Error(field, absl::StrCat(*word, " is listed twice"));
      *flag = true;
      continue;
    }
    int status = 0;
    if (word->size() != 3 || !absl::SimpleAtoi(*word, &status) || status < 100 || status > 599) {
      return ctx.Error(field, absl::StrCat("\"", *word,
                                           "\" is not 5xx, gateway-error, connect-failure, reset "
                                           "or a status code (100-599)"));
    }
    if (std::find(out->statuses.begin(), out->statuses.end(), status) != out->statuses.end()) {
      return ctx.Error(field, absl::StrCat(status, " is listed twice"));
    }
    out->statuses.push_back(status);
  }
  return absl::OkStatus();
}

absl::Status ParseRetry(const YAML::Node& node, const Ctx& ctx, const std::string& f,
                        RetryPolicy* out) {
  if (absl::Status st =
          CheckKeys(node, {"attempts", "on", "perTryTimeout", "nonIdempotent"}, ctx, f);
      !st.ok()) {
    return st;
  }
  if (!node["attempts"]) return ctx.Error(f + ".attempts", "missing");
  auto attempts = Int(node["attempts"], ctx, f + ".attempts");
  if (!attempts.ok()) return attempts.status();
  out->attempts = *attempts;
  if (const YAML::Node on = node["on"]) {
    if (absl::Status st = ParseConditions(on, ctx, f + ".on", &out->on); !st.ok()) return st;
  }
  if (const YAML::Node t = node["perTryTimeout"]) {
    auto d = Duration(t, ctx, f + ".perTryTimeout");
    if (!d.ok()) return d.status();
    out->per_try_timeout = *d;
  }
  if (const YAML::Node n = node["nonIdempotent"]) {
    auto b = Bool(n, ctx, f + ".nonIdempotent");
    if (!b.ok()) return b.status();
    out->non_idempotent = *b;
  }
  return absl::OkStatus();
}

absl::Status ParseBudget(const YAML::Node& node, const Ctx& ctx, RetryBudget* out) {
  const std::string f = "spec.retryBudget";
  if (absl::Status st = CheckKeys(node, {"ratio", "minPerSecond", "ttl"}, ctx, f); !st.ok()) {
    return st;
  }
  if (const YAML::Node r = node["ratio"]) {
    auto text = Str(r, ctx, f + ".ratio");
    if (!text.ok()) return text.status();
    if (!absl::SimpleAtod(*text, &out->ratio)) {
      return ctx.Error(f + ".ratio", absl::StrCat("\"", *text, "\" is not a number (e.g. 0.2)"));
    }
  }
  if (const YAML::Node m = node["minPerSecond"]) {
    auto n = Int(m, ctx, f + ".minPerSecond");
    if (!n.ok()) return n.status();
    out->min_per_second = *n;
  }
  if (const YAML::Node t = node["ttl"]) {
    auto d = Duration(t, ctx, f + ".ttl");
    if (!d.ok()) return d.status();
    out->ttl = *d;
  }
  return absl::OkStatus();
}

absl::Status ParseRoute(const YAML::Node& node, const Ctx& ctx, const std::string& f,
                        TrafficRoute* out) {
  if (absl::Status st = CheckKeys(node, {"match", "timeout", "retry"}, ctx, f); !st.ok()) {
    return st;
  }
  if (const YAML::Node m = node["match"]) {
    const std::string mf = f + ".match";
    if (absl::Status st = CheckKeys(m, {"method", "pathPrefix", "path"}, ctx, mf); !st.ok()) {
      return st;
    }
    std::pair<const char*, std::string*> fields[] = {{"method", &out->match.method},
                                                     {"pathPrefix", &out->match.path_prefix},
                                                     {"path", &out->match.path}};
    for (auto& [key, value] : fields) {
      if (!m[key]) continue;
      auto text = Str(m[key], ctx, absl::StrCat(mf, ".", key));
      if (!text.ok()) return text.status();
      if (text->empty()) return ctx.Error(absl::StrCat(mf, ".", key), "empty (omit it for any)");
      *value = *std::move(text);
    }
  }
  if (const YAML::Node t = node["timeout"]) {
    auto d = Duration(t, ctx, f + ".timeout");
    if (!d.ok()) return d.status();
    out->has_timeout = true;
    out->behaviour.timeout = *d;
  }
  if (const YAML::Node r = node["retry"]) {
    if (absl::Status st = ParseRetry(r, ctx, f + ".retry", &out->behaviour.retry); !st.ok()) {
      return st;
    }
    out->has_retry = true;
  }
  return absl::OkStatus();
}

void EmitRetry(YAML::Emitter& out, const RetryPolicy& r) {
  out << YAML::BeginMap;
  out << YAML::Key << "attempts" << YAML::Value << r.attempts;
  std::vector<std::string> on;
  if (r.on.connect_failure) on.push_back("connect-failure");
  if (r.on.reset) on.push_back("reset");
  if (r.on.status_5xx) on.push_back("5xx");
  if (r.on.gateway_errors) on.push_back("gateway-error");
  for (int s : r.on.statuses) on.push_back(absl::StrCat(s));
  if (!on.empty()) out << YAML::Key << "on" << YAML::Value << YAML::Flow << on;
  if (r.per_try_timeout != absl::ZeroDuration()) {
    out << YAML::Key << "perTryTimeout" << YAML::Value << absl::FormatDuration(r.per_try_timeout);
  }
  if (r.non_idempotent) out << YAML::Key << "nonIdempotent" << YAML::Value << true;
  out << YAML::EndMap;
}

bool IsDefault(const RetryPolicy& r) {
  return r.attempts == 0 && !r.on.connect_failure && !r.on.reset && !r.on.status_5xx &&
         !r.on.gateway_errors && r.on.statuses.empty() &&
         r.per_try_timeout == absl::ZeroDuration() && !r.non_idempotent;
}

}  // namespace

absl::Status ParseTrafficPolicy(const YAML::Node& doc, const Ctx& ctx, std::string name,
                                std::string ns, TrafficPolicy* out) {
  out->name = std::move(name);
  out->namespace_name = std::move(ns);
  if (out->namespace_name.empty()) {
    return ctx.Error("metadata.namespace", "a TrafficPolicy needs a namespace");
  }
  const YAML::Node spec = doc["spec"];
  if (!spec) return ctx.Error("spec", "missing");
  if (absl::Status st = CheckKeys(
          spec, {"destination", "timeout", "retry", "retryBudget", "routes"}, ctx, "spec");
      !st.ok()) {
    return st;
  }
  const YAML::Node dest = spec["destination"];
  if (!dest) return ctx.Error("spec.destination", "missing");
  if (absl::Status st = CheckKeys(dest, {"serviceAccount", "port"}, ctx, "spec.destination");
      !st.ok()) {
    return st;
  }
  if (!dest["serviceAccount"]) return ctx.Error("spec.destination.serviceAccount", "missing");
  auto sa = Str(dest["serviceAccount"], ctx, "spec.destination.serviceAccount");
  if (!sa.ok()) return sa.status();
  out->service_account = *sa;
  if (const YAML::Node port = dest["port"]) {
    int p = 0;
    if (!port.IsScalar() || !absl::SimpleAtoi(port.Scalar(), &p) || p < 1 || p > 65535) {
      return ctx.Error("spec.destination.port",
                       absl::StrCat(port.IsScalar() ? port.Scalar() : "value", " is not a port"));
    }
    out->port = p;
  }
  if (const YAML::Node t = spec["timeout"]) {
    auto d = Duration(t, ctx, "spec.timeout");
    if (!d.ok()) return d.status();
    out->behaviour.timeout = *d;
  }
  if (const YAML::Node r = spec["retry"]) {
    if (absl::Status st = ParseRetry(r, ctx, "spec.retry", &out->behaviour.retry); !st.ok()) {
      return st;
    }
  }
  if (const YAML::Node b = spec["retryBudget"]) {
    if (absl::Status st = ParseBudget(b, ctx, &out->budget); !st.ok()) return st;
  }
  if (const YAML::Node routes = spec["routes"]) {
    if (!routes.IsSequence()) return ctx.Error("spec.routes", "must be a list");
    if (routes.size() > kMaxTrafficRoutes) {
      return ctx.Error("spec.routes",
                       absl::StrCat(routes.size(), " routes, more than ", kMaxTrafficRoutes));
    }
    for (size_t i = 0; i < routes.size(); ++i) {
      TrafficRoute route;
      if (absl::Status st =
              ParseRoute(routes[i], ctx, absl::StrCat("spec.routes[", i, "]"), &route);
          !st.ok()) {
        return st;
      }
      out->routes.push_back(std::move(route));
    }
  }
  return CheckTrafficPolicy(*out, ctx.where());
}

std::string FormatRatio(double ratio) {
  for (int precision = 1; precision < 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, ratio);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == ratio) return text;
  }
  return absl::StrFormat("%.17g", ratio);
}

void EmitTrafficSpec(YAML::Emitter& out, const TrafficPolicy& p) {
  out << YAML::BeginMap;
  out << YAML::Key << "destination" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "serviceAccount" << YAML::Value << p.service_account;
  if (p.port != 0) out << YAML::Key << "port" << YAML::Value << p.port;
  out << YAML::EndMap;
  if (p.behaviour.timeout != absl::ZeroDuration()) {
    out << YAML::Key << "timeout" << YAML::Value << absl::FormatDuration(p.behaviour.timeout);
  }
  if (!IsDefault(p.behaviour.retry)) {
    out << YAML::Key << "retry" << YAML::Value;
    EmitRetry(out, p.behaviour.retry);
  }
  out << YAML::Key << "retryBudget" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "ratio" << YAML::Value << FormatRatio(p.budget.ratio);
  out << YAML::Key << "minPerSecond" << YAML::Value << p.budget.min_per_second;
  out << YAML::Key << "ttl" << YAML::Value << absl::FormatDuration(p.budget.ttl);
  out << YAML::EndMap;
  if (!p.routes.empty()) {
    out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
    for (const TrafficRoute& r : p.routes) {
      out << YAML::BeginMap;
      out << YAML::Key << "match" << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (!r.match.method.empty()) out << YAML::Key << "method" << YAML::Value << r.match.method;
      if (!r.match.path_prefix.empty()) {
        out << YAML::Key << "pathPrefix" << YAML::Value << r.match.path_prefix;
      }
      if (!r.match.path.empty()) out << YAML::Key << "path" << YAML::Value << r.match.path;
      out << YAML::EndMap;
      if (r.has_timeout) {
        out << YAML::Key << "timeout" << YAML::Value << absl::FormatDuration(r.behaviour.timeout);
      }
      if (r.has_retry) {
        out << YAML::Key << "retry" << YAML::Value;
        EmitRetry(out, r.behaviour.retry);
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

}  // namespace tether::policy
