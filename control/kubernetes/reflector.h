// Reflector: a list+watch of one Kubernetes collection, cluster-wide, kept
// as an in-memory store of the parsed objects (watch_event.h) by NS/NAME.
//
//   Reflector pods({.api = api, .kind = ResourceKind::kPod}, [&] { MarkDirty(); });
//   std::thread t([&] { pods.Run(&stop, sleep); });   // until `stop` is set
//   std::vector<Pod> now = pods.Objects<Pod>();
//
// Run LISTs the collection (`?limit=N`, following `continue` tokens; the
// first page's resourceVersion is the list's), replaces the store, then
// WATCHes from that version (`?watch=1&resourceVersion=RV&
// allowWatchBookmarks=true&timeoutSeconds=S`). ADDED and MODIFIED put an
// object, DELETED removes it, each moving the resourceVersion to the
// object's; BOOKMARK moves only the resourceVersion. When a watch ends:
//   - cleanly (the server's timeoutSeconds): watch again at once from the
//     last resourceVersion (after a backoff if it ended within a second
//     without an event);
//   - 410 Gone (HTTP status, or an ERROR event with code 410): list again;
//   - dropped, timed out, another ERROR or HTTP status: watch again from the
//     last resourceVersion after a backoff (doubling from initial_backoff up
//     to max_backoff, reset by progress);
//   - an event that cannot be parsed or exceeds max_event_bytes (an event
//     was lost): list again after a backoff.
// A failed list is retried after a backoff. A store may hold at most
// max_objects; more is an error (the list fails, a new object is dropped).
// `on_change` is called (from Run's thread, no lock held) after every change
// of the store. All accessors are thread-safe.
#ifndef TETHER_CONTROL_KUBERNETES_REFLECTOR_H_
#define TETHER_CONTROL_KUBERNETES_REFLECTOR_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "control/kubernetes/api_client.h"
#include "control/kubernetes/watch_event.h"

namespace tether::control::kubernetes {

struct ReflectorOptions {
  ApiServer api;  // resolved (ResolveApiServer)
  ResourceKind kind = ResourceKind::kPod;
  size_t page_size = 500;
  absl::Duration list_timeout = absl::Seconds(60);
  absl::Duration watch_timeout = absl::Minutes(5);  // timeoutSeconds; the client allows 30s more
  size_t max_event_bytes = size_t{1} << 20;
  size_t max_page_bytes = size_t{16} << 20;
  size_t max_objects = 200'000;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
};

class Reflector {
 public:
  // Sleeper waits `d`, or less when stopping; false when stopping.
  using Sleeper = std::function<bool(absl::Duration d)>;

  Reflector(ReflectorOptions options, std::function<void()> on_change);
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Run lists and watches until `*stop` is true (an HTTP exchange in flight
  // then ends within ~50 ms) or `sleep` returns false.
  void Run(const std::atomic<bool>* stop, const Sleeper& sleep);

  // Objects returns a copy of the store's objects, sorted by NS/NAME.
  template <typename T>
  std::vector<T> Objects() const {
    MutexLock lock(&mu_);
    std::vector<T> out;
    out.reserve(store_.size());
    for (const auto& [key, object] : store_) out.push_back(std::get<T>(object));
    return out;
  }
  size_t size() const;
  // synced: the first list completed.
  bool synced() const;
  std::string resource_version() const;
  // Status is for operators: "Pod: synced, 12 objects at resourceVersion 48213"
  // and "; last error: ..." when one happened.
  std::string Status() const;
  const ReflectorOptions& options() const { return options_; }

 private:
  struct WatchEnd {
    absl::Status status;
    bool gone = false;        // relist: the version is too old
    bool lost_event = false;  // relist: an event could not be taken in
    bool progressed = false;  // at least one event was taken in
  };

  absl::Status List(const std::atomic<bool>* stop);
  WatchEnd Watch(const std::atomic<bool>* stop);
  absl::Status HandleLine(absl::string_view line, WatchEnd& end);
  void RecordError(const absl::Status& status);

  const ReflectorOptions options_;
  const std::function<void()> on_change_;
  mutable Mutex mu_;
  std::map<std::string, Object> store_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

// QueryEscape percent-encodes everything but RFC 3986's unreserved characters.
std::string QueryEscape(absl::string_view s);

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_REFLECTOR_H_
