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

constexpr size_t kMaxOwnTokenFileBytes = 64 << 10;
constexpr size_t kMaxCaFileBytes = 1 << 20;
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

// ReadOwnToken returns the control plane's own service-account token.
absl::StatusOr<std::string> ReadOwnToken(const std::string& path) {
  absl::StatusOr<std::string> token = ReadFile(path, kMaxOwnTokenFileBytes);
  if (!token.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot read the control plane's own service-account token: ", token.status().message()));
  }
  std::string trimmed(absl::StripAsciiWhitespace(*token));
  if (trimmed.empty()) {
    return absl::UnavailableError(
        absl::StrCat("the control plane's own service-account token file ", path, " is empty"));
  }
  return trimmed;
}

absl::StatusOr<std::string> ReadCaBundle(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path, kMaxCaFileBytes);
  if (!pem.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot read the Kubernetes API server's CA bundle: ", pem.status().message()));
  }
  if (!absl::StrContains(*pem, "-----BEGIN CERTIFICATE-----")) {
    return absl::UnavailableError(
        absl::StrCat("the Kubernetes API server's CA bundle ", path, " holds no PEM certificate"));
  }
  return pem;
}

// ApiMessage returns the message of a Kubernetes Status object in an error
// answer, else the HTTP reason phrase.
std::string ApiMessage(const HttpResult& r) {
  const Json doc = Json::parse(r.body.begin(), r.body.end(), nullptr, false);
  if (doc.is_object()) {
    auto it = doc.find("message");
    if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      return PrintableText(it->get<std::string>(), 512);
    }
  }
  return PrintableText(r.reason, 128);
}

absl::Status HttpFailure(const HttpResult& r, const TokenReviewAuthenticator::Options& o) {
  std::string message = ApiMessage(r);
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

}  // namespace

absl::StatusOr<std::unique_ptr<TokenReviewAuthenticator>> TokenReviewAuthenticator::Create(
    Options options) {
  if (options.api_host.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    if (host == nullptr || *host == '\0') {
      return absl::FailedPreconditionError(
          "no Kubernetes API server: api_host is empty and KUBERNETES_SERVICE_HOST is not set "
          "(not running in a pod?)");
    }
    options.api_host = host;
  }
  if (options.api_port == 0) {
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (port != nullptr && *port != '\0') {
      uint32_t n = 0;
      if (!absl::SimpleAtoi(port, &n) || n == 0 || n > 65535) {
        return absl::InvalidArgumentError(absl::StrCat(
            "KUBERNETES_SERVICE_PORT \"", PrintableText(port, 32), "\" is not a port number"));
      }
      options.api_port = static_cast<uint16_t>(n);
    } else {
      options.api_port = 443;
    }
  }
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
  absl::StatusOr<std::string> own = ReadOwnToken(options.token_file);
  if (!own.ok()) return absl::FailedPreconditionError(own.status().message());
  absl::StatusOr<std::string> ca = ReadCaBundle(options.ca_file);
  if (!ca.ok()) return absl::FailedPreconditionError(ca.status().message());
  return std::unique_ptr<TokenReviewAuthenticator>(
      new TokenReviewAuthenticator(std::move(options)));
}

absl::StatusOr<pki::SpiffeId> TokenReviewAuthenticator::Authenticate(absl::string_view token) {
  absl::StatusOr<ReviewedToken> reviewed = AuthenticateWithDetails(token);
  if (!reviewed.ok()) return reviewed.status();
  return std::move(reviewed->id);
}

absl::StatusOr<ReviewedToken> TokenReviewAuthenticator::AuthenticateWithDetails(
    absl::string_view token) {
  absl::Status valid = CheckToken(token);
  if (!valid.ok()) return valid;
  absl::StatusOr<std::string> own = ReadOwnToken(options_.token_file);
  if (!own.ok()) return own.status();
  absl::StatusOr<std::string> ca = ReadCaBundle(options_.ca_file);
  if (!ca.ok()) return ca.status();

  const std::string token_text(token);
  const Json review = {
      {"apiVersion", "authentication.k8s.io/v1"},
      {"kind", "TokenReview"},
      {"spec", {{"token", token_text}, {"audiences", Json::array({options_.audience})}}},
  };
  // The token is printable ASCII and the audience a caller's string: replace
  // (never throw on) anything that is not UTF-8.
  const std::string body = review.dump(-1, ' ', false, Json::error_handler_t::replace);

  HttpsTarget target;
  target.host = options_.api_host;
  target.port = options_.api_port;
  target.ca_pem = *std::move(ca);
  target.server_name = options_.server_name;
  absl::StatusOr<HttpResult> response =
      Post(target, kTokenReviewPath, {{"Authorization", absl::StrCat("Bearer ", *own)}}, body,
           options_.timeout);
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat("TokenReview failed: ", response.status().message()));
  }
  if (response->status < 200 || response->status > 299) return HttpFailure(*response, options_);
  return ParseTokenReviewResponse(response->body, options_.audience, options_.trust_domain);
}

}  // namespace tether::control::kubernetes
