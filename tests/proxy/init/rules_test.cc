#include "proxy/init/rules.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace tether::proxy {
namespace {

TEST(Rules, DefaultsRedirectBothDirectionsAndExemptTheProxy) {
  InterceptionConfig c;
  std::string v4 = RenderRules(c, Family::kIpv4);
  EXPECT_TRUE(absl::StartsWith(v4, "*nat\n"));
  EXPECT_TRUE(absl::EndsWith(v4, "COMMIT\n"));
  for (const char* line : {
           ":TETHER_INBOUND - [0:0]",
           "-A TETHER_INBOUND -p tcp --dport 15000 -j RETURN",
           "-A TETHER_INBOUND -p tcp -j TETHER_IN_REDIRECT",
           "-A TETHER_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
           "-A TETHER_OUTPUT -m owner --uid-owner 1337 -j RETURN",
           "-A TETHER_OUTPUT -o lo -j RETURN",
           "-A TETHER_OUTPUT -d 127.0.0.0/8 -j RETURN",
           "-A TETHER_OUTPUT -p tcp -j TETHER_REDIRECT",
           "-A TETHER_REDIRECT -p tcp -j REDIRECT --to-ports 15001",
       }) {
    EXPECT_TRUE(absl::StrContains(v4, std::string(line) + "\n")) << line;
  }
  std::string v6 = RenderRules(c, Family::kIpv6);
  EXPECT_TRUE(absl::StrContains(v6, "-A TETHER_OUTPUT -d ::1/128 -j RETURN\n"));
  EXPECT_FALSE(absl::StrContains(v6, "127.0.0.0/8"));
}

// The proxy's inbound upstream goes to the pod's own IP (out via lo): the UID
// exemption must be TETHER_OUTPUT's first rule, before anything that could
// redirect it, in both families.
TEST(Rules, TheProxyUidIsExemptBeforeAnyOtherOutputRule) {
  InterceptionConfig c;
  c.exclude_outbound_ports = {9090};
  c.exclude_outbound_cidrs = {"10.0.0.0/8", "fd00::/8"};
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    std::string rules = RenderRules(c, f);
    size_t first = rules.find("-A TETHER_OUTPUT ");
    ASSERT_NE(first, std::string::npos);
    EXPECT_TRUE(absl::StartsWith(rules.substr(first),
                                 "-A TETHER_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"));
  }
}

TEST(Rules, ExclusionsComeBeforeTheRedirectAndCidrsGoToTheirFamily) {
  InterceptionConfig c;
  c.proxy_uid = 2000;
  c.exclude_inbound_ports = {8081};
  c.exclude_outbound_ports = {5432};
  c.exclude_outbound_cidrs = {"169.254.169.254", "fd00::/8"};
  std::string v4 = RenderRules(c, Family::kIpv4);
  size_t redirect = v4.find("-A TETHER_OUTPUT -p tcp -j TETHER_REDIRECT");
  for (const char* line : {"-A TETHER_OUTPUT -p tcp --dport 5432 -j RETURN",
                           "-A TETHER_OUTPUT -d 169.254.169.254/32 -j RETURN",
                           "-A TETHER_OUTPUT -m owner --uid-owner 2000 -j RETURN"}) {
    size_t at = v4.find(line);
    ASSERT_NE(at, std::string::npos) << line;
    EXPECT_LT(at, redirect) << line;
  }
  EXPECT_LT(v4.find("--dport 8081 -j RETURN"), v4.find("-j TETHER_IN_REDIRECT"));
  EXPECT_FALSE(absl::StrContains(v4, "fd00::"));
  EXPECT_TRUE(absl::StrContains(RenderRules(c, Family::kIpv6), "-d fd00::/8 -j RETURN"));
}

TEST(Rules, ValidationNamesTheBadValue) {
  InterceptionConfig c;
  c.exclude_inbound_ports = {70000};
  EXPECT_TRUE(absl::StrContains(Validate(c).message(), "70000"));
  c = InterceptionConfig();
  c.exclude_outbound_cidrs = {"10.0.0.0/33"};
  EXPECT_TRUE(absl::StrContains(Validate(c).message(), "10.0.0.0/33"));
  c = InterceptionConfig();
  c.proxy_uid = -1;
  EXPECT_FALSE(Validate(c).ok());
  EXPECT_TRUE(Validate(InterceptionConfig()).ok());
}

TEST(Rules, ParseLists) {
  EXPECT_EQ(*ParsePorts(""), std::vector<int>{});
  EXPECT_EQ(*ParsePorts(" 80, 443 "), (std::vector<int>{80, 443}));
  EXPECT_FALSE(ParsePorts("80,http").ok());
  EXPECT_FALSE(ParsePorts("0").ok());
  EXPECT_EQ(*ParseCidrs("10.0.0.0/8, ::1"), (std::vector<std::string>{"10.0.0.0/8", "::1/128"}));
  EXPECT_FALSE(ParseCidrs("10.0.0.0/8; rm -rf /").ok());
  EXPECT_FALSE(ParseCidrs("-j ACCEPT").ok());
}

}  // namespace
}  // namespace tether::proxy
