#include "common/policy/policy.h"

#include <algorithm>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy/traffic_yaml.h"
#include "common/policy/yaml_util.h"

namespace tether::policy {
namespace {

constexpr size_t kMaxYamlBytes = 1 << 20;
constexpr size_t kMaxDocuments = 10000;

using internal::CheckKeys;
using internal::Ctx;
using internal::Str;

absl::StatusOr<Source> ParseSource(const YAML::Node& node, const Ctx& ctx, const std::string& f) {
  if (absl::Status st = CheckKeys(
          node, {"spiffeId", "namespace", "trustDomain", "authenticated", "unauthenticated"}, ctx,
          f);
      !st.ok()) {
    return st;
  }
  if (node.size() != 1) return ctx.Error(f, "name exactly one kind of source");
  const auto kv = *node.begin();
  const std::string key = kv.first.Scalar();
  const std::string field = absl::StrCat(f, ".", key);
  Source s;
  if (key == "authenticated" || key == "unauthenticated") {
    if (!kv.second.IsScalar() || kv.second.Scalar() != "true") {
      return ctx.Error(field, "must be true");
    }
    s.kind = key == "authenticated" ? Source::kAuthenticated : Source::kUnauthenticated;
    return s;
  }
  auto value = Str(kv.second, ctx, field);
  if (!value.ok()) return value.status();
  s.value = *value;
  if (key == "spiffeId") {
    auto id = pki::SpiffeId::Parse(s.value);
    if (!id.ok()) return ctx.Error(field, id.status().message());
    s.kind = Source::kSpiffeId;
    s.value = id->ToString();
  } else if (key == "namespace") {
    if (!pki::SpiffeId::Make("x", s.value, "x").ok()) {
      return ctx.Error(field, absl::StrCat("\"", s.value, "\" is not a valid namespace"));
    }
    s.kind = Source::kNamespace;
  } else {
    if (!pki::ValidTrustDomain(s.value)) {
      return ctx.Error(field, absl::StrCat("\"", s.value, "\" is not a valid trust domain"));
    }
    s.kind = Source::kTrustDomain;
  }
  return s;
}

absl::Status ParseAuthorization(const YAML::Node& doc, const Ctx& ctx, std::string name,
                                std::string ns, AuthorizationPolicy* out) {
  out->name = std::move(name);
  out->namespace_name = std::move(ns);
  if (out->namespace_name.empty()) {
    return ctx.Error("metadata.namespace", "an AuthorizationPolicy needs a namespace");
  }
  const YAML::Node spec = doc["spec"];
  if (!spec) return ctx.Error("spec", "missing");
  if (absl::Status st = CheckKeys(spec, {"selector", "action", "rules"}, ctx, "spec"); !st.ok()) {
    return st;
  }
  if (const YAML::Node sel = spec["selector"]) {
    if (absl::Status st = CheckKeys(sel, {"serviceAccounts"}, ctx, "spec.selector"); !st.ok()) {
      return st;
    }
    const YAML::Node sas = sel["serviceAccounts"];
    if (sas) {
      if (!sas.IsSequence()) return ctx.Error("spec.selector.serviceAccounts", "must be a list");
      for (size_t i = 0; i < sas.size(); ++i) {
        std::string field = absl::StrCat("spec.selector.serviceAccounts[", i, "]");
        auto sa = Str(sas[i], ctx, field);
        if (!sa.ok()) return sa.status();
        if (!pki::SpiffeId::Make("x", "x", *sa).ok()) {
          return ctx.Error(field, absl::StrCat("\"", *sa, "\" is not a valid service account"));
        }
        out->service_accounts.push_back(*sa);
      }
    }
  }
  auto action = spec["action"] ? Str(spec["action"], ctx, "spec.action")
                               : absl::StatusOr<std::string>("ALLOW");
  if (!action.ok()) return action.status();
  if (*action == "ALLOW") {
    out->action = Action::kAllow;
  } else if (*action == "DENY") {
    out->action = Action::kDeny;
  } else if (*action == "AUDIT") {
    out->action = Action::kAudit;
  } else {
    return ctx.Error("spec.action", absl::StrCat("\"", *action, "\" is not ALLOW, DENY or AUDIT"));
  }
  const YAML::Node rules = spec["rules"];
  if (!rules) {
    // No rules: the policy matches nothing (an ALLOW without rules denies all).
    return absl::OkStatus();
  }
  if (!rules.IsSequence()) return ctx.Error("spec.rules", "must be a list");
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string rf = absl::StrCat("spec.rules[", i, "]");
    if (absl::Status st = CheckKeys(rules[i], {"from", "ports"}, ctx, rf); !st.ok()) return st;
    Rule rule;
    if (const YAML::Node from = rules[i]["from"]) {
      if (!from.IsSequence()) return ctx.Error(rf + ".from", "must be a list");
      for (size_t j = 0; j < from.size(); ++j) {
        auto src = ParseSource(from[j], ctx, absl::StrCat(rf, ".from[", j, "]"));
        if (!src.ok()) return src.status();
        rule.from.push_back(*src);
      }
    }
    if (const YAML::Node ports = rules[i]["ports"]) {
      if (!ports.IsSequence()) return ctx.Error(rf + ".ports", "must be a list");
      for (size_t j = 0; j < ports.size(); ++j) {
        const std::string pf = absl::StrCat(rf, ".ports[", j, "]");
        int port = 0;
        if (!ports[j].IsScalar() || !YAML::convert<int>::decode(ports[j], port) || port < 1 ||
            port > 65535) {
          return ctx.Error(pf, absl::StrCat(ports[j].IsScalar() ? ports[j].Scalar() : "value",
                                            " is not a port"));
        }
        rule.ports.push_back(port);
      }
    }
    out->rules.push_back(std::move(rule));
  }
  return absl::OkStatus();
}

absl::Status ParseDefault(const YAML::Node& doc, const Ctx& ctx, std::string name, std::string ns,
                          DefaultPolicy* out) {
  out->name = std::move(name);
  out->namespace_name = std::move(ns);
  const YAML::Node spec = doc["spec"];
  if (!spec) return ctx.Error("spec", "missing");
  if (absl::Status st = CheckKeys(spec, {"default"}, ctx, "spec"); !st.ok()) return st;
  auto value =
      spec["default"] ? Str(spec["default"], ctx, "spec.default") : absl::StatusOr<std::string>("");
  if (!value.ok()) return value.status();
  if (*value == "ALLOW_AUTHENTICATED") {
    out->action = DefaultAction::kAllowAuthenticated;
  } else if (*value == "DENY") {
    out->action = DefaultAction::kDeny;
  } else {
    return ctx.Error("spec.default",
                     absl::StrCat("\"", *value, "\" is not ALLOW_AUTHENTICATED or DENY"));
  }
  return absl::OkStatus();
}

absl::Status ParseDocument(const YAML::Node& doc, absl::string_view origin, size_t index,
                           const ParseOptions& options, PolicySet* set) {
  Ctx top(absl::StrCat(origin, ": document ", index + 1));
  if (doc.IsNull()) return absl::OkStatus();
  if (absl::Status st =
          CheckKeys(doc, {"apiVersion", "kind", "metadata", "spec", "items"}, top, "");
      !st.ok()) {
    return st;
  }
  auto kind = doc["kind"] ? Str(doc["kind"], top, "kind") : top.Error("kind", "missing");
  if (!kind.ok()) return kind.status();
  if (*kind == "List") {
    const YAML::Node items = doc["items"];
    if (!items || !items.IsSequence()) return top.Error("items", "must be a list");
    for (size_t i = 0; i < items.size(); ++i) {
      if (absl::Status st =
              ParseDocument(items[i], absl::StrCat(origin, ": item"), i, options, set);
          !st.ok()) {
        return st;
      }
    }
    return absl::OkStatus();
  }
  auto api = doc["apiVersion"] ? Str(doc["apiVersion"], top, "apiVersion")
                               : top.Error("apiVersion", "missing");
  if (!api.ok()) return api.status();
  if (*api != "tether.io/v1") {
    return top.Error("apiVersion", absl::StrCat("\"", *api, "\" is not tether.io/v1"));
  }
  const YAML::Node meta = doc["metadata"];
  if (!meta) return top.Error("metadata", "missing");
  if (absl::Status st =
          CheckKeys(meta, {"name", "namespace", "labels", "annotations"}, top, "metadata");
      !st.ok()) {
    return st;
  }
  auto name = meta["name"] ? Str(meta["name"], top, "metadata.name")
                           : top.Error("metadata.name", "missing");
  if (!name.ok()) return name.status();
  std::string ns;
  if (meta["namespace"]) {
    auto n = Str(meta["namespace"], top, "metadata.namespace");
    if (!n.ok()) return n.status();
    ns = *n;
    if (!ns.empty() && !pki::SpiffeId::Make("x", ns, "x").ok()) {
      return top.Error("metadata.namespace", absl::StrCat("\"", ns, "\" is not a valid namespace"));
    }
  }
  Ctx ctx(
      absl::StrCat(origin, ": document ", index + 1, " (", ns.empty() ? "" : ns + "/", *name, ")"));
  const std::string& scope = options.scope_namespace;
  if (!scope.empty()) {
    if (!ns.empty() && ns != scope) {
      return ctx.Error("metadata.namespace",
                       absl::StrCat("\"", ns, "\" is not ", scope, ": documents from namespace ",
                                    scope, " may only define policies of namespace ", scope));
    }
    if (ns.empty() && !(*kind == "DefaultPolicy" && options.scope_sets_mesh_default)) {
      ns = scope;
      ctx = Ctx(absl::StrCat(origin, ": document ", index + 1, " (", ns, "/", *name, ")"));
    }
  }
  if (*kind == "AuthorizationPolicy") {
    AuthorizationPolicy p;
    if (absl::Status st = ParseAuthorization(doc, ctx, *name, ns, &p); !st.ok()) return st;
    for (const auto& other : set->policies) {
      if (other.name == p.name && other.namespace_name == p.namespace_name) {
        return ctx.Error("metadata.name", "defined twice");
      }
    }
    set->policies.push_back(std::move(p));
  } else if (*kind == "DefaultPolicy") {
    DefaultPolicy d;
    if (absl::Status st = ParseDefault(doc, ctx, *name, ns, &d); !st.ok()) return st;
    for (const auto& other : set->defaults) {
      if (other.namespace_name == d.namespace_name) {
        return ctx.Error("kind", absl::StrCat("a second DefaultPolicy for ",
                                              ns.empty() ? "the mesh" : "namespace " + ns));
      }
    }
    set->defaults.push_back(std::move(d));
  } else if (*kind == "TrafficPolicy") {
    TrafficPolicy t;
    if (absl::Status st = ParseTrafficPolicy(doc, ctx, *name, ns, &t); !st.ok()) return st;
    for (const auto& other : set->traffic) {
      if (other.name == t.name && other.namespace_name == t.namespace_name) {
        return ctx.Error("metadata.name", "defined twice");
      }
    }
    set->traffic.push_back(std::move(t));
  } else {
    return top.Error("kind", absl::StrCat("\"", *kind,
                                          "\" is not AuthorizationPolicy, DefaultPolicy or "
                                          "TrafficPolicy"));
  }
  return absl::OkStatus();
}

bool SourceMatches(const Source& s, const Peer& peer) {
  switch (s.kind) {
    case Source::kUnauthenticated:
      return !peer.id.has_value();
    case Source::kAuthenticated:
      return peer.id.has_value();
    case Source::kSpiffeId:
      return peer.id && peer.id->ToString() == s.value;
    case Source::kNamespace:
      return peer.id && peer.id->namespace_name == s.value;
    case Source::kTrustDomain:
      return peer.id && peer.id->trust_domain == s.value;
  }
  return false;
}

bool RuleMatches(const Rule& r, const Peer& peer, int port) {
  if (!r.ports.empty() && std::find(r.ports.begin(), r.ports.end(), port) == r.ports.end()) {
    return false;
  }
  if (r.from.empty()) return true;
  for (const Source& s : r.from) {
    if (SourceMatches(s, peer)) return true;
  }
  return false;
}

// FirstMatch returns the index of the first matching rule, or -1.
int FirstMatch(const AuthorizationPolicy& p, const Peer& peer, int port) {
  for (size_t i = 0; i < p.rules.size(); ++i) {
    if (RuleMatches(p.rules[i], peer, port)) return static_cast<int>(i);
  }
  return -1;
}

std::string Label(const AuthorizationPolicy& p, int rule) {
  return absl::StrCat("policy ", p.namespace_name, "/", p.name, " rule ", rule);
}

// CountDocuments: how many documents `yaml` holds, counting no further than
// `limit` + 1. yaml-cpp 0.7's LoadAll never ends on some malformed input
// (",l" is an empty document forever, found by policy_fuzz), so documents
// are counted with a handler that keeps nothing before LoadAll builds them.
// May throw YAML exceptions.
size_t CountDocuments(const std::string& yaml, size_t limit) {
  class Ignore final : public YAML::EventHandler {
   public:
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  };
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  Ignore handler;
  size_t count = 0;
  while (count <= limit && parser.HandleNextDocument(handler)) ++count;
  return count;
}

}  // namespace

