// Hostile peers at a proxy's TLS ports, with a real control plane (the mesh
// CA) and real proxies in this process: certificates the mesh CA signed but
// that must still be refused (not yet valid, wrong key usage, RSA-1024, a
// chain longer than allowed), TLS 1.2 with renegotiation, an oversized
// ClientHello, and, on the outbound side, a server that only speaks TLS 1.2
// or shows a certificate from a foreign CA. Each refusal is counted with its
// reason at /metrics, and nothing reaches the app or leaves in plaintext.
// (Foreign CA, expired, revoked, no client certificate, plaintext and
// TLS 1.2 at the inbound port: explicit_mode_test's RefusalsAreCountedByReason.)
#include <atomic>
#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "control/control_plane.h"
#include "proxy/server/proxy_server.h"
#include "tests/common/pki/test_util.h"
#include "tests/proxy/integration/in_process_mesh.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::ConnectLoopback;
using testing::ListenLoopback;
using testing::LoopbackAddress;
using testing::Presented;
using testing::Roundtrip;
using testing::TlsClient;

constexpr const char* kTd = testing::kTrustDomain;

std::string Failures(const char* direction, const char* reason) {
  return absl::StrCat("tether_proxy_tls_handshake_failures_total{direction=\"", direction,
                      "\",reason=\"", reason, "\"}");
}

class HostilePeerTest : public testing::InProcessMeshTest {
 protected:
  HostilePeerTest()
      : InProcessMeshTest({.name = "hostile", .handshake_timeout = absl::Seconds(5)}) {}

  proxy::ProxyServer* StartInbound() {
    return StartProxy("b", LoopbackAddress(backend().port()), "");
  }

  // MeshAuthority: the mesh CA's certificate and key (signs like the CA).
  const pki::Authority& MeshAuthority() {
    return control()->store()->Current()->issuer->authority();
  }

  // Counted waits until the proxy counted a refused handshake for `reason`.
  static bool Counted(proxy::ProxyServer* p, const char* direction, const char* reason) {
    return testing::WaitForMetric(p->admin_port(), Failures(direction, reason), 1);
  }
};

TEST_F(HostilePeerTest, MeshClientIsServedAsTheBaseline) {
  proxy::ProxyServer* b = StartInbound();
  Presented good = MeshLeaf("c");
  EXPECT_TRUE(TlsClient(b->inbound_port(), &good));
  EXPECT_EQ(backend().connections(), 1);
}

