// ClusterPublisher against a fake API server that keeps namespaces,
// ConfigMaps and a MutatingWebhookConfiguration, and applies server-side
// apply and JSON patches as the real one does.
#include "control/kubernetes/cluster_publisher.h"

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/sync/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether::control::kubernetes {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using tether::testing::HttpResponse;
using tether::testing::RecordedRequest;
using tether::testing::StatusBody;

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.cHVibGlzaGVy.c2ln";
constexpr char kRoots1[] = "-----BEGIN CERTIFICATE-----\nMIIBroot1\n-----END CERTIFICATE-----\n";
constexpr char kRoots2[] = "-----BEGIN CERTIFICATE-----\nMIIBroot2\n-----END CERTIFICATE-----\n";
constexpr char kConfigPath[] =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tether-sidecar-injector";

// FakeClusterApi: namespaces, ConfigMaps and one webhook configuration.
class FakeClusterApi {
 public:
  FakeClusterApi() {
    namespaces_ = {{"shop", true}, {"payments", true}, {"kube-system", false}};
    webhook_config_ = Json::parse(R"({
      "apiVersion": "admissionregistration.k8s.io/v1",
      "kind": "MutatingWebhookConfiguration",
      "metadata": {"name": "tether-sidecar-injector", "resourceVersion": "1"},
      "webhooks": [
        {"name": "pods.tether.io", "clientConfig": {"service": {"name": "tether-webhook",
         "namespace": "tether-system", "path": "/inject"}}},
        {"name": "pods-legacy.tether.io", "clientConfig": {"caBundle": "b2xk",
         "service": {"name": "tether-webhook", "namespace": "tether-system", "path": "/inject"}}}
      ]})");
  }

  std::string Answer(const RecordedRequest& req) {
    MutexLock lock(&mu_);
    requests_.push_back(absl::StrCat(req.method, " ", req.target));
    if (req.Header("authorization") != absl::StrCat("Bearer ", kOwnToken)) {
      problems_.push_back("no bearer token");
      return HttpResponse(401, StatusBody(401, "Unauthorized", "Unauthorized"));
    }
    if (req.method == "GET" &&
        req.target == "/api/v1/namespaces?labelSelector=tether.io%2Finjection%3Denabled") {
      Json items = Json::array();
      for (const auto& [name, labelled] : namespaces_) {
        if (labelled) items.push_back({{"metadata", {{"name", name}}}});
      }
      return HttpResponse(200, Json{{"kind", "NamespaceList"}, {"items", items}}.dump());
    }
    const std::string cm_prefix = "/api/v1/namespaces/";
    if (req.method == "PATCH" && absl::StartsWith(req.target, cm_prefix)) {
      return ApplyConfigMap(req);
    }
    if (req.target == kConfigPath) {
      if (!webhook_installed_) {
        return HttpResponse(404, StatusBody(404, "NotFound", "not found"));
      }
      if (req.method == "GET") return HttpResponse(200, webhook_config_.dump());
      if (req.method == "PATCH") {
        if (req.Header("content-type") != "application/json-patch+json") {
          problems_.push_back(absl::StrCat("patch content type ", req.Header("content-type")));
        }
        try {
          webhook_config_ = webhook_config_.patch(Json::parse(req.body));
        } catch (const Json::exception& e) {
          return HttpResponse(422, StatusBody(422, "Invalid", e.what()));
        }
        webhook_config_["metadata"]["resourceVersion"] = std::to_string(
            std::stoi(webhook_config_["metadata"]["resourceVersion"].get<std::string>()) + 1);
        return HttpResponse(200, webhook_config_.dump());
      }
    }
    problems_.push_back(absl::StrCat("unexpected ", req.method, " ", req.target));
    return HttpResponse(404, StatusBody(404, "NotFound", "not found"));
  }

  std::string ApplyConfigMap(const RecordedRequest& req) {
    // /api/v1/namespaces/NS/configmaps/NAME?fieldManager=tether-control&force=true
    std::vector<std::string> parts = absl::StrSplit(req.target, absl::ByAnyChar("/?"));
    if (parts.size() != 8 || parts[5] != "configmaps" ||
        parts[7] != "fieldManager=tether-control&force=true") {
      problems_.push_back(absl::StrCat("bad configmap path ", req.target));
      return HttpResponse(400, StatusBody(400, "BadRequest", "bad path"));
    }
    if (req.Header("content-type") != "application/apply-patch+yaml") {
      problems_.push_back(absl::StrCat("apply content type ", req.Header("content-type")));
    }
    const std::string& ns = parts[4];
    if (forbidden_namespace_ == ns) {
      return HttpResponse(
          403, StatusBody(403, "Forbidden",
                          "configmaps \"tether-trust-bundle\" is forbidden: User "
                          "\"system:serviceaccount:tether-system:tether-control\" cannot patch"));
    }
    const Json cm = Json::parse(req.body, nullptr, false);
    if (!cm.is_object() || cm.value("kind", "") != "ConfigMap" ||
        cm["metadata"].value("name", "") != parts[6] ||
        cm["metadata"].value("namespace", "") != ns) {
      problems_.push_back(absl::StrCat("bad ConfigMap ", req.body));
      return HttpResponse(400, StatusBody(400, "BadRequest", "bad object"));
    }
    const bool created = configmaps_.count(ns) == 0;
    configmaps_[ns] = cm;
    return HttpResponse(created ? 201 : 200, cm.dump());
  }

  std::vector<std::string> TakeRequests() {
    MutexLock lock(&mu_);
    std::vector<std::string> out;
    out.swap(requests_);
    return out;
  }

  Mutex mu_;
  std::map<std::string, bool> namespaces_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Json> configmaps_ ABSL_GUARDED_BY(mu_);
  Json webhook_config_ ABSL_GUARDED_BY(mu_);
  bool webhook_installed_ ABSL_GUARDED_BY(mu_) = true;
  std::string forbidden_namespace_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

class ClusterPublisherTest : public ::testing::Test {
 protected:
  ClusterPublisherTest()
      : ca_(testing::MakeTestCa("kubernetes")),
        cert_(testing::MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        server_(cert_, [this](const RecordedRequest& r) { return api_.Answer(r); }) {
    const std::string dir = ::testing::TempDir();
    options_.api.host = "127.0.0.1";
    options_.api.port = server_.port();
    options_.api.ca_file = dir + "/publisher-ca.crt";
    options_.api.token_file = dir + "/publisher-token";
    options_.api.timeout = absl::Seconds(20);
    EXPECT_TRUE(WriteFileAtomic(options_.api.ca_file, ca_.cert_pem).ok());
    EXPECT_TRUE(WriteFileAtomic(options_.api.token_file, kOwnToken).ok());
  }
  void TearDown() override {
    MutexLock lock(&api_.mu_);
    EXPECT_THAT(api_.problems_, IsEmpty());
  }

  std::vector<std::string> CaBundles() {
    MutexLock lock(&api_.mu_);
    std::vector<std::string> out;
    for (const Json& w : api_.webhook_config_["webhooks"]) {
      out.push_back(w["clientConfig"].value("caBundle", ""));
    }
    return out;
  }

  testing::TestCa ca_;
  testing::TestCert cert_;
  FakeClusterApi api_;
  testing::FakeHttpsServer server_;
  ClusterPublisherOptions options_;
};

TEST_F(ClusterPublisherTest, WritesBundlesToLabelledNamespacesAndTheWebhookCaBundle) {
  ClusterPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish(kRoots1).ok());
  {
    MutexLock lock(&api_.mu_);
    ASSERT_EQ(api_.configmaps_.size(), 2u);  // not kube-system
    for (const char* ns : {"shop", "payments"}) {
      const Json& cm = api_.configmaps_[ns];
      EXPECT_EQ(cm["metadata"]["name"], "tether-trust-bundle");
      EXPECT_EQ(cm["metadata"]["labels"]["app.kubernetes.io/managed-by"], "tether-control");
      EXPECT_EQ(cm["data"]["roots.pem"], kRoots1);
    }
  }
  const std::string b64 = absl::Base64Escape(kRoots1);
  EXPECT_THAT(CaBundles(), ElementsAre(b64, b64));
  api_.TakeRequests();

  // Nothing changed: no writes at all.
  ASSERT_TRUE(publisher.Publish(kRoots1).ok());
  EXPECT_THAT(api_.TakeRequests(),
              ElementsAre("GET /api/v1/namespaces?labelSelector=tether.io%2Finjection%3Denabled",
                          absl::StrCat("GET ", kConfigPath)));

  // A new bundle (a CA rotation) reaches every namespace and the webhook; a
  // namespace labelled since is included.
  {
    MutexLock lock(&api_.mu_);
    api_.namespaces_["kube-system"] = true;
  }
  ASSERT_TRUE(publisher.Publish(kRoots2).ok());
  {
    MutexLock lock(&api_.mu_);
    ASSERT_EQ(api_.configmaps_.size(), 3u);
    for (const auto& [ns, cm] : api_.configmaps_) EXPECT_EQ(cm["data"]["roots.pem"], kRoots2) << ns;
  }
  EXPECT_THAT(CaBundles(), ElementsAre(absl::Base64Escape(kRoots2), absl::Base64Escape(kRoots2)));
}

TEST_F(ClusterPublisherTest, ExtraNamespacesGetTheBundleWhateverTheirLabels) {
  options_.extra_namespaces = {"tether-system", "shop"};
  ClusterPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish(kRoots1).ok());
  MutexLock lock(&api_.mu_);
  EXPECT_EQ(api_.configmaps_.size(), 3u);
  EXPECT_EQ(api_.configmaps_["tether-system"]["data"]["roots.pem"], kRoots1);
}

