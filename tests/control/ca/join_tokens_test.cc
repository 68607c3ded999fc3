#include "control/ca/join_tokens.h"

#include <atomic>
#include <iterator>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

std::string TempPath() {
  std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/tokens-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl + "/join-tokens.jsonl";
}

pki::SpiffeId Cart() { return *pki::SpiffeId::Parse("spiffe://mesh.test/ns/shop/sa/cart"); }

TEST(JoinTokens, RedeemOnceForTheBoundIdentity) {
  FakeClock clock;
  auto tokens = JoinTokens::Load(TempPath(), &clock);
  ASSERT_TRUE(tokens.ok());
  auto minted = (*tokens)->Create(Cart(), absl::ZeroDuration());
  ASSERT_TRUE(minted.ok());
  EXPECT_TRUE(absl::StartsWith(minted->token, "tjt_"));
  EXPECT_EQ(minted->expires, clock.Now() + kDefaultJoinTokenTtl);
  auto id = (*tokens)->Redeem(minted->token);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, Cart());
  auto again = (*tokens)->Redeem(minted->token);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(again.status().message(), "already used"));
}

TEST(JoinTokens, ExpiredUnknownAndForeignTokens) {
  FakeClock clock;
  auto tokens = JoinTokens::Load(TempPath(), &clock);
  auto minted = (*tokens)->Create(Cart(), absl::Minutes(5));
  clock.Advance(absl::Minutes(5));
  auto expired = (*tokens)->Redeem(minted->token);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(absl::StrContains(expired.status().message(), "expired"));
  EXPECT_TRUE(absl::StrContains((*tokens)->Redeem("tjt_unknown").status().message(), "unknown"));
  EXPECT_TRUE(absl::StrContains((*tokens)->Redeem("").status().message(), "unknown"));
  EXPECT_TRUE(
      absl::StrContains((*tokens)->Redeem(std::string(100000, 'x')).status().message(), "unknown"));
}

TEST(JoinTokens, TtlBounds) {
  FakeClock clock;
  auto tokens = JoinTokens::Load(TempPath(), &clock);
  EXPECT_EQ((*tokens)->Create(Cart(), absl::Hours(25)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*tokens)->Create(Cart(), -absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JoinTokens, SurviveRestartStoredOnlyAsHashes) {
  FakeClock clock;
  std::string path = TempPath();
  std::string token;
  {
    auto tokens = JoinTokens::Load(path, &clock);
    token = (*tokens)->Create(Cart(), absl::ZeroDuration())->token;
  }
  auto file = ReadFile(path);
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(absl::StrContains(*file, token.substr(4)));
  EXPECT_TRUE(absl::StrContains(*file, HashToken(token)));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto reloaded = JoinTokens::Load(path, &clock);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE((*reloaded)->Redeem(token).ok());
  // The use is persisted too: a restart does not make a token usable again.
  auto again = JoinTokens::Load(path, &clock);
  EXPECT_TRUE(absl::StrContains((*again)->Redeem(token).status().message(), "already used"));
}

TEST(JoinTokens, AddressesComeBackOnRedeemAlsoAfterARestartAndACompaction) {
  FakeClock clock;
  std::string path = TempPath();
  std::string token;
  {
    auto tokens = JoinTokens::Load(path, &clock);
    token = (*tokens)->Create(Cart(), absl::ZeroDuration(), {"10.0.0.5", "[fd00::1]:8080"})->token;
  }
  auto reloaded = JoinTokens::Load(path, &clock);  // Load compacts
  ASSERT_TRUE(reloaded.ok());
  JoinTokens::Redeemed redeemed;
  ASSERT_TRUE((*reloaded)->Redeem(token, &redeemed).ok());
  EXPECT_EQ(redeemed.addresses, (std::vector<std::string>{"10.0.0.5", "[fd00::1]:8080"}));
  // Kept in whole seconds.
  EXPECT_LE(absl::AbsDuration(redeemed.expires - (clock.Now() + kDefaultJoinTokenTtl)),
            absl::Seconds(1));
  EXPECT_EQ(redeemed.token_id, HashToken(token).substr(0, 16));
}

TEST(JoinTokens, CorruptJournalIsAnErrorNotAnEmptySet) {
  FakeClock clock;
  std::string path = TempPath();
  ASSERT_TRUE(WriteFileAtomic(path, "{not json\n").ok());
  auto tokens = JoinTokens::Load(path, &clock);
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(tokens.status().message(), path + ":1")) << tokens.status();
  ASSERT_TRUE(WriteFileAtomic(path, "{\"use\":\"ab\"}\n{\"mint\":1}\n").ok());
  tokens = JoinTokens::Load(path, &clock);
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(tokens.status().message(), ":2: malformed mint record"))
      << tokens.status();
}

