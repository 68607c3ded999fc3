#include "proxy/tls/session_cache.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

namespace tether::proxy {
namespace {

constexpr char kOurs[] = "serial-1|bundle";
const pki::Revocations kNone;

absl::Time At(int64_t unix_seconds) { return absl::FromUnixSeconds(unix_seconds); }

// A session BoringSSL stamped at `time` with a ticket lifetime of `timeout`
// seconds, for peer `serial`, offerable until `valid_until`.
CachedSession Session(int64_t time, uint32_t timeout = 3600, int64_t valid_until = 1 << 30,
                      const std::string& serial = "5e") {
  static SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  CachedSession s;
  s.session.reset(SSL_SESSION_new(ctx));
  SSL_SESSION_set_time(s.session.get(), static_cast<uint64_t>(time));
  SSL_SESSION_set_timeout(s.session.get(), timeout);
  s.valid_until = At(valid_until);
  s.peer_serial = serial;
  s.peer_id = "spiffe://mesh.test/ns/shop/sa/b";
  return s;
}

TEST(TlsSessionCacheTest, TakeGivesTheNewestOnceAndForgetsIt) {
  TlsSessionCache cache;
  EXPECT_EQ(cache.Take("a", kOurs, At(100), kNone), nullptr);
  CachedSession older = Session(100);
  CachedSession newer = Session(101);
  SSL_SESSION* newer_raw = newer.session.get();
  cache.Put("a", kOurs, std::move(older));
  cache.Put("a", kOurs, std::move(newer));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Take("a", kOurs, At(200), kNone).get(), newer_raw);
  EXPECT_NE(cache.Take("a", kOurs, At(200), kNone), nullptr);
  EXPECT_EQ(cache.Take("a", kOurs, At(200), kNone), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TlsSessionCacheTest, KeysAreSeparate) {
  TlsSessionCache cache;
  cache.Put("a", kOurs, Session(100));
  EXPECT_EQ(cache.Take("b", kOurs, At(100), kNone), nullptr);
  EXPECT_NE(cache.Take("a", kOurs, At(100), kNone), nullptr);
}

TEST(TlsSessionCacheTest, TicketsPastTheServersLifetimeAreSkipped) {
  TlsSessionCache cache;
  cache.Put("a", kOurs, Session(100, 50));   // until 150
  cache.Put("a", kOurs, Session(100, 500));  // until 600
  cache.Put("a", kOurs, Session(100, 10));   // until 110
  bssl::UniquePtr<SSL_SESSION> s = cache.Take("a", kOurs, At(200), kNone);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(SSL_SESSION_get_timeout(s.get()), 500u);
  EXPECT_EQ(cache.Take("a", kOurs, At(200), kNone), nullptr);
}

TEST(TlsSessionCacheTest, ASessionIsNeverOfferedOnceACertificateItWasMadeWithExpired) {
  TlsSessionCache cache;
  // The ticket would last an hour; the certificates only until 160.
  cache.Put("a", kOurs, Session(100, 3600, /*valid_until=*/160));
  cache.Put("a", kOurs, Session(100, 3600, /*valid_until=*/160));
  EXPECT_NE(cache.Take("a", kOurs, At(159), kNone), nullptr);
  EXPECT_EQ(cache.Take("a", kOurs, At(160), kNone), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TlsSessionCacheTest, SessionsMadeWithOurEarlierCredentialsAreDropped) {
  TlsSessionCache cache;
  cache.Put("a", kOurs, Session(100));
  cache.Put("b", kOurs, Session(100));
  EXPECT_EQ(cache.size(), 2u);
  // Our certificate rotated: the server would see the old one in a resumption.
  EXPECT_EQ(cache.Take("a", "serial-2|bundle", At(100), kNone), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.flushed(), 2u);
  // A Put with the new credentials starts over too, and is kept.
  cache.Put("a", kOurs, Session(100));
  cache.Put("a", "serial-2|bundle", Session(100));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(cache.Take("a", "serial-2|bundle", At(100), kNone), nullptr);
}

TEST(TlsSessionCacheTest, ASessionWithARevokedPeerIsNotOffered) {
  TlsSessionCache cache;
  cache.Put("a", kOurs, Session(100, 3600, 1 << 30, "aa"));
  cache.Put("a", kOurs, Session(100, 3600, 1 << 30, "bb"));
  pki::Revocations revoked;
  revoked.serials.insert("bb");
  // The newest (bb) is skipped, the older (aa) offered.
  EXPECT_NE(cache.Take("a", kOurs, At(100), revoked), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  cache.Put("a", kOurs, Session(100));
  pki::Revocations by_id;
  by_id.spiffe_ids.insert("spiffe://mesh.test/ns/shop/sa/b");
  EXPECT_EQ(cache.Take("a", kOurs, At(100), by_id), nullptr);
}

TEST(TlsSessionCacheTest, BoundedPerKeyAndInKeys) {
  TlsSessionCache cache(/*per_key=*/2, /*max_keys=*/2);
  for (int i = 0; i < 5; ++i) cache.Put("a", kOurs, Session(100));
  EXPECT_EQ(cache.size(), 2u);
  cache.Put("b", kOurs, Session(100));
  cache.Put("c", kOurs, Session(100));  // evicts "a", the least recently stored
  EXPECT_EQ(cache.Take("a", kOurs, At(100), kNone), nullptr);
  EXPECT_NE(cache.Take("b", kOurs, At(100), kNone), nullptr);
  EXPECT_NE(cache.Take("c", kOurs, At(100), kNone), nullptr);
}

}  // namespace
}  // namespace tether::proxy
