// In-process mesh fixture: a real control plane (the mesh CA) and real
// tether-proxy servers in explicit mode, all in the test's process, with an
// echo backend. For tests that look inside the proxies (their identity, the
// control plane's stores) or drive their clock; tests/proxy/integration/
// mesh_fixture.h runs the same programs as processes.
//
//   class MyTest : public testing::InProcessMeshTest {};
//   TEST_F(MyTest, Works) {
//     auto* b = StartProxy("b", LoopbackAddress(backend().port()), "");
//     auto* a = StartProxy("a", "", LoopbackAddress(b->inbound_port()));
//     EXPECT_EQ(Roundtrip(a->outbound_port(), "hi"), "hi");
//   }
//
// A test that needs another clock, certificate lifetime or handshake timeout
// passes InProcessMeshOptions to the constructor.
#ifndef TETHER_TESTS_PROXY_INTEGRATION_IN_PROCESS_MESH_H_
#define TETHER_TESTS_PROXY_INTEGRATION_IN_PROCESS_MESH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/certs.h"
#include "control/control_plane.h"
#include "proxy/identity/ca_connector.h"
#include "proxy/server/proxy_server.h"
#include "tests/testing/echo_server.h"

namespace tether::testing {

struct InProcessMeshOptions {
  // Prefix of the test's directory under $TEST_TMPDIR.
  std::string name = "mesh";
  // The clock of the control plane and of every proxy; null: the real clock.
  // First read in SetUp, so it may point to a member of the derived fixture.
  const Clock* clock = nullptr;
  // The control plane's certificate lifetime; unset: its default.
  std::optional<absl::Duration> cert_ttl;
  double requests_per_minute = 600;
  // The lifetime of the join tokens minted for the proxies; zero: the
  // default (10 minutes). A certificate stream closes when its token expires.
  absl::Duration join_token_ttl = absl::ZeroDuration();
  bool close_denied_connections = false;
  // Every proxy's handshake timeout; unset: the proxy's default.
  std::optional<absl::Duration> handshake_timeout;
};

// Presented: a key and the chain shown with it (leaf first).
struct Presented {
  bssl::UniquePtr<EVP_PKEY> key;
  pki::CertChain chain;
};

// InProcessMeshTest: SetUp starts the control plane (state in dir()/state,
// gRPC and admin on loopback port 0) and writes its trust bundle to
// dir()/roots.pem; TearDown drains every proxy at once and stops it.
class InProcessMeshTest : public ::testing::Test {
 protected:
  explicit InProcessMeshTest(InProcessMeshOptions options = {}) : options_(std::move(options)) {}

  void SetUp() override;
  void TearDown() override;

  // BaseConfig is an explicit-mode proxy for shop/`sa` holding a fresh join
  // token (or, with a non-empty `token`, that token) in dir()/`sa`.token,
  // with no listeners yet.
  proxy::ProxyConfig BaseConfig(const std::string& sa, const std::string& token = "");
  // Run starts a proxy; with `wait_ready`, waits until it holds a
  // certificate. Null (and a test failure) if it did not start.
  proxy::ProxyServer* Run(const proxy::ProxyConfig& config, bool wait_ready = true);
  // StartProxy runs a ready proxy for shop/`sa` with the given explicit
  // pairs (an empty forward: no listener on that side), expecting
  // `expect_identity` (a SPIFFE ID) of its outbound peer and enforcing
  // `policy_yaml` from a file, when they are not empty.
  proxy::ProxyServer* StartProxy(const std::string& sa, const std::string& inbound_forward,
                                 const std::string& outbound_forward,
                                 const std::string& expect_identity = "",
                                 const std::string& policy_yaml = "");

  // MeshLeaf: a new key and a certificate for shop/`sa` signed by the
  // control plane's current CA as it would issue one: valid over
  // [from - 1m, from + ttl].
  Presented MeshLeaf(const std::string& sa, absl::Time from = absl::Now(),
                     absl::Duration ttl = absl::Hours(1));

  // SpiffeId: spiffe://mesh.test/ns/shop/sa/`sa`.
  static std::string SpiffeId(const std::string& sa);

  const std::string& dir() const { return dir_; }
  control::ControlPlane* control() { return cp_.get(); }
  const Clock* clock() const {
    return options_.clock != nullptr ? options_.clock : RealClock::Default();
  }
  EchoServer& backend() { return backend_; }

 private:
  const InProcessMeshOptions options_;
  std::string dir_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::vector<std::unique_ptr<proxy::CaConnector>> connectors_;
  std::vector<std::unique_ptr<proxy::ProxyServer>> proxies_;
  EchoServer backend_;
};

// TlsClient connects to `port` as a mesh client presenting `who` (no
// certificate if null), with TLS up to `max_version` and, if `renegotiate`,
// ready to renegotiate; sends "ping" and reports whether anything came back
// through the connection (it never should for a refused client).
bool TlsClient(int port, const Presented* who, uint16_t max_version = TLS1_3_VERSION,
               bool renegotiate = false);

}  // namespace tether::testing

#endif  // TETHER_TESTS_PROXY_INTEGRATION_IN_PROCESS_MESH_H_
