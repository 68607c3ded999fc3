// Policy: who may talk to whom. The resource operators write (YAML), its
// validation, and the compiled form a proxy evaluates on every new inbound
// connection.
//
//   apiVersion: tether.io/v1
//   kind: AuthorizationPolicy
//   metadata: {name: cart-callers, namespace: shop}
//   spec:
//     selector: {serviceAccounts: [cart]}      # optional: every workload of the namespace
//     action: ALLOW                            # ALLOW, DENY or AUDIT
//     rules:
//       - from:
//           - spiffeId: spiffe://mesh.local/ns/shop/sa/frontend
//           - namespace: checkout              # any identity of that namespace
//         ports: [8080]                        # optional: every port
//   ---
//   apiVersion: tether.io/v1
//   kind: DefaultPolicy                        # one per namespace, or mesh-wide
//   metadata: {name: default, namespace: shop} # namespace "" or omitted: mesh-wide
//   spec: {default: DENY}                      # or ALLOW_AUTHENTICATED (the default)
//
// The same documents may hold `kind: TrafficPolicy` (client-side timeouts and
// retries; see traffic.h), parsed into PolicySet::traffic.
//
// Sources: spiffeId (exact), namespace, trustDomain, authenticated: true (any
// peer with a valid mesh certificate), unauthenticated: true (plaintext peers
// on a permissive port).
//
// Decision, as Istio's: a matching DENY wins; otherwise, if any ALLOW policy
// selects the workload, the connection needs a matching ALLOW rule; otherwise
// the namespace default (else the mesh default, else ALLOW_AUTHENTICATED)
// decides. AUDIT policies never change the decision; they are reported.
#ifndef TETHER_COMMON_POLICY_POLICY_H_
#define TETHER_COMMON_POLICY_POLICY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/spiffe_id.h"
#include "common/policy/traffic.h"

namespace tether::policy {

enum class Action { kAllow, kDeny, kAudit };
enum class DefaultAction { kAllowAuthenticated, kDeny };

struct Source {
  enum Kind { kSpiffeId, kNamespace, kTrustDomain, kAuthenticated, kUnauthenticated };
  Kind kind = kAuthenticated;
  std::string value;  // the ID, namespace or trust domain
};

struct Rule {
  std::vector<Source> from;  // empty: any source
  std::vector<int> ports;    // empty: any port
};

struct AuthorizationPolicy {
  std::string name;
  std::string namespace_name;
  std::vector<std::string> service_accounts;  // empty: every workload of the namespace
  Action action = Action::kAllow;
  std::vector<Rule> rules;
};

struct DefaultPolicy {
  std::string name;
  std::string namespace_name;  // empty: mesh-wide
  DefaultAction action = DefaultAction::kAllowAuthenticated;
};

struct PolicySet {
  std::vector<AuthorizationPolicy> policies;
  std::vector<DefaultPolicy> defaults;
  // TrafficPolicies, in the order read (TrafficTable::Compile sorts them).
  std::vector<TrafficPolicy> traffic;
};

// ParseOptions: where the documents come from. By default (a file, a
// `tetherctl policy apply`) they may define policies of any namespace, and a
// DefaultPolicy without metadata.namespace is the mesh-wide default.
struct ParseOptions {
  // Non-empty: the documents belong to this namespace (as a Kubernetes
  // ConfigMap's do). A resource without metadata.namespace is of this
  // namespace, and one naming another namespace is refused.
  std::string scope_namespace;
  // With scope_namespace: a DefaultPolicy without metadata.namespace is the
  // mesh-wide default (the root namespace's privilege) rather than the
  // scope's own.
  bool scope_sets_mesh_default = false;
};

// ParsePolicies reads one or more YAML documents (`---`-separated, or a
// `kind: List` with `items`). Unknown kinds, unknown fields, bad values and
// duplicates are InvalidArgument naming `origin` (a file name), the document
// index and the field, e.g. "policies.yaml: document 2 (shop/cart-callers):
// spec.rules[0].ports[1]: 70000 is not a port". Never throws.
absl::StatusOr<PolicySet> ParsePolicies(absl::string_view yaml, absl::string_view origin,
                                        const ParseOptions& options = {});

// The peer of a connection as the inbound proxy sees it.
struct Peer {
  std::optional<pki::SpiffeId> id;  // nullopt: plaintext (unauthenticated)
};

struct Decision {
  bool allowed = false;
  // "policy shop/cart-callers rule 0", "default DENY (namespace shop)", ...
  std::string decided_by;
  // AUDIT policies whose rules matched.
  std::vector<std::string> audited_by;
};

// CompiledPolicy: the policies that select one workload, ready to evaluate.
// Immutable; shared by every worker through a snapshot.
class CompiledPolicy {
 public:
  static std::shared_ptr<const CompiledPolicy> Compile(const PolicySet& set,
                                                       const pki::SpiffeId& workload);
  Decision Evaluate(const Peer& peer, int port) const;
  size_t policy_count() const { return policies_.size(); }

 private:
  std::vector<AuthorizationPolicy> policies_;
  DefaultAction default_ = DefaultAction::kAllowAuthenticated;
  std::string default_origin_ = "mesh default";
};

// Describe returns a short human form of a decision, for logs and tetherctl.
std::string Describe(const Decision& d);

}  // namespace tether::policy

#endif  // TETHER_COMMON_POLICY_POLICY_H_
