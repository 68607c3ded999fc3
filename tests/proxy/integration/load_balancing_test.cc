// Load balancing end to end: a real tether-control (--kubernetes) watches a
// Service with two endpoints on a stand-in API server (FakeWatchApi), and a
// client proxy sends each HTTP/1.1 request of one kept-alive app connection
// to one of the endpoints' proxies itself, chosen by latency (peak-EWMA,
// power of two choices), verifying each endpoint's own identity. Nothing
// listens on the Service's ClusterIP, so every answer proves the request
// went to an endpoint. 127.0.0.20-22 are loopback addresses of their own.
#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_watch_api.h"
#include "tests/control/kubernetes/test_pki.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/http_test_server.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";
constexpr char kServiceIp[] = "127.0.0.20";  // shop/cart's ClusterIP: nothing listens there
constexpr char kConnectRetries[] = R"(tether_proxy_http_retries_total{reason="connect-failure"})";

class LoadBalancingTest : public MeshTest {
 protected:
  LoadBalancingTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        api_(kOwnToken),
        server_(cert_, [this](const RecordedRequest& r, ResponseStream& s) { api_.Serve(r, s); }) {}

  // Paths: `n` request paths for one curl (one kept-alive connection).
  static std::vector<std::string> Paths(int n) { return std::vector<std::string>(n, "/cart"); }

  // H2loadOk: `n` HTTP/1.1 requests from h2load over 8 connections to
  // `port`; returns how many got a 2xx.
  int H2loadOk(int port, int n) {
    ChildProcess p;
    EXPECT_TRUE(p.Start({"/usr/bin/env", "h2load", "--h1", "-n", absl::StrCat(n), "-c", "8",
                         absl::StrCat("http://127.0.0.1:", port, "/cart")},
                        absl::StrCat(dir(), "/h2load-", ++runs_, ".out"))
                    .ok());
    EXPECT_EQ(p.Wait(absl::Seconds(60)), 0) << p.Log();
    std::smatch m;
    const std::string out = p.Log();
    if (!std::regex_search(out, m, std::regex(R"(status codes: (\d+) 2xx)"))) {
      ADD_FAILURE() << out;
      return -1;
    }
    return std::stoi(m[1]);
  }

  static int Count(const std::vector<std::string>& codes, const std::string& code) {
    return static_cast<int>(std::count(codes.begin(), codes.end(), code));
  }

  int runs_ = 0;
  TestCa ca_;
  TestCert cert_;
  FakeWatchApi api_;
  FakeHttpsServer server_;
};

TEST_F(LoadBalancingTest, RequestsSpreadAvoidASlowEndpointAndGoAroundADeadOne) {
  HttpTestServer app[3];
  StartKubernetesControl(server_.port(), ca_.cert_pem, kOwnToken,
                         {"--policy-source", "dir", "--revocations-configmap="});
  // Three replicas of shop/cart, each pod's proxy on its own pod IP.
  std::vector<ProxyProcess*> cart;
  for (int i = 0; i < 3; ++i) {
    const std::string ip = absl::StrCat("127.0.0.", 21 + i);
    cart.push_back(StartProxy("cart", absl::StrCat("127.0.0.1:", app[i].port()), "", "",
                              {"--inbound-listen", absl::StrCat(ip, ":0")}));
    ASSERT_NE(cart.back(), nullptr);
    const std::string pod = absl::StrCat("cart-", i + 1);
    api_.Put(kPods, PodJson("shop", pod, "cart", {ip}, true));
    // One slice per pod: their (test-chosen) ports differ.
    api_.Put(kSlices, SliceJson("shop", pod, "cart", {{ip, pod}}, cart.back()->inbound_port()));
  }
  api_.Put(kServices, ServiceJson("shop", "cart", kServiceIp, {80}));
  ProxyProcess* web = StartProxy("web", "", absl::StrCat(kServiceIp, ":80"));
  ASSERT_NE(web, nullptr);
  ASSERT_TRUE(WaitFor([&] {
    const std::string e = HttpGet(web->admin_port(), "/endpoints");
    return absl::StrContains(e, absl::StrCat("127.0.0.23:", cart[2]->inbound_port())) &&
           absl::StrContains(e, "\"127.0.0.23\"");
  })) << HttpGet(web->admin_port(), "/endpoints")
      << control()->Log();
  auto served = [&] {
    return std::vector<int>{app[0].requests(), app[1].requests(), app[2].requests()};
  };

  // Concurrent requests spread over equal replicas.
  EXPECT_EQ(H2loadOk(web->outbound_port(), 600), 600);
  std::vector<int> n = served();
  std::cerr << "equal replicas: " << n[0] << ", " << n[1] << ", " << n[2] << "\n";
  for (int i = 0; i < 3; ++i) EXPECT_GE(n[i], 60) << i;
  EXPECT_EQ(n[0] + n[1] + n[2], 600);

  // One replica turns slow (20 ms an answer): it gets next to nothing.
  app[2].SetDelay(20);
  std::vector<std::string> codes = Curl(web->outbound_port(), Paths(200));
  EXPECT_EQ(Count(codes, "200"), 200);
  std::vector<int> after = served();
  const int slow = after[2] - n[2];
  std::cerr << "a slow replica: " << after[0] - n[0] << ", " << after[1] - n[1] << ", " << slow
            << "\n";
  EXPECT_LT(slow, 10);
  app[2].SetDelay(0);

  // A replica's proxy goes away while the registry still lists it: no
  // request fails; those sent its way go to another replica, and it is
  // soon left out (failure accrual).
  ASSERT_EQ(cart[1]->Terminate(absl::Seconds(30)), 0);
  n = served();
  EXPECT_EQ(H2loadOk(web->outbound_port(), 300), 300);
  after = served();
  EXPECT_EQ(after[1], n[1]);
  EXPECT_EQ(after[0] - n[0] + after[2] - n[2], 300);
  auto m = web->Scrape();
  ASSERT_TRUE(m.has_value());
  const double refused = MetricValue(*m, kConnectRetries);
  std::cerr << "connect failures sent to another replica: " << refused << "\n";
  EXPECT_GE(refused, 1);
  EXPECT_LE(refused, 20);  // ejected after 5 in a row (per worker)

  // Each connection of web was verified; each replica's proxy proved the
  // pod's identity (a request to the wrong one would have failed).
  // 8 + 8 h2load connections and one curl.
  EXPECT_EQ(MetricValue(*m, R"(tether_proxy_outbound_routes_total{route="mtls_verified"})"), 17);
  EXPECT_EQ(MetricValue(*m, R"(tether_proxy_outbound_routes_total{route="mtls_any_identity"})"), 0);
  EXPECT_EQ(MetricValue(*m, R"(tether_proxy_outbound_routes_total{route="passthrough"})"), 0);
  EXPECT_TRUE(api_.problems().empty()) << api_.problems().front();
}

