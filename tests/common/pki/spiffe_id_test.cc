#include "common/pki/spiffe_id.h"

#include <string>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace tether::pki {
namespace {

using ::testing::HasSubstr;

TEST(SpiffeIdTest, ParsesTheThreeParts) {
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/cart");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->trust_domain, "mesh.local");
  EXPECT_EQ(id->namespace_name, "shop");
  EXPECT_EQ(id->service_account, "cart");
  EXPECT_EQ(id->ToString(), "spiffe://mesh.local/ns/shop/sa/cart");
}

TEST(SpiffeIdTest, AcceptsEveryAllowedCharacter) {
  for (const char* uri : {
           "spiffe://a/ns/b/sa/c",
           "spiffe://my-mesh_1.example.com/ns/Kube-System_2/sa/Default.SA",
           "spiffe://0.0/ns/0/sa/9",
           // Dots are ordinary characters; only whole "." / ".." parts are refused.
           "spiffe://mesh..local/ns/a..b/sa/...",
           "spiffe://mesh.local/ns/.hidden/sa/x.",
       }) {
    absl::StatusOr<SpiffeId> id = SpiffeId::Parse(uri);
    ASSERT_TRUE(id.ok()) << uri << ": " << id.status();
    EXPECT_EQ(id->ToString(), uri);
  }
}

TEST(SpiffeIdTest, AcceptsTheLengthLimits) {
  std::string td(255, 'd');
  std::string ns(253, 'N');
  std::string sa(253, 's');
  std::string uri = "spiffe://" + td + "/ns/" + ns + "/sa/" + sa;
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(uri);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ToString(), uri);
}

TEST(SpiffeIdTest, RejectsMalformedIds) {
  const std::string long_td(256, 'd');
  const std::string long_name(254, 'n');
  const char kNul[] = "spiffe://mesh.local/ns/a\0b/sa/c";
  for (const std::string& uri : {
           std::string(""),
           std::string("spiffe://"),
           std::string("spiffe:"),
           std::string("mesh.local/ns/a/sa/b"),
           std::string("SPIFFE://mesh.local/ns/a/sa/b"),
           std::string("Spiffe://mesh.local/ns/a/sa/b"),
           std::string("https://mesh.local/ns/a/sa/b"),
           std::string("spiffe:/mesh.local/ns/a/sa/b"),
           std::string("spiffe:///ns/a/sa/b"),
           std::string("spiffe://Mesh.local/ns/a/sa/b"),
           std::string("spiffe://MESH.LOCAL/ns/a/sa/b"),
           std::string("spiffe://mesh.local"),
           std::string("spiffe://mesh.local/"),
           std::string("spiffe://mesh.local/ns/a"),
           std::string("spiffe://mesh.local/ns/a/sa"),
           std::string("spiffe://mesh.local/ns/a/sa/"),
           std::string("spiffe://mesh.local/ns//sa/b"),
           std::string("spiffe://mesh.local/ns/a/sa/b/"),
           std::string("spiffe://mesh.local/ns/a/sa/b/c"),
           std::string("spiffe://mesh.local//ns/a/sa/b"),
           std::string("spiffe://mesh.local/ns/a/sa/b/sa/c"),
           std::string("spiffe://mesh.local/NS/a/sa/b"),
           std::string("spiffe://mesh.local/ns/a/SA/b"),
           std::string("spiffe://mesh.local/sa/b/ns/a"),
           std::string("spiffe://mesh.local/namespace/a/sa/b"),
           std::string("spiffe://mesh.local/ns/a/sa/b?x=1"),
           std::string("spiffe://mesh.local/ns/a/sa/b#frag"),
           std::string("spiffe://mesh.local/ns/a?/sa/b"),
           std::string("spiffe://mesh.local:8443/ns/a/sa/b"),
           std::string("spiffe://user@mesh.local/ns/a/sa/b"),
           std::string("spiffe://mesh.local/ns/a%2Fb/sa/c"),
           std::string("spiffe://mesh local/ns/a/sa/b"),
           std::string("spiffe://mesh.local/ns/a b/sa/c"),
           std::string("spiffe://mesh.local/ns/caf\xc3\xa9/sa/c"),
           std::string("spiffe://mesh.local/ns/a/sa/b\n"),
           std::string(" spiffe://mesh.local/ns/a/sa/b"),
           std::string(kNul, sizeof(kNul) - 1),
           std::string("spiffe://mesh.local/ns/../sa/b"),
           std::string("spiffe://mesh.local/ns/./sa/b"),
           std::string("spiffe://mesh.local/ns/a/sa/.."),
           std::string("spiffe://../ns/a/sa/b"),
           std::string("spiffe://./ns/a/sa/b"),
           "spiffe://" + long_td + "/ns/a/sa/b",
           "spiffe://mesh.local/ns/" + long_name + "/sa/b",
           "spiffe://mesh.local/ns/a/sa/" + long_name,
       }) {
    absl::StatusOr<SpiffeId> id = SpiffeId::Parse(uri);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << "accepted: " << uri;
  }
}

