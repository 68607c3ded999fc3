// PolicyStore: the control plane's authorization policies, kept as YAML
// files in a directory (one resource per file when written by `tetherctl
// policy apply`; operators may also drop multi-document files in).
//
//   auto store = PolicyStore::Open(state_dir + "/policies");
//   store->SetOnChange([&] { streams->BroadcastPolicy(); });
//   (*store)->Apply(yaml, "cart.yaml");     // validated, written, live
//   (*store)->ReloadIfChanged();            // picks up edits made by hand
//
// Invalid input never replaces what is in force: Apply refuses the whole
// request, and a reload that finds an invalid file keeps the previous set
// and remembers the error (reload_error) until the directory is fixed.
// Thread-safe.
#ifndef TETHER_CONTROL_POLICY_POLICY_STORE_H_
#define TETHER_CONTROL_POLICY_POLICY_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/policy/policy.h"
#include "common/sync/mutex.h"

namespace tether::control {

struct PolicyState {
  uint64_t version = 0;  // increases with every change of `set`
  policy::PolicySet set;
};

class PolicyStore {
 public:
  // Open creates `dir` if needed and loads it; an invalid file is an error
  // naming it (a control plane must not start with half its policy).
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Open(std::string dir);

  std::shared_ptr<const PolicyState> Current() const;

  // Apply validates `yaml` (documents from `origin`) against the policies in
  // force and writes each resource to its own file. Returns a line per
  // resource: "AuthorizationPolicy shop/cart created|configured|unchanged".
  // InvalidArgument for invalid YAML; FailedPrecondition when a resource is
  // defined in a file written by hand that holds other resources too.
  absl::StatusOr<std::vector<std::string>> Apply(absl::string_view yaml, absl::string_view origin);

  // Delete removes one resource ("AuthorizationPolicy"/"DefaultPolicy";
  // namespace empty for the mesh default). NotFound if absent.
  absl::Status Delete(absl::string_view kind, absl::string_view ns, absl::string_view name);

  // ReloadIfChanged re-reads the directory when a file was added, removed
  // or modified; returns whether the policy set changed.
  absl::StatusOr<bool> ReloadIfChanged();
  std::string reload_error() const;

  // SetOnChange: called (without locks held) after every change.
  void SetOnChange(std::function<void()> on_change);

  const std::string& dir() const { return dir_; }

 private:
  // A resource's key: "AuthorizationPolicy/shop/cart", "DefaultPolicy//default".
  using Origins = std::map<std::string, std::string>;  // key -> file name
  struct Loaded {
    policy::PolicySet set;
    Origins origins;
    std::string signature;  // file names, sizes and times
  };

  explicit PolicyStore(std::string dir) : dir_(std::move(dir)) {}
  absl::StatusOr<Loaded> LoadDir() const;
  std::string Signature() const;
  // Install makes `loaded` current; returns whether the set changed.
  bool InstallLocked(Loaded loaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyChanged();

  const std::string dir_;
  mutable Mutex mu_;
  std::shared_ptr<const PolicyState> current_ ABSL_GUARDED_BY(mu_);
  Origins origins_ ABSL_GUARDED_BY(mu_);
  std::string signature_ ABSL_GUARDED_BY(mu_);
  std::string reload_error_ ABSL_GUARDED_BY(mu_);
  Mutex write_mu_;  // serializes Apply, Delete and reloads (taken before mu_)
  std::function<void()> on_change_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_POLICY_POLICY_STORE_H_
