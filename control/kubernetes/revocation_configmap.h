// ConfigMapRevocations: the revocation list that the replicas of a control
// plane share (revocation_sync.h), kept in one ConfigMap, key
// revocations.json (revocation_state.h's JSON form).
//
//   ConfigMapRevocations shared(api, "tether-system", "tether-revocations");
//   RevocationSync sync(registry, &shared, clock);
//
// Read is a GET of the ConfigMap (404: nothing stored yet). Write creates it
// (POST; AlreadyExists means another replica came first) or replaces it
// with a PUT carrying the resourceVersion read, so that the API server
// refuses a write based on a stale read (409 Conflict): both are Aborted,
// and the caller reads and merges again. 401/403 (the token, or RBAC) and
// an unreachable server are Unavailable naming the ConfigMap; a ConfigMap
// whose key is missing or not a list is DataLoss. Not thread-safe
// (RevocationSync runs one pass at a time).
#ifndef TETHER_CONTROL_KUBERNETES_REVOCATION_CONFIGMAP_H_
#define TETHER_CONTROL_KUBERNETES_REVOCATION_CONFIGMAP_H_

#include <optional>
#include <string>

#include "control/ca/revocation_sync.h"
#include "control/kubernetes/api_client.h"

namespace tether::control::kubernetes {

inline constexpr char kRevocationsConfigMapKey[] = "revocations.json";
inline constexpr char kDefaultRevocationsConfigMap[] = "tether-system/tether-revocations";

// ParseRevocationsConfigMap reads the API server's answer to the GET of
// the ConfigMap (a pure function, fuzzed): Unavailable when it is not a
// ConfigMap with a resourceVersion, DataLoss when its key is missing or not
// a revocation list.
absl::StatusOr<SharedRevocations::Stored> ParseRevocationsConfigMap(absl::string_view body);

class ConfigMapRevocations final : public SharedRevocations {
 public:
  ConfigMapRevocations(ApiServer api, std::string ns, std::string name)
      : api_(std::move(api)), namespace_(std::move(ns)), name_(std::move(name)) {}

  absl::StatusOr<std::optional<Stored>> Read() override;
  absl::StatusOr<std::string> Write(const RevocationState& state,
                                    const std::optional<std::string>& revision) override;
  std::string Describe() const override;

 private:
  const ApiServer api_;
  const std::string namespace_;
  const std::string name_;
};

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_REVOCATION_CONFIGMAP_H_
