// Injector: adds Tether's sidecar to Kubernetes workloads, and takes it away.
//
//   InjectOptions opts;                     // images, control address, defaults
//   Json deployment = ...;                  // a Pod, Deployment, ..., CronJob or List
//   absl::StatusOr<std::vector<InjectReport>> r = InjectObject(deployment, opts);
//   ...
//   UninjectObject(deployment);             // exactly the original again
//
// What a pod gets (InjectPod):
//   - init container `tether-init`: `tether-proxy init`, the iptables rules,
//     as root with only NET_ADMIN and NET_RAW;
//   - the proxy `tether-proxy`: a native sidecar (an init container with
//     restartPolicy Always, so it starts before the app, is ready before the
//     next container starts, and does not keep a Job's pod alive), or, with
//     native_sidecar off (clusters before 1.29), the first app container with
//     a postStart hook that waits until it is ready; it runs as the proxy UID,
//     non-root, read-only, every capability dropped, readiness on /ready;
//   - volumes: a projected service-account token (audience `tether`, short
//     expiry), the proxy's bootstrap credential, and the trust bundle
//     ConfigMap;
//   - the app's HTTP and TCP probes rewritten to the proxy's health port,
//     which runs them against the app (control/inject/probe_rewrite.h);
//   - the annotation `tether.io/status`, a JSON record of what was added
//     (and the probes as they were).
//
// Pods are left alone when annotated `tether.io/inject: "false"`, when they
// use the host's network (the rules would rewrite the node's), or when they
// already carry `tether.io/status` (so injecting twice equals injecting once).
// UninjectPod removes exactly what the status annotation lists, restoring the
// pod as it was.
//
// Annotations read from the pod (template) metadata:
//   tether.io/inject                  "false": skip
//   tether.io/exclude-inbound-ports   "8081,9090": not redirected to the proxy
//   tether.io/exclude-outbound-ports  "5432"
//   tether.io/exclude-outbound-cidrs  "169.254.169.254/32,10.0.0.0/8"
//   tether.io/opaque-ports            "3306,9000": never parsed as HTTP (replaces
//                                     the proxy's default server-first list)
//   tether.io/proxy-cpu, tether.io/proxy-memory               requests
//   tether.io/proxy-cpu-limit, tether.io/proxy-memory-limit   limits
//   tether.io/log-level               error, warning, info or debug
//   tether.io/access-log              off, connections, or requests (and connections):
//                                     JSON lines on the proxy's stdout
//   tether.io/http-forward            policy or all: which outbound HTTP/1.1 the proxy
//                                     terminates (--http-forward)
//   tether.io/native-sidecar          "false": the fallback for older clusters
//   tether.io/rewrite-probes          "false": the app's probes stay as they are
// A malformed value is an InvalidArgument error naming the annotation.
#ifndef TETHER_CONTROL_INJECT_INJECTOR_H_
#define TETHER_CONTROL_INJECT_INJECTOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/inject/yaml_json.h"

