// EndpointRegistry: which identities may answer at which address, the
// control plane's source of truth for secure naming. Filled only from
// trusted sources: the addresses an operator bound to a join token (from the
// moment its workload first authenticates) and the Kubernetes API.
//
//   TETHER_ASSIGN_OR_RETURN(auto reg, EndpointRegistry::Load(state_dir + "/endpoints.json",
//   clock)); reg->SetOnChange([&] { streams.BroadcastDiscovery(); }); reg->BindJoinToken(id,
//   {{"10.0.0.5", 0}});     // on a join-token Hello reg->SetKubernetes(endpoints_from_the_watch);
//   // the whole Kubernetes set std::shared_ptr<const EndpointSnapshot> now = reg->Current();
//
// Join-token bindings are kept in `path` (JSON, written atomically before
// the change takes effect), so a restart loses none; a workload's newer
// binding replaces its older one. The Kubernetes set is in memory: it is
// listed again at start. Where both sources name one (ip, port), the entry
// holds the union of their identities and both origins.
//
// Snapshots are immutable and versioned: every change that alters the merged
// set makes a new one with a higher version (one that alters nothing makes
// none). Thread-safe; the change callback runs on the caller's thread after
// the new snapshot is published, outside the lock.
#ifndef TETHER_CONTROL_DISCOVERY_ENDPOINT_REGISTRY_H_
#define TETHER_CONTROL_DISCOVERY_ENDPOINT_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/pki/spiffe_id.h"
#include "common/sync/mutex.h"
#include "control/discovery/endpoint.h"
#include "control/discovery/endpoint_address.h"

namespace tether::control {

struct EndpointSnapshot {
  uint64_t version = 0;
  // False while a source the registry waits for (ExpectKubernetes) has not
  // delivered its first set: the registry is not yet what it will be, and
  // is not streamed to proxies (which would take a missing entry for an
  // address outside the mesh).
  bool complete = true;
  std::vector<Endpoint> endpoints;  // sorted by (ip, port), keys unique
  // When each entry (by key "ip|port") last changed, for `tetherctl endpoints`.
  std::map<std::string, absl::Time> since;
};

inline constexpr size_t kMaxAddressesPerWorkload = 16;

class EndpointRegistry {
 public:
  // Load reads the join-token bindings at `path` if it exists (empty `path`:
  // in memory only, for tests). A corrupt file is an error naming it.
  static absl::StatusOr<std::unique_ptr<EndpointRegistry>> Load(std::string path,
                                                                const Clock* clock);

  // BindJoinToken records that `id` answers at `addresses` (replacing what
  // it was bound to before; empty: no binding). Unavailable if the binding
  // cannot be stored (nothing changes then).
  absl::Status BindJoinToken(const pki::SpiffeId& id,
                             const std::vector<EndpointAddress>& addresses);

  // ExpectKubernetes marks the registry incomplete until the first
  // SetKubernetes; call before serving.
  void ExpectKubernetes();
  // SetKubernetes replaces every Kubernetes entry with `endpoints`.
  void SetKubernetes(std::vector<Endpoint> endpoints);

  std::shared_ptr<const EndpointSnapshot> Current() const;
  void SetOnChange(std::function<void()> callback);

 private:
  EndpointRegistry(std::string path, const Clock* clock) : path_(std::move(path)), clock_(clock) {}
  absl::Status SaveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RebuildLocked merges both sources; true when the merged set (or its
  // completeness) changed.
  bool RebuildLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify();

  const std::string path_;
  const Clock* const clock_;
  mutable Mutex mu_;
  // SPIFFE ID -> its bound addresses.
  std::map<std::string, std::vector<EndpointAddress>> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<Endpoint> kubernetes_ ABSL_GUARDED_BY(mu_);
  bool waiting_for_kubernetes_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const EndpointSnapshot> current_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_change_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_DISCOVERY_ENDPOINT_REGISTRY_H_