TEST_F(ClusterPublisherTest, ResyncsEverythingNowAndThen) {
  options_.full_resync_every = 2;
  ClusterPublisher publisher(options_);
  ASSERT_TRUE(publisher.Publish(kRoots1).ok());
  {
    MutexLock lock(&api_.mu_);
    api_.configmaps_.erase("shop");  // someone deleted it
  }
  ASSERT_TRUE(publisher.Publish(kRoots1).ok());  // cached: not rewritten yet
  {
    MutexLock lock(&api_.mu_);
    EXPECT_EQ(api_.configmaps_.count("shop"), 0u);
  }
  ASSERT_TRUE(publisher.Publish(kRoots1).ok());  // the resync pass
  MutexLock lock(&api_.mu_);
  EXPECT_EQ(api_.configmaps_.count("shop"), 1u);
}

TEST_F(ClusterPublisherTest, AMissingWebhookConfigurationIsNotAnError) {
  {
    MutexLock lock(&api_.mu_);
    api_.webhook_installed_ = false;
  }
  ClusterPublisher publisher(options_);
  EXPECT_TRUE(publisher.Publish(kRoots1).ok());
  options_.webhook_configuration = "";
  ClusterPublisher no_webhook(options_);
  api_.TakeRequests();
  EXPECT_TRUE(no_webhook.Publish(kRoots1).ok());
  for (const std::string& r : api_.TakeRequests())
    EXPECT_THAT(r, ::testing::Not(HasSubstr("mutating")));
}

TEST_F(ClusterPublisherTest, FailuresNameTheObjectAndTheOthersAreStillWritten) {
  {
    MutexLock lock(&api_.mu_);
    api_.forbidden_namespace_ = "payments";
  }
  ClusterPublisher publisher(options_);
  absl::Status st = publisher.Publish(kRoots1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("payments/tether-trust-bundle: HTTP 403"));
  EXPECT_THAT(st.message(), HasSubstr("cannot patch"));
  MutexLock lock(&api_.mu_);
  EXPECT_EQ(api_.configmaps_.count("shop"), 1u);
  EXPECT_EQ(api_.webhook_config_["webhooks"][0]["clientConfig"]["caBundle"],
            absl::Base64Escape(kRoots1));
}

TEST_F(ClusterPublisherTest, AnUnreachableApiServerIsUnavailable) {
  testing::ReservedPort closed(/*listening=*/false);
  options_.api.port = closed.port();
  ClusterPublisher publisher(options_);
  absl::Status st = publisher.Publish(kRoots1);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr("listing the namespaces to inject"));
}

}  // namespace
}  // namespace tether::control::kubernetes
