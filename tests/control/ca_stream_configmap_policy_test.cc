// Authorization policies from Kubernetes ConfigMaps end to end: a real
// ControlPlane whose PolicyStore reads a real ConfigMapPolicySource, which
// lists ConfigMaps over HTTPS from a stand-in API server (FakeKubernetesApi
// on FakeHttpsServer), and real certificate-stream clients that receive the
// policy.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "control/control_plane.h"
#include "control/kubernetes/configmap_policy_source.h"
#include "tests/control/ca_test_client.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"
#include "tests/testing/net_helpers.h"

namespace tether {
namespace {

using testing::CaTestClient;
using testing::FakeHttpsServer;
using testing::FakeKubernetesApi;
using ::testing::HasSubstr;
using testing::RecordedRequest;
using tether::ca::v1::StreamResponse;

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";

// CartCallers: who may call shop/cart, as a ConfigMap holds it (no namespace:
// the ConfigMap's).
std::string CartCallers(const std::string& from_sa) {
  return absl::StrCat(
      "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: cart-callers}\n"
      "spec:\n  selector: {serviceAccounts: [cart]}\n  rules:\n"
      "    - from: [{spiffeId: spiffe://mesh.test/ns/shop/sa/",
      from_sa, "}]\n      ports: [8080]\n");
}

// WaitFor polls `cond` every 10 ms for up to 10 s.
template <typename F>
bool WaitFor(F cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// AllowedCaller returns the SPIFFE ID the policy message allows, "" if none.
std::string AllowedCaller(const StreamResponse& msg) {
  if (!msg.has_policy() || msg.policy().policies_size() != 1) return "";
  return msg.policy().policies(0).rules(0).from(0).spiffe_id();
}

class ConfigMapPolicyTest : public ::testing::Test {
 protected:
  ConfigMapPolicyTest()
      : clock_(absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))),
        api_ca_(testing::MakeTestCa("kubernetes")),
        api_cert_(testing::MakeServerCert(api_ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")) {}

  void SetUp() override {
    dir_ = testing::MakeTempDir("cm-policy");
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", api_ca_.cert_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
    api_.SetCallerToken(kOwnToken);
    api_.PutConfigMap("shop", "policies", {{"cart.yaml", CartCallers("web")}});
    server_ = std::make_unique<FakeHttpsServer>(
        api_cert_, [this](const RecordedRequest& req) { return api_.Answer(req); });
  }

  void TearDown() override {
    for (auto& cp : replicas_) cp->Stop();
    EXPECT_THAT(api_.problems(), ::testing::IsEmpty());
  }

  // Start starts a replica of the control plane that reads the ConfigMaps
  // every `poll`.
  control::ControlPlane* Start(absl::Duration poll) {
    control::kubernetes::ConfigMapPolicySource::Options source;
    source.api.host = "127.0.0.1";
    source.api.port = server_->port();
    source.api.ca_file = dir_ + "/ca.crt";
    source.api.token_file = dir_ + "/token";
    auto configmaps = control::kubernetes::ConfigMapPolicySource::Create(source);
    EXPECT_TRUE(configmaps.ok()) << configmaps.status();
    if (!configmaps.ok()) return nullptr;

    control::ControlPlaneOptions opts;
    opts.state_dir = absl::StrCat(dir_, "/state", replicas_.size());
    opts.trust_domain = "mesh.test";
    opts.grpc_listen = "127.0.0.1:0";
    opts.admin_listen = "127.0.0.1:0";
    opts.policy_source = *std::move(configmaps);
    opts.policy_poll = poll;
    auto cp = control::ControlPlane::Start(opts, &clock_);
    EXPECT_TRUE(cp.ok()) << cp.status();
    if (!cp.ok()) return nullptr;
    replicas_.push_back(*std::move(cp));
    return replicas_.back().get();
  }

  // Join opens a stream to `cp` as shop/cart and reads its Welcome, trust
  // bundle and revocations.
  std::unique_ptr<CaTestClient> Join(control::ControlPlane* cp) {
    auto id = pki::SpiffeId::Make("mesh.test", "shop", "cart");
    auto token = cp->tokens()->Create(*id, absl::ZeroDuration());
    EXPECT_TRUE(token.ok());
    auto client =
        std::make_unique<CaTestClient>(cp->grpc_port(), cp->store()->Current()->bundle.ToPem());
    EXPECT_TRUE(client->SendHello(token->token));
    for (const char* expected : {"welcome", "trust_bundle", "revocations"}) {
      std::optional<StreamResponse> msg = client->Read();
      EXPECT_TRUE(msg.has_value()) << "stream ended before " << expected;
      if (!msg) return client;
      EXPECT_TRUE(
          msg->GetDescriptor()->FindFieldByName(expected) != nullptr &&
          msg->GetReflection()->HasField(*msg, msg->GetDescriptor()->FindFieldByName(expected)))
          << "expected " << expected << ", got " << msg->DebugString();
    }
    return client;
  }

  // NextPolicy reads the next message, which must be a policy.
  StreamResponse NextPolicy(CaTestClient& client) {
    std::optional<StreamResponse> msg = client.Read();
    EXPECT_TRUE(msg && msg->has_policy()) << (msg ? msg->DebugString() : "stream ended");
    return msg ? *msg : StreamResponse();
  }

  FakeClock clock_;
  testing::TestCa api_ca_;
  testing::TestCert api_cert_;
  std::string dir_;
  FakeKubernetesApi api_;
  std::unique_ptr<FakeHttpsServer> server_;
  std::vector<std::unique_ptr<control::ControlPlane>> replicas_;
};

TEST_F(ConfigMapPolicyTest, AConfigMapsPolicyReachesTheStreamAndAChangeWithinASecond) {
  // The default poll of tether-control --policy-source kubernetes.
  control::ControlPlane* cp = Start(absl::Seconds(1));
  ASSERT_NE(cp, nullptr);
  EXPECT_THAT(testing::HttpGet(cp->admin_port(), "/ready"), HasSubstr("200 OK"));
  auto client = Join(cp);
  StreamResponse first = NextPolicy(*client);
  EXPECT_EQ(AllowedCaller(first), "spiffe://mesh.test/ns/shop/sa/web");
  EXPECT_EQ(first.policy().policies(0).namespace_(), "shop");  // the ConfigMap's namespace
  EXPECT_EQ(first.policy().version(), cp->policies()->Current()->version);

  // `kubectl apply` of a changed ConfigMap: on the stream within a poll.
  for (const char* caller : {"api", "web", "batch"}) {
    const auto changed = std::chrono::steady_clock::now();
    api_.PutConfigMap("shop", "policies", {{"cart.yaml", CartCallers(caller)}});
    StreamResponse next = NextPolicy(*client);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - changed);
    EXPECT_EQ(AllowedCaller(next), absl::StrCat("spiffe://mesh.test/ns/shop/sa/", caller));
    EXPECT_EQ(next.policy().version(), api_.revision());  // numbered by the API's revision
    // At most a poll interval and a list request (here the worst case: the
    // change comes right after a poll).
    EXPECT_LT(took.count(), 1500) << "a ConfigMap change took " << took.count() << " ms";
    std::printf("ConfigMap change on the stream after %lld ms\n",
                static_cast<long long>(took.count()));
  }
  EXPECT_FALSE(cp->policies()->Apply(CartCallers("x"), "x.yaml").ok());
  EXPECT_TRUE(client->Finish().ok());
}

TEST_F(ConfigMapPolicyTest, AConfigMapDefiningAnotherNamespacesPolicyIsRefusedAndThePreviousStays) {
  control::ControlPlane* cp = Start(absl::Milliseconds(50));
  ASSERT_NE(cp, nullptr);
  auto client = Join(cp);
  EXPECT_EQ(AllowedCaller(NextPolicy(*client)), "spiffe://mesh.test/ns/shop/sa/web");
  const uint64_t before = cp->policies()->Current()->version;

  // Whoever may write ConfigMaps in namespace bank tries to open shop/cart.
  api_.PutConfigMap("bank", "sneaky",
                    {{"p.yaml",
                      "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\n"
                      "metadata: {name: cart-callers, namespace: shop}\n"
                      "spec: {rules: [{from: [{namespace: bank}]}]}\n"}});
  ASSERT_TRUE(WaitFor([&] { return !cp->policies()->reload_error().empty(); }));
  EXPECT_EQ(cp->policies()->reload_error(),
            "configmap bank/sneaky key p.yaml: document 1 (shop/cart-callers): metadata.namespace: "
            "\"shop\" is not bank: documents from namespace bank may only define policies of "
            "namespace bank");
  std::shared_ptr<const control::PolicyState> state = cp->policies()->Current();
  EXPECT_EQ(state->version, before);
  ASSERT_EQ(state->set.policies.size(), 1u);
  EXPECT_EQ(state->set.policies[0].rules[0].from[0].value, "spiffe://mesh.test/ns/shop/sa/web");
  EXPECT_THAT(testing::HttpGet(cp->admin_port(), "/metrics"),
              HasSubstr("tether_control_policy_error 1"));
  auto audit = ReadFile(absl::StrCat(dir_, "/state0/audit.jsonl"));
  ASSERT_TRUE(audit.ok());
  EXPECT_THAT(*audit, HasSubstr(R"("event":"policy_rejected")"));
  EXPECT_THAT(*audit, HasSubstr("configmap bank/sneaky key p.yaml"));

  // Outside the root namespace a DefaultPolicy without a namespace is that
  // namespace's (bank's), never the mesh's: shop is untouched.
  api_.PutConfigMap("bank", "sneaky",
                    {{"p.yaml",
                      "apiVersion: tether.io/v1\nkind: DefaultPolicy\n"
                      "metadata: {name: open-mesh}\nspec: {default: DENY}\n"}});
  ASSERT_TRUE(WaitFor([&] { return cp->policies()->reload_error().empty(); }));
  ASSERT_EQ(cp->policies()->Current()->set.defaults.size(), 1u);
  EXPECT_EQ(cp->policies()->Current()->set.defaults[0].namespace_name, "bank");

  // Nothing reached shop/cart's stream meanwhile: the next message is shop's
  // own next change.
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", CartCallers("api")}});
  EXPECT_EQ(AllowedCaller(NextPolicy(*client)), "spiffe://mesh.test/ns/shop/sa/api");
  EXPECT_TRUE(client->Finish().ok());
}

TEST_F(ConfigMapPolicyTest, AnUnreachableApiServerKeepsThePolicyAndIsReported) {
  control::ControlPlane* cp = Start(absl::Milliseconds(50));
  ASSERT_NE(cp, nullptr);
  auto client = Join(cp);
  EXPECT_EQ(AllowedCaller(NextPolicy(*client)), "spiffe://mesh.test/ns/shop/sa/web");
  const uint64_t version = cp->policies()->Current()->version;

  server_->SetResetting(true);
  // Polls run one after another: once one has failed, none in flight can
  // still read the change below.
  ASSERT_TRUE(WaitFor([&] { return !cp->policies()->reload_error().empty(); }));
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", CartCallers("api")}});
  EXPECT_THAT(cp->policies()->reload_error(),
              ::testing::StartsWith("cannot read the policies from ConfigMaps labelled "
                                    "tether.io/policy: listing ConfigMaps failed: "));
  EXPECT_EQ(cp->policies()->Current()->version, version);
  EXPECT_EQ(cp->policies()->Current()->set.policies[0].rules[0].from[0].value,
            "spiffe://mesh.test/ns/shop/sa/web");
  EXPECT_THAT(testing::HttpGet(cp->admin_port(), "/metrics"),
              HasSubstr("tether_control_policy_error 1"));
  EXPECT_THAT(testing::HttpGet(cp->admin_port(), "/ready"), HasSubstr("200 OK"));  // was read

  // Back: the change made meanwhile arrives, the error is gone.
  server_->SetResetting(false);
  EXPECT_EQ(AllowedCaller(NextPolicy(*client)), "spiffe://mesh.test/ns/shop/sa/api");
  EXPECT_EQ(cp->policies()->reload_error(), "");
  EXPECT_TRUE(client->Finish().ok());
}

TEST_F(ConfigMapPolicyTest, AReplicaThatCouldNotReadThePolicySendsNoneAndIsNotReady) {
  server_->SetResetting(true);
  control::ControlPlane* cp = Start(absl::Milliseconds(50));
  ASSERT_NE(cp, nullptr);
  EXPECT_FALSE(cp->policies()->Current()->loaded);
  EXPECT_THAT(testing::HttpGet(cp->admin_port(), "/ready"), HasSubstr("503 Service Unavailable"));
  // The CA works; the workload is sent no policy (an empty one would allow
  // what the ConfigMaps may deny): the next message is the real policy.
  auto client = Join(cp);
  server_->SetResetting(false);
  EXPECT_EQ(AllowedCaller(NextPolicy(*client)), "spiffe://mesh.test/ns/shop/sa/web");
  EXPECT_THAT(testing::HttpGet(cp->admin_port(), "/ready"), HasSubstr("200 OK"));
  EXPECT_TRUE(client->Finish().ok());
}

TEST_F(ConfigMapPolicyTest, TwoReplicasServeTheSamePolicyUnderTheSameVersion) {
  control::ControlPlane* a = Start(absl::Milliseconds(100));
  control::ControlPlane* b = Start(absl::Milliseconds(100));
  ASSERT_TRUE(a != nullptr && b != nullptr);
  auto on_a = Join(a);
  auto on_b = Join(b);
  StreamResponse from_a = NextPolicy(*on_a);
  StreamResponse from_b = NextPolicy(*on_b);
  EXPECT_EQ(from_a.policy().version(), from_b.policy().version());
  EXPECT_EQ(from_a.policy().SerializeAsString(), from_b.policy().SerializeAsString());

  api_.WriteSomethingElse();
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", CartCallers("api")}});
  from_a = NextPolicy(*on_a);
  from_b = NextPolicy(*on_b);
  EXPECT_EQ(AllowedCaller(from_a), "spiffe://mesh.test/ns/shop/sa/api");
  // A proxy that moves to the other replica is not sent an older version
  // number for the same policy (it ignores older ones).
  EXPECT_EQ(from_a.policy().version(), from_b.policy().version());
  EXPECT_EQ(from_a.policy().SerializeAsString(), from_b.policy().SerializeAsString());
  EXPECT_TRUE(on_a->Finish().ok());
  EXPECT_TRUE(on_b->Finish().ok());
}

}  // namespace
}  // namespace tether
