// Endpoint: one fact of the endpoint registry, "whoever answers at this
// address must prove one of these identities", with where the fact came from.
//
//   Endpoint e{.ip = "10.1.2.3", .port = 0, .identities = {"spiffe://mesh.local/ns/shop/sa/cart"},
//              .source = EndpointSource::kKubernetesPod, .origin = "pod shop/cart-7d9f"};
//
// `ip` is canonical text (inet_ntop: "10.1.2.3", "fd00::1"); port 0 means
// every port of the address (a pod IP), another port only that one (a
// Service's ClusterIP:port). A more specific entry (ip:port) wins over the
// address-wide one. `identities` is sorted and unique. An entry with no
// identities says "known, and not meshed": traffic there is plaintext by
// design (an uninjected pod, a Service without meshed endpoints).
//
// A Service entry also lists its `backends`, the ready endpoints that serve
// that port (pod ip:targetPort, sorted, unique, at most kMaxBackends), for
// proxies that balance requests themselves, and the `protocol` its port
// declares (appProtocol or port name), which decides whether proxies look
// for HTTP on it.
#ifndef TETHER_CONTROL_DISCOVERY_ENDPOINT_H_
#define TETHER_CONTROL_DISCOVERY_ENDPOINT_H_

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"

namespace tether::control {

enum class EndpointSource {
  kJoinToken,          // bound by `tetherctl token create --address`
  kKubernetesPod,      // an injected (or not) pod's IP
  kKubernetesService,  // a Service's ClusterIP:port, from its EndpointSlices
};

// Backends listed per Service entry at most: a Service with more still
// works (the proxy balances over the first kMaxBackends by address), and
// the entry stays a bounded message.
inline constexpr size_t kMaxBackends = 1000;

struct Backend {
  std::string ip;  // canonical text
  uint16_t port = 0;
  bool operator<(const Backend& o) const { return std::tie(ip, port) < std::tie(o.ip, o.port); }
  bool operator==(const Backend& o) const { return ip == o.ip && port == o.port; }
};

// DeclaredProtocol: what a Service port says it speaks.
enum class DeclaredProtocol {
  kUnknown,  // nothing declared: the proxy detects
  kHttp,     // HTTP/1.x, HTTP/2 or gRPC in the clear: always looked at as HTTP
  kOpaque,   // TCP, TLS, a database...: relayed as bytes, never sniffed
};

// ProtocolName: "" (unknown), "http", "opaque", as the discovery stream
// spells it.
inline const char* ProtocolName(DeclaredProtocol p) {
  switch (p) {
    case DeclaredProtocol::kHttp:
      return "http";
    case DeclaredProtocol::kOpaque:
      return "opaque";
    case DeclaredProtocol::kUnknown:
      break;
  }
  return "";
}

struct Endpoint {
  std::string ip;
  uint16_t port = 0;
  std::vector<std::string> identities;
  EndpointSource source = EndpointSource::kJoinToken;
  // For people: "pod shop/cart-7d9f", "service shop/cart (3 of 3 endpoints
  // meshed)", "join token for spiffe://…".
  std::string origin;
  // Service entries: ready endpoints behind it that are not meshed.
  int unmeshed_endpoints = 0;
  std::vector<Backend> backends;
  DeclaredProtocol protocol = DeclaredProtocol::kUnknown;

  // Key orders and identifies entries: (ip, port).
  std::tuple<const std::string&, uint16_t> Key() const { return {ip, port}; }
  bool operator==(const Endpoint& o) const {
    return ip == o.ip && port == o.port && identities == o.identities && source == o.source &&
           origin == o.origin && unmeshed_endpoints == o.unmeshed_endpoints &&
           backends == o.backends && protocol == o.protocol;
  }
};

// SourceName: "join_token", "kubernetes_pod", "kubernetes_service".
inline const char* SourceName(EndpointSource s) {
  switch (s) {
    case EndpointSource::kJoinToken:
      return "join_token";
    case EndpointSource::kKubernetesPod:
      return "kubernetes_pod";
    case EndpointSource::kKubernetesService:
      return "kubernetes_service";
  }
  return "unknown";
}

}  // namespace tether::control

#endif  // TETHER_CONTROL_DISCOVERY_ENDPOINT_H_
