#include "control/kubernetes/cluster_publisher.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tether::control::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr char kFieldManager[] = "tether-control";

// QueryEscape percent-encodes a query value (label selectors hold '=' and '/').
std::string QueryEscape(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::StrFormat("%02X", c));
    }
  }
  return out;
}

absl::Status Failure(absl::string_view what, const absl::StatusOr<HttpResult>& r) {
  if (!r.ok()) return absl::UnavailableError(absl::StrCat(what, ": ", r.status().message()));
  return absl::UnavailableError(absl::StrCat(what, ": HTTP ", r->status, " ", ApiErrorMessage(*r)));
}

}  // namespace

absl::Status ClusterPublisher::Publish(absl::string_view roots_pem) {
  const bool resync = passes_++ % std::max(1, options_.full_resync_every) == 0;
  absl::Status first = absl::OkStatus();
  auto note = [&first](absl::Status st) {
    if (first.ok() && !st.ok()) first = std::move(st);
  };

  const std::string list_path =
      absl::StrCat("/api/v1/namespaces?labelSelector=", QueryEscape(options_.namespace_selector));
  std::vector<std::string> namespaces = options_.extra_namespaces;
  absl::StatusOr<HttpResult> list = CallApi(options_.api, "GET", list_path, "", "");
  const Json doc =
      list.ok() && list->status == 200 ? Json::parse(list->body, nullptr, false) : Json();
  if (!list.ok() || list->status != 200) {
    note(Failure("listing the namespaces to inject", list));
  } else if (!doc.is_object() || !doc.contains("items") || !doc["items"].is_array()) {
    note(absl::UnavailableError("listing the namespaces to inject: not a NamespaceList"));
  } else {
    for (const Json& item : doc["items"]) {
      if (item.is_object() && item.contains("metadata") && item["metadata"].is_object() &&
          item["metadata"].contains("name") && item["metadata"]["name"].is_string()) {
        namespaces.push_back(item["metadata"]["name"].get<std::string>());
      }
    }
  }
  std::map<std::string, std::string> still;
  for (const std::string& ns : namespaces) {
    if (still.count(ns) != 0) continue;
    auto it = applied_.find(ns);
    if (!resync && it != applied_.end() && it->second == roots_pem) {
      still[ns] = it->second;
      continue;
    }
    absl::Status st = ApplyConfigMap(ns, roots_pem);
    if (st.ok()) still[ns] = std::string(roots_pem);
    note(std::move(st));
  }
  // After a failed listing, keep what is known so that nothing is rewritten
  // needlessly once the API server answers again.
  if (list.ok() && list->status == 200) {
    applied_ = std::move(still);
  } else {
    applied_.merge(still);
  }
  if (!options_.webhook_configuration.empty()) note(PatchWebhookCaBundle(roots_pem));
  return first;
}

absl::Status ClusterPublisher::ApplyConfigMap(const std::string& ns, absl::string_view roots_pem) {
  const Json cm = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata",
       {{"name", options_.configmap},
        {"namespace", ns},
        {"labels", {{"app.kubernetes.io/managed-by", kFieldManager}}}}},
      {"data", {{"roots.pem", std::string(roots_pem)}}},
  };
  // Server-side apply: creates or updates, and owns only these fields.
  const std::string path =
      absl::StrCat("/api/v1/namespaces/", QueryEscape(ns), "/configmaps/",
                   QueryEscape(options_.configmap), "?fieldManager=", kFieldManager, "&force=true");
  absl::StatusOr<HttpResult> r =
      CallApi(options_.api, "PATCH", path, "application/apply-patch+yaml", cm.dump());
  if (!r.ok() || (r->status != 200 && r->status != 201)) {
    return Failure(absl::StrCat("writing the trust bundle ConfigMap ", ns, "/", options_.configmap),
                   r);
  }
  return absl::OkStatus();
}

absl::Status ClusterPublisher::PatchWebhookCaBundle(absl::string_view roots_pem) {
  const std::string path =
      absl::StrCat("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/",
                   QueryEscape(options_.webhook_configuration));
  const std::string what = absl::StrCat("setting the caBundle of MutatingWebhookConfiguration ",
                                        options_.webhook_configuration);
  absl::StatusOr<HttpResult> got = CallApi(options_.api, "GET", path, "", "");
  if (got.ok() && got->status == 404) return absl::OkStatus();  // not installed
  if (!got.ok() || got->status != 200) return Failure(what, got);
  const Json config = Json::parse(got->body, nullptr, false);
  if (!config.is_object() || !config.contains("webhooks") || !config["webhooks"].is_array()) {
    return absl::UnavailableError(absl::StrCat(what, ": the object has no webhooks"));
  }
  const std::string wanted = absl::Base64Escape(roots_pem);
  Json ops = Json::array();
  // Patch only what this version of the object holds.
  if (config.contains("metadata") && config["metadata"].is_object() &&
      config["metadata"].contains("resourceVersion")) {
    ops.push_back({{"op", "test"},
                   {"path", "/metadata/resourceVersion"},
                   {"value", config["metadata"]["resourceVersion"]}});
  }
  const Json& webhooks = config["webhooks"];
  for (size_t i = 0; i < webhooks.size(); ++i) {
    const Json& w = webhooks[i];
    if (!w.is_object() || !w.contains("clientConfig") || !w["clientConfig"].is_object()) continue;
    const Json& cc = w["clientConfig"];
    if (cc.contains("caBundle") && cc["caBundle"] == wanted) continue;
    ops.push_back({{"op", "add"},
                   {"path", absl::StrCat("/webhooks/", i, "/clientConfig/caBundle")},
                   {"value", wanted}});
  }
  if (ops.empty() || (ops.size() == 1 && ops[0]["op"] == "test")) return absl::OkStatus();
  absl::StatusOr<HttpResult> r =
      CallApi(options_.api, "PATCH", path, "application/json-patch+json", ops.dump());
  if (!r.ok() || r->status != 200) return Failure(what, r);
  return absl::OkStatus();
}

}  // namespace tether::control::kubernetes
