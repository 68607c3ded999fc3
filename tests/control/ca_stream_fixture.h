// CaStreamTest: a real ControlPlane on port 0 on a FakeClock that starts at
// the real time (gRPC's TLS checks the serving certificate against the real
// clock), with helpers to mint join tokens, read a stream's Welcome, issue a
// certificate on a stream and reach the admin API. For the certificate
// stream's end-to-end tests.
#ifndef TETHER_TESTS_CONTROL_CA_STREAM_FIXTURE_H_
#define TETHER_TESTS_CONTROL_CA_STREAM_FIXTURE_H_

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "common/pki/certs.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "tests/control/ca_test_client.h"
#include "tests/testing/net_helpers.h"

namespace tether {

using testing::CaTestClient;
using testing::ClientIdentity;

inline std::string MakeTempDir() { return testing::MakeTempDir("ca"); }

struct Enrolled {
  bssl::UniquePtr<EVP_PKEY> key;
  std::string chain_pem;
  std::string serial;
  pki::CertChain chain;
  ClientIdentity identity() const { return {pki::PrivateKeyToPem(key.get()), chain_pem}; }
};

class CaStreamTest : public ::testing::Test {
 protected:
  CaStreamTest() : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))) {}

  void SetUp() override {
    dir_ = MakeTempDir();
    StartControlPlane();
  }
  void TearDown() override {
    if (cp_) cp_->Stop();
  }

  void StartControlPlane() {
    control::ControlPlaneOptions opts;
    opts.state_dir = dir_;
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.cert_ttl = absl::Hours(1);
    opts.requests_per_minute = rate_per_minute_;
    opts.identity_requests_per_minute = identity_rate_per_minute_;
    opts.identity_request_burst = identity_burst_;
    auto cp = control::ControlPlane::Start(opts, &clock_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    roots_pem_ = cp_->store()->Current()->bundle.ToPem();
  }

  std::string Token(const std::string& ns, const std::string& sa) {
    auto id = pki::SpiffeId::Make("mesh.test", ns, sa);
    EXPECT_TRUE(id.ok());
    auto minted = cp_->tokens()->Create(*id, absl::ZeroDuration());
    EXPECT_TRUE(minted.ok());
    return minted->token;
  }

  // ReadWelcome reads Welcome, TrustBundle, RevocationList and the policy.
  std::string ReadWelcome(CaTestClient& client) {
    absl::StatusOr<std::string> id = client.ReadWelcome();
    if (!id.ok()) {
      ADD_FAILURE() << "no Welcome: " << id.status();
      return "";
    }
    return *id;
  }

  // Issue sends a CSR for `id` with a new key on an authenticated stream.
  std::optional<Enrolled> Issue(CaTestClient& client, const std::string& id, uint64_t request_id) {
    if (!pki::SpiffeId::Parse(id).ok()) {
      ADD_FAILURE() << "no identity to ask for: \"" << id << "\"";
      return std::nullopt;
    }
    Enrolled out;
    out.key = std::move(*pki::GenerateP256Key());
    auto csr = pki::CreateCsr(out.key.get(), *pki::SpiffeId::Parse(id));
    EXPECT_TRUE(csr.ok());
    EXPECT_TRUE(client.SendCsr(request_id, *csr));
    auto resp = client.Read();
    if (!resp || !resp->has_certificate()) {
      ADD_FAILURE() << "no certificate: " << (resp ? resp->DebugString() : "stream ended");
      return std::nullopt;
    }
    EXPECT_EQ(resp->certificate().request_id(), request_id);
    for (const auto& der : resp->certificate().chain_der()) {
      out.chain.push_back(std::move(*pki::CertFromDer(der)));
    }
    out.chain_pem = pki::ChainToPem(out.chain);
    out.serial = resp->certificate().serial_hex();
    return out;
  }

  Enrolled Enroll(const std::string& ns, const std::string& sa) {
    CaTestClient client(cp_->grpc_port(), roots_pem_);
    EXPECT_TRUE(client.SendHello(Token(ns, sa)));
    std::string id = ReadWelcome(client);
    EXPECT_EQ(id, absl::StrCat("spiffe://mesh.test/ns/", ns, "/sa/", sa));
    auto got = Issue(client, id, 1);
    EXPECT_TRUE(client.Finish().ok());
    return std::move(*got);
  }

  std::unique_ptr<tether::admin::v1::AdminService::Stub> Admin() {
    return tether::admin::v1::AdminService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", cp_->admin_port()), grpc::InsecureChannelCredentials()));
  }

  FakeClock clock_;
  double rate_per_minute_ = 600;  // per workload instance, burst 10
  double identity_rate_per_minute_ = 6000;
  double identity_burst_ = 1000;
  std::string dir_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::string roots_pem_;
};

}  // namespace tether

#endif  // TETHER_TESTS_CONTROL_CA_STREAM_FIXTURE_H_
