#include "control/kubernetes/token_review.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdlib.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/sync/notification.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using tether::testing::ChunkedHttpResponse;
using tether::testing::FakeHttpsServer;
using tether::testing::FakeKubernetesApi;
using tether::testing::HttpResponse;
using tether::testing::MakeServerCert;
using tether::testing::MakeTestCa;
using tether::testing::RecordedRequest;
using tether::testing::ServiceAccountStatus;
using tether::testing::StatusBody;
using tether::testing::TestCa;
using tether::testing::TestCert;
using Json = nlohmann::json;

constexpr char kCartToken[] =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDpjYXJ0In0.c2ln";
constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";

std::string Message(const absl::Status& s) {
  std::string out(s.message());
  return out;
}

class TokenReviewTest : public ::testing::Test {
 protected:
  TokenReviewTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_,
                             "DNS:kubernetes,DNS:kubernetes.default,"
                             "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        dir_(::testing::TempDir()) {
    ca_file_ = absl::StrCat(dir_, "/ca.crt");
    token_file_ = absl::StrCat(dir_, "/token");
    EXPECT_TRUE(WriteFileAtomic(ca_file_, ca_.cert_pem).ok());
    EXPECT_TRUE(WriteFileAtomic(token_file_, absl::StrCat(kOwnToken, "\n")).ok());
    api_.SetCallerToken(kOwnToken);
    api_.AddToken(kCartToken, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
  }

  void TearDown() override { EXPECT_THAT(api_.problems(), ::testing::IsEmpty()); }

  std::unique_ptr<FakeHttpsServer> StartServer(const TestCert& cert) {
    return std::make_unique<FakeHttpsServer>(
        cert, [this](const RecordedRequest& req) { return api_.Answer(req); });
  }

  TokenReviewAuthenticator::Options Options(uint16_t port) const {
    TokenReviewAuthenticator::Options o;
    o.api_host = "127.0.0.1";
    o.api_port = port;
    o.ca_file = ca_file_;
    o.token_file = token_file_;
    o.trust_domain = "mesh.local";
    o.timeout = absl::Seconds(20);  // generous: only failures would wait for it
    return o;
  }

  std::unique_ptr<TokenReviewAuthenticator> Make(uint16_t port) const {
    absl::StatusOr<std::unique_ptr<TokenReviewAuthenticator>> a =
        TokenReviewAuthenticator::Create(Options(port));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }

  TestCa ca_;
  TestCert cert_;
  std::string dir_;
  std::string ca_file_;
  std::string token_file_;
  FakeKubernetesApi api_;
};

TEST_F(TokenReviewTest, AuthenticatedServiceAccount) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);

  absl::StatusOr<ReviewedToken> r = authn->AuthenticateWithDetails(kCartToken);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id.trust_domain, "mesh.local");
  EXPECT_EQ(r->id.namespace_name, "shop");
  EXPECT_EQ(r->id.service_account, "cart");
  EXPECT_EQ(r->pod_name, "cart-7c9d6b5f4-x8k2p");
  EXPECT_EQ(r->pod_uid, "9b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0");

  // The Authenticator interface gives the same identity.
  Authenticator* plain = authn.get();
  absl::StatusOr<pki::SpiffeId> id = plain->Authenticate(kCartToken);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(*id == r->id);

  std::vector<RecordedRequest> requests = server->requests();
  ASSERT_EQ(requests.size(), 2u);
  const RecordedRequest& req = requests[0];
  EXPECT_EQ(req.Header("authorization"), absl::StrCat("Bearer ", kOwnToken));
  EXPECT_EQ(req.Header("accept"), "application/json");
  EXPECT_EQ(Json::parse(req.body),
            Json::parse(absl::StrCat(R"({"apiVersion":"authentication.k8s.io/v1",)",
                                     R"("kind":"TokenReview","spec":{"token":")", kCartToken,
                                     R"(","audiences":["tether"]}})")));
  EXPECT_EQ(server->connections(), 2);
}

TEST_F(TokenReviewTest, RejectedToken) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  api_.AddToken("expired.jwt.token",
                {{"user", Json::object()},
                 {"error", "[invalid bearer token, service account token has expired]"}});
  EXPECT_EQ(authn->Authenticate("expired.jwt.token").status(),
            absl::UnauthenticatedError("token rejected by the Kubernetes API: [invalid bearer "
                                       "token, service account token has expired]"));
  EXPECT_EQ(authn->Authenticate("unknown.jwt.token").status(),
            absl::UnauthenticatedError("token rejected by the Kubernetes API: [invalid bearer "
                                       "token, square/go-jose: error in cryptographic primitive]"));
}

