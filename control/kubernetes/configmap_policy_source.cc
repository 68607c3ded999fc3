#include "control/kubernetes/configmap_policy_source.h"

#include <algorithm>
#include <iterator>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/kubernetes/configmap_list.h"
#include "control/kubernetes/token_review_response.h"

namespace tether::control::kubernetes {
namespace {

constexpr char kListPath[] = "/api/v1/configmaps";
// What one read may bring in all (each page is at most 1 MiB), and how many
// pages: a bound on memory, and on a server that never stops paging.
constexpr size_t kMaxListBytes = size_t{16} << 20;
constexpr int kMaxPages = 1000;
constexpr char kPermission[] = "get, list and watch configmaps (all namespaces)";

// QueryEscape percent-encodes everything but RFC 3986's unreserved bytes.
std::string QueryEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

absl::Status ListFailure(const HttpResult& r, const ApiServer& api) {
  std::string message = ApiErrorMessage(r);
  std::string detail = absl::StrCat("HTTP ", r.status, message.empty() ? "" : ": ", message);
  if (r.status == 401) {
    return absl::UnavailableError(absl::StrCat(
        "the Kubernetes API server did not accept the control plane's own service-account token "
        "from ",
        api.token_file, " (", detail, ")"));
  }
  if (r.status == 403) {
    return absl::UnavailableError(absl::StrCat(
        "the control plane's service account lacks the RBAC permission to ", kPermission, " (",
        detail, "); its ClusterRole needs the verbs get, list and watch on configmaps"));
  }
  if (r.status == 410) {
    return absl::UnavailableError(
        absl::StrCat("the ConfigMap list expired while it was read page by page (", detail, ")"));
  }
  return absl::UnavailableError(absl::StrCat("the Kubernetes API server answered ", detail));
}

bool IsPolicyKey(absl::string_view key) {
  return absl::EndsWith(key, ".yaml") || absl::EndsWith(key, ".yml");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigMapPolicySource>> ConfigMapPolicySource::Create(
    Options options) {
  if (!IsDns1123Label(options.root_namespace)) {
    return absl::InvalidArgumentError(absl::StrCat("policy root namespace \"",
                                                   PrintableText(options.root_namespace, 100),
                                                   "\" is not a namespace name"));
  }
  if (options.page_size == 0) return absl::InvalidArgumentError("page size must be positive");
  if (absl::Status st = ResolveApiServer(&options.api); !st.ok()) return st;
  // Fail at start-up, not at the first read, when a file is missing.
  if (absl::Status st = CheckApiServerFiles(options.api); !st.ok()) {
    return absl::FailedPreconditionError(st.message());
  }
  return std::unique_ptr<ConfigMapPolicySource>(new ConfigMapPolicySource(std::move(options)));
}

std::string ConfigMapPolicySource::Describe() const {
  return absl::StrCat("ConfigMaps labelled ", kPolicyLabel);
}

std::string ConfigMapPolicySource::ReadOnlyMessage() const {
  return absl::StrCat("policies come from ", Describe(), "; change them with kubectl apply");
}

absl::StatusOr<std::optional<PolicyDocuments>> ConfigMapPolicySource::ReadIfChanged() {
  std::vector<ConfigMap> items;
  std::string list_version;
  std::string continue_token;
  size_t total_bytes = 0;
  for (int page = 0;; ++page) {
    if (page == kMaxPages) {
      return absl::UnavailableError(
          absl::StrCat("the ConfigMap list did not end after ", kMaxPages, " pages"));
    }
    std::string path = absl::StrCat(kListPath, "?labelSelector=", QueryEscape(kPolicyLabel),
                                    "&limit=", options_.page_size);
    if (!continue_token.empty()) absl::StrAppend(&path, "&continue=", QueryEscape(continue_token));
    absl::StatusOr<HttpResult> response = CallApi(options_.api, "GET", path, "", "");
    if (!response.ok()) {
      return absl::UnavailableError(
          absl::StrCat("listing ConfigMaps failed: ", response.status().message()));
    }
    if (response->status != 200) return ListFailure(*response, options_.api);
    total_bytes += response->body.size();
    if (total_bytes > kMaxListBytes) {
      return absl::UnavailableError(
          absl::StrCat("the ConfigMaps labelled ", kPolicyLabel, " hold more than 16 MiB"));
    }
    absl::StatusOr<ConfigMapList> list = ParseConfigMapList(response->body);
    if (!list.ok()) return list.status();
    if (page == 0) list_version = list->resource_version;
    std::move(list->items.begin(), list->items.end(), std::back_inserter(items));
    if (list->continue_token.empty()) break;
    continue_token = std::move(list->continue_token);
  }
  std::sort(items.begin(), items.end(), [](const ConfigMap& a, const ConfigMap& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  });

  // What changed shows in the resourceVersions: nothing to parse otherwise.
  std::string signature;
  for (const ConfigMap& cm : items) {
    absl::StrAppend(&signature, cm.namespace_name, "/", cm.name, "@", cm.resource_version, ";");
  }
  if (signature_ == signature) return std::nullopt;

  PolicyDocuments docs;
  if (!absl::SimpleAtoi(list_version, &docs.revision)) docs.revision = 0;
  for (ConfigMap& cm : items) {
    for (auto& [key, value] : cm.data) {
      if (!IsPolicyKey(key)) continue;
      PolicyDocument doc;
      doc.origin = absl::StrCat("configmap ", cm.namespace_name, "/", cm.name, " key ", key);
      doc.short_name = doc.origin;
      doc.yaml = std::move(value);
      doc.group = cm.namespace_name;
      doc.parse.scope_namespace = cm.namespace_name;
      doc.parse.scope_sets_mesh_default = cm.namespace_name == options_.root_namespace;
      docs.documents.push_back(std::move(doc));
    }
  }
  signature_ = std::move(signature);
  return docs;
}

}  // namespace tether::control::kubernetes
