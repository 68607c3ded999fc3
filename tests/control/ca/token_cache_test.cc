// CachingAuthenticator: one review per token while cached; accepted tokens
// until their JWT expiry (capped), refused ones briefly, API trouble never;
// bounded size; keyed by hash (the token is not kept).
#include "control/ca/token_cache.h"

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/fake_clock.h"

namespace tether::control {
namespace {

class CountingAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<pki::SpiffeId> Authenticate(absl::string_view token) override {
    ++calls[std::string(token)];
    if (unavailable) return absl::UnavailableError("API server down");
    if (absl::StartsWith(token, "bad") || withdrawn.contains(std::string(token))) {
      return absl::UnauthenticatedError("rejected");
    }
    return pki::SpiffeId::Make("mesh.test", "shop", "cart");
  }
  std::map<std::string, int> calls;
  std::set<std::string> withdrawn;
  bool unavailable = false;
};

std::string Jwt(int64_t exp) {
  return absl::StrCat("eyJhbGciOiJSUzI1NiJ9.",
                      absl::WebSafeBase64Escape(absl::StrCat("{\"sub\":\"x\",\"exp\":", exp, "}")),
                      ".c2ln");
}

TEST(JwtExpiry, ReadsExpOrNothing) {
  EXPECT_EQ(JwtExpiry(Jwt(1800000000)), absl::FromUnixSeconds(1800000000));
  EXPECT_EQ(JwtExpiry("not-a-jwt"), std::nullopt);
  EXPECT_EQ(JwtExpiry("a.!!!.c"), std::nullopt);
  EXPECT_EQ(JwtExpiry(absl::StrCat("a.", absl::WebSafeBase64Escape("{\"sub\":1}"), ".c")),
            std::nullopt);
  EXPECT_EQ(JwtExpiry(absl::StrCat("a.", absl::WebSafeBase64Escape("[1,2"), ".c")), std::nullopt);
}

TEST(CachingAuthenticator, AcceptedTokenIsCachedUntilItsExpiryCappedByMaxTtl) {
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  CountingAuthenticator inner;
  CachingAuthenticator cache(&inner, &clock, {.max_ttl = absl::Minutes(10)});
  const std::string soon = Jwt(1800000000 + 60);  // expires in a minute
  const std::string later = Jwt(1800000000 + 86400);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(cache.Authenticate(soon).ok());
    ASSERT_TRUE(cache.Authenticate(later).ok());
  }
  EXPECT_EQ(inner.calls[soon], 1);
  EXPECT_EQ(inner.calls[later], 1);
  EXPECT_EQ(cache.hits(), 8u);
  clock.Advance(absl::Seconds(61));
  ASSERT_TRUE(cache.Authenticate(soon).ok());  // past its exp: asked again
  ASSERT_TRUE(cache.Authenticate(later).ok());
  EXPECT_EQ(inner.calls[soon], 2);
  EXPECT_EQ(inner.calls[later], 1);
  clock.Advance(absl::Minutes(10));  // past max_ttl
  ASSERT_TRUE(cache.Authenticate(later).ok());
  EXPECT_EQ(inner.calls[later], 2);
}

TEST(CachingAuthenticator, RefusedBrieflyUnavailableNever) {
  FakeClock clock;
  CountingAuthenticator inner;
  CachingAuthenticator cache(&inner, &clock, {.negative_ttl = absl::Seconds(5)});
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<pki::SpiffeId> r = cache.Authenticate("bad.token.x");
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(inner.calls["bad.token.x"], 1);
  clock.Advance(absl::Seconds(5));
  EXPECT_FALSE(cache.Authenticate("bad.token.x").ok());
  EXPECT_EQ(inner.calls["bad.token.x"], 2);

  inner.unavailable = true;
  EXPECT_EQ(cache.Authenticate("good.token.y").status().code(), absl::StatusCode::kUnavailable);
  inner.unavailable = false;
  EXPECT_TRUE(cache.Authenticate("good.token.y").ok());
  EXPECT_EQ(inner.calls["good.token.y"], 2);
}

TEST(CachingAuthenticator, BoundedLeastRecentlyUsedGoesFirst) {
  FakeClock clock;
  CountingAuthenticator inner;
  CachingAuthenticator cache(&inner, &clock, {.max_entries = 3});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache.Authenticate(absl::StrCat("t", i)).ok());
  ASSERT_TRUE(cache.Authenticate("t0").ok());  // t0 most recent; t1 least
  ASSERT_TRUE(cache.Authenticate("t3").ok());  // evicts t1
  EXPECT_EQ(cache.size(), 3u);
  ASSERT_TRUE(cache.Authenticate("t0").ok());
  ASSERT_TRUE(cache.Authenticate("t1").ok());
  EXPECT_EQ(inner.calls["t0"], 1);
  EXPECT_EQ(inner.calls["t1"], 2);
  for (int i = 0; i < 1000; ++i) (void)cache.Authenticate(absl::StrCat("bad", i));
  EXPECT_EQ(cache.size(), 3u);
}

TEST(CachingAuthenticator, ZeroEntriesIsNoCache) {
  FakeClock clock;
  CountingAuthenticator inner;
  CachingAuthenticator cache(&inner, &clock, {.max_entries = 0});
  (void)cache.Authenticate("t");
  (void)cache.Authenticate("t");
  EXPECT_EQ(inner.calls["t"], 2);
}

// Review (a stream re-checking its token) always asks the API server; its
// verdict replaces the cached one, but an outage leaves the entry alone.
TEST(CachingAuthenticator, ReviewBypassesTheCacheAndRefreshesIt) {
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  CountingAuthenticator inner;
  CachingAuthenticator cache(&inner, &clock, {.max_ttl = absl::Minutes(10)});
  const std::string token = Jwt(1800000000 + 86400);
  ASSERT_TRUE(cache.Authenticate(token).ok());
  ASSERT_TRUE(cache.Review(token).ok());
  ASSERT_TRUE(cache.Review(token).ok());
  EXPECT_EQ(inner.calls[token], 3);
  inner.unavailable = true;
  EXPECT_EQ(cache.Review(token).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(cache.Authenticate(token).ok()) << "an outage dropped the cached answer";
  EXPECT_EQ(inner.calls[token], 4);

  // Withdrawn: the review's refusal replaces the cached acceptance.
  inner.unavailable = false;
  inner.withdrawn.insert(token);
  EXPECT_EQ(cache.Review(token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(cache.Authenticate(token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(inner.calls[token], 5);
}

}  // namespace
}  // namespace tether::control
