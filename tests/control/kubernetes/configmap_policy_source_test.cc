#include "control/kubernetes/configmap_policy_source.h"

#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::HasSubstr;
using tether::testing::FakeHttpsServer;
using tether::testing::FakeKubernetesApi;
using tether::testing::MakeServerCert;
using tether::testing::MakeTestCa;
using tether::testing::RecordedRequest;
using tether::testing::TestCa;
using tether::testing::TestCert;

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";
constexpr char kListTarget[] = "/api/v1/configmaps?labelSelector=tether.io%2Fpolicy&limit=500";

constexpr char kCart[] =
    "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: cart-callers}\n"
    "spec: {rules: [{from: [{namespace: web}]}]}\n";

class ConfigMapPolicySourceTest : public ::testing::Test {
 protected:
  ConfigMapPolicySourceTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        dir_(::testing::TempDir()),
        server_(cert_, [this](const RecordedRequest& req) { return api_.Answer(req); }) {
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", ca_.cert_pem).ok());
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
    api_.SetCallerToken(kOwnToken);
  }

  void TearDown() override { EXPECT_THAT(api_.problems(), ::testing::IsEmpty()); }

  ConfigMapPolicySource::Options Options() const {
    ConfigMapPolicySource::Options o;
    o.api.host = "127.0.0.1";
    o.api.port = server_.port();
    o.api.ca_file = dir_ + "/ca.crt";
    o.api.token_file = dir_ + "/token";
    return o;
  }

  std::unique_ptr<ConfigMapPolicySource> Make(ConfigMapPolicySource::Options o) {
    auto source = ConfigMapPolicySource::Create(std::move(o));
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *std::move(source) : nullptr;
  }

  // Read expects documents and returns them.
  PolicyDocuments Read(ConfigMapPolicySource& source) {
    absl::StatusOr<std::optional<PolicyDocuments>> docs = source.ReadIfChanged();
    EXPECT_TRUE(docs.ok()) << docs.status();
    EXPECT_TRUE(docs.ok() && docs->has_value()) << "no change seen";
    return docs.ok() && docs->has_value() ? **docs : PolicyDocuments{};
  }

  TestCa ca_;
  TestCert cert_;
  std::string dir_;
  FakeKubernetesApi api_;
  FakeHttpsServer server_;
};

TEST_F(ConfigMapPolicySourceTest, ReadsTheYamlKeysOfEveryLabelledConfigMapAsItsNamespaces) {
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", kCart}, {"README", "not policy"}});
  api_.PutConfigMap("bank", "p", {{"vault.yml", "kind: List\nitems: []\n"}});
  api_.PutConfigMap("tether-system", "mesh", {{"mesh.yaml", "# mesh-wide\n"}});
  api_.PutConfigMap("shop", "unlabelled", {{"x.yaml", "nope"}}, {{"app", "shop"}});
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->Describe(), "ConfigMaps labelled tether.io/policy");
  EXPECT_EQ(source->ReadOnlyMessage(),
            "policies come from ConfigMaps labelled tether.io/policy; change them with kubectl "
            "apply");

  PolicyDocuments docs = Read(*source);
  EXPECT_EQ(docs.revision, api_.revision());
  ASSERT_EQ(docs.documents.size(), 3u);
  const PolicyDocument& bank = docs.documents[0];
  EXPECT_EQ(bank.origin, "configmap bank/p key vault.yml");
  EXPECT_EQ(bank.short_name, bank.origin);
  EXPECT_EQ(bank.group, "bank");
  EXPECT_EQ(bank.parse.scope_namespace, "bank");
  EXPECT_FALSE(bank.parse.scope_sets_mesh_default);
  const PolicyDocument& shop = docs.documents[1];
  EXPECT_EQ(shop.origin, "configmap shop/policies key cart.yaml");
  EXPECT_EQ(shop.yaml, kCart);
  EXPECT_EQ(shop.parse.scope_namespace, "shop");
  const PolicyDocument& mesh = docs.documents[2];
  EXPECT_EQ(mesh.origin, "configmap tether-system/mesh key mesh.yaml");
  EXPECT_TRUE(mesh.parse.scope_sets_mesh_default);  // the root namespace

  std::vector<RecordedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, kListTarget);
  EXPECT_EQ(requests[0].Header("authorization"), absl::StrCat("Bearer ", kOwnToken));
  EXPECT_EQ(requests[0].Header("accept"), "application/json");
}

