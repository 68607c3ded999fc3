// PolicyStore: the control plane's policies (AuthorizationPolicy,
// DefaultPolicy, TrafficPolicy), read from a PolicySource and validated: a
// directory of YAML files that `tetherctl policy apply` writes (one resource
// per file; operators may also drop multi-document files in), or, on
// Kubernetes, ConfigMaps (read-only here).
//
//   auto store = PolicyStore::Open(state_dir + "/policies");
//   store->SetOnChange([&] { streams->BroadcastPolicy(); });
//   (*store)->Apply(yaml, "cart.yaml");     // validated, written, live
//   (*store)->ReloadIfChanged();            // picks up edits made by hand
//
// Invalid input never replaces what is in force: Apply refuses the whole
// request, and a reload that finds invalid documents keeps the previous
// resources of their group (see policy_source.h; a directory is one group, a
// Kubernetes namespace another) and remembers the error (reload_error) until
// the source is fixed. A resource defined twice is an error naming both
// places. Thread-safe.
#ifndef TETHER_CONTROL_POLICY_POLICY_STORE_H_
#define TETHER_CONTROL_POLICY_POLICY_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/policy/policy.h"
#include "common/sync/mutex.h"
#include "control/policy/directory_source.h"
#include "control/policy/policy_cache.h"
#include "control/policy/policy_source.h"

namespace tether::control {

struct PolicyState {
  uint64_t version = 0;  // increases with every change of what follows
  policy::PolicySet set;
  // Whether the source was read at least once.
  bool loaded = true;
  // Namespaces whose documents were invalid ever since this store started,
  // so that it has no valid version of their policies to keep ("": the
  // mesh-wide default's namespace was).
  std::set<std::string> unknown_namespaces;

  // Knows reports whether `set` holds the policy of the workloads of
  // namespace `ns`: the source was read, and neither `ns` nor the mesh-wide
  // default is unknown. A workload that is not known about should keep the
  // policy it has rather than be sent a partial one.
  bool Knows(absl::string_view ns) const;
};

class PolicyStore {
 public:
  // Open creates `dir` if needed and loads it; an invalid file is an error
  // naming it (a control plane must not start with half its policy).
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Open(std::string dir);

  // FromSource reads `source` once and is ready whatever the outcome: until
  // a read succeeds, Current()->loaded is false and reload_error says why.
  // Apply and Delete are refused (FailedPrecondition) with the source's
  // ReadOnlyMessage. With a `cache_dir`, every group's last valid documents
  // are kept there (PolicyCache), and a group whose documents are invalid
  // with no valid version in memory (the first read after a restart) takes
  // the one kept there instead of becoming unknown.
  static std::unique_ptr<PolicyStore> FromSource(std::shared_ptr<PolicySource> source,
                                                 std::string cache_dir = "");

  std::shared_ptr<const PolicyState> Current() const;

  // Apply validates `yaml` (documents from `origin`) against the policies in
  // force and writes each resource to its own file. Returns a line per
  // resource: "AuthorizationPolicy shop/cart created|configured|unchanged".
  // InvalidArgument for invalid YAML; FailedPrecondition when a resource is
  // defined in a file written by hand that holds other resources too, or
  // when the policies do not come from a directory.
  absl::StatusOr<std::vector<std::string>> Apply(absl::string_view yaml, absl::string_view origin);

  // Delete removes one resource ("AuthorizationPolicy", "DefaultPolicy" or
  // "TrafficPolicy";
  // namespace empty for the mesh default). NotFound if absent;
  // FailedPrecondition as Apply.
  absl::Status Delete(absl::string_view kind, absl::string_view ns, absl::string_view name);

  // ReloadIfChanged re-reads the source when it changed and installs what is
  // valid; returns whether the policy changed, or the problems (the source
  // unreadable, invalid documents) when there are new ones.
  absl::StatusOr<bool> ReloadIfChanged();
  // reload_error: what is wrong with the source now ("" when nothing is).
  std::string reload_error() const;

  // SetOnChange: called (without locks held) after every change.
  void SetOnChange(std::function<void()> on_change);

  // source names where the policies come from ("directory /x/policies").
  std::string source() const { return source_->Describe(); }
  // dir is the directory Apply writes to ("" when the source is not one).
  const std::string& dir() const { return dir_; }

 private:
  // A resource's key: "AuthorizationPolicy/shop/cart", "DefaultPolicy//default",
  // "TrafficPolicy/shop/cart".
  using Origins = std::map<std::string, std::string>;  // key -> PolicyDocument::short_name
  // The valid resources of one group of documents.
  struct Group {
    policy::PolicySet set;
    Origins origins;
  };
  using Groups = std::map<std::string, Group>;
  // A read of the source, validated.
  struct Loaded {
    Groups groups;
    std::set<std::string> unknown_namespaces;
    std::string errors;  // "" when every group was valid
    uint64_t revision = 0;
  };

  PolicyStore(std::shared_ptr<PolicySource> source, DirectoryPolicySource* directory,
              std::string dir)
      : source_(std::move(source)), directory_(directory), dir_(std::move(dir)) {}
  static absl::StatusOr<Group> Validate(const std::vector<const PolicyDocument*>& docs);
  // Validated sorts `docs` into groups and validates each; a group that
  // fails keeps its resources from `previous`, else from `cache` (may be
  // null), which also records every group that validates.
  static Loaded Validated(const PolicyDocuments& docs, const Groups& previous, PolicyCache* cache);
  // ReloadLocked reads the source if it changed and installs what is valid.
  // Returns whether the state changed, or what went wrong in this read (the
  // source unreadable, or invalid documents) after installing the rest.
  absl::StatusOr<bool> ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Install makes `loaded` current; returns whether the state changed.
  bool InstallLocked(Loaded loaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RefuseWrites() const;
  void NotifyChanged();

  const std::shared_ptr<PolicySource> source_;  // used under write_mu_
  std::unique_ptr<PolicyCache> cache_;          // used under write_mu_; may be null
  DirectoryPolicySource* const directory_;      // source_, when it is a directory
  const std::string dir_;
  mutable Mutex mu_;
  std::shared_ptr<const PolicyState> current_ ABSL_GUARDED_BY(mu_);
  Groups groups_ ABSL_GUARDED_BY(mu_);
  Origins origins_ ABSL_GUARDED_BY(mu_);  // of every group
  std::string validation_error_ ABSL_GUARDED_BY(mu_);
  std::string source_error_ ABSL_GUARDED_BY(mu_);
  Mutex write_mu_;  // serializes Apply, Delete and reloads (taken before mu_)
  std::function<void()> on_change_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_POLICY_POLICY_STORE_H_
