// Kubernetes authentication end to end: a real ControlPlane whose stream
// service asks a real TokenReviewAuthenticator, which talks HTTPS to a
// stand-in Kubernetes API server (FakeKubernetesApi on FakeHttpsServer).
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
constexpr absl::Duration kRereview = absl::Minutes(1);

// ProjectedToken: a JWT as the kubelet projects it, for the cart service
// account, expiring at `exp` (the fake API server checks no signature).
std::string ProjectedToken(absl::Time exp, const std::string& jti) {
  const nlohmann::json claims = {{"sub", "system:serviceaccount:shop:cart"},
                                 {"exp", absl::ToUnixSeconds(exp)},
                                 {"jti", jti}};
  return absl::StrCat("eyJhbGciOiJSUzI1NiJ9.", absl::WebSafeBase64Escape(claims.dump()), ".c2ln");
}

// A review of a token the API server no longer accepts (its pod deleted).
nlohmann::json Withdrawn() {
  return {{"user", nlohmann::json::object()},
          {"error", "[invalid bearer token, pod \"cart-7c9d6b5f4-x8k2p\" not found]"}};
}

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
    opts.token_rereview_interval = kRereview;
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

  // Welcomed opens a stream with `token` and reads its Welcome.
  std::unique_ptr<CaTestClient> Welcomed(const std::string& token) {
    auto client = std::make_unique<CaTestClient>(cp_->grpc_port(), roots_pem_);
    EXPECT_TRUE(client->SendKubernetesHello(token));
    absl::StatusOr<std::string> id = client->ReadWelcome();
    EXPECT_TRUE(id.ok()) << id.status();
    return client;
  }

  // SignsOn: the stream still signs a CSR for cart.
  bool SignsOn(CaTestClient& client, uint64_t request_id) {
    auto key = pki::GenerateP256Key();
    auto csr = pki::CreateCsr(key->get(), *pki::SpiffeId::Parse("spiffe://mesh.test/ns/shop/sa/cart"));
    if (!client.SendCsr(request_id, *csr)) return false;
    auto resp = client.Read();
    return resp && resp->has_certificate();
  }

  // ClosedWith: the stream ends, without another answer, with
  // UNAUTHENTICATED saying `text`.
  void ExpectClosedWith(CaTestClient& client, const std::string& text) {
    EXPECT_FALSE(client.Read().has_value()) << "the stream stayed open";
    grpc::Status st = client.Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    EXPECT_THAT(st.error_message(), ::testing::HasSubstr(text));
    EXPECT_THAT(st.error_message(),
                ::testing::HasSubstr("reconnect with the current certificate or a fresh token"));
  }

  // WaitForAudit waits (up to 30 s) until the audit log holds `event`.
  bool WaitForAudit(const std::string& event) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      absl::StatusOr<std::string> audit = ReadFile(dir_ + "/state/audit.jsonl");
      if (audit.ok() && absl::StrContains(*audit, event)) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
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

