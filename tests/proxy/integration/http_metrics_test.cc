// HTTP golden metrics through a real proxy pair (a: outbound, b: inbound)
// with curl as the client and a keep-alive HTTP/1.1 origin: the request and
// response counts per route at both proxies equal what curl saw, on
// keep-alive and on `Connection: close` connections; an opaque port is
// never parsed; a server-first protocol gets its greeting with no delay.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/http_test_server.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

class HttpMetricsTest : public MeshTest {
 protected:
  // Pair starts b in front of `backend_port` and a in front of b.
  void Pair(int backend_port, const std::vector<std::string>& b_flags = {}) {
    StartControl();
    b_ = StartProxy("b", absl::StrCat("127.0.0.1:", backend_port), "", "", b_flags);
    ASSERT_NE(b_, nullptr);
    a_ = StartProxy("a", "", absl::StrCat("127.0.0.1:", b_->inbound_port()), SpiffeId("b"));
    ASSERT_NE(a_, nullptr);
  }

  // Curl: the status codes curl printed, one per URL (relative to a).
  std::vector<std::string> Curl(const std::vector<std::string>& args) {
    return MeshTest::Curl(a_->outbound_port(), args);
  }

  // Count: tether_proxy_http_* series of `p` for a direction and route.
  static double Count(ProxyProcess* p, const std::string& metric, const std::string& direction,
                      const std::string& route, const std::string& extra = "") {
    auto m = p->Scrape();
    EXPECT_TRUE(m.has_value());
    if (!m) return -1;
    std::vector<std::string> with = {absl::StrCat("direction=\"", direction, "\""),
                                     absl::StrCat("route=\"", route, "\"")};
    if (!extra.empty()) with.push_back(extra);
    return SumMetric(*m, metric, with);
  }

  ProxyProcess* a_ = nullptr;
  ProxyProcess* b_ = nullptr;
};

