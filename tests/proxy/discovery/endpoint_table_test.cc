#include "proxy/discovery/endpoint_table.h"

#include <gtest/gtest.h>

namespace tether::proxy {
namespace {

using tether::discovery::v1::DiscoveryUpdate;

constexpr char kCart[] = "spiffe://mesh.local/ns/shop/sa/cart";
constexpr char kWeb[] = "spiffe://mesh.local/ns/shop/sa/web";

void Add(DiscoveryUpdate& u, const std::string& ip, uint32_t port, std::vector<std::string> ids) {
  auto* e = u.add_endpoints();
  e->set_ip(ip);
  e->set_port(port);
  for (auto& id : ids) e->add_identities(id);
  e->set_source("join_token");
  e->set_origin("test");
}

SocketAddress At(const std::string& host_port) { return *SocketAddress::Parse(host_port); }

DiscoveryUpdate Full(uint64_t version) {
  DiscoveryUpdate u;
  u.set_version(version);
  u.set_full(true);
  Add(u, "10.0.0.5", 0, {kCart});
  Add(u, "10.96.0.10", 80, {kCart, kWeb});
  Add(u, "10.0.0.9", 0, {});  // known, not meshed
  Add(u, "fd00::5", 0, {kWeb});
  return u;
}

TEST(EndpointTable, FindPrefersIpPortThenIpAndKnowsUnmeshedAddresses) {
  auto t = EndpointTable::Apply(nullptr, Full(7));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->version(), 7u);
  EXPECT_EQ((*t)->size(), 4u);
  const auto* pod = (*t)->Find(At("10.0.0.5:8080"));
  ASSERT_NE(pod, nullptr);
  ASSERT_EQ(pod->identities.size(), 1u);
  EXPECT_EQ(pod->identities[0].ToString(), kCart);
  const auto* svc = (*t)->Find(At("10.96.0.10:80"));
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->identities.size(), 2u);
  EXPECT_EQ((*t)->Find(At("10.96.0.10:81")), nullptr);  // only that port
  const auto* plain = (*t)->Find(At("10.0.0.9:5432"));
  ASSERT_NE(plain, nullptr);
  EXPECT_TRUE(plain->identities.empty());
  EXPECT_EQ((*t)->Find(At("10.0.0.6:80")), nullptr);
  ASSERT_NE((*t)->Find(At("[fd00::5]:443")), nullptr);
  // An IPv4-mapped IPv6 destination is its IPv4 address, and so is an
  // IPv4-mapped entry.
  ASSERT_NE((*t)->Find(At("[::ffff:10.0.0.5]:80")), nullptr);
  DiscoveryUpdate mapped;
  mapped.set_full(true);
  Add(mapped, "::ffff:10.0.0.8", 0, {kCart});
  auto m = EndpointTable::Apply(nullptr, mapped);
  ASSERT_TRUE(m.ok());
  EXPECT_NE((*m)->Find(At("10.0.0.8:80")), nullptr);
  EXPECT_NE((*m)->Find(At("[::ffff:10.0.0.8]:80")), nullptr);
}

TEST(EndpointTable, DeltasApplyInOrderOnly) {
  auto base = EndpointTable::Apply(nullptr, Full(7));
  ASSERT_TRUE(base.ok());
  DiscoveryUpdate delta;
  delta.set_version(8);
  Add(delta, "10.0.0.5", 0, {kWeb});  // replaced
  auto* gone = delta.add_removed();
  gone->set_ip("10.0.0.9");
  auto next = EndpointTable::Apply(base->get(), delta);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->version(), 8u);
  EXPECT_EQ((*next)->Find(At("10.0.0.5:1"))->identities[0].ToString(), kWeb);
  EXPECT_EQ((*next)->Find(At("10.0.0.9:1")), nullptr);
  EXPECT_EQ((*next)->size(), 3u);
  // The base is untouched (tables are immutable).
  EXPECT_EQ((*base)->Find(At("10.0.0.5:1"))->identities[0].ToString(), kCart);

  // The same delta again, an older one, or one without a base: refused.
  EXPECT_FALSE(EndpointTable::Apply(next->get(), delta).ok());
  delta.set_version(3);
  EXPECT_FALSE(EndpointTable::Apply(next->get(), delta).ok());
  delta.set_version(9);
  EXPECT_EQ(EndpointTable::Apply(nullptr, delta).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A full update replaces whatever its version (a new stream, maybe another replica).
  auto replaced = EndpointTable::Apply(next->get(), Full(2));
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ((*replaced)->size(), 4u);
}

