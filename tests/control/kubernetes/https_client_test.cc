#include "control/kubernetes/https_client.h"

#include <atomic>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/sync/notification.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using tether::testing::ChunkedHttpResponse;
using tether::testing::FakeHttpsServer;
using tether::testing::HttpResponse;
using tether::testing::MakeServerCert;
using tether::testing::MakeTestCa;
using tether::testing::RecordedRequest;
using tether::testing::ReservedPort;
using tether::testing::TestCa;
using tether::testing::TestCert;

constexpr absl::Duration kTimeout = absl::Seconds(20);  // generous: only failures wait for it

class HttpsClientTest : public ::testing::Test {
 protected:
  HttpsClientTest()
      : ca_(MakeTestCa("test cluster CA")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")) {}

  HttpsTarget Target(const FakeHttpsServer& server, std::string server_name = "") const {
    HttpsTarget t;
    t.host = "127.0.0.1";
    t.port = server.port();
    t.ca_pem = ca_.cert_pem;
    t.server_name = std::move(server_name);
    return t;
  }

  TestCa ca_;
  TestCert cert_;
};

TEST_F(HttpsClientTest, PostsTheRequestAndReadsTheResponse) {
  FakeHttpsServer server(
      cert_, [](const RecordedRequest&) { return HttpResponse(201, R"({"kind":"TokenReview"})"); });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/apis/x/v1/things",
                                      {{"Authorization", "Bearer abc"}}, R"({"a":1})", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"kind":"TokenReview"})");
  ASSERT_NE(r->Header("audit-id"), nullptr);

  ASSERT_EQ(server.requests().size(), 1u);
  RecordedRequest req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/apis/x/v1/things");
  EXPECT_EQ(req.version, "HTTP/1.1");
  EXPECT_EQ(req.Header("host"), absl::StrCat("127.0.0.1:", server.port()));
  EXPECT_EQ(req.Header("authorization"), "Bearer abc");
  EXPECT_EQ(req.Header("content-type"), "application/json");
  EXPECT_EQ(req.Header("accept"), "application/json");
  EXPECT_EQ(req.Header("content-length"), "7");
  EXPECT_EQ(req.Header("connection"), "close");
  EXPECT_EQ(req.Header("user-agent"), "tether-control");
  EXPECT_EQ(req.body, R"({"a":1})");
  EXPECT_EQ(req.sni, "") << "no SNI for an IP address";
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpsClientTest, RequestSendsOtherMethods) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) {
    return HttpResponse(200, R"({"kind":"ConfigMapList"})");
  });
  absl::StatusOr<HttpResult> r =
      Request(Target(server), "GET", "/api/v1/configmaps?labelSelector=tether.io%2Fpolicy",
              {{"Authorization", "Bearer abc"}}, "", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, R"({"kind":"ConfigMapList"})");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "GET");
  EXPECT_EQ(server.requests()[0].target, "/api/v1/configmaps?labelSelector=tether.io%2Fpolicy");
  EXPECT_EQ(server.requests()[0].body, "");
  for (const char* bad : {"", "get", "GET /x", "G\r\nX"}) {
    EXPECT_EQ(Request(Target(server), bad, "/", {}, "", kTimeout).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(server.connections(), 1);  // refused without connecting
}

TEST_F(HttpsClientTest, CallerHeadersReplaceDefaults) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) { return HttpResponse(200, ""); });
  ASSERT_TRUE(Post(Target(server), "/", {{"Content-Type", "text/plain"}, {"User-Agent", "me"}},
                   "hi", kTimeout)
                  .ok());
  RecordedRequest req = server.requests().at(0);
  EXPECT_EQ(req.Header("content-type"), "text/plain");
  EXPECT_EQ(req.HeaderCount("content-type"), 1);
  EXPECT_EQ(req.Header("user-agent"), "me");
}

TEST_F(HttpsClientTest, VerifiesADnsNameAndSendsItAsSni) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) { return HttpResponse(200, "ok"); });
  absl::StatusOr<HttpResult> r =
      Post(Target(server, "kubernetes.default.svc"), "/", {}, "", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "ok");
  RecordedRequest req = server.requests().at(0);
  EXPECT_EQ(req.sni, "kubernetes.default.svc");
  EXPECT_EQ(req.Header("host"), absl::StrCat("kubernetes.default.svc:", server.port()));
}

TEST_F(HttpsClientTest, ChunkedResponse) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) {
    return ChunkedHttpResponse(201, {R"({"kind":)", R"("TokenReview",)", R"("x":1})"});
  });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "{}", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, R"({"kind":"TokenReview","x":1})");
}

TEST_F(HttpsClientTest, BodyUntilTheServerCloses) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"all\":true}");
  });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "{}", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, R"({"all":true})");
}

TEST_F(HttpsClientTest, LargeBodyUnderTheCap) {
  std::string big(kMaxHttpBodyBytes, 'z');
  FakeHttpsServer server(cert_, [&big](const RecordedRequest&) { return HttpResponse(200, big); });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "{}", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body.size(), kMaxHttpBodyBytes);
}