// A pod's token is withdrawn (the pod deleted) long before its "exp". The
// stream it authenticated is reviewed again every --token-rereview-interval,
// with the API server and not the cache (which would trust the token for
// 10 minutes more), and closed when the review refuses it; a reconnect with
// the withdrawn token is then refused from the cache.
TEST_F(CaStreamKubernetesTest, StreamIsClosedWhenTheReReviewRefusesItsToken) {
  const std::string token = ProjectedToken(clock_.Now() + absl::Hours(1), "a");
  api_.AddToken(token, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
  std::unique_ptr<CaTestClient> client = Welcomed(token);
  ASSERT_EQ(api_.reviewed_tokens().size(), 1u);

  api_.AddToken(token, Withdrawn());
  clock_.Advance(kRereview / 2);
  cp_->RunMaintenance();
  EXPECT_TRUE(SignsOn(*client, 1)) << "reviewed again before the interval";
  EXPECT_EQ(api_.reviewed_tokens().size(), 1u);

  clock_.Advance(kRereview / 2);
  cp_->RunMaintenance();
  ExpectClosedWith(*client,
                   "the Kubernetes token this stream authenticated with is no longer accepted");
  EXPECT_EQ(api_.reviewed_tokens().size(), 2u);
  EXPECT_TRUE(WaitForAudit("stream_closed_withdrawn"));

  CaTestClient again(cp_->grpc_port(), roots_pem_);
  ASSERT_TRUE(again.SendKubernetesHello(token));
  EXPECT_EQ(again.ReadWelcome().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(api_.reviewed_tokens().size(), 2u) << "not refused from the cache";
}

// An API server that cannot answer says nothing about the token: the
// stream stays and signs on, and the next interval reviews it again.
TEST_F(CaStreamKubernetesTest, StreamStaysOpenWhenTheReReviewCannotReachTheApiServer) {
  const std::string token = ProjectedToken(clock_.Now() + absl::Hours(1), "b");
  api_.AddToken(token, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
  std::unique_ptr<CaTestClient> client = Welcomed(token);

  api_.SetForbidden();
  clock_.Advance(kRereview);
  cp_->RunMaintenance();
  ASSERT_TRUE(WaitForAudit("token_rereview_failed"));
  EXPECT_EQ(api_.reviewed_tokens().size(), 2u);
  EXPECT_TRUE(SignsOn(*client, 1)) << "closed on an API server error";

  // Reachable again and still accepting the token: the stream stays.
  api_.SetForbidden(false);
  clock_.Advance(kRereview);
  cp_->RunMaintenance();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (api_.reviewed_tokens().size() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(api_.reviewed_tokens().size(), 3u);
  EXPECT_TRUE(SignsOn(*client, 2));
  EXPECT_TRUE(client->Finish().ok());
}

// A projected token's "exp" ends the stream's authority as a join token's
// expiry does, even while the API server would still accept it.
TEST_F(CaStreamKubernetesTest, StreamIsClosedAtItsTokensExpiry) {
  const absl::Time exp = clock_.Now() + absl::Seconds(90);
  const std::string token = ProjectedToken(exp, "c");
  api_.AddToken(token, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
  std::unique_ptr<CaTestClient> client = Welcomed(token);
  clock_.Advance(absl::Seconds(91));
  cp_->RunMaintenance();
  ExpectClosedWith(*client, absl::StrCat("(Kubernetes token) expired at ",
                                         absl::FormatTime(absl::RFC3339_sec, exp,
                                                          absl::UTCTimeZone())));
}

// Two pods of one Deployment share the cart service account: the rate limit
// is per pod (the TokenReview's pod uid), so one that asks too often does
// not starve the other.
TEST_F(CaStreamKubernetesTest, RateLimitIsPerPodNotPerServiceAccount) {
  std::vector<std::unique_ptr<CaTestClient>> pods;
  for (const std::string uid : {"0a1b2c3d-0000-4000-8000-00000000000a",
                                "0a1b2c3d-0000-4000-8000-00000000000b"}) {
    const std::string token = ProjectedToken(clock_.Now() + absl::Hours(1), uid);
    nlohmann::json status = ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-" + uid.substr(35));
    status["user"]["extra"]["authentication.kubernetes.io/pod-uid"] = {uid};
    api_.AddToken(token, status);
    pods.push_back(Welcomed(token));
  }
  int issued = 0;
  for (uint64_t i = 1; i <= 10; ++i) issued += SignsOn(*pods[0], i);
  EXPECT_EQ(issued, 10);  // the burst
  auto key = pki::GenerateP256Key();
  ASSERT_TRUE(pods[0]->SendCsr(
      11, *pki::CreateCsr(key->get(), *pki::SpiffeId::Parse("spiffe://mesh.test/ns/shop/sa/cart"))));
  auto refused = pods[0]->Read();
  ASSERT_TRUE(refused && refused->has_rejected()) << (refused ? refused->DebugString() : "ended");
  EXPECT_EQ(refused->rejected().reason(), "rate_limited");
  EXPECT_THAT(refused->rejected().message(),
              ::testing::HasSubstr("pod:0a1b2c3d-0000-4000-8000-00000000000a"));
  EXPECT_TRUE(SignsOn(*pods[1], 1)) << "the other pod was starved";
  for (auto& pod : pods) EXPECT_TRUE(pod->Finish().ok());
}

}  // namespace
}  // namespace tether
