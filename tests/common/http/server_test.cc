#include "common/http/server.h"

#include <atomic>
#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "common/sync/notification.h"

namespace tether::http {
namespace {

constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Client is a blocking test client. Every read gives up after 10 s, so a
// broken server fails the test instead of hanging it.
class Client {
 public:
  explicit Client(int port, int family = AF_INET) {
    fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv = {10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_storage addr = {};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      in->sin_family = AF_INET;
      in->sin_port = htons(static_cast<uint16_t>(port));
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(*in);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<uint16_t>(port));
      in6->sin6_addr = in6addr_loopback;
      len = sizeof(*in6);
    }
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool Send(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // ReadResponse reads one response framed by Content-Length.
  std::optional<RawResponse> ReadResponse() {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse r;
    std::vector<absl::string_view> lines =
        absl::StrSplit(absl::string_view(buffer_).substr(0, end), "\r\n");
    std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], ' ');
    if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &r.status)) {
      return std::nullopt;
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) return std::nullopt;
      r.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string{absl::StripAsciiWhitespace(lines[i].substr(colon + 1))};
    }
    buffer_.erase(0, end + 4);
    size_t length = 0;
    if (r.headers.count("content-length") != 0 && !head_) {
      if (!absl::SimpleAtoi(r.headers["content-length"], &length)) return std::nullopt;
    }
    while (buffer_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // Get sends a GET for `target` and reads the response.
  std::optional<RawResponse> Get(absl::string_view target, absl::string_view headers = "") {
    if (!Send(absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: test\r\n", headers, "\r\n"))) {
      return std::nullopt;
    }
    return ReadResponse();
  }

  // WaitForClose reads (and drops) until the server closes the connection.
  // False if the server kept it open for the whole read timeout.
  bool WaitForClose() {
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

  void ExpectHeadResponses(bool head) { head_ = head; }
  int fd() const { return fd_; }

 private:
  bool Fill() {
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool head_ = false;
  std::string buffer_;
};

AdminServerOptions QuietOptions() {
  AdminServerOptions options;
  options.log = [](absl::string_view) {};
  return options;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void StartServer(AdminServerOptions options = QuietOptions()) {
    server_ = std::make_unique<AdminServer>(std::move(options));
    server_->Handle("GET", "/hello", [](const HttpRequest&) { return HttpResponse::Text("hi\n"); });
    server_->Handle("GET", "/echo", [](const HttpRequest& request) {
      return HttpResponse::Json(
          absl::StrCat(R"({"name":")", request.QueryParam("name").value_or("?"), R"("})"));
    });
    server_->Handle("POST", "/echo", [](const HttpRequest& request) {
      HttpResponse response = HttpResponse::Text(request.body);
      response.headers.emplace_back("X-Method", request.method);
      return response;
    });
    absl::StatusOr<int> port = server_->Start("127.0.0.1:0");
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }

  std::unique_ptr<AdminServer> server_;
  int port_ = 0;
};

TEST_F(AdminServerTest, GetWorks) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.connected());
  const std::optional<RawResponse> r = client.Get("/hello");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi\n");
  EXPECT_EQ(r->headers.at("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r->headers.at("content-length"), "3");
  EXPECT_EQ(r->headers.at("connection"), "keep-alive");
}

TEST_F(AdminServerTest, QueryAndJson) {
  StartServer();
  Client client(port_);
  const std::optional<RawResponse> r = client.Get("/echo?name=proxy%201");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("content-type"), "application/json");
  EXPECT_EQ(r->body, R"({"name":"proxy 1"})");
}

TEST_F(AdminServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  Client client(port_);
  std::optional<RawResponse> r = client.Get("/hello");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  r = client.Get("/echo?name=second");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, R"({"name":"second"})");
}

TEST_F(AdminServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send(
      "GET /echo?name=1 HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
      "GET /echo?name=3 HTTP/1.1\r\n\r\n"));
  std::optional<RawResponse> r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, R"({"name":"1"})");
  r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "body");
  EXPECT_EQ(r->headers.at("x-method"), "POST");
  r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, R"({"name":"3"})");
}

TEST_F(AdminServerTest, UnknownPathIs404AndWrongMethodIs405) {
  StartServer();
  Client client(port_);
  std::optional<RawResponse> r = client.Get("/nope");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);

  ASSERT_TRUE(client.Send("DELETE /hello HTTP/1.1\r\n\r\n"));
  r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers.at("allow"), "GET, HEAD");

  ASSERT_TRUE(client.Send("PUT /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
  r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers.at("allow"), "GET, HEAD, POST");

  // The connection survives all of these.
  r = client.Get("/hello");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_F(AdminServerTest, HeadAnswersWithoutBody) {
  StartServer();
  Client client(port_);
  client.ExpectHeadResponses(true);
  ASSERT_TRUE(client.Send("HEAD /hello HTTP/1.1\r\n\r\n"));
  std::optional<RawResponse> r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("content-length"), "3");
  client.ExpectHeadResponses(false);
  r = client.Get("/hello");  // nothing of the HEAD's body was left in the stream
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "hi\n");
}

