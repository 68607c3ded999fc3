// Http1Forwarder on real sockets: the app is one end of a socketpair, the
// upstream a real HTTP server on loopback (plain TCP here; TLS is the
// worker's business and is covered by the integration test).
#include "proxy/http/http1_forwarder.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/sync/notification.h"
#include "gtest/gtest.h"
#include "proxy/http/upstream_pool.h"
#include "proxy/net/plain_transport.h"
#include "proxy/net/socket.h"
#include "tests/testing/http_test_server.h"

namespace tether::proxy {
namespace {

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

// ReadResponse reads one response with a Content-Length body (or none).
bool ReadResponse(int fd, std::string& in, Response* out) {
  char buf[16384];
  size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
  out->head = in.substr(0, end + 4);
  if (!absl::SimpleAtoi(out->head.substr(9, 3), &out->status)) return false;
  size_t length = 0;
  const size_t cl = absl::AsciiStrToLower(out->head).find("content-length:");
  if (cl != std::string::npos) {
    const size_t eol = out->head.find("\r\n", cl);
    (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(out->head.substr(cl + 15, eol - cl - 15)),
                           &length);
  }
  while (in.size() < end + 4 + length) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
  }
  out->body = in.substr(end + 4, length);
  in.erase(0, end + 4 + length);
  return true;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(w, 0);
    off += static_cast<size_t>(w);
  }
}

class ForwarderTest : public ::testing::Test {
 protected:
  ForwarderTest() : dispatcher_(Dispatcher::Create()) {}
  ~ForwarderTest() override {
    if (app_ >= 0) close(app_);
    Notification gone;
    dispatcher_->Post([this, &gone] {
      forwarder_.reset();
      earlier_.clear();
      pool_.reset();
      gone.Notify();
    });
    if (loop_.joinable()) {
      gone.WaitForNotification();
      dispatcher_->Exit();
      loop_.join();
    }
  }

  // Start runs a forwarder for requests under `policy`, to `port`.
  void Start(policy::TrafficPolicy policy, int port, bool pooled = false) {
    policy_ = std::move(policy);
    budget_ = std::make_unique<RetryBudget>(policy_.budget);
    port_ = port;
    pooled_ = pooled;
    loop_ = std::thread([this] { dispatcher_->Run(); });
    NewApp();
  }

