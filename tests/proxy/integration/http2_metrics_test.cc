// HTTP/2 and gRPC golden metrics through a real proxy pair (a: outbound,
// b: inbound), with clients not written here: h2load and curl
// (--http2-prior-knowledge) against nghttpd, and a gRPC C++ client against
// a gRPC server. The request and response counts per route at both
// proxies equal what the clients saw, with the status code and, for gRPC,
// the grpc-status; tetherctl stat shows the failing method's success rate.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/grpc/echo_grpc_server.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

class Http2MetricsTest : public MeshTest {
 protected:
  void Pair(int backend_port) {
    StartControl();
    b_ = StartProxy("b", absl::StrCat("127.0.0.1:", backend_port), "", "");
    ASSERT_NE(b_, nullptr);
    a_ = StartProxy("a", "", absl::StrCat("127.0.0.1:", b_->inbound_port()), SpiffeId("b"));
    ASSERT_NE(a_, nullptr);
  }

  static double Count(ProxyProcess* p, const std::string& metric, const std::string& direction,
                      const std::string& route, const std::vector<std::string>& extra = {}) {
    auto m = p->Scrape();
    EXPECT_TRUE(m.has_value());
    if (!m) return -1;
    std::vector<std::string> with = {absl::StrCat("direction=\"", direction, "\""),
                                     absl::StrCat("route=\"", route, "\"")};
    with.insert(with.end(), extra.begin(), extra.end());
    return SumMetric(*m, metric, with);
  }

  // HttpSeries: every tether_proxy_http_ series of `p`, for a failure message.
  static std::string HttpSeries(ProxyProcess* p) {
    std::string out;
    if (auto m = p->Scrape()) {
      for (const auto& [series, value] : *m) {
        if (absl::StartsWith(series, "tether_proxy_http_re")) absl::StrAppend(&out, series, " ", value, "\n");
      }
    }
    return out;
  }

  // Run runs argv to its end and returns what it printed.
  std::string Run(const std::vector<std::string>& argv) {
    ChildProcess p;
    EXPECT_TRUE(p.Start(argv, absl::StrCat(dir(), "/run-", ++runs_, ".out")).ok());
    EXPECT_EQ(p.Wait(absl::Seconds(60)), 0) << p.Log();
    return p.Log();
  }

  // H2load runs h2load and returns {requests done, 2xx, 4xx}.
  std::array<int, 3> H2load(const std::string& path, int n) {
    const std::string out = Run({"/usr/bin/env", "h2load", "-n", absl::StrCat(n), "-c", "2",
                                 "-m", "8", absl::StrCat("http://127.0.0.1:", a_->outbound_port(), path)});
    std::cerr << out;
    std::array<int, 3> got = {-1, -1, -1};
    std::smatch m;
    if (std::regex_search(out, m, std::regex(R"((\d+) done)"))) got[0] = std::stoi(m[1]);
    if (std::regex_search(out, m, std::regex(R"(status codes: (\d+) 2xx, \d+ 3xx, (\d+) 4xx)"))) {
      got[1] = std::stoi(m[1]);
      got[2] = std::stoi(m[2]);
    }
    return got;
  }

  ProxyProcess* a_ = nullptr;
  ProxyProcess* b_ = nullptr;
  int runs_ = 0;
};

