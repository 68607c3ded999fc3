// ParseWatchEvent and ParseObjectList: the Pods, Services and EndpointSlices
// in a Kubernetes API server's list pages and watch events, reduced to the
// fields the endpoint registry needs. Pure functions over untrusted bytes,
// fuzzed by tests/fuzz/watch_event_fuzz.cc.
//
//   absl::StatusOr<WatchEvent> e = ParseWatchEvent(ResourceKind::kPod, line);
//   if (e.ok() && e->type == WatchEventType::kAdded) {
//     const Pod& pod = std::get<Pod>(e->object);   // pod.ips, pod.injected, ...
//   }
//   absl::StatusOr<ObjectList> page = ParseObjectList(ResourceKind::kService, body);
//
// Accepted: a watch event is {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
// "object": {...}}. ADDED, MODIFIED and DELETED carry an object of the
// resource's kind with metadata.namespace (DNS-1123 label), metadata.name
// (DNS-1123 subdomain) and a non-empty metadata.resourceVersion; BOOKMARK
// carries only metadata.resourceVersion; ERROR carries a Status object
// (code, reason, message). A list page has items (list or null) and
// metadata.resourceVersion / metadata.continue. IP addresses are returned
// in canonical inet_ntop text; every other field is ignored.
//
// Errors: Unavailable "malformed watch event: ..." / "malformed PodList: ..."
// (the API server is at fault); messages are printable ASCII and bounded.
// Nothing here throws.
#ifndef TETHER_CONTROL_KUBERNETES_WATCH_EVENT_H_
#define TETHER_CONTROL_KUBERNETES_WATCH_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ip_text.h"

namespace tether::control::kubernetes {

// The annotation the injector writes (control/inject/injector.h).
inline constexpr char kInjectedAnnotation[] = "tether.io/status";
inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";

enum class ResourceKind { kPod, kService, kEndpointSlice };

// CollectionPath: "/api/v1/pods", "/api/v1/services",
// "/apis/discovery.k8s.io/v1/endpointslices" (cluster-wide).
const char* CollectionPath(ResourceKind kind);
// KindName: "Pod", "Service", "EndpointSlice".
const char* KindName(ResourceKind kind);

struct Pod {
  std::string namespace_name;
  std::string name;
  std::string resource_version;
  std::string service_account = "default";  // spec.serviceAccountName
  std::vector<std::string> ips;             // status.podIPs, else status.podIP
  std::string phase;                        // status.phase ("Running", "Pending", ...)
  bool ready = false;                       // condition Ready is "True"
  bool injected = false;                    // annotation tether.io/status present
  bool host_network = false;                // spec.hostNetwork
};

struct ServicePort {
  uint16_t port = 0;  // EndpointSlice: 0 when nil (every port)
  std::string protocol = "TCP";
  // The port's name ("" for a Service's only port): an EndpointSlice port
  // carries the name of the Service port it serves.
  std::string name;
  // Service only: spec.ports[].targetPort, a number (0: none or a name) or
  // a container port's name; and appProtocol ("" when absent).
  uint16_t target_port = 0;
  std::string target_port_name;
  std::string app_protocol;
};

struct Service {
  std::string namespace_name;
  std::string name;
  std::string resource_version;
  std::vector<std::string> cluster_ips;  // spec.clusterIPs, else spec.clusterIP; never "None"
  std::vector<ServicePort> ports;
};

struct SliceEndpoint {
  std::vector<std::string> addresses;
  bool ready = true;  // conditions.ready; absent (nil) means ready
  // targetRef when it names a Pod; empty otherwise.
  std::string pod_namespace;
  std::string pod_name;
};

struct EndpointSlice {
  std::string namespace_name;
  std::string name;
  std::string resource_version;
  std::string service_name;  // label kubernetes.io/service-name; "" if absent
  std::vector<SliceEndpoint> endpoints;
  std::vector<ServicePort> ports;  // port 0: all ports (nil port)
};

using Object = std::variant<Pod, Service, EndpointSlice>;

// ObjectKey is "namespace/name".
std::string ObjectKey(const Object& object);
const std::string& ObjectResourceVersion(const Object& object);

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  std::optional<Object> object;  // ADDED, MODIFIED, DELETED
  std::string resource_version;  // the object's, or the bookmark's
  // ERROR: the Status object's code (410: the resourceVersion is too old),
  // reason and message (printable, bounded).
  int error_code = 0;
  std::string error_reason;
  std::string error_message;
};

// ParseWatchEvent parses one line of a watch stream (without its newline).
absl::StatusOr<WatchEvent> ParseWatchEvent(ResourceKind kind, absl::string_view line);

struct ObjectList {
  std::string resource_version;  // of the list: the state it shows
  std::string continue_token;    // "" on the last page
  std::vector<Object> items;     // in the order received
};

// ParseObjectList parses one page of a list answer (PodList, ServiceList,
// EndpointSliceList).
absl::StatusOr<ObjectList> ParseObjectList(ResourceKind kind, absl::string_view json);

// CanonicalIp: addresses are spelled as the endpoint registry and the
// proxies spell them (common/ip_text.h).
using ::tether::CanonicalIp;

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_WATCH_EVENT_H_
