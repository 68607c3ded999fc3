// The per-peer-identity metrics and their cap on distinct identities.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proxy/server/metrics.h"

namespace tether::proxy {
namespace {

std::string Scrape(const ProxyMetrics& m) {
  return prometheus::TextSerializer().Serialize(m.registry()->Collect());
}

TEST(PeerMetricsTest, CountsByIdentityAndResult) {
  ProxyMetrics m(10);
  m.PeerConnectionClosed(Direction::kInbound, "spiffe://mesh.test/ns/shop/sa/a", false, 10, 20);
  m.PeerConnectionClosed(Direction::kInbound, "spiffe://mesh.test/ns/shop/sa/a", true, 0, 0);
  m.PeerConnectionClosed(Direction::kInbound, "", true, 0, 0);
  std::string text = Scrape(m);
  EXPECT_TRUE(absl::StrContains(
      text,
      "tether_proxy_peer_connections_total{direction=\"inbound\",peer_identity=\"spiffe://"
      "mesh.test/ns/shop/sa/a\",result=\"ok\"} 1"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "tether_proxy_peer_connections_total{direction=\"inbound\",peer_identity=\"spiffe://"
      "mesh.test/ns/shop/sa/a\",result=\"failed\"} 1"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "tether_proxy_peer_connections_total{direction=\"inbound\",peer_identity=\"unauthenticated\","
      "result=\"failed\"} 1"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "tether_proxy_peer_bytes_total{direction=\"inbound\",flow=\"to_downstream\",peer_identity=\""
      "spiffe://mesh.test/ns/shop/sa/a\"} 20"))
      << text;
}

TEST(PeerMetricsTest, IdentitiesBeyondTheCapAreOther) {
  ProxyMetrics m(3);
  for (int i = 0; i < 50; ++i) {
    m.PeerConnectionClosed(Direction::kOutbound, absl::StrCat("spiffe://mesh.test/ns/x/sa/s", i),
                           false, 1, 1);
  }
  // The first three keep their own label, seen again or not.
  EXPECT_EQ(m.PeerLabel("spiffe://mesh.test/ns/x/sa/s1"), "spiffe://mesh.test/ns/x/sa/s1");
  EXPECT_EQ(m.PeerLabel("spiffe://mesh.test/ns/x/sa/s3"), "other");
  EXPECT_EQ(m.PeerLabel(""), "unauthenticated");
  std::string text = Scrape(m);
  size_t series = 0;
  for (size_t at = 0;
       (at = text.find("tether_proxy_peer_connections_total{", at)) != std::string::npos; ++at) {
    ++series;
  }
  EXPECT_EQ(series, 4u) << text;  // s0, s1, s2, other
  EXPECT_TRUE(absl::StrContains(
      text,
      "tether_proxy_peer_connections_total{direction=\"outbound\",peer_identity=\"other\",result="
      "\"ok\"} 47"))
      << text;
}

}  // namespace
}  // namespace tether::proxy