namespace tether::control::inject {

inline constexpr char kInjectAnnotation[] = "tether.io/inject";
inline constexpr char kStatusAnnotation[] = "tether.io/status";
inline constexpr char kExcludeInboundPortsAnnotation[] = "tether.io/exclude-inbound-ports";
inline constexpr char kExcludeOutboundPortsAnnotation[] = "tether.io/exclude-outbound-ports";
inline constexpr char kExcludeOutboundCidrsAnnotation[] = "tether.io/exclude-outbound-cidrs";
inline constexpr char kOpaquePortsAnnotation[] = "tether.io/opaque-ports";
inline constexpr char kProxyCpuAnnotation[] = "tether.io/proxy-cpu";
inline constexpr char kProxyMemoryAnnotation[] = "tether.io/proxy-memory";
inline constexpr char kProxyCpuLimitAnnotation[] = "tether.io/proxy-cpu-limit";
inline constexpr char kProxyMemoryLimitAnnotation[] = "tether.io/proxy-memory-limit";
inline constexpr char kLogLevelAnnotation[] = "tether.io/log-level";
inline constexpr char kAccessLogAnnotation[] = "tether.io/access-log";
inline constexpr char kHttpForwardAnnotation[] = "tether.io/http-forward";
inline constexpr char kNativeSidecarAnnotation[] = "tether.io/native-sidecar";
inline constexpr char kRewriteProbesAnnotation[] = "tether.io/rewrite-probes";

inline constexpr char kInitContainerName[] = "tether-init";
inline constexpr char kProxyContainerName[] = "tether-proxy";
inline constexpr char kTokenVolumeName[] = "tether-token";
inline constexpr char kTrustBundleVolumeName[] = "tether-trust-bundle";
// Where the proxy finds its files.
inline constexpr char kTokenDir[] = "/var/run/secrets/tether";
inline constexpr char kTrustBundleDir[] = "/var/run/tether/trust";
inline constexpr char kTrustBundleKey[] = "roots.pem";
// The proxy's health port: /ready and /live for the kubelet's probes,
// reachable from the node and never redirected.
inline constexpr int kHealthPort = 15021;
// The proxy's metrics port: /metrics only, for Prometheus (the container port
// named tether-metrics), never redirected.
inline constexpr int kMetricsPort = 15090;
inline constexpr char kMetricsPortName[] = "tether-metrics";

struct InjectOptions {
  std::string proxy_image = "tether/proxy:dev";
  std::string image_pull_policy;  // empty: the cluster's default
  std::string control_address = "tether-control.tether-system.svc:15012";
  std::string control_server_name = "tether-control.tether-system.svc";
  std::string trust_bundle_configmap = "tether-trust-bundle";
  std::string token_audience = "tether";
  // The kubelet refreshes the token at 80% of this; 600 is the API's minimum.
  int64_t token_expiration_seconds = 600;
  int proxy_uid = 1337;
  bool native_sidecar = true;
  std::string log_level = "info";
  std::string cpu_request = "50m";
  std::string memory_request = "64Mi";
  std::string cpu_limit = "1";
  std::string memory_limit = "256Mi";
};

enum class InjectOutcome {
  kInjected,
  kUninjected,
  kAlreadyInjected,  // tether.io/status present: nothing to do
  kNotInjected,      // uninject: no tether.io/status
  kDisabled,         // tether.io/inject: "false"
  kHostNetwork,      // hostNetwork: true
  kNotAWorkload,     // a Service, a ConfigMap, ...: passed through
};

// InjectOutcomeName: "injected", "already injected", ...
const char* InjectOutcomeName(InjectOutcome outcome);

// InjectReport says what happened to one object ("Deployment/shop/cart").
struct InjectReport {
  std::string object;
  InjectOutcome outcome;
};

// InjectPod changes a pod's `metadata` and `spec` (a Pod's, or a workload's
// template's) in place. On error nothing is changed.
absl::StatusOr<InjectOutcome> InjectPod(Json& metadata, Json& spec, const InjectOptions& options);

// UninjectPod removes what InjectPod added, as recorded in tether.io/status.
// InvalidArgument when that annotation is not the JSON InjectPod writes.
absl::StatusOr<InjectOutcome> UninjectPod(Json& metadata, Json& spec);

// InjectObject injects a Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
// Job, CronJob, or every item of a List (v1 List or a *List kind); other
// objects are left unchanged. One report per object (list items included).
absl::StatusOr<std::vector<InjectReport>> InjectObject(Json& object, const InjectOptions& options);
absl::StatusOr<std::vector<InjectReport>> UninjectObject(Json& object);

// InjectYaml / UninjectYaml apply InjectObject / UninjectObject to every
// document of a YAML stream and render the result. Errors name the document.
absl::StatusOr<std::string> InjectYaml(absl::string_view yaml, const InjectOptions& options,
                                       std::vector<InjectReport>* out_reports);
absl::StatusOr<std::string> UninjectYaml(absl::string_view yaml,
                                         std::vector<InjectReport>* out_reports);

}  // namespace tether::control::inject

#endif  // TETHER_CONTROL_INJECT_INJECTOR_H_
