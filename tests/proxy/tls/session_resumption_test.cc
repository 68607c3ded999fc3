// TLS session resumption between two TlsTransports over a socket pair: the
// second connection to the same upstream resumes with a ticket from the
// first, and the peer is still verified (identity, expiry) when it does.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "common/pki/certs.h"
#include "common/pki/spiffe_id.h"
#include "common/pki/verify.h"
#include "common/testing/fake_clock.h"
#include "proxy/net/socket.h"
#include "proxy/tls/identity_snapshot.h"
#include "proxy/tls/session_cache.h"
#include "proxy/tls/tls_transport.h"
#include "tests/proxy/testing/test_mesh.h"

namespace tether::proxy {
namespace {

constexpr char kTd[] = "mesh.test";
constexpr char kKey[] = "127.0.0.1:15006|spiffe://mesh.test/ns/shop/sa/b";

class SessionResumptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = mesh_.Snapshot("a", absl::Hours(1));
    server_ = mesh_.Snapshot("b", absl::Hours(2));
  }

  struct Result {
    bool ok = false;
    bool client_resumed = false;
    bool server_resumed = false;
    TlsObservation client_obs;
    TlsObservation server_obs;
  };

  // Connect runs one connection: both handshakes, then the server sends a
  // few bytes that the client reads (which is when the tickets arrive).
  Result Connect(const std::string& expect = "spiffe://mesh.test/ns/shop/sa/b",
                 TlsSessionCache* cache = nullptr) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    Result r;
    TlsTransport::Options c;
    c.role = TlsTransport::Role::kClient;
    c.identity = client_;
    c.clock = &client_clock_;
    c.expected_peer = *pki::SpiffeId::Parse(expect);
    c.observation = &r.client_obs;
    c.session_cache = cache != nullptr ? cache : &cache_;
    c.session_key = kKey;
    c.peer_cache = &client_peers_;
    TlsTransport::Options s;
    s.role = TlsTransport::Role::kServer;
    s.identity = server_;
    s.clock = &server_clock_;
    s.observation = &r.server_obs;
    s.peer_cache = &server_peers_;
    TlsTransport client(UniqueFd(fds[0]), std::move(c));
    TlsTransport server(UniqueFd(fds[1]), std::move(s));
    if (!testing::HandshakeOverPair(client, server)) return r;
    r.client_resumed = client.resumed();
    r.server_resumed = server.resumed();
    size_t n = 0;
    const uint8_t hello[] = "hello";
    if (server.Write(hello, sizeof(hello), &n) != IoStatus::kOk) return r;
    uint8_t buf[64];
    for (int i = 0; i < 20; ++i) {
      if (client.Read(buf, sizeof(buf), &n) == IoStatus::kOk) {
        r.ok = n == sizeof(hello);
        break;
      }
    }
    return r;
  }

  // BoringSSL stamps sessions and checks tickets with the real clock; the
  // transports' clocks start there and are moved by hand.
  absl::Time now_ = absl::Now();
  testing::TestMesh mesh_{kTd, now_};
  FakeClock client_clock_{now_};
  FakeClock server_clock_{now_};
  std::shared_ptr<const IdentitySnapshot> client_;
  std::shared_ptr<const IdentitySnapshot> server_;
  TlsSessionCache cache_;
  // As in a worker: the chains each side verified.
  VerifiedPeerCache client_peers_;
  VerifiedPeerCache server_peers_;
};

TEST_F(SessionResumptionTest, SecondConnectionResumesAndStillKnowsThePeers) {
  Result first = Connect();
  ASSERT_TRUE(first.ok);
  EXPECT_FALSE(first.client_resumed);
  EXPECT_FALSE(first.server_obs.resumed);
  EXPECT_GT(cache_.size(), 0u) << "the server's tickets were not kept";

  Result second = Connect();
  ASSERT_TRUE(second.ok);
  EXPECT_TRUE(second.client_resumed);
  EXPECT_TRUE(second.server_resumed);
  EXPECT_TRUE(second.client_obs.resumed);
  EXPECT_TRUE(second.server_obs.resumed);
  // Both sides still name the peer: the session's chain was verified again.
  EXPECT_EQ(second.client_obs.peer.ToString(), "spiffe://mesh.test/ns/shop/sa/b");
  EXPECT_EQ(second.server_obs.peer.ToString(), "spiffe://mesh.test/ns/shop/sa/a");
  EXPECT_EQ(second.server_obs.peer_serial, first.server_obs.peer_serial);
}

TEST_F(SessionResumptionTest, TicketsAreUsedOnce) {
  ASSERT_TRUE(Connect().ok);
  const size_t after_first = cache_.size();
  ASSERT_GT(after_first, 0u);
  // A resumed connection takes one ticket and brings new ones.
  Result second = Connect();
  ASSERT_TRUE(second.ok);
  EXPECT_TRUE(second.client_resumed);
  EXPECT_GE(cache_.size(), after_first);
}

TEST_F(SessionResumptionTest, ACacheThatKeepsNothingMeansFullHandshakes) {
  TlsSessionCache none(/*per_key=*/0, /*max_keys=*/0);
  const std::string b = "spiffe://mesh.test/ns/shop/sa/b";
  ASSERT_TRUE(Connect(b, &none).ok);
  Result second = Connect(b, &none);
  ASSERT_TRUE(second.ok);
  EXPECT_FALSE(second.client_resumed);
  EXPECT_FALSE(second.server_resumed);
}

TEST_F(SessionResumptionTest, ResumedSessionWithTheWrongIdentityIsRefused) {
  ASSERT_TRUE(Connect().ok);
  // The cached session is with b; a connection that must reach c resumes it
  // and the client refuses the peer it remembers.
  Result r = Connect("spiffe://mesh.test/ns/shop/sa/c");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.client_obs.error, "identity_mismatch");
  EXPECT_NE(r.client_obs.error_detail.find("resumed session"), std::string::npos)
      << r.client_obs.error_detail;
}

TEST_F(SessionResumptionTest, ARevokedPeerIsRefusedThoughItsChainWasVerifiedBefore) {
  ASSERT_TRUE(Connect().ok);
  EXPECT_GT(client_peers_.size(), 0u);
  // b is revoked: the client's new snapshot says so (same key and chain).
  pki::Revocations revoked;
  revoked.spiffe_ids.insert("spiffe://mesh.test/ns/shop/sa/b");
  auto bundle = pki::TrustBundle::FromCerts(pki::CopyChain(client_->bundle.roots()));
  ASSERT_TRUE(bundle.ok());
  auto with = client_->WithTrust(*std::move(bundle), revoked);
  ASSERT_TRUE(with.ok());
  client_ = *with;
  Result r = Connect();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.client_obs.error, "revoked");
}

TEST_F(SessionResumptionTest, ServerRefusesAResumedClientWhoseCertificateExpired) {
  ASSERT_TRUE(Connect().ok);
  // The client's certificate (1 h) has expired by the server's clock; the
  // server's (2 h) has not. The ticket is still within its lifetime.
  server_clock_.Advance(absl::Minutes(90));
  Result r = Connect();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.server_obs.error, "expired");
  // Refused by the check of the resumed session, not by a full handshake.
  EXPECT_NE(r.server_obs.error_detail.find("resumed session"), std::string::npos)
      << r.server_obs.error_detail;
  EXPECT_FALSE(r.server_obs.done);
}

}  // namespace
}  // namespace tether::proxy
