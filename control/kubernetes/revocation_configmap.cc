#include "control/kubernetes/revocation_configmap.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace tether::control::kubernetes {

using Json = nlohmann::json;

std::string ConfigMapRevocations::Describe() const {
  return absl::StrCat("ConfigMap ", namespace_, "/", name_);
}

absl::StatusOr<std::optional<SharedRevocations::Stored>> ConfigMapRevocations::Read() {
  absl::StatusOr<HttpResult> r =
      CallApi(api_, "GET", absl::StrCat("/api/v1/namespaces/", namespace_, "/configmaps/", name_),
              "", "");
  if (!r.ok()) return absl::UnavailableError(r.status().message());
  if (r->status == 404) return std::nullopt;
  if (r->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("reading it: HTTP ", r->status, " ", ApiErrorMessage(*r)));
  }
  return ParseRevocationsConfigMap(r->body);
}

absl::StatusOr<SharedRevocations::Stored> ParseRevocationsConfigMap(absl::string_view body) {
  const Json cm = Json::parse(body.begin(), body.end(), nullptr, false);
  const Json* rv = nullptr;
  if (cm.is_object() && cm.contains("metadata") && cm["metadata"].is_object() &&
      cm["metadata"].contains("resourceVersion") && cm["metadata"]["resourceVersion"].is_string()) {
    rv = &cm["metadata"]["resourceVersion"];
  }
  if (rv == nullptr || rv->get<std::string>().empty()) {
    return absl::UnavailableError("the API server's answer is not a ConfigMap");
  }
  if (!cm.contains("data") || !cm["data"].is_object() ||
      !cm["data"].contains(kRevocationsConfigMapKey) ||
      !cm["data"][kRevocationsConfigMapKey].is_string()) {
    return absl::DataLossError(absl::StrCat(
        "it has no key ", kRevocationsConfigMapKey,
        "; repair it or delete it (the control plane then writes back the list it holds)"));
  }
  absl::StatusOr<RevocationState> state = DecodeRevocations(
      cm["data"][kRevocationsConfigMapKey].get<std::string>(), kRevocationsConfigMapKey);
  if (!state.ok()) {
    return absl::DataLossError(absl::StrCat(
        state.status().message(),
        "; repair it or delete it (the control plane then writes back the list it holds)"));
  }
  return SharedRevocations::Stored{*std::move(state), rv->get<std::string>()};
}

absl::StatusOr<std::string> ConfigMapRevocations::Write(
    const RevocationState& state, const std::optional<std::string>& revision) {
  Json metadata = {{"name", name_},
                   {"namespace", namespace_},
                   {"labels", {{"app.kubernetes.io/part-of", "tether"}}}};
  if (revision) metadata["resourceVersion"] = *revision;
  const Json cm = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", metadata},
                   {"data", {{kRevocationsConfigMapKey, EncodeRevocations(state)}}}};
  const std::string collection = absl::StrCat("/api/v1/namespaces/", namespace_, "/configmaps");
  absl::StatusOr<HttpResult> r =
      revision ? CallApi(api_, "PUT", absl::StrCat(collection, "/", name_), "", cm.dump())
               : CallApi(api_, "POST", collection, "", cm.dump());
  if (!r.ok()) return absl::UnavailableError(r.status().message());
  // 409: created or changed by another replica since the read; 404: deleted
  // since (create it again).
  if (r->status == 409 || (revision && r->status == 404)) {
    return absl::AbortedError(ApiErrorMessage(*r));
  }
  if (r->status != 200 && r->status != 201) {
    return absl::UnavailableError(absl::StrCat(revision ? "replacing" : "creating",
                                               " it: HTTP ", r->status, " ", ApiErrorMessage(*r)));
  }
  const Json written = Json::parse(r->body, nullptr, false);
  if (!written.is_object() || !written.contains("metadata") ||
      !written["metadata"].is_object() || !written["metadata"].contains("resourceVersion") ||
      !written["metadata"]["resourceVersion"].is_string()) {
    return absl::UnavailableError("the API server's answer to the write is not a ConfigMap");
  }
  return written["metadata"]["resourceVersion"].get<std::string>();
}

}  // namespace tether::control::kubernetes
