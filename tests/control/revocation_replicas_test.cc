// Two replicas of the control plane that sign with one CA (an operator's
// cacerts, as on Kubernetes) and share their revocation list through a
// ConfigMap of a stand-in API server (FakeKubernetesApi, with the real
// API server's resourceVersion conflicts). A revocation made through one
// replica is refused, and closes streams, on the other within a second; a
// replica restarted on an empty volume forgets none of them; a replica that
// cannot read the list refuses every Hello rather than accept a revoked
// credential.
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "common/files.h"
#include "common/pki/certs.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "control/control_plane.h"
#include "control/kubernetes/revocation_configmap.h"
#include "tests/common/pki/test_util.h"
#include "tests/control/ca_test_client.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::CaTestClient;
using testing::ClientIdentity;
using testing::FakeHttpsServer;
using testing::FakeKubernetesApi;
using testing::RecordedRequest;

constexpr char kOwnToken[] = "control-plane-token";
constexpr char kCart[] = "spiffe://mesh.test/ns/shop/sa/cart";

struct Replica {
  std::unique_ptr<control::kubernetes::ConfigMapRevocations> shared;
  std::unique_ptr<control::ControlPlane> cp;
};

struct Cert {
  bssl::UniquePtr<EVP_PKEY> key;
  std::string chain_pem;
  std::string serial;
  ClientIdentity identity() const { return {pki::PrivateKeyToPem(key.get()), chain_pem}; }
};