TEST(EndpointTable, MalformedEntriesFailTheWholeUpdate) {
  for (auto bad :
       std::vector<std::pair<std::string, std::string>>{{"cart.shop", kCart},
                                                        {"10.0.0.5", "spiffe://Bad/ns"},
                                                        {"", kCart},
                                                        {"10.0.0.5", "not a spiffe id"}}) {
    DiscoveryUpdate u = Full(5);
    Add(u, bad.first, 0, {bad.second});
    auto t = EndpointTable::Apply(nullptr, u);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad.first << bad.second;
  }
  DiscoveryUpdate port = Full(5);
  Add(port, "10.0.0.7", 70000, {kCart});
  EXPECT_FALSE(EndpointTable::Apply(nullptr, port).ok());
}

TEST(EndpointTable, ServiceEntriesCarryBackendsAndDeclaredProtocol) {
  DiscoveryUpdate u = Full(3);
  auto* svc = u.mutable_endpoints(1);  // 10.96.0.10:80
  for (auto [ip, port] :
       std::vector<std::pair<std::string, uint32_t>>{{"10.0.0.5", 8080}, {"10.0.0.6", 8080}}) {
    auto* b = svc->add_backends();
    b->set_ip(ip);
    b->set_port(port);
  }
  svc->set_protocol("http");
  u.mutable_endpoints(0)->set_protocol("opaque");
  u.mutable_endpoints(2)->set_protocol("sctp-of-the-future");  // a newer control plane
  auto t = EndpointTable::Apply(nullptr, u);
  ASSERT_TRUE(t.ok()) << t.status();
  const auto* e = (*t)->Find(At("10.96.0.10:80"));
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->backends.size(), 2u);
  EXPECT_EQ(e->backends[0].ToString(), "10.0.0.5:8080");
  EXPECT_EQ(e->backends[1].ToString(), "10.0.0.6:8080");
  EXPECT_EQ(e->protocol, DeclaredProtocol::kHttp);
  EXPECT_EQ((*t)->Find(At("10.0.0.5:1"))->protocol, DeclaredProtocol::kOpaque);
  EXPECT_EQ((*t)->Find(At("10.0.0.9:1"))->protocol, DeclaredProtocol::kUnknown);
  const std::string json = EndpointsJson(t->get());
  EXPECT_NE(json.find("\"10.0.0.6:8080\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"protocol\": \"http\""), std::string::npos) << json;

  // A backend that is not a canonical address with a port fails the update.
  for (auto [ip, port] : std::vector<std::pair<std::string, uint32_t>>{
           {"10.0.0.5", 0}, {"10.0.0.5", 65536}, {"cart", 80}, {"FD00::1", 80}, {"", 80}}) {
    DiscoveryUpdate bad = Full(4);
    auto* b = bad.mutable_endpoints(1)->add_backends();
    b->set_ip(ip);
    b->set_port(port);
    EXPECT_EQ(EndpointTable::Apply(nullptr, bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << ip << " " << port;
  }
  DiscoveryUpdate many = Full(5);
  for (int i = 0; i <= 1000; ++i) {
    auto* b = many.mutable_endpoints(1)->add_backends();
    b->set_ip("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    b->set_port(80);
  }
  EXPECT_EQ(EndpointTable::Apply(nullptr, many).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EndpointTable, JsonListsEveryEntry) {
  EXPECT_NE(EndpointsJson(nullptr).find("\"version\": 0"), std::string::npos);
  auto t = EndpointTable::Apply(nullptr, Full(7));
  const std::string json = EndpointsJson(t->get());
  EXPECT_NE(json.find("\"10.96.0.10:80\""), std::string::npos);
  EXPECT_NE(json.find(kWeb), std::string::npos);
  EXPECT_NE(json.find("\"version\": 7"), std::string::npos);
}

}  // namespace
}  // namespace tether::proxy
