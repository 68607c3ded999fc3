#include <gtest/gtest.h>

#include "control/tetherctl/prom_text.h"
#include "control/tetherctl/stat_command.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {
namespace {

TEST(StatRowsTest, OneRowPerDirectionAndPeerWithBytesSeenFromThePeer) {
  auto s = ParsePrometheusText(R"(
tether_proxy_peer_connections_total{direction="inbound",peer_identity="spiffe://m/ns/a/sa/a",result="ok"} 8
tether_proxy_peer_connections_total{direction="inbound",peer_identity="spiffe://m/ns/a/sa/a",result="failed"} 2
tether_proxy_peer_connections_total{direction="inbound",peer_identity="unauthenticated",result="failed"} 1
tether_proxy_peer_connections_total{direction="outbound",peer_identity="spiffe://m/ns/a/sa/b",result="ok"} 20
tether_proxy_peer_bytes_total{direction="inbound",flow="to_upstream",peer_identity="spiffe://m/ns/a/sa/a"} 100
tether_proxy_peer_bytes_total{direction="inbound",flow="to_downstream",peer_identity="spiffe://m/ns/a/sa/a"} 300
tether_proxy_peer_bytes_total{direction="outbound",flow="to_upstream",peer_identity="spiffe://m/ns/a/sa/b"} 50
tether_proxy_peer_bytes_total{direction="outbound",flow="to_downstream",peer_identity="spiffe://m/ns/a/sa/b"} 70
tether_proxy_connections_total{direction="inbound",outcome="ok"} 8
)");
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<StatRow> rows = StatRows(*s);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].peer, "spiffe://m/ns/a/sa/b");  // busiest first
  EXPECT_EQ(rows[0].direction, "outbound");
  EXPECT_EQ(rows[0].bytes_to_peer, 50);
  EXPECT_EQ(rows[0].bytes_from_peer, 70);
  EXPECT_EQ(rows[1].peer, "spiffe://m/ns/a/sa/a");
  EXPECT_EQ(rows[1].connections, 10);
  EXPECT_EQ(rows[1].failed, 2);
  EXPECT_EQ(rows[1].bytes_to_peer, 300);  // inbound: to_downstream goes back to the caller
  EXPECT_EQ(rows[1].bytes_from_peer, 100);
  EXPECT_EQ(rows[2].peer, "unauthenticated");
  EXPECT_EQ(rows[2].failed, 1);
}

TEST(TableTest, HumanUnits) {
  EXPECT_EQ(HumanBytes(512), "512B");
  EXPECT_EQ(HumanBytes(2048), "2.0KiB");
  EXPECT_EQ(HumanBytes(3.5 * 1024 * 1024), "3.5MiB");
  EXPECT_EQ(HumanDuration(absl::Seconds(45)), "45s");
  EXPECT_EQ(HumanDuration(absl::Minutes(12)), "12m");
  EXPECT_EQ(HumanDuration(absl::Hours(5)), "5h");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 30)), "30d");
  EXPECT_EQ(HumanDuration(-absl::Minutes(3)), "-3m");
  absl::Time t;
  ASSERT_TRUE(ParseRfc3339("2026-01-02T03:04:05.250Z", &t));
  EXPECT_EQ(Rfc3339(t), "2026-01-02T03:04:05Z");
  ASSERT_TRUE(ParseRfc3339("2026-01-02T03:04:05Z", &t));
  EXPECT_FALSE(ParseRfc3339("yesterday", &t));
}

TEST(StatEdgesTest, FromAndToPickTheClientAndTheServerOfEachRow) {
  const std::string web = "spiffe://mesh.local/ns/shop/sa/web";
  const std::string cart = "spiffe://mesh.local/ns/shop/sa/cart";
  StatOptions from_web;
  from_web.from = "shop/web";
  StatOptions to_cart;
  to_cart.to = cart;
  // At cart's proxy, inbound from web: client web, server cart.
  EXPECT_TRUE(EdgeMatches("inbound", cart, web, from_web));
  EXPECT_TRUE(EdgeMatches("inbound", cart, web, to_cart));
  // At web's proxy, outbound to cart: the same edge.
  EXPECT_TRUE(EdgeMatches("outbound", web, cart, from_web));
  EXPECT_TRUE(EdgeMatches("outbound", web, cart, to_cart));
  // The reverse edge (cart calling web) is neither.
  EXPECT_FALSE(EdgeMatches("outbound", cart, web, from_web));
  EXPECT_FALSE(EdgeMatches("inbound", web, cart, to_cart));
  EXPECT_TRUE(EdgeMatches("inbound", web, cart, StatOptions()));
}

TEST(StatEdgesTest, IdentityPatterns) {
  const std::string id = "spiffe://mesh.local/ns/shop/sa/web";
  EXPECT_TRUE(IdentityMatches("", id));
  EXPECT_TRUE(IdentityMatches(id, id));
  EXPECT_TRUE(IdentityMatches("shop/web", id));
  EXPECT_FALSE(IdentityMatches("shop/we", id));
  EXPECT_FALSE(IdentityMatches("hop/web", id));
  EXPECT_FALSE(IdentityMatches("web", id));
  EXPECT_FALSE(IdentityMatches("shop/web", "unauthenticated"));
  EXPECT_FALSE(IdentityMatches("spiffe://other/ns/shop/sa/web", id));
}

}  // namespace
}  // namespace tether::tetherctl
