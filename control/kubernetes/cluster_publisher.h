// ClusterPublisher: keeps what a cluster needs from the mesh CA in step with
// it, through the API server:
//   - the trust bundle, as the ConfigMap `tether-trust-bundle` (key
//     roots.pem) in every namespace labelled tether.io/injection=enabled,
//     which injected proxies mount (a pod can mount only its own namespace's
//     ConfigMaps); written with server-side apply, so it is created, updated
//     and left alone alike;
//   - the caBundle of every webhook of the MutatingWebhookConfiguration
//     `tether-sidecar-injector`, the roots the API server checks the
//     injection webhook's certificate against; patched when it differs.
//
//   ClusterPublisher publisher(options);
//   absl::Status st = publisher.Publish(store->Current()->bundle.ToPem());
//
// RBAC it needs (deploy/base/rbac.yaml): list namespaces; get, create and
// patch configmaps; get and patch the named mutatingwebhookconfiguration.
// A missing webhook configuration is not an error (not installed yet).
// Publish tries every namespace and returns the first failure (Unavailable,
// naming the namespace or object and the API server's message). Not
// thread-safe: one caller (the control plane's publisher thread).
#ifndef TETHER_CONTROL_KUBERNETES_CLUSTER_PUBLISHER_H_
#define TETHER_CONTROL_KUBERNETES_CLUSTER_PUBLISHER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "control/kubernetes/api_client.h"

namespace tether::control::kubernetes {

struct ClusterPublisherOptions {
  ApiServer api;  // resolved (ResolveApiServer)
  std::string configmap = "tether-trust-bundle";
  std::string namespace_selector = "tether.io/injection=enabled";
  // Namespaces that get the ConfigMap whatever their labels (the control
  // plane's own, for operators and tools).
  std::vector<std::string> extra_namespaces;
  // Empty: the caBundle is left alone.
  std::string webhook_configuration = "tether-sidecar-injector";
  // Every this many passes, every namespace's ConfigMap is applied again
  // even if the bundle did not change (someone may have deleted it).
  int full_resync_every = 10;
};

class ClusterPublisher {
 public:
  explicit ClusterPublisher(ClusterPublisherOptions options) : options_(std::move(options)) {}

  absl::Status Publish(absl::string_view roots_pem);

  const ClusterPublisherOptions& options() const { return options_; }

 private:
  absl::Status ApplyConfigMap(const std::string& ns, absl::string_view roots_pem);
  absl::Status PatchWebhookCaBundle(absl::string_view roots_pem);

  const ClusterPublisherOptions options_;
  // Namespace -> the bundle last applied there.
  std::map<std::string, std::string> applied_;
  int passes_ = 0;
};

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_CLUSTER_PUBLISHER_H_
