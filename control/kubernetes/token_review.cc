#include "control/kubernetes/token_review.h"

#include <cstdlib>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr char kPermission[] = "create tokenreviews.authentication.k8s.io";

// CheckToken rejects, without asking anyone, what cannot be a service-account
// token (a JWT: printable ASCII).
absl::Status CheckToken(absl::string_view token) {
  if (token.empty()) return absl::UnauthenticatedError("empty Kubernetes token");
  if (token.size() > kMaxKubernetesTokenBytes) {
    return absl::UnauthenticatedError(absl::StrCat("Kubernetes token is ", token.size(),
                                                   " bytes, more than the limit of 16 KiB"));
  }
  for (size_t i = 0; i < token.size(); ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return absl::UnauthenticatedError(
          absl::StrCat("Kubernetes token has a byte that is not printable ASCII at offset ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status HttpFailure(const HttpResult& r, const TokenReviewAuthenticator::Options& o) {
  std::string message = ApiErrorMessage(r);
  std::string detail = absl::StrCat("HTTP ", r.status, message.empty() ? "" : ": ", message);
  if (r.status == 401) {
    return absl::UnavailableError(absl::StrCat(
        "TokenReview failed: the Kubernetes API server did not accept the control plane's own "
        "service-account token from ",
        o.token_file, " (", detail, "); the control plane needs a valid token whose account may ",
        kPermission));
  }
  if (r.status == 403) {
    return absl::UnavailableError(absl::StrCat(
        "TokenReview failed: the control plane's service account lacks the RBAC permission to ",
        kPermission, " (", detail, "); bind it to the ClusterRole system:auth-delegator"));
  }
  return absl::UnavailableError(
      absl::StrCat("TokenReview failed: the Kubernetes API server answered ", detail));
}

ApiServer ApiFor(const TokenReviewAuthenticator::Options& o) {
  ApiServer api;
  api.host = o.api_host;
  api.port = o.api_port;
  api.server_name = o.server_name;
  api.ca_file = o.ca_file;
  api.token_file = o.token_file;
  api.timeout = o.timeout;
  return api;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenReviewAuthenticator>> TokenReviewAuthenticator::Create(
    Options options) {
  ApiServer api = ApiFor(options);
  if (absl::Status st = ResolveApiServer(&api); !st.ok()) return st;
  options.api_host = api.host;
  options.api_port = api.port;
  if (options.audience.empty()) {
    return absl::InvalidArgumentError("TokenReview audience is empty");
  }
  if (!IsValidTrustDomain(options.trust_domain)) {
    return absl::InvalidArgumentError(absl::StrCat("trust domain \"",
                                                   PrintableText(options.trust_domain, 300),
                                                   "\" is not 1..255 of [a-z0-9.-_]"));
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("TokenReview timeout must be positive");
  }
  // Fail at start-up, not at the first workload, when a file is missing.
  if (absl::Status st = CheckApiServerFiles(ApiFor(options)); !st.ok()) {
    return absl::FailedPreconditionError(st.message());
  }
  return std::unique_ptr<TokenReviewAuthenticator>(
      new TokenReviewAuthenticator(std::move(options)));
}

absl::StatusOr<pki::SpiffeId> TokenReviewAuthenticator::Authenticate(absl::string_view token) {
  absl::StatusOr<ReviewedToken> reviewed = AuthenticateWithDetails(token);
  if (!reviewed.ok()) return reviewed.status();
  return std::move(reviewed->id);
}

absl::StatusOr<Authentication> TokenReviewAuthenticator::AuthenticateWorkload(
    absl::string_view token) {
  absl::StatusOr<ReviewedToken> reviewed = AuthenticateWithDetails(token);
  if (!reviewed.ok()) return reviewed.status();
  Authentication out;
  if (!reviewed->pod_uid.empty()) {
    out.instance = absl::StrCat("pod:", reviewed->pod_uid);
  } else if (!reviewed->pod_name.empty()) {
    out.instance = absl::StrCat("pod:", reviewed->id.namespace_name, "/", reviewed->pod_name);
  }
  out.id = std::move(reviewed->id);
  return out;
}

absl::StatusOr<ReviewedToken> TokenReviewAuthenticator::AuthenticateWithDetails(
    absl::string_view token) {
  absl::Status valid = CheckToken(token);
  if (!valid.ok()) return valid;
  const std::string token_text(token);
  const Json review = {
      {"apiVersion", "authentication.k8s.io/v1"},
      {"kind", "TokenReview"},
      {"spec", {{"token", token_text}, {"audiences", Json::array({options_.audience})}}},
  };
  // The token is printable ASCII and the audience a caller's string: replace
  // (never throw on) anything that is not UTF-8.
  const std::string body = review.dump(-1, ' ', false, Json::error_handler_t::replace);

  const ApiServer api = ApiFor(options_);
  if (absl::Status st = CheckApiServerFiles(api); !st.ok()) return st;
  absl::StatusOr<HttpResult> response = CallApi(api, "POST", kTokenReviewPath, "", body);
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat("TokenReview failed: ", response.status().message()));
  }
  if (response->status < 200 || response->status > 299) return HttpFailure(*response, options_);
  return ParseTokenReviewResponse(response->body, options_.audience, options_.trust_domain);
}

}  // namespace tether::control::kubernetes
