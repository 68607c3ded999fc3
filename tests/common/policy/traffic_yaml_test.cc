// TrafficPolicy documents through ParsePolicies: good ones field for field,
// and every refusal with the message that names the field.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/policy/policy.h"

namespace tether::policy {
namespace {

constexpr char kFull[] = R"(
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: cart, namespace: shop}
spec:
  destination: {serviceAccount: cart, port: 8080}
  timeout: 2s
  retry:
    attempts: 2
    on: [5xx, connect-failure, reset, gateway-error, "429", 409]
    perTryTimeout: 500ms
    nonIdempotent: true
  retryBudget: {ratio: 0.25, minPerSecond: 5, ttl: 30s}
  routes:
    - match: {method: GET, pathPrefix: /slow}
      timeout: 10s
    - match: {path: /checkout}
      retry: {attempts: 0}
    - {}
)";

TEST(TrafficYaml, AFullDocumentParsesFieldForField) {
  auto set = ParsePolicies(kFull, "t.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->traffic.size(), 1u);
  EXPECT_TRUE(set->policies.empty());
  const TrafficPolicy& p = set->traffic[0];
  EXPECT_EQ(p.name, "cart");
  EXPECT_EQ(p.namespace_name, "shop");
  EXPECT_EQ(p.service_account, "cart");
  EXPECT_EQ(p.port, 8080);
  EXPECT_EQ(p.behaviour.timeout, absl::Seconds(2));
  const RetryPolicy& r = p.behaviour.retry;
  EXPECT_EQ(r.attempts, 2);
  EXPECT_TRUE(r.on.status_5xx);
  EXPECT_TRUE(r.on.connect_failure);
  EXPECT_TRUE(r.on.reset);
  EXPECT_TRUE(r.on.gateway_errors);
  EXPECT_EQ(r.on.statuses, (std::vector<int>{429, 409}));
  EXPECT_EQ(r.per_try_timeout, absl::Milliseconds(500));
  EXPECT_TRUE(r.non_idempotent);
  EXPECT_DOUBLE_EQ(p.budget.ratio, 0.25);
  EXPECT_EQ(p.budget.min_per_second, 5);
  EXPECT_EQ(p.budget.ttl, absl::Seconds(30));
  ASSERT_EQ(p.routes.size(), 3u);
  EXPECT_EQ(p.routes[0].match.method, "GET");
  EXPECT_EQ(p.routes[0].match.path_prefix, "/slow");
  EXPECT_TRUE(p.routes[0].has_timeout);
  EXPECT_FALSE(p.routes[0].has_retry);
  EXPECT_EQ(p.routes[0].behaviour.timeout, absl::Seconds(10));
  EXPECT_EQ(p.routes[1].match.path, "/checkout");
  EXPECT_FALSE(p.routes[1].has_timeout);
  EXPECT_TRUE(p.routes[1].has_retry);
  EXPECT_EQ(p.routes[1].behaviour.retry.attempts, 0);
  EXPECT_TRUE(p.routes[2].match.method.empty());
  EXPECT_FALSE(p.routes[2].has_timeout || p.routes[2].has_retry);
}

TEST(TrafficYaml, DefaultsWhenOnlyTheDestinationIsNamed) {
  auto set = ParsePolicies(R"(
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: db}
spec: {destination: {serviceAccount: db}}
)",
                           "cm", ParseOptions{"shop"});
  ASSERT_TRUE(set.ok()) << set.status();
  const TrafficPolicy& p = set->traffic[0];
  EXPECT_EQ(p.namespace_name, "shop");  // the scope's
  EXPECT_EQ(p.port, 0);
  EXPECT_EQ(p.behaviour.timeout, absl::ZeroDuration());
  EXPECT_EQ(p.behaviour.retry.attempts, 0);
  EXPECT_DOUBLE_EQ(p.budget.ratio, 0.2);
  EXPECT_EQ(p.budget.min_per_second, 10);
  EXPECT_EQ(p.budget.ttl, absl::Seconds(10));
  EXPECT_TRUE(p.routes.empty());
}

