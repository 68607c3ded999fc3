// ApiServer: how the control plane reaches the Kubernetes API server from its
// pod, and CallApi, one authenticated request to it.
//
//   ApiServer api;                       // host and port from KUBERNETES_SERVICE_*
//   TETHER_RETURN_IF_ERROR(ResolveApiServer(&api));
//   absl::StatusOr<HttpResult> r = CallApi(api, "GET", "/api/v1/namespaces", "", "");
//
// Every call re-reads the control plane's own service-account token (the
// kubelet rotates it) and the CA bundle, and sends the token as its bearer
// credential.
#ifndef TETHER_CONTROL_KUBERNETES_API_CLIENT_H_
#define TETHER_CONTROL_KUBERNETES_API_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/kubernetes/https_client.h"

namespace tether::control::kubernetes {

inline constexpr char kDefaultCaFile[] = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
inline constexpr char kDefaultTokenFile[] = "/var/run/secrets/kubernetes.io/serviceaccount/token";

struct ApiServer {
  std::string host;         // empty: $KUBERNETES_SERVICE_HOST
  uint16_t port = 0;        // 0: $KUBERNETES_SERVICE_PORT, else 443
  std::string server_name;  // name the API server's certificate must carry; empty: host
  std::string ca_file = kDefaultCaFile;
  std::string token_file = kDefaultTokenFile;
  absl::Duration timeout = absl::Seconds(5);
};

// ResolveApiServer fills in host and port from the environment:
// FailedPrecondition when no API server is configured nor known from the
// environment, InvalidArgument for a bad KUBERNETES_SERVICE_PORT.
absl::Status ResolveApiServer(ApiServer* api);

// CheckApiServerFiles reads the token and CA files as CallApi will:
// Unavailable naming the file when one is unreadable, empty, or (the CA
// bundle) holds no PEM certificate. Call it at start so that a
// misconfigured control plane fails then.
absl::Status CheckApiServerFiles(const ApiServer& api);

// CallApi sends one request (`content_type` defaults to application/json when
// empty). Any HTTP status is a result; Unavailable when the API server cannot
// be reached or a file cannot be read (CheckApiServerFiles' errors).
absl::StatusOr<HttpResult> CallApi(const ApiServer& api, absl::string_view method,
                                   absl::string_view path, absl::string_view content_type,
                                   absl::string_view body);

// StreamApi sends one GET whose 2xx body goes to `sink` as it arrives (a
// watch; see StreamRequest in https_client.h): api.timeout bounds
// connecting and sending, `timeout` then the response, stream included;
// `cancelled` (may be null) ends it early with Cancelled. Errors
// as CallApi's, plus the sink's own.
absl::StatusOr<HttpResult> StreamApi(const ApiServer& api, absl::string_view path,
                                     absl::Duration timeout, const std::atomic<bool>* cancelled,
                                     BodySink sink);

// ApiErrorMessage is the message of the Kubernetes Status object in an error
// answer, else the HTTP reason phrase; printable and bounded.
std::string ApiErrorMessage(const HttpResult& result);

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_API_CLIENT_H_
