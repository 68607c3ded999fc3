// OwnListenerAt: which original destinations are the proxy's own listeners.
#include "proxy/server/own_listeners.h"

#include <string>

#include "gtest/gtest.h"
#include "proxy/net/socket.h"

namespace tether::proxy {
namespace {

SocketAddress Addr(const std::string& text) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : SocketAddress();
}

OwnListeners PodDefaults() {
  OwnListeners own;
  own.Add(15006, "inbound");
  own.Add(15001, "outbound");
  own.Add(15000, "admin");
  own.Add(15021, "health");
  own.Add(15090, "metrics");
  return own;
}

// The pod's address is 10.0.0.5 (and fd00::5); nothing else is local.
bool PodLocal(const SocketAddress& a) {
  return a == Addr("10.0.0.5:" + std::to_string(a.port())) ||
         a == Addr("[fd00::5]:" + std::to_string(a.port()));
}
bool NeverLocal(const SocketAddress&) { return false; }

TEST(OwnListenersTest, EveryListenerOnThePodAddressIsOwn) {
  OwnListeners own = PodDefaults();
  EXPECT_EQ(OwnListenerAt(own, Addr("10.0.0.5:15006"), PodLocal), "inbound");
  EXPECT_EQ(OwnListenerAt(own, Addr("10.0.0.5:15001"), PodLocal), "outbound");
  EXPECT_EQ(OwnListenerAt(own, Addr("10.0.0.5:15000"), PodLocal), "admin");
  EXPECT_EQ(OwnListenerAt(own, Addr("10.0.0.5:15021"), PodLocal), "health");
  EXPECT_EQ(OwnListenerAt(own, Addr("10.0.0.5:15090"), PodLocal), "metrics");
  EXPECT_EQ(OwnListenerAt(own, Addr("[fd00::5]:15001"), PodLocal), "outbound");
}

TEST(OwnListenersTest, LoopbackAndUnspecifiedAreOwnWithoutAsking) {
  OwnListeners own = PodDefaults();
  for (const char* a : {"127.0.0.1:15001", "127.1.2.3:15000", "0.0.0.0:15006", "[::1]:15001",
                        "[::]:15006", "[::ffff:127.0.0.1]:15000", "[::ffff:0.0.0.0]:15006"}) {
    EXPECT_TRUE(OwnListenerAt(own, Addr(a), NeverLocal).has_value()) << a;
  }
}

TEST(OwnListenersTest, AppPortsAndOtherHostsAreNotOwn) {
  OwnListeners own = PodDefaults();
  // The app's ports, on any address.
  for (const char* a : {"10.0.0.5:80", "10.0.0.5:8080", "127.0.0.1:8080", "[::1]:443",
                        "10.0.0.5:15002", "10.0.0.5:1"}) {
    EXPECT_FALSE(OwnListenerAt(own, Addr(a), PodLocal).has_value()) << a;
  }
  // A proxy port on another host is that host's business (its own proxy
  // refuses it there).
  for (const char* a : {"10.0.0.6:15001", "10.0.0.6:15006", "[fd00::6]:15000", "8.8.8.8:15090",
                        "[::ffff:10.0.0.6]:15001"}) {
    EXPECT_FALSE(OwnListenerAt(own, Addr(a), PodLocal).has_value()) << a;
  }
}

TEST(OwnListenersTest, LocalityIsAskedOnlyWhenThePortMatches) {
  OwnListeners own = PodDefaults();
  int asked = 0;
  auto counting = [&asked](const SocketAddress&) {
    ++asked;
    return false;
  };
  OwnListenerAt(own, Addr("10.0.0.9:80"), counting);
  OwnListenerAt(own, Addr("10.0.0.9:8080"), counting);
  EXPECT_EQ(asked, 0);
  OwnListenerAt(own, Addr("10.0.0.9:15001"), counting);
  EXPECT_EQ(asked, 1);
}

TEST(OwnListenersTest, PortZeroIsIgnoredAndTheFirstNameWins) {
  OwnListeners own;
  EXPECT_TRUE(own.empty());
  own.Add(0, "metrics");  // not listening
  EXPECT_TRUE(own.empty());
  EXPECT_FALSE(OwnListenerAt(own, Addr("127.0.0.1:0"), NeverLocal).has_value());
  own.Add(15000, "admin");
  own.Add(15000, "health");
  EXPECT_EQ(own.NameOf(15000), "admin");
  EXPECT_FALSE(own.NameOf(15001).has_value());
}

TEST(OwnListenersTest, IsLoopback) {
  EXPECT_TRUE(IsLoopback(Addr("127.0.0.1:1")));
  EXPECT_TRUE(IsLoopback(Addr("127.255.255.254:1")));
  EXPECT_TRUE(IsLoopback(Addr("[::1]:1")));
  EXPECT_TRUE(IsLoopback(Addr("[::ffff:127.0.0.1]:1")));
  EXPECT_FALSE(IsLoopback(Addr("128.0.0.1:1")));
  EXPECT_FALSE(IsLoopback(Addr("10.0.0.5:1")));
  EXPECT_FALSE(IsLoopback(Addr("[::2]:1")));
  EXPECT_FALSE(IsLoopback(Addr("[::ffff:10.0.0.1]:1")));
  EXPECT_FALSE(IsLoopback(SocketAddress()));  // no family
}

// IsLocalAddress asks the kernel: loopback is always this host's; an address
// from TEST-NET-3 (RFC 5737) and the documentation prefix are never assigned.
TEST(OwnListenersTest, IsLocalAddressAsksTheKernel) {
  EXPECT_TRUE(IsLocalAddress(Addr("127.0.0.1:15001")));
  EXPECT_FALSE(IsLocalAddress(Addr("203.0.113.77:15001")));
  EXPECT_FALSE(IsLocalAddress(Addr("[2001:db8::77]:15001")));
  EXPECT_FALSE(IsLocalAddress(SocketAddress()));
  // The port is irrelevant, even one in use.
  absl::StatusOr<UniqueFd> l = Listen(Addr("127.0.0.1:0"), 1, /*reuse_port=*/false);
  ASSERT_TRUE(l.ok());
  absl::StatusOr<SocketAddress> bound = LocalAddress(l->get());
  ASSERT_TRUE(bound.ok());
  EXPECT_TRUE(IsLocalAddress(*bound));
}

}  // namespace
}  // namespace tether::proxy