TEST(TrafficYaml, LivesBesideAuthorizationPoliciesOfTheSameName) {
  auto set = ParsePolicies(R"(
apiVersion: tether.io/v1
kind: AuthorizationPolicy
metadata: {name: cart, namespace: shop}
spec: {rules: [{}]}
---
apiVersion: tether.io/v1
kind: List
items:
  - apiVersion: tether.io/v1
    kind: TrafficPolicy
    metadata: {name: cart, namespace: shop}
    spec: {destination: {serviceAccount: cart}, timeout: 1m}
)",
                           "f.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->policies.size(), 1u);
  ASSERT_EQ(set->traffic.size(), 1u);
  EXPECT_EQ(set->traffic[0].behaviour.timeout, absl::Minutes(1));
}

// A document with `spec` replaced: "metadata: {name: cart, namespace: shop}".
std::string Doc(absl::string_view spec, absl::string_view ns = "shop") {
  return absl::StrCat("apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: cart",
                      ns.empty() ? "" : absl::StrCat(", namespace: ", ns), "}\nspec:\n", spec);
}

constexpr char kDest[] = "  destination: {serviceAccount: cart}\n";

struct Refusal {
  std::string yaml;
  std::string message;  // the whole message after "f.yaml: document 1 (shop/cart): "
};