  // NewApp starts a forwarder for a new app connection (app_); the one
  // before stays until the test ends.
  void NewApp() {
    const int port = port_;
    if (app_ >= 0) close(app_);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    app_ = sv[0];
    timeval tv{5, 0};
    setsockopt(app_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SetNonBlocking(sv[1]);
    Notification started;
    dispatcher_->Post([this, fd = sv[1], port, &started] {
      Http1Forwarder::Options o;
      o.dial = [this, port](
                   const Http1Forwarder::Target& target) -> absl::StatusOr<Http1Forwarder::Dialed> {
        ++dials_;
        bool connecting = false;
        absl::StatusOr<SocketAddress> addr =
            balanced_.empty() ? SocketAddress::Parse(absl::StrCat("127.0.0.1:", port))
                              : absl::StatusOr<SocketAddress>(target.address);
        if (!addr.ok()) return addr.status();
        absl::StatusOr<UniqueFd> up = ConnectNonBlocking(*addr, &connecting);
        if (!up.ok()) return up.status();
        return Http1Forwarder::Dialed{std::make_unique<PlainTransport>(std::move(*up)), connecting};
      };
      o.behaviour = [this](absl::string_view method, absl::string_view path) {
        return policy::TrafficTable::Behaviour(policy_, 0, method, path);
      };
      o.budget = [this](const policy::RequestBehaviour&) { return budget_.get(); };
      o.clock = RealClock::Default();
      o.on_retry = [this](absl::string_view) { ++retries_; };
      o.on_budget_exhausted = [this] { ++exhausted_; };
      o.retry_backoff = absl::Milliseconds(1);
      if (pooled_) {
        if (pool_ == nullptr)
          pool_ = std::make_unique<UpstreamPool>(*dispatcher_, UpstreamPool::Options{});
        o.take_idle = [this](const Http1Forwarder::Target& t) {
          return pool_->Take(t.address.ToString());
        };
        o.give_back = [this](const Http1Forwarder::Target& target, std::unique_ptr<Transport> t) {
          pool_->Give(target.address.ToString(), std::move(t));
        };
      }
      if (!balanced_.empty()) {
        // Round robin, so that the test knows where each attempt goes.
        o.pick = [this] {
          const int to = balanced_[picks_++ % balanced_.size()];
          return Http1Forwarder::Target{*SocketAddress::Parse(absl::StrCat("127.0.0.1:", to))};
        };
        o.attempt_done = [this](const Http1Forwarder::Target&,
                                Http1Forwarder::AttemptOutcome outcome,
                                absl::Duration) { ++done_[static_cast<int>(outcome)]; };
      }
      if (forwarder_) earlier_.push_back(std::move(forwarder_));
      forwarder_ = std::make_unique<Http1Forwarder>(*dispatcher_,
                                                    std::make_unique<PlainTransport>(UniqueFd(fd)),
                                                    std::move(o), [this](const RelayStats& s) {
                                                      outcome_ = s.outcome;
                                                      if (!closed_.HasBeenNotified())
                                                        closed_.Notify();
                                                    });
      forwarder_->Start();
      started.Notify();
    });
    started.WaitForNotification();
  }

  Response Get(const std::string& request) {
    WriteAll(app_, request);
    Response r;
    EXPECT_TRUE(ReadResponse(app_, in_, &r)) << "no response to " << request;
    return r;
  }

  static void SetNonBlocking(int fd);

  // The origin outlives the forwarder (whose upstream it serves).
  testing::HttpTestServer server_;
  testing::HttpTestServer other_;  // a second endpoint, for load balancing
  std::unique_ptr<Dispatcher> dispatcher_;
  std::thread loop_;
  policy::TrafficPolicy policy_;
  std::unique_ptr<RetryBudget> budget_;
  std::unique_ptr<UpstreamPool> pool_;
  std::vector<std::unique_ptr<Http1Forwarder>> earlier_;
  std::unique_ptr<Http1Forwarder> forwarder_;
  int port_ = 0;
  bool pooled_ = false;
  int app_ = -1;
  std::string in_;
  std::vector<int> balanced_;  // ports `pick` goes round; empty: no pick
  std::atomic<int> picks_{0};
  std::atomic<int> done_[4] = {0, 0, 0, 0};  // by AttemptOutcome
  std::atomic<int> dials_{0};
  std::atomic<int> retries_{0};
  std::atomic<int> exhausted_{0};
  Notification closed_;
  RelayOutcome outcome_ = RelayOutcome::kOk;
};

void ForwarderTest::SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

policy::TrafficPolicy RetryingPolicy(int attempts) {
  policy::TrafficPolicy p;
  p.name = "cart";
  p.namespace_name = "shop";
  p.service_account = "cart";
  p.behaviour.retry.attempts = attempts;
  p.behaviour.retry.on.status_5xx = true;
  p.behaviour.retry.on.connect_failure = true;
  return p;
}

TEST_F(ForwarderTest, KeepAliveRequestsShareOneUpstreamConnection) {
  testing::HttpTestServer& server = server_;
  Start(policy::TrafficPolicy(), server.port());
  for (int i = 0; i < 5; ++i) {
    Response r = Get(absl::StrCat("GET /items/", i, " HTTP/1.1\r\nHost: cart\r\n\r\n"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, absl::StrCat("ok GET /items/", i, "\n"));
  }
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests(), 5);
  EXPECT_EQ(dials_.load(), 1);
}

TEST_F(ForwarderTest, AConnectionPerRequestAppReusesOnePooledUpstream) {
  testing::HttpTestServer& server = server_;
  Start(policy::TrafficPolicy(), server.port(), /*pooled=*/true);
  for (int i = 0; i < 5; ++i) {
    if (i > 0) NewApp();
    Response r =
        Get(absl::StrCat("GET /c/", i, " HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(r.status, 200);
    char c;
    EXPECT_EQ(read(app_, &c, 1), 0);  // closed after the answer, as asked
    closed_.WaitForNotification();
  }
  EXPECT_EQ(server.requests(), 5);
  EXPECT_EQ(server.connections(), 1);  // one upstream for all five
  EXPECT_EQ(dials_.load(), 1);
}

TEST_F(ForwarderTest, PostWithBodyAndHeadPassThrough) {
  testing::HttpTestServer& server = server_;
  Start(policy::TrafficPolicy(), server.port());
  Response r = Get("POST /orders HTTP/1.1\r\nHost: cart\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok POST /orders\n");
  // HEAD: a Content-Length and no body; the next request still parses.
  WriteAll(app_, "HEAD /x HTTP/1.1\r\nHost: cart\r\n\r\n");
  char buf[512];
  ssize_t n = read(app_, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  std::string head(buf, static_cast<size_t>(n));
  EXPECT_TRUE(absl::StartsWith(head, "HTTP/1.1 200")) << head;
  EXPECT_TRUE(absl::EndsWith(head, "\r\n\r\n")) << head;
  EXPECT_EQ(Get("GET /after HTTP/1.1\r\nHost: cart\r\n\r\n").body, "ok GET /after\n");
}

TEST_F(ForwarderTest, ConnectionCloseFromTheAppIsNotSentUpstream) {
  testing::HttpTestServer& server = server_;
  Start(policy::TrafficPolicy(), server.port());
  Response r = Get("GET /a HTTP/1.1\r\nHost: cart\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.head, "Connection: close")) << r.head;
  char c;
  EXPECT_EQ(read(app_, &c, 1), 0);  // the app's connection ends after the answer
  closed_.WaitForNotification();
  EXPECT_EQ(outcome_, RelayOutcome::kOk);
}

TEST_F(ForwarderTest, EachRequestOfAKeptAliveConnectionGoesWherePickSays) {
  testing::HttpTestServer& other = other_;
  balanced_ = {server_.port(), other.port()};
  Start(policy::TrafficPolicy(), 0, /*pooled=*/true);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Get("GET /ok HTTP/1.1\r\nHost: cart\r\n\r\n").status, 200) << i;
  }
  EXPECT_EQ(server_.requests(), 5);
  EXPECT_EQ(other.requests(), 5);
  // Switching endpoints gives the other's connection back to the pool:
  // one connection to each.
  EXPECT_EQ(server_.connections(), 1);
  EXPECT_EQ(other.connections(), 1);
  EXPECT_EQ(picks_.load(), 10);
  EXPECT_EQ(done_[0].load(), 10);  // kSuccess, each pick reported once
  EXPECT_EQ(done_[1].load() + done_[2].load() + done_[3].load(), 0);
}

TEST_F(ForwarderTest, ARetryAfterAConnectFailurePicksAgain) {
  int dead;
  {
    testing::HttpTestServer gone;
    dead = gone.port();
  }
  balanced_ = {dead, server_.port()};
  Start(policy::TrafficPolicy(), 0);  // no retries by policy: never sent, so tried elsewhere
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Get("GET /ok HTTP/1.1\r\nHost: cart\r\n\r\n").status, 200) << i;
  }
  EXPECT_EQ(server_.requests(), 4);
  // Round robin: each request's first pick is the dead endpoint (reported
  // kUnreachable), its second the live one.
  EXPECT_EQ(done_[2].load(), 4);
  EXPECT_EQ(done_[0].load(), 4);
  EXPECT_EQ(retries_.load(), 4);
  EXPECT_EQ(picks_.load(), 8);
}

TEST_F(ForwarderTest, TimeoutAnswers504AtTheConfiguredTime) {
  testing::HttpTestServer& server = server_;
  policy::TrafficPolicy p;
  p.behaviour.timeout = absl::Milliseconds(200);
  Start(p, server.port());
  const absl::Time start = absl::Now();
  Response r = Get("GET /slow/1000 HTTP/1.1\r\nHost: cart\r\n\r\n");
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status, 504);
  EXPECT_TRUE(absl::StrContains(r.head, "x-tether-error: request_timeout")) << r.head;
  EXPECT_GE(took, absl::Milliseconds(195));
  EXPECT_LT(took, absl::Milliseconds(1000));
  // The connection goes on: the request was read whole.
  EXPECT_EQ(Get("GET /next HTTP/1.1\r\nHost: cart\r\n\r\n").status, 200);
}