TEST_F(HttpsClientTest, OversizedBodies) {
  const std::string over(kMaxHttpBodyBytes + 1, 'z');
  for (const std::string& response :
       {HttpResponse(200, over), ChunkedHttpResponse(200, {over.substr(0, 1000), over}),
        absl::StrCat("HTTP/1.1 200 OK\r\n\r\n", over)}) {
    FakeHttpsServer server(cert_, [&response](const RecordedRequest&) { return response; });
    absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "{}", kTimeout);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("HTTP response body from 127.0.0.1:",
                                                             server.port(), " exceeds 1 MiB")));
  }
}

TEST_F(HttpsClientTest, MalformedResponses) {
  for (const std::string& response :
       {std::string("HTTP/1.1 OK\r\n\r\n"), std::string("{\"kind\":\"TokenReview\"}"),
        std::string("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}"), std::string()}) {
    FakeHttpsServer server(cert_, [&response](const RecordedRequest&) { return response; });
    absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "{}", kTimeout);
    ASSERT_FALSE(r.ok()) << response;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(r.status().message()),
                StartsWith(absl::StrCat("malformed HTTP response from 127.0.0.1:", server.port())))
        << response;
  }
}

TEST_F(HttpsClientTest, ConnectionRefused) {
  ReservedPort closed(/*listening=*/false);
  HttpsTarget t{"127.0.0.1", closed.port(), ca_.cert_pem, ""};
  absl::StatusOr<HttpResult> r = Post(t, "/", {}, "", kTimeout);
  EXPECT_EQ(r.status(),
            absl::UnavailableError(absl::StrCat("cannot connect to 127.0.0.1:", closed.port(),
                                                ": Connection refused")));
}

TEST_F(HttpsClientTest, TimesOutInTheHandshake) {
  // The kernel completes the TCP handshake, but nobody ever answers TLS.
  ReservedPort silent(/*listening=*/true);
  HttpsTarget t{"127.0.0.1", silent.port(), ca_.cert_pem, ""};
  absl::StatusOr<HttpResult> r = Post(t, "/", {}, "", absl::Milliseconds(200));
  EXPECT_EQ(r.status(),
            absl::DeadlineExceededError(absl::StrCat(
                "timed out after 200ms in the TLS handshake with 127.0.0.1:", silent.port())));
}

TEST_F(HttpsClientTest, TimesOutWaitingForTheResponse) {
  Notification client_done;
  FakeHttpsServer server(cert_, [&client_done](const RecordedRequest&) {
    client_done.WaitForNotification();  // answer only after the client gave up
    return HttpResponse(200, "too late");
  });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "", absl::Milliseconds(300));
  client_done.Notify();
  EXPECT_EQ(r.status(),
            absl::DeadlineExceededError(absl::StrCat(
                "timed out after 300ms waiting for the response from 127.0.0.1:", server.port())));
}

TEST_F(HttpsClientTest, StreamRequestDeliversTheBodyAsItComes) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&, tether::testing::ResponseStream& s) {
    s.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nline1\r\n");
    s.Write("6\r\n\nline2\r\n0\r\n\r\n");
  });
  std::string got;
  absl::StatusOr<HttpResult> r = StreamRequest(Target(server), "GET", "/watch", {}, kTimeout,
                                               kTimeout, nullptr, [&](absl::string_view p) {
                                                 got.append(p.data(), p.size());
                                                 return absl::OkStatus();
                                               });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(got, "line1\nline2");
}

TEST_F(HttpsClientTest, StreamRequestStopsWhenCancelledAndAfterItsStreamTimeout) {
  ReservedPort silent(/*listening=*/true);
  HttpsTarget t{"127.0.0.1", silent.port(), ca_.cert_pem, ""};
  std::atomic<bool> cancelled{false};
  auto ignore = [](absl::string_view) { return absl::OkStatus(); };
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(50));  // only to be in the middle of the handshake
    cancelled.store(true);
  });
  absl::StatusOr<HttpResult> r =
      StreamRequest(t, "GET", "/watch", {}, kTimeout, kTimeout, &cancelled, ignore);
  canceller.join();
  EXPECT_EQ(r.status(), absl::CancelledError(
                            absl::StrCat("request to 127.0.0.1:", silent.port(), " cancelled")));

  // A stream that never ends is cut at its stream timeout, not the connect timeout.
  Notification client_done;
  FakeHttpsServer server(cert_, [&](const RecordedRequest&, tether::testing::ResponseStream& s) {
    s.Write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n");
    client_done.WaitForNotification();
  });
  r = StreamRequest(Target(server), "GET", "/watch", {}, kTimeout, absl::Milliseconds(300), nullptr,
                    ignore);
  client_done.Notify();
  EXPECT_EQ(r.status(),
            absl::DeadlineExceededError(absl::StrCat(
                "timed out after 300ms waiting for the response from 127.0.0.1:", server.port())));
}

