#include "proxy/init/iptables.h"

#include <map>

#include <gtest/gtest.h>

#include "absl/strings/str_join.h"

namespace tether::proxy {
namespace {

// FakeRunner answers from a table keyed by the joined argv and records calls.
class FakeRunner : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    absl::string_view stdin_data) override {
    std::string cmd = absl::StrJoin(argv, " ");
    calls.push_back(cmd);
    stdin_of[cmd] = std::string(stdin_data);
    auto it = answers.find(cmd);
    if (it != answers.end()) return it->second;
    if (argv[0].find("-save") != std::string::npos) {
      return absl::NotFoundError("not installed");
    }
    return CommandResult{0, "", ""};
  }
  std::map<std::string, CommandResult> answers;
  std::vector<std::string> calls;
  std::map<std::string, std::string> stdin_of;
};

TEST(Iptables, AutoPicksTheFlavourThatHoldsKubernetesRules) {
  FakeRunner runner;
  runner.answers["iptables-nft-save"] = {0, "*filter\n-A INPUT -j ACCEPT\n-A X -j Y\nCOMMIT\n", ""};
  runner.answers["iptables-legacy-save"] = {0, "*nat\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n", ""};
  Iptables ipt(&runner, IptablesMode::kAuto);
  EXPECT_EQ(*ipt.Mode(), IptablesMode::kLegacy);
}

TEST(Iptables, AutoPicksTheFlavourWithMoreRulesElseNft) {
  FakeRunner runner;
  runner.answers["iptables-nft-save"] = {0, "", ""};
  runner.answers["iptables-legacy-save"] = {0, "-A INPUT -j ACCEPT\n", ""};
  EXPECT_EQ(*Iptables(&runner, IptablesMode::kAuto).Mode(), IptablesMode::kLegacy);
  runner.answers["iptables-legacy-save"] = {0, "", ""};
  EXPECT_EQ(*Iptables(&runner, IptablesMode::kAuto).Mode(), IptablesMode::kNft);
}

TEST(Iptables, NoIptablesAtAllIsAClearError) {
  FakeRunner runner;
  auto mode = Iptables(&runner, IptablesMode::kAuto).Mode();
  EXPECT_EQ(mode.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Iptables, ApplyRestoresAtomicallyAndAddsMissingJumpsOnce) {
  FakeRunner runner;
  // The OUTPUT jump exists already; PREROUTING's does not.
  runner.answers["iptables-nft -t nat -C PREROUTING -p tcp -j TETHER_INBOUND"] = {1, "", ""};
  runner.answers["ip6tables-nft -t nat -C PREROUTING -p tcp -j TETHER_INBOUND"] = {1, "", ""};
  Iptables ipt(&runner, IptablesMode::kNft);
  InterceptionConfig config;
  ASSERT_TRUE(ipt.Apply(config).ok());
  EXPECT_EQ(runner.stdin_of["iptables-nft-restore --noflush"], RenderRules(config, Family::kIpv4));
  EXPECT_EQ(runner.stdin_of["ip6tables-nft-restore --noflush"], RenderRules(config, Family::kIpv6));
  int appends = 0;
  for (const auto& c : runner.calls) {
    if (c.find(" -A ") != std::string::npos) {
      ++appends;
      EXPECT_NE(c.find("PREROUTING"), std::string::npos) << c;
    }
  }
  EXPECT_EQ(appends, 2);  // IPv4 and IPv6 PREROUTING
}

TEST(Iptables, RestoreFailureIsReported) {
  FakeRunner runner;
  runner.answers["iptables-legacy-restore --noflush"] = {2, "", "iptables-restore: line 3 failed"};
  auto st = Iptables(&runner, IptablesMode::kLegacy).Apply(InterceptionConfig());
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("line 3 failed"), std::string::npos);
}

}  // namespace
}  // namespace tether::proxy
