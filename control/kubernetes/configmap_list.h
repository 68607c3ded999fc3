// ParseConfigMapList: the ConfigMaps in a Kubernetes API server's answer to a
// list request (`GET /api/v1/configmaps?labelSelector=...`, core/v1
// ConfigMapList). A pure function over untrusted bytes, fuzzed by
// tests/fuzz/configmap_list_fuzz.cc.
//
//   absl::StatusOr<ConfigMapList> list = ParseConfigMapList(response.body);
//   for (const ConfigMap& cm : list->items)
//     for (const auto& [key, value] : cm.data) ...   // cm.namespace_name, cm.name
//   if (!list->continue_token.empty()) ...            // ask for the next page
//
// What is accepted: kind ConfigMapList, apiVersion v1, metadata.resourceVersion
// a string, metadata.continue a string or absent, items a list (or null) of
// objects with metadata.name a DNS-1123 subdomain, metadata.namespace a
// DNS-1123 label, metadata.resourceVersion a non-empty string, and data (if
// present and not null) an object of string values under valid ConfigMap
// keys ([-._a-zA-Z0-9]+, at most 253 bytes). binaryData and every other
// field are ignored.
//
// Errors: Unavailable "malformed ConfigMapList: ..." (the API server, not any
// ConfigMap's author, is at fault); messages are printable ASCII.
#ifndef TETHER_CONTROL_KUBERNETES_CONFIGMAP_LIST_H_
#define TETHER_CONTROL_KUBERNETES_CONFIGMAP_LIST_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::control::kubernetes {

struct ConfigMap {
  std::string namespace_name;
  std::string name;
  std::string resource_version;
  std::vector<std::pair<std::string, std::string>> data;  // sorted by key
};

struct ConfigMapList {
  std::string resource_version;  // of the list: the state it shows
  std::string continue_token;    // "" on the last page
  std::vector<ConfigMap> items;  // in the order received
};

absl::StatusOr<ConfigMapList> ParseConfigMapList(absl::string_view json);

// IsConfigMapKey reports whether `key` is a valid ConfigMap data key.
bool IsConfigMapKey(absl::string_view key);

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_CONFIGMAP_LIST_H_
