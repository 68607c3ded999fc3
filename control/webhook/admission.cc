#include "control/webhook/admission.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "control/inject/json_patch.h"

namespace tether::control::webhook {
namespace {

using inject::Json;

constexpr int kMaxDepth = 100;

WebhookAnswer Malformed(absl::string_view why) {
  WebhookAnswer a;
  a.http_status = 400;
  a.content_type = "text/plain; charset=utf-8";
  a.body = absl::StrCat("malformed AdmissionReview: ", why, "\n");
  a.outcome = AdmissionOutcome::kMalformed;
  a.message = std::string(why);
  return a;
}

// Answer wraps `response` (uid added) in an AdmissionReview.
WebhookAnswer Answer(const std::string& uid, Json response, AdmissionOutcome outcome,
                     std::string message) {
  Json review = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}};
  Json r = {{"uid", uid}};
  for (auto& [key, value] : response.items()) r[key] = std::move(value);
  review["response"] = std::move(r);
  WebhookAnswer a;
  a.body = review.dump(-1, ' ', false, Json::error_handler_t::replace);
  a.outcome = outcome;
  a.message = std::move(message);
  return a;
}

WebhookAnswer Allow(const std::string& uid, std::string why) {
  return Answer(uid, {{"allowed", true}}, AdmissionOutcome::kSkipped, std::move(why));
}

bool IsString(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_string();
}

}  // namespace

const char* AdmissionOutcomeName(AdmissionOutcome outcome) {
  switch (outcome) {
    case AdmissionOutcome::kInjected:
      return "injected";
    case AdmissionOutcome::kSkipped:
      return "skipped";
    case AdmissionOutcome::kDenied:
      return "denied";
    case AdmissionOutcome::kMalformed:
      return "malformed";
  }
  return "?";
}

bool JsonDepthExceeds(absl::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

WebhookAnswer ReviewAdmission(absl::string_view body, const inject::InjectOptions& options) {
  if (JsonDepthExceeds(body, kMaxDepth)) {
    return Malformed(absl::StrCat("JSON nested deeper than ", kMaxDepth, " levels"));
  }
  const Json review = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (review.is_discarded()) return Malformed("the body is not JSON");
  if (!review.is_object()) return Malformed("the body is not a JSON object");
  if (!IsString(review, "apiVersion") || review["apiVersion"] != "admission.k8s.io/v1") {
    return Malformed("apiVersion is not admission.k8s.io/v1");
  }
  if (!IsString(review, "kind") || review["kind"] != "AdmissionReview") {
    return Malformed("kind is not AdmissionReview");
  }
  if (!review.contains("request") || !review["request"].is_object()) {
    return Malformed("no request");
  }
  const Json& request = review["request"];
  if (!IsString(request, "uid") || request["uid"].get<std::string>().empty()) {
    return Malformed("the request has no uid");
  }
  const std::string uid = request["uid"].get<std::string>();

  // Only pods being created are injected; anything else the API server sends
  // (a misconfigured webhook rule) passes unchanged.
  const Json& kind = request.contains("kind") ? request["kind"] : Json();
  const bool is_pod = kind.is_object() && kind.value("group", "") == "" &&
                      kind.value("version", "") == "v1" && kind.value("kind", "") == "Pod";
  if (!is_pod) return Allow(uid, "not a v1 Pod");
  if (IsString(request, "subResource") && !request["subResource"].get<std::string>().empty()) {
    return Allow(uid, "a subresource");
  }
  if (!IsString(request, "operation") || request["operation"] != "CREATE") {
    return Allow(uid, "not a CREATE");
  }
  if (!request.contains("object") || !request["object"].is_object()) {
    return Answer(
        uid,
        {{"allowed", false},
         {"status", {{"code", 400}, {"message", "tether: the AdmissionReview holds no pod"}}}},
        AdmissionOutcome::kDenied, "no pod in the request");
  }
  const Json& pod = request["object"];
  Json metadata = pod.contains("metadata") ? pod["metadata"] : Json(nullptr);
  Json spec = pod.contains("spec") ? pod["spec"] : Json(nullptr);
  absl::StatusOr<inject::InjectOutcome> outcome = inject::InjectPod(metadata, spec, options);
  if (!outcome.ok()) {
    const std::string message = absl::StrCat("tether: ", outcome.status().message());
    return Answer(uid, {{"allowed", false}, {"status", {{"code", 400}, {"message", message}}}},
                  AdmissionOutcome::kDenied, message);
  }
  if (*outcome != inject::InjectOutcome::kInjected) {
    return Allow(uid, inject::InjectOutcomeName(*outcome));
  }
  Json injected = pod;
  injected["metadata"] = std::move(metadata);
  injected["spec"] = std::move(spec);
  const Json patch = inject::CreateJsonPatch(pod, injected);
  return Answer(
      uid,
      {{"allowed", true}, {"patchType", "JSONPatch"}, {"patch", absl::Base64Escape(patch.dump())}},
      AdmissionOutcome::kInjected, "injected");
}

}  // namespace tether::control::webhook
