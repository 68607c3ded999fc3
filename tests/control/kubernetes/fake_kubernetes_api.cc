#include "tests/control/kubernetes/fake_kubernetes_api.h"

#include <algorithm>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

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
  if (unavailable_) {
    return HttpResponse(503, StatusBody(503, "ServiceUnavailable", "the server is unavailable"));
  }
  if (req.method == "GET" && absl::StartsWith(req.target, "/api/v1/configmaps?")) {
    return ListConfigMaps(req);
  }
  if (std::optional<std::string> answer = OneConfigMap(req)) return *answer;
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

namespace {

// QueryUnescape decodes %XX; nullopt when it is malformed.
std::optional<std::string> QueryUnescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= s.size() || !absl::SimpleHexAtoi(s.substr(i + 1, 2), &value)) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

}  // namespace

void FakeKubernetesApi::PutConfigMap(const std::string& ns, const std::string& name,
                                     std::map<std::string, std::string> data,
                                     std::map<std::string, std::string> labels) {
  MutexLock lock(&mu_);
  const std::string key = absl::StrCat(ns, "/", name);
  const uint64_t version = ++revision_;
  Json& cm = configmaps_[key];
  const bool created = cm.is_null();
  if (created) {
    cm = {{"metadata",
           {{"name", name},
            {"namespace", ns},
            {"uid", absl::StrFormat("6f1c2a3b-%04x-4d5e-9f60-%012x", configmaps_.size(), version)},
            {"creationTimestamp", "2024-05-01T10:00:00Z"}}}};
  }
  Json data_json = Json::object();
  Json fields = Json::object();
  for (const auto& [k, v] : data) {
    data_json[k] = v;
    fields[absl::StrCat("f:", k)] = Json::object();
  }
  Json label_json = Json::object();
  for (const auto& [k, v] : labels) label_json[k] = v;
  Json applied = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", name}, {"namespace", ns}, {"labels", label_json}}},
                  {"data", data_json}};
  Json& meta = cm["metadata"];
  meta["resourceVersion"] = absl::StrCat(version);
  meta["labels"] = label_json;
  meta["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", applied.dump() + "\n"}};
  meta["managedFields"] = Json::array(
      {{{"manager", "kubectl-client-side-apply"},
        {"operation", "Update"},
        {"apiVersion", "v1"},
        {"time", "2024-05-01T10:00:00Z"},
        {"fieldsType", "FieldsV1"},
        {"fieldsV1", {{"f:data", fields}, {"f:metadata", {{"f:labels", Json::object()}}}}}}});
  if (data.empty()) {
    cm.erase("data");  // as the API server omits an empty data
  } else {
    cm["data"] = data_json;
  }
}

std::string FakeKubernetesApi::ConfigMapData(const std::string& ns, const std::string& name,
                                             const std::string& key) const {
  MutexLock lock(&mu_);
  auto it = configmaps_.find(absl::StrCat(ns, "/", name));
  if (it == configmaps_.end() || !it->second.contains("data") ||
      !it->second["data"].contains(key)) {
    return "";
  }
  return it->second["data"][key].get<std::string>();
}

std::optional<std::string> FakeKubernetesApi::OneConfigMap(const RecordedRequest& req) {
  constexpr absl::string_view kPrefix = "/api/v1/namespaces/";
  if (!absl::StartsWith(req.target, kPrefix)) return std::nullopt;
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(req.target).substr(kPrefix.size()), '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[1] != "configmaps") return std::nullopt;
  const std::string& ns = parts[0];
  const bool collection = parts.size() == 2;
  if (collection != (req.method == "POST")) return std::nullopt;
  if (req.Header("authorization") != absl::StrCat("Bearer ", caller_token_)) {
    problems_.push_back(absl::StrCat("Authorization: ", req.Header("authorization")));
    return HttpResponse(401, StatusBody(401, "Unauthorized", "Unauthorized"));
  }
  if (req.method == "GET") {
    auto it = configmaps_.find(absl::StrCat(ns, "/", parts[2]));
    if (it == configmaps_.end()) {
      return HttpResponse(
          404, StatusBody(404, "NotFound", absl::StrCat("configmaps \"", parts[2], "\" not found")));
    }
    Json cm = it->second;
    cm["kind"] = "ConfigMap";
    cm["apiVersion"] = "v1";
    return HttpResponse(200, cm.dump());
  }
  if (req.method != "POST" && req.method != "PUT") return std::nullopt;
  if (req.Header("content-type") != "application/json") {
    problems_.push_back(absl::StrCat("Content-Type: ", req.Header("content-type")));
  }
  Json body = Json::parse(req.body, nullptr, false);
  if (!body.is_object() || body.value("kind", "") != "ConfigMap" ||
      body.value("apiVersion", "") != "v1" || !body.contains("metadata") ||
      !body["metadata"].is_object() || !body["metadata"].contains("name") ||
      !body["metadata"]["name"].is_string() || body["metadata"].value("namespace", ns) != ns ||
      (!collection && body["metadata"]["name"] != parts[2])) {
    problems_.push_back(absl::StrCat("bad ConfigMap: ", req.body));
    return HttpResponse(400, StatusBody(400, "BadRequest", "bad ConfigMap"));
  }
  const std::string name = body["metadata"]["name"].get<std::string>();
  const std::string key = absl::StrCat(ns, "/", name);
  auto it = configmaps_.find(key);
  if (collection && it != configmaps_.end()) {
    return HttpResponse(409, StatusBody(409, "AlreadyExists",
                                        absl::StrCat("configmaps \"", name, "\" already exists")));
  }
  if (!collection) {
    if (it == configmaps_.end()) {
      return HttpResponse(
          404, StatusBody(404, "NotFound", absl::StrCat("configmaps \"", name, "\" not found")));
    }
    if (body["metadata"].value("resourceVersion", "") !=
        it->second["metadata"]["resourceVersion"].get<std::string>()) {
      return HttpResponse(
          409, StatusBody(409, "Conflict",
                          absl::StrCat("Operation cannot be fulfilled on configmaps \"", name,
                                       "\": the object has been modified; please apply your "
                                       "changes to the latest version and try again")));
    }
  }
  ++configmap_writes_;
  Json stored = body;
  stored.erase("kind");
  stored.erase("apiVersion");
  stored["metadata"]["namespace"] = ns;
  stored["metadata"]["resourceVersion"] = absl::StrCat(++revision_);
  if (!stored["metadata"].contains("labels")) stored["metadata"]["labels"] = Json::object();
  configmaps_[key] = stored;
  Json answer = stored;
  answer["kind"] = "ConfigMap";
  answer["apiVersion"] = "v1";
  return HttpResponse(collection ? 201 : 200, answer.dump());
}

