#include "control/kubernetes/endpoint_mapping.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
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

bool IsIpv6(const std::string& ip) { return ip.find(':') != std::string::npos; }

// SlicePort: the port number at which `slice`'s endpoints serve the Service
// port `sp`, 0 if they do not. Slice ports carry the Service port's name
// and the resolved number (what kube-proxy uses); a nil slice port means
// every port, where the Service's numeric targetPort (or, absent, its port)
// is the number.
uint16_t SlicePort(const ServicePort& sp, const EndpointSlice& slice) {
  for (const ServicePort& p : slice.ports) {
    if (p.name != sp.name || p.protocol != sp.protocol) continue;
    if (p.port != 0) return p.port;
    if (sp.target_port != 0) return sp.target_port;
    return sp.target_port_name.empty() ? sp.port : 0;
  }
  return 0;
}

}  // namespace

DeclaredProtocol DeclaredProtocolOf(const ServicePort& port) {
  // appProtocol first (IANA names, or kubernetes.io/...), then the name's
  // prefix up to '-' ("http-web", "grpc", "tcp-db"), as Istio reads it.
  std::string word = absl::AsciiStrToLower(port.app_protocol);
  if (word.empty()) word = absl::AsciiStrToLower(port.name.substr(0, port.name.find('-')));
  static constexpr const char* kHttp[] = {
      "http", "http2", "h2c", "grpc", "grpc-web", "kubernetes.io/h2c", "kubernetes.io/ws"};
  static constexpr const char* kOpaque[] = {
      "tcp",   "tls",      "https",      "mysql", "mongo",
      "redis", "postgres", "postgresql", "kafka", "kubernetes.io/wss",
      "opaque"};
  for (const char* w : kHttp) {
    if (word == w) return DeclaredProtocol::kHttp;
  }
  for (const char* w : kOpaque) {
    if (word == w) return DeclaredProtocol::kOpaque;
  }
  return DeclaredProtocol::kUnknown;
}

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
    // The ready endpoints, each once, with the slice that lists it.
    std::vector<std::pair<const SliceEndpoint*, const EndpointSlice*>> ready;
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
          ready.push_back({&ep, slice});
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
        e.protocol = DeclaredProtocolOf(port);
        // Backends: the first address of each ready endpoint (as
        // kube-proxy), of the ClusterIP's family.
        for (const auto& [ep, slice] : ready) {
          const uint16_t target = SlicePort(port, *slice);
          if (target == 0) continue;
          for (const std::string& address : ep->addresses) {
            if (IsIpv6(address) != IsIpv6(ip)) continue;
            e.backends.push_back({address, target});
            break;
          }
        }
        std::sort(e.backends.begin(), e.backends.end());
        e.backends.erase(std::unique(e.backends.begin(), e.backends.end()), e.backends.end());
        if (e.backends.size() > kMaxBackends) e.backends.resize(kMaxBackends);
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
