#include "common/policy/policy.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tether::policy {
namespace {

pki::SpiffeId Id(const char* s) { return *pki::SpiffeId::Parse(s); }
Peer From(const char* s) { return Peer{Id(s)}; }

constexpr char kPolicies[] = R"(
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-callers, namespace: shop}
spec:
  selector: {serviceAccounts: [cart]}
  action: ALLOW
  rules:
    - from:
        - spiffeId: spiffe://mesh.local/ns/shop/sa/frontend
        - namespace: checkout
      ports: [8080]
---
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: no-batch, namespace: shop}
spec:
  action: DENY
  rules:
    - from: [{spiffeId: spiffe://mesh.local/ns/checkout/sa/batch}]
---
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: watch, namespace: shop}
spec:
  action: AUDIT
  rules: [{from: [{trustDomain: mesh.local}]}]
---
apiVersion: tether.io/v1
kind: DefaultPolicy
metadata: {name: default, namespace: billing}
spec: {default: DENY}
)";

TEST(Policy, AllowRulesSelectTheirWorkloadAndPorts) {
  auto set = ParsePolicies(kPolicies, "policies.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  auto cart = CompiledPolicy::Compile(*set, Id("spiffe://mesh.local/ns/shop/sa/cart"));
  EXPECT_EQ(cart->policy_count(), 3u);
  Decision d = cart->Evaluate(From("spiffe://mesh.local/ns/shop/sa/frontend"), 8080);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.decided_by, "policy shop/cart-callers rule 0 (ALLOW)");
  EXPECT_EQ(d.audited_by, std::vector<std::string>{"policy shop/watch rule 0"});
  EXPECT_TRUE(cart->Evaluate(From("spiffe://mesh.local/ns/checkout/sa/web"), 8080).allowed);
  EXPECT_FALSE(cart->Evaluate(From("spiffe://mesh.local/ns/shop/sa/frontend"), 9090).allowed);
  Decision other = cart->Evaluate(From("spiffe://mesh.local/ns/shop/sa/other"), 8080);
  EXPECT_FALSE(other.allowed);
  EXPECT_TRUE(absl::StrContains(other.decided_by, "no ALLOW rule matches"));
  EXPECT_FALSE(cart->Evaluate(Peer{}, 8080).allowed);
}

TEST(Policy, DenyWinsOverAllow) {
  auto set = ParsePolicies(kPolicies, "p.yaml");
  auto cart = CompiledPolicy::Compile(*set, Id("spiffe://mesh.local/ns/shop/sa/cart"));
  Decision d = cart->Evaluate(From("spiffe://mesh.local/ns/checkout/sa/batch"), 8080);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.decided_by, "policy shop/no-batch rule 0 (DENY)");
}

TEST(Policy, DefaultsPerNamespaceThenMesh) {
  auto set = ParsePolicies(kPolicies, "p.yaml");
  // shop/db: no ALLOW policy selects it: the mesh default allows authenticated peers.
  auto db = CompiledPolicy::Compile(*set, Id("spiffe://mesh.local/ns/shop/sa/db"));
  EXPECT_TRUE(db->Evaluate(From("spiffe://mesh.local/ns/shop/sa/x"), 1).allowed);
  EXPECT_FALSE(db->Evaluate(Peer{}, 1).allowed);
  auto billing = CompiledPolicy::Compile(*set, Id("spiffe://mesh.local/ns/billing/sa/api"));
  Decision d = billing->Evaluate(From("spiffe://mesh.local/ns/shop/sa/x"), 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.decided_by, "DefaultPolicy billing/default: DENY");
}

TEST(Policy, UnauthenticatedSourceForPermissivePorts) {
  auto set = ParsePolicies(R"(
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: legacy, namespace: shop}
spec:
  rules: [{from: [{unauthenticated: true}, {authenticated: true}], ports: [80]}]
)",
                           "p.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  auto web = CompiledPolicy::Compile(*set, Id("spiffe://mesh.local/ns/shop/sa/web"));
  EXPECT_TRUE(web->Evaluate(Peer{}, 80).allowed);
  EXPECT_FALSE(web->Evaluate(Peer{}, 81).allowed);
}

TEST(Policy, ErrorsNameTheFileDocumentAndField) {
  struct Case {
    const char* yaml;
    const char* expect;
  } cases[] = {
      {"kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a, namespace: s}\n"
       "spec: {rules: [{ports: [80, 70000]}]}",
       "p.yaml: document 1 (s/a): spec.rules[0].ports[1]: 70000 is not a port"},
      {"kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a, namespace: s}\n"
       "spec: {action: PERMIT}",
       "spec.action: \"PERMIT\" is not ALLOW, DENY or AUDIT"},
      {"kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a, namespace: s}\n"
       "spec: {rules: [{from: [{spiffeId: 'spiffe://x/ns/a'}]}]}",
       "spec.rules[0].from[0].spiffeId"},
      {"kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a, namespace: s}\n"
       "spec: {rulez: []}",
       "spec.rulez: unknown field"},
      {"kind: Gateway\napiVersion: tether.io/v1\nmetadata: {name: a}", "\"Gateway\" is not"},
      {"kind: AuthorizationPolicy\napiVersion: v2\nmetadata: {name: a}", "apiVersion"},
      {"kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a}\nspec: {}",
       "needs a namespace"},
      {"a: [unclosed", "not valid YAML: line 1"},
      {"kind: DefaultPolicy\napiVersion: tether.io/v1\nmetadata: {name: a}\nspec: {default: X}\n",
       "spec.default"},
  };
  for (const auto& c : cases) {
    auto set = ParsePolicies(c.yaml, "p.yaml");
    ASSERT_FALSE(set.ok()) << c.yaml;
    EXPECT_TRUE(absl::StrContains(set.status().message(), c.expect))
        << set.status().message() << "\nexpected: " << c.expect;
  }
}