TEST(JoinTokens, LineCutShortByACrashIsDropped) {
  FakeClock clock;
  std::string path = TempPath();
  std::string token;
  {
    auto tokens = JoinTokens::Load(path, &clock);
    token = (*tokens)->Create(Cart(), absl::ZeroDuration())->token;
  }
  std::string file = *ReadFile(path);
  ASSERT_TRUE(WriteFileAtomic(path, file + "{\"use\":\"" + HashToken(token).substr(0, 9)).ok());
  auto tokens = JoinTokens::Load(path, &clock);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*ReadFile(path), file);  // compacted: the torn line is gone
  EXPECT_TRUE((*tokens)->Redeem(token).ok());
}

TEST(JoinTokens, CompactionDropsExpiredTokensAndKeepsUses) {
  FakeClock clock;
  std::string path = TempPath();
  auto tokens = JoinTokens::Load(path, &clock);
  std::string used = (*tokens)->Create(Cart(), absl::Hours(1))->token;
  std::string unused = (*tokens)->Create(Cart(), absl::Hours(1))->token;
  ASSERT_TRUE((*tokens)->Redeem(used).ok());
  std::vector<std::string> short_lived;
  for (int i = 0; i < 600; ++i) {
    short_lived.push_back((*tokens)->Create(Cart(), absl::Minutes(1))->token);
  }
  clock.Advance(absl::Minutes(2));
  // Records grow past the compaction threshold: the expired ones go.
  for (int i = 0; i < 500; ++i) ASSERT_TRUE((*tokens)->Create(Cart(), absl::Hours(1)).ok());
  auto lines = absl::StrSplit(*ReadFile(path), '\n', absl::SkipEmpty());
  const size_t count = std::distance(lines.begin(), lines.end());
  EXPECT_LT(count, 600u);
  EXPECT_GE(count, 3u);
  auto reloaded = JoinTokens::Load(path, &clock);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(absl::StrContains((*reloaded)->Redeem(used).status().message(), "already used"));
  EXPECT_TRUE(absl::StrContains((*reloaded)->Redeem(short_lived[0]).status().message(), "unknown"));
  EXPECT_TRUE((*reloaded)->Redeem(unused).ok());
}

TEST(JoinTokens, ConcurrentRedeemsOfOneTokenSucceedOnce) {
  FakeClock clock;
  auto tokens = JoinTokens::Load(TempPath(), &clock);
  std::string token = (*tokens)->Create(Cart(), absl::ZeroDuration())->token;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if ((*tokens)->Redeem(token).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
}

TEST(JoinTokens, ManyConcurrentRedeemsAllSucceedAndPersist) {
  FakeClock clock;
  std::string path = TempPath();
  auto tokens = JoinTokens::Load(path, &clock);
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::string> minted;
  for (int i = 0; i < kThreads * kEach; ++i) {
    minted.push_back((*tokens)->Create(Cart(), absl::ZeroDuration())->token);
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if ((*tokens)->Redeem(minted[t * kEach + i]).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  auto reloaded = JoinTokens::Load(path, &clock);
  for (const std::string& token : minted) {
    EXPECT_TRUE(absl::StrContains((*reloaded)->Redeem(token).status().message(), "already used"));
  }
}

}  // namespace
}  // namespace tether::control