absl::StatusOr<PolicySet> ParsePolicies(absl::string_view yaml, absl::string_view origin,
                                        const ParseOptions& options) {
  if (yaml.size() > kMaxYamlBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": larger than ", kMaxYamlBytes, " bytes"));
  }
  PolicySet set;
  try {
    const std::string text(yaml);
    if (CountDocuments(text, kMaxDocuments) > kMaxDocuments) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": too many documents (more than ", kMaxDocuments, ")"));
    }
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    for (size_t i = 0; i < docs.size(); ++i) {
      if (absl::Status st = ParseDocument(docs[i], origin, i, options, &set); !st.ok()) return st;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": not valid YAML: line ", e.mark.line + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", e.what()));
  }
  return set;
}

std::shared_ptr<const CompiledPolicy> CompiledPolicy::Compile(const PolicySet& set,
                                                              const pki::SpiffeId& workload) {
  auto out = std::make_shared<CompiledPolicy>();
  for (const auto& p : set.policies) {
    if (p.namespace_name != workload.namespace_name) continue;
    if (!p.service_accounts.empty() &&
        std::find(p.service_accounts.begin(), p.service_accounts.end(), workload.service_account) ==
            p.service_accounts.end()) {
      continue;
    }
    out->policies_.push_back(p);
  }
  for (const auto& d : set.defaults) {
    if (d.namespace_name.empty() && out->default_origin_ == "mesh default") {
      out->default_ = d.action;
      out->default_origin_ = absl::StrCat("mesh DefaultPolicy ", d.name);
    }
  }
  for (const auto& d : set.defaults) {
    if (d.namespace_name == workload.namespace_name) {
      out->default_ = d.action;
      out->default_origin_ = absl::StrCat("DefaultPolicy ", d.namespace_name, "/", d.name);
    }
  }
  return out;
}