TEST_F(TokenReviewTest, WrongAudience) {
  // An API server that ignored spec.audiences and says the token is for itself.
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  Json status = ServiceAccountStatus("shop", "cart", "cart-1");
  status["audiences"] = {"https://kubernetes.default.svc.cluster.local"};
  api_.AddToken("api-audience.jwt.token", status);
  EXPECT_EQ(authn->Authenticate("api-audience.jwt.token").status(),
            absl::UnauthenticatedError(
                "token is for audience [https://kubernetes.default.svc.cluster.local] not tether"));
}

TEST_F(TokenReviewTest, CustomAudience) {
  auto server = StartServer(cert_);
  TokenReviewAuthenticator::Options o = Options(server->port());
  o.audience = "mesh-ca";
  auto authn = TokenReviewAuthenticator::Create(o);
  ASSERT_TRUE(authn.ok()) << authn.status();
  api_.SetAudience("mesh-ca");
  Json status = ServiceAccountStatus("shop", "cart", "cart-1");
  status["audiences"] = {"mesh-ca"};
  api_.AddToken(kCartToken, status);
  EXPECT_TRUE((*authn)->Authenticate(kCartToken).ok());
  // A token for the default audience is refused.
  api_.AddToken(kCartToken, ServiceAccountStatus("shop", "cart", "cart-1"));
  EXPECT_EQ((*authn)->Authenticate(kCartToken).status(),
            absl::UnauthenticatedError("token is for audience [tether] not mesh-ca"));
}

TEST_F(TokenReviewTest, UserThatIsNotAServiceAccount) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  api_.AddToken(
      "oidc.jwt.token",
      {{"authenticated", true},
       {"user",
        {{"username", "alice@example.com"}, {"groups", {"developers", "system:authenticated"}}}},
       {"audiences", {"tether"}}});
  EXPECT_EQ(authn->Authenticate("oidc.jwt.token").status(),
            absl::UnauthenticatedError(
                "token belongs to user \"alice@example.com\", not a service account"));
}

TEST_F(TokenReviewTest, RbacMissing) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  api_.SetForbidden();
  absl::Status s = authn->Authenticate(kCartToken).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(s), HasSubstr("lacks the RBAC permission to create "
                                    "tokenreviews.authentication.k8s.io"));
  EXPECT_THAT(Message(s), HasSubstr("HTTP 403: tokenreviews.authentication.k8s.io is forbidden"));
  EXPECT_THAT(Message(s), HasSubstr("system:auth-delegator"));
}

TEST_F(TokenReviewTest, OwnCredentialsRejected) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  api_.SetRawAnswer(HttpResponse(401, StatusBody(401, "Unauthorized", "Unauthorized")));
  absl::Status s = authn->Authenticate(kCartToken).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(s), HasSubstr("did not accept the control plane's own service-account "
                                    "token from " +
                                    token_file_ + " (HTTP 401: Unauthorized)"));
  EXPECT_THAT(Message(s), HasSubstr("create tokenreviews.authentication.k8s.io"));
}

TEST_F(TokenReviewTest, ServerErrors) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  api_.SetRawAnswer(HttpResponse(
      500, StatusBody(500, "InternalError", "Internal error occurred: etcdserver: timeout")));
  EXPECT_EQ(authn->Authenticate(kCartToken).status(),
            absl::UnavailableError("TokenReview failed: the Kubernetes API server answered HTTP "
                                   "500: Internal error occurred: etcdserver: timeout"));
  api_.SetRawAnswer(HttpResponse(503, "<html>upstream connect error</html>", "text/html"));
  EXPECT_EQ(authn->Authenticate(kCartToken).status(),
            absl::UnavailableError("TokenReview failed: the Kubernetes API server answered HTTP "
                                   "503: Service Unavailable"));
}

TEST_F(TokenReviewTest, ServerDown) {
  tether::testing::ReservedPort closed(/*listening=*/false);
  const uint16_t port = closed.port();
  auto authn = Make(port);
  ASSERT_NE(authn, nullptr);
  absl::Status s = authn->Authenticate(kCartToken).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(s), StartsWith(absl::StrCat("TokenReview failed: cannot connect to "
                                                  "127.0.0.1:",
                                                  port, ": Connection refused")));
}

TEST_F(TokenReviewTest, UntrustedServerCertificate) {
  TestCa other = MakeTestCa("kubernetes");  // same name, different key
  TestCert impostor = MakeServerCert(other, "DNS:kubernetes.default.svc,IP:127.0.0.1");
  auto server = StartServer(impostor);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  EXPECT_EQ(authn->Authenticate(kCartToken).status(),
            absl::UnavailableError(absl::StrCat(
                "TokenReview failed: TLS handshake with 127.0.0.1:", server->port(),
                " failed: certificate verify failed (unable to get local issuer certificate)")));
  EXPECT_TRUE(server->requests().empty()) << "the tokens must not reach an impostor";
}

