// Kubernetes discovery end to end: a real tether-control (--kubernetes)
// watches Pods, Services and EndpointSlices on a stand-in API server
// (FakeWatchApi over loopback HTTPS), and a real tether-proxy holds the
// registry's view. Each change in the cluster (a pod added, a pod turning
// unready, a pod deleted) must reach the running proxy within a second of the
// API server's write, which is what lets a caller stop sending to an endpoint
// that the kubelet has just taken out of its service.
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "nlohmann/json.hpp"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_watch_api.h"
#include "tests/control/kubernetes/test_pki.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";
constexpr char kServiceIp[] = "10.96.0.10";  // shop/cart's cluster IP

// Entry: the proxy's /endpoints entry for `address` (IP:PORT, or the IP
// alone for a pod), null if absent.
nlohmann::json Entry(const nlohmann::json& endpoints, const std::string& address) {
  if (!endpoints.is_object()) return nullptr;  // not answered (yet)
  for (const auto& e : endpoints.value("endpoints", nlohmann::json::array())) {
    if (e.value("address", "") == address) return e;
  }
  return nullptr;
}

class KubernetesDiscoveryTest : public MeshTest {
 protected:
  KubernetesDiscoveryTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        api_(kOwnToken),
        server_(cert_, [this](const RecordedRequest& r, ResponseStream& s) { api_.Serve(r, s); }) {}

  // Revocations stay in the state dir: this stand-in serves watches only.
  void StartKubernetesControl() {
    MeshTest::StartKubernetesControl(server_.port(), ca_.cert_pem, kOwnToken,
                                     {"--policy-source", "dir", "--revocations-configmap="});
  }

  nlohmann::json ProxyEndpoints(ProxyProcess* p) {
    const std::optional<std::string> body = HttpGetBody(p->admin_port(), "/endpoints");
    return body ? nlohmann::json::parse(*body, nullptr, false) : nullptr;
  }

  // TimeToReach: how long after `change` the proxy's table satisfies
  // `done` (polled every 5 ms, up to 20 s); nullopt if it never does.
  std::optional<absl::Duration> TimeToReach(
      ProxyProcess* p, const std::function<void()>& change,
      const std::function<bool(const nlohmann::json&)>& done) {
    const absl::Time start = absl::Now();
    change();
    while (absl::Now() - start < absl::Seconds(20)) {
      if (done(ProxyEndpoints(p))) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return std::nullopt;
  }

  TestCa ca_;
  TestCert cert_;
  FakeWatchApi api_;
  FakeHttpsServer server_;
};

TEST_F(KubernetesDiscoveryTest, ClusterChangesReachARunningProxyWithinASecond) {
  const std::string cart = SpiffeId("cart");
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"10.244.1.7"}, true));
  api_.Put(kPods, PodJson("shop", "cart-2", "cart", {"10.244.1.8"}, true));
  api_.Put(kServices, ServiceJson("shop", "cart", kServiceIp, {80}, "http"));
  api_.Put(kSlices, SliceJson("shop", "cart-abc", "cart",
                              {{"10.244.1.7", "cart-1"}, {"10.244.1.8", "cart-2"}}));
  StartKubernetesControl();
  ProxyProcess* a = StartProxy("a", "", "127.0.0.1:9");
  ASSERT_NE(a, nullptr);
  const std::string service = absl::StrCat(kServiceIp, ":80");
  auto origin = [&](const nlohmann::json& all) {
    const nlohmann::json e = Entry(all, service);
    return e.is_object() ? e.value("origin", "") : "";
  };
  // The initial view: both pods, and the service naming cart's identity.
  std::optional<absl::Duration> t = TimeToReach(
      a, [] {},
      [&](const nlohmann::json& all) {
        return origin(all) == "service shop/cart (2 of 2 endpoints meshed)" &&
               Entry(all, "10.244.1.8").is_object();
      });
  ASSERT_TRUE(t.has_value()) << HttpGet(a->admin_port(), "/endpoints") << control()->Log();
  const nlohmann::json first = Entry(ProxyEndpoints(a), service);
  EXPECT_EQ(first["identities"], nlohmann::json::array({cart})) << first.dump();
  EXPECT_EQ(first.value("source", ""), "kubernetes_service") << first.dump();
  EXPECT_EQ(Entry(ProxyEndpoints(a), "10.244.1.7").value("source", ""), "kubernetes_pod");
  // The ready endpoints behind the port, and what the port declares.
  EXPECT_EQ(first["backends"], nlohmann::json::array({"10.244.1.7:8080", "10.244.1.8:8080"}))
      << first.dump();
  EXPECT_EQ(first.value("protocol", ""), "http") << first.dump();

  // A pod is added and joins the service.
  t = TimeToReach(
      a,
      [&] {
        api_.Put(kPods, PodJson("shop", "cart-3", "cart", {"10.244.1.9"}, true));
        api_.Put(kSlices, SliceJson("shop", "cart-abc", "cart",
                                    {{"10.244.1.7", "cart-1"},
                                     {"10.244.1.8", "cart-2"},
                                     {"10.244.1.9", "cart-3"}}));
      },
      [&](const nlohmann::json& all) {
        return Entry(all, "10.244.1.9").is_object() &&
               origin(all) == "service shop/cart (3 of 3 endpoints meshed)";
      });
  ASSERT_TRUE(t.has_value()) << HttpGet(a->admin_port(), "/endpoints");
  EXPECT_LT(*t, absl::Seconds(1));
  std::cerr << "pod added: reached the proxy in " << absl::FormatDuration(*t) << "\n";

  // A pod turns unready: its endpoint leaves the service.
  t = TimeToReach(
      a,
      [&] {
        api_.Put(kSlices, SliceJson("shop", "cart-abc", "cart",
                                    {{"10.244.1.7", "cart-1"},
                                     {"10.244.1.8", "cart-2", false},
                                     {"10.244.1.9", "cart-3"}}));
      },
      [&](const nlohmann::json& all) {
        return origin(all) == "service shop/cart (2 of 2 endpoints meshed)" &&
               Entry(all, service)["backends"] ==
                   nlohmann::json::array({"10.244.1.7:8080", "10.244.1.9:8080"});
      });
  ASSERT_TRUE(t.has_value()) << HttpGet(a->admin_port(), "/endpoints");
  EXPECT_LT(*t, absl::Seconds(1));
  std::cerr << "pod unready: reached the proxy in " << absl::FormatDuration(*t) << "\n";

  // A pod is deleted: its address is no longer the mesh's.
  t = TimeToReach(
      a,
      [&] {
        api_.Delete(kPods, "shop", "cart-1");
        api_.Put(kSlices, SliceJson("shop", "cart-abc", "cart",
                                    {{"10.244.1.8", "cart-2", false}, {"10.244.1.9", "cart-3"}}));
      },
      [&](const nlohmann::json& all) {
        return Entry(all, "10.244.1.7").is_null() &&
               origin(all) == "service shop/cart (1 of 1 endpoints meshed)";
      });
  ASSERT_TRUE(t.has_value()) << HttpGet(a->admin_port(), "/endpoints");
  EXPECT_LT(*t, absl::Seconds(1));
  std::cerr << "pod deleted: reached the proxy in " << absl::FormatDuration(*t) << "\n";
  EXPECT_TRUE(api_.problems().empty()) << api_.problems().front();
}

}  // namespace
}  // namespace tether::testing
