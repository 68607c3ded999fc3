// Kubernetes authentication end to end: a real ControlPlane whose stream
// service asks a real TokenReviewAuthenticator, which talks HTTPS to a
// stand-in Kubernetes API server (FakeKubernetesApi on FakeHttpsServer).
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "control/kubernetes/token_review.h"
#include "tests/control/ca_test_client.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether {
namespace {

using testing::CaTestClient;
using testing::FakeHttpsServer;
using testing::FakeKubernetesApi;
using testing::RecordedRequest;
using testing::ServiceAccountStatus;

constexpr char kCartToken[] =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDpjYXJ0In0.c2ln";
constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/k8s-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

class CaStreamKubernetesTest : public ::testing::Test {
 protected:
  CaStreamKubernetesTest()
      : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))),
        api_ca_(testing::MakeTestCa("kubernetes")),
        api_cert_(testing::MakeServerCert(api_ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")) {}

  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", api_ca_.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
    api_.SetCallerToken(kOwnToken);
    api_.AddToken(kCartToken, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
    server_ = std::make_unique<FakeHttpsServer>(
        api_cert_, [this](const RecordedRequest& req) { return api_.Answer(req); });

    control::kubernetes::TokenReviewAuthenticator::Options k8s;
    k8s.api_host = "127.0.0.1";
    k8s.api_port = server_->port();
    k8s.ca_file = dir_ + "/ca.crt";
    k8s.token_file = dir_ + "/token";
    k8s.trust_domain = "mesh.test";
    auto authn = control::kubernetes::TokenReviewAuthenticator::Create(k8s);
    ASSERT_TRUE(authn.ok()) << authn.status();
    authn_ = std::move(*authn);

    control::ControlPlaneOptions opts;
    opts.state_dir = dir_ + "/state";
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.kubernetes = authn_.get();
    auto cp = control::ControlPlane::Start(opts, &clock_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp_ = std::move(*cp);
    roots_pem_ = cp_->store()->Current()->bundle.ToPem();
  }

  void TearDown() override {
    if (cp_) cp_->Stop();
    EXPECT_THAT(api_.problems(), ::testing::IsEmpty());
  }

  FakeClock clock_;
  testing::TestCa api_ca_;
  testing::TestCert api_cert_;
  std::string dir_;
  FakeKubernetesApi api_;
  std::unique_ptr<FakeHttpsServer> server_;
  std::unique_ptr<control::kubernetes::TokenReviewAuthenticator> authn_;
  std::unique_ptr<control::ControlPlane> cp_;
  std::string roots_pem_;
};

TEST_F(CaStreamKubernetesTest, ReviewedTokenIsWelcomedAsItsServiceAccount) {
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendKubernetesHello(kCartToken));
  absl::StatusOr<std::string> id = client.ReadWelcome();
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "spiffe://mesh.test/ns/shop/sa/cart");
  EXPECT_THAT(api_.reviewed_tokens(), ::testing::ElementsAre(kCartToken));

  // The stream goes on: a CSR for the reviewed identity is signed.
  auto key = pki::GenerateP256Key();
  auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse(*id));
  ASSERT_TRUE(client.SendCsr(1, *csr));
  auto resp = client.Read();
  ASSERT_TRUE(resp && resp->has_certificate()) << (resp ? resp->DebugString() : "ended");
  ASSERT_EQ(cp_->streams()->Workloads().size(), 1u);
  EXPECT_EQ(cp_->streams()->Workloads()[0].authenticated_by, "kubernetes");
  EXPECT_EQ(cp_->streams()->Workloads()[0].workload_name, "test-pod");
  EXPECT_TRUE(client.Finish().ok());
}

TEST_F(CaStreamKubernetesTest, RejectedTokenEndsWithUnauthenticatedAndTheReviewsReason) {
  api_.AddToken("expired.jwt.token",
                {{"user", nlohmann::json::object()},
                 {"error", "[invalid bearer token, service account token has expired]"}});
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendKubernetesHello("expired.jwt.token"));
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(st.error_message(),
            "token rejected by the Kubernetes API: [invalid bearer token, service account token "
            "has expired]");
  EXPECT_TRUE(cp_->registry()->List().empty());
}

TEST_F(CaStreamKubernetesTest, ApiServerTroubleIsUnavailable) {
  api_.SetForbidden();
  CaTestClient client(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(client.SendKubernetesHello(kCartToken));
  EXPECT_FALSE(client.Read().has_value());
  grpc::Status st = client.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("system:auth-delegator"));
}

}  // namespace
}  // namespace tether