TEST_F(ConfigMapPolicySourceTest, OnlyAChangedResourceVersionIsAChange) {
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", kCart}});
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  Read(*source);
  absl::StatusOr<std::optional<PolicyDocuments>> again = source->ReadIfChanged();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
  api_.WriteSomethingElse();  // the cluster's revision moves on; no ConfigMap changed
  again = source->ReadIfChanged();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());

  api_.PutConfigMap("shop", "policies", {{"cart.yaml", std::string(kCart) + "# edited\n"}});
  PolicyDocuments docs = Read(*source);
  EXPECT_EQ(docs.revision, api_.revision());
  ASSERT_EQ(docs.documents.size(), 1u);
  EXPECT_THAT(docs.documents[0].yaml, HasSubstr("# edited"));
  api_.DeleteConfigMap("shop", "policies");
  EXPECT_TRUE(Read(*source).documents.empty());
  EXPECT_EQ(api_.configmap_lists(), 5);
}

TEST_F(ConfigMapPolicySourceTest, PagesThroughALongList) {
  for (int i = 0; i < 5; ++i) {
    api_.PutConfigMap(absl::StrCat("ns", i), "p", {{"a.yaml", "# policy\n"}});
  }
  const uint64_t revision = api_.revision();
  ConfigMapPolicySource::Options o = Options();
  o.page_size = 2;
  auto source = Make(o);
  ASSERT_NE(source, nullptr);
  PolicyDocuments docs = Read(*source);
  EXPECT_EQ(docs.documents.size(), 5u);
  EXPECT_EQ(docs.revision, revision);
  std::vector<RecordedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/api/v1/configmaps?labelSelector=tether.io%2Fpolicy&limit=2");
  EXPECT_THAT(requests[1].target,
              ::testing::StartsWith("/api/v1/configmaps?labelSelector=tether.io%2Fpolicy&"
                                    "limit=2&continue=eyJ"));
  EXPECT_THAT(requests[1].target, ::testing::Not(HasSubstr("=&")));  // '=' of base64 escaped
}

TEST_F(ConfigMapPolicySourceTest, ReReadsItsOwnTokenEveryTime) {
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  Read(*source);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", "rotated.token.value\n").ok());
  api_.SetCallerToken("rotated.token.value");
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", kCart}});
  EXPECT_EQ(Read(*source).documents.size(), 1u);
  EXPECT_EQ(server_.requests().back().Header("authorization"), "Bearer rotated.token.value");
}

TEST_F(ConfigMapPolicySourceTest, ApiServerTroubleIsUnavailableAndSaysWhy) {
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  api_.PutConfigMap("shop", "policies", {{"cart.yaml", kCart}});
  Read(*source);

  api_.SetForbidden();
  absl::StatusOr<std::optional<PolicyDocuments>> docs = source->ReadIfChanged();
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(docs.status().message(),
            "the control plane's service account lacks the RBAC permission to get, list and "
            "watch configmaps (all namespaces) (HTTP 403: configmaps is forbidden: User "
            "\"system:serviceaccount:tether-system:tether-control\" cannot list resource "
            "\"configmaps\" in API group \"\" at the cluster scope); its ClusterRole needs the "
            "verbs get, list and watch on configmaps");

  server_.SetResetting(true);
  docs = source->ReadIfChanged();
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(docs.status().message()),
              ::testing::StartsWith("listing ConfigMaps failed: "));

  ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", "someone.else\n").ok());
  server_.SetResetting(false);
  docs = source->ReadIfChanged();
  EXPECT_THAT(std::string(docs.status().message()),
              ::testing::StartsWith("the Kubernetes API server did not accept the control "
                                    "plane's own service-account token from "));
  EXPECT_THAT(api_.TakeProblems(), ::testing::ElementsAre("Authorization: Bearer someone.else"));
}

TEST_F(ConfigMapPolicySourceTest, CreateChecksItsOptionsAndFiles) {
  ConfigMapPolicySource::Options o = Options();
  o.root_namespace = "Tether_System";
  EXPECT_EQ(ConfigMapPolicySource::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options();
  o.api.token_file = dir_ + "/missing-token";
  absl::Status st = ConfigMapPolicySource::Create(o).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("missing-token"));
}

}  // namespace
}  // namespace tether::control::kubernetes