TEST_F(HostilePeerTest, NotYetValidCertificateIsRefused) {
  proxy::ProxyServer* b = StartInbound();
  Presented early = MeshLeaf("c", absl::Now() + absl::Hours(2));
  EXPECT_FALSE(TlsClient(b->inbound_port(), &early));
  EXPECT_TRUE(Counted(b, "inbound", "not_yet_valid"));
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(HostilePeerTest, CertificateWithoutClientAuthUsageIsRefused) {
  proxy::ProxyServer* b = StartInbound();
  Presented leaf = MeshLeaf("c");
  // serverAuth only: fine for a server, not for a client.
  leaf.chain[0] = pki::testing::Resign(leaf.chain[0].get(), MeshAuthority().key.get(), [](X509* c) {
    bssl::UniquePtr<EXTENDED_KEY_USAGE> eku(sk_ASN1_OBJECT_new_null());
    sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth));
    pki::testing::SetExt(c, NID_ext_key_usage, eku.get(), false);
  });
  EXPECT_FALSE(TlsClient(b->inbound_port(), &leaf));
  EXPECT_TRUE(Counted(b, "inbound", "bad_usage"));

  // A CA certificate presented as a leaf (signed by the mesh CA).
  Presented ca_as_leaf = MeshLeaf("c");
  ca_as_leaf.chain[0] =
      pki::testing::Resign(ca_as_leaf.chain[0].get(), MeshAuthority().key.get(), [](X509* c) {
        bssl::UniquePtr<BASIC_CONSTRAINTS> bc(BASIC_CONSTRAINTS_new());
        bc->ca = 0xff;
        pki::testing::SetExt(c, NID_basic_constraints, bc.get(), true);
      });
  EXPECT_FALSE(TlsClient(b->inbound_port(), &ca_as_leaf));
  EXPECT_TRUE(testing::WaitForMetric(b->admin_port(), Failures("inbound", "bad_usage"), 2));
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(HostilePeerTest, Rsa1024KeyIsRefused) {
  proxy::ProxyServer* b = StartInbound();
  Presented weak = MeshLeaf("c");
  weak.key = pki::testing::Rsa(1024);
  weak.chain[0] = pki::testing::Resign(weak.chain[0].get(), MeshAuthority().key.get(),
                                       [&](X509* c) { X509_set_pubkey(c, weak.key.get()); });
  EXPECT_FALSE(TlsClient(b->inbound_port(), &weak));
  EXPECT_TRUE(Counted(b, "inbound", "weak_key"));
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(HostilePeerTest, ChainLongerThanAllowedIsRefused) {
  proxy::ProxyServer* b = StartInbound();
  // mesh CA -> i1 -> i2 -> i3 -> i4 -> leaf: five certificates presented.
  std::vector<pki::Authority> cas;
  cas.reserve(4);  // no reallocation: `parent` stays valid
  const pki::Authority* parent = &MeshAuthority();
  for (int i = 1; i <= 4; ++i) {
    cas.push_back(pki::testing::IntermediateAuthority(*parent, absl::StrCat("i", i), absl::Now()));
    parent = &cas.back();
  }
  Presented deep;
  deep.key = pki::testing::P256();
  pki::Issuer issuer(pki::Authority{bssl::UpRef(cas.back().cert), bssl::UpRef(cas.back().key), {}});
  pki::LeafRequest req;
  req.public_key = deep.key.get();
  req.spiffe_id = *pki::SpiffeId::Make(kTd, "shop", "c");
  req.now = absl::Now();
  deep.chain.push_back(std::move(*issuer.SignLeaf(req)));
  for (int i = 3; i >= 0; --i) deep.chain.push_back(bssl::UpRef(cas[i].cert));
  ASSERT_EQ(deep.chain.size(), 5u);
  EXPECT_FALSE(TlsClient(b->inbound_port(), &deep));
  EXPECT_TRUE(Counted(b, "inbound", "chain_too_long"));
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(HostilePeerTest, Tls12ClientReadyToRenegotiateIsRefusedAtTheVersion) {
  // TLS 1.3 has no renegotiation; a client that would renegotiate must speak
  // TLS 1.2, and never gets past the version.
  proxy::ProxyServer* b = StartInbound();
  Presented good = MeshLeaf("c");
  EXPECT_FALSE(TlsClient(b->inbound_port(), &good, TLS1_2_VERSION, /*renegotiate=*/true));
  EXPECT_TRUE(Counted(b, "inbound", "protocol_version"));
  EXPECT_EQ(backend().connections(), 0);
}

TEST_F(HostilePeerTest, OversizedClientHelloIsRefusedWithoutBufferingIt) {
  proxy::ProxyServer* b = StartInbound();
  int fd = ConnectLoopback(b->inbound_port());
  ASSERT_GE(fd, 0);
  // A ClientHello that says it is 16 MiB long, sent in full 16 KiB records:
  // the proxy must give up long before the end.
  std::string record = std::string("\x16\x03\x01\x40\x00", 5);
  std::string first = record + std::string("\x01\xff\xff\xff\x03\x03", 6);
  first.resize(5 + 0x4000, 'A');
  std::string next = record + std::string(0x4000, 'A');
  size_t sent = 0;
  bool cut = false;
  // Paced (a record per millisecond), so that what the kernel's socket
  // buffers would absorb does not count as taken.
  if (send(fd, first.data(), first.size(), MSG_NOSIGNAL) > 0) sent += first.size();
  while (sent < (size_t{16} << 20)) {
    absl::SleepFor(absl::Milliseconds(1));
    ssize_t n = send(fd, next.data(), next.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      cut = true;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  close(fd);
  EXPECT_TRUE(cut) << "the proxy took a 16 MiB ClientHello";
  std::cerr << "oversized ClientHello: cut after " << (sent >> 10) << " KiB sent\n";
  EXPECT_LT(sent, size_t{1} << 20);
  EXPECT_TRUE(testing::WaitFor([&] {
    auto m = testing::ScrapeMetrics(b->admin_port());
    return m && testing::SumMetric(*m, "tether_proxy_tls_handshake_failures_total",
                                   {"direction=\"inbound\""}) >= 1;
  }));
  EXPECT_EQ(backend().connections(), 0);
  // Still serving.
  Presented good = MeshLeaf("c");
  EXPECT_TRUE(TlsClient(b->inbound_port(), &good));
}

// HostileServer: a TLS server on loopback presenting `who`, with at most
// `max_version`; counts connections whose handshake completed and any bytes
// of application data it received.
class HostileServer {
 public:
  HostileServer(Presented who, uint16_t max_version) : who_(std::move(who)) {
    ctx_.reset(SSL_CTX_new(TLS_method()));
    SSL_CTX_set_max_proto_version(ctx_.get(), max_version);
    SSL_CTX_use_PrivateKey(ctx_.get(), who_.key.get());
    SSL_CTX_use_certificate(ctx_.get(), who_.chain.front().get());
    listen_ = ListenLoopback(0, 16, &port_);
    thread_ = std::thread([this] {
      while (true) {
        int fd = accept(listen_, nullptr, nullptr);
        if (fd < 0) return;
        timeval tv{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
        SSL_set_fd(ssl.get(), fd);
        if (SSL_accept(ssl.get()) == 1) {
          ++handshakes_;
          char buf[64];
          if (SSL_read(ssl.get(), buf, sizeof(buf)) > 0) ++data_;
        }
        // Plaintext never comes either: anything that is not TLS fails above.
        close(fd);
      }
    });
  }
  ~HostileServer() {
    shutdown(listen_, SHUT_RDWR);
    close(listen_);
    thread_.join();
  }
  int port() const { return port_; }
  int handshakes() const { return handshakes_; }
  int data() const { return data_; }

 private:
  Presented who_;
  bssl::UniquePtr<SSL_CTX> ctx_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<int> handshakes_{0};
  std::atomic<int> data_{0};
  std::thread thread_;
};

TEST_F(HostilePeerTest, OutboundRefusesADowngradingServer) {
  // A server with a genuine mesh certificate that offers TLS 1.2 at most
  // (where renegotiation would live): the proxy's client side refuses.
  HostileServer tls12(MeshLeaf("b"), TLS1_2_VERSION);
  proxy::ProxyServer* a = StartProxy("a", "", LoopbackAddress(tls12.port()));
  EXPECT_EQ(Roundtrip(a->outbound_port(), "secret"), "");
  EXPECT_TRUE(Counted(a, "outbound", "protocol_version"));
  EXPECT_EQ(tls12.handshakes(), 0);
  EXPECT_EQ(tls12.data(), 0);
}

TEST_F(HostilePeerTest, OutboundRefusesAServerWithAForeignCertificate) {
  pki::Authority foreign = pki::testing::RootAuthority(kTd, absl::Now());
  Presented alien;
  alien.key = pki::testing::P256();
  pki::Issuer issuer(std::move(foreign));
  pki::LeafRequest req;
  req.public_key = alien.key.get();
  req.spiffe_id = *pki::SpiffeId::Make(kTd, "shop", "b");
  req.now = absl::Now();
  alien.chain.push_back(std::move(*issuer.SignLeaf(req)));
  HostileServer impostor(std::move(alien), TLS1_3_VERSION);
  proxy::ProxyServer* a = StartProxy("a", "", LoopbackAddress(impostor.port()));
  EXPECT_EQ(Roundtrip(a->outbound_port(), "secret"), "");
  EXPECT_TRUE(Counted(a, "outbound", "untrusted"));
  EXPECT_EQ(impostor.data(), 0) << "application data reached an untrusted server";
}

}  // namespace
}  // namespace tether
