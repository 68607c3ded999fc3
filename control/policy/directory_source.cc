#include "control/policy/directory_source.h"

#include <algorithm>

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control {
namespace {

constexpr size_t kMaxPolicyFileBytes = 1 << 20;

bool IsPolicyFile(const std::string& name) {
  return !name.empty() && name[0] != '.' && !absl::StrContains(name, ".tmp.") &&
         (absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml"));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> DirectoryPolicySource::ListPolicyFiles(
    const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::InternalError(absl::StrCat("cannot read ", dir, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (IsPolicyFile(e->d_name)) names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string DirectoryPolicySource::Signature() const {
  std::string sig;
  absl::StatusOr<std::vector<std::string>> names = ListPolicyFiles(dir_);
  if (!names.ok()) return "unreadable";
  for (const std::string& name : *names) {
    struct stat st;
    if (stat(absl::StrCat(dir_, "/", name).c_str(), &st) != 0) continue;
    absl::StrAppend(&sig, name, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, ";");
  }
  return sig;
}

absl::StatusOr<std::optional<PolicyDocuments>> DirectoryPolicySource::ReadIfChanged() {
  // The signature is taken first: an edit made while reading shows as a
  // change at the next call.
  std::string signature = Signature();
  if (signature_ == signature) return std::nullopt;
  absl::StatusOr<std::vector<std::string>> names = ListPolicyFiles(dir_);
  if (!names.ok()) return names.status();
  PolicyDocuments docs;
  for (const std::string& name : *names) {
    PolicyDocument doc;
    doc.origin = absl::StrCat(dir_, "/", name);
    doc.short_name = name;
    absl::StatusOr<std::string> yaml = ReadFile(doc.origin, kMaxPolicyFileBytes);
    if (!yaml.ok()) return yaml.status();
    doc.yaml = *std::move(yaml);
    docs.documents.push_back(std::move(doc));
  }
  signature_ = std::move(signature);
  return docs;
}

std::string DirectoryPolicySource::ReadOnlyMessage() const {
  return absl::StrCat("policies come from ", Describe(), "; edit its files");
}

}  // namespace tether::control
