// admission_review_fuzz: the injection webhook's ReviewAdmission on arbitrary
// bytes, as anything that reaches the webhook port past TLS could send.
//
// Besides not crashing, hanging or throwing: the answer is HTTP 200 with an
// AdmissionReview echoing the request's uid, or HTTP 400; and a patch, when
// there is one, applies to the pod that was sent (RFC 6902) and yields a pod
// whose uninjection gives back that pod.
// Seed corpus: tests/fuzz/corpus/admission_review/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "control/inject/injector.h"
#include "control/webhook/admission.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tether::control::inject::Json;
  namespace webhook = tether::control::webhook;
  namespace inject = tether::control::inject;

  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  const webhook::WebhookAnswer answer = webhook::ReviewAdmission(body, inject::InjectOptions());
  if (answer.http_status == 400) {
    if (answer.outcome != webhook::AdmissionOutcome::kMalformed) abort();
    return 0;
  }
  if (answer.http_status != 200) abort();
  // Missing members read as null (const operator[] must not be used for them).
  auto member = [](const Json& j, const char* key) {
    return j.is_object() && j.contains(key) ? j.at(key) : Json();
  };
  const Json review = Json::parse(answer.body, nullptr, false);
  const Json request = member(Json::parse(body.begin(), body.end(), nullptr, false), "request");
  const Json response = member(review, "response");
  if (!response.is_object() || member(response, "uid") != member(request, "uid")) abort();
  if (!response.contains("patch")) {
    if (answer.outcome == webhook::AdmissionOutcome::kInjected) abort();
    return 0;
  }
  std::string patch_text;
  if (!response["patch"].is_string() ||
      !absl::Base64Unescape(response["patch"].get<std::string>(), &patch_text)) {
    abort();
  }
  const Json patch = Json::parse(patch_text, nullptr, false);
  const Json pod = member(request, "object");
  Json patched;
  try {
    patched = pod.patch(patch);
  } catch (const Json::exception&) {
    abort();  // a patch the API server could not apply
  }
  Json metadata = member(patched, "metadata");
  Json spec = member(patched, "spec");
  if (!inject::UninjectPod(metadata, spec).ok()) abort();
  if (metadata != member(pod, "metadata") || spec != member(pod, "spec")) abort();
  return 0;
}
