// watch_event_fuzz: ParseWatchEvent and ParseObjectList on arbitrary bytes,
// for each of Pod, Service and EndpointSlice, as a Kubernetes API server (or
// anything impersonating one past TLS) could send on a list or watch; the
// objects parsed are then mapped with MapEndpoints.
//
// Besides not crashing, hanging or throwing: accepted objects have valid
// names, a resourceVersion and canonical IPs; every error is Unavailable with
// a printable ASCII message; the mapping's output is sorted by (ip, port),
// unique, with sorted unique identities, and backends sorted, unique,
// capped, with a port, of the entry's IP family.
// Seed corpus: tests/fuzz/corpus/watch_event/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control/kubernetes/endpoint_mapping.h"
#include "control/kubernetes/token_review_response.h"
#include "control/kubernetes/watch_event.h"

namespace {

using namespace tether::control::kubernetes;  // NOLINT: a fuzz target's brevity
using tether::control::Endpoint;

void CheckError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) abort();
  for (char c : status.message()) {
    if (c < 0x20 || c > 0x7e) abort();
  }
}

void CheckIps(const std::vector<std::string>& ips) {
  for (const std::string& ip : ips) {
    if (CanonicalIp(ip) != ip) abort();
  }
}

struct Objects {
  std::vector<Pod> pods;
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
};

void Check(const Object& object, Objects& all) {
  std::visit(
      [](const auto& o) {
        if (!IsDns1123Label(o.namespace_name) || !IsDns1123Subdomain(o.name) ||
            o.resource_version.empty()) {
          abort();
        }
      },
      object);
  if (const Pod* pod = std::get_if<Pod>(&object)) {
    CheckIps(pod->ips);
    if (!IsDns1123Subdomain(pod->service_account)) abort();
    all.pods.push_back(*pod);
  } else if (const Service* svc = std::get_if<Service>(&object)) {
    CheckIps(svc->cluster_ips);
    all.services.push_back(*svc);
  } else if (const EndpointSlice* slice = std::get_if<EndpointSlice>(&object)) {
    for (const SliceEndpoint& ep : slice->endpoints) CheckIps(ep.addresses);
    all.slices.push_back(*slice);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  Objects all;
  for (ResourceKind kind :
       {ResourceKind::kPod, ResourceKind::kService, ResourceKind::kEndpointSlice}) {
    absl::StatusOr<WatchEvent> event = ParseWatchEvent(kind, text);
    if (event.ok()) {
      bool has_object = event->type == WatchEventType::kAdded ||
                        event->type == WatchEventType::kModified ||
                        event->type == WatchEventType::kDeleted;
      if (has_object != event->object.has_value()) abort();
      if (event->object) Check(*event->object, all);
    } else {
      CheckError(event.status());
    }
    absl::StatusOr<ObjectList> list = ParseObjectList(kind, text);
    if (list.ok()) {
      for (const Object& object : list->items) Check(object, all);
    } else {
      CheckError(list.status());
    }
  }
  std::vector<Endpoint> endpoints = MapEndpoints(all.pods, all.services, all.slices, "mesh.local");
  for (size_t i = 0; i < endpoints.size(); ++i) {
    if (i > 0 && !(endpoints[i - 1].Key() < endpoints[i].Key())) abort();
    const auto& ids = endpoints[i].identities;
    if (!std::is_sorted(ids.begin(), ids.end()) ||
        std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
      abort();
    }
    const auto& backends = endpoints[i].backends;
    if (backends.size() > tether::control::kMaxBackends ||
        !std::is_sorted(backends.begin(), backends.end()) ||
        std::adjacent_find(backends.begin(), backends.end()) != backends.end()) {
      abort();
    }
    for (const tether::control::Backend& b : backends) {
      if (b.port == 0 || (b.ip.find(':') == std::string::npos) !=
                             (endpoints[i].ip.find(':') == std::string::npos)) {
        abort();
      }
    }
  }
  return 0;
}
