// TLS session resumption between two TlsTransports over a socket pair: the
// second connection to the same upstream resumes with a ticket from the
// first, and the peer is still verified (identity, expiry) when it does.
#include <vector>

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

// The burst of issue "handshakes fail in bursts", step by step, as a proxy
// pair with 1-minute certificates lives it: the server rotates, then the
// client, then the client's first certificate expires while the server's
// second is still good. Before the fix the client kept offering tickets made
// with its first certificate (the server's tickets inherit the client
// certificate of the handshake that began the chain), the server refused
// each resumed handshake as "expired", and the tickets it sent in the same
// flight bred the next failures until the server rotated again.
TEST_F(SessionResumptionTest, RotationsNeverMakeAResumptionFail) {
  const absl::Duration ttl = absl::Minutes(1);
  auto at = [&](absl::Duration d) {
    client_clock_.Set(now_ + d);
    server_clock_.Set(now_ + d);
  };
  client_ = mesh_.SnapshotAt("a", now_, ttl);
  server_ = mesh_.SnapshotAt("b", now_, ttl);
  int failed = 0, resumed = 0, total = 0;
  auto connect = [&](int n) {
    for (int i = 0; i < n; ++i) {
      Result r = Connect();
      ++total;
      if (!r.ok) ++failed;
      if (r.server_resumed) ++resumed;
    }
  };
  connect(5);  // a1 <-> b1: one full handshake, then resumptions
  at(absl::Seconds(31));
  server_ = mesh_.SnapshotAt("b", now_ + absl::Seconds(31), ttl);  // b rotates
  connect(5);
  at(absl::Seconds(35));
  client_ = mesh_.SnapshotAt("a", now_ + absl::Seconds(35), ttl);  // a rotates
  connect(5);
  at(absl::Seconds(61));  // a's first certificate has expired; b's second has not
  connect(50);
  at(absl::Seconds(66));
  server_ = mesh_.SnapshotAt("b", now_ + absl::Seconds(66), ttl);  // b again
  connect(5);
  EXPECT_EQ(failed, 0) << "of " << total << " connections";
  // Resumption still did its job between the rotations.
  EXPECT_GT(resumed, total / 2);
  // The client dropped the sessions of its first certificate.
  EXPECT_GT(cache_.flushed(), 0u);
}

// RawClient: a TLS 1.3 mesh client that is not a TlsTransport, keeps every
// ticket it gets and offers any session it is given, whatever certificate
// it holds now: an older Tether proxy, or one that misbehaves. Only the
// server's side is under test with it.
class RawClient {
 public:
  explicit RawClient(const IdentitySnapshot& id) : ctx_(SSL_CTX_new(TLS_method())) {
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx_.get(), TLS1_3_VERSION);
    SSL_CTX_use_certificate(ctx_.get(), id.chain.front().get());
    SSL_CTX_use_PrivateKey(ctx_.get(), id.key.get());
    SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(ctx_.get(), [](SSL* ssl, SSL_SESSION* s) {
      static_cast<RawClient*>(SSL_get_app_data(ssl))->sessions_.emplace_back(s);
      return 1;
    });
    static const uint8_t kAlpn[] = {6, 't', 'e', 't', 'h', 'e', 'r'};
    SSL_CTX_set_alpn_protos(ctx_.get(), kAlpn, sizeof(kAlpn));
  }

  // Connect runs one connection to `server` (a TlsTransport on the other
  // end of a socket pair), offering `session` if not null, and reads the
  // server's "hello" (which brings the tickets). True if it came.
  bool Connect(const std::shared_ptr<const IdentitySnapshot>& server_id, const Clock* clock,
               SSL_SESSION* session, TlsObservation* server_obs, bool* resumed) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return false;
    UniqueFd client_fd(fds[0]);
    TlsTransport::Options s;
    s.role = TlsTransport::Role::kServer;
    s.identity = server_id;
    s.clock = clock;
    s.observation = server_obs;
    TlsTransport server(UniqueFd(fds[1]), std::move(s));
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
    SSL_set_app_data(ssl.get(), this);
    SSL_set_fd(ssl.get(), client_fd.get());
    SSL_set_connect_state(ssl.get());
    if (session != nullptr) SSL_set_session(ssl.get(), session);
    IoStatus ss = IoStatus::kWouldBlock;
    int cs = -1;
    for (int i = 0; i < 20 && (cs != 1 || ss == IoStatus::kWouldBlock); ++i) {
      if (cs != 1) cs = SSL_do_handshake(ssl.get());
      if (ss == IoStatus::kWouldBlock) ss = server.Handshake();
    }
    if (cs != 1 || ss != IoStatus::kOk) return false;
    *resumed = SSL_session_reused(ssl.get());
    size_t n = 0;
    const uint8_t hello[] = "hello";
    if (server.Write(hello, sizeof(hello), &n) != IoStatus::kOk) return false;
    uint8_t buf[64];
    for (int i = 0; i < 20; ++i) {
      if (SSL_read(ssl.get(), buf, sizeof(buf)) == static_cast<int>(sizeof(hello))) return true;
    }
    return false;
  }

  // The newest ticket received, forgotten (a TLS 1.3 ticket is used once).
  bssl::UniquePtr<SSL_SESSION> TakeNewest() {
    if (sessions_.empty()) return nullptr;
    bssl::UniquePtr<SSL_SESSION> s = std::move(sessions_.back());
    sessions_.pop_back();
    return s;
  }

 private:
  bssl::UniquePtr<SSL_CTX> ctx_;
  std::vector<bssl::UniquePtr<SSL_SESSION>> sessions_;
};