TEST_F(HttpsClientTest, UntrustedServerCertificate) {
  TestCa other = MakeTestCa("some other CA");
  TestCert impostor = MakeServerCert(other, "DNS:kubernetes.default.svc,IP:127.0.0.1");
  FakeHttpsServer server(impostor, [](const RecordedRequest&) { return HttpResponse(200, ""); });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "", kTimeout);
  EXPECT_EQ(r.status(), absl::UnavailableError(absl::StrCat(
                            "TLS handshake with 127.0.0.1:", server.port(),
                            " failed: certificate verify failed (unable to get local issuer "
                            "certificate)")));
  server.WaitForErrors(1);  // the server saw the client's alert
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpsClientTest, HostnameMismatch) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) { return HttpResponse(200, ""); });
  absl::StatusOr<HttpResult> r = Post(Target(server, "api.example.com"), "/", {}, "", kTimeout);
  EXPECT_EQ(r.status(),
            absl::UnavailableError(absl::StrCat("TLS handshake with 127.0.0.1:", server.port(),
                                                " failed: certificate verify failed (Hostname "
                                                "mismatch)")));
}

TEST_F(HttpsClientTest, SubjectCommonNameIsNotAHostname) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) { return HttpResponse(200, ""); });
  absl::StatusOr<HttpResult> r =
      Post(Target(server, "cn-is-ignored.invalid"), "/", {}, "", kTimeout);
  EXPECT_THAT(r.status().message(), HasSubstr("Hostname mismatch"));
}

TEST_F(HttpsClientTest, IpAddressMismatch) {
  TestCert dns_only = MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:10.96.0.1");
  FakeHttpsServer server(dns_only, [](const RecordedRequest&) { return HttpResponse(200, ""); });
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "", kTimeout);
  EXPECT_THAT(r.status().message(), HasSubstr("certificate verify failed (IP address mismatch)"));
}

TEST_F(HttpsClientTest, RefusesTls11) {
  FakeHttpsServer server(
      cert_, [](const RecordedRequest&) { return HttpResponse(200, ""); }, TLS1_1_VERSION);
  absl::StatusOr<HttpResult> r = Post(Target(server), "/", {}, "", kTimeout);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(
      std::string(r.status().message()),
      StartsWith(absl::StrCat("TLS handshake with 127.0.0.1:", server.port(), " failed: ")));
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpsClientTest, RejectsBadArgumentsWithoutConnecting) {
  FakeHttpsServer server(cert_, [](const RecordedRequest&) { return HttpResponse(200, ""); });
  HttpsTarget good = Target(server);
  struct Case {
    HttpsTarget target;
    std::string path;
    HttpHeaders headers;
    absl::Duration timeout;
    std::string message;
  };
  HttpsTarget no_ca = good;
  no_ca.ca_pem = "";
  HttpsTarget junk_ca = good;
  junk_ca.ca_pem = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
  HttpsTarget no_port = good;
  no_port.port = 0;
  HttpsTarget no_host = good;
  no_host.host = "";
  const Case cases[] = {
      {no_ca, "/", {}, kTimeout, "CA bundle holds no PEM certificate"},
      {junk_ca, "/", {}, kTimeout, "CA bundle: certificate 1 is not valid PEM"},
      {no_port, "/", {}, kTimeout, "HTTPS target has no port"},
      {no_host, "/", {}, kTimeout, "HTTPS target has no host"},
      {good, "relative", {}, kTimeout, "bad HTTP request path \"relative\""},
      {good, "/a b", {}, kTimeout, "bad HTTP request path"},
      {good, "/\r\nX: y", {}, kTimeout, "bad HTTP request path"},
      {good, "/", {{"X-Evil", "a\r\nInjected: yes"}}, kTimeout, "has a CR, LF or NUL"},
      {good, "/", {{"Bad Name", "v"}}, kTimeout, "bad HTTP header name"},
      {good, "/", {{"Content-Length", "5"}}, kTimeout, "is set by the client itself"},
      {good, "/", {{"host", "evil"}}, kTimeout, "is set by the client itself"},
      {good, "/", {}, absl::ZeroDuration(), "timeout must be positive"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<HttpResult> r = Post(c.target, c.path, c.headers, "", c.timeout);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
  }
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(HttpsClientTest, SeveralCaCertificatesInTheBundle) {
  TestCa other = MakeTestCa("first, unrelated CA");
  FakeHttpsServer server(cert_, [](const RecordedRequest&) { return HttpResponse(200, "ok"); });
  HttpsTarget t = Target(server);
  t.ca_pem = absl::StrCat(other.cert_pem, ca_.cert_pem, ca_.cert_pem);  // a duplicate is fine
  absl::StatusOr<HttpResult> r = Post(t, "/", {}, "", kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST(HostPort, BracketsIpv6) {
  EXPECT_EQ(HostPort("10.0.0.1", 443), "10.0.0.1:443");
  EXPECT_EQ(HostPort("fd00::1", 6443), "[fd00::1]:6443");
  EXPECT_EQ(HostPort("[fd00::1]", 6443), "[fd00::1]:6443");
  EXPECT_EQ(HostPort("kubernetes.default.svc", 443), "kubernetes.default.svc:443");
}

}  // namespace
}  // namespace tether::control::kubernetes
