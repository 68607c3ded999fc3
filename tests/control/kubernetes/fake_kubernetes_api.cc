#include "tests/control/kubernetes/fake_kubernetes_api.h"

#include "absl/strings/str_cat.h"

namespace tether::testing {

using Json = nlohmann::json;

Json ServiceAccountStatus(const std::string& ns, const std::string& sa, const std::string& pod) {
  return {
      {"authenticated", true},
      {"user",
       {{"username", absl::StrCat("system:serviceaccount:", ns, ":", sa)},
        {"uid", "1f7b6bd8-6c38-4b1e-9f4e-3c1d7e0a5b2c"},
        {"groups",
         {"system:serviceaccounts", absl::StrCat("system:serviceaccounts:", ns),
          "system:authenticated"}},
        {"extra",
         {{"authentication.kubernetes.io/credential-id",
           {"JTI=0e5f3c2a-8a43-4d1b-b3a5-2f0f6a7c9d11"}},
          {"authentication.kubernetes.io/node-name", {"kind-worker"}},
          {"authentication.kubernetes.io/node-uid", {"a3c2e1f0-1111-2222-3333-444455556666"}},
          {"authentication.kubernetes.io/pod-name", {pod}},
          {"authentication.kubernetes.io/pod-uid", {"9b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0"}}}}}},
      {"audiences", {"tether"}},
  };
}

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return Json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}}
      .dump();
}

std::string FakeKubernetesApi::Answer(const RecordedRequest& req) {
  MutexLock lock(&mu_);
  if (req.method != "POST" || req.target != "/apis/authentication.k8s.io/v1/tokenreviews") {
    problems_.push_back(absl::StrCat("unexpected ", req.method, " ", req.target));
    return HttpResponse(404, StatusBody(404, "NotFound", "the server could not find it"));
  }
  if (req.Header("authorization") != absl::StrCat("Bearer ", caller_token_)) {
    problems_.push_back(absl::StrCat("Authorization: ", req.Header("authorization")));
    return HttpResponse(401, StatusBody(401, "Unauthorized", "Unauthorized"));
  }
  if (req.Header("content-type") != "application/json") {
    problems_.push_back(absl::StrCat("Content-Type: ", req.Header("content-type")));
  }
  const Json review = Json::parse(req.body, nullptr, false);
  auto member = [](const Json& j, const char* key) {
    return j.is_object() && j.contains(key) ? j.at(key) : Json();
  };
  const Json spec = member(review, "spec");
  if (member(review, "apiVersion") != "authentication.k8s.io/v1" ||
      member(review, "kind") != "TokenReview" || !member(spec, "token").is_string() ||
      member(spec, "audiences") != Json::array({audience_}) || review.size() != 3 ||
      spec.size() != 2) {
    problems_.push_back(absl::StrCat("bad review: ", req.body));
    return HttpResponse(400, StatusBody(400, "BadRequest", "bad TokenReview"));
  }
  const std::string token = spec.at("token").get<std::string>();
  reviewed_tokens_.push_back(token);
  if (!raw_answer_.empty()) return raw_answer_;
  if (forbidden_) {
    return HttpResponse(
        403, StatusBody(403, "Forbidden",
                        "tokenreviews.authentication.k8s.io is forbidden: User "
                        "\"system:serviceaccount:tether-system:tether-control\" cannot create "
                        "resource \"tokenreviews\" in API group \"authentication.k8s.io\" at "
                        "the cluster scope"));
  }
  Json status = {{"user", Json::object()},
                 {"error",
                  "[invalid bearer token, square/go-jose: error in cryptographic "
                  "primitive]"}};
  auto it = tokens_.find(token);
  if (it != tokens_.end()) status = it->second;
  Json answer = {
      {"kind", "TokenReview"},
      {"apiVersion", "authentication.k8s.io/v1"},
      {"metadata", {{"creationTimestamp", nullptr}}},
      {"spec", spec},
      {"status", status},
  };
  return HttpResponse(201, answer.dump());
}

}  // namespace tether::testing
