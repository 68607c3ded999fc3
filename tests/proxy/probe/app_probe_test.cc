// App probes run by the proxy, against real listeners on loopback: what the
// kubelet is told for an app that answers, fails, refuses or stays silent.
#include "proxy/probe/app_probe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

using ::testing::HasSubstr;

// A port nobody listens on: bound, then closed.
uint16_t ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class AppProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_.Handle("GET", "/healthz", [this](const http::HttpRequest& r) {
      last_header_ = std::string(r.Header("X-Probe").value_or(""));
      return http::HttpResponse::Text("fine\n");
    });
    app_.Handle("GET", "/moved", [](const http::HttpRequest&) {
      http::HttpResponse r = http::HttpResponse::Text("", 302);
      r.headers.emplace_back("Location", "/healthz");
      return r;
    });
    app_.Handle("GET", "/broken", [](const http::HttpRequest&) {
      return http::HttpResponse::Text("no database\n", 500);
    });
    absl::StatusOr<int> port = app_.Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    app_port_ = static_cast<uint16_t>(*port);
  }

  AppProbe Http(const std::string& path) {
    AppProbe p;
    p.port = app_port_;
    p.path = path;
    return p;
  }

  http::AdminServer app_;
  uint16_t app_port_ = 0;
  std::string last_header_;
};

TEST_F(AppProbeTest, HttpStatusesAsTheKubeletJudgesThem) {
  AppProbe ok = Http("/healthz");
  ok.headers = {{"X-Probe", "liveness"}};
  http::HttpResponse r = RunAppProbe(ok, "127.0.0.1");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(last_header_, "liveness");
  EXPECT_EQ(RunAppProbe(Http("/moved"), "127.0.0.1").status, 200);  // 3xx passes
  r = RunAppProbe(Http("/broken"), "127.0.0.1");
  EXPECT_EQ(r.status, 500);  // the app's own status, for the kubelet's event
  EXPECT_THAT(r.body, HasSubstr("/broken: 500"));
  EXPECT_EQ(RunAppProbe(Http("/nope"), "127.0.0.1").status, 404);
}

TEST_F(AppProbeTest, RefusedOrSilentAppsFailWithinTheTimeout) {
  AppProbe refused = Http("/healthz");
  refused.port = ClosedPort();
  http::HttpResponse r = RunAppProbe(refused, "127.0.0.1");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("cannot connect"));

  // A listener that never answers: the connection opens, no response comes.
  int silent = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(silent, 8), 0);
  socklen_t len = sizeof(a);
  getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
  AppProbe hung = Http("/healthz");
  hung.port = ntohs(a.sin_port);
  r = RunAppProbe(hung, "127.0.0.1");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("timed out"));

  // TCP probes: an open port passes (even a silent one), a closed one fails.
  AppProbe tcp;
  tcp.kind = AppProbe::Kind::kTcpSocket;
  tcp.port = hung.port;
  EXPECT_EQ(RunAppProbe(tcp, "127.0.0.1").status, 200);
  tcp.port = refused.port;
  EXPECT_EQ(RunAppProbe(tcp, "127.0.0.1").status, 503);
  close(silent);
}

TEST_F(AppProbeTest, TheHealthListenerServesEachProbeByPath) {
  absl::StatusOr<AppProbes> probes = ParseAppProbes(absl::StrCat(
      R"({"/app-health/web/livez": {"httpGet": {"path": "/healthz", "port": )", app_port_,
      R"(, "scheme": "HTTP", "httpHeaders": [{"name": "X-Probe", "value": "l"}]}},
          "/app-health/web/readyz": {"httpGet": {"path": "/broken", "port": )",
      app_port_, R"(}, "timeoutSeconds": 2}})"));
  ASSERT_TRUE(probes.ok()) << probes.status();
  EXPECT_EQ(probes->at("/app-health/web/readyz").timeout, absl::Seconds(2));
  http::AdminServerOptions opts;
  opts.allow_remote = true;
  http::AdminServer health(opts);
  RegisterAppProbeEndpoints(health, *probes, "127.0.0.1");
  absl::StatusOr<int> port = health.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok());
  const std::string at = absl::StrCat("127.0.0.1:", *port);
  absl::StatusOr<http::HttpResult> live = http::Get(at, "/app-health/web/livez");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(last_header_, "l");
  absl::StatusOr<http::HttpResult> ready = http::Get(at, "/app-health/web/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 500);
  absl::StatusOr<http::HttpResult> other = http::Get(at, "/app-health/db/livez");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 404);
}

TEST(ParseAppProbesTest, BadInputIsAClearError) {
  EXPECT_TRUE(ParseAppProbes("")->empty());
  struct Case {
    const char* json;
    const char* says;
  } cases[] = {
      {"not json", "JSON object"},
      {"[]", "JSON object"},
      {R"({"/ready": {"tcpSocket": {"port": 1}}})", "must start with /app-health/"},
      {R"({"/app-health/": {"tcpSocket": {"port": 1}}})", "must start with /app-health/"},
      {R"({"/app-health/a/livez": {"tcpSocket": {"port": 0}}})", "not 1..65535"},
      {R"({"/app-health/a/livez": {"tcpSocket": {"port": "http"}}})", "port must be a number"},
      {R"({"/app-health/a/livez": {}})", "exactly one of"},
      {R"({"/app-health/a/livez": {"httpGet": {"port": 1}, "tcpSocket": {"port": 1}}})",
       "exactly one of"},
      {R"({"/app-health/a/livez": {"httpGet": {"port": 1, "scheme": "HTTPS"}}})", "HTTP"},
      {R"({"/app-health/a/livez": {"httpGet": {"port": 1, "path": "/a b"}}})", "spaces"},
      {R"({"/app-health/a/livez": {"httpGet": {"port": 1, "httpHeaders":
          [{"name": "X", "value": "a\r\nInjected: 1"}]}}})",
       "malformed"},
      {R"({"/app-health/a/livez": {"tcpSocket": {"port": 1}, "timeoutSeconds": 0}})",
       "timeoutSeconds"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<AppProbes> r = ParseAppProbes(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.says)) << c.json;
    EXPECT_THAT(r.status().message(), HasSubstr("--app-probes"));
  }
}

}  // namespace
}  // namespace tether::proxy
