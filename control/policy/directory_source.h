// DirectoryPolicySource: the policy documents in a directory's *.yaml and
// *.yml files (hidden files and write-in-progress "*.tmp.*" files skipped),
// read again when a file was added, removed or modified (by name, size and
// modification time).
//
//   DirectoryPolicySource source("/var/lib/tether/policies");
//   auto docs = source.ReadIfChanged();  // every file, one group
//
// Errors: Internal when the directory or a file cannot be read.
#ifndef TETHER_CONTROL_POLICY_DIRECTORY_SOURCE_H_
#define TETHER_CONTROL_POLICY_DIRECTORY_SOURCE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "control/policy/policy_source.h"

namespace tether::control {

class DirectoryPolicySource final : public PolicySource {
 public:
  explicit DirectoryPolicySource(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<std::optional<PolicyDocuments>> ReadIfChanged() override;
  std::string Describe() const override { return "directory " + dir_; }
  std::string ReadOnlyMessage() const override;

  // Forget makes the next ReadIfChanged read the files whatever their
  // signature (file times are coarse: a write a few milliseconds after the
  // last read may look unchanged).
  void Forget() { signature_.reset(); }

  // ListPolicyFiles returns the names of the policy files in `dir`, sorted.
  static absl::StatusOr<std::vector<std::string>> ListPolicyFiles(const std::string& dir);

 private:
  std::string Signature() const;

  const std::string dir_;
  std::optional<std::string> signature_;  // of the last successful read
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_POLICY_DIRECTORY_SOURCE_H_