class RevocationReplicasTest : public ::testing::Test {
 protected:
  RevocationReplicasTest()
      : api_ca_(testing::MakeTestCa("kubernetes")),
        api_cert_(testing::MakeServerCert(api_ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")) {}

  void SetUp() override {
    dir_ = testing::MakeTempDir("replicas");
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", api_ca_.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
    api_.SetCallerToken(kOwnToken);
    server_ = std::make_unique<FakeHttpsServer>(
        api_cert_, [this](const RecordedRequest& req) { return api_.Answer(req); });
    // The operator's CA, as the tether-cacerts Secret holds it.
    const absl::Time now = absl::Now();
    pki::Authority root = pki::testing::RootAuthority("mesh.test", now, absl::Hours(24 * 365));
    pki::Authority inter = pki::testing::IntermediateAuthority(root, "mesh issuing CA", now);
    roots_pem_ = pki::CertToPem(root.cert.get());
    const std::string cacerts = dir_ + "/cacerts";
    ASSERT_TRUE(MakeDirs(cacerts, 0700).ok());
    ASSERT_TRUE(WriteFileAtomic(cacerts + "/ca-cert.pem", pki::CertToPem(inter.cert.get())).ok());
    ASSERT_TRUE(
        WriteFileAtomic(cacerts + "/ca-key.pem", pki::PrivateKeyToPem(inter.key.get()), 0600).ok());
    ASSERT_TRUE(WriteFileAtomic(cacerts + "/cert-chain.pem",
                                pki::CertToPem(inter.cert.get()) + roots_pem_)
                    .ok());
    ASSERT_TRUE(WriteFileAtomic(cacerts + "/root-cert.pem", roots_pem_).ok());
  }

  void TearDown() override { EXPECT_THAT(api_.problems(), ::testing::IsEmpty()); }

  // StartReplica starts a replica on a fresh state dir (an emptyDir).
  Replica StartReplica() {
    Replica r;
    control::kubernetes::ApiServer api;
    api.host = "127.0.0.1";
    api.port = static_cast<uint16_t>(server_->port());
    api.ca_file = dir_ + "/ca.crt";
    api.token_file = dir_ + "/token";
    r.shared = std::make_unique<control::kubernetes::ConfigMapRevocations>(
        api, "tether-system", "tether-revocations");
    control::ControlPlaneOptions opts;
    opts.state_dir = testing::MakeTempDir("replica-state");
    opts.trust_domain = "mesh.test";
    opts.ca_dir = dir_ + "/cacerts";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.requests_per_minute = 600;
    opts.shared_revocations = r.shared.get();
    opts.revocation_sync_poll = absl::Milliseconds(200);
    auto cp = control::ControlPlane::Start(opts, RealClock::Default());
    EXPECT_TRUE(cp.ok()) << cp.status();
    if (cp.ok()) r.cp = std::move(*cp);
    return r;
  }

  // Enroll gets a certificate of kCart from `cp` with a join token.
  Cert Enroll(control::ControlPlane& cp) {
    auto minted = cp.tokens()->Create(*pki::SpiffeId::Parse(kCart), absl::ZeroDuration());
    EXPECT_TRUE(minted.ok());
    CaTestClient client(cp.grpc_port(), roots_pem_);
    EXPECT_TRUE(client.SendHello(minted->token));
    EXPECT_TRUE(client.ReadWelcome().ok());
    Cert out;
    out.key = std::move(*pki::GenerateP256Key());
    EXPECT_TRUE(client.SendCsr(1, *pki::CreateCsr(out.key.get(), *pki::SpiffeId::Parse(kCart))));
    auto resp = client.Read();
    EXPECT_TRUE(resp && resp->has_certificate());
    if (!resp || !resp->has_certificate()) return out;
    pki::CertChain chain;
    for (const auto& der : resp->certificate().chain_der()) {
      chain.push_back(std::move(*pki::CertFromDer(der)));
    }
    out.chain_pem = pki::ChainToPem(chain);
    out.serial = resp->certificate().serial_hex();
    EXPECT_TRUE(client.Finish().ok());
    return out;
  }

  grpc::Status Revoke(control::ControlPlane& cp, const std::string& serial,
                      tether::admin::v1::RevokeResponse* resp) {
    auto admin = tether::admin::v1::AdminService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", cp.admin_port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    tether::admin::v1::RevokeRequest req;
    req.set_serial_hex(serial);
    return admin->Revoke(&ctx, req, resp);
  }

  // HelloWith opens a renewal stream with `cert`: the status it ended
  // with, OK when it was welcomed.
  grpc::Status HelloWith(control::ControlPlane& cp, const Cert& cert) {
    CaTestClient client(cp.grpc_port(), roots_pem_, cert.identity());
    if (!client.SendHello()) return client.Finish();
    absl::StatusOr<std::string> id = client.ReadWelcome();
    if (!id.ok()) {
      return grpc::Status(static_cast<grpc::StatusCode>(id.status().code()),
                          std::string(id.status().message()));
    }
    return client.Finish();
  }

  testing::TestCa api_ca_;
  testing::TestCert api_cert_;
  std::string dir_;
  std::string roots_pem_;
  FakeKubernetesApi api_;
  std::unique_ptr<FakeHttpsServer> server_;
};

TEST_F(RevocationReplicasTest, ARevocationThroughOneReplicaClosesStreamsOnTheOtherWithinASecond) {
  Replica a = StartReplica();
  Replica b = StartReplica();
  ASSERT_TRUE(a.cp && b.cp);
  // Issued by A; B renews it (one CA), as after a reconnect through the
  // Service.
  Cert cert = Enroll(*a.cp);
  CaTestClient renewal(b.cp->grpc_port(), roots_pem_, cert.identity());
  ASSERT_TRUE(renewal.SendHello());
  ASSERT_TRUE(renewal.ReadWelcome().ok());

  tether::admin::v1::RevokeResponse resp;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status st = Revoke(*a.cp, cert.serial, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.shared_in(), "ConfigMap tether-system/tether-revocations");
  // B learns it from the ConfigMap, pushes the list, then closes the stream.
  std::optional<tether::ca::v1::StreamResponse> pushed;
  while ((pushed = renewal.Read()) && !pushed->has_revocations()) {
  }
  ASSERT_TRUE(pushed.has_value()) << "the stream ended without the revocation list";
  EXPECT_EQ(pushed->revocations().version(), resp.revocations_version());
  EXPECT_FALSE(renewal.Read().has_value()) << "the stream stayed open";
  st = renewal.Finish();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_LT(took, std::chrono::seconds(1));
  std::cerr << "closed on the other replica "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the revoke started" << std::endl;
  // Both refuse the certificate now, under one version.
  EXPECT_EQ(HelloWith(*b.cp, cert).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HelloWith(*a.cp, cert).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(a.cp->registry()->Revocations()->version, b.cp->registry()->Revocations()->version);
  EXPECT_TRUE(absl::StrContains(
      api_.ConfigMapData("tether-system", "tether-revocations", "revocations.json"), cert.serial));
}

TEST_F(RevocationReplicasTest, AReplicaRevokesASerialTheOtherIssued) {
  Replica a = StartReplica();
  Replica b = StartReplica();
  ASSERT_TRUE(a.cp && b.cp);
  Cert cert = Enroll(*a.cp);
  ASSERT_TRUE(HelloWith(*a.cp, cert).ok());
  tether::admin::v1::RevokeResponse resp;
  grpc::Status st = Revoke(*b.cp, cert.serial, &resp);  // B never saw it
  ASSERT_TRUE(st.ok()) << st.error_message();
  for (int i = 0; i < 50 && !a.cp->registry()->IsRevoked(cert.serial); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(HelloWith(*a.cp, cert).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(RevocationReplicasTest, AReplicaRestartedOnAnEmptyVolumeForgetsNoRevocation) {
  Replica a = StartReplica();
  ASSERT_TRUE(a.cp);
  Cert cert = Enroll(*a.cp);
  tether::admin::v1::RevokeResponse resp;
  ASSERT_TRUE(Revoke(*a.cp, cert.serial, &resp).ok());
  a.cp->Stop();
  a.cp.reset();
  // Both replicas restart (a rollout) on new emptyDirs.
  Replica a2 = StartReplica();
  Replica b2 = StartReplica();
  ASSERT_TRUE(a2.cp && b2.cp);
  for (Replica* r : {&a2, &b2}) {
    EXPECT_EQ(HelloWith(*r->cp, cert).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    // Never numbered below what proxies were sent before the restart.
    EXPECT_GE(r->cp->registry()->Revocations()->version, resp.revocations_version());
  }
}

TEST_F(RevocationReplicasTest, AReplicaThatCannotReadTheListRefusesHellosUntilItCan) {
  Replica a = StartReplica();
  ASSERT_TRUE(a.cp);
  Cert cert = Enroll(*a.cp);
  tether::admin::v1::RevokeResponse resp;
  ASSERT_TRUE(Revoke(*a.cp, cert.serial, &resp).ok());

  api_.SetUnavailable(true);
  Replica b = StartReplica();  // starts, but is not ready
  ASSERT_TRUE(b.cp);
  const std::string ready = testing::HttpGet(b.cp->admin_port(), "/ready");
  EXPECT_TRUE(absl::StrContains(ready, "503")) << ready;
  EXPECT_TRUE(absl::StrContains(ready, "has not read the revocations yet")) << ready;
  grpc::Status refused = HelloWith(*b.cp, cert);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "HTTP 503")) << refused.error_message();
  // A revocation through A while the API server is down holds on A, and
  // says it is not shared yet.
  Cert other = Enroll(*a.cp);
  grpc::Status st = Revoke(*a.cp, other.serial, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "not yet stored for the other replicas"))
      << st.error_message();
  EXPECT_EQ(HelloWith(*a.cp, other).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  api_.SetUnavailable(false);
  std::string ready_now;
  for (int i = 0; i < 50; ++i) {
    ready_now = testing::HttpGet(b.cp->admin_port(), "/ready");
    if (absl::StrContains(ready_now, "200 OK") && b.cp->registry()->IsRevoked(other.serial)) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(absl::StrContains(ready_now, "200 OK")) << ready_now;
  EXPECT_EQ(HelloWith(*b.cp, cert).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(HelloWith(*b.cp, other).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(RevocationReplicasTest, ACorruptConfigMapIsNeverOverwritten) {
  api_.PutConfigMap("tether-system", "tether-revocations", {{"revocations.json", "{oops"}},
                    {{"app.kubernetes.io/part-of", "tether"}});
  Replica a = StartReplica();
  ASSERT_TRUE(a.cp);
  const std::string ready = testing::HttpGet(a.cp->admin_port(), "/ready");
  EXPECT_TRUE(absl::StrContains(ready, "revocations.json is corrupt")) << ready;
  EXPECT_TRUE(absl::StrContains(ready, "repair it or delete it")) << ready;
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(api_.configmap_writes(), 0);
  EXPECT_EQ(api_.ConfigMapData("tether-system", "tether-revocations", "revocations.json"),
            "{oops");
  // Deleted by the operator: the replica writes back what it holds.
  api_.DeleteConfigMap("tether-system", "tether-revocations");
  std::string ready_now;
  for (int i = 0; i < 50; ++i) {
    ready_now = testing::HttpGet(a.cp->admin_port(), "/ready");
    if (absl::StrContains(ready_now, "200 OK")) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(absl::StrContains(ready_now, "200 OK")) << ready_now;
  EXPECT_EQ(api_.configmap_writes(), 1);
}

}  // namespace
}  // namespace tether
