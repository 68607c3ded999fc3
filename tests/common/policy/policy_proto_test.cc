#include "common/policy/policy_proto.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tether::policy {
namespace {

constexpr char kYaml[] = R"(
apiVersion: tether.io/v1
kind: DefaultPolicy
metadata: {name: mesh-default}
spec: {default: DENY}
---
apiVersion: tether.io/v1
kind: DefaultPolicy
metadata: {name: shop-default, namespace: shop}
spec: {default: ALLOW_AUTHENTICATED}
---
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: cart-callers, namespace: shop}
spec:
  selector: {serviceAccounts: [cart, cart-v2]}
  action: ALLOW
  rules:
    - from:
        - spiffeId: spiffe://mesh.local/ns/shop/sa/frontend
        - namespace: checkout
        - trustDomain: partner.example
      ports: [8080, 9090]
    - from: [{authenticated: true}]
    - ports: [15020]
---
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: no-plaintext, namespace: shop}
spec:
  action: DENY
  rules: [{from: [{unauthenticated: true}]}]
---
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: watch, namespace: billing}
spec:
  action: AUDIT
  rules: [{}]
)";

PolicySet Parsed() {
  auto set = ParsePolicies(kYaml, "test.yaml");
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : PolicySet{};
}

TEST(PolicyProto, RoundTripsThroughTheApiMessages) {
  const PolicySet set = Parsed();
  auto back = FromProto(ToProto(set));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToYaml(*back), ToYaml(set));
  EXPECT_EQ(back->policies.size(), 3u);
  EXPECT_EQ(back->defaults.size(), 2u);
  EXPECT_EQ(back->policies[0].rules[0].from[2].kind, Source::kTrustDomain);
  EXPECT_EQ(back->policies[0].rules[0].ports, (std::vector<int>{8080, 9090}));
}

TEST(PolicyProto, YamlRendersBackToTheSameSet) {
  const PolicySet set = Parsed();
  const std::string yaml = ToYaml(set);
  auto again = ParsePolicies(yaml, "rendered");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << yaml;
  EXPECT_EQ(ToYaml(*again), yaml);
  // Same decisions as the original.
  const auto id = *pki::SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/cart");
  Peer frontend{*pki::SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/frontend")};
  Peer plaintext;
  for (int port : {8080, 15020, 22}) {
    EXPECT_EQ(Describe(CompiledPolicy::Compile(set, id)->Evaluate(frontend, port)),
              Describe(CompiledPolicy::Compile(*again, id)->Evaluate(frontend, port)));
    EXPECT_EQ(Describe(CompiledPolicy::Compile(set, id)->Evaluate(plaintext, port)),
              Describe(CompiledPolicy::Compile(*again, id)->Evaluate(plaintext, port)));
  }
}

TEST(PolicyProto, SelectForKeepsWhatTheWorkloadNeeds) {
  const PolicySet set = Parsed();
  PolicySet cart = SelectFor(set, *pki::SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/cart"));
  ASSERT_EQ(cart.policies.size(), 2u);  // cart-callers (selects cart) and no-plaintext (all)
  EXPECT_EQ(cart.defaults.size(), 2u);  // the mesh's and shop's
  PolicySet web = SelectFor(set, *pki::SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/web"));
  ASSERT_EQ(web.policies.size(), 1u);
  EXPECT_EQ(web.policies[0].name, "no-plaintext");
  PolicySet billing = SelectFor(set, *pki::SpiffeId::Parse("spiffe://mesh.local/ns/billing/sa/x"));
  EXPECT_EQ(billing.policies.size(), 1u);
  EXPECT_EQ(billing.defaults.size(), 1u);  // only the mesh's
  // Selection does not change a decision.
  const auto id = *pki::SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/cart");
  Peer other{*pki::SpiffeId::Parse("spiffe://other.org/ns/x/sa/y")};
  EXPECT_EQ(Describe(CompiledPolicy::Compile(set, id)->Evaluate(other, 8080)),
            Describe(CompiledPolicy::Compile(cart, id)->Evaluate(other, 8080)));
}

// Each mutation of a valid message must be refused with the field named.
struct BadCase {
  const char* name;
  void (*mutate)(tether::policy::v1::PolicySnapshot&);
  const char* expect;
};

TEST(PolicyProto, RefusesInvalidMessagesNamingTheField) {
  const BadCase cases[] = {
      {"port 0", [](auto& m) { m.mutable_policies(0)->mutable_rules(0)->set_ports(0, 0); },
       "spec.rules[0].ports[0]: 0 is not a port"},
      {"port too big", [](auto& m) { m.mutable_policies(0)->mutable_rules(0)->add_ports(70000); },
       "70000 is not a port"},
      {"bad spiffe id",
       [](auto& m) {
         m.mutable_policies(0)->mutable_rules(0)->mutable_from(0)->set_spiffe_id("x");
       },
       "spec.rules[0].from[0].spiffeId"},
      {"empty source", [](auto& m) { m.mutable_policies(0)->mutable_rules(0)->add_from(); },
       "no kind of source set"},
      {"authenticated false",
       [](auto& m) {
         m.mutable_policies(0)->mutable_rules(0)->mutable_from(0)->set_authenticated(false);
       },
       "must be true"},
      {"bad namespace source",
       [](auto& m) {
         m.mutable_policies(0)->mutable_rules(0)->mutable_from(0)->set_namespace_("Not/Valid");
       },
       "from[0].namespace"},
      {"bad trust domain",
       [](auto& m) {
         m.mutable_policies(0)->mutable_rules(0)->mutable_from(0)->set_trust_domain("a b");
       },
       "from[0].trustDomain"},
      {"no action",
       [](auto& m) { m.mutable_policies(0)->set_action(tether::policy::v1::ACTION_UNSPECIFIED); },
       "spec.action"},
      {"no namespace", [](auto& m) { m.mutable_policies(0)->clear_namespace_(); },
       "metadata.namespace"},
      {"no name", [](auto& m) { m.mutable_policies(0)->clear_name(); }, "metadata.name"},
      {"bad service account", [](auto& m) { m.mutable_policies(0)->add_service_accounts("a/b"); },
       "spec.selector.serviceAccounts[2]"},
      {"duplicate policy", [](auto& m) { *m.add_policies() = m.policies(0); }, "defined twice"},
      {"duplicate default", [](auto& m) { *m.add_defaults() = m.defaults(0); },
       "a second DefaultPolicy"},
      {"default without action",
       [](auto& m) {
         m.mutable_defaults(0)->set_action(tether::policy::v1::DEFAULT_ACTION_UNSPECIFIED);
       },
       "spec.default"},
  };
  const tether::policy::v1::PolicySnapshot good = ToProto(Parsed());
  ASSERT_TRUE(FromProto(good).ok());
  for (const BadCase& c : cases) {
    tether::policy::v1::PolicySnapshot msg = good;
    c.mutate(msg);
    auto set = FromProto(msg);
    ASSERT_FALSE(set.ok()) << c.name;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_TRUE(absl::StrContains(set.status().message(), c.expect))
        << c.name << ": " << set.status();
  }
}

}  // namespace
}  // namespace tether::policy
