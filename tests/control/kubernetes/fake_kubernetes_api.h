// FakeKubernetesApi: the TokenReview and ConfigMap-list parts of a Kubernetes
// API server, for tests; serve it with FakeHttpsServer.
//
//   FakeKubernetesApi api;
//   api.SetCallerToken(kOwnToken);  // the control plane's own bearer token
//   api.AddToken(kCartToken, ServiceAccountStatus("shop", "cart", "cart-7c9d6b5f4-x8k2p"));
//   api.PutConfigMap("shop", "policies", {{"cart.yaml", yaml}});  // labelled tether.io/policy
//   FakeHttpsServer server(cert, [&](const RecordedRequest& r) { return api.Answer(r); });
//   ...
//   EXPECT_THAT(api.problems(), IsEmpty());
#ifndef TETHER_TESTS_CONTROL_KUBERNETES_FAKE_KUBERNETES_API_H_
#define TETHER_TESTS_CONTROL_KUBERNETES_FAKE_KUBERNETES_API_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
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
//
// It also keeps ConfigMaps and answers GET /api/v1/configmaps?labelSelector=
// KEY[&limit=N][&continue=TOKEN] (every namespace; KEY: has that label) with
// a ConfigMapList shaped as a real API server's, paged as a real one pages
// (the pages after the first show the state of the first). Every write
// advances a cluster-wide revision, which is the written ConfigMap's
// resourceVersion and the list's.
//
// One ConfigMap can also be read (GET /api/v1/namespaces/NS/configmaps/NAME),
// created (POST .../configmaps: 409 AlreadyExists when it exists) and
// replaced (PUT .../configmaps/NAME: 409 Conflict unless the body's
// metadata.resourceVersion is the stored one, 404 when it does not exist),
// as a real API server does.
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
  // SetForbidden answers every review 403, as for missing RBAC (false: ends that).
  void SetForbidden(bool forbidden = true) {
    MutexLock lock(&mu_);
    forbidden_ = forbidden;
  }
  // PutConfigMap creates or replaces the ConfigMap `ns`/`name`.
  void PutConfigMap(const std::string& ns, const std::string& name,
                    std::map<std::string, std::string> data,
                    std::map<std::string, std::string> labels = {{"tether.io/policy", "true"}});
  void DeleteConfigMap(const std::string& ns, const std::string& name);
  // ConfigMapData: the ConfigMap's data key `key`, "" when there is none.
  std::string ConfigMapData(const std::string& ns, const std::string& name,
                            const std::string& key) const;
  // SetUnavailable: every request is answered 503, as a server that is down
  // behind its load balancer.
  void SetUnavailable(bool unavailable) {
    MutexLock lock(&mu_);
    unavailable_ = unavailable;
  }
  int configmap_writes() const {
    MutexLock lock(&mu_);
    return configmap_writes_;
  }
  // WriteSomethingElse advances the revision, as the cluster's other writes do.
  void WriteSomethingElse() {
    MutexLock lock(&mu_);
    ++revision_;
  }
  uint64_t revision() const {
    MutexLock lock(&mu_);
    return revision_;
  }
  // configmap_lists counts the list requests answered (every page).
  int configmap_lists() const {
    MutexLock lock(&mu_);
    return configmap_lists_;
  }
  std::vector<std::string> problems() const {
    MutexLock lock(&mu_);
    return problems_;
  }
  // TakeProblems returns the problems and forgets them (a test that caused
  // them on purpose).
  std::vector<std::string> TakeProblems() {
    MutexLock lock(&mu_);
    return std::move(problems_);
  }
  std::vector<std::string> reviewed_tokens() const {
    MutexLock lock(&mu_);
    return reviewed_tokens_;
  }

  // Answer is the server's responder: FakeHttpsServer(cert, [&](const
  // RecordedRequest& r) { return api.Answer(r); }).
  std::string Answer(const RecordedRequest& req);

 private:
  struct Page {
    uint64_t revision;
    std::vector<nlohmann::json> rest;
  };
  std::string ListConfigMaps(const RecordedRequest& req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OneConfigMap answers GET, POST and PUT of one ConfigMap; nullopt when
  // `req` is none of those.
  std::optional<std::string> OneConfigMap(const RecordedRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::string caller_token_ ABSL_GUARDED_BY(mu_);
  std::string audience_ ABSL_GUARDED_BY(mu_) = "tether";
  std::vector<std::string> reviewed_tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, nlohmann::json> tokens_ ABSL_GUARDED_BY(mu_);
  std::string raw_answer_ ABSL_GUARDED_BY(mu_);
  bool forbidden_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 48213;
  std::map<std::string, nlohmann::json> configmaps_ ABSL_GUARDED_BY(mu_);  // "ns/name" ->
  std::map<std::string, Page> pages_ ABSL_GUARDED_BY(mu_);                 // continue token ->
  int configmap_lists_ ABSL_GUARDED_BY(mu_) = 0;
  int configmap_writes_ ABSL_GUARDED_BY(mu_) = 0;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_KUBERNETES_FAKE_KUBERNETES_API_H_
