// Probe rewriting: the kubelet's probes of app ports, sent to the proxy.
//
// In an injected pod every inbound connection to an app port is redirected to
// the proxy, and under strict mTLS the kubelet (which has no mesh
// certificate) is refused: an HTTP, TCP or gRPC probe of an app port would
// fail. So at injection each such probe becomes an HTTP GET of the proxy's
// health port, which is never redirected:
//
//   livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 5}
//     becomes
//   livenessProbe: {httpGet: {path: /app-health/web/livez, port: 15021}, periodSeconds: 5}
//
// and the proxy, given the original as `--app-probes`, runs it against the
// app from inside the pod (proxy/server/app_probe.h), as Istio's probe
// rewrite does. Timing fields (period, thresholds, timeoutSeconds) stay.
//
//   absl::StatusOr<ProbePlan> plan = PlanProbeRewrites(spec);
//   ApplyProbeRewrites(spec, *plan);      // before the proxy is added
//   plan->app_probes.dump()               // the proxy's --app-probes
//   plan->originals                       // kept in tether.io/status
//   RestoreProbes(spec, plan->originals); // uninject: exactly as before
//
// What is rewritten: livenessProbe, readinessProbe and startupProbe of the
// pod's containers (and of its own native sidecars, init containers with
// restartPolicy Always) whose handler is an HTTP httpGet or a tcpSocket,
// aimed at the pod itself (no `host`), on a port given as a number or as the
// name of one of the container's ports. Left alone: exec probes (they never
// touch the network), probes with a `host` (not this pod), named ports the
// container does not declare (the kubelet fails those itself), probes of the
// proxy's own ports, and grpc and HTTPS probes (the proxy does not run them:
// give their port tether.io/exclude-inbound-ports).
#ifndef TETHER_CONTROL_INJECT_PROBE_REWRITE_H_
#define TETHER_CONTROL_INJECT_PROBE_REWRITE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "control/inject/yaml_json.h"

namespace tether::control::inject {

// The path prefix the proxy serves rewritten probes under:
// /app-health/<container>/livez, /readyz or /startupz.
inline constexpr char kAppHealthPrefix[] = "/app-health/";

struct ProbePlan {
  // What the proxy runs, by path: {"/app-health/web/livez": {"httpGet":
  // {"path": "/healthz", "port": 8080, "scheme": "HTTP", "httpHeaders": [...]},
  // "timeoutSeconds": 1}, ...}; each entry holds httpGet or tcpSocket with a
  // numeric port. Empty when nothing is rewritten.
  Json app_probes = Json::object();
  // The probes as they were, by container and field: {"web": {"livenessProbe":
  // {...}}}. Empty when nothing is rewritten.
  Json originals = Json::object();
  // The probes as they become, same shape as `originals`.
  Json rewritten = Json::object();
};

// PlanProbeRewrites reads `spec` (a pod spec) and says what to rewrite; it
// changes nothing. `health_port` is the proxy's health port, `reserved_ports`
// the proxy's others (probes of them are left alone). InvalidArgument when a
// container or probe is not the shape the API server accepts (a probe that is
// not a mapping, a port that is neither a number in 1..65535 nor a name).
absl::StatusOr<ProbePlan> PlanProbeRewrites(const Json& spec, int health_port,
                                            const std::vector<int>& reserved_ports);

// ApplyProbeRewrites sets every probe `plan` rewrites to its new form.
void ApplyProbeRewrites(Json& spec, const ProbePlan& plan);

// RestoreProbes puts back each probe `originals` holds (the shape of
// ProbePlan::originals), in the containers that still exist. InvalidArgument
// when `originals` is not that shape; nothing is changed then.
absl::Status RestoreProbes(Json& spec, const Json& originals);

}  // namespace tether::control::inject

#endif  // TETHER_CONTROL_INJECT_PROBE_REWRITE_H_