void FakeKubernetesApi::DeleteConfigMap(const std::string& ns, const std::string& name) {
  MutexLock lock(&mu_);
  if (configmaps_.erase(absl::StrCat(ns, "/", name)) > 0) ++revision_;
}

std::string FakeKubernetesApi::ListConfigMaps(const RecordedRequest& req) {
  if (req.Header("authorization") != absl::StrCat("Bearer ", caller_token_)) {
    problems_.push_back(absl::StrCat("Authorization: ", req.Header("authorization")));
    return HttpResponse(401, StatusBody(401, "Unauthorized", "Unauthorized"));
  }
  if (forbidden_) {
    return HttpResponse(
        403, StatusBody(403, "Forbidden",
                        "configmaps is forbidden: User "
                        "\"system:serviceaccount:tether-system:tether-control\" cannot list "
                        "resource \"configmaps\" in API group \"\" at the cluster scope"));
  }
  std::map<std::string, std::string> query;
  const std::string target = req.target;
  for (absl::string_view param :
       absl::StrSplit(absl::string_view(target).substr(target.find('?') + 1), '&')) {
    std::vector<std::string> kv = absl::StrSplit(param, absl::MaxSplits('=', 1));
    std::optional<std::string> value = QueryUnescape(kv.size() == 2 ? kv[1] : "");
    if (kv.size() != 2 || !value || query.count(kv[0]) > 0) {
      problems_.push_back(absl::StrCat("bad query: ", target));
      return HttpResponse(400, StatusBody(400, "BadRequest", "bad query"));
    }
    query[kv[0]] = *value;
  }
  const std::string selector = query["labelSelector"];
  size_t limit = 0;
  if (selector.empty() || selector.find_first_of("=!,() ") != std::string::npos ||
      (query.count("limit") > 0 && !absl::SimpleAtoi(query["limit"], &limit))) {
    problems_.push_back(absl::StrCat("unexpected list: ", target));
    return HttpResponse(400, StatusBody(400, "BadRequest", "unexpected list"));
  }
  ++configmap_lists_;
  Page page;
  if (query.count("continue") > 0) {
    auto it = pages_.find(query["continue"]);
    if (it == pages_.end()) {
      return HttpResponse(
          410, StatusBody(410, "Expired",
                          "The provided continue parameter is too old to display a consistent "
                          "list result. You can start a new list without the continue parameter."));
    }
    page = std::move(it->second);
    pages_.erase(it);
  } else {
    page.revision = revision_;
    for (const auto& [key, cm] : configmaps_) {
      if (cm["metadata"]["labels"].contains(selector)) page.rest.push_back(cm);
    }
  }
  Json list = {{"kind", "ConfigMapList"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", absl::StrCat(page.revision)}}},
               {"items", Json::array()}};
  size_t n = limit == 0 ? page.rest.size() : std::min(limit, page.rest.size());
  for (size_t i = 0; i < n; ++i) list["items"].push_back(page.rest[i]);
  page.rest.erase(page.rest.begin(), page.rest.begin() + n);
  if (!page.rest.empty()) {
    const Json& next = page.rest.front()["metadata"];
    std::string token = absl::Base64Escape(Json{
        {"v", "meta.k8s.io/v1"},
        {"rv", page.revision},
        {"start",
         absl::StrCat(next["namespace"].get<std::string>(), "/", next["name"].get<std::string>(),
                      std::string(1, '\0'))}}.dump());
    list["metadata"]["continue"] = token;
    list["metadata"]["remainingItemCount"] = page.rest.size();
    pages_[token] = std::move(page);
  }
  return HttpResponse(200, list.dump());
}

}  // namespace tether::testing
