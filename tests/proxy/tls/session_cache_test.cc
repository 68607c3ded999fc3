#include "proxy/tls/session_cache.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

namespace tether::proxy {
namespace {

// A session created at `time` that lasts `timeout` seconds.
bssl::UniquePtr<SSL_SESSION> Session(uint64_t time, uint32_t timeout = 3600) {
  static SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  bssl::UniquePtr<SSL_SESSION> s(SSL_SESSION_new(ctx));
  SSL_SESSION_set_time(s.get(), time);
  SSL_SESSION_set_timeout(s.get(), timeout);
  return s;
}

TEST(TlsSessionCacheTest, TakeGivesTheNewestOnceAndForgetsIt) {
  TlsSessionCache cache;
  EXPECT_EQ(cache.Take("a", 100), nullptr);
  bssl::UniquePtr<SSL_SESSION> older = Session(100);
  bssl::UniquePtr<SSL_SESSION> newer = Session(101);
  SSL_SESSION* newer_raw = newer.get();
  cache.Put("a", std::move(older));
  cache.Put("a", std::move(newer));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Take("a", 200).get(), newer_raw);
  EXPECT_NE(cache.Take("a", 200), nullptr);
  EXPECT_EQ(cache.Take("a", 200), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TlsSessionCacheTest, KeysAreSeparate) {
  TlsSessionCache cache;
  cache.Put("a", Session(100));
  EXPECT_EQ(cache.Take("b", 100), nullptr);
  EXPECT_NE(cache.Take("a", 100), nullptr);
}

TEST(TlsSessionCacheTest, ExpiredSessionsAreSkipped) {
  TlsSessionCache cache;
  cache.Put("a", Session(100, 50));   // until 150
  cache.Put("a", Session(100, 500));  // until 600
  cache.Put("a", Session(100, 10));   // until 110
  bssl::UniquePtr<SSL_SESSION> s = cache.Take("a", 200);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(SSL_SESSION_get_timeout(s.get()), 500u);
  EXPECT_EQ(cache.Take("a", 200), nullptr);
}

TEST(TlsSessionCacheTest, BoundedPerKeyAndInKeys) {
  TlsSessionCache cache(/*per_key=*/2, /*max_keys=*/2);
  for (int i = 0; i < 5; ++i) cache.Put("a", Session(100));
  EXPECT_EQ(cache.size(), 2u);
  cache.Put("b", Session(100));
  cache.Put("c", Session(100));  // evicts "a", the least recently stored
  EXPECT_EQ(cache.Take("a", 100), nullptr);
  EXPECT_NE(cache.Take("b", 100), nullptr);
  EXPECT_NE(cache.Take("c", 100), nullptr);
}

}  // namespace
}  // namespace tether::proxy
