// token_review_fuzz: ParseTokenReviewResponse on arbitrary bytes, as a
// Kubernetes API server (or anything impersonating one past TLS) could send.
//
// Besides not crashing, hanging or throwing, every answer must keep the
// parser's promises: an accepted token names a valid Kubernetes namespace and
// service account in the trust domain asked for, and every error message is
// printable ASCII (it goes to gRPC clients and the audit log).
// Seed corpus: tests/fuzz/corpus/token_review/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/kubernetes/token_review_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tether::control::kubernetes::IsDns1123Label;
  using tether::control::kubernetes::IsDns1123Subdomain;
  using tether::control::kubernetes::ParseTokenReviewResponse;
  using tether::control::kubernetes::ReviewedToken;

  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ReviewedToken> r = ParseTokenReviewResponse(json, "tether", "mesh.local");
  if (r.ok()) {
    if (r->id.trust_domain != "mesh.local" || !IsDns1123Label(r->id.namespace_name) ||
        !IsDns1123Subdomain(r->id.service_account) ||
        (!r->pod_name.empty() && !IsDns1123Subdomain(r->pod_name)) || r->pod_uid.size() > 64) {
      abort();
    }
    return 0;
  }
  if (r.status().code() != absl::StatusCode::kUnauthenticated &&
      r.status().code() != absl::StatusCode::kUnavailable) {
    abort();
  }
  for (char c : r.status().message()) {
    if (c < 0x20 || c > 0x7e) abort();
  }
  return 0;
}
