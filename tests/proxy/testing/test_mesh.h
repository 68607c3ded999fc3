// TestMesh: a mesh CA in memory and IdentitySnapshots signed by it, for tests
// and benchmarks of the TLS transport without a control plane.
//
//   TestMesh mesh("mesh.test", absl::Now());
//   auto a = mesh.Snapshot("a", absl::Hours(1));   // spiffe://mesh.test/ns/shop/sa/a
//   TlsTransport client(fd0, {..., .identity = a, ...});
//   TlsTransport server(fd1, {...});
//   ASSERT_TRUE(HandshakeOverPair(client, server));
#ifndef TETHER_TESTS_PROXY_TESTING_TEST_MESH_H_
#define TETHER_TESTS_PROXY_TESTING_TEST_MESH_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/pki/certs.h"
#include "common/pki/issuer.h"
#include "proxy/tls/identity_snapshot.h"
#include "proxy/tls/tls_transport.h"

namespace tether::proxy::testing {

class TestMesh {
 public:
  // A root CA for `trust_domain`, valid from `now` for a day.
  TestMesh(std::string trust_domain, absl::Time now);

  // Snapshot: a key and a leaf for spiffe://TD/ns/shop/sa/`sa`, valid from
  // `now` for `ttl`, with this CA as the bundle and no revocations.
  std::shared_ptr<const IdentitySnapshot> Snapshot(const std::string& sa, absl::Duration ttl,
                                                   pki::Revocations revocations = {}) const;
  // SnapshotAt: the same, issued at `from` (a rotation): valid over
  // [from - 1 minute, from + ttl], as tether-control issues.
  std::shared_ptr<const IdentitySnapshot> SnapshotAt(const std::string& sa, absl::Time from,
                                                     absl::Duration ttl) const;

 private:
  std::shared_ptr<const IdentitySnapshot> Issue(const std::string& sa, absl::Time from,
                                                absl::Duration ttl,
                                                pki::Revocations revocations) const;
  std::string trust_domain_;
  absl::Time now_;
  pki::CertChain roots_;
  std::unique_ptr<pki::Issuer> issuer_;
};

// HandshakeOverPair drives both transports (connected to each other, non-
// blocking) until their handshakes finish; false if either fails.
bool HandshakeOverPair(TlsTransport& client, TlsTransport& server);

}  // namespace tether::proxy::testing

#endif  // TETHER_TESTS_PROXY_TESTING_TEST_MESH_H_
