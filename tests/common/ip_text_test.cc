#include "common/ip_text.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(CanonicalIp, OneSpellingPerAddress) {
  EXPECT_EQ(CanonicalIp("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(CanonicalIp("FD00:0::1"), "fd00::1");
  EXPECT_EQ(CanonicalIp("::ffff:10.0.0.5"), "10.0.0.5");
  EXPECT_EQ(CanonicalIp("::ffff:a00:5"), "10.0.0.5");
  EXPECT_EQ(CanonicalIp("::1"), "::1");
  for (const char* bad :
       {"", "10.0.0.256", "cart.shop.svc", "10.0.0.0/8", "[fd00::1]", "10.0.0.1:80"}) {
    EXPECT_EQ(CanonicalIp(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(CanonicalIp(std::string(100, '1')), std::nullopt);
}

TEST(CanonicalIp, BytesGiveTheSameSpelling) {
  const unsigned char v4[4] = {10, 0, 0, 5};
  unsigned char mapped[16] = {0};
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 10;
  mapped[15] = 5;
  EXPECT_EQ(CanonicalIpOfBytes(v4, 4), "10.0.0.5");
  EXPECT_EQ(CanonicalIpOfBytes(mapped, 16), "10.0.0.5");
  EXPECT_EQ(CanonicalIpOfBytes(v4, 3), "");
}

TEST(JoinHostPort, BracketsIpv6Only) {
  EXPECT_EQ(JoinHostPort("10.0.0.5", 80), "10.0.0.5:80");
  EXPECT_EQ(JoinHostPort("fd00::1", 443), "[fd00::1]:443");
  EXPECT_EQ(JoinHostPort("api.example", 6443), "api.example:6443");
}

}  // namespace
}  // namespace tether