TEST(TrafficYaml, EveryRefusalNamesTheField) {
  const std::string d = kDest;
  const std::vector<Refusal> cases = {
      {Doc(d + "  timeoutt: 2s\n"),
       "spec.timeoutt: unknown field (expected one of: destination, retry, retryBudget, routes, "
       "timeout)"},
      {Doc("  timeout: 2s\n"), "spec.destination: missing"},
      {Doc("  destination: {port: 80}\n"), "spec.destination.serviceAccount: missing"},
      {Doc("  destination: {serviceAccount: a/b}\n"),
       "spec.destination.serviceAccount: \"a/b\" is not a valid service account"},
      {Doc("  destination: {serviceAccount: \"..\"}\n"),
       "spec.destination.serviceAccount: \"..\" is not a valid service account"},
      {Doc("  destination: {serviceAccount: cart, port: 0}\n"),
       "spec.destination.port: 0 is not a port"},
      {Doc("  destination: {serviceAccount: cart, port: 70000}\n"),
       "spec.destination.port: 70000 is not a port"},
      {Doc("  destination: {serviceAccount: cart, host: x}\n"),
       "spec.destination.host: unknown field (expected one of: port, serviceAccount)"},
      {Doc(d + "  timeout: 0s\n"), "spec.timeout: \"0s\" must be more than 0 (omit it for none)"},
      {Doc(d + "  timeout: -1s\n"), "spec.timeout: \"-1s\" must be more than 0 (omit it for none)"},
      {Doc(d + "  timeout: soon\n"),
       "spec.timeout: \"soon\" is not a duration (e.g. 500ms, 2s, 1m)"},
      {Doc(d + "  timeout: 2\n"), "spec.timeout: \"2\" is not a duration (e.g. 500ms, 2s, 1m)"},
      {Doc(d + "  timeout: inf\n"), "spec.timeout: \"inf\" is not a duration (e.g. 500ms, 2s, 1m)"},
      {Doc(d + "  timeout: 2h\n"), "spec.timeout: 2h is more than 1h"},
      {Doc(d + "  timeout: 1500us\n"), "spec.timeout: 1.5ms is not whole milliseconds"},
      {Doc(d + "  timeout: [1s]\n"), "spec.timeout: must be a string"},
      {Doc(d + "  retry: {attempts: 11, on: [5xx]}\n"), "spec.retry.attempts: 11 is more than 10"},
      {Doc(d + "  retry: {attempts: -1, on: [5xx]}\n"), "spec.retry.attempts: -1 is less than 0"},
      {Doc(d + "  retry: {attempts: two}\n"), "spec.retry.attempts: \"two\" is not a whole number"},
      {Doc(d + "  retry: {on: [5xx]}\n"), "spec.retry.attempts: missing"},
      {Doc(d + "  retry: {attempts: 2}\n"),
       "spec.retry.on: missing: retries need conditions (5xx, gateway-error, connect-failure, "
       "reset, or status codes)"},
      {Doc(d + "  retry: {attempts: 2, on: 5xx}\n"), "spec.retry.on: must be a list"},
      {Doc(d + "  retry: {attempts: 2, on: [4xx]}\n"),
       "spec.retry.on[0]: \"4xx\" is not 5xx, gateway-error, connect-failure, reset or a status "
       "code (100-599)"},
      {Doc(d + "  retry: {attempts: 2, on: [5xx, 600]}\n"),
       "spec.retry.on[1]: \"600\" is not 5xx, gateway-error, connect-failure, reset or a status "
       "code (100-599)"},
      {Doc(d + "  retry: {attempts: 2, on: [\"099\"]}\n"),
       "spec.retry.on[0]: \"099\" is not 5xx, gateway-error, connect-failure, reset or a status "
       "code (100-599)"},
      {Doc(d + "  retry: {attempts: 2, on: [503, \"503\"]}\n"),
       "spec.retry.on[1]: 503 is listed twice"},
      {Doc(d + "  retry: {attempts: 2, on: [reset, reset]}\n"),
       "spec.retry.on[1]: reset is listed twice"},
      {Doc(d + "  retry: {attempts: 1, on: [reset], perTryTimeout: 0s}\n"),
       "spec.retry.perTryTimeout: \"0s\" must be more than 0 (omit it for none)"},
      {Doc(d + "  retry: {attempts: 1, on: [reset], perTryTimeout: 61m}\n"),
       "spec.retry.perTryTimeout: 1h1m is more than 1h"},
      {Doc(d + "  retry: {attempts: 1, on: [reset], nonIdempotent: yes}\n"),
       "spec.retry.nonIdempotent: \"yes\" is not true or false"},
      {Doc(d + "  retry: {attempts: 1, on: [reset], backoff: 1s}\n"),
       "spec.retry.backoff: unknown field (expected one of: attempts, nonIdempotent, on, "
       "perTryTimeout)"},
      {Doc(d + "  retryBudget: {ratio: 1.5}\n"),
       "spec.retryBudget.ratio: 1.5 is not between 0 and 1"},
      {Doc(d + "  retryBudget: {ratio: -0.1}\n"),
       "spec.retryBudget.ratio: -0.1 is not between 0 and 1"},
      {Doc(d + "  retryBudget: {ratio: nan}\n"),
       "spec.retryBudget.ratio: nan is not between 0 and 1"},
      {Doc(d + "  retryBudget: {ratio: 20%}\n"),
       "spec.retryBudget.ratio: \"20%\" is not a number (e.g. 0.2)"},
      {Doc(d + "  retryBudget: {minPerSecond: 10001}\n"),
       "spec.retryBudget.minPerSecond: 10001 is not 0-10000"},
      {Doc(d + "  retryBudget: {minPerSecond: -1}\n"),
       "spec.retryBudget.minPerSecond: -1 is not 0-10000"},
      {Doc(d + "  retryBudget: {ttl: 500ms}\n"), "spec.retryBudget.ttl: 500ms is less than 1s"},
      {Doc(d + "  retryBudget: {ttl: 2h}\n"), "spec.retryBudget.ttl: 2h is more than 1h"},
      {Doc(d + "  retryBudget: {ttl: 0s}\n"),
       "spec.retryBudget.ttl: \"0s\" must be more than 0 (omit it for none)"},
      {Doc(d + "  retryBudget: {burst: 1}\n"),
       "spec.retryBudget.burst: unknown field (expected one of: minPerSecond, ratio, ttl)"},
      {Doc(d + "  routes: {match: {}}\n"), "spec.routes: must be a list"},
      {Doc(d + "  routes: [{match: {method: get}}]\n"),
       "spec.routes[0].match.method: \"get\" is not an upper-case method (GET, POST, ...)"},
      {Doc(d + "  routes: [{}, {match: {pathPrefix: api}}]\n"),
       "spec.routes[1].match.pathPrefix: \"api\" is not a path (must start with '/'; printable "
       "ASCII without spaces, '?' or '#'; at most 1024 bytes)"},
      {Doc(d + "  routes: [{match: {path: \"/a?b=1\"}}]\n"),
       "spec.routes[0].match.path: \"/a?b=1\" is not a path (must start with '/'; printable "
       "ASCII without spaces, '?' or '#'; at most 1024 bytes)"},
      {Doc(d + "  routes: [{match: {path: \"\"}}]\n"),
       "spec.routes[0].match.path: empty (omit it for any)"},
      {Doc(d + "  routes: [{match: {host: x}}]\n"),
       "spec.routes[0].match.host: unknown field (expected one of: method, path, pathPrefix)"},
      {Doc(d + "  routes: [{timeout: 0s}]\n"),
       "spec.routes[0].timeout: \"0s\" must be more than 0 (omit it for none)"},
      {Doc(d + "  routes: [{retry: {attempts: 20, on: [5xx]}}]\n"),
       "spec.routes[0].retry.attempts: 20 is more than 10"},
      {Doc(d + "  routes: [{weight: 1}]\n"),
       "spec.routes[0].weight: unknown field (expected one of: match, retry, timeout)"},
      {Doc(""), "spec: must be a mapping"},
  };
  for (const Refusal& c : cases) {
    auto set = ParsePolicies(c.yaml, "f.yaml");
    ASSERT_FALSE(set.ok()) << c.yaml;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(set.status().message(), "f.yaml: document 1 (shop/cart): " + c.message) << c.yaml;
  }
}