TEST_F(AdminServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  Client client(port_);
  const std::optional<RawResponse> r = client.Get("/hello", "Connection: close\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.at("connection"), "close");
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(AdminServerTest, Http10ClosesUnlessKeepAlive) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send("GET /hello HTTP/1.0\r\n\r\n"));
  const std::optional<RawResponse> r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->headers.at("connection"), "close");
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(AdminServerTest, MalformedRequestGetsErrorThenClose) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"));
  std::optional<RawResponse> r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->headers.at("connection"), "close");
  EXPECT_TRUE(client.WaitForClose());

  Client chunked(port_);
  ASSERT_TRUE(chunked.Send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  r = chunked.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 501);
  EXPECT_TRUE(chunked.WaitForClose());
}

TEST_F(AdminServerTest, BodyOverLimitIs413) {
  AdminServerOptions options = QuietOptions();
  options.limits.max_body = 8;
  StartServer(options);
  Client client(port_);
  ASSERT_TRUE(client.Send("POST /echo HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789"));
  const std::optional<RawResponse> r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(AdminServerTest, ExpectContinue) {
  StartServer();
  Client client(port_);
  ASSERT_TRUE(
      client.Send("POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::optional<RawResponse> r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 100);
  ASSERT_TRUE(client.Send("hello"));
  r = client.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
}

TEST_F(AdminServerTest, SlowClientIsClosedAfterReadTimeout) {
  AdminServerOptions options = QuietOptions();
  options.read_timeout = absl::Milliseconds(200);
  StartServer(options);

  Client slow(port_);
  ASSERT_TRUE(slow.Send("GET /hello HT"));  // and never the rest
  EXPECT_TRUE(slow.WaitForClose());

  Client idle(port_);  // nothing at all
  EXPECT_TRUE(idle.WaitForClose());

  Client kept_alive(port_);  // one request, then idle
  ASSERT_TRUE(kept_alive.Get("/hello").has_value());
  EXPECT_TRUE(kept_alive.WaitForClose());
}

TEST_F(AdminServerTest, StopWithConnectionOpenReturnsPromptly) {
  AdminServerOptions options = QuietOptions();
  options.read_timeout = absl::Seconds(60);  // Stop() must not wait for it
  StartServer(options);
  Client idle(port_);
  ASSERT_TRUE(idle.Get("/hello").has_value());  // its thread is now waiting for more
  Client partial(port_);
  ASSERT_TRUE(partial.Send("GET /hel"));

  const absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(idle.WaitForClose());
  EXPECT_TRUE(partial.WaitForClose());
  server_->Stop();  // idempotent
  Client refused(port_);
  EXPECT_FALSE(refused.connected());
}

TEST_F(AdminServerTest, OverTheConnectionCapIs503) {
  AdminServerOptions options = QuietOptions();
  options.max_connections = 1;
  StartServer(options);
  Client first(port_);
  ASSERT_TRUE(first.Get("/hello").has_value());  // accepted and being served

  Client second(port_);
  std::optional<RawResponse> r = second.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(second.WaitForClose());

  r = first.Get("/hello");  // the first is still served
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_F(AdminServerTest, Http2PrefaceIsHandedOff) {
  Notification handed_off;
  std::atomic<int> handed_fd{-1};
  server_ = std::make_unique<AdminServer>(QuietOptions());
  server_->Handle("GET", "/hello", [](const HttpRequest&) { return HttpResponse::Text("hi\n"); });
  server_->SetHttp2Handoff([&](int fd) {
    handed_fd = fd;
    handed_off.Notify();
  });
  absl::StatusOr<int> port = server_->Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();

  // The preface arrives in two pieces; the server waits for all of it.
  Client client(*port);
  ASSERT_TRUE(client.Send(kPreface.substr(0, 10)));
  ASSERT_TRUE(client.Send(absl::StrCat(kPreface.substr(10), "FRAMES")));
  ASSERT_TRUE(handed_off.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const int fd = handed_fd;
  ASSERT_GE(fd, 0);

  // Nothing was consumed: the new owner reads the preface itself.
  std::string got;
  char buf[64];
  timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while (got.size() < kPreface.size() + 6) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, absl::StrCat(kPreface, "FRAMES"));

  // And it is the client's connection.
  ASSERT_EQ(send(fd, "pong", 4, MSG_NOSIGNAL), 4);
  ASSERT_EQ(recv(client.fd(), buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(absl::string_view(buf, 4), "pong");
  close(fd);
  EXPECT_TRUE(client.WaitForClose());

  // HTTP/1.1 still works on the same port, even a request shorter than the preface.
  Client http1(*port);
  ASSERT_TRUE(http1.Send("GET /hello HTTP/1.0\r\n\r\n"));
  const std::optional<RawResponse> r = http1.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "hi\n");

  // A request that starts like the preface but is not HTTP/2 is refused.
  Client pri(*port);
  ASSERT_TRUE(pri.Send("PRI / HTTP/1.1\r\n\r\n"));
  const std::optional<RawResponse> bad = pri.ReadResponse();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 404);
}

TEST(AdminServer, PartialHttp2PrefaceTimesOutWithoutHandoff) {
  AdminServerOptions options = QuietOptions();
  options.read_timeout = absl::Milliseconds(200);
  AdminServer server(options);
  std::atomic<bool> handed_off{false};
  server.SetHttp2Handoff([&](int fd) {
    handed_off = true;
    close(fd);
  });
  absl::StatusOr<int> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  Client client(*port);
  ASSERT_TRUE(client.Send(kPreface.substr(0, 16)));  // "PRI * HTTP/2.0\r\n", then nothing
  EXPECT_TRUE(client.WaitForClose());
  server.Stop();
  EXPECT_FALSE(handed_off);
}

TEST(AdminServer, ListensOnIpv6Loopback) {
  AdminServer server(QuietOptions());
  server.Handle("GET", "/ready", [](const HttpRequest&) { return HttpResponse::Text("ready\n"); });
  absl::StatusOr<int> port = server.Start("[::1]:0");
  if (!port.ok() && absl::IsUnavailable(port.status())) {
    GTEST_SKIP() << "no IPv6 loopback here: " << port.status();
  }
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_GT(*port, 0);
  Client client(*port, AF_INET6);
  ASSERT_TRUE(client.connected());
  const std::optional<RawResponse> r = client.Get("/ready");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "ready\n");
}

sockaddr_storage V4(const char* ip) {
  sockaddr_storage addr = {};
  auto* in = reinterpret_cast<sockaddr_in*>(&addr);
  in->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, ip, &in->sin_addr), 1) << ip;
  return addr;
}

sockaddr_storage V6(const char* ip) {
  sockaddr_storage addr = {};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
  in6->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1) << ip;
  return addr;
}

