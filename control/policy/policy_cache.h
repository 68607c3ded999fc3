// PolicyCache: the last valid documents of each policy group, kept on disk
// (the control plane's state directory), so that a group whose source
// documents are invalid when the control plane starts still has a policy:
// the one it last validated, rather than none.
//
//   PolicyCache cache(state_dir + "/policy-last-good");
//   cache.Save("shop", docs);                    // after `docs` validated
//   std::optional<std::vector<PolicyDocument>> last = cache.Load("shop");
//
// One JSON file per group, written atomically (common/files). A file that
// cannot be read or parsed is as good as none: Load returns nullopt and
// the caller treats the group as unknown. Not thread-safe; PolicyStore
// calls it under its write lock.
#ifndef TETHER_CONTROL_POLICY_POLICY_CACHE_H_
#define TETHER_CONTROL_POLICY_POLICY_CACHE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "control/policy/policy_source.h"

namespace tether::control {

class PolicyCache {
 public:
  explicit PolicyCache(std::string dir) : dir_(std::move(dir)) {}

  // Save records `docs` as group `group`'s last valid documents.
  absl::Status Save(const std::string& group, const std::vector<const PolicyDocument*>& docs);
  // Load: the documents last saved for `group`, nullopt if none (or unreadable).
  std::optional<std::vector<PolicyDocument>> Load(const std::string& group) const;
  // Path: the file of `group`, for messages.
  std::string Path(const std::string& group) const;

 private:
  const std::string dir_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_POLICY_POLICY_CACHE_H_
