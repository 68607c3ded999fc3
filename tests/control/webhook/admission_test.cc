// The webhook's review function over a real AdmissionReview (as the API
// server sends it for a ReplicaSet's pod): the JSONPatch is applied to the
// pod and the result checked field by field; skips, denials and malformed
// reviews.
#include "control/webhook/admission.h"

#include <string>

#include "absl/strings/escaping.h"
#include "common/files.h"
#include "control/inject/injector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::control::webhook {
namespace {

using inject::Json;
using ::testing::HasSubstr;

Json Review() {
  absl::StatusOr<std::string> text = ReadFile("tests/control/webhook/testdata/pod_create.json");
  EXPECT_TRUE(text.ok()) << text.status();
  return Json::parse(text.ok() ? *text : "{}");
}

Json Response(const WebhookAnswer& answer) {
  EXPECT_EQ(answer.http_status, 200) << answer.body;
  EXPECT_EQ(answer.content_type, "application/json");
  const Json review = Json::parse(answer.body, nullptr, false);
  EXPECT_TRUE(review.is_object()) << answer.body;
  EXPECT_EQ(review.value("apiVersion", ""), "admission.k8s.io/v1");
  EXPECT_EQ(review.value("kind", ""), "AdmissionReview");
  EXPECT_TRUE(review.contains("response")) << answer.body;
  return review.value("response", Json::object());
}

Json Patch(const Json& response) {
  std::string decoded;
  EXPECT_TRUE(absl::Base64Unescape(response.value("patch", ""), &decoded));
  return Json::parse(decoded, nullptr, false);
}

WebhookAnswer Send(const Json& review) {
  return ReviewAdmission(review.dump(), inject::InjectOptions());
}

TEST(AdmissionTest, PodCreationIsPatchedWithTheSidecar) {
  const Json review = Review();
  const WebhookAnswer answer = Send(review);
  EXPECT_EQ(answer.outcome, AdmissionOutcome::kInjected);
  const Json response = Response(answer);
  EXPECT_EQ(response["uid"], "0df28fbd-5f5f-4f2d-9c0e-7f6b1a3f2c41");
  EXPECT_EQ(response["allowed"], true);
  EXPECT_EQ(response["patchType"], "JSONPatch");
  const Json patch = Patch(response);
  ASSERT_TRUE(patch.is_array()) << response.dump();

  // Every operation adds, except the app's HTTP readiness probe, which is
  // pointed at the proxy (the kubelet's plaintext probe would be refused by
  // strict mTLS); no other field of the pod is rewritten.
  for (const Json& op : patch) {
    if (op["op"] == "add") continue;
    EXPECT_EQ(op["op"], "replace") << op.dump();
    EXPECT_THAT(op.value("path", ""), ::testing::StartsWith("/spec/containers/0/readinessProbe/"))
        << op.dump();
  }

  const Json& pod = review["request"]["object"];
  const Json patched = pod.patch(patch);  // RFC 6902, as the API server applies it
  const Json& spec = patched["spec"];

  // The API server's own additions are kept as they were.
  EXPECT_EQ(patched["metadata"]["generateName"], "cart-7c9d6b5f4-");
  EXPECT_EQ(patched["metadata"]["ownerReferences"], pod["metadata"]["ownerReferences"]);
  EXPECT_EQ(patched["metadata"]["labels"], pod["metadata"]["labels"]);
  EXPECT_EQ(patched["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2026-11-20T10:00:00Z");
  Json app_with_rewritten_probe = pod["spec"]["containers"][0];
  app_with_rewritten_probe["readinessProbe"]["httpGet"]["path"] = "/app-health/cart/readyz";
  app_with_rewritten_probe["readinessProbe"]["httpGet"]["port"] = 15021;
  ASSERT_EQ(spec["containers"].size(), 1u);
  EXPECT_EQ(spec["containers"][0], app_with_rewritten_probe);
  EXPECT_EQ(spec["tolerations"], pod["spec"]["tolerations"]);
  EXPECT_EQ(spec["serviceAccountName"], "cart");
  EXPECT_EQ(patched["status"], Json::object());

  // The sidecar, as the injector makes it.
  ASSERT_EQ(spec["initContainers"].size(), 2u);
  EXPECT_EQ(spec["initContainers"][0]["name"], "tether-init");
  EXPECT_EQ(spec["initContainers"][0]["args"][0], "init");
  EXPECT_EQ(spec["initContainers"][0]["securityContext"]["capabilities"]["add"],
            Json::parse(R"(["NET_ADMIN","NET_RAW"])"));
  const Json& proxy = spec["initContainers"][1];
  EXPECT_EQ(proxy["name"], "tether-proxy");
  EXPECT_EQ(proxy["restartPolicy"], "Always");
  EXPECT_EQ(proxy["securityContext"]["runAsUser"], 1337);
  EXPECT_EQ(proxy["readinessProbe"]["httpGet"]["path"], "/ready");
  EXPECT_EQ(proxy["readinessProbe"]["httpGet"]["port"], 15021);
  // The proxy runs the app's original probe.
  bool runs_app_probe = false;
  for (const Json& arg : proxy["args"]) {
    const std::string a = arg.get<std::string>();
    if (a.rfind("--app-probes=", 0) != 0) continue;
    // Key order is the injector's; compare as unordered JSON.
    runs_app_probe =
        nlohmann::json::parse(a.substr(13)) == nlohmann::json::parse(R"({"/app-health/cart/readyz":
        {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "timeoutSeconds": 1}})");
  }
  EXPECT_TRUE(runs_app_probe) << proxy["args"].dump();

  ASSERT_EQ(spec["volumes"].size(), 3u);
  EXPECT_EQ(spec["volumes"][0], pod["spec"]["volumes"][0]);  // kube-api-access-*
  EXPECT_EQ(spec["volumes"][1]["name"], "tether-token");
  EXPECT_EQ(spec["volumes"][1]["projected"]["sources"][0]["serviceAccountToken"]["audience"],
            "tether");
  EXPECT_EQ(spec["volumes"][2]["name"], "tether-trust-bundle");

  // The same pod the injector makes directly.
  Json metadata = pod["metadata"];
  Json direct_spec = pod["spec"];
  ASSERT_TRUE(inject::InjectPod(metadata, direct_spec, inject::InjectOptions()).ok());
  EXPECT_EQ(patched["metadata"], metadata);
  EXPECT_EQ(patched["spec"], direct_spec);

  // Uninjecting the patched pod gives back the pod that was sent.
  metadata = patched["metadata"];
  direct_spec = patched["spec"];
  ASSERT_TRUE(inject::UninjectPod(metadata, direct_spec).ok());
  EXPECT_EQ(metadata, pod["metadata"]);
  EXPECT_EQ(direct_spec, pod["spec"]);
}

TEST(AdmissionTest, OptionsShapeThePatch) {
  inject::InjectOptions options;
  options.proxy_image = "registry.example/tether/proxy:0.1.0";
  options.native_sidecar = false;
  const Json review = Review();
  const Json response = Response(ReviewAdmission(review.dump(), options));
  const Json patched = review["request"]["object"].patch(Patch(response));
  EXPECT_EQ(patched["spec"]["containers"][0]["name"], "tether-proxy");
  EXPECT_EQ(patched["spec"]["containers"][0]["image"], "registry.example/tether/proxy:0.1.0");
  EXPECT_EQ(patched["spec"]["containers"][1]["name"], "cart");
}

TEST(AdmissionTest, PodsTheInjectorSkipsAreAllowedUnchanged) {
  struct Case {
    const char* name;
    void (*change)(Json& review);
  } cases[] = {
      {"inject false",
       [](Json& r) {
         r["request"]["object"]["metadata"]["annotations"]["tether.io/inject"] = "false";
       }},
      {"host network", [](Json& r) { r["request"]["object"]["spec"]["hostNetwork"] = true; }},
      {"already injected",
       [](Json& r) {
         Json& pod = r["request"]["object"];
         ASSERT_TRUE(inject::InjectPod(pod["metadata"], pod["spec"], inject::InjectOptions()).ok());
       }},
      {"update",
       [](Json& r) {
         r["request"]["operation"] = "UPDATE";
         r["request"]["oldObject"] = r["request"]["object"];
       }},
      {"a subresource", [](Json& r) { r["request"]["subResource"] = "ephemeralcontainers"; }},
      {"a Deployment",
       [](Json& r) {
         r["request"]["kind"] = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
       }},
      {"no kind", [](Json& r) { r["request"].erase("kind"); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Json review = Review();
    c.change(review);
    const WebhookAnswer answer = Send(review);
    EXPECT_EQ(answer.outcome, AdmissionOutcome::kSkipped);
    const Json response = Response(answer);
    EXPECT_EQ(response["uid"], review["request"]["uid"]);
    EXPECT_EQ(response["allowed"], true);
    EXPECT_FALSE(response.contains("patch"));
    EXPECT_FALSE(response.contains("patchType"));
  }
}

TEST(AdmissionTest, PodsTheInjectorRefusesAreDeniedWithTheReason) {
  Json review = Review();
  review["request"]["object"]["metadata"]["annotations"]["tether.io/exclude-inbound-ports"] =
      "8080,http";
  WebhookAnswer answer = Send(review);
  EXPECT_EQ(answer.outcome, AdmissionOutcome::kDenied);
  Json response = Response(answer);
  EXPECT_EQ(response["allowed"], false);
  EXPECT_EQ(response["status"]["code"], 400);
  EXPECT_THAT(response["status"]["message"].get<std::string>(),
              HasSubstr("tether: annotation tether.io/exclude-inbound-ports"));
  EXPECT_FALSE(response.contains("patch"));

  for (Json object : {Json(nullptr), Json("pod"), Json::object(), Json{{"spec", 1}},
                      Json{{"spec", {{"containers", Json::array()}}}}}) {
    review = Review();
    review["request"]["object"] = object;
    answer = Send(review);
    EXPECT_EQ(answer.outcome, AdmissionOutcome::kDenied) << object.dump();
    response = Response(answer);
    EXPECT_EQ(response["uid"], review["request"]["uid"]);
    EXPECT_EQ(response["allowed"], false);
    EXPECT_EQ(response["status"]["code"], 400);
  }
}

TEST(AdmissionTest, MalformedReviewsGetAnErrorResponse) {
  std::vector<std::string> bodies = {
      "",
      "not json",
      "[1,2,3]",
      "{\"apiVersion\":\"admission.k8s.io/v1\"",  // truncated
      "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
      "\"request\":{\"uid\":\"x\"}}",
      "{\"apiVersion\":\"admission.k8s.io/"
      "v1\",\"kind\":\"TokenReview\",\"request\":{\"uid\":\"x\"}}",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":[]}",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
      "{\"apiVersion\":\"admission.k8s.io/"
      "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"\"}}",
      "{\"apiVersion\":\"admission.k8s.io/"
      "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":7}}",
      std::string(100000, '[') + std::string(100000, ']'),
      std::string("{\"a\":\"\xff\xfe\"}"),
  };
  Json review = Review();
  std::string dumped = review.dump();
  bodies.push_back(dumped.substr(0, dumped.size() / 2));
  for (const std::string& body : bodies) {
    const WebhookAnswer answer = ReviewAdmission(body, inject::InjectOptions());
    EXPECT_EQ(answer.http_status, 400) << body.substr(0, 200);
    EXPECT_EQ(answer.outcome, AdmissionOutcome::kMalformed);
    EXPECT_THAT(answer.body, HasSubstr("malformed AdmissionReview"));
  }
}

TEST(AdmissionTest, JsonDepth) {
  EXPECT_FALSE(JsonDepthExceeds("{\"a\":[[1]]}", 3));
  EXPECT_TRUE(JsonDepthExceeds("{\"a\":[[[1]]]}", 3));
  EXPECT_FALSE(JsonDepthExceeds("{\"a\":\"[[[[[[\\\"[[[[\"}", 1));  // brackets in strings
  EXPECT_FALSE(JsonDepthExceeds("[][][][][]", 1));
}

}  // namespace
}  // namespace tether::control::webhook
