#include "control/inject/json_patch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tether::control::inject {
namespace {

void Diff(const Json& from, const Json& to, const std::string& path, Json& ops) {
  if (from == to) return;
  if (from.type() != to.type() || (!from.is_object() && !from.is_array())) {
    ops.push_back({{"op", "replace"}, {"path", path}, {"value", to}});
    return;
  }
  if (from.is_object()) {
    for (const auto& [key, value] : from.items()) {
      if (!to.contains(key)) {
        ops.push_back(
            {{"op", "remove"}, {"path", absl::StrCat(path, "/", EscapeJsonPointer(key))}});
      }
    }
    for (const auto& [key, value] : to.items()) {
      const std::string child = absl::StrCat(path, "/", EscapeJsonPointer(key));
      auto it = from.find(key);
      if (it == from.end()) {
        ops.push_back({{"op", "add"}, {"path", child}, {"value", value}});
      } else {
        Diff(*it, value, child, ops);
      }
    }
    return;
  }
  // Arrays: the common prefix and suffix stay; what is between them was
  // added, removed, or (anything else) is replaced wholesale.
  const size_t n = from.size();
  const size_t m = to.size();
  size_t prefix = 0;
  while (prefix < n && prefix < m && from[prefix] == to[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix && from[n - 1 - suffix] == to[m - 1 - suffix]) {
    ++suffix;
  }
  if (prefix + suffix == n) {
    for (size_t i = prefix; i < m - suffix; ++i) {
      ops.push_back({{"op", "add"}, {"path", absl::StrCat(path, "/", i)}, {"value", to[i]}});
    }
    return;
  }
  if (prefix + suffix == m) {
    for (size_t i = prefix; i < n - suffix; ++i) {
      ops.push_back({{"op", "remove"}, {"path", absl::StrCat(path, "/", prefix)}});
    }
    return;
  }
  if (n == m) {
    // Same length, elements changed in place (a container's field, say).
    for (size_t i = prefix; i < n - suffix; ++i) {
      Diff(from[i], to[i], absl::StrCat(path, "/", i), ops);
    }
    return;
  }
  ops.push_back({{"op", "replace"}, {"path", path}, {"value", to}});
}

}  // namespace

std::string EscapeJsonPointer(absl::string_view token) {
  return absl::StrReplaceAll(token, {{"~", "~0"}, {"/", "~1"}});
}

Json CreateJsonPatch(const Json& from, const Json& to) {
  Json ops = Json::array();
  Diff(from, to, "", ops);
  return ops;
}

}  // namespace tether::control::inject
