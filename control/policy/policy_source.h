// PolicySource: where the control plane's policies (every kind) come from:
// a directory of YAML files (directory_source.h) or, on Kubernetes, the
// ConfigMaps labelled tether.io/policy (control/kubernetes/configmap_policy_source.h).
// PolicyStore polls a source and validates what it returns.
//
//   std::unique_ptr<PolicySource> source = ...;
//   absl::StatusOr<std::optional<PolicyDocuments>> docs = source->ReadIfChanged();
//   if (docs.ok() && docs->has_value()) Validate((*docs)->documents);
//
// Documents come in groups that are validated apart: a group that fails
// keeps its previous resources while the others go on (a namespace's
// ConfigMaps are one group, so one namespace's mistake does not hold up
// another's changes). A directory is a single group.
#ifndef TETHER_CONTROL_POLICY_POLICY_SOURCE_H_
#define TETHER_CONTROL_POLICY_POLICY_SOURCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/policy/policy.h"

namespace tether::control {

// PolicyDocument: YAML documents from one place.
struct PolicyDocument {
  // Names the place in errors: "/var/lib/tether/policies/cart.yaml",
  // "configmap shop/policies key cart.yaml".
  std::string origin;
  // What "also defined in ..." says of it (a file's name, else origin).
  std::string short_name;
  std::string yaml;
  // The namespace the documents belong to, if any (see policy::ParseOptions).
  policy::ParseOptions parse;
  // Documents of one group are validated together; see above.
  std::string group;
};

// PolicyDocuments: everything a source holds at one moment.
struct PolicyDocuments {
  std::vector<PolicyDocument> documents;  // in a stable order
  // A number that grows with every change of the source and is the same for
  // every reader of the same state (the Kubernetes list's resourceVersion),
  // so that replicas of the control plane number the same policy alike;
  // 0 when the source has none.
  uint64_t revision = 0;
};

class PolicySource {
 public:
  virtual ~PolicySource() = default;

  // ReadIfChanged returns the documents when they may have changed since the
  // last successful read (always on the first call), nullopt when they have
  // not. An error means the source could not be read now (Unavailable for an
  // unreachable API server, InvalidArgument for an answer that makes no
  // sense); the caller keeps what it has and asks again later.
  virtual absl::StatusOr<std::optional<PolicyDocuments>> ReadIfChanged() = 0;

  // Describe names the source for operators: "directory /x/policies",
  // "ConfigMaps labelled tether.io/policy".
  virtual std::string Describe() const = 0;

  // ReadOnlyMessage is why PolicyStore::Apply and Delete are refused over
  // this source and what to do instead, e.g. "policies come from ConfigMaps
  // labelled tether.io/policy; change them with kubectl apply".
  virtual std::string ReadOnlyMessage() const = 0;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_POLICY_POLICY_SOURCE_H_
