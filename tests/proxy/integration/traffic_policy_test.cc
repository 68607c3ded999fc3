// TrafficPolicy reaches the proxy: from --policy-file at start, and from the
// control plane's stream after ApplyPolicies; ProxyServer compiles it into
// the TrafficTable the HTTP forwarder reads (ProxyContext::traffic) and shows
// it on GET /traffic.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/policy/traffic.h"
#include "tests/proxy/integration/in_process_mesh.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

constexpr char kCart[] = R"(apiVersion: tether.io/v1
kind: TrafficPolicy
metadata: {name: cart, namespace: shop}
spec:
  destination: {serviceAccount: cart, port: 8080}
  timeout: 2s
  retry: {attempts: 2, on: [connect-failure, 503]}
  routes:
    - match: {method: GET, pathPrefix: /slow}
      timeout: 10s
)";

class TrafficPolicyTest : public testing::InProcessMeshTest {
 protected:
  TrafficPolicyTest() : InProcessMeshTest({.name = "traffic"}) {}
};

// WaitForTraffic: the proxy's table once it holds `count` policies (null on timeout).
std::shared_ptr<const policy::TrafficTable> WaitForTraffic(proxy::ProxyServer* p, size_t count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    auto table = p->traffic();
    if (table != nullptr && table->policies().size() == count) return table;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return nullptr;
}

TEST_F(TrafficPolicyTest, FromThePolicyFile) {
  proxy::ProxyServer* a = StartProxy("a", "", "127.0.0.1:9", "", kCart);
  ASSERT_NE(a, nullptr);
  auto table = a->traffic();
  ASSERT_NE(table, nullptr);
  ASSERT_EQ(table->policies().size(), 1u);
  const auto cart = *pki::SpiffeId::Parse(SpiffeId("cart"));
  const policy::TrafficPolicy* p = table->FindPolicy({cart}, 8080);
  ASSERT_NE(p, nullptr);
  policy::RequestBehaviour b = policy::TrafficTable::Behaviour(*p, 0, "GET", "/slow/x");
  EXPECT_EQ(b.decided_by, "shop/cart route 0");
  EXPECT_EQ(b.behaviour.timeout, absl::Seconds(10));
  EXPECT_EQ(b.behaviour.retry.attempts, 2);
  EXPECT_EQ(table->FindPolicy({cart}, 9090), nullptr);
  auto page = testing::HttpGetBody(a->admin_port(), "/traffic");
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(absl::StrContains(*page, "\"count\": 1")) << *page;
  EXPECT_TRUE(absl::StrContains(*page, "\"name\": \"shop/cart\"")) << *page;
  EXPECT_TRUE(absl::StrContains(*page, "\"destination\": \"shop/sa/cart\"")) << *page;
}

TEST_F(TrafficPolicyTest, FromTheControlPlaneAfterApplyAndDelete) {
  proxy::ProxyServer* a = StartProxy("a", "", "127.0.0.1:9");
  ASSERT_NE(a, nullptr);
  // For another namespace's destination too: a client may call anyone.
  auto applied = control()->policies()->Apply(
      std::string(kCart) +
          "---\napiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: vault, "
          "namespace: bank}\nspec: {destination: {serviceAccount: vault}, timeout: 1s}\n",
      "t.yaml");
  ASSERT_TRUE(applied.ok()) << applied.status();
  auto table = WaitForTraffic(a, 2);
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->policies()[0].namespace_name, "bank");  // sorted
  EXPECT_EQ(table->policies()[1].behaviour.timeout, absl::Seconds(2));
  ASSERT_TRUE(control()->policies()->Delete("TrafficPolicy", "bank", "vault").ok());
  table = WaitForTraffic(a, 1);
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->policies()[0].name, "cart");
  auto page = testing::HttpGetBody(a->admin_port(), "/traffic");
  ASSERT_TRUE(page.has_value());
  EXPECT_TRUE(absl::StrContains(*page, "\"count\": 1")) << *page;
}

}  // namespace
}  // namespace tether
