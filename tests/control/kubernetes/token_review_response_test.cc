#include "control/kubernetes/token_review_response.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kTd[] = "mesh.local";

// An answer of a real API server (Kubernetes 1.29) for a bound token of pod
// shop/cart-7c9d6b5f4-x8k2p reviewed with audiences ["tether"].
constexpr char kAuthenticated[] = R"json({
  "kind": "TokenReview",
  "apiVersion": "authentication.k8s.io/v1",
  "metadata": {
    "creationTimestamp": null,
    "managedFields": [
      {
        "manager": "tether-control",
        "operation": "Update",
        "apiVersion": "authentication.k8s.io/v1",
        "time": "2024-05-01T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:audiences": {}, "f:token": {}}}
      }
    ]
  },
  "spec": {
    "token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJhdWQiOlsidGV0aGVyIl19.c2ln",
    "audiences": ["tether"]
  },
  "status": {
    "authenticated": true,
    "user": {
      "username": "system:serviceaccount:shop:cart",
      "uid": "1f7b6bd8-6c38-4b1e-9f4e-3c1d7e0a5b2c",
      "groups": [
        "system:serviceaccounts",
        "system:serviceaccounts:shop",
        "system:authenticated"
      ],
      "extra": {
        "authentication.kubernetes.io/credential-id": ["JTI=0e5f3c2a-8a43-4d1b-b3a5-2f0f6a7c9d11"],
        "authentication.kubernetes.io/node-name": ["kind-worker"],
        "authentication.kubernetes.io/node-uid": ["a3c2e1f0-1111-2222-3333-444455556666"],
        "authentication.kubernetes.io/pod-name": ["cart-7c9d6b5f4-x8k2p"],
        "authentication.kubernetes.io/pod-uid": ["9b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0"]
      }
    },
    "audiences": ["tether"]
  }
})json";

// The same API server rejecting a token minted for another audience. The
// "authenticated" field is omitted when false, and "user" is empty.
constexpr char kRejected[] = R"json({
  "kind": "TokenReview",
  "apiVersion": "authentication.k8s.io/v1",
  "metadata": {"creationTimestamp": null},
  "spec": {"token": "eyJ...", "audiences": ["tether"]},
  "status": {
    "user": {},
    "error": "[invalid bearer token, token audiences )json"
                             R"json([\"https://kubernetes.default.svc.cluster.local\"] is )json"
                             R"json(invalid for the target audiences [\"tether\"]]"
  }
})json";

Json Base() { return Json::parse(kAuthenticated); }

absl::StatusOr<ReviewedToken> Parse(const Json& doc, absl::string_view audience = "tether") {
  return ParseTokenReviewResponse(doc.dump(), audience, kTd);
}

std::string Message(const absl::StatusOr<ReviewedToken>& r) {
  std::string out(r.status().message());
  return out;
}

TEST(ParseTokenReviewResponse, AuthenticatedServiceAccount) {
  absl::StatusOr<ReviewedToken> r = ParseTokenReviewResponse(kAuthenticated, "tether", kTd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id.trust_domain, "mesh.local");
  EXPECT_EQ(r->id.namespace_name, "shop");
  EXPECT_EQ(r->id.service_account, "cart");
  EXPECT_EQ(r->pod_name, "cart-7c9d6b5f4-x8k2p");
  EXPECT_EQ(r->pod_uid, "9b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0");
}

TEST(ParseTokenReviewResponse, LegacyTokenWithoutPodDetails) {
  Json doc = Base();
  doc["status"]["user"].erase("extra");
  absl::StatusOr<ReviewedToken> r = Parse(doc);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id.service_account, "cart");
  EXPECT_EQ(r->pod_name, "");
  EXPECT_EQ(r->pod_uid, "");

  doc["status"]["user"]["extra"] = nullptr;
  EXPECT_TRUE(Parse(doc).ok());
  doc["status"]["user"]["extra"] = Json::object();
  EXPECT_TRUE(Parse(doc).ok());
}

TEST(ParseTokenReviewResponse, DottedServiceAccountNameAndLongNamespace) {
  Json doc = Base();
  std::string ns(63, 'n');
  doc["status"]["user"]["username"] = absl::StrCat("system:serviceaccount:", ns, ":a.b-c.d9");
  absl::StatusOr<ReviewedToken> r = Parse(doc);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id.namespace_name, ns);
  EXPECT_EQ(r->id.service_account, "a.b-c.d9");
}