TEST(Policy, DuplicatesAndListsAndEmpty) {
  const char* dup =
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a, namespace: s}\n"
      "spec: {}\n---\n"
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a, namespace: s}\n"
      "spec: {}\n";
  EXPECT_TRUE(absl::StrContains(ParsePolicies(dup, "p").status().message(), "defined twice"));
  auto list = ParsePolicies(
      "kind: List\nitems:\n- kind: DefaultPolicy\n  apiVersion: tether.io/v1\n"
      "  metadata: {name: d}\n  spec: {default: DENY}\n",
      "p");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->defaults.size(), 1u);
  auto empty = ParsePolicies("", "p");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->policies.empty());
}

// A namespace's documents (a ConfigMap's) speak for that namespace only.
TEST(Policy, ScopedDocumentsDefineOnlyTheirNamespace) {
  const ParseOptions shop{.scope_namespace = "shop"};
  auto set = ParsePolicies(
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a}\nspec: {}\n---\n"
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: b, namespace: shop}\n"
      "spec: {}\n---\n"
      "kind: DefaultPolicy\napiVersion: tether.io/v1\nmetadata: {name: d}\nspec: {default: DENY}\n",
      "cm", shop);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->policies.size(), 2u);
  EXPECT_EQ(set->policies[0].namespace_name, "shop");  // omitted: the scope's
  EXPECT_EQ(set->policies[1].namespace_name, "shop");
  ASSERT_EQ(set->defaults.size(), 1u);
  EXPECT_EQ(set->defaults[0].namespace_name, "shop");  // not the mesh's

  auto other = ParsePolicies(
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a}\nspec: {}\n---\n"
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: v, namespace: bank}\n"
      "spec: {}\n",
      "configmap shop/p key a.yaml", shop);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message(),
            "configmap shop/p key a.yaml: document 2 (bank/v): metadata.namespace: \"bank\" is not "
            "shop: documents from namespace shop may only define policies of namespace shop");
  // Inside a List too.
  auto listed = ParsePolicies(
      "kind: List\nitems:\n- kind: DefaultPolicy\n  apiVersion: tether.io/v1\n"
      "  metadata: {name: d, namespace: bank}\n  spec: {default: ALLOW_AUTHENTICATED}\n",
      "cm", shop);
  EXPECT_TRUE(absl::StrContains(listed.status().message(), "(bank/d): metadata.namespace"))
      << listed.status();

  // The root namespace may set the mesh-wide default by omitting the namespace.
  const ParseOptions root{.scope_namespace = "tether-system", .scope_sets_mesh_default = true};
  auto mesh = ParsePolicies(
      "kind: DefaultPolicy\napiVersion: tether.io/v1\nmetadata: {name: mesh}\n"
      "spec: {default: DENY}\n---\n"
      "kind: DefaultPolicy\napiVersion: tether.io/v1\n"
      "metadata: {name: own, namespace: tether-system}\nspec: {default: DENY}\n---\n"
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: a}\nspec: {}\n",
      "cm", root);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  ASSERT_EQ(mesh->defaults.size(), 2u);
  EXPECT_EQ(mesh->defaults[0].namespace_name, "");
  EXPECT_EQ(mesh->defaults[1].namespace_name, "tether-system");
  EXPECT_EQ(mesh->policies[0].namespace_name, "tether-system");
}

TEST(Policy, AllowPolicyWithoutRulesDeniesEveryone) {
  auto set = ParsePolicies(
      "kind: AuthorizationPolicy\napiVersion: tether.io/v1\nmetadata: {name: lock, namespace: s}\n"
      "spec: {action: ALLOW}\n",
      "p");
  ASSERT_TRUE(set.ok());
  auto w = CompiledPolicy::Compile(*set, Id("spiffe://td/ns/s/sa/w"));
  EXPECT_FALSE(w->Evaluate(From("spiffe://td/ns/s/sa/x"), 1).allowed);
}

TEST(Policy, MalformedYamlThatYamlCppNeverFinishesIsRefused) {
  // yaml-cpp 0.7's LoadAll reads ",l" as empty documents forever (policy_fuzz).
  auto set = ParsePolicies(",l", "f.yaml");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(), "f.yaml: too many documents (more than 10000)");
}

}  // namespace
}  // namespace tether::policy
