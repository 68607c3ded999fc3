// FakeKubernetesApi: the TokenReview part of a Kubernetes API server, for
// tests; serve it with FakeHttpsServer.
//
//   FakeKubernetesApi api;
//   api.SetCallerToken(kOwnToken);  // the control plane's own bearer token
//   api.AddToken(kCartToken, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
//   FakeHttpsServer server(cert, [&](const RecordedRequest& r) { return api.Answer(r); });
//   ...
//   EXPECT_THAT(api.problems(), IsEmpty());
#ifndef TETHER_TESTS_CONTROL_KUBERNETES_FAKE_KUBERNETES_API_H_
#define TETHER_TESTS_CONTROL_KUBERNETES_FAKE_KUBERNETES_API_H_

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "common/sync/mutex.h"
#include "tests/control/kubernetes/fake_https_server.h"

namespace tether::testing {

// ServiceAccountStatus is the status part of a TokenReview that a real API
// server returns for a pod's bound token.
nlohmann::json ServiceAccountStatus(const std::string& ns, const std::string& sa,
                                    const std::string& pod);

// StatusBody is Kubernetes' Status object for an error answer.
std::string StatusBody(int code, const std::string& reason, const std::string& message);

// FakeKubernetesApi answers TokenReview requests as the API server does. It
// checks every request (method, path, the caller's bearer token, the review
// object) and answers tokens it knows with their status; a raw answer can
// replace all that.
class FakeKubernetesApi {
 public:
  void SetCallerToken(const std::string& bearer) {
    MutexLock lock(&mu_);
    caller_token_ = bearer;
  }
  void AddToken(const std::string& token, nlohmann::json status) {
    MutexLock lock(&mu_);
    tokens_[token] = std::move(status);
  }
  void SetAudience(const std::string& audience) {
    MutexLock lock(&mu_);
    audience_ = audience;
  }
  void SetRawAnswer(std::string raw) {
    MutexLock lock(&mu_);
    raw_answer_ = std::move(raw);
  }
  void SetForbidden() {
    MutexLock lock(&mu_);
    forbidden_ = true;
  }
  std::vector<std::string> problems() const {
    MutexLock lock(&mu_);
    return problems_;
  }
  std::vector<std::string> reviewed_tokens() const {
    MutexLock lock(&mu_);
    return reviewed_tokens_;
  }

  // Answer is the server's responder: FakeHttpsServer(cert, [&](const
  // RecordedRequest& r) { return api.Answer(r); }).
  std::string Answer(const RecordedRequest& req);

 private:
  mutable Mutex mu_;
  std::string caller_token_ ABSL_GUARDED_BY(mu_);
  std::string audience_ ABSL_GUARDED_BY(mu_) = "tether";
  std::vector<std::string> reviewed_tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, nlohmann::json> tokens_ ABSL_GUARDED_BY(mu_);
  std::string raw_answer_ ABSL_GUARDED_BY(mu_);
  bool forbidden_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_KUBERNETES_FAKE_KUBERNETES_API_H_
