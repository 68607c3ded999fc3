// MapEndpoints: the endpoint registry's Kubernetes facts, computed from the
// cluster's Pods, Services and EndpointSlices (watch_event.h). A pure function.
//
//   std::vector<Endpoint> facts = MapEndpoints(pods, services, slices, "mesh.local");
//
// Pods: every pod with an IP that is not on the host network and is Running
// (or Pending with an IP) gives one entry per pod IP, port 0: identity
// spiffe://TD/ns/NS/sa/SA if the pod is injected (annotation tether.io/status),
// none otherwise (known, not meshed). Origin "pod NS/NAME". Two pods claiming
// one IP (a finished pod's IP reused): a Running pod wins over a Pending one,
// then the first by NS/NAME.
//
// Services: every ClusterIP (headless ones have none) and TCP port gives one
// entry, whose identities are those of the service's ready endpoints (from
// the EndpointSlices labelled kubernetes.io/service-name=NAME in its
// namespace) whose targetRef pod is known and injected; the other ready
// endpoints count as unmeshed_endpoints. An endpoint listed in two slices
// counts once; unready endpoints do not count at all. Origin "service NS/NAME
// (M of N endpoints meshed)".
//
// Each Service entry lists its backends (control/discovery/endpoint.h): for
// every ready endpoint, its first address of the ClusterIP's family, at the
// port its slice gives for the Service port's name; and the protocol the
// port declares (DeclaredProtocolOf).
//
// The result is sorted by (ip, port) and holds each key once (pod entries
// have port 0, Service entries never do; of two Services on one
// ClusterIP:port, the first in `services` wins).
#ifndef TETHER_CONTROL_KUBERNETES_ENDPOINT_MAPPING_H_
#define TETHER_CONTROL_KUBERNETES_ENDPOINT_MAPPING_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "control/discovery/endpoint.h"
#include "control/kubernetes/watch_event.h"

namespace tether::control::kubernetes {

std::vector<Endpoint> MapEndpoints(const std::vector<Pod>& pods,
                                   const std::vector<Service>& services,
                                   const std::vector<EndpointSlice>& slices,
                                   absl::string_view trust_domain);

// DeclaredProtocolOf: appProtocol if set, else the port name's prefix up to
// '-' (Istio's convention): http, http2, h2c, grpc, grpc-web,
// kubernetes.io/h2c, kubernetes.io/ws are kHttp; tcp, tls, https, mysql,
// mongo, redis, postgres(ql), kafka, kubernetes.io/wss, opaque are kOpaque;
// anything else kUnknown. Case-insensitive.
DeclaredProtocol DeclaredProtocolOf(const ServicePort& port);

// PodIdentity is "spiffe://TD/ns/NS/sa/SA".
std::string PodIdentity(absl::string_view trust_domain, const Pod& pod);

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_ENDPOINT_MAPPING_H_