TEST_F(HttpMetricsTest, CountsEqualWhatTheClientSawKeepAliveAndConnectionClose) {
  HttpTestServer origin;
  const std::string access_log = dir() + "/b-access.log";
  Pair(origin.port(), {"--access-log-requests", "--access-log", access_log});
  // One curl, one connection: three requests kept alive.
  std::vector<std::string> seen = Curl({"/users/1", "/users/22", "/status/503"});
  ASSERT_EQ(seen, (std::vector<std::string>{"200", "200", "503"}));
  // A connection per request.
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Curl({"-H", "Connection: close", "/items/9"}), std::vector<std::string>{"200"});
  }
  ASSERT_EQ(Curl({"-X", "POST", "--data", "hello", "/orders"}), std::vector<std::string>{"200"});
  ASSERT_EQ(Curl({"-I", "/users/5"}), std::vector<std::string>{"200"});
  EXPECT_EQ(origin.requests(), 7);

  const std::string a_peer = absl::StrCat("peer=\"", SpiffeId("a"), "\"");
  const std::string b_peer = absl::StrCat("peer=\"", SpiffeId("b"), "\"");
  struct Side {
    ProxyProcess* proxy;
    const char* direction;
    std::string peer;
  };
  for (const Side& s : {Side{b_, "inbound", a_peer}, Side{a_, "outbound", b_peer}}) {
    SCOPED_TRACE(s.direction);
    // Responses are recorded when they end; allow the last to land.
    ASSERT_TRUE(WaitFor([&] {
      return Count(s.proxy, "tether_proxy_http_responses_total", s.direction, "HEAD /users/{id}") == 1;
    }));
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_requests_total", s.direction, "GET /users/{id}", s.peer), 2);
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_responses_total", s.direction, "GET /users/{id}",
                    "status_code=\"200\""),
              2);
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_responses_total", s.direction, "GET /status/{id}",
                    "classification=\"failure\""),
              1);
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_requests_total", s.direction, "GET /items/{id}"), 2);
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_responses_total", s.direction, "GET /items/{id}",
                    "classification=\"success\""),
              2);
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_requests_total", s.direction, "POST /orders"), 1);
    EXPECT_GT(Count(s.proxy, "tether_proxy_http_request_bytes_total", s.direction, "POST /orders"),
              5);
    EXPECT_EQ(Count(s.proxy, "tether_proxy_http_request_duration_seconds_count", s.direction,
                    "GET /users/{id}"),
              2);
    // Every request curl made, and no other.
    auto m = s.proxy->Scrape();
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(SumMetric(*m, "tether_proxy_http_requests_total",
                        {absl::StrCat("direction=\"", s.direction, "\"")}),
              7);
    EXPECT_EQ(SumMetric(*m, "tether_proxy_http_responses_total",
                        {absl::StrCat("direction=\"", s.direction, "\"")}),
              7);
  }
  // tetherctl stat --routes reads the same.
  absl::StatusOr<std::string> stat = control()->Tetherctl(
      {"stat", "--proxy", absl::StrCat("127.0.0.1:", b_->admin_port()), "--routes", "--window",
       "0"});
  ASSERT_TRUE(stat.ok()) << stat.status();
  std::cerr << "tetherctl stat --routes:\n" << *stat;
  std::map<std::string, std::string> line_of;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    for (const char* route : {"GET /users/{id}", "GET /status/{id}", "POST /orders"}) {
      if (absl::StrContains(line, route)) line_of[route] = std::string(line);
    }
  }
  EXPECT_TRUE(absl::StrContains(line_of["GET /users/{id}"], "  2  ")) << *stat;
  EXPECT_TRUE(absl::StrContains(line_of["GET /users/{id}"], "100.0%")) << *stat;
  EXPECT_TRUE(absl::StrContains(line_of["GET /status/{id}"], "0.0%")) << *stat;
  EXPECT_TRUE(absl::StrContains(line_of["POST /orders"], SpiffeId("a"))) << *stat;
  // One edge: a -> b, read at both ends.
  const std::string both = absl::StrCat("127.0.0.1:", a_->admin_port(), ",127.0.0.1:", b_->admin_port());
  absl::StatusOr<std::string> edge = control()->Tetherctl(
      {"stat", "--proxy", both, "--routes", "--window", "0", "--from", "shop/a", "--to", SpiffeId("b")});
  ASSERT_TRUE(edge.ok()) << edge.status();
  EXPECT_TRUE(absl::StrContains(*edge, "outbound")) << *edge;
  EXPECT_TRUE(absl::StrContains(*edge, "inbound")) << *edge;
  absl::StatusOr<std::string> none = control()->Tetherctl(
      {"stat", "--proxy", both, "--routes", "--window", "0", "--from", "shop/b"});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(absl::StrContains(*none, "no HTTP edges match")) << *none;

  // The per-request access log: one line per request, both identities.
  std::ifstream in(access_log);
  int requests = 0, users = 0;
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("kind", "") != "request") continue;
    ++requests;
    EXPECT_EQ(j.value("client_identity", ""), SpiffeId("a")) << line;
    EXPECT_EQ(j.value("server_identity", ""), SpiffeId("b")) << line;
    EXPECT_EQ(j.value("direction", ""), "inbound") << line;
    if (j.value("route", "") == "GET /users/{id}") {
      ++users;
      EXPECT_EQ(j.value("status", 0), 200) << line;
      EXPECT_TRUE(j.value("path", "") == "/users/1" || j.value("path", "") == "/users/22" ||
                  j.value("path", "") == "/users/5")
          << line;
      EXPECT_GT(j.value("response_bytes", 0), 0) << line;
      EXPECT_GT(j.value("duration_ms", 0.0), 0.0) << line;
    }
  }
  EXPECT_EQ(requests, 7);
  EXPECT_EQ(users, 2);
  ExpectNoFailures();
}