TEST_F(TokenReviewTest, HostnameMismatch) {
  auto server = StartServer(cert_);
  TokenReviewAuthenticator::Options o = Options(server->port());
  o.server_name = "kubernetes.other-cluster.svc";
  auto authn = TokenReviewAuthenticator::Create(o);
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_THAT(Message((*authn)->Authenticate(kCartToken).status()),
              HasSubstr("certificate verify failed (Hostname mismatch)"));
  EXPECT_TRUE(server->requests().empty());

  o.server_name = "kubernetes.default.svc";
  authn = TokenReviewAuthenticator::Create(o);
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_TRUE((*authn)->Authenticate(kCartToken).ok());
  EXPECT_EQ(server->requests().at(0).sni, "kubernetes.default.svc");
}

TEST_F(TokenReviewTest, MalformedJson) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  api_.SetRawAnswer(HttpResponse(201, R"({"kind":"TokenReview","apiVersion":)"));
  EXPECT_EQ(authn->Authenticate(kCartToken).status(),
            absl::UnavailableError("malformed TokenReview response: not valid JSON"));
}

TEST_F(TokenReviewTest, ChunkedResponse) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  Json answer = {{"kind", "TokenReview"},
                 {"apiVersion", "authentication.k8s.io/v1"},
                 {"metadata", {{"creationTimestamp", nullptr}}},
                 {"spec", {{"token", kCartToken}, {"audiences", {"tether"}}}},
                 {"status", ServiceAccountStatus("payments", "ledger", "ledger-0")}};
  std::string body = answer.dump(2);
  std::vector<std::string> chunks;
  for (size_t i = 0; i < body.size(); i += 37) chunks.push_back(body.substr(i, 37));
  api_.SetRawAnswer(ChunkedHttpResponse(201, chunks));
  absl::StatusOr<ReviewedToken> r = authn->AuthenticateWithDetails(kCartToken);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id.namespace_name, "payments");
  EXPECT_EQ(r->id.service_account, "ledger");
  EXPECT_EQ(r->pod_name, "ledger-0");
}

TEST_F(TokenReviewTest, OversizedBody) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  Json answer = {{"kind", "TokenReview"},
                 {"apiVersion", "authentication.k8s.io/v1"},
                 {"metadata", {{"annotations", {{"padding", std::string(2 << 20, 'p')}}}}},
                 {"status", ServiceAccountStatus("shop", "cart", "cart-1")}};
  api_.SetRawAnswer(HttpResponse(201, answer.dump()));
  absl::Status s = authn->Authenticate(kCartToken).status();
  EXPECT_EQ(s, absl::UnavailableError(absl::StrCat("TokenReview failed: HTTP response body from "
                                                   "127.0.0.1:",
                                                   server->port(), " exceeds 1 MiB")));
}

TEST_F(TokenReviewTest, TokenFileIsReadOnEveryCall) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  ASSERT_TRUE(authn->Authenticate(kCartToken).ok());

  // The kubelet rotates the control plane's token: the next call uses the new one.
  const std::string rotated = "eyJhbGciOiJSUzI1NiJ9.cm90YXRlZA.c2lnMg";
  ASSERT_TRUE(WriteFileAtomic(token_file_, rotated).ok());
  api_.SetCallerToken(rotated);
  absl::StatusOr<pki::SpiffeId> id = authn->Authenticate(kCartToken);
  ASSERT_TRUE(id.ok()) << id.status();

  std::vector<RecordedRequest> requests = server->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("authorization"), absl::StrCat("Bearer ", kOwnToken));
  EXPECT_EQ(requests[1].Header("authorization"), absl::StrCat("Bearer ", rotated));
}

TEST_F(TokenReviewTest, OwnTokenOrCaMissingLater) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  ASSERT_EQ(unlink(token_file_.c_str()), 0);
  absl::Status s = authn->Authenticate(kCartToken).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(s), HasSubstr("cannot read the control plane's own service-account token"));
  EXPECT_THAT(Message(s), HasSubstr(token_file_));

  ASSERT_TRUE(WriteFileAtomic(token_file_, "  \n").ok());
  EXPECT_THAT(Message(authn->Authenticate(kCartToken).status()), HasSubstr("is empty"));

  ASSERT_TRUE(WriteFileAtomic(token_file_, kOwnToken).ok());
  ASSERT_TRUE(WriteFileAtomic(ca_file_, "not a certificate").ok());
  EXPECT_THAT(Message(authn->Authenticate(kCartToken).status()),
              HasSubstr("holds no PEM certificate"));
  EXPECT_EQ(server->connections(), 0);
}