// A Service port declared opaque (appProtocol: tcp) is relayed as bytes to
// its ClusterIP, never parsed or balanced; the same Service undeclared is
// balanced. Here the ClusterIP is a proxy of the Service's own identity on
// 127.0.0.24, so that the relayed connection has somewhere to go.
TEST_F(LoadBalancingTest, APortDeclaredOpaqueIsRelayedNotBalanced) {
  HttpTestServer replica, at_cluster_ip;
  StartKubernetesControl(server_.port(), ca_.cert_pem, kOwnToken,
                         {"--policy-source", "dir", "--revocations-configmap="});
  ProxyProcess* pod = StartProxy("cart", absl::StrCat("127.0.0.1:", replica.port()), "", "",
                                 {"--inbound-listen", "127.0.0.21:0"});
  ASSERT_NE(pod, nullptr);
  ProxyProcess* vip = StartProxy("cart", absl::StrCat("127.0.0.1:", at_cluster_ip.port()), "", "",
                                 {"--inbound-listen", "127.0.0.24:0"});
  ASSERT_NE(vip, nullptr);
  const int port = vip->inbound_port();
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"127.0.0.21"}, true));
  api_.Put(kSlices,
           SliceJson("shop", "cart-1", "cart", {{"127.0.0.21", "cart-1"}}, pod->inbound_port()));
  api_.Put(kServices, ServiceJson("shop", "cart", "127.0.0.24", {port}, "tcp"));
  ProxyProcess* web = StartProxy("web", "", absl::StrCat("127.0.0.24:", port));
  ASSERT_NE(web, nullptr);
  auto has = [&](const std::string& text) {
    return WaitFor(
        [&] { return absl::StrContains(HttpGet(web->admin_port(), "/endpoints"), text); });
  };
  ASSERT_TRUE(has("\"protocol\": \"opaque\"")) << HttpGet(web->admin_port(), "/endpoints");

  std::vector<std::string> codes = Curl(web->outbound_port(), Paths(20));
  EXPECT_EQ(Count(codes, "200"), 20);
  EXPECT_EQ(at_cluster_ip.requests(), 20);  // relayed to the ClusterIP
  EXPECT_EQ(replica.requests(), 0);
  auto m = web->Scrape();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(SumMetric(*m, "tether_proxy_http_requests_total", {"direction=\"outbound\""}), 0)
      << "an opaque port was parsed";

  // Undeclared, the same port is HTTP: balanced to the endpoint.
  api_.Put(kServices, ServiceJson("shop", "cart", "127.0.0.24", {port}));
  ASSERT_TRUE(WaitFor(
      [&] { return !absl::StrContains(HttpGet(web->admin_port(), "/endpoints"), "opaque"); }));
  codes = Curl(web->outbound_port(), Paths(20));
  EXPECT_EQ(Count(codes, "200"), 20);
  EXPECT_EQ(replica.requests(), 20);
  EXPECT_EQ(at_cluster_ip.requests(), 20);
}

}  // namespace
}  // namespace tether::testing
