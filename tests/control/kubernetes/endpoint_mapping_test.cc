#include "control/kubernetes/endpoint_mapping.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tether::control::kubernetes {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kTd[] = "mesh.local";

Pod MakePod(std::string ns, std::string name, std::vector<std::string> ips, bool injected,
            std::string sa = "default", std::string phase = "Running") {
  Pod p;
  p.namespace_name = std::move(ns);
  p.name = std::move(name);
  p.resource_version = "1";
  p.service_account = std::move(sa);
  p.ips = std::move(ips);
  p.phase = std::move(phase);
  p.ready = true;
  p.injected = injected;
  return p;
}

Service MakeService(std::string ns, std::string name, std::vector<std::string> ips,
                    std::vector<ServicePort> ports) {
  Service s;
  s.namespace_name = std::move(ns);
  s.name = std::move(name);
  s.resource_version = "1";
  s.cluster_ips = std::move(ips);
  s.ports = std::move(ports);
  return s;
}

SliceEndpoint Ep(std::string ip, std::string pod, bool ready = true, std::string ns = "shop") {
  SliceEndpoint e;
  e.addresses = {std::move(ip)};
  e.ready = ready;
  if (!pod.empty()) {
    e.pod_namespace = std::move(ns);
    e.pod_name = std::move(pod);
  }
  return e;
}

EndpointSlice Slice(std::string ns, std::string name, std::string service,
                    std::vector<SliceEndpoint> endpoints) {
  EndpointSlice s;
  s.namespace_name = std::move(ns);
  s.name = std::move(name);
  s.resource_version = "1";
  s.service_name = std::move(service);
  s.endpoints = std::move(endpoints);
  return s;
}

Endpoint Expect(std::string ip, uint16_t port, std::vector<std::string> ids, EndpointSource src,
                std::string origin, int unmeshed = 0) {
  Endpoint e;
  e.ip = std::move(ip);
  e.port = port;
  e.identities = std::move(ids);
  e.source = src;
  e.origin = std::move(origin);
  e.unmeshed_endpoints = unmeshed;
  return e;
}

TEST(MapEndpoints, InjectedAndUninjectedPodsDualStack) {
  std::vector<Pod> pods = {
      MakePod("shop", "cart-1", {"10.244.1.7", "fd00::7"}, true, "cart"),
      MakePod("shop", "legacy-0", {"10.244.2.9"}, false),
  };
  EXPECT_THAT(
      MapEndpoints(pods, {}, {}, kTd),
      ElementsAre(Expect("10.244.1.7", 0, {"spiffe://mesh.local/ns/shop/sa/cart"},
                         EndpointSource::kKubernetesPod, "pod shop/cart-1"),
                  Expect("10.244.2.9", 0, {}, EndpointSource::kKubernetesPod, "pod shop/legacy-0"),
                  Expect("fd00::7", 0, {"spiffe://mesh.local/ns/shop/sa/cart"},
                         EndpointSource::kKubernetesPod, "pod shop/cart-1")));
}

TEST(MapEndpoints, SkipsHostNetworkFinishedAndIpLessPods) {
  Pod host = MakePod("kube-system", "kube-proxy", {"172.18.0.3"}, false);
  host.host_network = true;
  std::vector<Pod> pods = {
      host,
      MakePod("shop", "done", {"10.244.1.8"}, true, "default", "Succeeded"),
      MakePod("shop", "failed", {"10.244.1.9"}, true, "default", "Failed"),
      MakePod("shop", "scheduling", {}, true, "default", "Pending"),
      MakePod("shop", "starting", {"10.244.1.10"}, true, "default", "Pending"),
  };
  std::vector<Endpoint> got = MapEndpoints(pods, {}, {}, kTd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].origin, "pod shop/starting");
}

TEST(MapEndpoints, ReusedIpGoesToTheRunningPod) {
  std::vector<Pod> pods = {
      MakePod("shop", "a-new", {"10.244.1.7"}, true, "new", "Pending"),
      MakePod("shop", "z-old", {"10.244.1.7"}, true, "old", "Running"),
  };
  std::vector<Endpoint> got = MapEndpoints(pods, {}, {}, kTd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].origin, "pod shop/z-old");
}

