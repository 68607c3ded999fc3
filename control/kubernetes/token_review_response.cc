#include "control/kubernetes/token_review_response.h"

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tether::control::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kApiVersion = "authentication.k8s.io/v1";
constexpr absl::string_view kServiceAccountPrefix = "system:serviceaccount:";
constexpr char kPodNameKey[] = "authentication.kubernetes.io/pod-name";
constexpr char kPodUidKey[] = "authentication.kubernetes.io/pod-uid";
constexpr size_t kMaxErrorText = 512;
constexpr size_t kMaxNameText = 300;

absl::Status Malformed(absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat("malformed TokenReview response: ", detail));
}

const Json* Member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// StringList reads an optional JSON array of strings; false if it is
// present and anything else.
bool StringList(const Json* value, std::vector<std::string>& out) {
  if (value == nullptr || value->is_null()) return true;
  if (!value->is_array()) return false;
  for (const Json& item : *value) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
  }
  return true;
}

bool IsLowerAlnum(char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z'); }

}  // namespace

std::string PrintableText(absl::string_view s, size_t max) {
  bool cut = s.size() > max;
  if (cut) s = s.substr(0, max);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    } else {
      out.push_back(c);
    }
  }
  if (cut) out += "...";
  return out;
}

bool IsDns1123Label(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsDns1123Subdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    // Kubernetes does not limit each label to 63 bytes here, only the whole.
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') return false;
    }
  }
  return true;
}

