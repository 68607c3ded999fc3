// TrafficTable: which policy a request gets, and the route overrides.
#include "common/policy/traffic.h"

#include <vector>

#include <gtest/gtest.h>

namespace tether::policy {
namespace {

pki::SpiffeId Id(const char* s) { return *pki::SpiffeId::Parse(s); }

TrafficPolicy Policy(const char* ns, const char* name, const char* sa, int port,
                     absl::Duration timeout) {
  TrafficPolicy p;
  p.namespace_name = ns;
  p.name = name;
  p.service_account = sa;
  p.port = port;
  p.behaviour.timeout = timeout;
  return p;
}

TEST(TrafficTable, CompileSortsByNamespaceAndName) {
  auto table = TrafficTable::Compile({Policy("shop", "b", "cart", 0, absl::Seconds(1)),
                                      Policy("bank", "z", "vault", 0, absl::Seconds(1)),
                                      Policy("shop", "a", "cart", 0, absl::Seconds(1))});
  ASSERT_EQ(table->policies().size(), 3u);
  EXPECT_EQ(table->policies()[0].name, "z");
  EXPECT_EQ(table->policies()[1].name, "a");
  EXPECT_EQ(table->policies()[2].name, "b");
}

TEST(TrafficTable, TheMostSpecificPolicyWinsThenTheFirstByName) {
  auto table = TrafficTable::Compile({Policy("shop", "every-port", "cart", 0, absl::Seconds(1)),
                                      Policy("shop", "port-8080", "cart", 8080, absl::Seconds(2)),
                                      Policy("shop", "also-every", "cart", 0, absl::Seconds(3)),
                                      Policy("bank", "vault", "vault", 0, absl::Seconds(4))});
  const std::vector<pki::SpiffeId> cart = {Id("spiffe://mesh.local/ns/shop/sa/cart")};
  const TrafficPolicy* p = table->FindPolicy(cart, 8080);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "port-8080");
  EXPECT_EQ(table->policies()[table->IndexOf(p)].name, "port-8080");
  // Another port: of the two for every port, the first by name.
  p = table->FindPolicy(cart, 9090);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "also-every");
  // Any trust domain; any of the identities the registry names.
  const std::vector<pki::SpiffeId> several = {Id("spiffe://other.org/ns/x/sa/y"),
                                              Id("spiffe://other.org/ns/bank/sa/vault")};
  p = table->FindPolicy(several, 1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "vault");
  // Same service account in another namespace, or none at all: no policy.
  EXPECT_EQ(table->FindPolicy({Id("spiffe://mesh.local/ns/web/sa/cart")}, 8080), nullptr);
  EXPECT_EQ(table->FindPolicy({}, 8080), nullptr);
}

TEST(TrafficTable, TheFirstMatchingRouteReplacesOnlyTheFieldsItSets) {
  TrafficPolicy p = Policy("shop", "cart", "cart", 0, absl::Seconds(2));
  p.behaviour.retry.attempts = 2;
  p.behaviour.retry.on.status_5xx = true;
  p.budget.ratio = 0.5;
  TrafficRoute slow;
  slow.match.method = "GET";
  slow.match.path_prefix = "/slow";
  slow.has_timeout = true;
  slow.behaviour.timeout = absl::Seconds(30);
  TrafficRoute checkout;
  checkout.match.path = "/checkout";
  checkout.has_retry = true;  // retry: {attempts: 0}
  TrafficRoute shadowed;
  shadowed.match.path_prefix = "/slow/more";
  shadowed.has_timeout = true;
  shadowed.behaviour.timeout = absl::Milliseconds(1);
  p.routes = {slow, checkout, shadowed};

  RequestBehaviour b = TrafficTable::Behaviour(p, 3, "GET", "/slow/more/x");
  EXPECT_EQ(b.decided_by, "shop/cart route 0");
  EXPECT_EQ(b.behaviour.timeout, absl::Seconds(30));
  EXPECT_EQ(b.behaviour.retry.attempts, 2);  // the spec's
  EXPECT_DOUBLE_EQ(b.budget.ratio, 0.5);
  EXPECT_EQ(b.policy_index, 3);

  b = TrafficTable::Behaviour(p, 0, "POST", "/slow/more/x");  // not GET: route 2
  EXPECT_EQ(b.decided_by, "shop/cart route 2");
  EXPECT_EQ(b.behaviour.timeout, absl::Milliseconds(1));

  b = TrafficTable::Behaviour(p, 0, "POST", "/checkout");
  EXPECT_EQ(b.decided_by, "shop/cart route 1");
  EXPECT_EQ(b.behaviour.timeout, absl::Seconds(2));
  EXPECT_EQ(b.behaviour.retry.attempts, 0);

  b = TrafficTable::Behaviour(p, 0, "GET", "/checkout/x");  // exact path only
  EXPECT_EQ(b.decided_by, "shop/cart");
  EXPECT_EQ(b.behaviour.retry.attempts, 2);
}

TEST(TrafficTable, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    EXPECT_TRUE(IsIdempotent(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", ""}) EXPECT_FALSE(IsIdempotent(m)) << m;
}

TEST(TrafficTable, RetryableStatuses) {
  RetryConditions none;
  EXPECT_FALSE(RetryableStatus(none, 503));
  RetryConditions five;
  five.status_5xx = true;
  EXPECT_TRUE(RetryableStatus(five, 500));
  EXPECT_TRUE(RetryableStatus(five, 599));
  EXPECT_FALSE(RetryableStatus(five, 499));
  RetryConditions gateway;
  gateway.gateway_errors = true;
  EXPECT_TRUE(RetryableStatus(gateway, 502));
  EXPECT_TRUE(RetryableStatus(gateway, 503));
  EXPECT_TRUE(RetryableStatus(gateway, 504));
  EXPECT_FALSE(RetryableStatus(gateway, 500));
  RetryConditions codes;
  codes.statuses = {429, 409};
  EXPECT_TRUE(RetryableStatus(codes, 429));
  EXPECT_FALSE(RetryableStatus(codes, 503));
  // Connection conditions are not statuses.
  RetryConditions connect;
  connect.connect_failure = true;
  connect.reset = true;
  EXPECT_FALSE(RetryableStatus(connect, 503));
}

}  // namespace
}  // namespace tether::policy