TEST(SpiffeIdTest, ErrorsNameTheProblem) {
  EXPECT_THAT(SpiffeId::Parse("https://mesh.local/ns/a/sa/b").status().message(),
              HasSubstr("spiffe://"));
  EXPECT_THAT(SpiffeId::Parse("spiffe://mesh.local/ns/a/sa/b?q").status().message(),
              HasSubstr("query or fragment"));
  EXPECT_THAT(SpiffeId::Parse("spiffe://mesh.local/ns/a/b").status().message(),
              HasSubstr("/ns/<namespace>/sa/<service-account>"));
  EXPECT_THAT(SpiffeId::Parse("spiffe://Mesh/ns/a/sa/b").status().message(),
              HasSubstr("trust domain"));
}

TEST(SpiffeIdTest, MakeValidatesEachPart) {
  absl::StatusOr<SpiffeId> id = SpiffeId::Make("mesh.local", "shop", "cart");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->ToString(), "spiffe://mesh.local/ns/shop/sa/cart");

  EXPECT_THAT(SpiffeId::Make("", "a", "b").status().message(), HasSubstr("trust domain"));
  EXPECT_THAT(SpiffeId::Make("Mesh", "a", "b").status().message(), HasSubstr("trust domain"));
  EXPECT_THAT(SpiffeId::Make("mesh", "", "b").status().message(), HasSubstr("namespace"));
  EXPECT_THAT(SpiffeId::Make("mesh", "a/b", "c").status().message(), HasSubstr("namespace"));
  EXPECT_THAT(SpiffeId::Make("mesh", "a", "").status().message(), HasSubstr("service account"));
  EXPECT_THAT(SpiffeId::Make("mesh", "a", "..").status().message(), HasSubstr("service account"));
  for (const auto& [td, ns, sa] : {std::tuple("mesh", "a", "b/c"), std::tuple("m:1", "a", "b"),
                                   std::tuple("mesh", "a?", "b")}) {
    EXPECT_EQ(SpiffeId::Make(td, ns, sa).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(SpiffeIdTest, ValidTrustDomain) {
  EXPECT_TRUE(ValidTrustDomain("mesh.local"));
  EXPECT_TRUE(ValidTrustDomain("a-b_c.0"));
  EXPECT_TRUE(ValidTrustDomain(std::string(255, 'x')));
  EXPECT_FALSE(ValidTrustDomain(""));
  EXPECT_FALSE(ValidTrustDomain(std::string(256, 'x')));
  EXPECT_FALSE(ValidTrustDomain("Mesh.local"));
  EXPECT_FALSE(ValidTrustDomain("mesh.local:443"));
  EXPECT_FALSE(ValidTrustDomain("mesh/local"));
  EXPECT_FALSE(ValidTrustDomain(".."));
}

TEST(SpiffeIdTest, Equality) {
  SpiffeId a = *SpiffeId::Parse("spiffe://mesh.local/ns/a/sa/b");
  SpiffeId b = *SpiffeId::Make("mesh.local", "a", "b");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, *SpiffeId::Make("mesh.local", "a", "c"));
  EXPECT_NE(a, *SpiffeId::Make("mesh.local", "x", "b"));
  EXPECT_NE(a, *SpiffeId::Make("other.local", "a", "b"));
}

}  // namespace
}  // namespace tether::pki
