// PolicyProto: the policy resource between its C++ form (policy.h) and the
// API's messages (api/tether/policy/v1/policy.proto), and the selection of
// what one workload needs.
//
//   tether::policy::v1::PolicySnapshot msg = ToProto(SelectFor(set, workload));
//   // on the proxy, from the stream (untrusted until checked):
//   absl::StatusOr<PolicySet> set = FromProto(msg);
#ifndef TETHER_COMMON_POLICY_POLICY_PROTO_H_
#define TETHER_COMMON_POLICY_POLICY_PROTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "api/tether/policy/v1/policy.pb.h"
#include "common/pki/spiffe_id.h"
#include "common/policy/policy.h"

namespace tether::policy {

// ToProto fills policies, defaults and traffic_policies (version and close_denied_connections
// are the caller's).
tether::policy::v1::PolicySnapshot ToProto(const PolicySet& set);

// FromProto checks every field as ParsePolicies checks the YAML (names,
// namespaces, SPIFFE IDs, ports, actions, duplicates; a TrafficPolicy's
// every field, as CheckTrafficPolicy): InvalidArgument naming the policy and
// field otherwise.
absl::StatusOr<PolicySet> FromProto(const tether::policy::v1::PolicySnapshot& msg);

// SelectFor keeps what `workload`'s proxy needs: the policies of its
// namespace that select it, its namespace's DefaultPolicy and the mesh's,
// and every TrafficPolicy (its client side may call any destination),
// sorted by namespace/name.
PolicySet SelectFor(const PolicySet& set, const pki::SpiffeId& workload);

// ToYaml renders `set` as YAML documents that ParsePolicies reads back to the
// same set.
std::string ToYaml(const PolicySet& set);

}  // namespace tether::policy

#endif  // TETHER_COMMON_POLICY_POLICY_PROTO_H_