TEST_F(ForwarderTest, RetriesRecoverFromABackendFailingOneInTwo) {
  testing::HttpTestServer& server = server_;
  Start(RetryingPolicy(2), server.port());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Get("GET /flaky HTTP/1.1\r\nHost: cart\r\n\r\n").status, 200) << i;
  }
  EXPECT_EQ(retries_.load(), 10);
  EXPECT_EQ(server.requests(), 20);
  // Each 503 was read to its end and its connection carried the retry.
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(ForwarderTest, RetriesStopAtTheBudgetWhenEverythingFails) {
  testing::HttpTestServer& server = server_;
  policy::TrafficPolicy p = RetryingPolicy(3);
  p.budget.ratio = 0.2;
  p.budget.min_per_second = 0;
  p.budget.ttl = absl::Seconds(10);
  Start(p, server.port());
  int failed = 0;
  for (int i = 0; i < 50; ++i) {
    if (Get("GET /status/503 HTTP/1.1\r\nHost: cart\r\n\r\n").status == 503) ++failed;
  }
  EXPECT_EQ(failed, 50);
  // 20% of 50 requests: 10 retries, not the 150 that attempts alone allow.
  EXPECT_EQ(retries_.load(), 10);
  EXPECT_EQ(server.requests(), 60);
  EXPECT_GT(exhausted_.load(), 0);
}