bool IsValidTrustDomain(absl::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

absl::StatusOr<ReviewedToken> ParseTokenReviewResponse(absl::string_view json,
                                                       absl::string_view audience,
                                                       absl::string_view trust_domain) {
  if (audience.empty()) return absl::InvalidArgumentError("TokenReview audience is empty");
  if (!IsValidTrustDomain(trust_domain)) {
    return absl::InvalidArgumentError(absl::StrCat("trust domain \"",
                                                   PrintableText(trust_domain, kMaxNameText),
                                                   "\" is not 1..255 of [a-z0-9.-_]"));
  }
  if (json.size() > kMaxTokenReviewResponseBytes) return Malformed("larger than 1 MiB");

  const Json doc = Json::parse(json.begin(), json.end(), /*cb=*/nullptr,
                               /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Malformed("not valid JSON");
  if (!doc.is_object()) return Malformed("not a JSON object");
  const Json* kind = Member(doc, "kind");
  if (kind == nullptr || !kind->is_string() || kind->get<std::string>() != "TokenReview") {
    return Malformed("kind is not TokenReview");
  }
  const Json* api_version = Member(doc, "apiVersion");
  if (api_version == nullptr || !api_version->is_string() ||
      api_version->get<std::string>() != kApiVersion) {
    return Malformed(absl::StrCat("apiVersion is not ", kApiVersion));
  }
  const Json* status = Member(doc, "status");
  if (status == nullptr || !status->is_object()) return Malformed("no status object");

  // Kubernetes omits "authenticated" when it is false.
  const Json* authenticated = Member(*status, "authenticated");
  if (authenticated != nullptr && !authenticated->is_boolean() && !authenticated->is_null()) {
    return Malformed("status.authenticated is not a boolean");
  }
  const Json* error = Member(*status, "error");
  if (error != nullptr && !error->is_string() && !error->is_null()) {
    return Malformed("status.error is not a string");
  }
  if (authenticated == nullptr || !authenticated->is_boolean() || !authenticated->get<bool>()) {
    std::string why = error != nullptr && error->is_string() ? error->get<std::string>() : "";
    if (why.empty()) {
      return absl::UnauthenticatedError("token rejected by the Kubernetes API (no reason given)");
    }
    return absl::UnauthenticatedError(
        absl::StrCat("token rejected by the Kubernetes API: ", PrintableText(why, kMaxErrorText)));
  }

  // The API server lists the audiences of the request that the token is valid
  // for. An empty list means the server is not audience-aware and the token
  // may be meant for the API server itself (Kubernetes API documentation,
  // TokenReviewStatus.audiences): not good enough for us.
  std::vector<std::string> audiences;
  if (!StringList(Member(*status, "audiences"), audiences)) {
    return Malformed("status.audiences is not a list of strings");
  }
  if (audiences.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the Kubernetes API did not confirm that the token is for audience ", audience,
                     " (status.audiences is empty)"));
  }
  bool audience_ok = false;
  for (const std::string& a : audiences) audience_ok |= a == audience;
  if (!audience_ok) {
    std::vector<std::string> shown;
    for (const std::string& a : audiences) {
      if (shown.size() == 8) {
        shown.push_back("...");
        break;
      }
      shown.push_back(PrintableText(a, 64));
    }
    return absl::UnauthenticatedError(
        absl::StrCat("token is for audience [", absl::StrJoin(shown, ", "), "] not ", audience));
  }

  const Json* user = Member(*status, "user");
  if (user == nullptr || !user->is_object()) return Malformed("status.user is not an object");
  const Json* username_json = Member(*user, "username");
  if (username_json == nullptr || !username_json->is_string()) {
    return Malformed("status.user.username is not a string");
  }
  const std::string username = username_json->get<std::string>();
  const std::string shown_user = absl::StrCat("\"", PrintableText(username, kMaxNameText), "\"");
  absl::string_view rest = username;
  if (!absl::ConsumePrefix(&rest, kServiceAccountPrefix)) {
    return absl::UnauthenticatedError(
        absl::StrCat("token belongs to user ", shown_user, ", not a service account"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(rest, ':');
  if (parts.size() != 2) {
    return absl::UnauthenticatedError(
        absl::StrCat("service-account username ", shown_user,
                     " is not system:serviceaccount:<namespace>:<name>"));
  }
  if (!IsDns1123Label(parts[0])) {
    return absl::UnauthenticatedError(
        absl::StrCat("service-account username ", shown_user, " has an invalid namespace \"",
                     PrintableText(parts[0], kMaxNameText), "\" (not a DNS-1123 label)"));
  }
  if (!IsDns1123Subdomain(parts[1])) {
    return absl::UnauthenticatedError(absl::StrCat(
        "service-account username ", shown_user, " has an invalid service-account name \"",
        PrintableText(parts[1], kMaxNameText), "\" (not a DNS-1123 subdomain)"));
  }

  ReviewedToken out;
  // pki::SpiffeId is filled directly: the parts are checked above, and more
  // strictly than SpiffeId::Make would (Kubernetes names are lowercase).
  out.id.trust_domain.assign(trust_domain.data(), trust_domain.size());
  out.id.namespace_name.assign(parts[0].data(), parts[0].size());
  out.id.service_account.assign(parts[1].data(), parts[1].size());

  // Bound tokens (Kubernetes 1.20+) name the pod they were issued for.
  const Json* extra = Member(*user, "extra");
  if (extra != nullptr && !extra->is_null()) {
    if (!extra->is_object()) return Malformed("status.user.extra is not an object");
    std::vector<std::string> pod_name, pod_uid;
    if (!StringList(Member(*extra, kPodNameKey), pod_name) ||
        !StringList(Member(*extra, kPodUidKey), pod_uid)) {
      return Malformed("status.user.extra values are not lists of strings");
    }
    if (pod_name.size() == 1 && IsDns1123Subdomain(pod_name[0])) out.pod_name = pod_name[0];
    if (pod_uid.size() == 1 && pod_uid[0].size() <= 64 &&
        std::all_of(pod_uid[0].begin(), pod_uid[0].end(),
                    [](char c) { return absl::ascii_isalnum(c) || c == '-'; })) {
      out.pod_uid = pod_uid[0];
    }
  }
  return out;
}

}  // namespace tether::control::kubernetes
