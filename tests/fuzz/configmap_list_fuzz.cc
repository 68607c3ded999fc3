// configmap_list_fuzz: ParseConfigMapList on arbitrary bytes, as a Kubernetes
// API server (or anything impersonating one past TLS) could send in answer to
// the policy source's list request.
//
// Besides not crashing, hanging or throwing, every answer must keep the
// parser's promises: accepted ConfigMaps have valid namespace and object
// names, a resourceVersion and valid, sorted data keys; every error is
// Unavailable with a printable ASCII message (it goes to the audit log and
// `tetherctl policy list`).
// Seed corpus: tests/fuzz/corpus/configmap_list/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/kubernetes/configmap_list.h"
#include "control/kubernetes/token_review_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tether::control::kubernetes::ConfigMap;
  using tether::control::kubernetes::ConfigMapList;
  using tether::control::kubernetes::IsConfigMapKey;
  using tether::control::kubernetes::IsDns1123Label;
  using tether::control::kubernetes::IsDns1123Subdomain;
  using tether::control::kubernetes::ParseConfigMapList;

  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ConfigMapList> list = ParseConfigMapList(json);
  if (list.ok()) {
    for (const ConfigMap& cm : list->items) {
      if (!IsDns1123Label(cm.namespace_name) || !IsDns1123Subdomain(cm.name) ||
          cm.resource_version.empty() || !std::is_sorted(cm.data.begin(), cm.data.end())) {
        abort();
      }
      for (const auto& [key, value] : cm.data) {
        if (!IsConfigMapKey(key)) abort();
      }
    }
    for (char c : list->continue_token) {
      if (c < 0x20 || c > 0x7e) abort();
    }
    return 0;
  }
  if (list.status().code() != absl::StatusCode::kUnavailable) abort();
  for (char c : list.status().message()) {
    if (c < 0x20 || c > 0x7e) abort();
  }
  return 0;
}