TEST(TrafficYaml, RefusalsAboutTheResource) {
  auto no_ns = ParsePolicies(Doc(kDest, ""), "f.yaml");
  ASSERT_FALSE(no_ns.ok());
  EXPECT_EQ(no_ns.status().message(),
            "f.yaml: document 1 (cart): metadata.namespace: a TrafficPolicy needs a namespace");
  auto no_spec = ParsePolicies(
      "apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: cart, namespace: shop}\n",
      "f.yaml");
  EXPECT_EQ(no_spec.status().message(), "f.yaml: document 1 (shop/cart): spec: missing");
  auto bad_name = ParsePolicies(
      "apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: ../x, namespace: shop}\n"
      "spec: {destination: {serviceAccount: cart}}\n",
      "f.yaml");
  EXPECT_EQ(bad_name.status().message(),
            "f.yaml: document 1 (shop/../x): metadata.name: \"../x\" is not a valid name "
            "(lower-case letters, digits, '-' and '.')");
  auto twice = ParsePolicies(Doc(kDest) + "---\n" + Doc(kDest), "f.yaml");
  EXPECT_EQ(twice.status().message(),
            "f.yaml: document 2 (shop/cart): metadata.name: defined twice");
  auto other_ns = ParsePolicies(Doc(kDest, "bank"), "cm", ParseOptions{"shop"});
  EXPECT_TRUE(absl::StrContains(other_ns.status().message(),
                                "documents from namespace shop may only define policies of "
                                "namespace shop"))
      << other_ns.status();
  auto kind = ParsePolicies("apiVersion: tether.io/v1\nkind: Traffic\nmetadata: {name: x}\n", "f");
  EXPECT_EQ(kind.status().message(),
            "f: document 1: kind: \"Traffic\" is not AuthorizationPolicy, DefaultPolicy or "
            "TrafficPolicy");
}

TEST(TrafficYaml, AtMostAHundredRoutes) {
  std::string routes = "  routes:\n";
  for (int i = 0; i < 101; ++i) absl::StrAppend(&routes, "    - match: {path: /p", i, "}\n");
  auto set = ParsePolicies(Doc(std::string(kDest) + routes), "f.yaml");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(),
            "f.yaml: document 1 (shop/cart): spec.routes: 101 routes, more than 100");
}

TEST(TrafficYaml, ExamplesOfTheHeaderAndReadmeParse) {
  // traffic.h's example, as written there.
  auto set = ParsePolicies(R"(
apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: cart, namespace: shop}
spec:
  destination: {serviceAccount: cart, port: 8080}  # port optional: every port
  timeout: 2s                                      # whole request, retries included
  retry:
    attempts: 2                       # retries after the first try (0-10)
    on: [5xx, connect-failure]        # also single codes ("503"), "reset"
    perTryTimeout: 500ms              # optional
    nonIdempotent: false              # true: POST/PATCH are retried too
  retryBudget: {ratio: 0.2, minPerSecond: 10, ttl: 10s}
  routes:                             # first match wins; its fields replace the spec's
    - match: {method: GET, pathPrefix: /slow}
      timeout: 500ms
)",
                           "header");
  ASSERT_TRUE(set.ok()) << set.status();
}

}  // namespace
}  // namespace tether::policy
