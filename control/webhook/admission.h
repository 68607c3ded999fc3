// ReviewAdmission: the mutating admission webhook's logic, a pure function
// from the API server's AdmissionReview (admission.k8s.io/v1) to the answer.
//
//   WebhookAnswer a = ReviewAdmission(request_body, inject_options);
//   // a.http_status 200: a.body is an AdmissionReview with response.uid,
//   // response.allowed and, for an injected pod, a base64 JSONPatch.
//
// - A Pod being created gets the sidecar (control/inject/injector.h): the
//   answer allows it with patchType JSONPatch.
// - A pod the injector skips (tether.io/inject "false", hostNetwork, already
//   injected), another kind, another operation: allowed, no patch.
// - A pod the injector refuses (a malformed tether.io/* annotation, a name
//   clash): denied, status code 400 with the injector's message, so that
//   `kubectl apply` shows why.
// - A body that is not an AdmissionReview v1 with a request uid (not JSON,
//   nested deeper than 100 levels, the wrong apiVersion or kind): HTTP 400
//   with a plain-text reason; there is no uid to answer to.
// Never throws, whatever the bytes.
#ifndef TETHER_CONTROL_WEBHOOK_ADMISSION_H_
#define TETHER_CONTROL_WEBHOOK_ADMISSION_H_

#include <string>

#include "absl/strings/string_view.h"
#include "control/inject/injector.h"

namespace tether::control::webhook {

// The outcome of one review, for metrics and logs.
enum class AdmissionOutcome {
  kInjected,   // allowed with a patch
  kSkipped,    // allowed unchanged
  kDenied,     // the injector refused the pod
  kMalformed,  // HTTP 400: not a usable AdmissionReview
};

const char* AdmissionOutcomeName(AdmissionOutcome outcome);  // "injected", ...

struct WebhookAnswer {
  int http_status = 200;
  std::string content_type = "application/json";
  std::string body;
  AdmissionOutcome outcome = AdmissionOutcome::kSkipped;
  std::string message;  // why (skipped, denied, malformed), for logs
};

WebhookAnswer ReviewAdmission(absl::string_view body, const inject::InjectOptions& options);

// JsonDepthExceeds reports whether `text` nests arrays/objects deeper than
// `max_depth` (strings are skipped); used before parsing untrusted JSON,
// whose parse, copy and comparison recurse.
bool JsonDepthExceeds(absl::string_view text, int max_depth);

}  // namespace tether::control::webhook

#endif  // TETHER_CONTROL_WEBHOOK_ADMISSION_H_
