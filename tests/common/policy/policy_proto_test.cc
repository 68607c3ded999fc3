#include "common/policy/policy_proto.h"

#include <cmath>
#include <cstdint>

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
---
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: vault, namespace: bank}
spec: {destination: {serviceAccount: vault}}
---
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: cart, namespace: shop}
spec:
  destination: {serviceAccount: cart, port: 8080}
  timeout: 2.5s
  retry: {attempts: 3, on: [connect-failure, reset, 5xx, gateway-error, 429],
          perTryTimeout: 1m0.001s, nonIdempotent: true}
  retryBudget: {ratio: 0.1, minPerSecond: 0, ttl: 1h}
  routes:
    - match: {method: M-SEARCH, pathPrefix: "/a:b*&"}
      timeout: 1ms
    - match: {path: /x}
      retry: {attempts: 0}
    - {}
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
  ASSERT_EQ(back->traffic.size(), 2u);
  const TrafficPolicy& cart = back->traffic[1];
  EXPECT_EQ(cart.port, 8080);
  EXPECT_EQ(cart.behaviour.timeout, absl::Milliseconds(2500));
  EXPECT_EQ(cart.behaviour.retry.attempts, 3);
  EXPECT_EQ(cart.behaviour.retry.on.statuses, std::vector<int>{429});
  EXPECT_EQ(cart.behaviour.retry.per_try_timeout, absl::Milliseconds(60001));
  EXPECT_DOUBLE_EQ(cart.budget.ratio, 0.1);
  EXPECT_EQ(cart.budget.ttl, absl::Hours(1));
  ASSERT_EQ(cart.routes.size(), 3u);
  EXPECT_TRUE(cart.routes[0].has_timeout);
  EXPECT_FALSE(cart.routes[0].has_retry);
  EXPECT_FALSE(cart.routes[1].has_timeout);
  EXPECT_TRUE(cart.routes[1].has_retry);
  EXPECT_EQ(cart.routes[0].match.path_prefix, "/a:b*&");
  // Defaults survive: a budget left out is the default one.
  EXPECT_EQ(back->traffic[0].budget.ttl, absl::Seconds(10));
  EXPECT_DOUBLE_EQ(back->traffic[0].budget.ratio, 0.2);
}

TEST(PolicyProto, AnAbsentBudgetIsTheDefaultOne) {
  tether::policy::v1::PolicySnapshot msg;
  auto* t = msg.add_traffic_policies();
  t->set_name("cart");
  t->set_namespace_("shop");
  t->set_service_account("cart");
  auto set = FromProto(msg);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->traffic[0].budget.min_per_second, 10);
  EXPECT_EQ(set->traffic[0].budget.ttl, absl::Seconds(10));
  EXPECT_EQ(set->traffic[0].behaviour.retry.attempts, 0);
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
  // Every TrafficPolicy, whatever the workload, sorted by namespace/name.
  for (const PolicySet* s : {&cart, &web, &billing}) {
    ASSERT_EQ(s->traffic.size(), 2u);
    EXPECT_EQ(s->traffic[0].namespace_name, "bank");
    EXPECT_EQ(s->traffic[1].namespace_name, "shop");
  }
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
      {"traffic without namespace",
       [](auto& m) { m.mutable_traffic_policies(1)->clear_namespace_(); },
       "TrafficPolicy /cart: metadata.namespace: a TrafficPolicy needs a namespace"},
      {"traffic bad name", [](auto& m) { m.mutable_traffic_policies(1)->set_name("A/B"); },
       "metadata.name: \"A/B\" is not a valid name"},
      {"traffic without service account",
       [](auto& m) { m.mutable_traffic_policies(1)->clear_service_account(); },
       "spec.destination.serviceAccount: missing"},
      {"traffic bad port", [](auto& m) { m.mutable_traffic_policies(1)->set_port(65536); },
       "spec.destination.port: 65536 is not a port"},
      {"traffic negative timeout",
       [](auto& m) { m.mutable_traffic_policies(1)->set_timeout_ms(-1); },
       "spec.timeout: out of range"},
      {"traffic huge timeout",
       [](auto& m) { m.mutable_traffic_policies(1)->set_timeout_ms(int64_t{1} << 62); },
       "spec.timeout: out of range"},
      {"traffic timeout over an hour",
       [](auto& m) { m.mutable_traffic_policies(1)->set_timeout_ms(3600001); },
       "spec.timeout: 1h0.001s is more than 1h"},
      {"traffic attempts",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry()->set_attempts(11); },
       "TrafficPolicy shop/cart: spec.retry.attempts: 11 is more than 10"},
      {"traffic no conditions",
       [](auto& m) {
         auto* r = m.mutable_traffic_policies(1)->mutable_retry();
         *r = tether::policy::v1::RetryPolicy();
         r->set_attempts(1);
       },
       "spec.retry.on: missing"},
      {"traffic status",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry()->add_statuses(99); },
       "spec.retry.on[1]: 99 is not an HTTP status (100-599)"},
      {"traffic status twice",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry()->add_statuses(429); },
       "429 is listed twice"},
      {"traffic per-try",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry()->set_per_try_timeout_ms(-5); },
       "spec.retry.perTryTimeout: out of range"},
      {"traffic ratio",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry_budget()->set_ratio(1.01); },
       "spec.retryBudget.ratio: 1.01 is not between 0 and 1"},
      {"traffic ratio nan",
       [](auto& m) {
         m.mutable_traffic_policies(1)->mutable_retry_budget()->set_ratio(std::nan(""));
       },
       "spec.retryBudget.ratio"},
      {"traffic min per second",
       [](auto& m) {
         m.mutable_traffic_policies(1)->mutable_retry_budget()->set_min_per_second(10001);
       },
       "spec.retryBudget.minPerSecond: 10001 is not 0-10000"},
      {"traffic ttl zero",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry_budget()->set_ttl_ms(0); },
       "spec.retryBudget.ttl: must be at least 1s"},
      {"traffic ttl short",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_retry_budget()->set_ttl_ms(999); },
       "spec.retryBudget.ttl: 999ms is less than 1s"},
      {"traffic route method",
       [](auto& m) {
         m.mutable_traffic_policies(1)->mutable_routes(1)->mutable_match()->set_method("get");
       },
       "spec.routes[1].match.method: \"get\" is not an upper-case method"},
      {"traffic route path",
       [](auto& m) {
         m.mutable_traffic_policies(1)->mutable_routes(1)->mutable_match()->set_path("x");
       },
       "spec.routes[1].match.path: \"x\" is not a path"},
      {"traffic route prefix bytes",
       [](auto& m) {
         m.mutable_traffic_policies(1)->mutable_routes(0)->mutable_match()->set_path_prefix(
             "/\xff");
       },
       "spec.routes[0].match.pathPrefix"},
      {"traffic route timeout zero",
       [](auto& m) { m.mutable_traffic_policies(1)->mutable_routes(0)->set_timeout_ms(0); },
       "spec.routes[0].timeout: must be more than 0"},
      {"traffic route retry",
       [](auto& m) {
         m.mutable_traffic_policies(1)->mutable_routes(1)->mutable_retry()->set_attempts(-1);
       },
       "spec.routes[1].retry.attempts: -1 is less than 0"},
      {"traffic too many routes",
       [](auto& m) {
         for (int i = 0; i < 98; ++i) m.mutable_traffic_policies(1)->add_routes();
       },
       "spec.routes: 101 routes, more than 100"},
      {"traffic duplicate", [](auto& m) { *m.add_traffic_policies() = m.traffic_policies(1); },
       "TrafficPolicy shop/cart: metadata.name: defined twice"},
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
