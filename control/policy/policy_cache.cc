#include "control/policy/policy_cache.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control {

constexpr size_t kMaxCacheFileBytes = 4 << 20;

std::string PolicyCache::Path(const std::string& group) const {
  // Hex: a group name (a namespace, a directory) never makes a path of its own.
  return absl::StrCat(dir_, "/", group.empty() ? "-" : absl::BytesToHexString(group), ".json");
}

absl::Status PolicyCache::Save(const std::string& group,
                               const std::vector<const PolicyDocument*>& docs) {
  nlohmann::json list = nlohmann::json::array();
  for (const PolicyDocument* d : docs) {
    list.push_back({{"origin", d->origin},
                    {"short_name", d->short_name},
                    {"yaml", d->yaml},
                    {"scope_namespace", d->parse.scope_namespace},
                    {"scope_sets_mesh_default", d->parse.scope_sets_mesh_default}});
  }
  if (absl::Status st = MakeDirs(dir_, 0700); !st.ok()) return st;
  const nlohmann::json file = {{"group", group}, {"documents", std::move(list)}};
  return WriteFileAtomic(Path(group),
                         file.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 0600);
}

std::optional<std::vector<PolicyDocument>> PolicyCache::Load(const std::string& group) const {
  absl::StatusOr<std::string> text = ReadFile(Path(group), kMaxCacheFileBytes);
  if (!text.ok()) return std::nullopt;
  const nlohmann::json file = nlohmann::json::parse(*text, nullptr, false);
  if (!file.is_object() || file.value("group", "") != group || !file.contains("documents") ||
      !file["documents"].is_array()) {
    return std::nullopt;
  }
  std::vector<PolicyDocument> docs;
  for (const nlohmann::json& d : file["documents"]) {
    if (!d.is_object()) return std::nullopt;
    PolicyDocument doc;
    doc.origin = d.value("origin", "");
    doc.short_name = d.value("short_name", "");
    doc.yaml = d.value("yaml", "");
    doc.parse.scope_namespace = d.value("scope_namespace", "");
    doc.parse.scope_sets_mesh_default = d.value("scope_sets_mesh_default", false);
    doc.group = group;
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace tether::control