TEST_F(Http2MetricsTest, H2loadAndCurlCountsEqualWhatTheClientsSaw) {
  const std::string docroot = dir() + "/htdocs";
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", docroot, "/items && echo hello > ", docroot,
                                "/index.html && echo item > ", docroot, "/items/42")
                       .c_str()),
            0);
  int port = 0;
  const int probe = ListenLoopback(0, 1, &port);
  ASSERT_GE(probe, 0);
  close(probe);
  ChildProcess nghttpd;
  ASSERT_TRUE(nghttpd
                  .Start({"/usr/sbin/nghttpd", "--no-tls", "-d", docroot, "-a", "127.0.0.1",
                          absl::StrCat(port)},
                         dir() + "/nghttpd.log")
                  .ok());
  ASSERT_TRUE(WaitFor([&] {
    const int fd = ConnectLoopback(port);
    if (fd < 0) return false;
    close(fd);
    return true;
  }));
  Pair(port);

  const std::array<int, 3> ok = H2load("/index.html", 200);
  EXPECT_EQ(ok, (std::array<int, 3>{200, 200, 0}));
  const std::array<int, 3> missing = H2load("/nothing/here", 30);
  EXPECT_EQ(missing, (std::array<int, 3>{30, 0, 30}));
  // curl: HTTP/2 without TLS or Upgrade, a connection each (h2load above
  // multiplexes many requests on a connection).
  for (int i = 0; i < 3; ++i) {
    const std::string curl =
        Run({"/usr/bin/env", "curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
             "%{http_version} %{http_code}",
             absl::StrCat("http://127.0.0.1:", a_->outbound_port(), "/items/42")});
    EXPECT_EQ(curl, "2 200");
  }

  const std::string a_peer = absl::StrCat("peer=\"", SpiffeId("a"), "\"");
  const std::string b_peer = absl::StrCat("peer=\"", SpiffeId("b"), "\"");
  for (auto [proxy, direction, peer] :
       {std::tuple{b_, "inbound", a_peer}, std::tuple{a_, "outbound", b_peer}}) {
    SCOPED_TRACE(direction);
    ASSERT_TRUE(WaitFor([&] {
      return Count(proxy, "tether_proxy_http_responses_total", direction, "GET /items/{id}") == 3;
    })) << HttpSeries(proxy);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_requests_total", direction, "GET /index.html", {peer}),
              200);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_responses_total", direction, "GET /index.html",
                    {"status_code=\"200\"", "classification=\"success\""}),
              200);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_responses_total", direction, "GET /nothing/here",
                    {"status_code=\"404\""}),
              30);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_request_duration_seconds_count", direction,
                    "GET /index.html"),
              200);
    EXPECT_GE(Count(proxy, "tether_proxy_http_response_bytes_total", direction, "GET /index.html"),
              200 * 6);
    auto m = proxy->Scrape();
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(SumMetric(*m, "tether_proxy_http_requests_total",
                        {absl::StrCat("direction=\"", direction, "\"")}),
              233);
  }
  ExpectNoFailures();
}

TEST_F(Http2MetricsTest, GrpcCallsAreCountedByMethodAndGrpcStatus) {
  EchoGrpcServer server;
  ASSERT_GT(server.port(), 0);
  Pair(server.port());
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", a_->outbound_port()),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = tether::test::Echo::NewStub(channel);
  int ok = 0, unavailable = 0, not_found = 0, streamed = 0;
  for (int i = 0; i < 40; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    tether::test::EchoRequest req;
    tether::test::EchoReply reply;
    req.set_message(absl::StrCat("hello ", i));
    grpc::Status st;
    if (i % 4 == 3) {
      req.set_code(i % 8 == 3 ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::NOT_FOUND);
      st = stub->Fail(&ctx, req, &reply);
      (st.error_code() == grpc::StatusCode::UNAVAILABLE ? unavailable : not_found) += 1;
    } else {
      st = stub->Say(&ctx, req, &reply);
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(reply.message(), req.message());
      ++ok;
    }
  }
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext ctx;
    tether::test::EchoRequest req;
    req.set_message("again");
    auto reader = stub->Repeat(&ctx, req);
    tether::test::EchoReply reply;
    while (reader->Read(&reply)) ++streamed;
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_EQ(ok, 30);
  ASSERT_EQ(unavailable, 5);
  ASSERT_EQ(not_found, 5);
  ASSERT_EQ(streamed, 15);
  EXPECT_EQ(server.calls(), 45);

  const std::string say = "POST /tether.test.Echo/Say";
  const std::string fail = "POST /tether.test.Echo/Fail";
  for (auto [proxy, direction] : {std::pair{b_, "inbound"}, std::pair{a_, "outbound"}}) {
    SCOPED_TRACE(direction);
    ASSERT_TRUE(WaitFor([&] {
      return Count(proxy, "tether_proxy_http_responses_total", direction,
                   "POST /tether.test.Echo/Repeat", {"grpc_status=\"0\""}) == 5;
    })) << HttpSeries(proxy);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_requests_total", direction, say), 30);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_responses_total", direction, say,
                    {"status_code=\"200\"", "grpc_status=\"0\"", "classification=\"success\""}),
              30);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_responses_total", direction, fail,
                    {"grpc_status=\"14\"", "classification=\"failure\""}),
              5);
    EXPECT_EQ(Count(proxy, "tether_proxy_http_responses_total", direction, fail,
                    {"grpc_status=\"5\"", "classification=\"failure\""}),
              5);
  }
  // tetherctl stat --routes: the failing method at 0%, the other at 100%.
  absl::StatusOr<std::string> stat = control()->Tetherctl(
      {"stat", "--proxy", absl::StrCat("127.0.0.1:", b_->admin_port()), "--routes", "--window",
       "0"});
  ASSERT_TRUE(stat.ok()) << stat.status();
  std::cerr << "tetherctl stat --routes:\n" << *stat;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (absl::StrContains(line, fail)) {
      EXPECT_TRUE(absl::StrContains(line, "0.0%")) << line;
    } else if (absl::StrContains(line, say)) {
      EXPECT_TRUE(absl::StrContains(line, "100.0%")) << line;
    }
  }
  ExpectNoFailures();
}

}  // namespace
}  // namespace tether::testing