TEST_F(ForwarderTest, NonIdempotentRequestsAreNotRetried) {
  testing::HttpTestServer& server = server_;
  Start(RetryingPolicy(2), server.port());
  EXPECT_EQ(Get("POST /status/503 HTTP/1.1\r\nHost: cart\r\nContent-Length: 1\r\n\r\nx").status,
            503);
  EXPECT_EQ(retries_.load(), 0);
}

TEST_F(ForwarderTest, BodiesOver64KiBAreNotRetried) {
  testing::HttpTestServer& server = server_;
  Start(RetryingPolicy(2), server.port());
  const std::string body(policy::kMaxRetryBodyBytes + 1, 'b');
  Response r = Get(absl::StrCat(
      "PUT /status/503 HTTP/1.1\r\nHost: cart\r\nContent-Length: ", body.size(), "\r\n\r\n", body));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(retries_.load(), 0);
  // A small PUT is retried.
  Get("PUT /status/503 HTTP/1.1\r\nHost: cart\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_EQ(retries_.load(), 2);
}

TEST_F(ForwarderTest, ConnectFailureAnswers502) {
  int port;
  {
    testing::HttpTestServer gone;
    port = gone.port();
  }
  Start(RetryingPolicy(1), port);
  Response r = Get("GET / HTTP/1.1\r\nHost: cart\r\n\r\n");
  EXPECT_EQ(r.status, 502);
  EXPECT_TRUE(absl::StrContains(r.head, "x-tether-error: connect_failed")) << r.head;
  EXPECT_EQ(retries_.load(), 1);  // connect-failure is retried once, then answered
}

TEST_F(ForwarderTest, GarbageGetsA400AndTheConnectionCloses) {
  testing::HttpTestServer& server = server_;
  Start(policy::TrafficPolicy(), server.port());
  Response r = Get("\x16\x03\x01 not http\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.head, "x-tether-error: bad_request")) << r.head;
  char c;
  EXPECT_EQ(read(app_, &c, 1), 0);
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(ForwarderTest, AStaleKeptAliveConnectionIsRetriedFresh) {
  // The server closes after each answer, without saying so.
  std::atomic<int> served{0};
  testing::LoopbackServer server([&](int fd) {
    char buf[4096];
    std::string in;
    while (in.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    ++served;
    const std::string out = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    (void)!write(fd, out.data(), out.size());
    close(fd);
  });
  Start(policy::TrafficPolicy(), server.port());
  EXPECT_EQ(Get("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
  EXPECT_EQ(Get("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
  EXPECT_EQ(served.load(), 2);
}

}  // namespace
}  // namespace tether::proxy
