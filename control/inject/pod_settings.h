// PodSettings: what a pod's annotations (tether.io/...) change in the
// injected proxy, read and checked before anything is injected, so that a
// bad annotation is refused with its name and the pod stays as it was.
//
//   absl::StatusOr<PodSettings> s = ReadSettings(pod["metadata"], options);
//
// Internal to the injector (injector.cc), apart for its size.
#ifndef TETHER_CONTROL_INJECT_POD_SETTINGS_H_
#define TETHER_CONTROL_INJECT_POD_SETTINGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/inject/injector.h"

namespace tether::control::inject {

// PodSettings: the options after the pod's annotations are applied.
struct PodSettings {
  std::vector<int> exclude_inbound_ports;
  std::vector<int> exclude_outbound_ports;
  // tether.io/opaque-ports: replaces the proxy's default --opaque-ports.
  std::optional<std::vector<int>> opaque_ports;
  std::vector<std::string> exclude_outbound_cidrs;
  std::string cpu_request, memory_request, cpu_limit, memory_limit;
  std::string log_level;
  std::string access_log;    // tether.io/access-log: "", connections or requests
  std::string http_forward;  // tether.io/http-forward: "" (the proxy's default), policy or all
  bool native_sidecar = true;
  bool rewrite_probes = true;
};

// ReadSettings: `options` with the pod's annotations applied; InvalidArgument
// naming the annotation when one does not parse.
absl::StatusOr<PodSettings> ReadSettings(const Json& metadata, const InjectOptions& options);

// InjectionDisabled: tether.io/inject "false" as an annotation or a label.
absl::StatusOr<bool> InjectionDisabled(const Json& metadata);

// StringField returns obj[key] if it is a string; nullopt if absent or null;
// InvalidArgument if it is something else.
absl::StatusOr<std::optional<std::string>> StringField(const Json& obj, const std::string& key,
                                                       absl::string_view what);

// Annotation: metadata.annotations[key], as StringField.
absl::StatusOr<std::optional<std::string>> Annotation(const Json& metadata, const std::string& key);

}  // namespace tether::control::inject

#endif  // TETHER_CONTROL_INJECT_POD_SETTINGS_H_
