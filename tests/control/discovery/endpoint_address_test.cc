#include "control/discovery/endpoint_address.h"

#include <gtest/gtest.h>

namespace tether::control {
namespace {

TEST(ParseEndpointAddress, AcceptsIpAndIpPortInBothFamiliesAndCanonicalizes) {
  auto a = ParseEndpointAddress("10.0.0.5");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ip, "10.0.0.5");
  EXPECT_EQ(a->port, 0);
  EXPECT_EQ(a->ToString(), "10.0.0.5");
  auto b = ParseEndpointAddress("10.0.0.5:8080");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 8080);
  EXPECT_EQ(b->ToString(), "10.0.0.5:8080");
  auto c = ParseEndpointAddress("FD00:0::1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ip, "fd00::1");
  EXPECT_EQ(c->ToString(), "fd00::1");
  auto d = ParseEndpointAddress("[fd00::1]:443");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ip, "fd00::1");
  EXPECT_EQ(d->port, 443);
  EXPECT_EQ(d->ToString(), "[fd00::1]:443");
  // An IPv4-mapped address is the IPv4 address it maps, as proxies see it.
  auto e = ParseEndpointAddress("[::ffff:10.0.0.5]:80");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "10.0.0.5:80");
}

TEST(ParseEndpointAddress, RefusesNamesCidrsAndBadPortsSayingWhat) {
  for (const char* bad : {"", "cart.shop.svc", "10.0.0.0/8", "10.0.0.5:0", "10.0.0.5:65536",
                          "10.0.0.5:", "10.0.0.5:http", "[fd00::1", "[fd00::1]x",
                          "[fd00::1]:", "1.2.3.4.5", "[10.0.0.5]:80x"}) {
    auto r = ParseEndpointAddress(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseEndpointAddress("cart").status().message().find("not an IP"), std::string::npos);
}

}  // namespace
}  // namespace tether::control
