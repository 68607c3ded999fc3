#include "proxy/init/iptables.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tether::proxy {
namespace {

struct Jump {
  const char* chain;
  const char* target;
};
constexpr Jump kJumps[] = {{"PREROUTING", "TETHER_INBOUND"}, {"OUTPUT", "TETHER_OUTPUT"}};

int CountRules(absl::string_view save) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(save, '\n')) {
    if (absl::StartsWith(line, "-A ")) ++n;
  }
  return n;
}

}  // namespace

absl::StatusOr<IptablesMode> ParseIptablesMode(absl::string_view name) {
  if (name == "auto") return IptablesMode::kAuto;
  if (name == "nft") return IptablesMode::kNft;
  if (name == "legacy") return IptablesMode::kLegacy;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown iptables mode \"", name, "\" (auto, nft or legacy)"));
}

std::string Iptables::Tool(Family family, absl::string_view suffix) {
  return absl::StrCat(family == Family::kIpv6 ? "ip6tables" : "iptables",
                      mode_ == IptablesMode::kLegacy ? "-legacy" : "-nft", suffix);
}

absl::StatusOr<IptablesMode> Iptables::Mode() {
  if (mode_ != IptablesMode::kAuto) return mode_;
  int score[2] = {0, 0};  // nft, legacy
  bool ours[2] = {false, false};
  const char* tools[2] = {"iptables-nft-save", "iptables-legacy-save"};
  bool any_tool = false;
  for (int i = 0; i < 2; ++i) {
    auto r = runner_->Run({tools[i]});
    if (!r.ok() || r->exit_code != 0) continue;
    any_tool = true;
    score[i] = CountRules(r->out);
    ours[i] = absl::StrContains(r->out, "KUBE-") || absl::StrContains(r->out, "TETHER_");
  }
  if (!any_tool) {
    return absl::FailedPreconditionError(
        "neither iptables-nft nor iptables-legacy is installed (Debian package: iptables)");
  }
  if (ours[0] != ours[1]) {
    mode_ = ours[0] ? IptablesMode::kNft : IptablesMode::kLegacy;
  } else {
    mode_ = score[1] > score[0] ? IptablesMode::kLegacy : IptablesMode::kNft;
  }
  return mode_;
}

absl::Status Iptables::Run(const std::vector<std::string>& argv, absl::string_view stdin_data) {
  auto r = runner_->Run(argv, stdin_data);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(absl::StrJoin(argv, " "), " failed (exit ", r->exit_code, "): ", r->err));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Iptables::Save(Family family) {
  if (auto m = Mode(); !m.ok()) return m.status();
  auto r = runner_->Run({Tool(family, "-save"), "-t", "nat"});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return absl::InternalError(r->err);
  return r->out;
}

absl::Status Iptables::Apply(const InterceptionConfig& config) {
  if (absl::Status st = Validate(config); !st.ok()) return st;
  if (auto m = Mode(); !m.ok()) return m.status();
  std::vector<Family> families = {Family::kIpv4};
  if (config.ipv6) families.push_back(Family::kIpv6);
  for (Family f : families) {
    if (absl::Status st = Run({Tool(f, "-restore"), "--noflush"}, RenderRules(config, f));
        !st.ok()) {
      return st;
    }
    for (const Jump& j : kJumps) {
      auto check =
          runner_->Run({Tool(f, ""), "-t", "nat", "-C", j.chain, "-p", "tcp", "-j", j.target});
      if (!check.ok()) return check.status();
      if (check->exit_code == 0) continue;
      if (absl::Status st =
              Run({Tool(f, ""), "-t", "nat", "-A", j.chain, "-p", "tcp", "-j", j.target});
          !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Iptables::Remove() {
  if (auto m = Mode(); !m.ok()) return m.status();
  for (Family f : {Family::kIpv4, Family::kIpv6}) {
    for (const Jump& j : kJumps) {
      // Delete every copy of the jump; stop at the first failure (none left).
      for (int i = 0; i < 100; ++i) {
        auto r =
            runner_->Run({Tool(f, ""), "-t", "nat", "-D", j.chain, "-p", "tcp", "-j", j.target});
        if (!r.ok()) return r.status();
        if (r->exit_code != 0) break;
      }
    }
    for (const char* chain : kChains) (void)runner_->Run({Tool(f, ""), "-t", "nat", "-F", chain});
    for (const char* chain : kChains) (void)runner_->Run({Tool(f, ""), "-t", "nat", "-X", chain});
  }
  return absl::OkStatus();
}

}  // namespace tether::proxy
