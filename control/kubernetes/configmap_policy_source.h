// ConfigMapPolicySource: policies (AuthorizationPolicy, DefaultPolicy,
// TrafficPolicy) from the cluster's ConfigMaps
// labelled tether.io/policy, in every namespace, so that every replica of
// the control plane reads the same policy.
//
//   ConfigMapPolicySource::Options opts;            // API server from KUBERNETES_SERVICE_*
//   opts.root_namespace = "tether-system";
//   TETHER_ASSIGN_OR_RETURN(auto source, ConfigMapPolicySource::Create(opts));
//   auto store = PolicyStore::FromSource(std::move(source));
//
// Every data key ending in .yaml or .yml holds policy documents, named in
// errors as "configmap NS/NAME key KEY"; other keys are ignored. The
// ConfigMap's namespace is a trust boundary: its documents may only define
// policies of that namespace (metadata.namespace omitted means it), and only
// the root namespace's may set the mesh-wide DefaultPolicy (one without a
// namespace there). Each namespace's ConfigMaps are one group of documents
// (policy_source.h): an invalid one holds up only its own namespace.
//
// Each ReadIfChanged lists the ConfigMaps (`GET /api/v1/configmaps?
// labelSelector=tether.io%2Fpolicy`, 500 a page) with the control plane's
// own token, re-read every time as are the CA bundle; the documents are
// returned only when a ConfigMap was added, removed or changed (by
// resourceVersion) since the last successful read. The list's
// resourceVersion is the documents' revision.
//
// Errors: Unavailable when the API server cannot be reached, refuses the
// control plane (HTTP 401/403: its token, or RBAC) or answers nonsense;
// FailedPrecondition from Create as TokenReviewAuthenticator's.
// Not thread-safe (PolicyStore calls it from one thread at a time).
#ifndef TETHER_CONTROL_KUBERNETES_CONFIGMAP_POLICY_SOURCE_H_
#define TETHER_CONTROL_KUBERNETES_CONFIGMAP_POLICY_SOURCE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "control/kubernetes/api_client.h"
#include "control/policy/policy_source.h"

namespace tether::control::kubernetes {

inline constexpr char kPolicyLabel[] = "tether.io/policy";
inline constexpr char kDefaultPolicyRootNamespace[] = "tether-system";

class ConfigMapPolicySource final : public PolicySource {
 public:
  struct Options {
    ApiServer api;  // host and port resolved by Create
    // The control plane's own namespace: its ConfigMaps may set the
    // mesh-wide DefaultPolicy.
    std::string root_namespace = kDefaultPolicyRootNamespace;
    size_t page_size = 500;
  };

  // Create resolves the API server and checks that the token and CA files
  // are readable now: FailedPrecondition naming what is missing,
  // InvalidArgument for a bad root namespace or page size.
  static absl::StatusOr<std::unique_ptr<ConfigMapPolicySource>> Create(Options options);

  absl::StatusOr<std::optional<PolicyDocuments>> ReadIfChanged() override;
  std::string Describe() const override;
  std::string ReadOnlyMessage() const override;

  const Options& options() const { return options_; }

 private:
  explicit ConfigMapPolicySource(Options options) : options_(std::move(options)) {}

  const Options options_;
  std::optional<std::string> signature_;  // of the last successful read
};

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_CONFIGMAP_POLICY_SOURCE_H_
