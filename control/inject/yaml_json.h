// YAML <-> JSON for Kubernetes manifests: the injector works on JSON trees
// (nlohmann::ordered_json, which keeps key order); `tetherctl inject` reads and
// writes YAML with these.
//
//   absl::StatusOr<std::vector<Json>> docs = ParseYamlDocuments(text);
//   ... change (*docs)[0] ...
//   std::cout << EmitYamlDocuments(*docs);
//
// Scalars are typed as Kubernetes' YAML reader (YAML 1.1, as sigs.k8s.io/yaml)
// types them: a plain `8080` is a number, `true`/`yes`/`on` a boolean, `~` or
// `null` a null; a quoted scalar, or one tagged !!str, is always a string.
// Emitting quotes every string that would read back as something else, so
// ParseYamlDocuments(EmitYamlDocuments(docs)) == docs. Comments and anchors
// are not kept (aliases are expanded).
#ifndef TETHER_CONTROL_INJECT_YAML_JSON_H_
#define TETHER_CONTROL_INJECT_YAML_JSON_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::control::inject {

using Json = nlohmann::ordered_json;

// ParseYamlDocuments parses a stream of YAML documents ("---" separated).
// Empty documents are dropped. InvalidArgument with the line and column on a
// syntax error, on a non-scalar mapping key, or on input over 16 MiB.
absl::StatusOr<std::vector<Json>> ParseYamlDocuments(absl::string_view text);

// EmitYamlDocuments renders documents in block style, separated by "---".
std::string EmitYamlDocuments(const std::vector<Json>& docs);

// ResolvePlainScalar is the value a plain (unquoted, untagged) scalar stands
// for: null, a boolean, an integer, a float, or else the string itself.
Json ResolvePlainScalar(const std::string& text);

}  // namespace tether::control::inject

#endif  // TETHER_CONTROL_INJECT_YAML_JSON_H_