TEST_F(TokenReviewTest, BadTokensAreRejectedWithoutAConnection) {
  auto server = StartServer(cert_);
  auto authn = Make(server->port());
  ASSERT_NE(authn, nullptr);
  EXPECT_EQ(authn->Authenticate("").status(), absl::UnauthenticatedError("empty Kubernetes token"));
  std::string huge(kMaxKubernetesTokenBytes + 1, 'a');
  EXPECT_EQ(authn->Authenticate(huge).status(),
            absl::UnauthenticatedError("Kubernetes token is 16385 bytes, more than the limit of "
                                       "16 KiB"));
  for (const std::string& bad :
       {std::string("abc def"), std::string("abc\r\nHost: x"), std::string("tok\xc3\xa9n"),
        std::string("a\0b", 3), std::string("tab\t")}) {
    absl::Status s = authn->Authenticate(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_THAT(Message(s), HasSubstr("not printable ASCII at offset")) << bad;
  }
  EXPECT_EQ(server->connections(), 0);

  // Printable but odd tokens reach the API server intact (JSON-escaped).
  const std::string quoted = R"("quoted\token")";
  EXPECT_EQ(authn->Authenticate(quoted).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server->connections(), 1);
  EXPECT_THAT(api_.reviewed_tokens(), ::testing::ElementsAre(quoted));

  std::string largest(kMaxKubernetesTokenBytes, 'a');
  EXPECT_EQ(authn->Authenticate(largest).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server->connections(), 2);  // 16 KiB exactly is asked about
  EXPECT_EQ(api_.reviewed_tokens().size(), 2u);
}

TEST_F(TokenReviewTest, TimesOut) {
  Notification client_done;
  FakeHttpsServer server(cert_, [&client_done](const RecordedRequest&) {
    client_done.WaitForNotification();
    return std::string();
  });
  TokenReviewAuthenticator::Options o = Options(server.port());
  o.timeout = absl::Milliseconds(250);
  auto authn = TokenReviewAuthenticator::Create(o);
  ASSERT_TRUE(authn.ok()) << authn.status();
  absl::Status s = (*authn)->Authenticate(kCartToken).status();
  client_done.Notify();
  EXPECT_EQ(s, absl::UnavailableError(absl::StrCat(
                   "TokenReview failed: timed out after 250ms waiting for the response from "
                   "127.0.0.1:",
                   server.port())));
}

TEST_F(TokenReviewTest, CreateChecksOptions) {
  TokenReviewAuthenticator::Options o = Options(443);
  o.trust_domain = "";
  EXPECT_EQ(TokenReviewAuthenticator::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options(443);
  o.audience = "";
  EXPECT_EQ(TokenReviewAuthenticator::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options(443);
  o.timeout = absl::ZeroDuration();
  EXPECT_EQ(TokenReviewAuthenticator::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options(443);
  o.token_file = absl::StrCat(dir_, "/no-such-token");
  absl::Status s = TokenReviewAuthenticator::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(s), HasSubstr("no-such-token"));
  o = Options(443);
  o.ca_file = absl::StrCat(dir_, "/no-such-ca.crt");
  s = TokenReviewAuthenticator::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(s), HasSubstr("no-such-ca.crt"));
}

TEST_F(TokenReviewTest, DefaultsComeFromThePodEnvironment) {
  auto server = StartServer(cert_);
  TokenReviewAuthenticator::Options o = Options(0);
  o.api_host = "";
  o.server_name = "kubernetes.default.svc";

  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  absl::Status s = TokenReviewAuthenticator::Create(o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(s), HasSubstr("KUBERNETES_SERVICE_HOST is not set"));

  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "https", 1);
  EXPECT_EQ(TokenReviewAuthenticator::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);

  setenv("KUBERNETES_SERVICE_PORT", absl::StrCat(server->port()).c_str(), 1);
  auto authn = TokenReviewAuthenticator::Create(o);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(authn.ok()) << authn.status();
  EXPECT_EQ((*authn)->options().api_host, "127.0.0.1");
  EXPECT_EQ((*authn)->options().api_port, server->port());
  EXPECT_TRUE((*authn)->Authenticate(kCartToken).ok());

  TokenReviewAuthenticator::Options defaults;
  EXPECT_EQ(defaults.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_EQ(defaults.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(defaults.audience, "tether");
  EXPECT_EQ(defaults.timeout, absl::Seconds(5));
}

}  // namespace
}  // namespace tether::control::kubernetes