TEST_F(HttpMetricsTest, TopShowsTheRequestsMadeWhileWatched) {
  HttpTestServer origin;
  Pair(origin.port());
  const std::string both =
      absl::StrCat("127.0.0.1:", a_->admin_port(), ",127.0.0.1:", b_->admin_port());
  // Nothing is recorded before someone watches.
  ASSERT_EQ(Curl({"/before"}), std::vector<std::string>{"200"});
  absl::StatusOr<std::string> first =
      control()->Tetherctl({"top", "--proxy", both, "--iterations", "1"});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(absl::StrContains(*first, "no HTTP requests yet")) << *first;
  ASSERT_EQ(Curl({"/users/1", "/users/1", "/status/503"}),
            (std::vector<std::string>{"200", "200", "503"}));
  absl::StatusOr<std::string> top = control()->Tetherctl(
      {"top", "--proxy", both, "--iterations", "2", "--interval", "100ms"});
  ASSERT_TRUE(top.ok()) << top.status();
  std::cerr << "tetherctl top:\n" << *top;
  std::map<std::string, std::string> line_of;
  for (absl::string_view line : absl::StrSplit(*top, '\n')) {
    if (!absl::StrContains(line, SpiffeId("a"))) continue;
    const std::string where = absl::StrContains(line, "inbound") ? "in" : "out";
    if (absl::StrContains(line, "/users/1")) line_of["users-" + where] = std::string(line);
    if (absl::StrContains(line, "/status/503")) line_of["status-" + where] = std::string(line);
  }
  // Each request at both ends of the edge a -> b.
  for (const char* where : {"in", "out"}) {
    const std::string users = line_of[absl::StrCat("users-", where)];
    EXPECT_TRUE(absl::StrContains(users, "  2  ")) << *top;
    EXPECT_TRUE(absl::StrContains(users, "100.0%")) << *top;
    EXPECT_TRUE(absl::StrContains(line_of[absl::StrCat("status-", where)], "0.0%")) << *top;
  }
  EXPECT_FALSE(absl::StrContains(*top, "/before")) << *top;
}

TEST_F(HttpMetricsTest, AnOpaquePortIsNeverParsed) {
  HttpTestServer origin;
  Pair(origin.port(), {absl::StrCat("--opaque-ports=", origin.port())});
  ASSERT_EQ(Curl({"/users/1"}), std::vector<std::string>{"200"});
  ASSERT_TRUE(WaitFor([&] {
    return Count(a_, "tether_proxy_http_responses_total", "outbound", "GET /users/{id}") == 1;
  }));
  auto m = b_->Scrape();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(SumMetric(*m, "tether_proxy_http_requests_total"), 0);
}

TEST_F(HttpMetricsTest, AServerFirstProtocolGetsItsGreetingAtOnce) {
  // A MySQL-style server: greets first, then echoes one line.
  const std::string greeting("\x4a\x00\x00\x00\x0a" "8.0.36-tether\x00", 19);
  LoopbackServer server([&](int fd) {
    (void)!write(fd, greeting.data(), greeting.size());
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) (void)!write(fd, buf, static_cast<size_t>(n));
    shutdown(fd, SHUT_WR);
    close(fd);
  });
  Pair(server.port());
  int fd = ConnectLoopback(a_->outbound_port());
  ASSERT_GE(fd, 0);
  const absl::Time start = absl::Now();
  const std::string got = ReadAll(fd, greeting.size());  // the server then waits
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(got, greeting);
  EXPECT_LT(waited, absl::Milliseconds(100)) << "the greeting took " << waited;
  std::cerr << "server-first greeting through the pair in " << waited << std::endl;
  ASSERT_EQ(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  char echo[64];
  EXPECT_EQ(read(fd, echo, sizeof(echo)), 18);
  close(fd);
  auto m = b_->Scrape();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(SumMetric(*m, "tether_proxy_http_requests_total"), 0);  // opaque: not HTTP
  ExpectNoFailures();
}

}  // namespace
}  // namespace tether::testing
