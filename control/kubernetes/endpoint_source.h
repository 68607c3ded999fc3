// KubernetesEndpointSource: the endpoint registry's facts from the cluster's
// Pods, Services and EndpointSlices, kept current by three list+watch
// reflectors (reflector.h) and mapped by MapEndpoints (endpoint_mapping.h).
//
//   KubernetesEndpointSource::Options opts;   // API server from KUBERNETES_SERVICE_*
//   opts.trust_domain = "mesh.local";
//   TETHER_ASSIGN_OR_RETURN(auto source, KubernetesEndpointSource::Create(
//       opts, [&](std::vector<Endpoint> all) { registry.ReplaceKubernetes(std::move(all)); }));
//   source->Start();
//   ... source->synced(), source->status() ...
//   source->Stop();   // or destroy it
//
// The callback gets the full current set (sorted by ip, port), first once all
// three collections were listed, then after changes: a burst of changes is
// coalesced into one call at most every `min_interval`, and a set equal to the
// last one delivered is not delivered again. It runs on the source's own
// publishing thread, one call at a time; it must not call Stop().
//
// Failures never end the source: each reflector retries with backoff, and
// status() names the last error of each collection for operators. Stop()
// ends every thread (an HTTP exchange in flight ends within ~50 ms) and is
// idempotent; Start() after Stop() is not supported.
#ifndef TETHER_CONTROL_KUBERNETES_ENDPOINT_SOURCE_H_
#define TETHER_CONTROL_KUBERNETES_ENDPOINT_SOURCE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sync/mutex.h"
#include "control/discovery/endpoint.h"
#include "control/kubernetes/api_client.h"
#include "control/kubernetes/reflector.h"

namespace tether::control::kubernetes {

class KubernetesEndpointSource {
 public:
  struct Options {
    ApiServer api;  // host and port resolved by Create
    std::string trust_domain = "cluster.local";
    absl::Duration min_interval = absl::Milliseconds(100);
    // Applied to all three reflectors (api and kind are set by Create).
    ReflectorOptions reflector;
  };
  using Callback = std::function<void(std::vector<Endpoint> endpoints)>;

  // Create resolves the API server and checks that the token and CA files are
  // readable now: FailedPrecondition naming what is missing; InvalidArgument
  // for an empty trust domain or a zero page size. Nothing runs until Start.
  static absl::StatusOr<std::unique_ptr<KubernetesEndpointSource>> Create(Options options,
                                                                          Callback callback);
  ~KubernetesEndpointSource();
  KubernetesEndpointSource(const KubernetesEndpointSource&) = delete;
  KubernetesEndpointSource& operator=(const KubernetesEndpointSource&) = delete;

  void Start();
  void Stop();

  // synced: all three initial lists completed.
  bool synced() const;
  // status: one line per collection, "Pod: synced, 12 objects at
  // resourceVersion 48213; last error: ...".
  std::string status() const;

 private:
  KubernetesEndpointSource(Options options, Callback callback);
  void MarkDirty();
  void Publish();
  bool SleepUnlessStopped(absl::Duration d);

  const Options options_;
  const Callback callback_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Reflector> pods_, services_, slices_;
  mutable Mutex mu_;
  CondVar changed_;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // touched by Start and Stop only
};

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_ENDPOINT_SOURCE_H_
