#include "control/kubernetes/api_client.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "control/kubernetes/https_client.h"
#include "control/kubernetes/token_review_response.h"

namespace tether::control::kubernetes {
namespace {

constexpr size_t kMaxOwnTokenFileBytes = 64 << 10;
constexpr size_t kMaxCaFileBytes = 1 << 20;

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

}  // namespace

absl::Status ResolveApiServer(ApiServer* api) {
  if (api->host.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    if (host == nullptr || *host == '\0') {
      return absl::FailedPreconditionError(
          "no Kubernetes API server: api_host is empty and KUBERNETES_SERVICE_HOST is not set "
          "(not running in a pod?)");
    }
    api->host = host;
  }
  if (api->port == 0) {
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (port != nullptr && *port != '\0') {
      uint32_t n = 0;
      if (!absl::SimpleAtoi(port, &n) || n == 0 || n > 65535) {
        return absl::InvalidArgumentError(absl::StrCat(
            "KUBERNETES_SERVICE_PORT \"", PrintableText(port, 32), "\" is not a port number"));
      }
      api->port = static_cast<uint16_t>(n);
    } else {
      api->port = 443;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckApiServerFiles(const ApiServer& api) {
  absl::StatusOr<std::string> own = ReadOwnToken(api.token_file);
  if (!own.ok()) return own.status();
  return ReadCaBundle(api.ca_file).status();
}

absl::StatusOr<HttpResult> CallApi(const ApiServer& api, absl::string_view method,
                                   absl::string_view path, absl::string_view content_type,
                                   absl::string_view body) {
  absl::StatusOr<std::string> own = ReadOwnToken(api.token_file);
  if (!own.ok()) return own.status();
  absl::StatusOr<std::string> ca = ReadCaBundle(api.ca_file);
  if (!ca.ok()) return ca.status();
  HttpsTarget target;
  target.host = api.host;
  target.port = api.port;
  target.ca_pem = *std::move(ca);
  target.server_name = api.server_name;
  HttpHeaders headers = {{"Authorization", absl::StrCat("Bearer ", *own)}};
  if (!content_type.empty()) headers.emplace_back("Content-Type", std::string(content_type));
  return Request(target, method, path, headers, body, api.timeout);
}

absl::StatusOr<HttpResult> StreamApi(const ApiServer& api, absl::string_view path,
                                     absl::Duration timeout, const std::atomic<bool>* cancelled,
                                     BodySink sink) {
  absl::StatusOr<std::string> own = ReadOwnToken(api.token_file);
  if (!own.ok()) return own.status();
  absl::StatusOr<std::string> ca = ReadCaBundle(api.ca_file);
  if (!ca.ok()) return ca.status();
  HttpsTarget target;
  target.host = api.host;
  target.port = api.port;
  target.ca_pem = *std::move(ca);
  target.server_name = api.server_name;
  HttpHeaders headers = {{"Authorization", absl::StrCat("Bearer ", *own)}};
  return StreamRequest(target, "GET", path, headers, api.timeout, timeout, cancelled, sink);
}

std::string ApiErrorMessage(const HttpResult& r) {
  const nlohmann::json doc = nlohmann::json::parse(r.body.begin(), r.body.end(), nullptr, false);
  if (doc.is_object()) {
    auto it = doc.find("message");
    if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      return PrintableText(it->get<std::string>(), 512);
    }
  }
  return PrintableText(r.reason, 128);
}

}  // namespace tether::control::kubernetes