Decision CompiledPolicy::Evaluate(const Peer& peer, int port) const {
  Decision d;
  for (const auto& p : policies_) {
    if (p.action != Action::kAudit) continue;
    if (int r = FirstMatch(p, peer, port); r >= 0) d.audited_by.push_back(Label(p, r));
  }
  for (const auto& p : policies_) {
    if (p.action != Action::kDeny) continue;
    if (int r = FirstMatch(p, peer, port); r >= 0) {
      d.allowed = false;
      d.decided_by = Label(p, r) + " (DENY)";
      return d;
    }
  }
  bool any_allow = false;
  for (const auto& p : policies_) {
    if (p.action != Action::kAllow) continue;
    any_allow = true;
    if (int r = FirstMatch(p, peer, port); r >= 0) {
      d.allowed = true;
      d.decided_by = Label(p, r) + " (ALLOW)";
      return d;
    }
  }
  if (any_allow) {
    d.allowed = false;
    d.decided_by = "no ALLOW rule matches (ALLOW policies select this workload)";
    return d;
  }
  if (default_ == DefaultAction::kDeny) {
    d.allowed = false;
    d.decided_by = default_origin_ + ": DENY";
  } else {
    d.allowed = peer.id.has_value();
    d.decided_by = default_origin_ + ": ALLOW_AUTHENTICATED";
  }
  return d;
}

std::string Describe(const Decision& d) {
  std::string out = absl::StrCat(d.allowed ? "allowed" : "denied", " by ", d.decided_by);
  if (!d.audited_by.empty())
    absl::StrAppend(&out, "; audited by ", absl::StrJoin(d.audited_by, ", "));
  return out;
}

}  // namespace tether::policy
