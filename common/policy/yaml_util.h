// YamlUtil: the small helpers the policy parsers share (policy.cc,
// traffic_yaml.cc): an error context naming the document, a check for
// unknown fields, and a scalar read. Internal to common/policy.
//
//   Ctx ctx("policies.yaml: document 2 (shop/cart)");
//   if (absl::Status st = CheckKeys(spec, {"timeout"}, ctx, "spec"); !st.ok()) return st;
//   // -> "policies.yaml: document 2 (shop/cart): spec.tmeout: unknown field (...)"
#ifndef TETHER_COMMON_POLICY_YAML_UTIL_H_
#define TETHER_COMMON_POLICY_YAML_UTIL_H_

#include <set>
#include <string>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace tether::policy::internal {

// Ctx: errors carry the place (file, document) and the path of the field.
class Ctx {
 public:
  explicit Ctx(std::string where) : where_(std::move(where)) {}
  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", field, ": ", what));
  }
  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

// CheckKeys: `node` is a mapping whose keys are all in `allowed`.
inline absl::Status CheckKeys(const YAML::Node& node, const std::set<std::string>& allowed,
                              const Ctx& ctx, absl::string_view field) {
  if (!node.IsMap()) return ctx.Error(field, "must be a mapping");
  for (const auto& kv : node) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (!allowed.count(key)) {
      return ctx.Error(
          absl::StrCat(field, field.empty() ? "" : ".", key),
          absl::StrCat("unknown field (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// Str: a scalar's text.
inline absl::StatusOr<std::string> Str(const YAML::Node& node, const Ctx& ctx,
                                       absl::string_view field) {
  if (!node.IsScalar()) return ctx.Error(field, "must be a string");
  return node.Scalar();
}

}  // namespace tether::policy::internal

#endif  // TETHER_COMMON_POLICY_YAML_UTIL_H_