TEST(MapEndpoints, ServiceIdentitiesFromReadyInjectedEndpoints) {
  std::vector<Pod> pods = {
      MakePod("shop", "cart-1", {"10.244.1.7"}, true, "cart"),
      MakePod("shop", "cart-2", {"10.244.1.8"}, true, "cart"),
      MakePod("shop", "cart-canary", {"10.244.1.9"}, true, "cart-canary"),
      MakePod("shop", "legacy-0", {"10.244.2.9"}, false),
  };
  std::vector<Service> services = {
      MakeService("shop", "cart", {"10.96.12.34", "fd00:10:96::1234"},
                  {{80, "TCP"}, {53, "UDP"}, {443, "TCP"}}),
  };
  std::vector<EndpointSlice> slices = {
      Slice("shop", "cart-abc", "cart",
            {Ep("10.244.1.7", "cart-1"), Ep("10.244.1.8", "cart-2"),
             Ep("10.244.1.9", "cart-canary", /*ready=*/false), Ep("10.244.2.9", "legacy-0"),
             Ep("10.244.3.3", "")}),
      // The same endpoint in a second slice (a slice in transition) counts once.
      Slice("shop", "cart-def", "cart", {Ep("10.244.1.7", "cart-1")}),
      // Another service's slice, and a slice in another namespace.
      Slice("shop", "web-abc", "web", {Ep("10.244.4.4", "web-1")}),
      Slice("other", "cart-xyz", "cart", {Ep("10.244.5.5", "cart-9", true, "other")}),
  };
  const std::string origin = "service shop/cart (2 of 4 endpoints meshed)";
  const std::vector<std::string> ids = {"spiffe://mesh.local/ns/shop/sa/cart"};
  std::vector<Endpoint> got = MapEndpoints(pods, services, slices, kTd);
  std::vector<Endpoint> services_only;
  for (const Endpoint& e : got) {
    if (e.source == EndpointSource::kKubernetesService) services_only.push_back(e);
  }
  EXPECT_THAT(
      services_only,
      ElementsAre(
          Expect("10.96.12.34", 80, ids, EndpointSource::kKubernetesService, origin, 2),
          Expect("10.96.12.34", 443, ids, EndpointSource::kKubernetesService, origin, 2),
          Expect("fd00:10:96::1234", 80, ids, EndpointSource::kKubernetesService, origin, 2),
          Expect("fd00:10:96::1234", 443, ids, EndpointSource::kKubernetesService, origin, 2)));
  EXPECT_EQ(got.size(), 4u + 4u);  // and the four pods
}

TEST(MapEndpoints, PodTurningUnreadyDropsOut) {
  std::vector<Pod> pods = {
      MakePod("shop", "cart-1", {"10.244.1.7"}, true, "cart"),
      MakePod("shop", "cart-2", {"10.244.1.8"}, true, "cart-v2"),
  };
  std::vector<Service> services = {MakeService("shop", "cart", {"10.96.12.34"}, {{80, "TCP"}})};
  auto slices = [](bool second_ready) {
    return std::vector<EndpointSlice>{
        Slice("shop", "cart-abc", "cart",
              {Ep("10.244.1.7", "cart-1"), Ep("10.244.1.8", "cart-2", second_ready)})};
  };
  std::vector<Endpoint> before = MapEndpoints(pods, services, slices(true), kTd);
  ASSERT_EQ(before.size(), 3u);  // two pods, then the service ("10.96..." sorts last)
  EXPECT_THAT(before.back().identities, ElementsAre("spiffe://mesh.local/ns/shop/sa/cart",
                                                    "spiffe://mesh.local/ns/shop/sa/cart-v2"));
  std::vector<Endpoint> after = MapEndpoints(pods, services, slices(false), kTd);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_THAT(after.back().identities, ElementsAre("spiffe://mesh.local/ns/shop/sa/cart"));
  EXPECT_EQ(after.back().origin, "service shop/cart (1 of 1 endpoints meshed)");
}

TEST(MapEndpoints, HeadlessAndEndpointlessServices) {
  std::vector<Service> services = {
      MakeService("shop", "db", {}, {{5432, "TCP"}}),  // headless: the parser drops "None"
      MakeService("shop", "empty", {"10.96.0.50"}, {{80, "TCP"}}),
  };
  EXPECT_THAT(MapEndpoints({}, services, {}, kTd),
              ElementsAre(Expect("10.96.0.50", 80, {}, EndpointSource::kKubernetesService,
                                 "service shop/empty (0 of 0 endpoints meshed)")));
}

