#include "proxy/lb/backend_key.h"

#include <sys/socket.h>

#include "absl/hash/hash.h"
#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

SocketAddress Addr(const char* host_port) { return *SocketAddress::Parse(host_port); }

TEST(BackendKeyTest, Ipv4) {
  BackendKey key = KeyOf(Addr("10.1.2.3:8080"));
  EXPECT_EQ(key.family, AF_INET);
  EXPECT_EQ(key.port, 8080);
  EXPECT_EQ(key.ip[0], 10);
  EXPECT_EQ(key.ip[3], 3);
  for (int i = 4; i < 16; ++i) EXPECT_EQ(key.ip[i], 0) << i;
}

TEST(BackendKeyTest, Ipv6) {
  BackendKey key = KeyOf(Addr("[2001:db8::1]:443"));
  EXPECT_EQ(key.family, AF_INET6);
  EXPECT_EQ(key.port, 443);
  EXPECT_EQ(key.ip[0], 0x20);
  EXPECT_EQ(key.ip[1], 0x01);
  EXPECT_EQ(key.ip[15], 0x01);
}

TEST(BackendKeyTest, EqualityAndHashFollowTheAddress) {
  EXPECT_EQ(KeyOf(Addr("10.0.0.1:80")), KeyOf(Addr("10.0.0.1:80")));
  EXPECT_EQ(absl::Hash<BackendKey>()(KeyOf(Addr("10.0.0.1:80"))),
            absl::Hash<BackendKey>()(KeyOf(Addr("10.0.0.1:80"))));
  EXPECT_FALSE(KeyOf(Addr("10.0.0.1:80")) == KeyOf(Addr("10.0.0.1:81")));
  EXPECT_FALSE(KeyOf(Addr("10.0.0.1:80")) == KeyOf(Addr("10.0.0.2:80")));
  // A v4-mapped IPv6 address is a different socket to connect to.
  EXPECT_FALSE(KeyOf(Addr("1.2.3.4:80")) == KeyOf(Addr("[::ffff:1.2.3.4]:80")));
}

TEST(BackendKeyTest, EmptyAddressIsTheZeroKey) {
  BackendKey key = KeyOf(SocketAddress{});
  EXPECT_EQ(key, BackendKey{});
  EXPECT_EQ(key.family, 0);
}

}  // namespace
}  // namespace tether::proxy