TEST(ParseTokenReviewResponse, RejectedTokenCarriesTheApiError) {
  absl::StatusOr<ReviewedToken> r = ParseTokenReviewResponse(kRejected, "tether", kTd);
  EXPECT_EQ(r.status(),
            absl::UnauthenticatedError(
                "token rejected by the Kubernetes API: [invalid bearer token, token audiences "
                "[\"https://kubernetes.default.svc.cluster.local\"] is invalid for the target "
                "audiences [\"tether\"]]"));
}

TEST(ParseTokenReviewResponse, NotAuthenticatedInEveryShape) {
  for (const Json& authenticated : {Json(false), Json(nullptr)}) {
    Json doc = Base();
    doc["status"]["authenticated"] = authenticated;
    doc["status"]["error"] = "service account token has been invalidated";
    EXPECT_EQ(Parse(doc).status(),
              absl::UnauthenticatedError("token rejected by the Kubernetes API: service account "
                                         "token has been invalidated"));
  }
  Json doc = Base();
  doc["status"].erase("authenticated");
  EXPECT_EQ(Parse(doc).status(),
            absl::UnauthenticatedError("token rejected by the Kubernetes API (no reason given)"));
  doc["status"]["error"] = "";
  EXPECT_EQ(Parse(doc).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(ParseTokenReviewResponse, ApiErrorTextIsSanitizedAndBounded) {
  Json doc = Base();
  doc["status"]["authenticated"] = false;
  doc["status"]["error"] = absl::StrCat("line1\nline2\x1b[31m\xc3\xa9", std::string(2000, 'x'));
  absl::StatusOr<ReviewedToken> r = Parse(doc);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(r), HasSubstr("line1\\x0aline2\\x1b[31m\\xc3\\xa9xxx"));
  EXPECT_LT(r.status().message().size(), 600u);
  EXPECT_THAT(Message(r), ::testing::EndsWith("..."));
}

TEST(ParseTokenReviewResponse, WrongAudience) {
  Json doc = Base();
  doc["status"]["audiences"] = {"https://kubernetes.default.svc.cluster.local", "vault"};
  EXPECT_EQ(Parse(doc).status(),
            absl::UnauthenticatedError("token is for audience "
                                       "[https://kubernetes.default.svc.cluster.local, vault] "
                                       "not tether"));
  // The audience asked for is what is checked.
  doc["status"]["audiences"] = {"vault"};
  EXPECT_TRUE(Parse(doc, "vault").ok());
  // Many audiences are shortened in the message.
  doc["status"]["audiences"] = Json::array();
  for (int i = 0; i < 20; ++i) doc["status"]["audiences"].push_back(absl::StrCat("a", i));
  EXPECT_THAT(Message(Parse(doc)), HasSubstr("a7, ...] not tether"));
}

TEST(ParseTokenReviewResponse, AudienceMustBeConfirmed) {
  // No status.audiences: the API server did not say the token is for us; per
  // the Kubernetes API documentation it may be a token for the API server.
  Json doc = Base();
  doc["status"].erase("audiences");
  EXPECT_EQ(Parse(doc).status(),
            absl::UnauthenticatedError("the Kubernetes API did not confirm that the token is for "
                                       "audience tether (status.audiences is empty)"));
  doc["status"]["audiences"] = Json::array();
  EXPECT_EQ(Parse(doc).status().code(), absl::StatusCode::kUnauthenticated);
  doc["status"]["audiences"] = nullptr;
  EXPECT_EQ(Parse(doc).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(ParseTokenReviewResponse, UsersThatAreNotServiceAccounts) {
  for (const char* user : {"kubernetes-admin", "system:node:kind-worker", "system:anonymous",
                           "system:serviceaccounts:shop", "System:ServiceAccount:shop:cart",
                           "oidc:alice@example.com", ""}) {
    Json doc = Base();
    doc["status"]["user"]["username"] = user;
    EXPECT_EQ(Parse(doc).status(),
              absl::UnauthenticatedError(
                  absl::StrCat("token belongs to user \"", user, "\", not a service account")))
        << user;
  }
}

TEST(ParseTokenReviewResponse, BadServiceAccountUsernames) {
  struct Case {
    std::string username;
    std::string message;
  };
  const Case cases[] = {
      {"system:serviceaccount:shop", "is not system:serviceaccount:<namespace>:<name>"},
      {"system:serviceaccount:shop:cart:extra", "is not system:serviceaccount:<namespace>:<name>"},
      {"system:serviceaccount::cart", "invalid namespace \"\""},
      {"system:serviceaccount:shop:", "invalid service-account name \"\""},
      {"system:serviceaccount:Shop:cart", "invalid namespace \"Shop\""},
      {"system:serviceaccount:shop_1:cart", "invalid namespace \"shop_1\""},
      {"system:serviceaccount:-shop:cart", "invalid namespace \"-shop\""},
      {"system:serviceaccount:shop-:cart", "invalid namespace \"shop-\""},
      {"system:serviceaccount:a.b:cart", "invalid namespace \"a.b\""},
      {absl::StrCat("system:serviceaccount:", std::string(64, 'n'), ":cart"), "invalid namespace"},
      {"system:serviceaccount:shop:Cart", "invalid service-account name \"Cart\""},
      {"system:serviceaccount:shop:cart/../x", "invalid service-account name"},
      {"system:serviceaccount:shop:a..b", "invalid service-account name \"a..b\""},
      {"system:serviceaccount:shop:.a", "invalid service-account name"},
      {"system:serviceaccount:shop:a.", "invalid service-account name"},
      {"system:serviceaccount:shop:a.-b", "invalid service-account name"},
      {"system:serviceaccount:shop:caf\xc3\xa9", "invalid service-account name \"caf\\xc3\\xa9\""},
      {"system:serviceaccount:shop:a b", "invalid service-account name"},
      {"system:serviceaccount:shop:a%2Fb", "invalid service-account name"},
      {absl::StrCat("system:serviceaccount:shop:", std::string(254, 'a')),
       "invalid service-account name"},
  };
  for (const Case& c : cases) {
    Json doc = Base();
    doc["status"]["user"]["username"] = c.username;
    absl::StatusOr<ReviewedToken> r = Parse(doc);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << c.username;
    EXPECT_THAT(Message(r), HasSubstr(c.message)) << c.username;
  }
  // 253 bytes is still a valid name.
  Json doc = Base();
  std::string longest = absl::StrCat(std::string(126, 'a'), ".", std::string(126, 'b'));
  doc["status"]["user"]["username"] = absl::StrCat("system:serviceaccount:shop:", longest);
  absl::StatusOr<ReviewedToken> r = Parse(doc);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id.service_account, longest);
}

TEST(ParseTokenReviewResponse, MalformedAnswersAreUnavailable) {
  struct Case {
    std::string json;
    std::string message;
  };
  auto with = [](auto mutate) {
    Json doc = Base();
    mutate(doc);
    return doc.dump();
  };
  const Case cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"{\"kind\":\"TokenReview\",}", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {"\"TokenReview\"", "not a JSON object"},
      {"null", "not a JSON object"},
      {with([](Json& d) { d.erase("kind"); }), "kind is not TokenReview"},
      {with([](Json& d) { d["kind"] = "Status"; }), "kind is not TokenReview"},
      {with([](Json& d) { d["kind"] = 7; }), "kind is not TokenReview"},
      {with([](Json& d) { d["apiVersion"] = "authentication.k8s.io/v1beta1"; }),
       "apiVersion is not authentication.k8s.io/v1"},
      {with([](Json& d) { d.erase("apiVersion"); }), "apiVersion is not authentication.k8s.io/v1"},
      {with([](Json& d) { d.erase("status"); }), "no status object"},
      {with([](Json& d) { d["status"] = "ok"; }), "no status object"},
      {with([](Json& d) { d["status"] = Json::array(); }), "no status object"},
      {with([](Json& d) { d["status"]["authenticated"] = "true"; }),
       "status.authenticated is not a boolean"},
      {with([](Json& d) { d["status"]["authenticated"] = 1; }),
       "status.authenticated is not a boolean"},
      {with([](Json& d) { d["status"]["error"] = 42; }), "status.error is not a string"},
      {with([](Json& d) { d["status"]["audiences"] = "tether"; }),
       "status.audiences is not a list of strings"},
      {with([](Json& d) {
         d["status"]["audiences"] = {"tether", 1};
       }),
       "status.audiences is not a list of strings"},
      {with([](Json& d) { d["status"].erase("user"); }), "status.user is not an object"},
      {with([](Json& d) { d["status"]["user"] = "system:serviceaccount:shop:cart"; }),
       "status.user is not an object"},
      {with([](Json& d) { d["status"]["user"].erase("username"); }),
       "status.user.username is not a string"},
      {with([](Json& d) { d["status"]["user"]["username"] = {"a"}; }),
       "status.user.username is not a string"},
      {with([](Json& d) { d["status"]["user"]["extra"] = "pod"; }),
       "status.user.extra is not an object"},
      {with([](Json& d) {
         d["status"]["user"]["extra"]["authentication.kubernetes.io/pod-name"] = "cart-1";
       }),
       "status.user.extra values are not lists of strings"},
      {with([](Json& d) {
         d["status"]["user"]["extra"]["authentication.kubernetes.io/pod-uid"] = {1};
       }),
       "status.user.extra values are not lists of strings"},
      {std::string(kMaxTokenReviewResponseBytes + 1, ' '), "larger than 1 MiB"},
      {std::string(100000, '['), "not valid JSON"},
      {"{\"kind\":\"TokenReview\",\"x\":\"\xff\"}", "not valid JSON"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ReviewedToken> r = ParseTokenReviewResponse(c.json, "tether", kTd);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << c.json.substr(0, 200);
    EXPECT_EQ(r.status().message(), absl::StrCat("malformed TokenReview response: ", c.message))
        << c.json.substr(0, 200);
  }
}

TEST(ParseTokenReviewResponse, OddPodDetailsAreIgnored) {
  for (const Json& pod : {Json::array(), Json({"a", "b"}), Json({"Not_A_Pod"}), Json(nullptr)}) {
    Json doc = Base();
    doc["status"]["user"]["extra"]["authentication.kubernetes.io/pod-name"] = pod;
    doc["status"]["user"]["extra"]["authentication.kubernetes.io/pod-uid"] = {"not a uid!"};
    absl::StatusOr<ReviewedToken> r = Parse(doc);
    ASSERT_TRUE(r.ok()) << pod.dump() << ": " << r.status();
    EXPECT_EQ(r->pod_name, "") << pod.dump();
    EXPECT_EQ(r->pod_uid, "");
    EXPECT_EQ(r->id.service_account, "cart");
  }
}

TEST(ParseTokenReviewResponse, ErrorIsIgnoredWhenAuthenticated) {
  Json doc = Base();
  doc["status"]["error"] = "some authenticator in the chain failed";
  EXPECT_TRUE(Parse(doc).ok());
}

TEST(ParseTokenReviewResponse, RejectsBadArguments) {
  EXPECT_EQ(ParseTokenReviewResponse(kAuthenticated, "", kTd).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const char* td : {"", "Mesh.Local", "mesh/local", "mesh local", "spiffe://mesh"}) {
    absl::StatusOr<ReviewedToken> r = ParseTokenReviewResponse(kAuthenticated, "tether", td);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << td;
    EXPECT_THAT(Message(r), HasSubstr("trust domain")) << td;
  }
  EXPECT_TRUE(ParseTokenReviewResponse(kAuthenticated, "tether", "cluster.local").ok());
  EXPECT_TRUE(ParseTokenReviewResponse(kAuthenticated, "tether", "my_td-1.example").ok());
}

TEST(Dns1123, LabelsAndSubdomains) {
  EXPECT_TRUE(IsDns1123Label("a"));
  EXPECT_TRUE(IsDns1123Label("kube-system"));
  EXPECT_TRUE(IsDns1123Label("0abc9"));
  EXPECT_FALSE(IsDns1123Label(""));
  EXPECT_FALSE(IsDns1123Label("a.b"));
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
  EXPECT_TRUE(IsDns1123Subdomain("a.b.c"));
  EXPECT_TRUE(IsDns1123Subdomain("default"));
  EXPECT_FALSE(IsDns1123Subdomain("a..b"));
  EXPECT_FALSE(IsDns1123Subdomain("A"));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(254, 'a')));
}

TEST(PrintableText, EscapesAndCuts) {
  EXPECT_EQ(PrintableText("plain text", 100), "plain text");
  EXPECT_EQ(PrintableText("a\tb\x7f\xe2\x82\xac", 100), "a\\x09b\\x7f\\xe2\\x82\\xac");
  EXPECT_EQ(PrintableText("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace tether::control::kubernetes