// The server's side of the fix alone: a client that offers a session made
// with a certificate that has since expired gets a full handshake with the
// certificate it holds now, never a failed connection. The same holds for a
// ticket issued on a resumption: it inherits the bound of the one resumed.
TEST_F(SessionResumptionTest, ServerDeclinesATicketWhoseClientCertificateExpired) {
  auto a1 = mesh_.SnapshotAt("a", now_, absl::Minutes(1));
  auto a2 = mesh_.SnapshotAt("a", now_ + absl::Seconds(30), absl::Minutes(1));
  RawClient old_client(*a1);
  TlsObservation obs;
  bool resumed = false;
  ASSERT_TRUE(old_client.Connect(server_, &server_clock_, nullptr, &obs, &resumed));
  EXPECT_FALSE(resumed);
  // Resume on the first certificate's session, twice: a chain of tickets.
  for (int i = 0; i < 2; ++i) {
    bssl::UniquePtr<SSL_SESSION> s = old_client.TakeNewest();
    ASSERT_NE(s, nullptr);
    obs = {};
    ASSERT_TRUE(old_client.Connect(server_, &server_clock_, s.get(), &obs, &resumed));
    EXPECT_TRUE(resumed);
    EXPECT_EQ(obs.peer_serial, a1->serial_hex);
  }
  // a1 expires (a2 is good); the client, now holding a2, offers a ticket of
  // the chain that a1 began.
  bssl::UniquePtr<SSL_SESSION> stale = old_client.TakeNewest();
  ASSERT_NE(stale, nullptr);
  server_clock_.Advance(absl::Seconds(61));
  RawClient new_client(*a2);
  obs = {};
  ASSERT_TRUE(new_client.Connect(server_, &server_clock_, stale.get(), &obs, &resumed))
      << obs.error << ": " << obs.error_detail;
  EXPECT_FALSE(resumed);
  EXPECT_EQ(obs.ticket_declined, "expired");
  EXPECT_EQ(obs.peer_serial, a2->serial_hex);
}

TEST_F(SessionResumptionTest, ServerDeclinesATicketOfARevokedClientAndTheFullHandshakeSaysWhy) {
  RawClient client(*client_);
  TlsObservation obs;
  bool resumed = false;
  ASSERT_TRUE(client.Connect(server_, &server_clock_, nullptr, &obs, &resumed));
  bssl::UniquePtr<SSL_SESSION> s = client.TakeNewest();
  ASSERT_NE(s, nullptr);
  pki::Revocations revoked;
  revoked.serials.insert(client_->serial_hex);
  auto bundle = pki::TrustBundle::FromCerts(pki::CopyChain(server_->bundle.roots()));
  ASSERT_TRUE(bundle.ok());
  auto with = server_->WithTrust(*std::move(bundle), revoked);
  ASSERT_TRUE(with.ok());
  // The same ticket key (the bundle did not change), so the ticket opens
  // and the revocation inside decides.
  EXPECT_EQ((*with)->ticket_key, server_->ticket_key);
  obs = {};
  EXPECT_FALSE(client.Connect(*with, &server_clock_, s.get(), &obs, &resumed));
  EXPECT_EQ(obs.ticket_declined, "revoked");
  EXPECT_EQ(obs.error, "revoked");
  EXPECT_EQ(obs.error_detail.find("resumed session"), std::string::npos) << obs.error_detail;
}

TEST_F(SessionResumptionTest, TicketsOfAnEarlierServerCertificateAreDeclined) {
  RawClient client(*client_);
  TlsObservation obs;
  bool resumed = false;
  ASSERT_TRUE(client.Connect(server_, &server_clock_, nullptr, &obs, &resumed));
  bssl::UniquePtr<SSL_SESSION> s = client.TakeNewest();
  ASSERT_NE(s, nullptr);
  auto rotated = mesh_.SnapshotAt("b", now_, absl::Hours(2));
  obs = {};
  ASSERT_TRUE(client.Connect(rotated, &server_clock_, s.get(), &obs, &resumed));
  EXPECT_FALSE(resumed);
  EXPECT_EQ(obs.ticket_declined, "unknown_key");
}

TEST_F(SessionResumptionTest, TheClientDoesNotOfferASessionWhosePeerCertificateExpired) {
  ASSERT_TRUE(Connect().ok);
  // b's certificate (2 h) has expired by the client's clock, and the server
  // still accepts its own tickets (its clock is behind): the client must not
  // offer one, so the full handshake refuses b's expired certificate.
  client_clock_.Advance(absl::Minutes(150));
  Result r = Connect();
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.client_resumed);
  EXPECT_EQ(r.client_obs.error, "expired");
  EXPECT_EQ(r.client_obs.error_detail.find("resumed session"), std::string::npos);
}

}  // namespace
}  // namespace tether::proxy
