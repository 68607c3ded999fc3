// CreateJsonPatch: an RFC 6902 JSON Patch that turns one document into
// another, as an admission webhook answers.
//
//   Json patch = CreateJsonPatch(pod, injected_pod);
//   // [{"op":"add","path":"/spec/initContainers/0","value":{...}}, ...]
//   assert(pod.patch(patch) == injected_pod);   // nlohmann applies RFC 6902
//
// Objects are compared member by member. An array that only gained elements
// (at the front, the back or one place in between) gets "add" operations for
// them, and one that only lost elements "remove" operations, so that a patch
// for an injected pod names the added containers instead of rewriting the
// pod's own; any other array change replaces the array.
#ifndef TETHER_CONTROL_INJECT_JSON_PATCH_H_
#define TETHER_CONTROL_INJECT_JSON_PATCH_H_

#include <string>

#include "absl/strings/string_view.h"
#include "control/inject/yaml_json.h"

namespace tether::control::inject {

Json CreateJsonPatch(const Json& from, const Json& to);

// EscapeJsonPointer escapes one reference token: "~" -> "~0", "/" -> "~1".
std::string EscapeJsonPointer(absl::string_view token);

}  // namespace tether::control::inject

#endif  // TETHER_CONTROL_INJECT_JSON_PATCH_H_
