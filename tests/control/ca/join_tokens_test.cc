#include "control/ca/join_tokens.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

std::string TempPath() {
  std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/tokens-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl + "/join-tokens.json";
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

TEST(JoinTokens, CorruptFileIsAnErrorNotAnEmptySet) {
  FakeClock clock;
  std::string path = TempPath();
  ASSERT_TRUE(WriteFileAtomic(path, "{not json").ok());
  auto tokens = JoinTokens::Load(path, &clock);
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(tokens.status().message(), path));
  ASSERT_TRUE(WriteFileAtomic(path, R"({"tokens":[{"sha256":1}]})").ok());
  EXPECT_EQ(JoinTokens::Load(path, &clock).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tether::control
