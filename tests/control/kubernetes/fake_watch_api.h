// FakeWatchApi: the list and watch parts of a Kubernetes API server for the
// collections /api/v1/pods, /api/v1/services and
// /apis/discovery.k8s.io/v1/endpointslices, for tests; serve it with a
// streaming FakeHttpsServer.
//
//   FakeWatchApi api(kOwnToken);
//   api.Put(kPods, PodJson("shop", "cart-1", ...));     // before or while watching
//   FakeHttpsServer server(cert, [&](const RecordedRequest& r, ResponseStream& s) {
//     api.Serve(r, s);
//   });
//   ASSERT_TRUE(api.WaitForWatch(kPods, "48214"));      // a watch from that version
//
// As a real server: every write advances one cluster-wide revision, which
// becomes the object's resourceVersion and is logged as a watch event of its
// collection. A list (`?limit=N[&continue=T]`) shows the current objects by
// NS/NAME at the current revision. A watch (`?watch=1&resourceVersion=R...`)
// replays the logged events after R, then streams new ones as they happen,
// one JSON line per chunk, until DropWatches() (ends abruptly, no final
// chunk), EndWatches() (ends cleanly) or the server stops. A watch from
// before Compact()'s revision gets a 410: an ERROR event by default, an HTTP
// 410 answer after SetGoneAsHttpStatus(true).
#ifndef TETHER_TESTS_CONTROL_KUBERNETES_FAKE_WATCH_API_H_
#define TETHER_TESTS_CONTROL_KUBERNETES_FAKE_WATCH_API_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "tests/control/kubernetes/fake_https_server.h"

namespace tether::testing {

inline constexpr char kPods[] = "/api/v1/pods";
inline constexpr char kServices[] = "/api/v1/services";
inline constexpr char kSlices[] = "/apis/discovery.k8s.io/v1/endpointslices";

class FakeWatchApi {
 public:
  explicit FakeWatchApi(std::string caller_token) : caller_token_(std::move(caller_token)) {}

  // Put creates (ADDED) or replaces (MODIFIED) an object with metadata
  // namespace and name; returns its new resourceVersion.
  uint64_t Put(const std::string& collection, nlohmann::json object);
  uint64_t Delete(const std::string& collection, const std::string& ns, const std::string& name);
  // Bookmark logs a BOOKMARK event at a new revision of the collection.
  uint64_t Bookmark(const std::string& collection);
  // Compact forgets the events so far and advances the revision: a watch
  // from before now gets a 410.
  void Compact();
  void SetGoneAsHttpStatus(bool http) {
    MutexLock lock(&mu_);
    gone_as_http_ = http;
  }
  void DropWatches();
  void EndWatches();
  uint64_t revision() const {
    MutexLock lock(&mu_);
    return revision_;
  }

  // Request targets seen, by collection.
  std::vector<std::string> lists(const std::string& collection) const;
  std::vector<std::string> watch_versions(const std::string& collection) const;
  // WaitForWatch waits (up to 20 s) for a watch of `collection` from
  // `version` to be open; WaitForLists for `n` list requests.
  bool WaitForWatch(const std::string& collection, const std::string& version) const;
  bool WaitForLists(const std::string& collection, size_t n) const;
  std::vector<std::string> problems() const {
    MutexLock lock(&mu_);
    return problems_;
  }

  void Serve(const RecordedRequest& req, ResponseStream& stream);

 private:
  struct Event {
    uint64_t revision;
    std::string line;
  };
  struct Collection {
    std::map<std::string, nlohmann::json> objects;  // "ns/name" ->
    std::vector<Event> events;
    std::vector<std::string> lists;           // request targets
    std::vector<std::string> watch_versions;  // resourceVersion asked for
    std::vector<std::string> open_watches;    // versions of watches being served
  };
  uint64_t Log(const std::string& collection, const std::string& type, nlohmann::json object)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void List(const std::string& collection, const std::map<std::string, std::string>& query,
            ResponseStream& stream);
  void Watch(const std::string& collection, const std::map<std::string, std::string>& query,
             ResponseStream& stream);

  const std::string caller_token_;
  mutable Mutex mu_;
  mutable CondVar changed_;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 48200;
  uint64_t compacted_ ABSL_GUARDED_BY(mu_) = 0;
  bool gone_as_http_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t drops_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ends_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Collection> collections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

// PodJson is a Pod as the API server shows it; `ips` empty: no IP yet.
nlohmann::json PodJson(const std::string& ns, const std::string& name, const std::string& sa,
                       const std::vector<std::string>& ips, bool injected, bool ready = true);
nlohmann::json ServiceJson(const std::string& ns, const std::string& name,
                           const std::string& cluster_ip, const std::vector<int>& tcp_ports,
                           const std::string& app_protocol = "");
// SliceJson: one endpoint per (ip, pod name, ready), serving the Service's
// one unnamed port at `target_port`.
struct SliceEndpointJson {
  std::string ip;
  std::string pod;
  bool ready = true;
};
nlohmann::json SliceJson(const std::string& ns, const std::string& name, const std::string& service,
                         const std::vector<SliceEndpointJson>& endpoints, int target_port = 8080);

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_KUBERNETES_FAKE_WATCH_API_H_