TEST(MapEndpoints, UnknownPodIsUnmeshed) {
  std::vector<Service> services = {MakeService("shop", "cart", {"10.96.12.34"}, {{80, "TCP"}})};
  std::vector<EndpointSlice> slices = {
      Slice("shop", "cart-abc", "cart", {Ep("10.244.1.7", "not-yet-seen")})};
  std::vector<Endpoint> got = MapEndpoints({}, services, slices, kTd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_THAT(got[0].identities, IsEmpty());
  EXPECT_EQ(got[0].unmeshed_endpoints, 1);
}

ServicePort Port(uint16_t port, std::string name, uint16_t target = 0,
                 std::string app_protocol = "") {
  ServicePort p;
  p.port = port;
  p.name = std::move(name);
  p.target_port = target;
  p.app_protocol = std::move(app_protocol);
  return p;
}

ServicePort SlicePortOf(uint16_t port, std::string name) {
  ServicePort p;
  p.port = port;
  p.name = std::move(name);
  return p;
}

TEST(MapEndpoints, ServiceEntriesListTheirBackendsPerPortAndFamily) {
  std::vector<Pod> pods = {
      MakePod("shop", "cart-1", {"10.244.1.7", "fd00::7"}, true, "cart"),
      MakePod("shop", "cart-2", {"10.244.1.8", "fd00::8"}, true, "cart"),
  };
  // Two named ports; the slices carry the resolved numbers by name.
  Service svc = MakeService("shop", "cart", {"10.96.0.10", "fd00:96::10"},
                            {Port(80, "http", 8080), Port(9090, "metrics")});
  EndpointSlice v4 = Slice("shop", "cart-v4", "cart",
                           {Ep("10.244.1.7", "cart-1"), Ep("10.244.1.8", "cart-2"),
                            Ep("10.244.1.9", "gone", /*ready=*/false)});
  v4.ports = {SlicePortOf(8081, "http"), SlicePortOf(9091, "metrics")};
  EndpointSlice v6 = Slice("shop", "cart-v6", "cart", {Ep("fd00::7", ""), Ep("fd00::8", "")});
  v6.ports = {SlicePortOf(8081, "http")};  // serves only "http"
  // The same endpoint in a second slice (a slice being replaced) once.
  EndpointSlice dup = Slice("shop", "cart-dup", "cart", {Ep("10.244.1.7", "cart-1")});
  dup.ports = v4.ports;

  std::vector<Endpoint> got = MapEndpoints(pods, {svc}, {v4, dup, v6}, kTd);
  auto find = [&](const std::string& ip, uint16_t port) -> const Endpoint* {
    for (const Endpoint& e : got) {
      if (e.ip == ip && e.port == port) return &e;
    }
    return nullptr;
  };
  const Endpoint* http4 = find("10.96.0.10", 80);
  ASSERT_NE(http4, nullptr);
  EXPECT_THAT(http4->backends,
              ElementsAre(Backend{"10.244.1.7", 8081}, Backend{"10.244.1.8", 8081}));
  const Endpoint* metrics4 = find("10.96.0.10", 9090);
  ASSERT_NE(metrics4, nullptr);
  EXPECT_THAT(metrics4->backends,
              ElementsAre(Backend{"10.244.1.7", 9091}, Backend{"10.244.1.8", 9091}));
  const Endpoint* http6 = find("fd00:96::10", 80);
  ASSERT_NE(http6, nullptr);
  EXPECT_THAT(http6->backends, ElementsAre(Backend{"fd00::7", 8081}, Backend{"fd00::8", 8081}));
  const Endpoint* metrics6 = find("fd00:96::10", 9090);
  ASSERT_NE(metrics6, nullptr);
  EXPECT_THAT(metrics6->backends, IsEmpty());
  EXPECT_EQ(http4->protocol, DeclaredProtocol::kHttp);
  EXPECT_EQ(metrics4->protocol, DeclaredProtocol::kUnknown);
  // Pod entries list no backends.
  EXPECT_THAT(find("10.244.1.7", 0)->backends, IsEmpty());
}

TEST(MapEndpoints, NilSlicePortUsesTheNumericTargetPortAndBackendsAreCapped) {
  Service svc = MakeService("shop", "big", {"10.96.0.11"}, {Port(80, "", 8080)});
  std::vector<SliceEndpoint> eps;
  for (int i = 0; i < 1200; ++i) {
    eps.push_back(Ep("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), ""));
  }
  EndpointSlice slice = Slice("shop", "big-1", "big", eps);
  slice.ports = {SlicePortOf(0, "")};  // nil port: every port
  std::vector<Endpoint> got = MapEndpoints({}, {svc}, {slice}, kTd);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].backends.size(), kMaxBackends);
  EXPECT_EQ(got[0].backends[0].port, 8080);
  EXPECT_TRUE(std::is_sorted(got[0].backends.begin(), got[0].backends.end()));
  // A slice without ports serves none.
  slice.ports.clear();
  EXPECT_THAT(MapEndpoints({}, {svc}, {slice}, kTd)[0].backends, IsEmpty());
}

TEST(DeclaredProtocolOf, AppProtocolFirstThenPortNamePrefix) {
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "http")), DeclaredProtocol::kHttp);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "http-web")), DeclaredProtocol::kHttp);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "GRPC")), DeclaredProtocol::kHttp);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "web", 0, "kubernetes.io/h2c")), DeclaredProtocol::kHttp);
  EXPECT_EQ(DeclaredProtocolOf(Port(3306, "mysql")), DeclaredProtocol::kOpaque);
  EXPECT_EQ(DeclaredProtocolOf(Port(443, "https")), DeclaredProtocol::kOpaque);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "tcp-stream")), DeclaredProtocol::kOpaque);
  // appProtocol wins over the name.
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "http", 0, "tcp")), DeclaredProtocol::kOpaque);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "", 0, "opaque")), DeclaredProtocol::kOpaque);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "")), DeclaredProtocol::kUnknown);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "web")), DeclaredProtocol::kUnknown);
  EXPECT_EQ(DeclaredProtocolOf(Port(80, "httpx")), DeclaredProtocol::kUnknown);
}

}  // namespace
}  // namespace tether::control::kubernetes