TEST(IsLoopbackPeer, OnlyLoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackPeer(V4("127.0.0.1")));
  EXPECT_TRUE(IsLoopbackPeer(V4("127.255.0.9")));
  EXPECT_TRUE(IsLoopbackPeer(V6("::1")));
  EXPECT_TRUE(IsLoopbackPeer(V6("::ffff:127.0.0.1")));
  EXPECT_FALSE(IsLoopbackPeer(V4("10.0.0.1")));
  EXPECT_FALSE(IsLoopbackPeer(V4("128.0.0.1")));
  EXPECT_FALSE(IsLoopbackPeer(V4("0.0.0.0")));
  EXPECT_FALSE(IsLoopbackPeer(V6("::")));
  EXPECT_FALSE(IsLoopbackPeer(V6("::2")));
  EXPECT_FALSE(IsLoopbackPeer(V6("fe80::1")));
  EXPECT_FALSE(IsLoopbackPeer(V6("::ffff:10.0.0.1")));
  sockaddr_storage unix_addr = {};
  unix_addr.ss_family = AF_UNIX;
  EXPECT_FALSE(IsLoopbackPeer(unix_addr));
}

// A dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1, and serves it.
TEST(AdminServer, DualStackListenerServesMappedLoopback) {
  std::vector<std::string> log;
  Mutex mu;
  AdminServerOptions options;
  options.log = [&](absl::string_view line) {
    MutexLock lock(&mu);
    log.emplace_back(line);
  };
  AdminServer server(options);
  server.Handle("GET", "/ready", [](const HttpRequest&) { return HttpResponse::Text("ready\n"); });
  absl::StatusOr<int> port = server.Start("[::]:0");
  if (!port.ok() && absl::IsUnavailable(port.status())) {
    GTEST_SKIP() << "no IPv6 here: " << port.status();
  }
  ASSERT_TRUE(port.ok()) << port.status();
  Client client(*port, AF_INET);
  ASSERT_TRUE(client.connected());
  const std::optional<RawResponse> r = client.Get("/ready");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  server.Stop();
  MutexLock lock(&mu);
  EXPECT_TRUE(log.empty());
}

TEST(AdminServer, StartRejectsBadAddresses) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]80",
                          "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http", "[::1]:+1"}) {
    AdminServer server(QuietOptions());
    EXPECT_FALSE(server.Start(bad).ok()) << bad;
  }
}

TEST(AdminServer, StartTwiceAndPortInUseFail) {
  AdminServer server(QuietOptions());
  absl::StatusOr<int> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(server.Start("127.0.0.1:0").status().code(), absl::StatusCode::kFailedPrecondition);
  AdminServer other(QuietOptions());
  EXPECT_FALSE(other.Start(absl::StrCat("127.0.0.1:", *port)).ok());
}

TEST(AdminServer, StopWithoutStartAndDestructorAreSafe) {
  AdminServer never_started(QuietOptions());
  never_started.Stop();
  AdminServer started(QuietOptions());
  ASSERT_TRUE(started.Start("127.0.0.1:0").ok());
  // The destructor stops it.
}

}  // namespace
}  // namespace tether::http
