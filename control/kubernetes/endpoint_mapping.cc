#include "control/kubernetes/endpoint_mapping.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tether::control::kubernetes {
namespace {

bool Eligible(const Pod& pod) {
  return !pod.host_network && !pod.ips.empty() &&
         (pod.phase == "Running" || pod.phase == "Pending");
}

// PodRank orders claims on one IP: lower wins.
std::tuple<int, std::string, std::string> PodRank(const Pod& pod) {
  return {pod.phase == "Running" ? 0 : 1, pod.namespace_name, pod.name};
}

}  // namespace

std::string PodIdentity(absl::string_view trust_domain, const Pod& pod) {
  return absl::StrCat("spiffe://", trust_domain, "/ns/", pod.namespace_name, "/sa/",
                      pod.service_account);
}

std::vector<Endpoint> MapEndpoints(const std::vector<Pod>& pods,
                                   const std::vector<Service>& services,
                                   const std::vector<EndpointSlice>& slices,
                                   absl::string_view trust_domain) {
  std::map<std::pair<std::string, std::string>, const Pod*> pod_by_name;
  for (const Pod& pod : pods) pod_by_name[{pod.namespace_name, pod.name}] = &pod;

  // (ip, port) -> entry, with the pod that claimed a pod entry.
  std::map<std::pair<std::string, uint16_t>, std::pair<Endpoint, const Pod*>> out;

  for (const Pod& pod : pods) {
    if (!Eligible(pod)) continue;
    for (const std::string& ip : pod.ips) {
      auto [it, inserted] = out.try_emplace({ip, 0});
      if (!inserted && PodRank(*it->second.second) <= PodRank(pod)) continue;
      Endpoint e;
      e.ip = ip;
      e.port = 0;
      if (pod.injected) e.identities = {PodIdentity(trust_domain, pod)};
      e.source = EndpointSource::kKubernetesPod;
      e.origin = absl::StrCat("pod ", pod.namespace_name, "/", pod.name);
      it->second = {std::move(e), &pod};
    }
  }

  // Slices by their service: (namespace, service name) -> slices.
  std::map<std::pair<std::string, std::string>, std::vector<const EndpointSlice*>> by_service;
  for (const EndpointSlice& slice : slices) {
    if (slice.service_name.empty()) continue;
    by_service[{slice.namespace_name, slice.service_name}].push_back(&slice);
  }

  for (const Service& svc : services) {
    if (svc.cluster_ips.empty()) continue;
    std::set<std::string> identities;
    std::set<std::string> seen;  // endpoints counted already: pod ref, else first address
    int total = 0, meshed = 0;
    auto found = by_service.find({svc.namespace_name, svc.name});
    if (found != by_service.end()) {
      for (const EndpointSlice* slice : found->second) {
        for (const SliceEndpoint& ep : slice->endpoints) {
          if (!ep.ready) continue;
          std::string key = !ep.pod_name.empty()
                                ? absl::StrCat("pod ", ep.pod_namespace, "/", ep.pod_name)
                            : !ep.addresses.empty() ? absl::StrCat("ip ", ep.addresses[0])
                                                    : "";
          if (key.empty() || !seen.insert(key).second) continue;
          ++total;
          const Pod* pod = nullptr;
          if (!ep.pod_name.empty()) {
            auto p = pod_by_name.find({ep.pod_namespace, ep.pod_name});
            if (p != pod_by_name.end()) pod = p->second;
          }
          if (pod != nullptr && pod->injected) {
            ++meshed;
            identities.insert(PodIdentity(trust_domain, *pod));
          }
        }
      }
    }
    for (const std::string& ip : svc.cluster_ips) {
      for (const ServicePort& port : svc.ports) {
        if (port.protocol != "TCP" || port.port == 0) continue;
        Endpoint e;
        e.ip = ip;
        e.port = port.port;
        e.identities.assign(identities.begin(), identities.end());
        e.source = EndpointSource::kKubernetesService;
        e.origin = absl::StrCat("service ", svc.namespace_name, "/", svc.name, " (", meshed, " of ",
                                total, " endpoints meshed)");
        e.unmeshed_endpoints = total - meshed;
        auto [it, inserted] = out.try_emplace({ip, port.port});
        // Two Services on one ClusterIP:port cannot both be real; keep the first.
        if (inserted) it->second = {std::move(e), nullptr};
      }
    }
  }

  std::vector<Endpoint> result;
  result.reserve(out.size());
  for (auto& [key, entry] : out) result.push_back(std::move(entry.first));
  return result;
}

}  // namespace tether::control::kubernetes
