#include "control/kubernetes/configmap_list.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/http/response_reader.h"
#include "control/kubernetes/token_review_response.h"

namespace tether::control::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxShownText = 100;

absl::Status Malformed(absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat("malformed ConfigMapList: ", detail));
}

const Json* Member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// String returns the string at `key` of `object`, or nullptr when it is
// absent or not a string.
const std::string* String(const Json& object, const char* key) {
  const Json* value = Member(object, key);
  return value != nullptr && value->is_string() ? value->get_ptr<const std::string*>() : nullptr;
}

absl::StatusOr<ConfigMap> ParseItem(const Json& item, size_t index) {
  const std::string where = absl::StrCat("items[", index, "]");
  if (!item.is_object()) return Malformed(absl::StrCat(where, " is not an object"));
  const Json* meta = Member(item, "metadata");
  if (meta == nullptr || !meta->is_object()) {
    return Malformed(absl::StrCat(where, " has no metadata object"));
  }
  ConfigMap cm;
  const std::string* ns = String(*meta, "namespace");
  if (ns == nullptr || !IsDns1123Label(*ns)) {
    return Malformed(absl::StrCat(where, ".metadata.namespace is not a namespace name"));
  }
  cm.namespace_name = *ns;
  const std::string* name = String(*meta, "name");
  if (name == nullptr || !IsDns1123Subdomain(*name)) {
    return Malformed(absl::StrCat(where, ".metadata.name is not an object name"));
  }
  cm.name = *name;
  const std::string* version = String(*meta, "resourceVersion");
  if (version == nullptr || version->empty()) {
    return Malformed(
        absl::StrCat("ConfigMap ", cm.namespace_name, "/", cm.name, " has no resourceVersion"));
  }
  cm.resource_version = PrintableText(*version, kMaxShownText);
  const Json* data = Member(item, "data");
  if (data == nullptr || data->is_null()) return cm;
  if (!data->is_object()) {
    return Malformed(
        absl::StrCat("ConfigMap ", cm.namespace_name, "/", cm.name, ": data is not an object"));
  }
  for (const auto& [key, value] : data->items()) {
    if (!IsConfigMapKey(key)) {
      return Malformed(absl::StrCat("ConfigMap ", cm.namespace_name, "/", cm.name, ": key \"",
                                    PrintableText(key, kMaxShownText), "\" is not a valid key"));
    }
    if (!value.is_string()) {
      return Malformed(absl::StrCat("ConfigMap ", cm.namespace_name, "/", cm.name, ": data.", key,
                                    " is not a string"));
    }
    cm.data.emplace_back(key, value.get<std::string>());
  }
  // nlohmann keeps object members sorted already; the promise is ours.
  std::sort(cm.data.begin(), cm.data.end());
  return cm;
}

}  // namespace

bool IsConfigMapKey(absl::string_view key) {
  if (key.empty() || key.size() > 253) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

absl::StatusOr<ConfigMapList> ParseConfigMapList(absl::string_view json) {
  if (json.size() > http::kMaxHttpBodyBytes) return Malformed("larger than 1 MiB");
  const Json doc = Json::parse(json.begin(), json.end(), /*cb=*/nullptr,
                               /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Malformed("not valid JSON");
  if (!doc.is_object()) return Malformed("not a JSON object");
  const std::string* kind = String(doc, "kind");
  if (kind == nullptr || *kind != "ConfigMapList") return Malformed("kind is not ConfigMapList");
  const std::string* api_version = String(doc, "apiVersion");
  if (api_version == nullptr || *api_version != "v1") return Malformed("apiVersion is not v1");
  const Json* meta = Member(doc, "metadata");
  if (meta == nullptr || !meta->is_object()) return Malformed("no metadata object");
  ConfigMapList list;
  const std::string* version = String(*meta, "resourceVersion");
  if (version == nullptr) return Malformed("metadata.resourceVersion is not a string");
  list.resource_version = PrintableText(*version, kMaxShownText);
  if (const Json* cont = Member(*meta, "continue"); cont != nullptr && !cont->is_null()) {
    if (!cont->is_string()) return Malformed("metadata.continue is not a string");
    list.continue_token = cont->get<std::string>();
    if (PrintableText(list.continue_token, list.continue_token.size()) != list.continue_token) {
      return Malformed("metadata.continue is not printable ASCII");
    }
  }
  const Json* items = Member(doc, "items");
  if (items == nullptr || items->is_null()) return list;
  if (!items->is_array()) return Malformed("items is not a list");
  list.items.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    absl::StatusOr<ConfigMap> cm = ParseItem((*items)[i], i);
    if (!cm.ok()) return cm.status();
    list.items.push_back(*std::move(cm));
  }
  return list;
}

}  // namespace tether::control::kubernetes
