// Oversized gRPC messages to the control plane (64 KiB is the most either of
// its gRPC servers takes): a Hello before authentication, a CSR on an
// authenticated stream, and an admin request. Each is refused with
// RESOURCE_EXHAUSTED before it is parsed, nothing is issued or changed, and
// the control plane goes on serving.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "control/control_plane.h"
#include "tests/control/ca_test_client.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::CaTestClient;

constexpr size_t kOversized = 1 << 20;

class OversizedMessageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control::ControlPlaneOptions opts;
    opts.state_dir = testing::MakeTempDir("oversized");
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    auto cp = control::ControlPlane::Start(opts, RealClock::Default());
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    roots_pem_ = cp_->store()->Current()->bundle.ToPem();
  }
  void TearDown() override {
    if (cp_) cp_->Stop();
  }

  std::string Token(const std::string& sa) {
    auto minted =
        cp_->tokens()->Create(*pki::SpiffeId::Make("mesh.test", "shop", sa), absl::ZeroDuration());
    EXPECT_TRUE(minted.ok());
    return minted->token;
  }

  double Issued() { return Metric("tether_control_certificates_issued_total"); }
  double Metric(const std::string& name) {
    const std::string page = testing::HttpGet(cp_->admin_port(), "/metrics");
    const std::string prefix = "\n" + name + " ";
    size_t at = page.find(prefix);
    return at == std::string::npos ? -1 : std::stod(page.substr(at + prefix.size()));
  }

  // ExpectStillServes: a well-behaved workload enrolls.
  void ExpectStillServes() {
    CaTestClient client(cp_->grpc_port(), roots_pem_);
    ASSERT_TRUE(client.SendHello(Token("fine")));
    auto id = client.ReadWelcome();
    ASSERT_TRUE(id.ok()) << id.status();
    auto key = pki::GenerateP256Key();
    auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(*id));
    ASSERT_TRUE(client.SendCsr(1, *csr));
    auto resp = client.Read();
    ASSERT_TRUE(resp && resp->has_certificate());
    EXPECT_TRUE(client.Finish().ok());
  }

  std::unique_ptr<control::ControlPlane> cp_;
  std::string roots_pem_;
};

TEST_F(OversizedMessageTest, OversizedHelloEndsTheStreamBeforeAuthentication) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  tether::ca::v1::StreamRequest req;
  req.mutable_hello()->set_join_token(Token("big"));
  req.mutable_hello()->set_workload_name(std::string(kOversized, 'w'));
  client.Send(req);  // may fail: the server ends the stream
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_EQ(Issued(), 0);
  ExpectStillServes();
  EXPECT_EQ(Issued(), 1);
}

TEST_F(OversizedMessageTest, OversizedCsrOnAnAuthenticatedStreamIsRefused) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendHello(Token("big")));
  ASSERT_TRUE(client.ReadWelcome().ok());
  client.SendCsr(1, std::string(kOversized, '\x30'));
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_EQ(Issued(), 0);
  ExpectStillServes();
}

TEST_F(OversizedMessageTest, OversizedAdminRequestIsRefusedAndChangesNothing) {
  auto admin = tether::admin::v1::AdminService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", cp_->admin_port()), grpc::InsecureChannelCredentials()));
  const uint64_t version = cp_->policies()->Current()->version;
  tether::admin::v1::ApplyPoliciesRequest req;
  req.set_yaml(
      absl::StrCat("apiVersion: tether.io/v1\nkind: DefaultPolicy\nmetadata: {name: default}\n"
                   "spec: {default: DENY}\n# ",
                   std::string(kOversized, 'x'), "\n"));
  tether::admin::v1::ApplyPoliciesResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status st = admin->ApplyPolicies(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_EQ(cp_->policies()->Current()->version, version);
  // The admin port still answers, over gRPC and HTTP.
  grpc::ClientContext ctx2;
  tether::admin::v1::GetTrustBundleResponse bundle;
  EXPECT_TRUE(admin->GetTrustBundle(&ctx2, {}, &bundle).ok());
  EXPECT_NE(testing::HttpGet(cp_->admin_port(), "/healthz").find("200"), std::string::npos);
}

}  // namespace
}  // namespace tether
